//! TensorFlow GraphDef bytes (Blueoil's `minimal_graph_with_shape.pb`) → the whole of
//! `Model::load` on the CPU backend: protobuf decoding (src/tf/proto.rs), quantiser
//! recognition by function body, the NHWC → NCHW wiring (src/tf/graph.rs), the checks against
//! a 16×16 meta.yaml and the quantised-conv fusion and packing passes. A model or an error,
//! never a panic.
//!
//! The loader reads a file (it memory-maps the weights), so each input is written to one file
//! per process in /dev/shm (or the temp folder) first.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lm::backend::Backend;
use lm::config::Meta;
use lm::model::Model;
use std::path::PathBuf;
use std::sync::OnceLock;

/// tests/fixtures/blueoil_tiny_pose.pb's meta.yaml (16×16 input, stride 2).
const META: &str = "CLASSES:
- person
DATA_FORMAT: NHWC
IMAGE_SIZE:
- 16
- 16
POST_PROCESSOR:
- GaussianHeatmapToJoints:
    confidence_threshold: 0.1
    num_dimensions: 2
    stride: 2
PRE_PROCESSOR:
- ResizeWithJoints:
    image_size:
    - 16
    - 16
    resample: NEAREST
- DivideBy255: null
TASK: IMAGE.KEYPOINT_DETECTION
";

fuzz_target!(|data: &[u8]| {
    static SETUP: OnceLock<(Meta, PathBuf)> = OnceLock::new();
    let (meta, path) = SETUP.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let path = dir.join(format!("lm-fuzz-tf-{}.pb", std::process::id()));
        (Meta::parse(META, "/fuzz/meta.yaml").unwrap(), path)
    });
    std::fs::write(path, data).unwrap();
    let _ = Model::load(
        path,
        meta,
        &lm::model::LoadOptions {
            backend: Backend::default(),
            onnx: Some(&lm::ops::lean_onnx()),
        },
    );
});
