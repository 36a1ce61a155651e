//! Fuses each quantised block of a QONNX graph into one [`QConv2d`].
//!
//! Pattern (as tract types an LmSinglePoseV1Quantize export; BatchNorm has
//! become `Mul`(slope) + `Add`(intercept), BipolarQuant weights a constant):
//!
//! ```text
//! Quant(2-bit, s_in) ─[AxisOp | Concat | nearest Resize]*─▶ Conv(±α_o weights, k∈{1,3},
//!     stride 1, SAME) ─▶ [Mul const] ─▶ [Add const] ─▶ Quant(2-bit, s_out, HALF_UP | ROUND)
//! ```
//!
//! Everything between the conv and the output quantiser folds into three
//! integer thresholds per output channel. With `acc = Σ level · sign` (the
//! integer the kernels compute), the block computes in exact arithmetic
//! `y = A·acc + B` with `A = m_o · s_in · α_o` and `B = m_o · bias_o + a_o`,
//! and the output quantiser reaches level `k` (k = 1, 2, 3) iff
//! `y / s_out >= k − ½` (HALF_UP: a value exactly on the boundary rounds up).
//! So, with `v_k = ((k − ½)·s_out − B) / A`:
//!
//! * `A > 0`: level ≥ k ⇔ `acc >= ceil(v_k)` — ascending thresholds;
//! * `A < 0`: level ≥ k ⇔ `acc <= floor(v_k)` — descending (negative gamma);
//! * `A = 0`: a constant level, from the float quantiser applied to `B`.
//!
//! Ties: an exact tie (`v_k` an integer) counts as reached, like HALF_UP
//! (ROUND, half to even, as in old Blueoil graphs: only for even k).
//! `v_k` is computed in f64; a value within 1e-9 (relative) of an integer is
//! taken as that integer, so float noise cannot move an exact tie. The float
//! fake-quant model, evaluated in f32 by tract or onnxruntime, can disagree
//! with the exact result only when `y` lies within f32 rounding error of a
//! boundary; such values are ambiguous between the float executors too.
//! Thresholds are clamped to ±32768, harmless since |acc| ≤ 3·9·C_in.
//!
//! Each block becomes `PackLevels → QConv2d → UnpackLevels`, so the graph
//! stays float between blocks; [`crate::passes::packed_layout`] then removes
//! the unpack/pack pairs wherever only layout ops lie between two blocks.

use crate::kernels::{PackedWeights, Thresholds, FLAG_DESCENDING};
use crate::ops::bipolar_quant::BipolarQuant;
use crate::ops::nearest_resize::is_nearest_resize;
use crate::ops::pack::{PackLevels, UnpackLevels};
use crate::ops::qconv2d::{Executor, QConv2d};
use crate::ops::quant::{Quant, RoundingMode};
use std::collections::HashSet;
use tract_core::ops::array::TypedConcat;
use tract_core::ops::binary::TypedBinOp;
use tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec};
use tract_core::ops::nn::DataFormat;
use tract_hir::internal::*;

/// What the pass did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FusionReport {
    /// Names of the fused convolutions, in graph order.
    pub fused: Vec<String>,
    /// Convolutions left in float, with why (first failed condition).
    pub skipped: Vec<(String, String)>,
}

/// A matched block, ready to be replaced.
struct Block {
    conv: usize,
    last: OutletId,
    op: QConv2d,
    in_scale: f32,
    out_scale: f32,
}

/// Replaces every matching block of `model` with a [`QConv2d`] running on
/// `executor`.
pub fn fuse_qconv(
    model: &mut TypedModel,
    executor: Arc<dyn Executor>,
) -> TractResult<FusionReport> {
    let mut report = FusionReport::default();
    let mut seen: HashSet<usize> = HashSet::new();
    loop {
        let order = model.eval_order()?;
        let mut next = None;
        for id in order {
            if seen.contains(&id) || model.node(id).op_as::<Conv>().is_none() {
                continue;
            }
            seen.insert(id);
            match match_block(model, id, &executor) {
                Ok(block) => {
                    next = Some(block);
                    break;
                }
                Err(why) => report.skipped.push((model.node(id).name.clone(), why)),
            }
        }
        let Some(mut block) = next else { break };
        let conv = model.node(block.conv);
        // A layer the executor cannot prepare is an error, not a silent float fallback.
        block.op.runner = executor.prepare(&conv.name, &block.op.weights, &block.op.thresholds)?;
        report.fused.push(conv.name.clone());
        let mut patch = TypedModelPatch::default();
        let input = patch.tap_model(model, conv.inputs[0])?;
        let pack = PackLevels {
            channels: block.op.weights.in_channels(),
            scale: block.in_scale,
            layer: conv.name.clone(),
        };
        let unpack = UnpackLevels {
            channels: block.op.weights.out_channels(),
            scale: block.out_scale,
        };
        let packed = patch.wire_node(format!("{}.pack", conv.name), pack, &[input])?;
        let out = patch.wire_node(format!("{}.qconv", conv.name), block.op, &packed)?;
        let out = patch.wire_node(format!("{}.unpack", conv.name), unpack, &out)?;
        patch.shunt_outside(model, block.last, out[0])?;
        patch.apply(model)?;
    }
    model.compact()?;
    Ok(report)
}

/// A 2-bit unsigned, zero-point-0, HALF_UP (or ROUND, half to even: Blueoil
/// graphs before v0.11) quantiser's positive scalar scale.
pub(crate) fn two_bit_scale(q: &Quant) -> Result<f32, String> {
    if q.bit_width != 2 || q.signed || q.narrow {
        return Err(format!(
            "quantiser is {}-bit signed={} narrow={}, not 2-bit unsigned",
            q.bit_width, q.signed, q.narrow
        ));
    }
    if !matches!(q.rounding, RoundingMode::HalfUp | RoundingMode::Round) {
        return Err(format!(
            "quantiser rounds {:?}, not HALF_UP or ROUND",
            q.rounding
        ));
    }
    match (q.scalar_scale(), q.scalar_zero_point()) {
        (Some(s), Some(z)) if s > 0.0 && z == 0.0 => Ok(s),
        _ => Err("quantiser scale is not a positive scalar with zero point 0".into()),
    }
}

/// The scale of the 2-bit levels flowing into `outlet`, if every value there
/// is a level of one quantiser scale (through value-preserving layout ops).
fn level_scale(model: &TypedModel, outlet: OutletId) -> Result<f32, String> {
    let node = model.node(outlet.node);
    if let Some(q) = node.op_as::<Quant>() {
        return two_bit_scale(q);
    }
    if let Some(u) = node.op_as::<UnpackLevels>() {
        return Ok(u.scale);
    }
    let from: Vec<OutletId> = if node.op_as::<AxisOp>().is_some() {
        vec![node.inputs[0]]
    } else if node.op_as::<TypedConcat>().is_some() {
        node.inputs.clone()
    } else if let Some(nearest) = is_nearest_resize(node) {
        if !nearest {
            return Err(format!(
                "{} resizes by interpolation, which creates non-level values",
                node.name
            ));
        }
        vec![node.inputs[0]]
    } else {
        return Err(format!(
            "input comes from {} ({}), not from a 2-bit quantiser",
            node.name,
            node.op().name()
        ));
    };
    let mut scale = None;
    for o in from {
        let s = level_scale(model, o)?;
        if scale.is_some_and(|prev| prev != s) {
            return Err(format!("{} joins levels of different scales", node.name));
        }
        scale = Some(s);
    }
    scale.ok_or_else(|| format!("{} has no input", node.name))
}

/// The per-channel values of a constant broadcast over NCHW channels.
pub(crate) fn per_channel(t: &Tensor, channels: usize) -> Option<Vec<f64>> {
    let v = t.cast_to::<f32>().ok()?;
    let v = v.to_plain_array_view::<f32>().ok()?;
    let values: Vec<f64> = v.iter().map(|x| *x as f64).collect();
    let shape = t.shape();
    if values.len() == 1 {
        return Some(vec![values[0]; channels]);
    }
    // [C], [C,1,1] or [1,C,1,1]: exactly one axis of size C, the channel axis.
    let non_one: Vec<usize> = shape.iter().copied().filter(|d| *d != 1).collect();
    let channel_axis_ok = match shape.len() {
        4 => shape[1] == channels,
        3 => shape[0] == channels,
        1 => shape[0] == channels,
        _ => false,
    };
    (non_one == [channels] && channel_axis_ok && values.len() == channels).then_some(values)
}

/// The value of `outlet` if it is a constant, or a BipolarQuant of a
/// constant (binarised weights: BipolarQuant is never folded by tract, see
/// `ops::bipolar_quant`).
fn constant(model: &TypedModel, outlet: OutletId) -> Option<Arc<Tensor>> {
    let fact = model.outlet_fact(outlet).ok()?;
    if let Some(k) = &fact.konst {
        return Some(k.clone());
    }
    let node = model.node(outlet.node);
    let op = node.op_as::<BipolarQuant>()?;
    let input = model.outlet_fact(node.inputs[0]).ok()?.konst.clone()?;
    op.binarize(&input).ok().map(Tensor::into_arc_tensor)
}

/// `Ok` for a plain 2-D convolution (one group, float, OIHW weights, NCHW data, stride and
/// dilation 1), the only kind the fusion passes rewrite; else why not.
pub(crate) fn plain_conv(conv: &Conv) -> Result<(), String> {
    let spec = &conv.pool_spec;
    if conv.group != 1 || conv.q_params.is_some() || conv.kernel_fmt != KernelFormat::OIHW {
        return Err("grouped, integer or non-OIHW conv".into());
    }
    if spec.data_format != DataFormat::NCHW {
        return Err(format!("data format {:?}, not NCHW", spec.data_format));
    }
    if spec.kernel_shape.len() != 2 {
        return Err(format!("kernel {:?}, not 2-D", spec.kernel_shape));
    }
    let ones = |v: &Option<TVec<usize>>| v.as_ref().is_none_or(|v| v.iter().all(|x| *x == 1));
    if !ones(&spec.strides) || !ones(&spec.dilations) {
        return Err("stride or dilation is not 1".into());
    }
    Ok(())
}

/// Replaces the nodes from `input`'s consumer to `last` by `op` (named `name`) reading `input`:
/// `last`'s output now comes from `op`; what no longer feeds an output is removed by the
/// pass's final `compact`.
pub(crate) fn replace_with_op(
    model: &mut TypedModel,
    input: OutletId,
    last: usize,
    name: String,
    op: impl Into<Box<dyn TypedOp>>,
) -> TractResult<()> {
    let mut patch = TypedModelPatch::default();
    let x = patch.tap_model(model, input)?;
    let out = patch.wire_node(name, op, &[x])?;
    patch.shunt_outside(model, OutletId::new(last, 0), out[0])?;
    patch.apply(model)
}

/// The single successor of `node`'s output, if it has exactly one.
pub(crate) fn only_successor(model: &TypedModel, node: usize) -> Option<usize> {
    let succ = model.outlet_successors(OutletId::new(node, 0));
    let outputs = model.output_outlets().ok()?;
    (succ.len() == 1 && !outputs.contains(&OutletId::new(node, 0))).then(|| succ[0].node)
}

/// For a Mul/Add node with one constant operand: the constant and the other input.
pub(crate) fn const_operand(model: &TypedModel, node: usize, name: &str) -> Option<Arc<Tensor>> {
    let n = model.node(node);
    n.op_as::<TypedBinOp>().filter(|_| n.op().name() == name)?;
    n.inputs
        .iter()
        .find_map(|i| model.outlet_fact(*i).ok()?.konst.clone())
}

fn match_block(
    model: &TypedModel,
    id: usize,
    executor: &Arc<dyn Executor>,
) -> Result<Block, String> {
    let node = model.node(id);
    let conv = node.op_as::<Conv>().ok_or("not a Conv")?;
    let spec = &conv.pool_spec;
    plain_conv(conv)?;
    let k = spec.kernel_shape.as_slice();
    let k = match k {
        [1, 1] => 1,
        [3, 3] => 3,
        other => return Err(format!("kernel {other:?}, not 1×1 or 3×3")),
    };
    let p = k / 2;
    let same = match &spec.padding {
        PaddingSpec::Explicit(b, a) | PaddingSpec::ExplicitOnnxPool(b, a, _) => {
            b.iter().chain(a.iter()).all(|x| *x == p)
        }
        PaddingSpec::SameUpper | PaddingSpec::SameLower => true,
        PaddingSpec::Valid => p == 0,
    };
    if !same {
        return Err(format!("padding {:?} is not SAME", spec.padding));
    }

    // Binary weights: every output channel is ±α_o.
    let kernel = constant(model, node.inputs[1]).ok_or("weights are not constant")?;
    let (c_out, c_in) = (spec.output_channels, spec.input_channels);
    if kernel.shape() != [c_out, c_in, k, k] {
        return Err(format!("weights shape {:?}", kernel.shape()));
    }
    let w = kernel
        .to_plain_array_view::<f32>()
        .map_err(|e| e.to_string())?;
    let w: Vec<f32> = w.iter().copied().collect();
    let per_o = c_in * k * k;
    let mut alpha = vec![0f64; c_out];
    for o in 0..c_out {
        let row = &w[o * per_o..(o + 1) * per_o];
        let a = row[0].abs();
        if a == 0.0 || !a.is_finite() || row.iter().any(|x| x.abs() != a) {
            return Err(format!(
                "output channel {o} weights are not ±α (not binary)"
            ));
        }
        alpha[o] = a as f64;
    }
    let bias = match node.inputs.get(2) {
        Some(b) => {
            let t = model
                .outlet_fact(*b)
                .map_err(|e| e.to_string())?
                .konst
                .clone()
                .ok_or("bias is not constant")?;
            per_channel(&t, c_out).ok_or("bias shape")?
        }
        None => vec![0.0; c_out],
    };
    let s_in = level_scale(model, node.inputs[0])? as f64;

    // Conv → [Mul] → [Add] → Quant, each with a single consumer.
    let mut slope = vec![1.0f64; c_out];
    let mut inter = vec![0.0f64; c_out];
    let mut cur = id;
    let mut succ = only_successor(model, cur).ok_or("conv output has several consumers")?;
    if let Some(m) = const_operand(model, succ, "Mul") {
        slope = per_channel(&m, c_out).ok_or("BatchNorm slope is not per-channel")?;
        cur = succ;
        succ = only_successor(model, cur).ok_or("BatchNorm output has several consumers")?;
    }
    if let Some(a) = const_operand(model, succ, "Add") {
        inter = per_channel(&a, c_out).ok_or("BatchNorm intercept is not per-channel")?;
        cur = succ;
        succ = only_successor(model, cur).ok_or("BatchNorm output has several consumers")?;
    }
    let _ = cur;
    let quant = model
        .node(succ)
        .op_as::<Quant>()
        .ok_or("conv block does not end in a Quant")?;
    let s_out = two_bit_scale(quant)?;

    let mut rows = Vec::with_capacity(c_out);
    for o in 0..c_out {
        let a = slope[o] * s_in * alpha[o];
        let b = slope[o] * bias[o] + inter[o];
        if !(a.is_finite() && b.is_finite()) {
            return Err(format!("output channel {o}: non-finite BatchNorm"));
        }
        rows.push(thresholds(a, b, s_out, quant));
    }
    let weights = PackedWeights::from_f32_oihw(&w, c_out, c_in, k).map_err(|e| e.to_string())?;
    let thresholds = Thresholds::from_rows(&rows).map_err(|e| e.to_string())?;
    Ok(Block {
        conv: id,
        last: OutletId::new(succ, 0),
        op: QConv2d {
            layer: node.name.clone(),
            weights: Arc::new(weights),
            thresholds: Arc::new(thresholds),
            executor: executor.clone(),
            runner: None,
        },
        in_scale: s_in as f32,
        out_scale: s_out,
    })
}

/// `[T0, T1, T2, flags]` for `y = a·acc + b` quantised by `quant` (scale `s_out`).
pub fn thresholds(a: f64, b: f64, s_out: f32, quant: &Quant) -> [i32; 4] {
    const LIMIT: i64 = 32768;
    let clamp = |t: f64| -> i32 {
        if t.is_nan() {
            0
        } else {
            (t.clamp(-(LIMIT as f64), LIMIT as f64) as i64).clamp(-LIMIT, LIMIT - 1) as i32
        }
    };
    let snap = |v: f64| -> f64 {
        let r = v.round();
        if (v - r).abs() <= 1e-9 * v.abs().max(1.0) {
            r
        } else {
            v
        }
    };
    if a == 0.0 {
        let level = quant.level(b as f32, s_out, 0.0) as i32;
        let t = |k: i32| if k <= level { i32::MIN } else { i32::MAX };
        return [t(1), t(2), t(3), 0];
    }
    let mut row = [0i32; 4];
    for k in 1..=3 {
        let v = snap(((k as f64 - 0.5) * s_out as f64 - b) / a);
        // An exact tie reaches level k under HALF_UP; under ROUND (half to
        // even) only when k is even. (For a non-integer v both forms agree.)
        let tie_reaches = quant.rounding != RoundingMode::Round || k % 2 == 0;
        row[k - 1] = match (a > 0.0, tie_reaches) {
            (true, true) => clamp(v.ceil()),
            (true, false) => clamp(v.floor() + 1.0),
            (false, true) => clamp(v.floor()),
            (false, false) => clamp(v.ceil() - 1.0),
        };
    }
    if a < 0.0 {
        row[3] = FLAG_DESCENDING;
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q() -> Quant {
        Quant::unsigned_half_up(2, 2.0 / 3.0)
    }

    /// The level the float block gives, in f64 arithmetic with the same
    /// (f32) output scale the thresholds use; `None` within rounding noise
    /// of a decision boundary, where f64 evaluation order decides.
    fn level_exact(a: f64, b: f64, s: f32, acc: i32) -> Option<u8> {
        let y = (a * acc as f64 + b) / s as f64;
        let frac = (y + 0.5) - (y + 0.5).floor();
        if frac.min(1.0 - frac) < 1e-9 * y.abs().max(1.0) {
            return None;
        }
        Some((y + 0.5).floor().clamp(0.0, 3.0) as u8)
    }

    fn level_thr(row: [i32; 4], acc: i32) -> u8 {
        let t = Thresholds::from_rows(&[row]).unwrap();
        t.level(0, acc)
    }

    #[test]
    fn thresholds_reproduce_the_float_block() {
        let s = 2.0f32 / 3.0;
        let mut compared = 0;
        for (a, b) in [
            (0.05, 0.1),
            (0.013, -0.4),
            (-0.07, 1.9),
            (-0.002, -0.3),
            (1.0, 0.0),
            (0.5, 1.0 / 3.0),
        ] {
            let row = thresholds(a, b, s, &q());
            for acc in -400..=400 {
                if let Some(want) = level_exact(a, b, s, acc) {
                    assert_eq!(
                        level_thr(row, acc),
                        want,
                        "a={a} b={b} acc={acc} row={row:?}"
                    );
                    compared += 1;
                }
            }
        }
        assert!(compared > 4000, "{compared}");
    }

    #[test]
    fn exact_ties_round_up_in_both_directions() {
        // Binary-exact numbers: s_out = 0.5, a = 0.25, so y/s = acc/2 and
        // acc = 1 lands exactly on the level-1 boundary 0.5: HALF_UP → 1.
        let mut quant = q();
        quant.scale = tensor0(0.5f32).into_arc_tensor();
        let row = thresholds(0.25, 0.0, 0.5, &quant);
        assert_eq!(row[0], 1);
        assert_eq!(level_thr(row, 1), 1);
        assert_eq!(level_thr(row, 0), 0);
        assert_eq!(level_thr(row, 3), 2);
        assert_eq!(level_thr(row, 5), 3);
        // Mirrored (negative gamma): acc = -1 is the tie, counted as reached.
        let row = thresholds(-0.25, 0.0, 0.5, &quant);
        assert_eq!(row[3], FLAG_DESCENDING);
        assert_eq!(level_thr(row, -1), 1);
        assert_eq!(level_thr(row, 0), 0);
        assert_eq!(level_thr(row, -5), 3);
    }

    #[test]
    fn round_half_even_ties_reach_only_even_levels() {
        // s_out = 0.5, a = 0.25: y/s = acc/2; acc = 1, 3, 5 are the ties
        // 0.5, 1.5, 2.5, which ROUND takes to 0, 2, 2.
        let mut quant = q();
        quant.scale = tensor0(0.5f32).into_arc_tensor();
        quant.rounding = RoundingMode::Round;
        let row = thresholds(0.25, 0.0, 0.5, &quant);
        for (acc, want) in [(0, 0), (1, 0), (2, 1), (3, 2), (4, 2), (5, 2), (6, 3)] {
            assert_eq!(level_thr(row, acc), want, "acc={acc} row={row:?}");
            assert_eq!(quant.level(0.25 * acc as f32, 0.5, 0.0) as u8, want);
        }
        let row = thresholds(-0.25, 0.0, 0.5, &quant);
        for (acc, want) in [(0, 0), (-1, 0), (-2, 1), (-3, 2), (-5, 2), (-6, 3)] {
            assert_eq!(level_thr(row, acc), want, "acc={acc} row={row:?}");
        }
        assert!(two_bit_scale(&quant).is_ok());
        quant.rounding = RoundingMode::Floor;
        assert!(two_bit_scale(&quant).is_err());
    }

    #[test]
    fn constant_channels() {
        let s = 2.0f32 / 3.0;
        for (b, want) in [(-1.0, 0u8), (0.5, 1), (1.0, 2), (5.0, 3)] {
            let row = thresholds(0.0, b, s, &q());
            for acc in [-13824, 0, 13824] {
                assert_eq!(level_thr(row, acc), want, "b={b}");
            }
        }
    }
}
