//! Keeps activations packed between fused quantised convs.
//!
//! After [`super::fuse_qconv`] every block reads `PackLevels` and writes
//! `UnpackLevels`, with tract's float layout ops in between (SpaceToDepth as
//! reshape/transpose `AxisOp`s, nearest `Resize`, `Concat`). For each
//! `PackLevels` this pass looks at the float subgraph feeding it. When that
//! subgraph only moves values around and its leaves are 2-bit levels of the
//! same scale (`UnpackLevels` outputs, or a 2-bit `Quant`, which gets its own
//! `PackLevels`), it is replaced by one [`PackedGather`] reading the packed
//! tensors directly, or by nothing when it is the identity.
//!
//! The gather map is not derived by pattern-matching the layout ops: the pass
//! runs the very same tract ops on index tensors (element `i` of leaf `k`
//! holds `base_k + i`), so the map is exactly what the float graph would do.
//! It is then checked to move whole 32-channel groups (aligned, consecutive
//! channels of one input pixel, same zero tail); anything else stays float,
//! which is slower but still correct.

use super::fuse_qconv::two_bit_scale;
use crate::kernels;
use crate::ops::nearest_resize::is_nearest_resize;
use crate::ops::pack::{PackLevels, UnpackLevels};
use crate::ops::packed_gather::{PackedGather, PairSource};
use crate::ops::quant::Quant;
use std::collections::{HashMap, HashSet};
use tract_core::ops::array::TypedConcat;
use tract_hir::internal::*;

/// What the pass did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackingReport {
    /// Layers whose packed input now comes straight from packed producers
    /// (through a `PackedGather` or directly).
    pub packed: Vec<String>,
    /// Layers that still receive float levels, with why.
    pub float: Vec<(String, String)>,
}

/// A leaf of the float subgraph feeding a `PackLevels`.
#[derive(Clone, Copy, Debug)]
enum Leaf {
    /// The output of an `UnpackLevels`; its packed input is used instead.
    Unpacked { packed: OutletId, outlet: OutletId },
    /// The output of a 2-bit `Quant` (float levels), packed by a new `PackLevels`.
    Quantised { outlet: OutletId },
}

impl Leaf {
    fn outlet(&self) -> OutletId {
        match *self {
            Leaf::Unpacked { outlet, .. } | Leaf::Quantised { outlet } => outlet,
        }
    }
}

/// Runs the pass over `model`.
pub fn packed_layout(model: &mut TypedModel, threads: usize) -> TractResult<PackingReport> {
    let mut report = PackingReport::default();
    let mut seen: HashSet<usize> = HashSet::new();
    loop {
        let mut done = true;
        for id in model.eval_order()? {
            let Some(pack) = model.node(id).op_as::<PackLevels>() else {
                continue;
            };
            if !seen.insert(id) {
                continue;
            }
            let pack = pack.clone();
            match rewrite(model, id, &pack, threads)? {
                Ok(()) => report.packed.push(pack.layer.clone()),
                Err(why) => {
                    report.float.push((pack.layer.clone(), why));
                    continue;
                }
            }
            done = false;
            break;
        }
        if done {
            break;
        }
    }
    model.compact()?;
    Ok(report)
}

/// Rewrites the float subgraph feeding the `PackLevels` node `id`; the inner
/// `Err` says why it has to stay float.
fn rewrite(
    model: &mut TypedModel,
    id: usize,
    pack: &PackLevels,
    threads: usize,
) -> TractResult<Result<(), String>> {
    let input = model.node(id).inputs[0];
    let mut chain = Vec::new();
    let mut leaves = Vec::new();
    if let Err(why) = collect(model, input, pack.scale, &mut chain, &mut leaves) {
        return Ok(Err(why));
    }
    if chain.is_empty() && matches!(leaves[..], [Leaf::Quantised { .. }]) {
        return Ok(Err("its input is a float quantiser, packed here".into()));
    }
    let sources = match gather_map(model, input, &chain, &leaves, pack.channels)? {
        Ok(s) => s,
        Err(why) => return Ok(Err(why)),
    };
    let shape = model
        .outlet_fact(input)?
        .shape
        .as_concrete()
        .context("concrete shape")?
        .to_vec();
    let input_pairs: Vec<usize> = leaves
        .iter()
        .map(|l| {
            let s = model
                .outlet_fact(l.outlet())?
                .shape
                .as_concrete()
                .context("shape")?
                .to_vec();
            Ok(s[2] * s[3] * kernels::groups(s[1]))
        })
        .collect::<TractResult<_>>()?;
    let gather = PackedGather::new(shape[2], shape[3], pack.channels, input_pairs, sources)?
        .with_threads(threads);

    let mut patch = TypedModelPatch::default();
    let mut packed = TVec::new();
    for leaf in &leaves {
        packed.push(match *leaf {
            Leaf::Unpacked { packed, .. } => patch.tap_model(model, packed)?,
            Leaf::Quantised { outlet } => {
                let x = patch.tap_model(model, outlet)?;
                let channels = model.outlet_fact(outlet)?.shape[1]
                    .to_usize()
                    .context("channels")?;
                let op = PackLevels {
                    channels,
                    scale: pack.scale,
                    layer: model.node(outlet.node).name.clone(),
                };
                // Unique per consumer: one quantiser may feed several chains.
                let name = format!("{}.pack_for_{}", model.node(outlet.node).name, pack.layer);
                patch.wire_node(name, op, &[x])?[0]
            }
        });
    }
    let out = if gather.is_identity() {
        packed[0]
    } else {
        let name = format!("{}.gather", pack.layer);
        patch.wire_node(name, gather, &packed)?[0]
    };
    patch.shunt_outside(model, OutletId::new(id, 0), out)?;
    patch.apply(model)?;
    Ok(Ok(()))
}

/// Walks back from `outlet` through layout ops, collecting them (`chain`) and
/// the level tensors they start from (`leaves`).
fn collect(
    model: &TypedModel,
    outlet: OutletId,
    scale: f32,
    chain: &mut Vec<usize>,
    leaves: &mut Vec<Leaf>,
) -> Result<(), String> {
    if leaves.iter().any(|l| l.outlet() == outlet) || chain.contains(&outlet.node) {
        return Ok(());
    }
    let node = model.node(outlet.node);
    let same_scale = |s: f32| {
        if s == scale {
            Ok(())
        } else {
            Err(format!(
                "{} carries levels of scale {s}, not {scale}",
                node.name
            ))
        }
    };
    if let Some(u) = node.op_as::<UnpackLevels>() {
        same_scale(u.scale)?;
        leaves.push(Leaf::Unpacked {
            packed: node.inputs[0],
            outlet,
        });
        return Ok(());
    }
    if let Some(q) = node.op_as::<Quant>() {
        same_scale(two_bit_scale(q)?)?;
        leaves.push(Leaf::Quantised { outlet });
        return Ok(());
    }
    let data_inputs: &[OutletId] = if node.op_as::<AxisOp>().is_some() {
        &node.inputs[..1]
    } else if node.op_as::<TypedConcat>().is_some() {
        &node.inputs
    } else if let Some(nearest) = is_nearest_resize(node) {
        if !nearest {
            return Err(format!("{} is not a nearest resize", node.name));
        }
        &node.inputs[..1]
    } else {
        return Err(format!(
            "{} ({}) is not a layout op",
            node.name,
            node.op().name()
        ));
    };
    for &i in data_inputs {
        collect(model, i, scale, chain, leaves)?;
    }
    chain.push(outlet.node);
    Ok(())
}

/// The word-pair map of the subgraph, found by evaluating it on index tensors.
fn gather_map(
    model: &TypedModel,
    output: OutletId,
    chain: &[usize],
    leaves: &[Leaf],
    channels: usize,
) -> TractResult<Result<Vec<PairSource>, String>> {
    // Leaf k's elements are numbered base_k .. base_k + len_k (exact in f32 below 2^24).
    let mut values: HashMap<OutletId, TValue> = HashMap::new();
    let mut geometry = Vec::new(); // (base, C, H, W) per leaf
    let mut base = 0usize;
    for leaf in leaves {
        let s = model
            .outlet_fact(leaf.outlet())?
            .shape
            .as_concrete()
            .context("concrete leaf shape")?
            .to_vec();
        if s.len() != 4 || s[0] != 1 {
            return Ok(Err(format!("leaf shape {s:?} is not [1, C, H, W]")));
        }
        let len: usize = s.iter().product();
        let index: Vec<f32> = (base..base + len).map(|i| i as f32).collect();
        values.insert(
            leaf.outlet(),
            tract_ndarray::ArrayD::from_shape_vec(s.clone(), index)?
                .into_tensor()
                .into_tvalue(),
        );
        geometry.push((base, s[1], s[2], s[3]));
        base += len;
    }
    if base >= 1 << 24 {
        return Ok(Err("too many elements to index in f32".into()));
    }
    for &n in chain {
        let node = model.node(n);
        let mut inputs = TVec::new();
        for i in &node.inputs {
            inputs.push(match values.get(i) {
                Some(v) => v.clone(),
                None => match &model.outlet_fact(*i)?.konst {
                    Some(k) => k.clone().into_tvalue(),
                    None => return Ok(Err(format!("{} has a computed non-data input", node.name))),
                },
            });
        }
        let Some(out) = node.op.eval_out_of_plan(inputs)? else {
            return Ok(Err(format!(
                "{} cannot be evaluated ahead of time",
                node.name
            )));
        };
        values.insert(OutletId::new(n, 0), out[0].clone());
    }
    let index = values[&output].to_plain_array_view::<f32>()?.to_owned();
    let shape = index.shape().to_vec();
    if shape.len() != 4 || shape[0] != 1 || shape[1] != channels {
        return Ok(Err(format!(
            "layout output {shape:?} is not [1, {channels}, H, W]"
        )));
    }
    let (h, w) = (shape[2], shape[3]);
    let groups = kernels::groups(channels);
    let mut sources = Vec::with_capacity(h * w * groups);
    for y in 0..h {
        for x in 0..w {
            for g in 0..groups {
                let c0 = 32 * g;
                let valid = (channels - c0).min(32);
                let at = |c: usize| index[[0, c, y, x]] as usize;
                let first = at(c0);
                let Some(k) = geometry.iter().rposition(|g| g.0 <= first) else {
                    return Ok(Err("index outside the leaves".into()));
                };
                let (b, lc, lh, lw) = geometry[k];
                let local = first - b;
                let (ci, yi, xi) = (local / (lh * lw), local / lw % lh, local % lw);
                let aligned = ci % 32 == 0
                    && (lc - ci).min(32) == valid
                    && (1..valid).all(|i| at(c0 + i) == first + i * lh * lw);
                if !aligned {
                    return Ok(Err(format!(
                        "output channels {c0}.. at ({y}, {x}) are not one aligned 32-channel group"
                    )));
                }
                sources.push(PairSource {
                    input: k as u32,
                    pair: ((yi * lw + xi) * kernels::groups(lc) + ci / 32) as u32,
                });
            }
        }
    }
    Ok(Ok(sources))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCALE: f32 = 2.0 / 3.0;

    /// Two quantised NCHW sources (`c_a`, `c_b` channels, 3×2 pixels), concatenated on
    /// channels, optionally transposed (H ↔ W), then packed.
    fn model(c_a: usize, c_b: usize, transpose: bool) -> TypedModel {
        let mut m = TypedModel::default();
        let a = m.add_source("a", f32::fact([1, c_a, 3, 2])).unwrap();
        let b = m.add_source("b", f32::fact([1, c_b, 3, 2])).unwrap();
        let q = |m: &mut TypedModel, name: &str, x| {
            m.wire_node(name, Quant::unsigned_half_up(2, SCALE), &[x])
                .unwrap()[0]
        };
        let qa = q(&mut m, "qa", a);
        let qb = q(&mut m, "qb", b);
        let mut x = m
            .wire_node("cat", TypedConcat { axis: 1 }, &[qa, qb])
            .unwrap()[0];
        if transpose {
            x = m.wire_node("swap", AxisOp::Move(3, 2), &[x]).unwrap()[0];
        }
        let pack = PackLevels {
            channels: c_a + c_b,
            scale: SCALE,
            layer: "t".into(),
        };
        let p = m.wire_node("pack", pack, &[x]).unwrap();
        m.select_output_outlets(&p).unwrap();
        m
    }

    fn run(m: &TypedModel, c_a: usize, c_b: usize) -> Vec<u32> {
        let input = |c: usize, k: usize| {
            let v: Vec<f32> = (0..c * 6)
                .map(|i| ((i * 7 + k) % 5) as f32 * 0.45)
                .collect();
            tract_ndarray::Array4::from_shape_vec((1, c, 3, 2), v)
                .unwrap()
                .into_tensor()
                .into_tvalue()
        };
        let plan = m.clone().into_runnable().unwrap();
        let out = plan.run(tvec!(input(c_a, 1), input(c_b, 2))).unwrap();
        out[0]
            .to_plain_array_view::<u32>()
            .unwrap()
            .iter()
            .copied()
            .collect()
    }

    fn ops(m: &TypedModel) -> Vec<String> {
        m.nodes()
            .iter()
            .map(|n| n.op().name().to_string())
            .collect()
    }

    #[test]
    fn aligned_layout_chains_become_gathers_with_the_same_result() {
        for transpose in [false, true] {
            let original = model(32, 64, transpose);
            let mut rewritten = original.clone();
            let report = packed_layout(&mut rewritten, 1).unwrap();
            assert_eq!(report.packed, ["t"], "{report:?}");
            assert!(
                ops(&original).contains(&"Concat".to_string()),
                "{:?}",
                ops(&original)
            );
            assert_eq!(ops(&original).contains(&"MoveAxis".to_string()), transpose);
            let ops = ops(&rewritten);
            assert!(ops.contains(&"PackedGather".to_string()), "{ops:?}");
            assert!(
                !ops.iter().any(|o| o == "Concat" || o == "MoveAxis"),
                "{ops:?}"
            );
            assert_eq!(run(&rewritten, 32, 64), run(&original, 32, 64));
        }
    }

    #[test]
    fn unaligned_channel_groups_stay_float() {
        // 20 + 20 channels: output group 0 mixes both inputs, so no word gather exists.
        let mut m = model(20, 20, false);
        let report = packed_layout(&mut m, 1).unwrap();
        assert!(report.packed.is_empty(), "{report:?}");
        assert!(report.float[0].1.contains("aligned"), "{report:?}");
        assert!(!ops(&m).contains(&"PackedGather".to_string()));
        assert_eq!(run(&m, 20, 20), run(&model(20, 20, false), 20, 20));
    }
}
