//! Deterministic random layers for tests, benchmarks and the accelerator's workloads: one
//! small generator and one way to draw thresholds that actually bite.

use super::packed::{KernelError, Thresholds, FLAG_DESCENDING};

/// Tiny deterministic xorshift64* generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `n` random 2-bit levels.
    pub fn levels(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next_u64() >> 62) as u8).collect()
    }

    /// `n` random weight signs (`±1`).
    pub fn signs(&mut self, n: usize) -> Vec<i8> {
        (0..n)
            .map(|_| if self.next_u64() >> 63 == 1 { 1 } else { -1 })
            .collect()
    }
}

/// Thresholds drawn around accumulators actually produced (`acc`, index
/// `pixel · c_out + o`), one below, at or above them so that ties `acc == T` occur, mixing
/// ascending, descending and constant (`i32::MIN` / `i32::MAX`) channels.
pub fn thresholds_around(
    rng: &mut Rng,
    acc: &[i32],
    c_out: usize,
) -> Result<Thresholds, KernelError> {
    let pixels = acc.len() / c_out;
    let rows: Vec<[i32; 4]> = (0..c_out)
        .map(|o| {
            let pick = |rng: &mut Rng| acc[rng.below(pixels) * c_out + o] + rng.below(3) as i32 - 1;
            let mut t = [pick(rng), pick(rng), pick(rng)];
            match rng.below(8) {
                0 => [i32::MIN, i32::MIN, i32::MAX, 0],
                1 => [i32::MAX, i32::MAX, i32::MAX, 0],
                2 | 3 => {
                    t.sort_unstable_by(|a, b| b.cmp(a));
                    [t[0], t[1], t[2], FLAG_DESCENDING]
                }
                _ => {
                    t.sort_unstable();
                    [t[0], t[1], t[2], 0]
                }
            }
        })
        .collect();
    Thresholds::from_rows(&rows)
}
