//! ONNX bytes → the whole of `Model::load_using` with the lean loader and the
//! CPU backend: meta.yaml checks against the graph, quantised-conv fusion,
//! packed layout, weight folding, tract's typing and optimisation. A model or
//! an error, never a panic. Slower per input than `onnx_lean`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lm::config::Meta;
use lm::model::{Backend, Model};
use lm::onnx::proto::ModelProto;
use lm::onnx::OnnxLoader;
use prost::Message;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tract_hir::internal::*;

/// The fixtures' meta.yaml (32×32 input, stride 4), as tests/common/mod.rs writes it.
const META: &str = "CLASSES:
- person
DATA_FORMAT: NHWC
IMAGE_SIZE:
- 32
- 32
POST_PROCESSOR:
- GaussianHeatmapToJoints:
    confidence_threshold: 0.1
    num_dimensions: 2
    stride: 4
PRE_PROCESSOR:
- ResizeWithJoints:
    image_size:
    - 32
    - 32
    resample: NEAREST
- DivideBy255: null
TASK: IMAGE.KEYPOINT_DETECTION
";

/// The lean loader reading the fuzzer's bytes instead of a file.
struct InMemory<'a>(&'a [u8]);

impl OnnxLoader for InMemory<'_> {
    fn unsupported_ops(&self, _: &Path) -> anyhow::Result<Vec<String>> {
        Ok(vec![])
    }

    fn load(&self, _: &Path) -> anyhow::Result<InferenceModel> {
        let proto = ModelProto::decode(self.0)?;
        lm::ops::lean_onnx().parse(proto)
    }
}

fuzz_target!(|data: &[u8]| {
    static META_PARSED: OnceLock<Meta> = OnceLock::new();
    static MODEL_PATH: OnceLock<PathBuf> = OnceLock::new();
    let meta = META_PARSED.get_or_init(|| Meta::parse(META, "/fuzz/meta.yaml").unwrap());
    // `load_using` sniffs the file's first byte (TensorFlow GraphDef or ONNX) before the
    // loader runs, so the bytes must also be a real file (with a path that does not exist,
    // every input stopped at "cannot read": coverage 105 whatever the corpus).
    let path = MODEL_PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("lm-fuzz-onnx-model-{}.onnx", std::process::id()))
    });
    std::fs::write(path, data).unwrap();
    let backend = Backend::default();
    let _ = Model::load_using(&InMemory(data), path, meta, &backend);
});
