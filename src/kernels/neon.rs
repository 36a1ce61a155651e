//! aarch64 NEON kernel (`vcntq_u8`). NEON is mandatory on aarch64, so it is always available
//! there; the runtime check is kept for symmetry.
//!
//! Per 128 bits and weight row: `AND` both planes, `vcnt` each, merge `c0 + 2·c1` (<= 24 per
//! byte), pairwise-accumulate into `u16` lanes with `vpadal` (+48 per step, flushed to `u32`
//! every 1024 steps), horizontal sum at the end. 4 output channels share each window load.
//!
//! armv7 (Cortex-A9, DE10-Nano): `core::arch::arm` NEON intrinsics, `#[target_feature(enable =
//! "neon")]` and `is_arm_feature_detected!` are unstable on stable Rust (checked with 1.95), so
//! armv7 uses the portable kernel's 32-bit-ARM variant, which LLVM auto-vectorises with `vcnt.8`
//! + `vaddw.u8` when the crate is built with NEON enabled (see the module docs of `kernels`).

use super::engine::Prepared;
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
