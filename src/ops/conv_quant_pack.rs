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
//! Steps 2 and 3 are monotone in the sum of step 1, so for the 2-bit quantiser the op
//! computes them once, as three exact f32 thresholds per channel on that sum
//! ([`LevelThresholds`]): per pixel only the sum and three compares remain. Pixels are split
//! over the engine's threads.
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
    /// The block as thresholds on the raw sum ([`Self::level_thresholds`]); `None`: the
    /// float chain runs as written.
    pub thresholds: Option<LevelThresholds>,
    /// Threads the pixels are split over (0 = all cores; see [`crate::parallel`]).
    pub threads: usize,
    /// The input is NHWC `[1, H, W, C_in]` (the image as the model takes it, when the pass
    /// absorbed the graph's NHWC → NCHW transpose); else NCHW `[1, C_in, H, W]`.
    pub nhwc: bool,
}

impl Eq for ConvQuantPack {}

/// Where input channel `c` of pixel `p` is: `x[c · channel + p · pixel]`.
#[derive(Clone, Copy, Debug)]
struct Strides {
    channel: usize,
    pixel: usize,
}

/// The input block as `level = (acc ≥ T1) + (acc ≥ T2) + (acc ≥ T3)` on the raw sum of
/// products `acc`, with no per-pixel BatchNorm, division or rounding.
///
/// Exact, not approximate: with a finite bias, slope (≠ 0) and intercept, each step after the
/// sum (`+ bias`, `× slope`, `+ intercept`, `/ s`, clamp, `+ 0.5`, truncation) is monotone in
/// its input under IEEE round-to-nearest, so the level is a monotone step function of the f32
/// `acc`, and its steps are found by bisection over the ordered f32 values. A channel with a
/// negative slope has its weights negated: round-to-nearest is symmetric, so its sum comes out
/// exactly negated and it compares with `≥` like the others. A NaN sum compares false (level
/// 0, as in the float chain); a threshold that no value reaches is NaN.
#[derive(Clone, Debug)]
pub struct LevelThresholds {
    /// `[C_in][C_out]`, negated for the channels with a negative slope.
    pub weights: Vec<f32>,
    /// `T1`, `T2`, `T3` per output channel.
    pub t: [Vec<f32>; 3],
}

impl PartialEq for LevelThresholds {
    fn eq(&self, other: &Self) -> bool {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        bits(&self.weights) == bits(&other.weights)
            && (0..3).all(|k| bits(&self.t[k]) == bits(&other.t[k]))
    }
}

/// Packs one pixel's levels (`0..=3`, one byte per channel) into its `[plane 0, plane 1]`
/// words per 32-channel group, eight channels per multiply: with byte `i` of `v` equal to 0 or
/// 1, `v · 0x0102040810204080` has bit `56 + i` equal to byte `i` and no carries into the top
/// byte (every partial product lands on its own bit).
fn pack_levels(levels: &[u8], dst: &mut [u32]) {
    const LOW_BITS: u64 = 0x0101_0101_0101_0101;
    let bits8 = |v: u64| ((v & LOW_BITS).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32;
    for (g, chunk) in levels.chunks(GROUP_CHANNELS).enumerate() {
        let mut group = [0u8; GROUP_CHANNELS];
        group[..chunk.len()].copy_from_slice(chunk);
        let (mut b0, mut b1) = (0u32, 0u32);
        for (k, eight) in group.chunks_exact(8).enumerate() {
            let v = u64::from_le_bytes(eight.try_into().expect("8 bytes"));
            b0 |= bits8(v) << (8 * k);
            b1 |= bits8(v >> 1) << (8 * k);
        }
        dst[2 * g] = b0;
        dst[2 * g + 1] = b1;
    }
}

/// The f32 values in their numeric order as `u32` keys (−∞ < … < −0 < +0 < … < +∞).
fn order_key(x: f32) -> u32 {
    let b = x.to_bits();
    if b >> 31 == 1 {
        !b
    } else {
        b | 1 << 31
    }
}

fn from_order_key(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & !(1 << 31) } else { !k })
}

/// The smallest f32 `a` with `level(a) >= k`, for a non-decreasing `level`; NaN if none.
fn first_reaching(level: &impl Fn(f32) -> u8, k: u8) -> f32 {
    let (mut lo, mut hi) = (order_key(f32::NEG_INFINITY), order_key(f32::INFINITY));
    if level(f32::INFINITY) < k {
        return f32::NAN;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if level(from_order_key(mid)) >= k {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    from_order_key(lo)
}

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
    fn row_levels(&self, x: &[f32], s: Strides, p0: usize, n: usize, levels: &mut [u8]) {
        let c_out = self.out_channels;
        let (lo, hi) = (self.quant.min_int() as f32, self.quant.max_int() as f32);
        let fast = self.fast_quantiser();
        let mut acc = vec![0f32; c_out];
        for p in 0..n {
            let px = p0 + p;
            let w0 = &self.weights[..c_out];
            let x0 = x[px * s.pixel];
            for (a, &w) in acc.iter_mut().zip(w0) {
                *a = x0 * w;
            }
            for c in 1..self.in_channels {
                let xc = x[c * s.channel + px * s.pixel];
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

    /// Runs the block on `x` of `h × w` pixels (NCHW, or NHWC if [`Self::nhwc`]); returns
    /// packed words.
    pub fn run(&self, x: &[f32], h: usize, w: usize) -> Vec<u32> {
        let hw = h * w;
        let s = if self.nhwc {
            Strides {
                channel: 1,
                pixel: self.in_channels,
            }
        } else {
            Strides {
                channel: hw,
                pixel: 1,
            }
        };
        let per_pixel = kernels::groups(self.out_channels) * 2;
        let mut words = vec![0u32; hw * per_pixel];
        crate::parallel::for_each_range_mut(&mut words, per_pixel, 1, self.threads, |p0, out| {
            self.run_pixels(x, s, p0, out)
        });
        words
    }

    /// Packed words of pixels `p0 .. p0 + out.len() / (G·2)`.
    fn run_pixels(&self, x: &[f32], s: Strides, p0: usize, out: &mut [u32]) {
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = self
            .thresholds
            .as_ref()
            .filter(|_| self.out_channels.is_multiple_of(16) && is_x86_feature_detected!("avx512f"))
        {
            // SAFETY: the feature was just checked (and the shapes, for the fixed ones).
            return unsafe {
                match (self.in_channels, self.out_channels / 16) {
                    // RGB → 32 channels (the default model), RGB → 16 and grey → 32 with
                    // weights and thresholds held in registers.
                    (3, 2) => self.run_thresholds_avx512_fixed::<3, 2>(t, x, s, p0, out),
                    (3, 1) => self.run_thresholds_avx512_fixed::<3, 1>(t, x, s, p0, out),
                    (1, 2) => self.run_thresholds_avx512_fixed::<1, 2>(t, x, s, p0, out),
                    _ => self.run_thresholds_avx512(t, x, s, p0, out),
                }
            };
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("fma") && is_x86_feature_detected!("avx2") {
            // SAFETY: the features were just checked.
            return unsafe { self.run_portable_fma(x, s, p0, out) };
        }
        self.run_portable(x, s, p0, out)
    }

    /// The portable paths: the threshold form, or the float chain where there is none.
    #[inline(always)]
    fn run_portable(&self, x: &[f32], s: Strides, p0: usize, out: &mut [u32]) {
        match &self.thresholds {
            Some(t) => self.run_thresholds(t, x, s, p0, out),
            None => self.run_float(x, s, p0, out),
        }
    }

    /// [`Self::run_portable`] compiled with FMA where the CPU has it (without it `mul_add` is
    /// a libm call: correct, just slow).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "fma,avx2")]
    unsafe fn run_portable_fma(&self, x: &[f32], s: Strides, p0: usize, out: &mut [u32]) {
        self.run_portable(x, s, p0, out)
    }

    /// The float chain itself, as tract evaluates it: the path for blocks without a threshold
    /// form, and the reference the threshold paths are tested against.
    #[inline(always)]
    fn run_float(&self, x: &[f32], s: Strides, p0: usize, out: &mut [u32]) {
        let c_out = self.out_channels;
        let per_pixel = kernels::groups(c_out) * 2;
        let n = out.len() / per_pixel;
        let mut levels = vec![0u8; n * c_out];
        self.row_levels(x, s, p0, n, &mut levels);
        for (lv, dst) in levels
            .chunks_exact(c_out)
            .zip(out.chunks_exact_mut(per_pixel))
        {
            pack_levels(lv, dst);
        }
    }

    fn input_shape_text(&self) -> String {
        if self.nhwc {
            format!("[1, H, W, {}]", self.in_channels)
        } else {
            format!("[1, {}, H, W]", self.in_channels)
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

    /// The level of channel `o` for the raw accumulator `acc` (`Σ x_c·w_c`): the same f32
    /// operations as [`Self::row_levels`] on one value.
    fn level_of(&self, o: usize, acc: f32) -> u8 {
        let mut a = acc;
        if let Some(b) = &self.bias {
            a += b[o];
        }
        if let Some(m) = &self.slope {
            a *= m[o];
        }
        if let Some(i) = &self.intercept {
            a += i[o];
        }
        let hi = self.quant.max_int() as f32;
        ((a / self.scale).clamp(0.0, hi) + 0.5) as u8
    }

    /// Computes the threshold form of the block (see [`LevelThresholds`]); `None` where it
    /// would not be exact: another quantiser than unsigned 2-bit HALF_UP with zero point 0,
    /// a non-finite scale, bias, slope or intercept, or a zero slope.
    pub fn level_thresholds(&self) -> Option<LevelThresholds> {
        let finite =
            |v: &Option<Vec<f32>>| v.as_ref().is_none_or(|v| v.iter().all(|x| x.is_finite()));
        let exact = self.fast_quantiser()
            && self.quant.max_int() == 3.0
            && self.scale.is_finite()
            && finite(&self.bias)
            && finite(&self.slope)
            && finite(&self.intercept)
            && self
                .slope
                .as_ref()
                .is_none_or(|m| m.iter().all(|&m| m != 0.0))
            && self.weights.len() == self.in_channels * self.out_channels;
        if !exact {
            return None;
        }
        let c_out = self.out_channels;
        let negated: Vec<bool> = (0..c_out)
            .map(|o| self.slope.as_ref().is_some_and(|m| m[o] < 0.0))
            .collect();
        let weights = self
            .weights
            .iter()
            .enumerate()
            .map(|(i, &w)| if negated[i % c_out] { -w } else { w })
            .collect();
        let mut t = [vec![0f32; c_out], vec![0f32; c_out], vec![0f32; c_out]];
        for o in 0..c_out {
            // The level as a non-decreasing function of the (possibly negated) accumulator.
            let level = |a: f32| self.level_of(o, if negated[o] { -a } else { a });
            for (k, tk) in t.iter_mut().enumerate() {
                tk[o] = first_reaching(&level, k as u8 + 1);
            }
            // The vector kernels rely on T1 ≤ T2 ≤ T3 (then `level ≥ 2` is the middle
            // compare alone); first reaching points of a non-decreasing level are ordered, so
            // this only refuses what would be a bug.
            if !(t[0][o] <= t[1][o] && t[1][o] <= t[2][o]) {
                return None;
            }
        }
        Some(LevelThresholds { weights, t })
    }

    /// Threshold form, portable (vectorised by the compiler over the output channels).
    #[inline(always)]
    fn run_thresholds(
        &self,
        t: &LevelThresholds,
        x: &[f32],
        s: Strides,
        p0: usize,
        out: &mut [u32],
    ) {
        let c_out = self.out_channels;
        let per_pixel = kernels::groups(c_out) * 2;
        let mut acc = vec![0f32; c_out];
        let mut levels = vec![0u8; c_out];
        for (p, dst) in out.chunks_exact_mut(per_pixel).enumerate() {
            let px = p0 + p;
            let x0 = x[px * s.pixel];
            for (a, &w) in acc.iter_mut().zip(&t.weights[..c_out]) {
                *a = x0 * w;
            }
            for c in 1..self.in_channels {
                let xc = x[c * s.channel + px * s.pixel];
                for (a, &w) in acc.iter_mut().zip(&t.weights[c * c_out..(c + 1) * c_out]) {
                    *a = madd(xc, w, *a);
                }
            }
            for (((q, &a), &t0), (&t1, &t2)) in levels
                .iter_mut()
                .zip(&acc)
                .zip(&t.t[0])
                .zip(t.t[1].iter().zip(&t.t[2]))
            {
                *q = u8::from(a >= t0) + u8::from(a >= t1) + u8::from(a >= t2);
            }
            pack_levels(&levels, dst);
        }
    }

    /// Threshold form, 16 output channels per vector: three compares give the level's bits
    /// (bit 0 = parity of the masks, bit 1 = the middle one: with T1 ≤ T2 ≤ T3 they are
    /// nested).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn run_thresholds_avx512(
        &self,
        t: &LevelThresholds,
        x: &[f32],
        s: Strides,
        p0: usize,
        out: &mut [u32],
    ) {
        use core::arch::x86_64::*;
        let c_out = self.out_channels;
        let per_pixel = kernels::groups(c_out) * 2;
        // A named inline function, not a closure (closures do not inherit target features, so
        // the intrinsic could become an out-of-line call).
        #[inline(always)]
        unsafe fn load(v: &[f32], i: usize) -> __m512 {
            _mm512_loadu_ps(v[16 * i..][..16].as_ptr())
        }
        for (p, dst) in out.chunks_exact_mut(per_pixel).enumerate() {
            let px = p0 + p;
            dst.fill(0);
            for v in 0..c_out / 16 {
                let mut acc = _mm512_mul_ps(_mm512_set1_ps(x[px * s.pixel]), load(&t.weights, v));
                for c in 1..self.in_channels {
                    let xc = _mm512_set1_ps(x[c * s.channel + px * s.pixel]);
                    acc = _mm512_fmadd_ps(xc, load(&t.weights[c * c_out..], v), acc);
                }
                let m1 = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(acc, load(&t.t[0], v));
                let m2 = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(acc, load(&t.t[1], v));
                let m3 = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(acc, load(&t.t[2], v));
                // The thresholds are ordered, so the masks are nested (m3 ⊆ m2 ⊆ m1): the level
                // m1 + m2 + m3 is odd where m1 ^ m2 ^ m3, and ≥ 2 where m2.
                let (g, shift) = (v / 2, 16 * (v % 2));
                dst[2 * g] |= u32::from(m1 ^ m2 ^ m3) << shift;
                dst[2 * g + 1] |= u32::from(m2) << shift;
            }
        }
    }

    /// [`Self::run_thresholds_avx512`] for `C` input channels and `16·V` output channels, the
    /// weights and thresholds loaded into registers once: per pixel only `C` broadcasts,
    /// `V·C` multiply-adds and `3·V` compares remain.
    ///
    /// # Safety
    /// AVX-512F and FMA must be present (the shapes are asserted: `C` input channels, 16 or
    /// 32 output channels, i.e. one packed group).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn run_thresholds_avx512_fixed<const C: usize, const V: usize>(
        &self,
        t: &LevelThresholds,
        x: &[f32],
        s: Strides,
        p0: usize,
        out: &mut [u32],
    ) {
        use core::arch::x86_64::*;
        assert!(self.in_channels == C && self.out_channels == 16 * V && C > 0 && V <= 2);
        let n = out.len() / (2 * V.div_ceil(2));
        if n == 0 {
            return;
        }
        assert!(x.len() > (C - 1) * s.channel + (p0 + n - 1) * s.pixel);
        assert!(t.weights.len() >= C * 16 * V);
        let w: [[__m512; V]; C] = core::array::from_fn(|c| {
            core::array::from_fn(|v| _mm512_loadu_ps(t.weights[(c * V + v) * 16..][..16].as_ptr()))
        });
        let th: [[__m512; V]; 3] = core::array::from_fn(|k| {
            core::array::from_fn(|v| _mm512_loadu_ps(t.t[k][16 * v..][..16].as_ptr()))
        });
        let per_pixel = 2 * V.div_ceil(2);
        let xp = x.as_ptr().add(p0 * s.pixel);
        for (p, dst) in out.chunks_exact_mut(per_pixel).enumerate() {
            let xs: [__m512; C] =
                core::array::from_fn(|c| _mm512_set1_ps(*xp.add(c * s.channel + p * s.pixel)));
            let mut words = [0u32; 2];
            for v in 0..V {
                let mut acc = _mm512_mul_ps(xs[0], w[0][v]);
                for c in 1..C {
                    acc = _mm512_fmadd_ps(xs[c], w[c][v], acc);
                }
                let m1 = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(acc, th[0][v]);
                let m2 = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(acc, th[1][v]);
                let m3 = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(acc, th[2][v]);
                // Nested masks (see `run_thresholds_avx512`).
                let shift = 16 * (v % 2);
                words[0] |= u32::from(m1 ^ m2 ^ m3) << shift;
                words[1] |= u32::from(m2) << shift;
            }
            dst[0] = words[0];
            dst[1] = words[1];
        }
    }
}

impl Op for ConvQuantPack {
    fn name(&self) -> StaticName {
        "ConvQuantPack".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "1x1 {}→{}, BatchNorm, {}-bit quantiser, packed; {} input, {}",
            self.in_channels,
            self.out_channels,
            self.quant.bit_width,
            if self.nhwc { "NHWC" } else { "NCHW" },
            if self.thresholds.is_some() {
                "as thresholds on the sum"
            } else {
                "float chain"
            }
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for ConvQuantPack {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = inputs[0].to_plain_array_view::<f32>()?;
        let shape = x.shape().to_vec();
        let c_axis = if self.nhwc { 3 } else { 1 };
        ensure!(
            shape.len() == 4 && shape[0] == 1 && shape[c_axis] == self.in_channels,
            "{}: input must be {}, got {shape:?}",
            self.layer,
            self.input_shape_text()
        );
        let (h, w) = if self.nhwc {
            (shape[1], shape[2])
        } else {
            (shape[2], shape[3])
        };
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
        let (h, w) = if self.nhwc {
            let shape = inputs[0]
                .shape
                .as_concrete()
                .with_context(|| format!("{}: needs a concrete input shape", self.layer))?;
            ensure!(
                inputs[0].datum_type == f32::datum_type()
                    && shape.len() == 4
                    && shape[0] == 1
                    && shape[3] == self.in_channels,
                "{}: input must be f32 {}, got {:?}",
                self.layer,
                self.input_shape_text(),
                inputs[0]
            );
            (shape[1], shape[2])
        } else {
            nchw_hw(inputs[0], self.in_channels, &self.layer)?
        };
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

    fn block(c_in: usize, c_out: usize, seed: &mut u32) -> ConvQuantPack {
        let mut rnd = |n: usize| (0..n).map(|_| xorshift(seed)).collect::<Vec<f32>>();
        let op = ConvQuantPack {
            layer: "t".into(),
            in_channels: c_in,
            out_channels: c_out,
            weights: rnd(c_in * c_out),
            bias: Some(rnd(c_out)),
            // Both signs: ascending and descending channels.
            slope: Some(rnd(c_out).iter().map(|v| 3.0 * v).collect()),
            intercept: Some(rnd(c_out)),
            quant: Quant::unsigned_half_up(2, 2.0 / 3.0),
            scale: 2.0 / 3.0,
            zero_point: 0.0,
            thresholds: None,
            threads: 1,
            nhwc: false,
        };
        let thresholds = op.level_thresholds();
        assert!(thresholds.is_some());
        ConvQuantPack { thresholds, ..op }
    }

    /// The float chain on every pixel (the reference).
    fn float_words(op: &ConvQuantPack, x: &[f32], hw: usize) -> Vec<u32> {
        let mut want = vec![0u32; hw * kernels::groups(op.out_channels) * 2];
        op.run_float(
            x,
            Strides {
                channel: hw,
                pixel: 1,
            },
            0,
            &mut want,
        );
        want
    }

    fn levels_seen(words: &[u32]) -> std::collections::HashSet<u32> {
        words
            .chunks_exact(2)
            .flat_map(|p| (0..32).map(move |i| ((p[0] >> i) & 1) | (((p[1] >> i) & 1) << 1)))
            .collect()
    }

    /// Whatever path `run` takes on this CPU (threshold form: AVX-512 with the weights in
    /// registers or not, or portable; 1 to 3 threads) equals the float chain, on values spread
    /// over every level.
    #[test]
    fn threshold_paths_equal_the_float_chain() {
        for (c_in, c_out) in [(3, 32), (3, 16), (1, 32), (2, 32), (3, 48), (4, 40)] {
            threshold_paths_equal_the_float_chain_for(c_in, c_out);
        }
    }

    fn threshold_paths_equal_the_float_chain_for(c_in: usize, c_out: usize) {
        let mut seed = 7u32;
        let (h, w) = (5usize, 7usize);
        let op = block(c_in, c_out, &mut seed);
        let mut x: Vec<f32> = (0..c_in * h * w).map(|_| xorshift(&mut seed)).collect();
        // A zero pixel gives exactly `bias·slope + intercept`.
        for c in 0..c_in {
            x[c * h * w] = 0.0;
        }
        let want = float_words(&op, &x, h * w);
        assert_eq!(levels_seen(&want).len(), 4, "{c_in}→{c_out}");
        for threads in [1, 2, 3] {
            let op = ConvQuantPack {
                threads,
                ..op.clone()
            };
            assert_eq!(op.run(&x, h, w), want, "{c_in}→{c_out}, {threads} threads");
            let t = op.thresholds.as_ref().unwrap();
            let mut portable = vec![0u32; want.len()];
            let nchw = Strides {
                channel: h * w,
                pixel: 1,
            };
            op.run_thresholds(t, &x, nchw, 0, &mut portable);
            assert_eq!(portable, want);
            // The same pixels given NHWC.
            let nhwc_x: Vec<f32> = (0..h * w)
                .flat_map(|p| (0..c_in).map(move |c| (p, c)))
                .map(|(p, c)| x[c * h * w + p])
                .collect();
            let op = ConvQuantPack { nhwc: true, ..op };
            assert_eq!(
                op.run(&nhwc_x, h, w),
                want,
                "{c_in}→{c_out} NHWC, {threads} threads"
            );
        }
    }

    /// Sums exactly at each threshold and one ulp either side (one input channel of weight ±1,
    /// so the sum is the pixel value itself), plus zeros, infinities and NaN.
    #[test]
    fn thresholds_are_exact_at_their_own_boundaries() {
        let mut seed = 11u32;
        let c_out = 32;
        let mut op = block(1, c_out, &mut seed);
        op.weights = (0..c_out)
            .map(|o| if o % 3 == 0 { -1.0 } else { 1.0 })
            .collect();
        let thresholds = op.level_thresholds();
        op.thresholds = thresholds;
        let t = op.thresholds.clone().unwrap();
        let mut x = vec![
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1e30,
            -1e30,
        ];
        for o in 0..c_out {
            for k in 0..3 {
                // The sum is x·w: the pixel value `s / w` puts channel o's sum at `s`.
                let v = t.t[k][o] * t.weights[o];
                if v.is_finite() {
                    let b = v.to_bits();
                    x.extend([v, f32::from_bits(b + 1), f32::from_bits(b - 1)]);
                }
            }
        }
        let want = float_words(&op, &x, x.len());
        assert_eq!(op.run(&x, 1, x.len()), want);
        assert_eq!(levels_seen(&want).len(), 4);
    }

    #[test]
    fn pack_levels_sets_each_channels_two_bits() {
        let mut seed = 3u32;
        for c in [1usize, 8, 31, 32, 33, 64, 70] {
            let levels: Vec<u8> = (0..c)
                .map(|_| (xorshift(&mut seed) * 2.0 + 2.0) as u8 % 4)
                .collect();
            let mut got = vec![u32::MAX; kernels::groups(c) * 2];
            pack_levels(&levels, &mut got);
            let mut want = vec![0u32; got.len()];
            for (o, &q) in levels.iter().enumerate() {
                want[2 * (o / 32)] |= u32::from(q & 1) << (o % 32);
                want[2 * (o / 32) + 1] |= u32::from(q >> 1) << (o % 32);
            }
            assert_eq!(got, want, "{c} channels");
        }
    }

    /// A zero slope or a non-finite BatchNorm term has no exact threshold form: the float
    /// chain runs, and still gives its own levels.
    #[test]
    fn blocks_without_a_threshold_form_run_the_float_chain() {
        let mut seed = 5u32;
        let mut op = block(3, 32, &mut seed);
        op.slope.as_mut().unwrap()[4] = 0.0;
        assert!(op.level_thresholds().is_none());
        let mut inf = block(3, 32, &mut seed);
        inf.intercept.as_mut().unwrap()[0] = f32::INFINITY;
        assert!(inf.level_thresholds().is_none());
        op.thresholds = None;
        let x: Vec<f32> = (0..3 * 12).map(|_| xorshift(&mut seed)).collect();
        assert_eq!(op.run(&x, 3, 4), float_words(&op, &x, 12));
    }
}
