//! aarch64 NEON kernels (`vcntq_u8`). NEON is mandatory on aarch64, so it is always available
//! there; the runtime check is kept for symmetry.
//!
//! With thresholds (every layer of the model), [`lanes_neon`] runs the output-channel-lane
//! layout ([`LaneLayer`], `engine::run_lanes`), like the AVX-512 kernel: one `u32` lane per
//! output channel, four per 128-bit vector, each window word (read in place from the padded
//! input) broadcast with `ld1r` against the weight words of 4 channels at once; `cnt` gives byte
//! counts, `c0 + 2·c1` (<= 24 per byte) is pair-accumulated into `u16` with `uadalp`, and
//! widened to `u32` (`uaddlp`) at the end, so there is no horizontal sum per channel; the
//! thresholds are compared in the vector unit (`cmge`/`cmle`) and the level bits gathered with
//! one `addv` per 4 channels.
//!
//! The per-pixel kernel [`pixel_neon`] (raw accumulators, and `--kernel neon` before lanes):
//! per 128 bits and weight row: `AND` both planes, `vcnt` each, merge `c0 + 2·c1` (<= 24 per
//! byte), pairwise-accumulate into `u16` lanes with `vpadal` (+48 per step, flushed to `u32`
//! every 1024 steps), horizontal sum at the end. 4 output channels share each window load.
//!
//! armv7 (Cortex-A9, DE10-Nano): `core::arch::arm` NEON intrinsics, `#[target_feature(enable =
//! "neon")]` and `is_arm_feature_detected!` are unstable on stable Rust (checked with 1.95), so
//! armv7 uses the portable kernel's 32-bit-ARM variant, which LLVM auto-vectorises with `vcnt.8`
//! + `vaddw.u8` when the crate is built with NEON enabled (see the module docs of `kernels`).

use super::engine::{LaneLayer, Prepared, LANE_BLOCK};
use core::arch::aarch64::*;

pub(crate) fn has_neon() -> bool {
    std::arch::is_aarch64_feature_detected!("neon")
}

#[inline(always)]
unsafe fn neon_rows<const R: usize>(p0: &[u64], p1: &[u64], rows: [&[u64]; R]) -> [u32; R] {
    let n = p0.len();
    let chunks = n / 2;
    let mut out = [0u32; R];
    let mut i = 0;
    while i < chunks {
        // u16 lanes gain <= 48 per step: 1024 steps = 49,152 <= 65,535.
        let end = (i + 1024).min(chunks);
        let mut acc = [vdupq_n_u16(0); R];
        while i < end {
            let a0 = vld1q_u64(p0.as_ptr().add(2 * i));
            let a1 = vld1q_u64(p1.as_ptr().add(2 * i));
            for r in 0..R {
                let wv = vld1q_u64(rows[r].as_ptr().add(2 * i));
                let c0 = vcntq_u8(vreinterpretq_u8_u64(vandq_u64(a0, wv)));
                let c1 = vcntq_u8(vreinterpretq_u8_u64(vandq_u64(a1, wv)));
                acc[r] = vpadalq_u8(acc[r], vaddq_u8(c0, vshlq_n_u8::<1>(c1)));
            }
            i += 1;
        }
        for r in 0..R {
            out[r] += vaddlvq_u16(acc[r]);
        }
    }
    if n % 2 == 1 {
        let j = n - 1;
        for r in 0..R {
            let wb = rows[r][j];
            out[r] += (p0[j] & wb).count_ones() + 2 * (p1[j] & wb).count_ones();
        }
    }
    out
}

/// # Safety
/// The CPU must support NEON; `p0`, `p1` and every weight row have `w.row_len` words.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn pixel_neon(p0: &[u64], p1: &[u64], w: &Prepared, acc: &mut [i32]) {
    let len = w.row_len;
    assert!(p0.len() == len && p1.len() == len && acc.len() == w.out_channels);
    let [n] = neon_rows(p0, p1, [&w.ones[..]]);
    let n = n as i32;
    let mut rows = w.rows.chunks_exact(len);
    let mut accs = acc.chunks_exact_mut(4);
    for dst in &mut accs {
        let r: [&[u64]; 4] = core::array::from_fn(|_| rows.next().unwrap());
        let p = neon_rows(p0, p1, r);
        for (d, p) in dst.iter_mut().zip(p) {
            *d = 2 * p as i32 - n;
        }
    }
    for (d, row) in accs.into_remainder().iter_mut().zip(rows) {
        let [p] = neon_rows(p0, p1, [row]);
        *d = 2 * p as i32 - n;
    }
}

// ------------------------------------------------- output-channel lanes

/// `u16` pair counters gain at most 2·24 = 48 per window word: flush them into `u32` every
/// 1024 words (49,152 <= 65,535).
const FLUSH_STEPS: usize = 1024;

/// Thresholded, packed output of a row segment of `n.len()` pixels, two at a time, 16 output
/// channels (4 vectors) per block (see [`LaneLayer`] and `engine::run_lanes`; same contract as
/// the AVX-512 lane kernel).
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn lanes_neon(
    window: &[u32],
    row_words: usize,
    n: &[i32],
    layer: &LaneLayer,
    out: &mut [u32],
) {
    let (k, g) = (layer.kernel, layer.groups);
    // Everything the kernel reads: K rows, each `(pixels - 1 + K)·G·2` words long.
    assert!(!n.is_empty() && window.len() >= (k - 1) * row_words + (n.len() - 1 + k) * g * 2);
    assert!(out.len().is_multiple_of(n.len()) && out.len() * 16 >= n.len() * layer.lanes);
    assert!(
        layer.weights.len() >= k * k * g * layer.lanes && layer.lanes.is_multiple_of(LANE_BLOCK)
    );
    let per_pixel = out.len() / n.len();
    let pixel_words = 2 * g;
    for (i, (n, out)) in n.chunks(2).zip(out.chunks_mut(2 * per_pixel)).enumerate() {
        lane_pixels(&window[2 * i * pixel_words..], row_words, n, layer, out);
    }
}

/// [`lanes_neon`] for 1 or 2 pixels.
#[inline(always)]
unsafe fn lane_pixels(
    window: &[u32],
    row_words: usize,
    n: &[i32],
    layer: &LaneLayer,
    out: &mut [u32],
) {
    out.fill(0);
    let mut first = 0;
    if n.len() == 2 {
        // 2 pixels × 2 blocks = 16 counter vectors: with the broadcasts and temporaries this
        // still fits aarch64's 32 vector registers.
        while first + 2 * LANE_BLOCK <= layer.lanes {
            lane_block::<2, 2>(window, row_words, n, layer, first, out);
            first += 2 * LANE_BLOCK;
        }
        if first < layer.lanes {
            lane_block::<1, 2>(window, row_words, n, layer, first, out);
        }
    } else {
        while first + 4 * LANE_BLOCK <= layer.lanes {
            lane_block::<4, 1>(window, row_words, n, layer, first, out);
            first += 4 * LANE_BLOCK;
        }
        if first + 2 * LANE_BLOCK <= layer.lanes {
            lane_block::<2, 1>(window, row_words, n, layer, first, out);
            first += 2 * LANE_BLOCK;
        }
        if first < layer.lanes {
            lane_block::<1, 1>(window, row_words, n, layer, first, out);
        }
    }
}

/// Vectors of 4 lanes per 16-lane block.
const VECTORS: usize = LANE_BLOCK / 4;

/// Lanes `first .. first + 16·L` of `P` adjacent pixels: each weight vector is loaded once
/// for the `P` pixels, each window word is broadcast once for the `4·L` vectors.
// Index loops over the register tiles `[pixel][block][vector]` read clearer than zipped iterators.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn lane_block<const L: usize, const P: usize>(
    window: &[u32],
    row_words: usize,
    n: &[i32],
    layer: &LaneLayer,
    first: usize,
    out: &mut [u32],
) {
    let (k, g, lanes) = (layer.kernel, layer.groups, layer.lanes);
    let pixel_words = 2 * g;
    // Lane `j` of a channel vector is `u16` lanes `2j`, `2j + 1` of its counter.
    let mut pairs = [[[vdupq_n_u16(0); VECTORS]; L]; P];
    let mut sums = [[[vdupq_n_u32(0); VECTORS]; L]; P];
    let mut since_flush = 0;
    let mut w = layer.weights.as_ptr().add(first);
    let base = window.as_ptr();
    for ky in 0..k {
        let row = base.add(ky * row_words);
        for t in 0..k * g {
            let mut a0 = [vdupq_n_u32(0); P];
            let mut a1 = [vdupq_n_u32(0); P];
            for p in 0..P {
                a0[p] = vld1q_dup_u32(row.add(p * pixel_words + 2 * t));
                a1[p] = vld1q_dup_u32(row.add(p * pixel_words + 2 * t + 1));
            }
            for l in 0..L {
                for v in 0..VECTORS {
                    let wv = vld1q_u32(w.add(LANE_BLOCK * l + 4 * v));
                    for p in 0..P {
                        let c0 = vcntq_u8(vreinterpretq_u8_u32(vandq_u32(a0[p], wv)));
                        let c1 = vcntq_u8(vreinterpretq_u8_u32(vandq_u32(a1[p], wv)));
                        let c = vaddq_u8(c0, vaddq_u8(c1, c1));
                        pairs[p][l][v] = vpadalq_u8(pairs[p][l][v], c);
                    }
                }
            }
            w = w.add(lanes);
            since_flush += 1;
            if since_flush == FLUSH_STEPS {
                flush(&mut pairs, &mut sums);
                since_flush = 0;
            }
        }
    }
    flush(&mut pairs, &mut sums);
    // Bit `j` of a 4-lane mask is lane `j`.
    let bit = vld1q_u32([1u32, 2, 4, 8].as_ptr());
    let per_pixel = out.len() / P;
    for p in 0..P {
        let nv = vdupq_n_s32(n[p]);
        for l in 0..L {
            let c = first + LANE_BLOCK * l;
            let (mut b0, mut b1) = (0u32, 0u32);
            for v in 0..VECTORS {
                // acc = 2·P − N.
                let pv = vreinterpretq_s32_u32(sums[p][l][v]);
                let acc = vsubq_s32(vshlq_n_s32::<1>(pv), nv);
                let lane = c + 4 * v;
                let [t0, t1, t2] = &layer.thresholds;
                let m0 = reached(acc, &t0[lane..]);
                let m1 = reached(acc, &t1[lane..]);
                let m2 = reached(acc, &t2[lane..]);
                // level = m0 + m1 + m2 (any threshold order): bit 0 = parity, bit 1 = majority.
                let l0 = veorq_u32(veorq_u32(m0, m1), m2);
                let l1 = vorrq_u32(vandq_u32(m0, vorrq_u32(m1, m2)), vandq_u32(m1, m2));
                b0 |= vaddvq_u32(vandq_u32(l0, bit)) << (4 * v);
                b1 |= vaddvq_u32(vandq_u32(l1, bit)) << (4 * v);
            }
            let (word, shift) = (p * per_pixel + 2 * (c / 32), c % 32);
            out[word] |= b0 << shift;
            out[word + 1] |= b1 << shift;
        }
    }
}

/// Adds the `u16` pair counters into the `u32` sums (`uadalp`) and clears them.
#[inline(always)]
unsafe fn flush<const L: usize, const P: usize>(
    pairs: &mut [[[uint16x8_t; VECTORS]; L]; P],
    sums: &mut [[[uint32x4_t; VECTORS]; L]; P],
) {
    for p in 0..P {
        for l in 0..L {
            for v in 0..VECTORS {
                sums[p][l][v] = vpadalq_u16(sums[p][l][v], pairs[p][l][v]);
                pairs[p][l][v] = vdupq_n_u16(0);
            }
        }
    }
}

/// All-ones lanes where `acc` reached its threshold (`t[..4]`, every lane ascending: see
/// [`LaneLayer`]). A named `inline(always)` function (not a closure) so that it inherits the
/// caller's target features.
#[inline(always)]
unsafe fn reached(acc: int32x4_t, t: &[i32]) -> uint32x4_t {
    let t = vld1q_s32(t[..4].as_ptr());
    vcgeq_s32(acc, t)
}
