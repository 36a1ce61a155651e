//! ONNX bytes → the whole of `Model::load` with tract-onnx's loader (what
//! the desktop `lm` parses with: every operator tract knows, plus ours) and the
//! CPU backend. `onnx_model` covers the same passes with the lean loader; this
//! one reaches tract-onnx's protobuf decoding, its operator parsers and their
//! shape rules. A model or an error, never a panic.
#![no_main]

#[path = "common/onnx.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use lm::backend::Backend;
use lm::model::Model;

fuzz_target!(|data: &[u8]| {
    // tract-onnx reads the model from its path.
    let path = common::model_file("onnx-tract", data);
    let _ = Model::load(
        path,
        common::meta(),
        &lm::model::LoadOptions {
            backend: Backend::default(),
            onnx: Some(&lm::ops::tract_onnx()),
        },
    );
});
