//! A small ONNX op registry: only the operators of LmSinglePose-style networks.
//!
//! tract-onnx's `register_all_ops` links a parser and a tract op for every ONNX
//! operator (~1.3 MB of the x86 binary), and its per-group registries are private.
//! The board binaries (`boards/dist.sh` builds without the default `all-onnx-ops`
//! feature) register these parsers instead; a model using any other operator is
//! refused with the list of what is missing (see [`super::unsupported_ops`]).
//!
//! Each parser builds the same tract ops as tract-onnx's does for the attribute
//! values our exports use; `tests/lean_onnx.rs` checks that both registries give
//! bit-identical outputs on the shipped models and the test fixtures.

mod batch_norm;
mod conv;
mod resize;
mod space_to_depth;

use tract_hir::internal::*;
use tract_hir::ops::{activations, array, identity, konst};
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

type Parsed = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// Registers the lean parsers (QONNX quantisers are added by [`super::register`]).
pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("BatchNormalization", batch_norm::parse);
    reg.insert("Concat", concat);
    reg.insert("Constant", constant);
    reg.insert("Conv", conv::parse);
    reg.insert("Identity", |_, _| {
        Ok((Box::<identity::Identity>::default(), vec![]))
    });
    reg.insert("Relu", |_, _| {
        Ok((expand(activations::Clip::new(Some(0.0), None)), vec![]))
    });
    reg.insert("Resize", resize::parse);
    reg.insert("SpaceToDepth", space_to_depth::parse);
    reg.insert("Transpose", transpose);
}

fn concat(_ctx: &ParsingContext, node: &NodeProto) -> Parsed {
    let axis: i64 = node.get_attr("axis")?;
    Ok((expand(array::Concat::new(axis)), vec![]))
}

fn transpose(_ctx: &ParsingContext, node: &NodeProto) -> Parsed {
    let perm: Option<TVec<usize>> = node.get_attr_opt_tvec("perm")?;
    Ok((expand(array::PermuteAxes::new(perm)), vec![]))
}

fn constant(ctx: &ParsingContext, node: &NodeProto) -> Parsed {
    let value = match node.get_attr_opt("value")? {
        Some(t) => ctx.load_tensor(t)?,
        None => bail!(
            "Constant node {:?}: only the `value` attribute is supported by this build",
            node.name
        ),
    };
    Ok((
        Box::new(konst::Const::new(value.into_arc_tensor())?),
        vec![],
    ))
}
