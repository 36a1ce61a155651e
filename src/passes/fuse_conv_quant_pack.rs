//! Fuses the float input block `Conv(1×1) → [Mul] → [Add] → Quant(2-bit) →
//! PackLevels` into one [`ConvQuantPack`] (run after
//! [`super::packed_layout`], which gives the first block's quantiser its
//! `PackLevels`).
//!
//! The block stays float and bit-identical to tract's evaluation (see the
//! op's docs); what goes away is the 160×160×32 float tensor written and read
//! four times, and the float → level → packed conversion.

use super::fuse_qconv::{
    const_operand, only_successor, per_channel, plain_conv, replace_with_op, two_bit_scale,
};
use crate::ops::conv_quant_pack::ConvQuantPack;
use crate::ops::pack::PackLevels;
use crate::ops::quant::Quant;
use tract_core::ops::cnn::Conv;
use tract_hir::internal::*;

/// Fuses every matching block, each to run on `threads` threads (0 = all cores); returns the
/// names of the fused convs.
pub fn fuse_conv_quant_pack(model: &mut TypedModel, threads: usize) -> TractResult<Vec<String>> {
    let mut fused = Vec::new();
    for id in model.eval_order()? {
        if model.node(id).op_as::<PackLevels>().is_none() {
            continue;
        }
        let Some((conv, input, op)) = match_block(model, id, threads) else {
            continue;
        };
        let name = format!("{}.conv_quant_pack", model.node(conv).name);
        fused.push(model.node(conv).name.clone());
        replace_with_op(model, input, id, name, op)?;
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

/// The NHWC tensor behind the conv's input when that input is only the graph's NHWC → NCHW
/// transpose of it (`MoveAxis(3, 1)` of a 4-D f32 tensor, used by nothing else): the op then
/// reads the image in place and the transpose goes away.
fn nhwc_source(model: &TypedModel, conv: usize) -> Option<OutletId> {
    let t = model.node(conv).inputs[0].node;
    let node = model.node(t);
    let is_nchw_of_nhwc = matches!(node.op_as::<AxisOp>()?, AxisOp::Move(3, 1));
    let source = *node.inputs.first()?;
    let fact = model.outlet_fact(source).ok()?;
    (is_nchw_of_nhwc
        && fact.rank() == 4
        && fact.datum_type == f32::datum_type()
        && only_successor(model, t)? == conv)
        .then_some(source)
}

/// `f64` per-channel values back to the `f32` they came from (exact).
fn to_f32(v: Vec<f64>) -> Vec<f32> {
    v.into_iter().map(|x| x as f32).collect()
}

fn match_block(
    model: &TypedModel,
    pack: usize,
    threads: usize,
) -> Option<(usize, OutletId, ConvQuantPack)> {
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
    (plain_conv(conv).is_ok() && spec.kernel_shape.as_slice() == [1, 1]).then_some(())?;
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
        thresholds: None,
        threads,
        nhwc: false,
    };
    let thresholds = op.level_thresholds();
    tracing::debug!(
        layer = %op.layer,
        thresholds = thresholds.is_some(),
        "input block: per-channel thresholds on the raw sum, or the float chain"
    );
    let (input, nhwc) = nhwc_source(model, cur).map_or((node.inputs[0], false), |i| (i, true));
    Some((
        cur,
        input,
        ConvQuantPack {
            thresholds,
            nhwc,
            ..op
        },
    ))
}
