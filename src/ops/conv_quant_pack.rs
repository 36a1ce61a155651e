//! `ConvQuantPack`: the network's first block (a float 1×1 convolution on
//! the image, BatchNorm, 2-bit quantiser) computed in one pass that writes
//! packed activations, instead of four float ops over a 160×160×32 tensor.
//!
//! The block stays float, as the model says: the op performs the same f32
//! operations, in the same order, as tract's evaluation of the float graph,
//! so its levels are identical to that reference (checked by the tests on
//! every pixel, not just within a tolerance):
//! 1. `acc = x_0·w_0`, then `acc = fma(x_c, w_c, acc)` for `c = 1 ..` — what
//!    tract's matrix-multiply kernels do (fused multiply-add, input channels
//!    in order) on x86_64 and aarch64. On 32-bit ARM, tract's NEON kernels
//!    multiply and add separately (`vmla`), and so does this op there.
//!    (Fused or not only matters for a value within an ulp of a quantiser
//!    boundary: the tests saw none in 28 images, either way);
//! 2. `+ bias` (if the conv has one), `× slope`, `+ intercept` (the
//!    BatchNorm, as tract decomposes it), each rounded to f32;
//! 3. the `Quant`'s own level function (`Quant::level_in`).
//!
//! Shape rule: input f32 `[1, C_in, H, W]`, output packed `u32 [H, W, G, 2]`
//! for `C_out` channels (see [`super::pack`]).

use super::pack::{nchw_hw, packed_fact, packed_tensor};
use super::quant::{Quant, RoundingMode};
use crate::kernels::{self, GROUP_CHANNELS};
use tract_hir::internal::*;

#[derive(Clone, Debug, PartialEq)]
pub struct ConvQuantPack {
    /// Name of the float Conv it replaces.
    pub layer: String,
    pub in_channels: usize,
    pub out_channels: usize,
    /// 1×1 weights, `[C_in][C_out]` (input-channel major, so each step of the
    /// sum is one contiguous row of output channels).
    pub weights: Vec<f32>,
    pub bias: Option<Vec<f32>>,
    pub slope: Option<Vec<f32>>,
    pub intercept: Option<Vec<f32>>,
    /// The 2-bit quantiser; its scalar scale and zero point.
    pub quant: Quant,
    pub scale: f32,
    pub zero_point: f32,
}

impl Eq for ConvQuantPack {}

/// `acc + a·b` as tract's kernels compute it on this target (see the module docs).
#[inline(always)]
fn madd(a: f32, b: f32, acc: f32) -> f32 {
    #[cfg(target_arch = "arm")]
    {
        acc + a * b
    }
    #[cfg(not(target_arch = "arm"))]
    {
        a.mul_add(b, acc)
    }
}

impl ConvQuantPack {
    /// Levels of one output row of pixels, channel-minor: `levels[p·C_out + o]`.
    #[inline(always)]
    fn row_levels(&self, x: &[f32], hw: usize, p0: usize, n: usize, levels: &mut [u8]) {
        let c_out = self.out_channels;
        let (lo, hi) = (self.quant.min_int() as f32, self.quant.max_int() as f32);
        let fast = self.fast_quantiser();
        let mut acc = vec![0f32; c_out];
        for p in 0..n {
            let px = p0 + p;
            let w0 = &self.weights[..c_out];
            let x0 = x[px];
            for (a, &w) in acc.iter_mut().zip(w0) {
                *a = x0 * w;
            }
            for c in 1..self.in_channels {
                let xc = x[c * hw + px];
                let wc = &self.weights[c * c_out..(c + 1) * c_out];
                for (a, &w) in acc.iter_mut().zip(wc) {
                    *a = madd(xc, w, *a);
                }
            }
            if let Some(b) = &self.bias {
                acc.iter_mut().zip(b).for_each(|(a, b)| *a += b);
            }
            if let Some(m) = &self.slope {
                acc.iter_mut().zip(m).for_each(|(a, m)| *a *= m);
            }
            if let Some(i) = &self.intercept {
                acc.iter_mut().zip(i).for_each(|(a, i)| *a += i);
            }
            let dst = &mut levels[p * c_out..(p + 1) * c_out];
            if fast {
                // The activation quantiser (unsigned, zero point 0, HALF_UP): for
                // y = clamp(a / s, 0, hi) >= 0, HALF_UP is floor(y + 0.5), a truncating
                // cast; the same f32 operations as `level_in`, branch-free so it vectorises.
                // (A NaN becomes level 0 here and in `level_in`'s `as u8`.)
                let s = self.scale;
                for (d, &a) in dst.iter_mut().zip(&acc) {
                    *d = ((a / s).clamp(0.0, hi) + 0.5) as u8;
                }
            } else {
                for (d, &a) in dst.iter_mut().zip(&acc) {
                    let q = self.quant.level_in(a, self.scale, self.zero_point, lo, hi);
                    *d = q as u8;
                }
            }
        }
    }

    /// Runs the block on NCHW `x` of `h × w` pixels; returns packed words.
    pub fn run(&self, x: &[f32], h: usize, w: usize) -> Vec<u32> {
        let hw = h * w;
        let c_out = self.out_channels;
        let groups = kernels::groups(c_out);
        let mut words = vec![0u32; hw * groups * 2];
        #[cfg(target_arch = "x86_64")]
        if self.fast_quantiser()
            && self.quant.max_int() == 3.0
            && c_out.is_multiple_of(16)
            && is_x86_feature_detected!("avx512f")
        {
            // SAFETY: the feature was just checked.
            unsafe { self.run_avx512(x, hw, &mut words) };
            return words;
        }
        self.run_portable(x, h, w, &mut words);
        words
    }

    /// [`Self::run`] without the AVX-512 path (the reference for its test).
    fn run_portable(&self, x: &[f32], h: usize, w: usize, words: &mut [u32]) {
        let hw = h * w;
        let c_out = self.out_channels;
        let groups = kernels::groups(c_out);
        let mut levels = vec![0u8; w * c_out];
        for y in 0..h {
            self.run_row_dispatch(x, hw, y * w, w, &mut levels);
            for (p, lv) in levels.chunks_exact(c_out).enumerate() {
                let out = &mut words[(y * w + p) * groups * 2..][..groups * 2];
                for (g, chunk) in lv.chunks(GROUP_CHANNELS).enumerate() {
                    let (mut b0, mut b1) = (0u32, 0u32);
                    for (i, &q) in chunk.iter().enumerate() {
                        b0 |= u32::from(q & 1) << i;
                        b1 |= u32::from(q >> 1) << i;
                    }
                    out[2 * g] = b0;
                    out[2 * g + 1] = b1;
                }
            }
        }
    }

    /// The activation quantiser: unsigned, zero point 0, HALF_UP, at most 8 bits.
    fn fast_quantiser(&self) -> bool {
        !self.quant.signed
            && self.zero_point == 0.0
            && self.scale > 0.0
            && self.quant.rounding == RoundingMode::HalfUp
            && self.quant.max_int() <= 255.0
    }

    /// 16 output channels per vector; the level bits come straight from
    /// compare masks: with `y = clamp(acc / s, 0, 3) + 0.5`, level `>= k` iff
    /// `y >= k` (the truncation of the fast path), so bit 0 = parity and
    /// bit 1 = `y >= 2`. A NaN gives level 0, as the scalar paths do.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn run_avx512(&self, x: &[f32], hw: usize, words: &mut [u32]) {
        use core::arch::x86_64::*;
        let c_out = self.out_channels;
        let groups = kernels::groups(c_out);
        let vecs = c_out / 16;
        // A named inline function, not a closure (closures do not inherit target features, so
        // the intrinsic could become an out-of-line call).
        #[inline(always)]
        unsafe fn load(v: &[f32], i: usize) -> __m512 {
            _mm512_loadu_ps(v[16 * i..][..16].as_ptr())
        }
        let (zero, three, half) = (
            _mm512_setzero_ps(),
            _mm512_set1_ps(3.0),
            _mm512_set1_ps(0.5),
        );
        let (one, two) = (_mm512_set1_ps(1.0), _mm512_set1_ps(2.0));
        let s = _mm512_set1_ps(self.scale);
        for p in 0..hw {
            let out = &mut words[p * groups * 2..][..groups * 2];
            for v in 0..vecs {
                let mut acc = _mm512_mul_ps(_mm512_set1_ps(x[p]), load(&self.weights, v));
                for c in 1..self.in_channels {
                    let xc = _mm512_set1_ps(x[c * hw + p]);
                    let wc = load(&self.weights[c * c_out..], v);
                    acc = _mm512_fmadd_ps(xc, wc, acc);
                }
                if let Some(b) = &self.bias {
                    acc = _mm512_add_ps(acc, load(b, v));
                }
                if let Some(m) = &self.slope {
                    acc = _mm512_mul_ps(acc, load(m, v));
                }
                if let Some(i) = &self.intercept {
                    acc = _mm512_add_ps(acc, load(i, v));
                }
                let y = _mm512_div_ps(acc, s);
                let y = _mm512_add_ps(_mm512_min_ps(_mm512_max_ps(y, zero), three), half);
                let m1 = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(y, one);
                let m2 = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(y, two);
                let m3 = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(y, three);
                let (g, shift) = (v / 2, 16 * (v % 2));
                out[2 * g] |= u32::from(m1 ^ m2 ^ m3) << shift;
                out[2 * g + 1] |= u32::from(m2) << shift;
            }
        }
    }

    /// [`Self::row_levels`], compiled with FMA where the CPU has it (without
    /// it `mul_add` is a libm call: correct, just slow).
    fn run_row_dispatch(&self, x: &[f32], hw: usize, p0: usize, n: usize, levels: &mut [u8]) {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("fma") && is_x86_feature_detected!("avx2") {
            // SAFETY: the features were just checked.
            return unsafe { self.row_levels_fma(x, hw, p0, n, levels) };
        }
        self.row_levels(x, hw, p0, n, levels)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "fma,avx2")]
    unsafe fn row_levels_fma(&self, x: &[f32], hw: usize, p0: usize, n: usize, levels: &mut [u8]) {
        self.row_levels(x, hw, p0, n, levels)
    }
}

impl Op for ConvQuantPack {
    fn name(&self) -> StaticName {
        "ConvQuantPack".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "1x1 {}→{}, BatchNorm, {}-bit quantiser, packed",
            self.in_channels, self.out_channels, self.quant.bit_width
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for ConvQuantPack {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = inputs[0].to_plain_array_view::<f32>()?;
        let shape = x.shape().to_vec();
        ensure!(
            shape.len() == 4 && shape[0] == 1 && shape[1] == self.in_channels,
            "{}: input must be [1, {}, H, W], got {shape:?}",
            self.layer,
            self.in_channels
        );
        let (h, w) = (shape[2], shape[3]);
        let words = match x.as_slice() {
            Some(s) => self.run(s, h, w),
            None => self.run(&x.iter().copied().collect::<Vec<_>>(), h, w),
        };
        Ok(tvec!(
            packed_tensor(h, w, self.out_channels, words)?.into_tvalue()
        ))
    }
}

impl TypedOp for ConvQuantPack {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (h, w) = nchw_hw(inputs[0], self.in_channels, &self.layer)?;
        Ok(tvec!(packed_fact(h, w, self.out_channels)))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xorshift(seed: &mut u32) -> f32 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 17;
        *seed ^= *seed << 5;
        (*seed % 20_000) as f32 / 10_000.0 - 1.0
    }

    /// Whatever path `run` takes on this CPU equals the portable one, on
    /// values spread over every level (and exact level boundaries).
    #[test]
    fn vector_path_equals_portable_path() {
        let mut seed = 7u32;
        let (c_in, c_out, h, w) = (3usize, 32usize, 5usize, 7usize);
        let mut rnd = |n: usize| (0..n).map(|_| xorshift(&mut seed)).collect::<Vec<f32>>();
        let quant = Quant::unsigned_half_up(2, 2.0 / 3.0);
        let op = ConvQuantPack {
            layer: "t".into(),
            in_channels: c_in,
            out_channels: c_out,
            weights: rnd(c_in * c_out),
            bias: Some(rnd(c_out)),
            slope: Some(rnd(c_out).iter().map(|v| 3.0 * v).collect()),
            intercept: Some(rnd(c_out)),
            quant,
            scale: 2.0 / 3.0,
            zero_point: 0.0,
        };
        let mut x = rnd(c_in * h * w);
        // A zero pixel gives exactly `bias·slope + intercept`; make some land on a boundary.
        for c in 0..c_in {
            x[c * h * w] = 0.0;
        }
        let got = op.run(&x, h, w);
        let mut want = vec![0u32; got.len()];
        op.run_portable(&x, h, w, &mut want);
        assert_eq!(got, want);
        let levels: std::collections::HashSet<u32> = want
            .chunks_exact(2)
            .flat_map(|p| (0..32).map(move |i| ((p[0] >> i) & 1) | (((p[1] >> i) & 1) << 1)))
            .collect();
        assert_eq!(levels.len(), 4, "{levels:?}");
    }
}
