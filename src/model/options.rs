//! How [`super::Model::load`] loads: where the quantised layers run, and which parser reads
//! an ONNX file.

use crate::backend::Backend;
use crate::onnx::OnnxLoader;

/// Options of [`super::Model::load`] and [`crate::pipeline::Pipeline::load`].
#[derive(Clone, Default)]
pub struct LoadOptions<'a> {
    /// Where the quantised layers run (default: the CPU kernels).
    pub backend: Backend,
    /// The ONNX parser (default: tract-onnx when built in, else lm's own; a GraphDef always
    /// loads with src/tf).
    pub onnx: Option<&'a dyn OnnxLoader>,
}

impl LoadOptions<'_> {
    /// The default parser, quantised layers on `backend`.
    pub fn on(backend: &Backend) -> LoadOptions<'static> {
        LoadOptions {
            backend: backend.clone(),
            onnx: None,
        }
    }
}

impl std::fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("backend", &self.backend)
            .field("onnx", &self.onnx.map(|_| "given"))
            .finish()
    }
}
