//! Loading a pose model with tract and checking it against meta.yaml.
//!
//! Float ONNX and QONNX (`Quant`/`BipolarQuant`, see [`crate::ops`]) models
//! load the same way, and so do Blueoil's TensorFlow graphs ([`crate::tf`]). The input tensor is fixed to batch 1 and meta.yaml's
//! `IMAGE_SIZE` in its `DATA_FORMAT`; the heatmap output must then have
//! `IMAGE_SIZE / stride` rows and columns and one channel per joint, or
//! loading fails with a message naming the meta.yaml field. Post-processors
//! that need more outputs (the offsets of `HeatmapOffsetToJoints`) name
//! them; they follow the heatmaps in the plan's outputs and are checked by
//! the post-processor's own `Head::check_outputs`.

use crate::backend::Backend;
use crate::config::{DataFormat, Meta};
use crate::onnx::OnnxLoader;
use crate::passes::fuse_qconv::FusionReport;
use crate::postprocess::{Heatmaps, OutputTensor};
use crate::preprocess::InputImage;
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tract_core::plan::SimpleState;
use tract_hir::infer::Factoid;
use tract_hir::internal::DimLike;
use tract_hir::prelude::*;

/// A compiled, runnable pose model.
pub struct Model {
    pub path: PathBuf,
    plan: Arc<TypedRunnableModel>,
    /// Element type the model's input expects (f32, or integers for models
    /// such as MoveNet that take 0..255 pixels).
    pub input_type: DatumType,
    /// Concrete input shape, batch 1.
    pub input_shape: Vec<usize>,
    pub input_format: DataFormat,
    /// Concrete shape of the main output (heatmaps: the decoded stack's).
    pub output_shape: Vec<usize>,
    pub output_format: DataFormat,
    pub output_name: String,
    pub backend: Backend,
    /// Quantised blocks fused into integer `QConv2d` ops (empty for float
    /// models and the float backend).
    pub fusion: FusionReport,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("input", &(self.input_type, &self.input_shape))
            .field("output", &(&self.output_name, &self.output_shape))
            .finish()
    }
}

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
pub fn load_typed(path: &Path, meta: &Meta) -> Result<(TypedModel, DatumType)> {
    load_typed_using(&*crate::ops::onnx(), path, meta)
}

/// [`load_typed`] with a given ONNX loader (e.g. [`crate::ops::lean_onnx`]).
pub fn load_typed_using(
    onnx: &dyn OnnxLoader,
    path: &Path,
    meta: &Meta,
) -> Result<(TypedModel, DatumType)> {
    // Blueoil's frozen TensorFlow graphs load with src/tf, whatever `onnx` is.
    let mut model = if crate::tf::is_graphdef(path)? {
        crate::tf::load(path)?
    } else {
        onnx.load(path)?
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
fn check_output(typed: &TypedModel, meta: &Meta, path: &Path) -> Result<(usize, Vec<usize>)> {
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

impl Model {
    /// Loads, checks and compiles the model for this meta.yaml, with the
    /// default backend.
    pub fn load(path: &Path, meta: &Meta) -> Result<Model> {
        Model::load_with(path, meta, &Backend::default())
    }

    /// Loads, checks and compiles the model, running quantised blocks on
    /// `backend`.
    pub fn load_with(path: &Path, meta: &Meta, backend: &Backend) -> Result<Model> {
        Self::load_using(&*crate::ops::onnx(), path, meta, backend)
    }

    /// [`Model::load_with`] with a given ONNX loader (e.g. [`crate::ops::lean_onnx`]).
    pub fn load_using(
        onnx: &dyn OnnxLoader,
        path: &Path,
        meta: &Meta,
        backend: &Backend,
    ) -> Result<Model> {
        let (mut typed, input_type) = load_typed_using(onnx, path, meta)?;
        let fusion =
            crate::passes::rewrite(&mut typed, backend.executor(), backend.cpu_threads(), path)?;
        let mut model = Model::from_typed(typed, input_type, path, meta)?;
        model.backend = backend.clone();
        model.fusion = fusion;
        Ok(model)
    }

    /// Checks and compiles an already-typed model (after any rewrite pass).
    pub fn from_typed(
        typed: TypedModel,
        input_type: DatumType,
        path: &Path,
        meta: &Meta,
    ) -> Result<Model> {
        let (output_index, output_shape) = check_output(&typed, meta, path)?;
        let output_name = typed
            .outlet_label(typed.output_outlets()?[output_index])
            .map(str::to_string)
            .unwrap_or_default();
        let input_shape = typed
            .input_fact(0)?
            .shape
            .as_concrete()
            .context("input shape")?
            .to_vec();
        let plan = typed
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .with_context(|| format!("cannot compile model {}", path.display()))?;
        Ok(Model {
            path: path.to_path_buf(),
            plan,
            input_type,
            input_shape,
            input_format: meta.data_format,
            output_shape,
            output_format: meta.post.head().data_format(),
            output_name,
            backend: Backend::Float,
            fusion: FusionReport::default(),
        })
    }

    /// Lays a pre-processed image out as the model's input tensor.
    pub fn input_tensor(&self, image: &InputImage) -> Result<Tensor> {
        let (h, w) = (image.height, image.width);
        let want = match self.input_format {
            DataFormat::NHWC => [1, h, w, 3],
            DataFormat::NCHW => [1, 3, h, w],
        };
        ensure!(
            want.as_slice() == self.input_shape,
            "image {h}×{w} does not fit input {:?}",
            self.input_shape
        );
        let data: Vec<f32> = match self.input_format {
            DataFormat::NHWC => image.data.clone(),
            DataFormat::NCHW => {
                let mut chw = vec![0f32; image.data.len()];
                for p in 0..h * w {
                    for c in 0..3 {
                        chw[c * h * w + p] = image.data[p * 3 + c];
                    }
                }
                chw
            }
        };
        let t = tract_ndarray::ArrayD::from_shape_vec(want.to_vec(), data)?.into_tensor();
        Ok(match self.input_type {
            DatumType::F32 => t,
            // Integer inputs (0..255 pixels): round to nearest before casting.
            dt => {
                let rounded = t
                    .into_plain_array::<f32>()?
                    .mapv(|v| v.round())
                    .into_tensor();
                rounded.cast_to_dt(dt)?.into_owned()
            }
        })
    }

    /// Runs the network on one input tensor and returns its heatmaps.
    pub fn run(&self, input: Tensor) -> Result<Heatmaps> {
        let outputs = self
            .plan
            .run(tvec!(input.into()))
            .context("model run failed")?;
        self.heatmaps(&outputs[0])
    }

    /// Runs the network and returns every selected output (the heatmaps
    /// first, then the post-processor's extra outputs), for
    /// [`crate::postprocess::decode`].
    pub fn run_outputs(&self, input: Tensor) -> Result<Vec<OutputTensor>> {
        let outputs = self
            .plan
            .run(tvec!(input.into()))
            .context("model run failed")?;
        outputs.iter().map(output_tensor).collect()
    }

    fn heatmaps(&self, out: &TValue) -> Result<Heatmaps> {
        let t = output_tensor(out)?;
        Heatmaps::from_tensor(&t.shape, &t.data, self.output_format)
    }

    /// Runs once while timing every node; returns the outputs (as
    /// [`Model::run_outputs`]) and per-node (name, op, time) in plan order.
    pub fn run_profiled(&self, input: Tensor) -> Result<(Vec<OutputTensor>, Vec<NodeTime>)> {
        let mut state = SimpleState::new(&self.plan)?;
        let mut times: Vec<NodeTime> = vec![];
        let outputs =
            state.run_plan_with_eval(tvec!(input.into()), |ctx, op_state, node, inputs| {
                let start = Instant::now();
                let r = tract_core::plan::eval(ctx, op_state, node, inputs);
                times.push(NodeTime {
                    name: node.name.clone(),
                    op: node.op().name().to_string(),
                    time: start.elapsed(),
                });
                r
            })?;
        Ok((
            outputs.iter().map(output_tensor).collect::<Result<_>>()?,
            times,
        ))
    }

    /// Geometry of every fused quantised conv in the compiled plan, in plan
    /// order.
    pub fn qconv_layers(&self) -> Vec<QConvLayer> {
        let model = self.plan.model();
        model
            .nodes()
            .iter()
            .filter_map(|n| {
                let op = n.op_as::<crate::ops::qconv2d::QConv2d>()?;
                // Packed input: u32 [H, W, G, 2].
                let shape = model
                    .outlet_fact(n.inputs[0])
                    .ok()?
                    .shape
                    .as_concrete()?
                    .to_vec();
                Some(QConvLayer {
                    node: n.name.clone(),
                    height: shape[0],
                    width: shape[1],
                    in_channels: op.weights.in_channels(),
                    out_channels: op.weights.out_channels(),
                    kernel: op.weights.kernel(),
                })
            })
            .collect()
    }

    /// How many nodes of each op (by tract op name) the compiled plan has.
    pub fn op_counts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for n in self.plan.model().nodes() {
            *counts.entry(n.op().name().to_string()).or_insert(0) += 1;
        }
        counts
    }

    /// Number of nodes in the compiled plan.
    pub fn node_count(&self) -> usize {
        self.plan.model().nodes().len()
    }
}

/// One f32 output of the plan, copied out.
fn output_tensor(out: &TValue) -> Result<OutputTensor> {
    let view = out.to_plain_array_view::<f32>()?;
    Ok(OutputTensor {
        shape: view.shape().to_vec(),
        // The plan's outputs are contiguous: one copy (element by element, ~1 % of a frame).
        data: match view.as_slice() {
            Some(s) => s.to_vec(),
            None => view.iter().copied().collect(),
        },
    })
}

/// Shape of one fused quantised convolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QConvLayer {
    pub node: String,
    pub height: usize,
    pub width: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
}

impl QConvLayer {
    /// 1-bit × 1-bit AND-popcount operations of one run (see
    /// [`crate::kernels::binary_ops`]).
    pub fn binary_ops(&self) -> u64 {
        crate::kernels::binary_ops(
            self.height,
            self.width,
            self.in_channels,
            self.out_channels,
            self.kernel,
        )
    }
}

/// Time spent in one node of the plan.
#[derive(Debug, Clone)]
pub struct NodeTime {
    pub name: String,
    pub op: String,
    pub time: Duration,
}
