//! The model file → the typed graph meta.yaml describes: ONNX or GraphDef by content, the
//! input and output tensors meta.yaml names (or the only ones), the input fixed to batch 1 and
//! `IMAGE_SIZE` in its `DATA_FORMAT`; and the check of the outputs against the head.

use super::LoadOptions;
use crate::config::{DataFormat, Meta};
use anyhow::{bail, ensure, Context, Result};
use std::path::Path;
use tract_hir::infer::Factoid;
use tract_hir::internal::DimLike;
use tract_hir::prelude::*;

/// Names of a model's input and output tensors, for messages.
fn io_names(model: &InferenceModel) -> (Vec<String>, Vec<String>) {
    let inputs = model
        .input_outlets()
        .map(|o| o.iter().map(|o| model.node(o.node).name.clone()).collect())
        .unwrap_or_default();
    let outputs = model
        .output_outlets()
        .map(|o| {
            o.iter()
                .map(|o| {
                    model
                        .outlet_label(*o)
                        .map(str::to_string)
                        .unwrap_or_else(|| model.node(o.node).name.clone())
                })
                .collect()
        })
        .unwrap_or_default();
    (inputs, outputs)
}

/// Loads the ONNX file and applies meta.yaml's tensor choices and input
/// size, giving the typed (not yet optimised) graph. Later passes — such as
/// the quantised-conv fusion — work on this graph.
pub fn load_typed(path: &Path, meta: &Meta, opts: &LoadOptions) -> Result<(TypedModel, DatumType)> {
    // Blueoil's frozen TensorFlow graphs load with src/tf, whatever the ONNX loader is.
    let mut model = if crate::tf::is_graphdef(path)? {
        crate::tf::load(path)?
    } else {
        match opts.onnx {
            Some(onnx) => onnx.load(path)?,
            None => crate::ops::onnx().load(path)?,
        }
    };
    let (inputs, outputs) = io_names(&model);

    // Input tensor.
    if let Some(name) = &meta.model.input {
        let node = model.node_by_name(name).map_err(|_| {
            meta.error(
                "MODEL.input",
                format!(
                    "model {} has no input {name:?} (inputs: {inputs:?})",
                    path.display()
                ),
            )
        })?;
        let id = node.id;
        model.set_input_outlets(&[OutletId::new(id, 0)])?;
    } else if inputs.len() != 1 {
        bail!(meta.error(
            "MODEL.input",
            format!(
                "model {} has {} inputs {inputs:?}: name one in MODEL.input",
                path.display(),
                inputs.len()
            )
        ));
    }

    // Output tensors: the heatmaps, then what the post-processor needs.
    let head = meta.post.head();
    let extra = head.extra_outputs();
    let find = |model: &InferenceModel, field: &str, name: &str| {
        model.find_outlet_label(name).ok_or_else(|| {
            meta.error(
                field,
                format!(
                    "model {} has no tensor {name:?} (outputs: {outputs:?})",
                    path.display()
                ),
            )
        })
    };
    // A stacked hourglass with one output per stack keeps them all: `stack`
    // picks one (src/postprocess/gaussian_heatmap_to_joints.rs).
    let per_stack = head.picks_among_outputs();
    let heatmaps = match &meta.model.output {
        Some(name) => Some(find(&model, "MODEL.output", name)?),
        None if outputs.len() == 1 || per_stack => None,
        None => bail!(meta.error(
            "MODEL.output",
            format!(
                "model {} has {} outputs {outputs:?}: name the heatmaps in MODEL.output",
                path.display(),
                outputs.len()
            )
        )),
    };
    if heatmaps.is_some() || !extra.is_empty() {
        let mut selected = vec![match heatmaps {
            Some(outlet) => outlet,
            None => model.output_outlets()?[0],
        }];
        for (field, name) in &extra {
            selected.push(find(&model, field, name)?);
        }
        model.select_output_outlets(&selected)?;
    }

    // Input fact: batch 1, IMAGE_SIZE, 3 channels, in the declared type.
    let declared = model.input_fact(0)?.clone();
    let input_type = declared
        .datum_type
        .concretize()
        .unwrap_or(f32::datum_type());
    ensure!(
        [
            DatumType::F32,
            DatumType::I32,
            DatumType::U8,
            DatumType::I64
        ]
        .contains(&input_type),
        "model {} takes {input_type:?} input; supported: f32, i32, i64, u8",
        path.display()
    );
    let (h, w) = meta.input_hw();
    let want: [usize; 4] = match meta.data_format {
        DataFormat::NHWC => [1, h, w, 3],
        DataFormat::NCHW => [1, 3, h, w],
    };
    if let Some(dims) = declared.shape.concretize() {
        let agrees = dims.len() == 4
            && dims
                .iter()
                .zip(want.iter())
                .all(|(d, &want)| d.to_usize().map(|d| d == want).unwrap_or(true));
        if !agrees {
            let shown: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
            bail!(meta.error(
                "IMAGE_SIZE",
                format!(
                    "[{h}, {w}] with DATA_FORMAT {:?} means input shape {want:?}, but model {} declares [{}]",
                    meta.data_format,
                    path.display(),
                    shown.join(", ")
                )
            ));
        }
    }
    model.set_input_fact(0, InferenceFact::dt_shape(input_type, want.to_vec()))?;

    let typed = model
        .into_typed()
        .with_context(|| format!("cannot infer types and shapes of model {}", path.display()))?;
    Ok((typed, input_type))
}

/// Checks the typed model's outputs against meta.yaml (the head's
/// [`crate::postprocess::Head::check_outputs`]); returns the index and shape of the main output (the
/// heatmaps, the regression vector or the grid).
pub(super) fn check_output(
    typed: &TypedModel,
    meta: &Meta,
    path: &Path,
) -> Result<(usize, Vec<usize>)> {
    let mut shapes = vec![];
    for i in 0..typed.output_outlets()?.len() {
        let fact = typed.output_fact(i)?;
        ensure!(
            fact.datum_type == f32::datum_type(),
            "model {} outputs {:?} heatmaps; f32 expected",
            path.display(),
            fact.datum_type
        );
        let shape: Vec<usize> = fact
            .shape
            .as_concrete()
            .with_context(|| {
                format!(
                    "model {} has a symbolic output shape {:?}",
                    path.display(),
                    fact.shape
                )
            })?
            .to_vec();
        shapes.push(shape);
    }
    meta.post.head().check_outputs(meta, &shapes, path)
}
