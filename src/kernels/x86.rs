//! x86_64 kernels, selected at run time with `is_x86_feature_detected!`:
//! - `Popcnt`: the portable loop compiled with the `popcnt` instruction;
//! - `Avx2`: 256-bit AND + nibble-LUT popcount (`vpshufb`), byte counters of both planes
//!   merged (`cnt(p0&w) + 2·cnt(p1&w) <= 24` per byte, flushed with `vpsadbw` every 10 steps);
//! - `Avx512`: 512-bit AND + `vpopcntq` (AVX-512 VPOPCNTDQ, e.g. Ice Lake, Zen 4), masked tail.
//!
//! Each kernel processes 4 output channels at a time so that the window words (`p0`, `p1`)
//! are loaded once per 4 weight rows.
//!
//! With thresholds, AVX-512 uses the output-channel-parallel layout instead ([`LaneLayer`],
//! `lanes_avx512`): one `u32` lane per output channel, each window word (read in place from
//! the zero-padded input) broadcast against 16 channels' weight words at once, so the sums
//! never need a horizontal reduction, two adjacent pixels share every weight load, and the
//! thresholds are compared in the vector unit (`vpcmpd` → mask bits = packed output bits).

use super::engine::{pixel_generic, LaneLayer, Prepared, LANE_BLOCK};
use core::arch::x86_64::*;

pub(crate) fn has_popcnt() -> bool {
    is_x86_feature_detected!("popcnt")
}

pub(crate) fn has_avx2() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("popcnt")
}

pub(crate) fn has_avx512() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512vpopcntdq")
        && is_x86_feature_detected!("popcnt")
}

/// # Safety
/// The CPU must support `popcnt`.
#[target_feature(enable = "popcnt")]
pub(crate) unsafe fn pixel_popcnt(p0: &[u64], p1: &[u64], w: &Prepared, acc: &mut [i32]) {
    pixel_generic(p0, p1, w, acc)
}

/// Scalar `Σ popcnt(p0&w) + 2 Σ popcnt(p1&w)` over `from..`, for the SIMD tails.
#[inline(always)]
fn tail(p0: &[u64], p1: &[u64], w: &[u64], from: usize) -> u32 {
    let mut s = 0u32;
    for i in from..w.len() {
        s += (p0[i] & w[i]).count_ones() + 2 * (p1[i] & w[i]).count_ones();
    }
    s
}

// ---------------------------------------------------------------- AVX2

/// Bytes of `cnt(a0) + 2·cnt(a1)` (each byte <= 24).
#[inline(always)]
unsafe fn avx2_counts(a0: __m256i, a1: __m256i) -> __m256i {
    let lut1 = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
        3, 4,
    );
    let lut2 = _mm256_add_epi8(lut1, lut1);
    let low = _mm256_set1_epi8(0x0f);
    let c0 = _mm256_add_epi8(
        _mm256_shuffle_epi8(lut1, _mm256_and_si256(a0, low)),
        _mm256_shuffle_epi8(lut1, _mm256_and_si256(_mm256_srli_epi16::<4>(a0), low)),
    );
    let c1 = _mm256_add_epi8(
        _mm256_shuffle_epi8(lut2, _mm256_and_si256(a1, low)),
        _mm256_shuffle_epi8(lut2, _mm256_and_si256(_mm256_srli_epi16::<4>(a1), low)),
    );
    _mm256_add_epi8(c0, c1)
}

#[inline(always)]
unsafe fn hsum_epi64_256(v: __m256i) -> u64 {
    let s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    (_mm_cvtsi128_si64(s) + _mm_extract_epi64::<1>(s)) as u64
}

/// `P` for `R` weight rows at once.
#[inline(always)]
unsafe fn avx2_rows<const R: usize>(p0: &[u64], p1: &[u64], rows: [&[u64]; R]) -> [u32; R] {
    let n = p0.len();
    let chunks = n / 4;
    let zero = _mm256_setzero_si256();
    let mut total = [zero; R];
    let mut i = 0;
    while i < chunks {
        // 10 steps × 24 per byte = 240 <= 255: byte counters cannot overflow.
        let end = (i + 10).min(chunks);
        let mut bytes = [zero; R];
        while i < end {
            let a0 = _mm256_loadu_si256(p0.as_ptr().add(4 * i) as *const __m256i);
            let a1 = _mm256_loadu_si256(p1.as_ptr().add(4 * i) as *const __m256i);
            for r in 0..R {
                let wv = _mm256_loadu_si256(rows[r].as_ptr().add(4 * i) as *const __m256i);
                let c = avx2_counts(_mm256_and_si256(a0, wv), _mm256_and_si256(a1, wv));
                bytes[r] = _mm256_add_epi8(bytes[r], c);
            }
            i += 1;
        }
        for r in 0..R {
            total[r] = _mm256_add_epi64(total[r], _mm256_sad_epu8(bytes[r], zero));
        }
    }
    let mut out = [0u32; R];
    for r in 0..R {
        out[r] = hsum_epi64_256(total[r]) as u32 + tail(p0, p1, rows[r], 4 * chunks);
    }
    out
}

/// # Safety
/// The CPU must support AVX2 and POPCNT; `p0`, `p1` and every weight row have `w.row_len` words.
#[target_feature(enable = "avx2,popcnt")]
pub(crate) unsafe fn pixel_avx2(p0: &[u64], p1: &[u64], w: &Prepared, acc: &mut [i32]) {
    let len = w.row_len;
    assert!(p0.len() == len && p1.len() == len && acc.len() == w.out_channels);
    if len < 4 {
        // Too short for vectors (e.g. 1x1 convs with <= 192 channels): scalar popcnt.
        return pixel_generic(p0, p1, w, acc);
    }
    let [n] = avx2_rows(p0, p1, [&w.ones[..]]);
    let n = n as i32;
    let mut rows = w.rows.chunks_exact(len);
    let mut accs = acc.chunks_exact_mut(4);
    for dst in &mut accs {
        let r: [&[u64]; 4] = core::array::from_fn(|_| rows.next().unwrap());
        let p = avx2_rows(p0, p1, r);
        for (d, p) in dst.iter_mut().zip(p) {
            *d = 2 * p as i32 - n;
        }
    }
    for (d, row) in accs.into_remainder().iter_mut().zip(rows) {
        let [p] = avx2_rows(p0, p1, [row]);
        *d = 2 * p as i32 - n;
    }
}

// ---------------------------------------------------------------- AVX-512

#[inline(always)]
unsafe fn avx512_rows<const R: usize>(p0: &[u64], p1: &[u64], rows: [&[u64]; R]) -> [u32; R] {
    let n = p0.len();
    let mut s0 = [_mm512_setzero_si512(); R];
    let mut s1 = [_mm512_setzero_si512(); R];
    let mut i = 0;
    while i < n {
        let rem = n - i;
        let mask: __mmask8 = if rem >= 8 { 0xff } else { (1u8 << rem) - 1 };
        let a0 = _mm512_maskz_loadu_epi64(mask, p0.as_ptr().add(i) as *const i64);
        let a1 = _mm512_maskz_loadu_epi64(mask, p1.as_ptr().add(i) as *const i64);
        for r in 0..R {
            let wv = _mm512_maskz_loadu_epi64(mask, rows[r].as_ptr().add(i) as *const i64);
            s0[r] = _mm512_add_epi64(s0[r], _mm512_popcnt_epi64(_mm512_and_si512(a0, wv)));
            s1[r] = _mm512_add_epi64(s1[r], _mm512_popcnt_epi64(_mm512_and_si512(a1, wv)));
        }
        i += 8;
    }
    let mut out = [0u32; R];
    for r in 0..R {
        let s = _mm512_add_epi64(s0[r], _mm512_slli_epi64::<1>(s1[r]));
        out[r] = _mm512_reduce_add_epi64(s) as u32;
    }
    out
}

/// # Safety
/// The CPU must support AVX-512F, AVX-512 VPOPCNTDQ and POPCNT; `p0`, `p1` and every weight row have
/// `w.row_len` words.
#[target_feature(enable = "avx512f,avx512vpopcntdq,popcnt")]
pub(crate) unsafe fn pixel_avx512(p0: &[u64], p1: &[u64], w: &Prepared, acc: &mut [i32]) {
    let len = w.row_len;
    assert!(p0.len() == len && p1.len() == len && acc.len() == w.out_channels);
    if len < 4 {
        // Too short for vectors (e.g. 1x1 convs with <= 192 channels): scalar popcnt.
        return pixel_generic(p0, p1, w, acc);
    }
    let [n] = avx512_rows(p0, p1, [&w.ones[..]]);
    let n = n as i32;
    let mut rows = w.rows.chunks_exact(len);
    let mut accs = acc.chunks_exact_mut(4);
    for dst in &mut accs {
        let r: [&[u64]; 4] = core::array::from_fn(|_| rows.next().unwrap());
        let p = avx512_rows(p0, p1, r);
        for (d, p) in dst.iter_mut().zip(p) {
            *d = 2 * p as i32 - n;
        }
    }
    for (d, row) in accs.into_remainder().iter_mut().zip(rows) {
        let [p] = avx512_rows(p0, p1, [row]);
        *d = 2 * p as i32 - n;
    }
}

// ------------------------------------------------- AVX-512, output-channel lanes

/// Thresholded, packed output of a row segment of `n.len()` pixels, 16 output channels per
/// vector (see [`LaneLayer`] and `engine::run_lanes`).
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512 VPOPCNTDQ.
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
pub(crate) unsafe fn lanes_avx512(
    window: &[u32],
    row_words: usize,
    n: &[i32],
    layer: &LaneLayer,
    out: &mut [u32],
) {
    let (k, g, lanes) = (layer.kernel, layer.groups, layer.lanes);
    let pixels = n.len();
    assert!(pixels >= 1 && out.len().is_multiple_of(pixels));
    // Everything the kernel reads: K rows, each `(pixels - 1 + K)·G·2` words long.
    assert!(window.len() >= (k - 1) * row_words + (pixels - 1 + k) * g * 2);
    assert!(layer.weights.len() >= k * k * g * lanes && lanes.is_multiple_of(LANE_BLOCK));
    // Every 32 lanes fill one word pair of each pixel.
    assert!(out.len() / pixels >= 2 * lanes.div_ceil(32));
    let rows = Rows {
        window: window.as_ptr(),
        row_words,
        pixel_words: 2 * g,
        steps: k * g,
        k,
    };
    // 3×3 over one channel group (3 steps a row) unrolled: the 32-channel-input layers.
    if rows.steps == 3 {
        lane_passes::<3>(&rows, n, layer, out);
    } else {
        lane_passes::<0>(&rows, n, layer, out);
    }
}

/// Where a row segment's windows lie in the zero-padded input.
struct Rows {
    window: *const u32,
    row_words: usize,
    pixel_words: usize,
    /// Word pairs per window row, `K·G`.
    steps: usize,
    k: usize,
}

#[inline(always)]
unsafe fn lane_passes<const STEPS: usize>(
    rows: &Rows,
    n: &[i32],
    layer: &LaneLayer,
    out: &mut [u32],
) {
    // 32 output channels per pass over the windows: 2 × 2 × 2 accumulators, 4 broadcast
    // window words and 2 weight vectors stay in registers, and the pass's 6 threshold vectors
    // too, across the whole row segment. (64 channels per pass spilled the accumulators to the
    // stack: 20–25 % slower on the 64-, 128- and 256-channel layers.)
    let mut first = 0;
    while first + 2 * LANE_BLOCK <= layer.lanes {
        lane_pass::<2, STEPS>(rows, n, layer, first, out);
        first += 2 * LANE_BLOCK;
    }
    if first < layer.lanes {
        lane_pass::<1, STEPS>(rows, n, layer, first, out);
    }
}

/// Lanes `first .. first + 16·L` (`first` a multiple of 32) of every pixel of the segment,
/// two pixels at a time.
#[inline(always)]
unsafe fn lane_pass<const L: usize, const STEPS: usize>(
    rows: &Rows,
    n: &[i32],
    layer: &LaneLayer,
    first: usize,
    out: &mut [u32],
) {
    let mut t = [[_mm512_setzero_si512(); L]; 3];
    for (tv, src) in t.iter_mut().zip(&layer.thresholds) {
        for (l, v) in tv.iter_mut().enumerate() {
            let s = &src[first + LANE_BLOCK * l..][..LANE_BLOCK];
            *v = _mm512_loadu_si512(s.as_ptr() as *const _);
        }
    }
    let per_pixel = out.len() / n.len();
    // This pass's word pair in each pixel's output.
    let word = first / 32 * 2;
    let mut p = 0;
    while p + 2 <= n.len() {
        let sums = lane_sums::<L, 2, STEPS>(rows, p, layer, first);
        store_levels(
            &sums,
            &n[p..],
            &t,
            &mut out[p * per_pixel + word..],
            per_pixel,
        );
        p += 2;
    }
    if p < n.len() {
        let sums = lane_sums::<L, 1, STEPS>(rows, p, layer, first);
        store_levels(
            &sums,
            &n[p..],
            &t,
            &mut out[p * per_pixel + word..],
            per_pixel,
        );
    }
}

/// Stores the packed word pair of each pixel of `sums` (pixel `i` at `out[i·per_pixel..]`,
/// window sum `n[i]`). A named function, not a closure, for the reason given at [`levels`].
#[inline(always)]
unsafe fn store_levels<const L: usize>(
    sums: &[[__m512i; L]],
    n: &[i32],
    t: &[[__m512i; L]; 3],
    out: &mut [u32],
    per_pixel: usize,
) {
    for (i, s) in sums.iter().enumerate() {
        let (b0, b1) = levels(s, n[i], t);
        out[i * per_pixel] = b0;
        out[i * per_pixel + 1] = b1;
    }
}

/// `P = Σ popcount(a0 & w) + 2·popcount(a1 & w)` of lanes `first .. first + 16·L` for the `P`
/// pixels from pixel `from` on: each weight vector is loaded once for the `P` pixels, each window
/// word broadcast once for the `L` vectors. `STEPS` = `K·G` when known at compile time, else 0.
#[inline(always)]
unsafe fn lane_sums<const L: usize, const P: usize, const STEPS: usize>(
    rows: &Rows,
    from: usize,
    layer: &LaneLayer,
    first: usize,
) -> [[__m512i; L]; P] {
    let lanes = layer.lanes;
    let steps = if STEPS > 0 { STEPS } else { rows.steps };
    let mut s0 = [[_mm512_setzero_si512(); L]; P];
    let mut s1 = [[_mm512_setzero_si512(); L]; P];
    let mut w = layer.weights.as_ptr().add(first);
    let base = rows.window.add(from * rows.pixel_words);
    for ky in 0..rows.k {
        let row = base.add(ky * rows.row_words);
        for t in 0..steps {
            let mut a0 = [_mm512_setzero_si512(); P];
            let mut a1 = [_mm512_setzero_si512(); P];
            for p in 0..P {
                a0[p] = _mm512_set1_epi32(*row.add(p * rows.pixel_words + 2 * t) as i32);
                a1[p] = _mm512_set1_epi32(*row.add(p * rows.pixel_words + 2 * t + 1) as i32);
            }
            for l in 0..L {
                let wv = _mm512_loadu_si512(w.add(LANE_BLOCK * l) as *const _);
                for p in 0..P {
                    let c0 = _mm512_popcnt_epi32(_mm512_and_si512(a0[p], wv));
                    let c1 = _mm512_popcnt_epi32(_mm512_and_si512(a1[p], wv));
                    s0[p][l] = _mm512_add_epi32(s0[p][l], c0);
                    s1[p][l] = _mm512_add_epi32(s1[p][l], c1);
                }
            }
            w = w.add(lanes);
        }
    }
    let mut sums = [[_mm512_setzero_si512(); L]; P];
    for p in 0..P {
        for l in 0..L {
            sums[p][l] = _mm512_add_epi32(s0[p][l], _mm512_slli_epi32::<1>(s1[p][l]));
        }
    }
    sums
}

/// The packed output word pair (plane 0, plane 1) of up to 32 lanes from their sums `P`, the
/// window's `N` and the thresholds `t[k][l]` (every lane ascending, see [`LaneLayer`]).
///
/// A named `inline(always)` function, not a closure: closures do not inherit the caller's
/// target features, so the intrinsics inside one can end up as out-of-line calls (measured: the
/// whole model 2× slower, depending on unrelated code elsewhere in the crate).
#[inline(always)]
unsafe fn levels<const L: usize>(sums: &[__m512i; L], n: i32, t: &[[__m512i; L]; 3]) -> (u32, u32) {
    let nv = _mm512_set1_epi32(n);
    let (mut b0, mut b1) = (0u32, 0u32);
    for l in 0..L {
        // acc = 2·P − N.
        let acc = _mm512_sub_epi32(_mm512_slli_epi32::<1>(sums[l]), nv);
        let m0 = _mm512_cmpge_epi32_mask(acc, t[0][l]);
        let m1 = _mm512_cmpge_epi32_mask(acc, t[1][l]);
        let m2 = _mm512_cmpge_epi32_mask(acc, t[2][l]);
        // level = m0 + m1 + m2 (any threshold order): bit 0 = parity, bit 1 = majority.
        let parity = m0 ^ m1 ^ m2;
        let majority = (m0 & m1) | (m0 & m2) | (m1 & m2);
        b0 |= u32::from(parity) << (LANE_BLOCK * l);
        b1 |= u32::from(majority) << (LANE_BLOCK * l);
    }
    (b0, b1)
}
