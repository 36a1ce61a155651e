//! ONNX bytes → the whole of `Model::load_using` with tract-onnx's loader (what
//! the desktop `lm` parses with: every operator tract knows, plus ours) and the
//! CPU backend. `onnx_model` covers the same passes with the lean loader; this
//! one reaches tract-onnx's protobuf decoding, its operator parsers and their
//! shape rules. A model or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lm::config::Meta;
use lm::model::{Backend, Model};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The fixtures' meta.yaml (32×32 input, stride 4), as in `onnx_model`.
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

fuzz_target!(|data: &[u8]| {
    static META_PARSED: OnceLock<Meta> = OnceLock::new();
    static MODEL_PATH: OnceLock<PathBuf> = OnceLock::new();
    let meta = META_PARSED.get_or_init(|| Meta::parse(META, "/fuzz/meta.yaml").unwrap());
    // tract-onnx reads the model from its path.
    let path = MODEL_PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("lm-fuzz-onnx-tract-{}.onnx", std::process::id()))
    });
    std::fs::write(path, data).unwrap();
    let _ = Model::load_using(&lm::ops::tract_onnx(), path, meta, &Backend::default());
});
