//! 32-bit ARM NEON lane kernel (Cortex-A9, DE10-Nano), in `asm!`.
//!
//! Stable Rust has no NEON intrinsics, `#[target_feature(enable = "neon")]` or
//! `cfg(target_feature = "neon")` on 32-bit ARM (checked with 1.95), but `asm!` is stable and
//! assembles NEON code when the build enables NEON. `build.rs` sets `cfg(lm_arm_neon)` when it
//! does (the `thumbv7neon-*` targets, or `+neon` in the target's `-C target-feature`, as
//! `.cargo/config.toml` gives the armv7 target), and only then is this module compiled: such a
//! build needs NEON anyway, as LLVM auto-vectorises the portable kernel with it.
//!
//! Layout and contract are those of the other lane kernels ([`LaneLayer`],
//! `engine::run_lanes`): one `u32` lane per output channel. The inner loop, per window word
//! pair and 16 output channels: broadcast both bit planes (`vld1.32 {d[], d[]}`), load the 16
//! channels' weight words (2 × `vld1.32` of 4 d registers), then per 4 channels `vand` both
//! planes, `vcnt.8`, `c0 + 2·c1` (two `vadd.i8`, <= 24 per byte) and `vpadal.u8` into `u16`
//! pair counters (+48 per word). The counters live in q8–q11 for up to [`FLUSH_STEPS`] words
//! and are then widened into `u32` sums; the thresholds (48 compares per 16 channels) are
//! applied in scalar code, which is small beside the `9·G` window words of a 3×3 layer.

use super::engine::{LaneLayer, LANE_BLOCK};

/// `u16` pair counters gain at most 2·24 = 48 per window word: widen them into `u32` every
/// 1024 words (49,152 <= 65,535).
const FLUSH_STEPS: usize = 1024;

/// Thresholded, packed output of a row segment of `n.len()` pixels (one at a time), 16 output
/// channels per pass.
///
/// # Safety
/// The CPU must support NEON (it does wherever this module is compiled, see the module docs).
pub(crate) unsafe fn lanes_neon(
    window: &[u32],
    row_words: usize,
    n: &[i32],
    layer: &LaneLayer,
    out: &mut [u32],
) {
    let (k, g, lanes) = (layer.kernel, layer.groups, layer.lanes);
    let pixel_words = 2 * g;
    // Everything the kernel reads: K rows, each `(pixels - 1 + K)·G·2` words long.
    assert!(window.len() >= (k - 1) * row_words + (n.len() - 1 + k) * pixel_words);
    assert!(!n.is_empty() && out.len().is_multiple_of(n.len()));
    assert!(out.len() * 16 >= n.len() * lanes);
    assert!(layer.weights.len() >= k * k * g * lanes && lanes.is_multiple_of(LANE_BLOCK));
    out.fill(0);
    let per_pixel = out.len() / n.len();
    for (p, &n) in n.iter().enumerate() {
        for first in (0..lanes).step_by(LANE_BLOCK) {
            let sums = block_sums(&window[p * pixel_words..], row_words, layer, first);
            let (b0, b1) = levels(&sums, n, layer, first);
            let (word, shift) = (p * per_pixel + 2 * (first / 32), first % 32);
            out[word] |= b0 << shift;
            out[word + 1] |= b1 << shift;
        }
    }
}

/// `P = Σ popcount(a0 & w) + 2·popcount(a1 & w)` of lanes `first .. first + 16` over the
/// window that starts at `window[0]`.
fn block_sums(window: &[u32], row_words: usize, layer: &LaneLayer, first: usize) -> [u32; 16] {
    let (k, g, lanes) = (layer.kernel, layer.groups, layer.lanes);
    let row_steps = k * g;
    let mut sums = [0u32; 16];
    let mut pairs = [0u16; 32];
    let mut since_flush = 0;
    for ky in 0..k {
        let mut t = 0;
        while t < row_steps {
            let steps = (row_steps - t).min(FLUSH_STEPS - since_flush);
            let win = &window[ky * row_words + 2 * t..][..2 * steps];
            let weights = &layer.weights[(ky * row_steps + t) * lanes + first..];
            assert!(weights.len() >= (steps - 1) * lanes + LANE_BLOCK);
            // SAFETY: `win` holds the `steps` word pairs read; `weights` the `steps` runs of 16
            // words, `lanes` apart (asserted above); NEON is enabled in this build.
            unsafe { accumulate(win.as_ptr(), weights.as_ptr(), lanes, steps, &mut pairs) };
            t += steps;
            since_flush += steps;
            if since_flush == FLUSH_STEPS {
                flush(&mut pairs, &mut sums);
                since_flush = 0;
            }
        }
    }
    flush(&mut pairs, &mut sums);
    sums
}

/// Adds the `u16` pair counters into the `u32` sums and clears them. Counter vector `v`
/// (`u16` lanes `8v .. 8v + 8`) holds channels `4v .. 4v + 4`, two `u16` each.
fn flush(pairs: &mut [u16; 32], sums: &mut [u32; 16]) {
    for (s, pair) in sums.iter_mut().zip(pairs.chunks_exact(2)) {
        *s += u32::from(pair[0]) + u32::from(pair[1]);
    }
    pairs.fill(0);
}

/// The packed level bits (plane 0, plane 1) of 16 lanes from their sums `P` and the window's `N`.
fn levels(sums: &[u32; 16], n: i32, layer: &LaneLayer, first: usize) -> (u32, u32) {
    // Every lane ascending (see `LaneLayer`).
    let [t0, t1, t2] = &layer.thresholds;
    let (mut b0, mut b1) = (0u32, 0u32);
    for (j, &p) in sums.iter().enumerate() {
        let acc = 2 * p as i32 - n;
        let lane = first + j;
        let level = (acc >= t0[lane]) as u32 + (acc >= t1[lane]) as u32 + (acc >= t2[lane]) as u32;
        b0 |= (level & 1) << j;
        b1 |= (level >> 1) << j;
    }
    (b0, b1)
}

/// The NEON inner loop: `steps` window word pairs at `win` (plane 0, plane 1), weight runs of
/// 16 words at `weights`, `lanes` words apart; adds into the 32 `u16` counters.
///
/// # Safety
/// `win` must be readable for `2·steps` words, `weights` for `(steps − 1)·lanes + 16`,
/// `steps >= 1`, and the CPU must support NEON.
#[inline(always)]
unsafe fn accumulate(
    win: *const u32,
    weights: *const u32,
    lanes: usize,
    steps: usize,
    pairs: &mut [u16; 32],
) {
    // The second weight load advances by the rest of the row: `lanes` words in all per step.
    let stride = lanes * 4 - 32;
    core::arch::asm!(
        "vld1.16 {{d16-d19}}, [{acc}]!",
        "vld1.16 {{d20-d23}}, [{acc}]",
        "sub {acc}, {acc}, #32",
        "2:",
        "vld1.32 {{d0[], d1[]}}, [{win}]!",
        "vld1.32 {{d2[], d3[]}}, [{win}]!",
        "vld1.32 {{d4-d7}}, [{w}]!",
        "vld1.32 {{d8-d11}}, [{w}], {stride}",
        // channels 0-3
        "vand q6, q0, q2",
        "vand q7, q1, q2",
        "vcnt.8 q6, q6",
        "vcnt.8 q7, q7",
        "vadd.i8 q6, q6, q7",
        "vadd.i8 q6, q6, q7",
        "vpadal.u8 q8, q6",
        // channels 4-7
        "vand q12, q0, q3",
        "vand q13, q1, q3",
        "vcnt.8 q12, q12",
        "vcnt.8 q13, q13",
        "vadd.i8 q12, q12, q13",
        "vadd.i8 q12, q12, q13",
        "vpadal.u8 q9, q12",
        // channels 8-11
        "vand q6, q0, q4",
        "vand q7, q1, q4",
        "vcnt.8 q6, q6",
        "vcnt.8 q7, q7",
        "vadd.i8 q6, q6, q7",
        "vadd.i8 q6, q6, q7",
        "vpadal.u8 q10, q6",
        // channels 12-15
        "vand q12, q0, q5",
        "vand q13, q1, q5",
        "vcnt.8 q12, q12",
        "vcnt.8 q13, q13",
        "vadd.i8 q12, q12, q13",
        "vadd.i8 q12, q12, q13",
        "vpadal.u8 q11, q12",
        "subs {steps}, {steps}, #1",
        "bne 2b",
        "vst1.16 {{d16-d19}}, [{acc}]!",
        "vst1.16 {{d20-d23}}, [{acc}]",
        acc = inout(reg) pairs.as_mut_ptr() => _,
        win = inout(reg) win => _,
        w = inout(reg) weights => _,
        stride = in(reg) stride,
        steps = inout(reg) steps => _,
        out("q0") _, out("q1") _, out("q2") _, out("q3") _,
        out("q4") _, out("q5") _, out("q6") _, out("q7") _,
        out("q8") _, out("q9") _, out("q10") _, out("q11") _,
        out("q12") _, out("q13") _,
        options(nostack),
    );
}
