//! Replaces `UnpackLevels → Conv → [Mul] → [Add]` (a float conv whose input is packed 2-bit
//! levels, and its BatchNorm: the network's head) by one [`PackedFloatConv`] reading the
//! packed tensor (run after
//! [`super::packed_layout`], which leaves an `UnpackLevels` only where float ops start).
//!
//! Only plain convs are matched (one group, stride 1, dilation 1, 2-D, f32 constant OIHW
//! weights and bias), and only where [`PackedFloatConv::supported`] says the op's kernel beats
//! tract's; anything else stays as it was.

use super::fuse_qconv::{const_operand, only_successor, per_channel, plain_conv, replace_with_op};
use crate::ops::pack::UnpackLevels;
use crate::ops::packed_float_conv::PackedFloatConv;
use tract_core::ops::cnn::Conv;
use tract_hir::internal::*;

/// Fuses every matching conv, each to run on `threads` threads (0 = all cores); returns the
/// names of the fused convs.
pub fn fuse_packed_float_conv(model: &mut TypedModel, threads: usize) -> TractResult<Vec<String>> {
    let mut fused = Vec::new();
    if !PackedFloatConv::supported() {
        return Ok(fused);
    }
    for id in model.eval_order()? {
        let Some((packed, (op, last))) = match_conv(model, id, threads) else {
            continue;
        };
        let name = format!("{}.packed_float_conv", model.node(id).name);
        fused.push(model.node(id).name.clone());
        replace_with_op(model, packed, last, name, op)?;
    }
    model.compact()?;
    Ok(fused)
}

/// For conv node `id`, if it matches: its packed input, the op, and the last node the op
/// replaces (the conv, or the per-channel `Mul` / `Add` after it that it absorbed).
fn match_conv(
    model: &TypedModel,
    id: usize,
    threads: usize,
) -> Option<(OutletId, (PackedFloatConv, usize))> {
    let node = model.node(id);
    let conv = node.op_as::<Conv>()?;
    let unpack_node = model.node(node.inputs[0].node);
    let unpack = unpack_node.op_as::<UnpackLevels>()?;
    let spec = &conv.pool_spec;
    (plain_conv(conv).is_ok() && spec.input_channels == unpack.channels).then_some(())?;
    let (c_out, c_in) = (spec.output_channels, spec.input_channels);
    let (kh, kw) = (spec.kernel_shape[0], spec.kernel_shape[1]);
    let kernel = model.outlet_fact(node.inputs[1]).ok()?.konst.clone()?;
    if kernel.datum_type() != f32::datum_type() || kernel.shape() != [c_out, c_in, kh, kw] {
        return None;
    }
    let weights: Vec<f32> = kernel
        .to_plain_array_view::<f32>()
        .ok()?
        .iter()
        .copied()
        .collect();
    // Bias, slope and intercept: f32 constants, one value or one per output channel.
    let f32_channels = |t: Arc<Tensor>| -> Option<Vec<f32>> {
        (t.datum_type() == f32::datum_type()).then_some(())?;
        Some(
            per_channel(&t, c_out)?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
        )
    };
    let bias = match node.inputs.get(2) {
        Some(b) => Some(f32_channels(model.outlet_fact(*b).ok()?.konst.clone()?)?),
        None => None,
    };
    // A per-channel Mul, then Add, fed by the conv alone (a BatchNorm as tract decomposes it).
    let mut last = id;
    let (mut slope, mut intercept) = (None, None);
    if let Some(next) = only_successor(model, last) {
        if let Some(m) = const_operand(model, next, "Mul") {
            slope = Some(f32_channels(m)?);
            last = next;
        }
    }
    if let Some(next) = only_successor(model, last) {
        if let Some(a) = const_operand(model, next, "Add") {
            intercept = Some(f32_channels(a)?);
            last = next;
        }
    }
    let input = model.outlet_fact(node.inputs[0]).ok()?;
    let hw = input.shape.as_concrete()?.get(2..4)?.to_vec();
    let pad = spec.computed_padding(&hw);
    let op = PackedFloatConv {
        layer: node.name.clone(),
        in_channels: c_in,
        out_channels: c_out,
        kernel: [kh, kw],
        pads: [
            pad[0].pad_before,
            pad[1].pad_before,
            pad[0].pad_after,
            pad[1].pad_after,
        ],
        scale: unpack.scale,
        weights: Arc::new(weights),
        bias,
        slope,
        intercept,
        threads,
    };
    // The fused op must give the replaced nodes' own output shape.
    let want = model.outlet_fact(OutletId::new(last, 0)).ok()?;
    let (h_out, w_out) = op.output_hw(hw[0], hw[1]).ok()?;
    (want.datum_type == f32::datum_type() && want.shape.as_concrete()? == [1, c_out, h_out, w_out])
        .then_some((unpack_node.inputs[0], (op, last)))
}
