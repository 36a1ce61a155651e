//! ONNX operators that tract does not know out of the box.
//!
//! * [`quant::Quant`] and [`bipolar_quant::BipolarQuant`]: the QONNX quantisers
//!   (domain `qonnx.custom_op.general`), with the reference semantics of the
//!   `qonnx` executor. Evaluating a QONNX graph with them gives the float
//!   "fake-quant" result that the integer engine must reproduce.
//! * `Upsample` (opset 7–9): deprecated in ONNX and missing from tract; opset-9
//!   `Upsample(X, scales)` is exactly opset-10 `Resize(X, scales)`, so it is
//!   parsed as one (by tract-onnx's Resize, or by the lean loader's).
//! * [`nearest_resize::NearestResize`]: the lean loader's nearest `Resize`.
//!
//! Our parsers read [`crate::onnx::proto`] nodes: the lean loader
//! ([`lean_onnx()`]) calls them directly, tract-onnx ([`tract_onnx()`])
//! through a re-encoding of its own node type.
//!
//! Our own ops, inserted by the rewrite passes in [`crate::passes`], never
//! parsed from a file:
//! * [`qconv2d::QConv2d`]: a fused quantised block (binary conv, BatchNorm
//!   and 2-bit quantiser) on integer kernels, packed activations in and out;
//! * [`pack::PackLevels`] / [`pack::UnpackLevels`]: float levels ↔ packed;
//! * [`packed_gather::PackedGather`]: layout ops (SpaceToDepth, nearest
//!   resize, concat) replayed on packed activations;
//! * [`conv_quant_pack::ConvQuantPack`]: the float input block (1×1 conv,
//!   BatchNorm, quantiser) writing packed activations in one pass;
//! * [`packed_float_conv::PackedFloatConv`]: a float conv (the head) reading
//!   packed activations, its output channels split over the threads.
//!
//! Both loaders match the op type only and ignore the node's domain, so the
//! names below apply to every domain.

pub mod bipolar_quant;
pub mod conv_quant_pack;
pub mod lean_onnx;
pub mod nearest_resize;
pub mod pack;
pub mod packed_float_conv;
pub mod packed_gather;
pub mod qconv2d;
pub mod quant;
pub mod upsample;

use crate::onnx::{LeanOnnx, OnnxLoader};

/// The ONNX loader `lm` uses: tract-onnx with every operator tract knows plus
/// ours ([`tract_onnx()`], feature `all-onnx-ops`, on by default), else
/// [`lean_onnx()`] (the board builds).
pub fn onnx() -> Box<dyn OnnxLoader> {
    #[cfg(feature = "all-onnx-ops")]
    return Box::new(tract_onnx());
    #[cfg(not(feature = "all-onnx-ops"))]
    return Box::new(lean_onnx());
}

/// Our own loader with [`lean_onnx`]'s parsers and the QONNX quantisers only,
/// whatever the features (what the board builds use; tests compare it with
/// [`onnx()`]).
pub fn lean_onnx() -> LeanOnnx {
    let mut onnx = LeanOnnx::default();
    lean_onnx::register(&mut onnx);
    onnx.insert("Quant", quant::parse);
    // qonnx >= 0.4 also calls the integer quantiser `IntQuant` (same semantics).
    onnx.insert("IntQuant", quant::parse);
    onnx.insert("BipolarQuant", bipolar_quant::parse);
    onnx.insert("Upsample", upsample::parse);
    onnx
}

/// tract-onnx's loader with every operator it knows, plus this module's.
#[cfg(feature = "all-onnx-ops")]
pub fn tract_onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    tract_glue::register(&mut onnx.op_register);
    onnx
}

/// Our parsers, which read [`crate::onnx::proto`] nodes, in tract-onnx's registry.
#[cfg(feature = "all-onnx-ops")]
mod tract_glue {
    use super::{bipolar_quant, quant, upsample};
    use crate::onnx::{proto, ParseContext, Parser};
    use prost::Message;
    use tract_hir::internal::*;
    use tract_onnx::model::{OnnxOpRegister, ParsingContext};
    use tract_onnx::pb::NodeProto;

    type Parsed = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

    pub fn register(reg: &mut OnnxOpRegister) {
        reg.insert("Quant", |ctx, node| call(quant::parse, ctx, node));
        reg.insert("IntQuant", |ctx, node| call(quant::parse, ctx, node));
        reg.insert("BipolarQuant", |ctx, node| {
            call(bipolar_quant::parse, ctx, node)
        });
        reg.insert("Upsample", upsample::parse_with_tract_resize);
    }

    /// Both node types encode the same protobuf message: re-decoding is exact.
    fn call(parser: Parser, ctx: &ParsingContext, node: &NodeProto) -> Parsed {
        let ours = proto::NodeProto::decode(node.encode_to_vec().as_slice())?;
        let ctx = ParseContext {
            opset: ctx.onnx_operator_set_version,
        };
        Ok((parser(&ctx, &ours)?, vec![]))
    }
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
