//! ONNX `Upsample` (opset 9 form: inputs `X`, `scales`; attribute `mode`).
//!
//! Opset-9 Upsample has the inputs, attribute and semantics of opset-10
//! `Resize` (asymmetric coordinates), so it is parsed as a Resize of operator
//! set 10: by our lean parser, or by tract-onnx's (feature `all-onnx-ops`).

use crate::onnx::{proto::NodeProto, ParseContext};
use tract_hir::internal::*;

fn check_form(name: &str, inputs: usize) -> TractResult<()> {
    ensure!(
        inputs == 2,
        "Upsample node {name:?}: only the opset-9 form Upsample(X, scales) is supported \
         (the opset-7 `scales` attribute form is not)"
    );
    Ok(())
}

/// The lean loader's parser.
pub fn parse(ctx: &ParseContext, node: &NodeProto) -> TractResult<Box<dyn InferenceOp>> {
    check_form(&node.name, node.input.len())?;
    let mut ctx10 = ctx.clone();
    ctx10.opset = 10;
    super::lean_onnx::resize::parse(&ctx10, node)
}

/// tract-onnx's parser: hands the node to tract-onnx's Resize parser.
#[cfg(feature = "all-onnx-ops")]
pub fn parse_with_tract_resize(
    ctx: &tract_onnx::model::ParsingContext,
    node: &tract_onnx::pb::NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    check_form(&node.name, node.input.len())?;
    let resize = *ctx
        .framework
        .op_register
        .0
        .get("Resize")
        .context("this ONNX loader has no Resize parser")?;
    let mut ctx10 = ctx.clone();
    ctx10.onnx_operator_set_version = 10;
    resize(&ctx10, node)
}
