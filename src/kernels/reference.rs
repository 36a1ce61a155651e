//! Obviously-correct reference convolution, computed from unpacked levels and `±1` weights
//! with plain nested loops (no bit tricks). The fast kernels are tested against it.

use super::packed::{PackedActivations, PackedWeights, Thresholds};
use super::{check_geometry, KernelError};

/// Raw accumulators `acc(o, y, x)`, layout `[y][x][o]` (index `(y * W + x) * C_out + o`).
///
/// `acc(o, y, x) = Σ_{ky, kx < K, c < C_in} q(y + ky - K/2, x + kx - K/2, c) · w(o, c, ky, kx)`
/// with `q = 0` outside the image (SAME padding, stride 1).
pub fn conv_acc(
    input: &PackedActivations,
    weights: &PackedWeights,
) -> Result<Vec<i32>, KernelError> {
    check_geometry(input, weights, None)?;
    let (h, w, c_in) = (input.height(), input.width(), input.channels());
    let (c_out, k) = (weights.out_channels(), weights.kernel());
    let pad = (k / 2) as isize;

    let levels = input.to_levels(); // HWC
    let mut signs = vec![0i8; c_out * c_in * k * k]; // OIHW
    for o in 0..c_out {
        for c in 0..c_in {
            for ky in 0..k {
                for kx in 0..k {
                    signs[((o * c_in + c) * k + ky) * k + kx] = weights.sign(o, c, ky, kx);
                }
            }
        }
    }

    let mut out = vec![0i32; h * w * c_out];
    for y in 0..h {
        for x in 0..w {
            for o in 0..c_out {
                let mut acc = 0i32;
                for ky in 0..k {
                    for kx in 0..k {
                        let sy = y as isize + ky as isize - pad;
                        let sx = x as isize + kx as isize - pad;
                        if sy < 0 || sx < 0 || sy >= h as isize || sx >= w as isize {
                            continue; // padded activation: level 0
                        }
                        let (sy, sx) = (sy as usize, sx as usize);
                        for c in 0..c_in {
                            let q = i32::from(levels[(sy * w + sx) * c_in + c]);
                            let s = i32::from(signs[((o * c_in + c) * k + ky) * k + kx]);
                            acc += q * s;
                        }
                    }
                }
                out[(y * w + x) * c_out + o] = acc;
            }
        }
    }
    Ok(out)
}

/// Convolution followed by the threshold quantiser; output is packed with `C = C_out`.
pub fn conv_threshold(
    input: &PackedActivations,
    weights: &PackedWeights,
    thresholds: &Thresholds,
) -> Result<PackedActivations, KernelError> {
    check_geometry(input, weights, Some(thresholds))?;
    let acc = conv_acc(input, weights)?;
    let c_out = weights.out_channels();
    let levels: Vec<u8> = acc
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            let o = i % c_out;
            let [t0, t1, t2, flags] = thresholds.row(o);
            let reached = |t: i32| {
                if flags & 1 == 0 {
                    a >= t
                } else {
                    a <= t
                }
            };
            u8::from(reached(t0)) + u8::from(reached(t1)) + u8::from(reached(t2))
        })
        .collect();
    PackedActivations::from_levels(&levels, input.height(), input.width(), c_out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::random::Rng;

    #[test]
    fn hand_computed_3x3() {
        // 2x2 image, 1 channel, levels [[1,2],[3,0]]; all-+1 3x3 kernel sums the neighbourhood.
        let a = PackedActivations::from_levels(&[1, 2, 3, 0], 2, 2, 1).unwrap();
        let w =
            PackedWeights::from_fn(2, 1, 3, |o, _, ky, kx| o == 0 || (ky, kx) != (1, 1)).unwrap();
        let acc = conv_acc(&a, &w).unwrap();
        // o = 0: every pixel sees the whole image (sum 6)
        // o = 1: centre weight -1, others +1: 6 - 2*q(y,x)
        assert_eq!(acc, vec![6, 4, 6, 2, 6, 0, 6, 6]);
        let t = Thresholds::from_rows(&[[4, 6, 7, 0], [4, 2, 0, 1]]).unwrap();
        let q = conv_threshold(&a, &w, &t).unwrap().to_levels();
        // o=0: acc 6 -> (6>=4)+(6>=6)+(6>=7) = 2 ; o=1 descending: 4->1, 2->2, 0->3, 6->0
        assert_eq!(q, vec![2, 1, 2, 2, 2, 3, 2, 0]);
    }

    #[test]
    fn hand_computed_1x1() {
        let a = PackedActivations::from_levels(&[3, 1, 2], 1, 1, 3).unwrap();
        let w = PackedWeights::from_signs(&[1, -1, 1, -1, -1, -1], 2, 3, 1).unwrap();
        assert_eq!(conv_acc(&a, &w).unwrap(), vec![4, -6]);
    }

    /// The bit-serial identity from the spec, checked word by word against the plain sum:
    /// Σ q_i·w_i = Σ_b 2^b (2·popcount(a_b & w) − popcount(a_b)).
    #[test]
    fn popcount_identity() {
        let mut rng = Rng::new(7);
        for _ in 0..2000 {
            let (a0, a1, wb) = (
                rng.next_u64() as u32,
                rng.next_u64() as u32,
                rng.next_u64() as u32,
            );
            let mut direct = 0i32;
            for i in 0..32 {
                let q = ((a0 >> i) & 1) + 2 * ((a1 >> i) & 1);
                let s = if (wb >> i) & 1 == 1 { 1 } else { -1 };
                direct += q as i32 * s;
            }
            let bits = |b: u32, a: u32| {
                (1 << b) * (2 * (a & wb).count_ones() as i32 - a.count_ones() as i32)
            };
            assert_eq!(direct, bits(0, a0) + bits(1, a1));
        }
    }
}
