//! `PackedFloatConv`: a float convolution (the network's head, `conv_final`)
//! that reads packed 2-bit activations directly and splits its output channels
//! over the engine's threads.
//!
//! Without it the head is `UnpackLevels → Pad → im2col → matrix multiply` in
//! tract, single-threaded: on the default model ~0.1 ms of a ~0.8 ms frame, the
//! largest part of the frame that did not use the second core. Here:
//! 1. the packed input is unpacked once into zero-padded float planes of
//!    `level × scale` (the same values `UnpackLevels` gives), each plane a
//!    flat array of padded rows (`Wp = W + pad_left + pad_right`);
//! 2. on the flat padded layout tap `(ky, kx)` of output position `i = y·Wp + x`
//!    reads input position `i + ky·Wp + kx`, one constant offset per tap, so an
//!    output channel is `Σ_(c, ky, kx) w · plane_c[i + offset]` over runs of 16
//!    consecutive positions: a broadcast weight times a contiguous vector, which
//!    the compiler turns into one FMA per 16 outputs (x86: AVX-512 or AVX2+FMA;
//!    aarch64: NEON). The `kw − 1` columns per row that fall past the output
//!    are computed and dropped (10 % extra work on the 20×20 head);
//! 3. each output channel is one part of the thread split (17 parts on the
//!    default model).
//!
//! The products are summed in tract's order (input channel, then kernel row,
//! then column, from zero; bias added last), with fused multiply-adds, so the
//! result is tract's up to the order inside its matrix kernels; the tests
//! compare both within 1e-5 relative.
//!
//! Shape rule: input packed `u32 [H, W, G, 2]` of `C_in` channels; output f32
//! `[1, C_out, H_out, W_out]` with `H_out = H + pad_top + pad_bottom − kh + 1`
//! (stride 1, dilation 1, one group: what [`crate::passes::fuse_packed_float_conv`]
//! matches).

use super::pack::{packed_hw, to_packed};
use crate::kernels::PackedActivations;
use tract_hir::internal::*;

/// Outputs per vector: one AVX-512 register, two AVX2 ones, four NEON ones.
const LANES: usize = 16;
/// Vectors of outputs summed at once (accumulators held in registers: 7 of AVX-512's 32,
/// 14 of AVX2's 16; enough independent sums to hide the FMA latency).
const BLOCK: usize = 7;

#[derive(Clone, Debug, PartialEq)]
pub struct PackedFloatConv {
    /// Name of the float Conv it replaces.
    pub layer: String,
    pub in_channels: usize,
    pub out_channels: usize,
    /// Kernel rows and columns.
    pub kernel: [usize; 2],
    /// Zero padding: top, left, bottom, right.
    pub pads: [usize; 4],
    /// The input's value of level `q` is `q × scale` (as `UnpackLevels`).
    pub scale: f32,
    /// `[C_out][C_in][kh][kw]` (OIHW, the model's layout).
    pub weights: Arc<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
    /// A following per-channel `Mul` and `Add` (the head's BatchNorm), applied after the bias.
    pub slope: Option<Vec<f32>>,
    pub intercept: Option<Vec<f32>>,
    /// Threads the output channels are split over (0 = all cores; see [`crate::parallel`]).
    pub threads: usize,
}

impl Eq for PackedFloatConv {}

/// The padded, flattened input planes and where things are in them.
struct Planes {
    data: Vec<f32>,
    /// Floats per plane (a multiple of [`LANES`]).
    len: usize,
    /// Padded row length.
    wp: usize,
    /// Output positions computed per channel (`H_out · wp` rounded up to whole blocks).
    positions: usize,
    /// Per tap `t = (ky, kx)` in the weights' order: it reads the plane `ky·wp + kx` further on.
    offsets: Vec<usize>,
}

impl PackedFloatConv {
    /// Whether this machine has a kernel for the op that beats tract's (see the module docs):
    /// x86_64 with AVX2 and FMA (AVX-512 used when present), or aarch64. Elsewhere (32-bit
    /// ARM: no fused multiply-add in NEON) the pass leaves the head to tract.
    pub fn supported() -> bool {
        #[cfg(target_arch = "x86_64")]
        return is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        #[cfg(target_arch = "aarch64")]
        return true;
        #[allow(unreachable_code)]
        false
    }

    /// `(H_out, W_out)` for an `h × w` input.
    pub fn output_hw(&self, h: usize, w: usize) -> TractResult<(usize, usize)> {
        let [kh, kw] = self.kernel;
        let [top, left, bottom, right] = self.pads;
        let (hp, wp) = (h + top + bottom, w + left + right);
        ensure!(
            hp >= kh && wp >= kw,
            "{}: {h}×{w} input padded to {hp}×{wp} is smaller than the {kh}×{kw} kernel",
            self.layer
        );
        Ok((hp - kh + 1, wp - kw + 1))
    }

    /// Runs the conv on packed activations; returns `[C_out][H_out][W_out]` floats.
    pub fn run(&self, x: &PackedActivations) -> TractResult<Vec<f32>> {
        ensure!(
            x.channels() == self.in_channels,
            "{}: input has {} channels, the conv takes {}",
            self.layer,
            x.channels(),
            self.in_channels
        );
        let (h_out, w_out) = self.output_hw(x.height(), x.width())?;
        let planes = self.planes(x, h_out);
        let mut out = vec![0f32; self.out_channels * h_out * w_out];
        crate::parallel::for_each_chunk_mut(&mut out, h_out * w_out, self.threads, |o, plane| {
            self.output_channel(&planes, o, w_out, plane)
        });
        Ok(out)
    }

    /// Step 1 of the module docs: the zero-padded planes of `level × scale`.
    fn planes(&self, x: &PackedActivations, h_out: usize) -> Planes {
        let [kh, kw] = self.kernel;
        let [top, left, _, right] = self.pads;
        let (h, w) = (x.height(), x.width());
        let wp = w + left + right;
        let positions = (h_out * wp).div_ceil(LANES * BLOCK) * LANES * BLOCK;
        // The last block's last tap reads up to `positions - 1 + (kh-1)·wp + kw-1`.
        let len = (positions + (kh - 1) * wp + kw - 1).next_multiple_of(LANES);
        let value = [0.0, self.scale, 2.0 * self.scale, 3.0 * self.scale];
        let (groups, words) = (x.groups(), x.words());
        let mut data = vec![0f32; self.in_channels * len];
        crate::parallel::for_each_chunk_mut(&mut data, len, self.threads, |c, plane| {
            let (g, bit) = (c / 32, c % 32);
            for y in 0..h {
                let row = &mut plane[(y + top) * wp + left..][..w];
                for (xx, d) in row.iter_mut().enumerate() {
                    let base = ((y * w + xx) * groups + g) * 2;
                    let q = ((words[base] >> bit) & 1) | (((words[base + 1] >> bit) & 1) << 1);
                    *d = value[q as usize];
                }
            }
        });
        Planes {
            data,
            len,
            wp,
            positions,
            offsets: (0..kh * kw).map(|t| (t / kw) * wp + t % kw).collect(),
        }
    }

    /// Steps 2–3: output channel `o` into `out` (`H_out × W_out`).
    fn output_channel(&self, planes: &Planes, o: usize, w_out: usize, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
                // SAFETY: the features were just checked.
                return unsafe { self.output_channel_avx512(planes, o, w_out, out) };
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                // SAFETY: the features were just checked.
                return unsafe { self.output_channel_avx2(planes, o, w_out, out) };
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            // SAFETY: NEON is part of the aarch64 baseline.
            return unsafe { self.output_channel_with::<lanes::Neon>(planes, o, w_out, out) };
        }
        #[allow(unreachable_code)]
        self.output_channel_portable(planes, o, w_out, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn output_channel_avx512(&self, p: &Planes, o: usize, w_out: usize, out: &mut [f32]) {
        self.output_channel_with::<lanes::Avx512>(p, o, w_out, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn output_channel_avx2(&self, p: &Planes, o: usize, w_out: usize, out: &mut [f32]) {
        self.output_channel_with::<lanes::Avx2>(p, o, w_out, out)
    }

    /// The same sums in plain Rust, lane by lane (the reference the vector paths equal bit
    /// for bit, and the path of targets without one).
    fn output_channel_portable(&self, p: &Planes, o: usize, w_out: usize, out: &mut [f32]) {
        // SAFETY: `Portable` needs no CPU feature.
        unsafe { self.output_channel_with::<lanes::Portable>(p, o, w_out, out) }
    }

    /// The sums of step 2 on `V`'s vectors, then the epilogue, for output channel `o`.
    ///
    /// # Safety
    /// The CPU must have `V`'s features.
    #[inline(always)]
    unsafe fn output_channel_with<V: lanes::Lanes16>(
        &self,
        p: &Planes,
        o: usize,
        w_out: usize,
        out: &mut [f32],
    ) {
        let offsets = &p.offsets;
        let taps = offsets.len();
        let weights = &self.weights[o * self.in_channels * taps..][..self.in_channels * taps];
        let h_out = out.len() / w_out;
        let furthest = offsets.last().copied().unwrap_or(0);
        // Every load below stays inside the planes (see `planes`): checked once, not per load.
        assert!(p.positions + furthest <= p.len && p.data.len() == self.in_channels * p.len);
        let mut sums = [0f32; LANES * BLOCK];
        for start in (0..p.positions).step_by(LANES * BLOCK) {
            let mut acc = [V::zero(); BLOCK];
            for (c, wc) in weights.chunks_exact(taps).enumerate() {
                let plane = p.data.as_ptr().add(c * p.len + start);
                for (&wt, &offset) in wc.iter().zip(offsets) {
                    let src = plane.add(offset);
                    for (b, a) in acc.iter_mut().enumerate() {
                        *a = a.fma(wt, V::load(src.add(b * LANES)));
                    }
                }
            }
            for (b, a) in acc.iter().enumerate() {
                a.store(sums[b * LANES..].as_mut_ptr());
            }
            // Keep the positions inside the output: row y = i / wp, column x = i % wp < W_out
            // (stepped along, not divided per position).
            let (mut y, mut x) = (start / p.wp, start % p.wp);
            for &v in &sums {
                if y >= h_out {
                    break;
                }
                if x < w_out {
                    out[y * w_out + x] = self.epilogue(o, v);
                }
                x += 1;
                if x == p.wp {
                    (x, y) = (0, y + 1);
                }
            }
        }
    }

    /// `sum + bias`, `× slope`, `+ intercept` (those the op has), in tract's order.
    #[inline(always)]
    fn epilogue(&self, o: usize, sum: f32) -> f32 {
        let mut v = sum;
        if let Some(b) = &self.bias {
            v += b[o];
        }
        if let Some(s) = &self.slope {
            v *= s[o];
        }
        if let Some(i) = &self.intercept {
            v += i[o];
        }
        v
    }
}

/// 16 f32 lanes in one target's vector registers, with the four operations the sums need.
mod lanes {
    pub trait Lanes16: Copy {
        /// # Safety (all four)
        /// The CPU has the implementation's features; `src` / `dst` point at 16 floats.
        unsafe fn zero() -> Self;
        unsafe fn load(src: *const f32) -> Self;
        /// `self + w · x` per lane, rounded once (fused multiply-add).
        unsafe fn fma(self, w: f32, x: Self) -> Self;
        unsafe fn store(self, dst: *mut f32);
    }

    #[derive(Clone, Copy)]
    pub struct Portable([f32; 16]);

    impl Lanes16 for Portable {
        unsafe fn zero() -> Self {
            Portable([0.0; 16])
        }
        unsafe fn load(src: *const f32) -> Self {
            Portable(src.cast::<[f32; 16]>().read_unaligned())
        }
        unsafe fn fma(self, w: f32, x: Self) -> Self {
            Portable(std::array::from_fn(|l| w.mul_add(x.0[l], self.0[l])))
        }
        unsafe fn store(self, dst: *mut f32) {
            dst.cast::<[f32; 16]>().write_unaligned(self.0)
        }
    }

    #[cfg(target_arch = "x86_64")]
    pub use x86::{Avx2, Avx512};

    #[cfg(target_arch = "x86_64")]
    mod x86 {
        use super::Lanes16;
        use std::arch::x86_64::*;

        #[derive(Clone, Copy)]
        pub struct Avx512(__m512);

        impl Lanes16 for Avx512 {
            #[inline(always)]
            unsafe fn zero() -> Self {
                Avx512(_mm512_setzero_ps())
            }
            #[inline(always)]
            unsafe fn load(src: *const f32) -> Self {
                Avx512(_mm512_loadu_ps(src))
            }
            #[inline(always)]
            unsafe fn fma(self, w: f32, x: Self) -> Self {
                Avx512(_mm512_fmadd_ps(_mm512_set1_ps(w), x.0, self.0))
            }
            #[inline(always)]
            unsafe fn store(self, dst: *mut f32) {
                _mm512_storeu_ps(dst, self.0)
            }
        }

        #[derive(Clone, Copy)]
        pub struct Avx2([__m256; 2]);

        impl Lanes16 for Avx2 {
            #[inline(always)]
            unsafe fn zero() -> Self {
                Avx2([_mm256_setzero_ps(); 2])
            }
            #[inline(always)]
            unsafe fn load(src: *const f32) -> Self {
                Avx2([_mm256_loadu_ps(src), _mm256_loadu_ps(src.add(8))])
            }
            #[inline(always)]
            unsafe fn fma(self, w: f32, x: Self) -> Self {
                let w = _mm256_set1_ps(w);
                Avx2([
                    _mm256_fmadd_ps(w, x.0[0], self.0[0]),
                    _mm256_fmadd_ps(w, x.0[1], self.0[1]),
                ])
            }
            #[inline(always)]
            unsafe fn store(self, dst: *mut f32) {
                _mm256_storeu_ps(dst, self.0[0]);
                _mm256_storeu_ps(dst.add(8), self.0[1]);
            }
        }
    }

    #[cfg(target_arch = "aarch64")]
    pub use arm64::Neon;

    #[cfg(target_arch = "aarch64")]
    mod arm64 {
        use super::Lanes16;
        use std::arch::aarch64::*;

        #[derive(Clone, Copy)]
        pub struct Neon([float32x4_t; 4]);

        impl Lanes16 for Neon {
            #[inline(always)]
            unsafe fn zero() -> Self {
                Neon([vdupq_n_f32(0.0); 4])
            }
            #[inline(always)]
            unsafe fn load(src: *const f32) -> Self {
                Neon(std::array::from_fn(|k| vld1q_f32(src.add(4 * k))))
            }
            #[inline(always)]
            unsafe fn fma(self, w: f32, x: Self) -> Self {
                // vfmaq_n_f32(a, b, n) = a + b · n, fused.
                Neon(std::array::from_fn(|k| vfmaq_n_f32(self.0[k], x.0[k], w)))
            }
            #[inline(always)]
            unsafe fn store(self, dst: *mut f32) {
                for k in 0..4 {
                    vst1q_f32(dst.add(4 * k), self.0[k]);
                }
            }
        }
    }
}

impl Op for PackedFloatConv {
    fn name(&self) -> StaticName {
        "PackedFloatConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let [kh, kw] = self.kernel;
        Ok(vec![format!(
            "{kh}×{kw} {}→{}, pads {:?}, packed 2-bit input × {}",
            self.in_channels, self.out_channels, self.pads, self.scale
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for PackedFloatConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = to_packed(&inputs[0], self.in_channels, &self.layer)?;
        let (h_out, w_out) = self.output_hw(x.height(), x.width())?;
        let out = self.run(&x)?;
        let t = tract_ndarray::Array4::from_shape_vec((1, self.out_channels, h_out, w_out), out)?;
        Ok(tvec!(t.into_tensor().into_tvalue()))
    }
}

impl TypedOp for PackedFloatConv {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (h, w) = packed_hw(inputs[0], self.in_channels, &self.layer)?;
        let (h_out, w_out) = self.output_hw(h, w)?;
        Ok(tvec!(f32::fact([1, self.out_channels, h_out, w_out])))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::random::Rng;

    fn uniform(rng: &mut Rng) -> f32 {
        (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Plain f64 convolution of the unpacked levels: the reference.
    fn reference(op: &PackedFloatConv, x: &PackedActivations) -> Vec<f64> {
        let [kh, kw] = op.kernel;
        let [top, left, _, _] = op.pads;
        let (h, w) = (x.height() as isize, x.width() as isize);
        let (h_out, w_out) = op.output_hw(x.height(), x.width()).unwrap();
        let mut out = vec![0f64; op.out_channels * h_out * w_out];
        for o in 0..op.out_channels {
            for y in 0..h_out {
                for xx in 0..w_out {
                    let mut s = op.bias.as_ref().map_or(0.0, |b| b[o] as f64);
                    for c in 0..op.in_channels {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (y + ky) as isize - top as isize;
                                let ix = (xx + kx) as isize - left as isize;
                                if iy < 0 || ix < 0 || iy >= h || ix >= w {
                                    continue;
                                }
                                let q = x.level(iy as usize, ix as usize, c) as f64;
                                let wt = op.weights[((o * op.in_channels + c) * kh + ky) * kw + kx];
                                s += wt as f64 * q * op.scale as f64;
                            }
                        }
                    }
                    let slope = op.slope.as_ref().map_or(1.0, |v| v[o] as f64);
                    let intercept = op.intercept.as_ref().map_or(0.0, |v| v[o] as f64);
                    out[(o * h_out + y) * w_out + xx] = s * slope + intercept;
                }
            }
        }
        out
    }

    fn random_case(rng: &mut Rng, threads: usize) -> (PackedFloatConv, PackedActivations) {
        let c_in = 1 + rng.below(70);
        let c_out = 1 + rng.below(20);
        let kernel = [1 + 2 * rng.below(3), 1 + 2 * rng.below(2)];
        let pads = [0; 4].map(|_| rng.below(3));
        let (h, w) = (1 + rng.below(23), 1 + rng.below(23));
        let x = PackedActivations::from_levels(&rng.levels(h * w * c_in), h, w, c_in).unwrap();
        let n = c_out * c_in * kernel[0] * kernel[1];
        let op = PackedFloatConv {
            layer: "test".into(),
            in_channels: c_in,
            out_channels: c_out,
            kernel,
            pads,
            scale: 2.0 / 3.0,
            weights: Arc::new((0..n).map(|_| uniform(rng) - 0.5).collect()),
            bias: (rng.below(2) == 0).then(|| (0..c_out).map(|_| uniform(rng)).collect()),
            slope: (rng.below(2) == 0).then(|| (0..c_out).map(|_| uniform(rng) - 0.5).collect()),
            intercept: (rng.below(2) == 0).then(|| (0..c_out).map(|_| uniform(rng)).collect()),
            threads,
        };
        (op, x)
    }

    #[test]
    fn matches_a_plain_f64_convolution_on_random_shapes() {
        let mut rng = Rng::new(7);
        let mut checked = 0;
        while checked < 60 {
            let (op, x) = random_case(&mut rng, 1 + checked % 3);
            let Ok(got) = op.run(&x) else {
                // Kernel larger than the padded input: rejected with a message, nothing to compare.
                let (h, w) = (x.height(), x.width());
                assert!(op.output_hw(h, w).is_err());
                continue;
            };
            let want = reference(&op, &x);
            let scale: f64 = (op.in_channels * op.kernel[0] * op.kernel[1]) as f64;
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (*g as f64 - w).abs() <= 1e-5 * scale,
                    "{op:?} {}×{} output {i}: {g} vs {w}",
                    x.height(),
                    x.width()
                );
            }
            checked += 1;
        }
    }

    #[test]
    fn vector_paths_equal_the_portable_sums_bit_for_bit() {
        let mut rng = Rng::new(3);
        let mut checked = 0;
        while checked < 20 {
            let (op, x) = random_case(&mut rng, 1);
            let Ok((h_out, w_out)) = op.output_hw(x.height(), x.width()) else {
                continue;
            };
            let planes = op.planes(&x, h_out);
            for o in 0..op.out_channels {
                let mut fast = vec![0f32; h_out * w_out];
                let mut plain = fast.clone();
                op.output_channel(&planes, o, w_out, &mut fast);
                op.output_channel_portable(&planes, o, w_out, &mut plain);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&fast), bits(&plain), "{op:?} channel {o}");
            }
            checked += 1;
        }
    }

    #[test]
    fn thread_count_does_not_change_the_result() {
        let mut rng = Rng::new(11);
        let (op, x) = loop {
            let (op, x) = random_case(&mut rng, 1);
            if op.out_channels > 3 && op.output_hw(x.height(), x.width()).is_ok() {
                break (op, x);
            }
        };
        let one = op.run(&x).unwrap();
        for threads in [2, 3, 0] {
            let many = PackedFloatConv {
                threads,
                ..op.clone()
            };
            assert_eq!(many.run(&x).unwrap(), one, "{threads} threads");
        }
    }

    #[test]
    fn rejects_a_kernel_larger_than_the_padded_input_and_a_wrong_channel_count() {
        let x = PackedActivations::from_levels(&[1; 12], 2, 2, 3).unwrap();
        let op = PackedFloatConv {
            layer: "head".into(),
            in_channels: 3,
            out_channels: 1,
            kernel: [5, 5],
            pads: [1; 4],
            scale: 1.0,
            weights: Arc::new(vec![0.0; 75]),
            bias: None,
            slope: None,
            intercept: None,
            threads: 1,
        };
        let e = op.run(&x).unwrap_err().to_string();
        assert!(e.contains("head") && e.contains("5×5"), "{e}");
        let four = PackedFloatConv {
            in_channels: 4,
            ..op
        };
        let e = four.run(&x).unwrap_err().to_string();
        assert!(e.contains("3 channels"), "{e}");
    }
}
