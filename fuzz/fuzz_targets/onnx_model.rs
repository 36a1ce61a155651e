//! ONNX bytes → the whole of `Model::load` with the lean loader and the
//! CPU backend: meta.yaml checks against the graph, quantised-conv fusion,
//! packed layout, weight folding, tract's typing and optimisation. A model or
//! an error, never a panic. Slower per input than `onnx_lean`.
#![no_main]

#[path = "common/onnx.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use lm::backend::Backend;
use lm::model::Model;
use lm::onnx::proto::ModelProto;
use lm::onnx::OnnxLoader;
use prost::Message;
use std::path::Path;
use tract_hir::internal::*;

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
    let path = common::model_file("onnx-model", data);
    let _ = Model::load(
        path,
        common::meta(),
        &lm::model::LoadOptions {
            backend: Backend::default(),
            onnx: Some(&InMemory(data)),
        },
    );
});
