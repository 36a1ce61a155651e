//! What `onnx_model` and `onnx_tract` share: the meta.yaml they load against,
//! and the model file their bytes are written to.

use lm::config::Meta;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The fixtures' meta.yaml (32×32 input, stride 4), as tests/integration/common.rs writes it.
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

/// [`META`], parsed once per process.
pub fn meta() -> &'static Meta {
    static PARSED: OnceLock<Meta> = OnceLock::new();
    PARSED.get_or_init(|| Meta::parse(META, "/fuzz/meta.yaml").unwrap())
}

/// Writes `data` to this process's model file (`lm-fuzz-<target>-<pid>.onnx` in
/// the temporary folder) and returns its path. `Model::load` sniffs the file's
/// first byte (TensorFlow GraphDef or ONNX) before any loader runs, so the bytes
/// must be a real file (with a path that does not exist, every input stopped at
/// "cannot read": coverage 105 whatever the corpus).
pub fn model_file(target: &str, data: &[u8]) -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    let path = PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("lm-fuzz-{target}-{}.onnx", std::process::id()))
    });
    std::fs::write(path, data).unwrap();
    path
}
