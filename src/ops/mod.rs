//! ONNX operators that tract does not know out of the box.
//!
//! * [`quant::Quant`] and [`bipolar_quant::BipolarQuant`]: the QONNX quantisers
//!   (domain `qonnx.custom_op.general`), with the reference semantics of the
//!   `qonnx` executor. Evaluating a QONNX graph with them gives the float
//!   "fake-quant" result that the integer engine must reproduce.
//! * `Upsample` (opset 7–9): deprecated in ONNX and missing from tract; opset-9
//!   `Upsample(X, scales)` is exactly opset-10 `Resize(X, scales)`, so it is
//!   parsed by tract's own Resize.
//!
//! Our own ops, inserted by the rewrite passes in [`crate::passes`], never
//! parsed from a file:
//! * [`qconv2d::QConv2d`]: a fused quantised block (binary conv, BatchNorm
//!   and 2-bit quantiser) on integer kernels, packed activations in and out;
//! * [`pack::PackLevels`] / [`pack::UnpackLevels`]: float levels ↔ packed;
//! * [`packed_gather::PackedGather`]: layout ops (SpaceToDepth, nearest
//!   resize, concat) replayed on packed activations;
//! * [`conv_quant_pack::ConvQuantPack`]: the float input block (1×1 conv,
//!   BatchNorm, quantiser) writing packed activations in one pass.
//!
//! tract's op registry matches the op type only and ignores the node's domain,
//! so the names below apply to every domain.

pub mod bipolar_quant;
pub mod conv_quant_pack;
pub mod lean_onnx;
pub mod pack;
pub mod packed_gather;
pub mod qconv2d;
pub mod quant;
pub mod upsample;

use tract_onnx::model::OnnxOpRegister;

/// Adds this module's operators to a tract ONNX op registry.
pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("Quant", quant::parse);
    // qonnx >= 0.4 also calls the integer quantiser `IntQuant` (same semantics).
    reg.insert("IntQuant", quant::parse);
    reg.insert("BipolarQuant", bipolar_quant::parse);
    reg.insert("Upsample", upsample::parse);
}

/// The tract ONNX loader `lm` uses: every ONNX operator tract knows (feature
/// `all-onnx-ops`, on by default) plus this module's operators.
#[cfg(feature = "all-onnx-ops")]
pub fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    register(&mut onnx.op_register);
    onnx
}

/// The tract ONNX loader `lm` uses: [`lean_onnx()`] in the board builds (without
/// the `all-onnx-ops` feature).
#[cfg(not(feature = "all-onnx-ops"))]
pub fn onnx() -> tract_onnx::Onnx {
    lean_onnx()
}

/// A loader with [`lean_onnx`]'s and this module's operators only, whatever the
/// features (what the board builds use; tests compare it with [`onnx`]).
pub fn lean_onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::Onnx::default();
    lean_onnx::register(&mut onnx.op_register);
    register(&mut onnx.op_register);
    onnx
}

/// The operator types of `model` that `onnx` cannot parse, sorted, once each.
pub fn unsupported_ops(onnx: &tract_onnx::Onnx, model: &tract_onnx::pb::ModelProto) -> Vec<String> {
    let mut missing: Vec<String> = model
        .graph
        .iter()
        .flat_map(|g| g.node.iter())
        .map(|n| n.op_type.clone())
        .filter(|op| !onnx.op_register.0.contains_key(op))
        .collect();
    missing.sort();
    missing.dedup();
    missing
}

use tract_hir::internal::*;

/// Reads input `ix` of a node being wired as a constant tensor, or explains
/// that QONNX quantiser parameters must be initializers.
pub(crate) fn const_input(
    model: &TypedModel,
    inputs: &[OutletId],
    ix: usize,
    op: &str,
    what: &str,
) -> TractResult<Arc<Tensor>> {
    let outlet = inputs
        .get(ix)
        .with_context(|| format!("{op}: missing input #{ix} ({what})"))?;
    let fact = model.outlet_fact(*outlet)?;
    match &fact.konst {
        Some(k) => Ok(k.clone()),
        None => bail!(
            "{op}: input #{ix} ({what}) must be a constant initializer, found a computed tensor"
        ),
    }
}

/// A parameter (`scale`, `zeropt`, ...) broadcast to an input's shape, or an
/// error naming the operator and the parameter.
pub(crate) fn broadcast_param<'a>(
    op: &str,
    what: &str,
    param: &'a tract_ndarray::ArrayViewD<'_, f32>,
    shape: &[usize],
) -> TractResult<tract_ndarray::ArrayViewD<'a, f32>> {
    param.broadcast(shape).with_context(|| {
        format!(
            "{op}: {what} of shape {:?} does not broadcast to input {shape:?}",
            param.shape()
        )
    })
}
