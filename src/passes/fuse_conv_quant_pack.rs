//! Fuses the float input block `Conv(1×1) → [Mul] → [Add] → Quant(2-bit) →
//! PackLevels` into one [`ConvQuantPack`] (run after
//! [`super::packed_layout`], which gives the first block's quantiser its
//! `PackLevels`).
//!
//! The block stays float and bit-identical to tract's evaluation (see the
//! op's docs); what goes away is the 160×160×32 float tensor written and read
//! four times, and the float → level → packed conversion.

use super::fuse_qconv::{const_operand, only_successor, per_channel, two_bit_scale};
use crate::ops::conv_quant_pack::ConvQuantPack;
use crate::ops::pack::PackLevels;
use crate::ops::quant::Quant;
use tract_core::ops::cnn::{Conv, KernelFormat};
use tract_core::ops::nn::DataFormat;
use tract_hir::internal::*;

/// Fuses every matching block; returns the names of the fused convs.
pub fn fuse_conv_quant_pack(model: &mut TypedModel) -> TractResult<Vec<String>> {
    let mut fused = Vec::new();
    for id in model.eval_order()? {
        if model.node(id).op_as::<PackLevels>().is_none() {
            continue;
        }
        let Some((conv, op)) = match_block(model, id) else {
            continue;
        };
        let mut patch = TypedModelPatch::default();
        let x = patch.tap_model(model, model.node(conv).inputs[0])?;
        let name = format!("{}.conv_quant_pack", model.node(conv).name);
        fused.push(model.node(conv).name.clone());
        let out = patch.wire_node(name, op, &[x])?;
        patch.shunt_outside(model, OutletId::new(id, 0), out[0])?;
        patch.apply(model)?;
    }
    model.compact()?;
    Ok(fused)
}

/// The single non-constant input of a node with one.
fn data_input(model: &TypedModel, node: usize) -> Option<OutletId> {
    let mut it = model
        .node(node)
        .inputs
        .iter()
        .filter(|i| model.outlet_fact(**i).is_ok_and(|f| f.konst.is_none()));
    let first = *it.next()?;
    it.next().is_none().then_some(first)
}

/// `f64` per-channel values back to the `f32` they came from (exact).
fn to_f32(v: Vec<f64>) -> Vec<f32> {
    v.into_iter().map(|x| x as f32).collect()
}

fn match_block(model: &TypedModel, pack: usize) -> Option<(usize, ConvQuantPack)> {
    let q_id = model.node(pack).inputs[0].node;
    let quant = model.node(q_id).op_as::<Quant>()?;
    two_bit_scale(quant).ok()?;
    (only_successor(model, q_id)? == pack).then_some(())?;
    let mut cur = data_input(model, q_id)?.node;
    let mut chain = vec![q_id];
    let (mut slope, mut intercept) = (None, None);
    if let Some(a) = const_operand(model, cur, "Add") {
        intercept = Some(a);
        chain.push(cur);
        cur = data_input(model, cur)?.node;
    }
    if let Some(m) = const_operand(model, cur, "Mul") {
        slope = Some(m);
        chain.push(cur);
        cur = data_input(model, cur)?.node;
    }
    let node = model.node(cur);
    let conv = node.op_as::<Conv>()?;
    // Every intermediate result feeds only the next op of the block.
    for pair in [cur]
        .iter()
        .chain(chain.iter().rev())
        .collect::<Vec<_>>()
        .windows(2)
    {
        (only_successor(model, *pair[0])? == *pair[1]).then_some(())?;
    }
    let spec = &conv.pool_spec;
    let ones = |v: &Option<TVec<usize>>| v.as_ref().is_none_or(|v| v.iter().all(|x| *x == 1));
    let plain = conv.group == 1
        && conv.q_params.is_none()
        && conv.kernel_fmt == KernelFormat::OIHW
        && spec.data_format == DataFormat::NCHW
        && spec.kernel_shape.as_slice() == [1, 1]
        && ones(&spec.strides)
        && ones(&spec.dilations);
    if !plain {
        return None;
    }
    let (c_out, c_in) = (spec.output_channels, spec.input_channels);
    let kernel = model.outlet_fact(node.inputs[1]).ok()?.konst.clone()?;
    if kernel.datum_type() != f32::datum_type() || kernel.shape() != [c_out, c_in, 1, 1] {
        return None;
    }
    let w: Vec<f32> = kernel
        .to_plain_array_view::<f32>()
        .ok()?
        .iter()
        .copied()
        .collect();
    // OIHW [o][c] → [c][o].
    let weights = (0..c_in)
        .flat_map(|c| (0..c_out).map(move |o| (c, o)))
        .map(|(c, o)| w[o * c_in + c])
        .collect();
    let bias = match node.inputs.get(2) {
        Some(b) => {
            let b = model.outlet_fact(*b).ok()?.konst.clone()?;
            Some(to_f32(per_channel(&b, c_out)?))
        }
        None => None,
    };
    let per = |t: Option<Arc<Tensor>>| -> Option<Option<Vec<f32>>> {
        match t {
            None => Some(None),
            Some(t) => (t.datum_type() == f32::datum_type())
                .then(|| per_channel(&t, c_out).map(to_f32))?
                .map(Some),
        }
    };
    let op = ConvQuantPack {
        layer: node.name.clone(),
        in_channels: c_in,
        out_channels: c_out,
        weights,
        bias,
        slope: per(slope)?,
        intercept: per(intercept)?,
        quant: quant.clone(),
        scale: quant.scalar_scale()?,
        zero_point: quant.scalar_zero_point()?,
    };
    Some((cur, op))
}
