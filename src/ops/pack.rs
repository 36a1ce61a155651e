//! `PackLevels` / `UnpackLevels`: the border between tract's float tensors and
//! the packed 2-bit activations that flow between fused quantised convs.
//!
//! A packed tensor in the graph is a `u32` tensor of shape `[H, W, G, 2]`
//! (`G = ceil(C / 32)`), word for word the layout of
//! [`PackedActivations`] (see [`crate::kernels::packed`]). The channel count
//! `C` is not in the shape; every op that produces or consumes one carries it.
//!
//! * `PackLevels { channels, scale }`: f32 `[1, C, H, W]` whose values are
//!   levels `q ∈ 0..=3` times `scale` → packed. A value that is not exactly
//!   such a level is an error, never silently rounded.
//! * `UnpackLevels { channels, scale }`: packed → f32 `[1, C, H, W]`.
//!
//! The packing passes insert them where float ops meet packed ones and remove
//! every pair they can (see [`crate::passes::packed_layout`]).

use crate::kernels::{self, PackedActivations};
use tract_hir::internal::*;

/// The fact of a packed tensor for `h × w` pixels of `channels` channels.
pub fn packed_fact(h: usize, w: usize, channels: usize) -> TypedFact {
    u32::fact([h, w, kernels::groups(channels), 2])
}

/// `(H, W)` of a packed input fact, checking it has `channels`' group count.
pub fn packed_hw(fact: &TypedFact, channels: usize, op: &str) -> TractResult<(usize, usize)> {
    let shape = fact
        .shape
        .as_concrete()
        .with_context(|| format!("{op}: packed input needs a concrete shape"))?;
    ensure!(
        fact.datum_type == u32::datum_type()
            && shape.len() == 4
            && shape[2] == kernels::groups(channels)
            && shape[3] == 2,
        "{op}: input {fact:?} is not a packed tensor of {channels} channels"
    );
    Ok((shape[0], shape[1]))
}

/// `(H, W)` of an f32 `[1, channels, H, W]` input fact (what `op` packs).
pub fn nchw_hw(fact: &TypedFact, channels: usize, op: &str) -> TractResult<(usize, usize)> {
    let shape = fact
        .shape
        .as_concrete()
        .with_context(|| format!("{op}: needs a concrete input shape"))?;
    ensure!(
        fact.datum_type == f32::datum_type()
            && shape.len() == 4
            && shape[0] == 1
            && shape[1] == channels,
        "{op}: input must be f32 [1, {channels}, H, W], got {fact:?}"
    );
    Ok((shape[2], shape[3]))
}

/// Packed words of `h × w` pixels of `channels` channels → a packed tensor value.
pub fn packed_tensor(h: usize, w: usize, channels: usize, words: Vec<u32>) -> TractResult<Tensor> {
    let shape = [h, w, kernels::groups(channels), 2];
    Ok(tract_ndarray::Array4::from_shape_vec(shape, words)?.into_tensor())
}

/// A packed tensor value → [`PackedActivations`] (copies the words).
pub fn to_packed(t: &Tensor, channels: usize, op: &str) -> TractResult<PackedActivations> {
    let shape = t.shape();
    ensure!(
        shape.len() == 4 && shape[2] == kernels::groups(channels) && shape[3] == 2,
        "{op}: input of shape {shape:?} is not a packed tensor of {channels} channels"
    );
    let words = t.try_as_plain_ram()?.as_slice::<u32>()?.to_vec();
    Ok(PackedActivations::from_words(
        shape[0], shape[1], channels, words,
    )?)
}

/// [`PackedActivations`] → a packed tensor value (moves the words).
pub fn from_packed(p: PackedActivations) -> TractResult<Tensor> {
    packed_tensor(p.height(), p.width(), p.channels(), p.into_words())
}

/// Float levels → packed.
#[derive(Clone, Debug, PartialEq)]
pub struct PackLevels {
    pub channels: usize,
    pub scale: f32,
    /// Node name reported in errors (the layer the packed data feeds).
    pub layer: String,
}

impl Eq for PackLevels {}

impl PackLevels {
    /// Packs NCHW `x` (`[1, C, H, W]`).
    pub fn pack(&self, x: &[f32], shape: &[usize]) -> TractResult<PackedActivations> {
        ensure!(
            shape.len() == 4 && shape[0] == 1 && shape[1] == self.channels,
            "{}: input must be [1, {}, H, W], got {shape:?}",
            self.layer,
            self.channels
        );
        let (c, h, w) = (shape[1], shape[2], shape[3]);
        let hw = h * w;
        let groups = kernels::groups(c);
        let mut words = vec![0u32; hw * groups * 2];
        let inv = 1.0 / self.scale;
        // The values a level can have, exactly as the quantiser produced them.
        let value = [0.0, self.scale, 2.0 * self.scale, 3.0 * self.scale];
        for ci in 0..c {
            let (g, bit) = (ci / 32, ci % 32);
            let plane = &x[ci * hw..(ci + 1) * hw];
            for (p, &v) in plane.iter().enumerate() {
                // Nearest level by truncation (libm's round is a call on baseline x86_64),
                // then an exact check against the table.
                let q = ((v * inv + 0.5) as i32).clamp(0, 3) as usize;
                if value[q] != v {
                    bail!(
                        "{}: input value {v} at (c={ci}, y={}, x={}) is not a 2-bit level of scale {}",
                        self.layer,
                        p / w,
                        p % w,
                        self.scale
                    );
                }
                let q = q as u32;
                let base = (p * groups + g) * 2;
                words[base] |= (q & 1) << bit;
                words[base + 1] |= (q >> 1) << bit;
            }
        }
        Ok(PackedActivations::from_words(h, w, c, words)?)
    }
}

impl Op for PackLevels {
    fn name(&self) -> StaticName {
        "PackLevels".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} channels, scale {}",
            self.channels, self.scale
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for PackLevels {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = inputs[0].to_plain_array_view::<f32>()?;
        let shape = x.shape().to_vec();
        let packed = match x.as_slice() {
            Some(s) => self.pack(s, &shape)?,
            None => self.pack(&x.iter().copied().collect::<Vec<_>>(), &shape)?,
        };
        Ok(tvec!(from_packed(packed)?.into_tvalue()))
    }
}

impl TypedOp for PackLevels {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (h, w) = nchw_hw(inputs[0], self.channels, &self.layer)?;
        Ok(tvec!(packed_fact(h, w, self.channels)))
    }

    as_op!();
}

/// Packed → float levels.
#[derive(Clone, Debug, PartialEq)]
pub struct UnpackLevels {
    pub channels: usize,
    pub scale: f32,
}

impl Eq for UnpackLevels {}

impl UnpackLevels {
    /// Packed levels → f32 NCHW `[1, C, H, W]`, levels times `scale`.
    pub fn unpack(&self, p: &PackedActivations) -> Tensor {
        let (c, h, w) = (p.channels(), p.height(), p.width());
        let hw = h * w;
        let groups = p.groups();
        let words = p.words();
        let value = [0.0, self.scale, 2.0 * self.scale, 3.0 * self.scale];
        let mut data = vec![0f32; c * hw];
        for ci in 0..c {
            let (g, bit) = (ci / 32, ci % 32);
            for (px, d) in data[ci * hw..(ci + 1) * hw].iter_mut().enumerate() {
                let base = (px * groups + g) * 2;
                let q = ((words[base] >> bit) & 1) | (((words[base + 1] >> bit) & 1) << 1);
                *d = value[q as usize];
            }
        }
        tract_ndarray::Array4::from_shape_vec((1, c, h, w), data)
            .expect("shape matches buffer")
            .into_tensor()
    }
}

impl Op for UnpackLevels {
    fn name(&self) -> StaticName {
        "UnpackLevels".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} channels, scale {}",
            self.channels, self.scale
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for UnpackLevels {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let p = to_packed(&inputs[0], self.channels, "UnpackLevels")?;
        Ok(tvec!(self.unpack(&p).into_tvalue()))
    }
}

impl TypedOp for UnpackLevels {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (h, w) = packed_hw(inputs[0], self.channels, "UnpackLevels")?;
        Ok(tvec!(f32::fact([1, self.channels, h, w])))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_unpack_round_trip_and_rejects_non_levels() {
        let (c, h, w) = (37usize, 2usize, 3usize);
        let s = 2.0f32 / 3.0;
        let levels: Vec<f32> = (0..c * h * w).map(|i| ((i * 7) % 4) as f32 * s).collect();
        let pack = PackLevels {
            channels: c,
            scale: s,
            layer: "t".into(),
        };
        let p = pack.pack(&levels, &[1, c, h, w]).unwrap();
        assert_eq!(p.level(1, 2, 36), (((36 * h * w + 5) * 7) % 4) as u8);
        let back = UnpackLevels {
            channels: c,
            scale: s,
        }
        .unpack(&p);
        assert_eq!(
            back.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap(),
            &levels[..]
        );
        let mut bad = levels.clone();
        bad[4] = 0.5;
        let e = pack.pack(&bad, &[1, c, h, w]).unwrap_err().to_string();
        assert!(e.contains("not a 2-bit level"), "{e}");
        assert!(pack.pack(&levels, &[1, c + 1, h, w]).is_err());
    }
}
