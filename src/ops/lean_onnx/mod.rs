//! The parsers of the lean ONNX loader ([`crate::onnx::LeanOnnx`]): only the
//! operators of LmSinglePose-style networks.
//!
//! The board binaries (`boards/dist.sh` builds without the default
//! `all-onnx-ops` feature) parse with these and do not link tract-onnx; a model
//! using any other operator is refused with the list of what is missing.
//!
//! Each parser builds the same tract ops as tract-onnx's does for the attribute
//! values our exports use (`Resize` excepted: nearest modes only, on our
//! [`super::nearest_resize::NearestResize`]); `tests/integration/lean_onnx.rs` checks that
//! both loaders give bit-identical outputs on the shipped models and the test
//! fixtures.

pub(crate) mod batch_norm;
mod conv;
pub mod resize;
pub(crate) mod space_to_depth;

use crate::onnx::{proto::NodeProto, tensor, LeanOnnx, ParseContext};
use tract_hir::internal::*;
use tract_hir::ops::{activations, array, identity, konst};

type Parsed = TractResult<Box<dyn InferenceOp>>;

/// Registers the lean parsers (QONNX quantisers are added by [`super::lean_onnx()`]).
pub fn register(reg: &mut LeanOnnx) {
    reg.insert("BatchNormalization", batch_norm::parse);
    reg.insert("Concat", concat);
    reg.insert("Constant", constant);
    reg.insert("Conv", conv::parse);
    reg.insert("Identity", |_, _| Ok(Box::<identity::Identity>::default()));
    reg.insert("Relu", |_, _| {
        Ok(expand(activations::Clip::new(Some(0.0), None)))
    });
    reg.insert("Resize", resize::parse);
    reg.insert("SpaceToDepth", space_to_depth::parse);
    reg.insert("Transpose", transpose);
}

fn concat(_ctx: &ParseContext, node: &NodeProto) -> Parsed {
    let axis = node
        .attr_i64("axis")?
        .with_context(|| format!("{}: no axis", node.describe()))?;
    Ok(expand(array::Concat::new(axis)))
}

fn transpose(_ctx: &ParseContext, node: &NodeProto) -> Parsed {
    let perm = node.attr_usizes("perm")?;
    Ok(expand(array::PermuteAxes::new(perm)))
}

fn constant(_ctx: &ParseContext, node: &NodeProto) -> Parsed {
    let value = match node.attr_tensor("value")? {
        Some(t) => tensor::to_tensor(t)?,
        None => bail!(
            "{}: only the `value` attribute is supported by this build",
            node.describe()
        ),
    };
    Ok(Box::new(konst::Const::new(value.into_arc_tensor())?))
}
