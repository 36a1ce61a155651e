//! ONNX `Upsample` (opset 9 form: inputs `X`, `scales`; attribute `mode`).
//!
//! Opset-9 Upsample has the inputs, attribute and semantics of opset-10
//! `Resize` (asymmetric coordinates, nearest rounds down), so we hand the node
//! to tract's Resize parser as if the model declared opset 10.

use tract_hir::internal::*;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;

pub fn parse(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    if node.input.len() != 2 {
        bail!(
            "Upsample node {:?}: only the opset-9 form Upsample(X, scales) is supported \
             (the opset-7 `scales` attribute form is not)",
            node.name
        );
    }
    // The Resize parser of the loader in use (ctx.framework), so that a lean build
    // does not pull in tract-onnx's whole registry.
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
