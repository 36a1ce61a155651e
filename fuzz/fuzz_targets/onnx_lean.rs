//! ONNX bytes → lm's protobuf decoding (src/onnx/proto.rs) and the lean
//! loader's graph wiring (`LeanOnnx::parse`: initializers, every registered
//! operator parser, edges): an inference graph or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lm::onnx::proto::ModelProto;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(proto) = ModelProto::decode(data) else {
        return;
    };
    let _ = lm::ops::lean_onnx().parse(proto);
});
