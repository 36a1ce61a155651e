//! A pose model compiled by tract and checked against meta.yaml: [`Model::load`] with its
//! [`LoadOptions`]; [`import`] reads the file (ONNX or GraphDef) and applies meta.yaml's tensor
//! choices, [`crate::passes`] rewrite it, [`run`] feeds and runs the plan, [`inspect`] tells
//! what it holds.
//!
//! Float ONNX and QONNX (`Quant`/`BipolarQuant`, see [`crate::ops`]) models
//! load the same way, and so do Blueoil's TensorFlow graphs ([`crate::tf`]). The input tensor is fixed to batch 1 and meta.yaml's
//! `IMAGE_SIZE` in its `DATA_FORMAT`; the heatmap output must then have
//! `IMAGE_SIZE / stride` rows and columns and one channel per joint, or
//! loading fails with a message naming the meta.yaml field. Post-processors
//! that need more outputs (the offsets of `HeatmapOffsetToJoints`) name
//! them; they follow the heatmaps in the plan's outputs and are checked by
//! the post-processor's own `Head::check_outputs`.

pub mod import;
pub mod inspect;
pub mod options;
pub mod run;

pub use import::load_typed;
pub use inspect::QConvLayer;
pub use options::LoadOptions;
pub use run::NodeTime;

use crate::backend::Backend;
use crate::config::{DataFormat, Meta};
use crate::passes::fuse_qconv::FusionReport;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
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

impl Model {
    /// Loads, checks and compiles the model at `path` for this meta.yaml.
    pub fn load(path: &Path, meta: &Meta, opts: &LoadOptions) -> Result<Model> {
        let (mut typed, input_type) = load_typed(path, meta, opts)?;
        let backend = &opts.backend;
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
        let (output_index, output_shape) = import::check_output(&typed, meta, path)?;
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
}
