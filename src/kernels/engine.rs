//! Shared driver of the fast kernels: weight preparation, per-pixel window gather
//! ("im2col" of packed words), threshold packing and row-parallel threading.
//!
//! For every output pixel the `K·K·G` activation words of its window are copied, one bit plane
//! at a time, into two small contiguous buffers `p0`, `p1` (zeros where the window leaves the
//! image, which is exactly SAME padding with level 0). Two consecutive `u32` words are fused
//! into one `u64` (word `2i` in the low half), and the weights of each output channel are
//! fused the same way, so that a kernel only has to compute, per output channel `o`,
//!
//! ```text
//! P_o = Σ_i popcount(p0[i] & w_o[i]) + 2 · popcount(p1[i] & w_o[i])
//! N   = Σ_i popcount(p0[i])          + 2 · popcount(p1[i])      (once per pixel)
//! acc = 2 · P_o − N
//! ```
//! which is the spec's identity `Σ q·w = Σ_b 2^b (2·popcount(a_b & w) − popcount(a_b))` summed
//! over all words of the window. Channels in the zero tail meet zero activation bits, so they
//! never count, and `N` is computed from the same buffers with an all-ones weight row.

use super::packed::{PackedActivations, PackedWeights, Thresholds, FLAG_DESCENDING, PLANES};
use super::{QConvOutput, GROUP_CHANNELS};

/// Weights re-laid out for the kernels: `row_len` `u64` per output channel.
pub(crate) struct Prepared {
    pub(crate) kernel: usize,
    pub(crate) out_channels: usize,
    pub(crate) row_len: usize,
    pub(crate) rows: Vec<u64>,
    pub(crate) ones: Vec<u64>,
}

impl Prepared {
    pub(crate) fn new(weights: &PackedWeights) -> Self {
        let per_o = weights.words_per_output();
        let row_len = per_o.div_ceil(2);
        let out_channels = weights.out_channels();
        let mut rows = vec![0u64; out_channels * row_len];
        for (o, src) in weights.words().chunks_exact(per_o).enumerate() {
            let dst = &mut rows[o * row_len..(o + 1) * row_len];
            for (j, &word) in src.iter().enumerate() {
                dst[j / 2] |= u64::from(word) << (32 * (j % 2));
            }
        }
        Self {
            kernel: weights.kernel(),
            out_channels,
            row_len,
            rows,
            ones: vec![u64::MAX; row_len],
        }
    }
}

/// Weights and thresholds re-laid out for the output-channel-parallel kernels, which give each
/// output channel one 32-bit SIMD lane (so no horizontal sums) and threshold and pack in the
/// vector unit. `lanes` = `C_out` rounded up to 16; padding lanes have zero weights and
/// never-reached thresholds, so they produce level 0, the packed format's zero tail.
///
/// Every lane compares `acc >= T`: a DESCENDING channel (`acc <= T`) gets complemented weights
/// and negated thresholds. With `w' = !w`, `P' = Σ q·(1 − w) = N − P`, so `acc' = 2·P' − N =
/// −acc`, and `acc <= T ⇔ −acc >= −T` (zero activation bits, padding included, meet either
/// weight the same way). That saves the kernels a second set of compares and a select.
// Read by the AVX-512 and NEON lane kernels (other builds lay them out in tests only).
#[cfg_attr(
    not(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        all(target_arch = "arm", lm_arm_neon)
    )),
    allow(dead_code)
)]
pub(crate) struct LaneLayer {
    pub(crate) kernel: usize,
    pub(crate) out_channels: usize,
    /// Input channel groups `G_in`.
    pub(crate) groups: usize,
    pub(crate) lanes: usize,
    /// `[j][lane]` with `j = (ky·K + kx)·G_in + g`: word `j` of every output channel's
    /// weights side by side, in the order a window is read (complemented for DESCENDING
    /// channels).
    pub(crate) weights: Vec<u32>,
    /// `T0`, `T1`, `T2` per lane, all compared with `>=` (negated for DESCENDING channels).
    pub(crate) thresholds: [Vec<i32>; 3],
}

/// Lanes per 512-bit vector of `u32` (the width [`LaneLayer`] pads to).
pub(crate) const LANE_BLOCK: usize = 16;

impl LaneLayer {
    pub(crate) fn new(weights: &PackedWeights, thresholds: &Thresholds) -> Self {
        let per_o = weights.words_per_output();
        let c_out = weights.out_channels();
        let lanes = c_out.div_ceil(LANE_BLOCK) * LANE_BLOCK;
        let mut w = vec![0u32; per_o * lanes];
        let mut t = [
            vec![i32::MAX; lanes],
            vec![i32::MAX; lanes],
            vec![i32::MAX; lanes],
        ];
        for (o, (row, r)) in weights
            .words()
            .chunks_exact(per_o)
            .zip(thresholds.words().chunks_exact(4))
            .enumerate()
        {
            let descending = r[3] & FLAG_DESCENDING != 0;
            for (j, &word) in row.iter().enumerate() {
                w[j * lanes + o] = if descending { !word } else { word };
            }
            for k in 0..3 {
                // `acc <= i32::MIN` is never true (|acc| <= 3·K·K·C_in < i32::MAX, a multiple of
                // 3 below 2^31 − 1), nor is `−acc >= i32::MAX`: saturating keeps that.
                t[k][o] = if descending {
                    r[k].saturating_neg()
                } else {
                    r[k]
                };
            }
        }
        Self {
            kernel: weights.kernel(),
            out_channels: c_out,
            groups: super::packed::groups(weights.in_channels()),
            lanes,
            weights: w,
            thresholds: t,
        }
    }
}

/// An output-channel-parallel kernel: thresholded, packed output of `n.len()` (>= 1)
/// horizontally adjacent pixels of one row. `window` starts at the top-left word of the first
/// pixel's window in the zero-padded input (rows `row_words` apart); `n[i]` is pixel `i`'s
/// window sum `N`; `out` holds `n.len()` pixels of `G_out · 2` words, every one of which the
/// kernel writes. A whole row segment per call lets a kernel keep a block's thresholds in
/// registers across its pixels and pays the call once per row, not per pixel.
///
/// # Safety
/// May use CPU features that the caller must have checked.
pub(crate) type LaneFn =
    unsafe fn(window: &[u32], row_words: usize, n: &[i32], layer: &LaneLayer, out: &mut [u32]);

/// A kernel's per-pixel function: writes `acc[o] = 2·P_o − N` for every output channel.
///
/// # Safety
/// May use CPU features that the caller must have checked.
pub(crate) type PixelFn = unsafe fn(p0: &[u64], p1: &[u64], w: &Prepared, acc: &mut [i32]);

/// Portable `Σ popcount(p0 & w) + 2 Σ popcount(p1 & w)`; inlined into the callers' target
/// feature context (plain, `popcnt`, or auto-vectorised with AVX2/AVX-512).
#[cfg(not(target_arch = "arm"))]
#[inline(always)]
pub(crate) fn weighted_popcount(p0: &[u64], p1: &[u64], w: &[u64]) -> u32 {
    let mut s0 = 0u32;
    let mut s1 = 0u32;
    for ((&a0, &a1), &wb) in p0.iter().zip(p1).zip(w) {
        s0 += (a0 & wb).count_ones();
        s1 += (a1 & wb).count_ones();
    }
    s0 + 2 * s1
}

/// 32-bit ARM version of [`weighted_popcount`], written per byte so that LLVM maps it onto
/// NEON `vcnt.8` + widening adds when NEON is enabled (`thumbv7neon-*` target or
/// `-C target-feature=+neon`; stable Rust has no armv7 NEON intrinsics). Byte counts
/// (`<= 24` per byte) are summed in `u16` over blocks of 2048 bytes (`<= 49,152`), then in `u32`.
#[cfg(target_arch = "arm")]
#[inline(always)]
pub(crate) fn weighted_popcount(p0: &[u64], p1: &[u64], w: &[u64]) -> u32 {
    fn bytes(v: &[u64]) -> &[u8] {
        // SAFETY: any initialised `u64` memory is valid as `u8`s; alignment 1, same lifetime.
        unsafe { core::slice::from_raw_parts(v.as_ptr().cast::<u8>(), v.len() * 8) }
    }
    let n = w.len().min(p0.len()).min(p1.len());
    let (b0, b1, bw) = (bytes(&p0[..n]), bytes(&p1[..n]), bytes(&w[..n]));
    let mut total = 0u32;
    for ((c0, c1), cw) in b0.chunks(2048).zip(b1.chunks(2048)).zip(bw.chunks(2048)) {
        let mut s = 0u16;
        for ((&a0, &a1), &wb) in c0.iter().zip(c1).zip(cw) {
            s += ((a0 & wb).count_ones() + 2 * (a1 & wb).count_ones()) as u16;
        }
        total += u32::from(s);
    }
    total
}

/// Portable per-pixel body (generic code; see [`weighted_popcount`]).
#[inline(always)]
pub(crate) fn pixel_generic(p0: &[u64], p1: &[u64], w: &Prepared, acc: &mut [i32]) {
    let n = weighted_popcount(p0, p1, &w.ones) as i32;
    for (a, row) in acc.iter_mut().zip(w.rows.chunks_exact(w.row_len)) {
        *a = 2 * weighted_popcount(p0, p1, row) as i32 - n;
    }
}

/// The portable kernel (whatever the build's baseline target features allow).
pub(crate) unsafe fn pixel_portable(p0: &[u64], p1: &[u64], w: &Prepared, acc: &mut [i32]) {
    pixel_generic(p0, p1, w, acc)
}

/// Copies the `K×K` window around `(y, x)` into the plane buffers (zeros outside the image).
fn gather(input: &PackedActivations, k: usize, y: usize, x: usize, p0: &mut [u64], p1: &mut [u64]) {
    p0.fill(0);
    p1.fill(0);
    let (h, w, g) = (input.height(), input.width(), input.groups());
    let words = input.words();
    let pad = k / 2;
    for ky in 0..k {
        let Some(sy) = (y + ky).checked_sub(pad).filter(|&sy| sy < h) else {
            continue;
        };
        for kx in 0..k {
            let Some(sx) = (x + kx).checked_sub(pad).filter(|&sx| sx < w) else {
                continue;
            };
            let src = &words[(sy * w + sx) * g * PLANES..(sy * w + sx + 1) * g * PLANES];
            let j0 = (ky * k + kx) * g;
            for (gi, pair) in src.chunks_exact(PLANES).enumerate() {
                let j = j0 + gi;
                let shift = 32 * (j % 2);
                p0[j / 2] |= u64::from(pair[0]) << shift;
                p1[j / 2] |= u64::from(pair[1]) << shift;
            }
        }
    }
}

/// Packs one pixel's thresholded outputs into `out` (`G_out · 2` words).
#[inline]
fn pack_pixel(acc: &[i32], thresholds: &Thresholds, out: &mut [u32]) {
    out.fill(0);
    for (o, (&a, r)) in acc
        .iter()
        .zip(thresholds.words().chunks_exact(4))
        .enumerate()
    {
        // Branch-free version of `Thresholds::level` (channels mix both directions).
        let asc = u32::from(a >= r[0]) + u32::from(a >= r[1]) + u32::from(a >= r[2]);
        let desc = u32::from(a <= r[0]) + u32::from(a <= r[1]) + u32::from(a <= r[2]);
        let d = (r[3] & FLAG_DESCENDING) as u32;
        let q = asc * (1 - d) + desc * d;
        let (gi, bit) = (o / GROUP_CHANNELS, o % GROUP_CHANNELS);
        out[gi * PLANES] |= (q & 1) << bit;
        out[gi * PLANES + 1] |= (q >> 1) << bit;
    }
}

struct Job<'a, E> {
    pixel: PixelFn,
    input: &'a PackedActivations,
    prep: &'a Prepared,
    per_pixel: usize,
    emit: E,
}

/// Computes output pixels `p0..` (row-major) into `out` (which holds exactly those pixels).
fn run_pixels<T, E: Fn(&[i32], &mut [T])>(job: &Job<'_, E>, p0: usize, out: &mut [T]) {
    let w = job.input.width();
    let mut p0b = vec![0u64; job.prep.row_len];
    let mut p1b = vec![0u64; job.prep.row_len];
    let mut acc = vec![0i32; job.prep.out_channels];
    for (i, dst) in out.chunks_exact_mut(job.per_pixel).enumerate() {
        let (y, x) = ((p0 + i) / w, (p0 + i) % w);
        gather(job.input, job.prep.kernel, y, x, &mut p0b, &mut p1b);
        // SAFETY: `run` only receives kernels whose CPU features were checked.
        unsafe { (job.pixel)(&p0b, &p1b, job.prep, &mut acc) };
        (job.emit)(&acc, dst);
    }
}

fn run_split<T: Send + Default + Clone, E: Fn(&[i32], &mut [T]) + Sync>(
    job: Job<'_, E>,
    threads: usize,
) -> Vec<T> {
    let (h, w) = (job.input.height(), job.input.width());
    let mut out = vec![T::default(); h * w * job.per_pixel];
    pixel_ranges(&mut out, job.per_pixel, threads, |p0, chunk| {
        run_pixels(&job, p0, chunk)
    });
    out
}

/// [`crate::parallel::for_each_range_mut`] with even pixel counts, which keep the lane
/// kernels' pixel pairs together where rows are even.
fn pixel_ranges<T: Send, F: Fn(usize, &mut [T]) + Sync>(
    out: &mut [T],
    per_pixel: usize,
    threads: usize,
    f: F,
) {
    crate::parallel::for_each_range_mut(out, per_pixel, 2, threads, f)
}

/// Runs an output-channel-parallel kernel (thresholded output only). Same contract as [`run`].
///
/// The input is first copied into a zero-padded image (SAME padding made explicit), so that
/// every window is `K` runs of `K·G·2` contiguous words that the kernel reads in place (no
/// per-pixel gather), and each padded pixel's `popcount(a_0) + 2·popcount(a_1)` is summed once,
/// so a window's `N` is `K·K` additions.
pub(crate) fn run_lanes(
    kernel: LaneFn,
    input: &PackedActivations,
    layer: &LaneLayer,
    threads: usize,
) -> PackedActivations {
    let k = layer.kernel;
    let pad = k / 2;
    let c_out = layer.out_channels;
    let per_pixel = super::packed::groups(c_out) * PLANES;
    let (h, w, g) = (input.height(), input.width(), input.groups());
    let (wp, hp) = (w + 2 * pad, h + 2 * pad);
    let pixel_words = g * PLANES;
    let row_words = wp * pixel_words;
    LANE_SCRATCH.with_borrow_mut(|(padded, counts)| {
        // The zero-padded copy and each padded pixel's count, input rows split over the threads.
        // Both live in this thread's scratch: the inside rows are overwritten, so only the borders
        // are cleared (the top and bottom rows here, the sides with each row below).
        padded.resize(hp * row_words, 0);
        counts.resize(hp * wp, 0);
        padded[..pad * row_words].fill(0);
        padded[(pad + h) * row_words..].fill(0);
        counts[..pad * wp].fill(0);
        counts[(pad + h) * wp..].fill(0);
        let rows_per = h
            .div_ceil(crate::parallel::resolve(threads).clamp(1, h.max(1)))
            .max(1);
        crate::parallel::for_each_chunk_pair_mut(
            &mut padded[pad * row_words..(pad + h) * row_words],
            rows_per * row_words,
            &mut counts[pad * wp..(pad + h) * wp],
            rows_per * wp,
            threads,
            |i, pad_rows, count_rows| {
                let src = &input.words()[i * rows_per * w * pixel_words..];
                for ((dst, cnt), src) in pad_rows
                    .chunks_exact_mut(row_words)
                    .zip(count_rows.chunks_exact_mut(wp))
                    .zip(src.chunks_exact(w * pixel_words))
                {
                    let (left, rest) = dst.split_at_mut(pad * pixel_words);
                    let (inside, right) = rest.split_at_mut(w * pixel_words);
                    left.fill(0);
                    inside.copy_from_slice(src);
                    right.fill(0);
                    cnt[..pad].fill(0);
                    cnt[pad + w..].fill(0);
                    pixel_counts(src, pixel_words, &mut cnt[pad..pad + w]);
                }
            },
        );
        let pixels = |p0: usize, out: &mut [u32]| {
            let end = p0 + out.len() / per_pixel;
            // Window sums of one row segment: `cols[i]` = the `k` counts above each other at
            // column `x + i`, then `n[i]` = `k` adjacent `cols`.
            let mut cols = Vec::with_capacity(w + k);
            let mut n = Vec::with_capacity(w);
            let mut p = p0;
            while p < end {
                let (y, x) = (p / w, p % w);
                let count = (w - x).min(end - p);
                cols.clear();
                cols.resize(count + k - 1, 0i32);
                for ky in 0..k {
                    let row = &counts[(y + ky) * wp + x..][..count + k - 1];
                    for (c, &r) in cols.iter_mut().zip(row) {
                        *c += r;
                    }
                }
                n.clear();
                n.extend(cols.windows(k).map(|c| c.iter().sum::<i32>()));
                let window = &padded[(y * wp + x) * pixel_words..];
                let dst = &mut out[(p - p0) * per_pixel..(p - p0 + count) * per_pixel];
                // SAFETY: `qconv2d` only passes kernels whose CPU features were checked.
                unsafe { kernel(window, row_words, &n, layer, dst) };
                p += count;
            }
        };
        let mut out = vec![0u32; h * w * per_pixel];
        pixel_ranges(&mut out, per_pixel, threads, pixels);
        PackedActivations::from_words(h, w, c_out, out)
            .expect("kernel output has the validated geometry and a zero tail")
    })
}

thread_local! {
    /// [`run_lanes`]'s zero-padded input copy and pixel counts, kept for the next layer and
    /// frame: a fresh zeroed buffer per layer was a memset of up to 215 KB (conv2's input).
    static LANE_SCRATCH: std::cell::RefCell<(Vec<u32>, Vec<i32>)> = Default::default();
}

/// `popcount(a_0) + 2·popcount(a_1)` of each pixel of `words` (`pixel_words` words a pixel).
fn pixel_counts(words: &[u32], pixel_words: usize, out: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("popcnt") {
        // SAFETY: the feature was just checked.
        return unsafe { pixel_counts_popcnt(words, pixel_words, out) };
    }
    pixel_counts_generic(words, pixel_words, out)
}

#[inline(always)]
fn pixel_counts_generic(words: &[u32], pixel_words: usize, out: &mut [i32]) {
    for (n, px) in out.iter_mut().zip(words.chunks_exact(pixel_words)) {
        let c: u32 = px
            .chunks_exact(PLANES)
            .map(|b| b[0].count_ones() + 2 * b[1].count_ones())
            .sum();
        *n = c as i32;
    }
}

/// [`pixel_counts_generic`] with the `popcnt` instruction (x86-64's baseline has none, and
/// its bit-twiddling `count_ones` made these counts ~6 % of a frame).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn pixel_counts_popcnt(words: &[u32], pixel_words: usize, out: &mut [i32]) {
    pixel_counts_generic(words, pixel_words, out)
}

/// Runs a fast kernel. The caller has validated the geometry and checked that `pixel`'s
/// CPU features are present (that is what makes the `unsafe` call in `run_pixels` sound).
pub(crate) fn run(
    pixel: PixelFn,
    input: &PackedActivations,
    prep: &Prepared,
    thresholds: Option<&Thresholds>,
    threads: usize,
) -> QConvOutput {
    let c_out = prep.out_channels;
    match thresholds {
        None => QConvOutput::Accumulators(run_split(
            Job {
                pixel,
                input,
                prep,
                per_pixel: c_out,
                emit: |acc: &[i32], dst: &mut [i32]| dst.copy_from_slice(acc),
            },
            threads,
        )),
        Some(t) => {
            let words = run_split(
                Job {
                    pixel,
                    input,
                    prep,
                    per_pixel: super::packed::groups(c_out) * PLANES,
                    emit: |acc: &[i32], dst: &mut [u32]| pack_pixel(acc, t, dst),
                },
                threads,
            );
            QConvOutput::Packed(
                PackedActivations::from_words(input.height(), input.width(), c_out, words)
                    .expect("kernel output has the validated geometry and a zero tail"),
            )
        }
    }
}
