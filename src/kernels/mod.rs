//! Bit-serial quantised 2-D convolution (binary weights, 2-bit unsigned activations).
//!
//! The packed format is the shared CPU / FPGA contract; the layout types live in [`packed`]
//! (read its docs for the exact word layout). In short:
//!
//! | tensor      | element                  | `u32` word index                        |
//! |-------------|--------------------------|-----------------------------------------|
//! | activations | level `q ∈ 0..=3`, 2 bit planes | `((y·W + x)·G + g)·2 + b`, bit `i` = bit `b` of `q(y, x, 32g+i)` |
//! | weights     | `w ∈ {−1,+1}`, bit 1 = `+1` | `((o·K + ky)·K + kx)·G + g`, bit `i` = `w(o, 32g+i, ky, kx)` |
//! | thresholds  | `[T0, T1, T2, flags]` `i32` | `4·o .. 4·o+4`, flags bit 0 = DESCENDING |
//! | raw acc     | `i32`                    | `(y·W + x)·C_out + o`                   |
//!
//! `G = ceil(C / 32)`; channels beyond `C` in the last group are 0 (activations and weights).
//!
//! # Arithmetic
//! Stride 1, `K ∈ {1, 3}`, SAME padding (`K/2` on each side, padded activations are level 0):
//!
//! ```text
//! acc(o, y, x) = Σ_{ky, kx < K, c < C_in} q(y + ky − K/2, x + kx − K/2, c) · w(o, c, ky, kx)
//! ```
//! Range: `|acc| <= 3·K·K·C_in` (13,824 for `K = 3, C_in = 512`), exact in `i32`; weight
//! construction rejects geometries where this bound exceeds `i32::MAX`.
//!
//! Bit-serial identity (per 32-channel word, `a_b` = bit plane `b`, `w` = weight bits):
//! `Σ_i q_i·w_i = Σ_b 2^b (2·popcount(a_b & w) − popcount(a_b))`. The fast kernels sum
//! `P = Σ popcount(a_0 & w) + 2·popcount(a_1 & w)` over the whole `K×K×G` window and subtract
//! the window's `N = Σ popcount(a_0) + 2·popcount(a_1)` once per pixel: `acc = 2P − N`
//! (see `engine.rs`).
//!
//! # Thresholds and ties
//! `ascending:  q_out = (acc >= T0) + (acc >= T1) + (acc >= T2)`;
//! `descending: q_out = (acc <= T0) + (acc <= T1) + (acc <= T2)`.
//! With the folded affine map `y = A·acc + B` and the next quantiser's decision points
//! `t_k = (k − ½)·⅔` (HALF_UP: a value exactly at `t_k` rounds up, i.e. `y >= t_k` reaches
//! level `k`), and because `acc` is an integer:
//! `A > 0: y >= t_k ⇔ acc >= (t_k − B)/A ⇔ acc >= ceil((t_k − B)/A) = T_k` (ascending);
//! `A < 0: y >= t_k ⇔ acc <= (t_k − B)/A ⇔ acc <= floor((t_k − B)/A) = T_k` (descending).
//! A tie `y == t_k` is therefore counted as reached in both directions, like HALF_UP.
//! `A == 0` (constant channel): `T = i32::MIN` (always reached) or `i32::MAX` (never), ascending.
//! The kernels compare in full `i32`, so clamped (`[-32768, 32767]`, see
//! [`Thresholds::clamped`]) and unclamped thresholds give identical results.
//! (The graph pass computing `T_k` must make the float division exact enough that
//! `ceil`/`floor` land on the same integer as the float model's comparison.)
//!
//! # Kernels
//! [`KernelKind`] lists the implementations; [`KernelKind::best`] picks the fastest one that
//! this build and CPU support (checked at run time), and every kind is bit-exact with
//! [`KernelKind::Reference`]:
//! - `Reference`: nested loops over unpacked levels and `±1` weights ([`mod@reference`]);
//! - `Portable`: popcount over `u64` words in plain Rust, any target;
//! - `Popcnt` (x86_64, POPCNT), `Avx2` (x86_64, AVX2 + POPCNT, `vpshufb` nibble counts),
//!   `Avx512` (x86_64, AVX-512F + VPOPCNTDQ). With thresholds (every layer of the model)
//!   `Avx512` runs the output-channel-lane kernel instead: one `u32` lane per output channel,
//!   windows read in place from a zero-padded copy of the input, two pixels per weight load,
//!   thresholds compared in the vector unit (`engine::run_lanes`, `x86::lanes_avx512`);
//! - `Neon` (aarch64, `vcntq_u8`; 32-bit ARM built with NEON). With thresholds it runs the
//!   output-channel-lane layout too: aarch64 intrinsics (`neon::lanes_neon`: `cnt`, `uadalp`,
//!   two pixels per weight load, thresholds in the vector unit), and on 32-bit ARM an `asm!`
//!   inner loop (`neon_arm`: `vcnt.8`, `vpadal.u8`, thresholds in scalar code). Raw
//!   accumulators use the per-pixel kernels (on 32-bit ARM the auto-vectorised portable one).
//!
//! **armv7 (DE10-Nano Cortex-A9):** NEON intrinsics (`core::arch::arm`),
//! `#[target_feature(enable = "neon")]`, `is_arm_feature_detected!` and even
//! `cfg(target_feature = "neon")` are unstable on 32-bit ARM in stable Rust (checked with 1.95).
//! `asm!` is stable, so the lane kernel is written in it and compiled when `build.rs` sees that
//! the build enables NEON (it then sets `cfg(lm_arm_neon)`); without NEON there is no `Neon`
//! kind. The `Portable` kernel has a 32-bit-ARM variant written per byte, which LLVM
//! auto-vectorises into `vcnt.8` + `vaddw.u8` NEON code in such a build. Build for the board
//! with either (preferred, all stable)
//!
//! ```text
//! rustup target add thumbv7neon-unknown-linux-gnueabihf
//! RUSTFLAGS="-C target-cpu=cortex-a9" cargo build --release --target thumbv7neon-unknown-linux-gnueabihf
//! ```
//! or, on the plain armv7 target (rustc warns that `+neon` is an unstable `-C` feature, but it
//! works; `.cargo/config.toml` and `boards/dist.sh` do this):
//!
//! ```text
//! RUSTFLAGS="-C target-cpu=cortex-a9 -C target-feature=+neon" \
//!     cargo build --release --target armv7-unknown-linux-gnueabihf
//! ```
//! (or the same flags under `[target.<triple>] rustflags` in `.cargo/config.toml`). The
//! `armv7-unknown-linux-gnueabihf` target has NEON *off* by default: without one of the above
//! the kernels are still correct but use scalar byte popcounts (several times slower).
//!
//! # Threads
//! `threads` splits each layer's output pixels into that many contiguous ranges, run by the
//! calling thread and the persistent, briefly spinning workers of [`crate::parallel`]
//! (`0` = `std::thread::available_parallelism()`); results do not depend on the thread
//! count. The reference kernel ignores it.

mod engine;
#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(all(target_arch = "arm", lm_arm_neon))]
mod neon_arm;
pub mod packed;
pub mod random;
pub mod reference;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::fmt;
use std::str::FromStr;

pub use packed::{
    groups, KernelError, PackedActivations, PackedWeights, Thresholds, FLAG_DESCENDING,
    GROUP_CHANNELS,
};

/// A convolution implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelKind {
    /// Plain nested loops over levels and `±1` weights (slow, obviously correct).
    Reference,
    /// Portable popcount kernel (`count_ones`); NEON-vectorised on 32-bit ARM built with NEON.
    Portable,
    /// x86_64 scalar `popcnt` instruction.
    Popcnt,
    /// x86_64 AVX2 (`vpshufb` nibble popcount).
    Avx2,
    /// x86_64 AVX-512F + AVX-512 VPOPCNTDQ.
    Avx512,
    /// aarch64 NEON (`vcntq_u8`).
    Neon,
}

impl KernelKind {
    /// Every kind, slowest first.
    pub const ALL: [KernelKind; 6] = [
        KernelKind::Reference,
        KernelKind::Portable,
        KernelKind::Popcnt,
        KernelKind::Avx2,
        KernelKind::Avx512,
        KernelKind::Neon,
    ];

    /// Whether this kind is compiled in and supported by the running CPU.
    pub fn is_available(self) -> bool {
        match self {
            KernelKind::Reference | KernelKind::Portable => true,
            #[cfg(target_arch = "x86_64")]
            KernelKind::Popcnt => x86::has_popcnt(),
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2 => x86::has_avx2(),
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 => x86::has_avx512(),
            #[cfg(target_arch = "aarch64")]
            KernelKind::Neon => neon::has_neon(),
            // Compiled only into builds that require NEON (see `neon_arm`).
            #[cfg(all(target_arch = "arm", lm_arm_neon))]
            KernelKind::Neon => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The available kinds, slowest first.
    pub fn available() -> Vec<KernelKind> {
        Self::ALL.into_iter().filter(|k| k.is_available()).collect()
    }

    /// The fastest available kind.
    pub fn best() -> KernelKind {
        *Self::available()
            .last()
            .expect("Reference and Portable are always available")
    }

    /// Lower-case name, as accepted by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Reference => "reference",
            KernelKind::Portable => "portable",
            KernelKind::Popcnt => "popcnt",
            KernelKind::Avx2 => "avx2",
            KernelKind::Avx512 => "avx512",
            KernelKind::Neon => "neon",
        }
    }

    /// The output-channel-parallel (thresholded) kernel of a kind, if it has one and it is
    /// available here.
    fn lane_fn(self) -> Option<engine::LaneFn> {
        if !self.is_available() {
            return None;
        }
        match self {
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 => Some(x86::lanes_avx512),
            #[cfg(target_arch = "aarch64")]
            KernelKind::Neon => Some(neon::lanes_neon),
            #[cfg(all(target_arch = "arm", lm_arm_neon))]
            KernelKind::Neon => Some(neon_arm::lanes_neon),
            _ => None,
        }
    }

    /// The per-pixel function of a fast kind, if it is available here.
    fn pixel_fn(self) -> Option<engine::PixelFn> {
        if !self.is_available() {
            return None;
        }
        match self {
            KernelKind::Reference => None,
            KernelKind::Portable => Some(engine::pixel_portable),
            #[cfg(target_arch = "x86_64")]
            KernelKind::Popcnt => Some(x86::pixel_popcnt),
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2 => Some(x86::pixel_avx2),
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 => Some(x86::pixel_avx512),
            #[cfg(target_arch = "aarch64")]
            KernelKind::Neon => Some(neon::pixel_neon),
            // Raw accumulators (no thresholds) on 32-bit ARM: the portable kernel, which this
            // NEON build auto-vectorises.
            #[cfg(all(target_arch = "arm", lm_arm_neon))]
            KernelKind::Neon => Some(engine::pixel_portable),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

impl fmt::Display for KernelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KernelKind {
    type Err = String;
    /// Parses a kind name (case-insensitive); `"best"` gives [`KernelKind::best`].
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.to_ascii_lowercase();
        if s == "best" {
            return Ok(Self::best());
        }
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                format!("unknown kernel `{s}` (expected best, {})", names.join(", "))
            })
    }
}

/// Output of [`qconv2d`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QConvOutput {
    /// Thresholded output, packed with `C = C_out`.
    Packed(PackedActivations),
    /// Raw accumulators, index `(y * W + x) * C_out + o`.
    Accumulators(Vec<i32>),
}

/// Checks that `input`, `weights` and `thresholds` fit together.
pub fn check_geometry(
    input: &PackedActivations,
    weights: &PackedWeights,
    thresholds: Option<&Thresholds>,
) -> Result<(), KernelError> {
    if weights.in_channels() != input.channels() {
        return Err(KernelError::ChannelMismatch {
            weight_in_channels: weights.in_channels(),
            input_channels: input.channels(),
        });
    }
    if let Some(t) = thresholds {
        if t.channels() != weights.out_channels() {
            return Err(KernelError::ThresholdCount {
                thresholds: t.channels(),
                out_channels: weights.out_channels(),
            });
        }
    }
    packed::checked_product(
        "convolution output",
        &[input.height(), input.width(), weights.out_channels()],
    )?;
    Ok(())
}

/// Quantised convolution (stride 1, SAME padding) with kernel `kind`.
///
/// With `thresholds` the result is [`QConvOutput::Packed`], without it
/// [`QConvOutput::Accumulators`]. `threads`: threads the output pixels are split over (`0` = all cores).
pub fn qconv2d(
    kind: KernelKind,
    input: &PackedActivations,
    weights: &PackedWeights,
    thresholds: Option<&Thresholds>,
    threads: usize,
) -> Result<QConvOutput, KernelError> {
    check_geometry(input, weights, thresholds)?;
    if let Some(t) = thresholds {
        let out = PreparedConv::new(kind, weights, t)?.run(input, threads)?;
        return Ok(QConvOutput::Packed(out));
    }
    if kind == KernelKind::Reference {
        return Ok(QConvOutput::Accumulators(reference::conv_acc(
            input, weights,
        )?));
    }
    let pixel = kind.pixel_fn().ok_or(KernelError::KernelUnavailable {
        kernel: kind.name(),
    })?;
    let prep = engine::Prepared::new(weights);
    Ok(engine::run(
        pixel,
        input,
        &prep,
        None,
        resolve_threads(threads),
    ))
}

fn resolve_threads(threads: usize) -> usize {
    crate::parallel::resolve(threads)
}

/// A thresholded layer whose weights and thresholds were re-laid out once for one kernel
/// kind: what a graph op keeps between frames (the re-layout of a 512→256 3×3 layer costs
/// about a third of running it on a 5×5 input).
pub struct PreparedConv {
    kind: KernelKind,
    in_channels: usize,
    out_channels: usize,
    inner: PreparedInner,
}

enum PreparedInner {
    Reference(PackedWeights, Thresholds),
    Pixel(engine::PixelFn, engine::Prepared, Thresholds),
    Lanes(engine::LaneFn, engine::LaneLayer),
}

impl fmt::Debug for PreparedConv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedConv")
            .field("kind", &self.kind)
            .field("in_channels", &self.in_channels)
            .field("out_channels", &self.out_channels)
            .finish()
    }
}

impl PreparedConv {
    /// Prepares `weights` and `thresholds` for `kind`.
    pub fn new(
        kind: KernelKind,
        weights: &PackedWeights,
        thresholds: &Thresholds,
    ) -> Result<Self, KernelError> {
        if thresholds.channels() != weights.out_channels() {
            return Err(KernelError::ThresholdCount {
                thresholds: thresholds.channels(),
                out_channels: weights.out_channels(),
            });
        }
        let unavailable = KernelError::KernelUnavailable {
            kernel: kind.name(),
        };
        let inner = if kind == KernelKind::Reference {
            PreparedInner::Reference(weights.clone(), thresholds.clone())
        } else if let Some(lanes) = kind.lane_fn() {
            PreparedInner::Lanes(lanes, engine::LaneLayer::new(weights, thresholds))
        } else {
            let pixel = kind.pixel_fn().ok_or(unavailable)?;
            PreparedInner::Pixel(pixel, engine::Prepared::new(weights), thresholds.clone())
        };
        Ok(PreparedConv {
            kind,
            in_channels: weights.in_channels(),
            out_channels: weights.out_channels(),
            inner,
        })
    }

    pub fn kind(&self) -> KernelKind {
        self.kind
    }

    /// Runs the layer on `input` (same result as [`qconv2d_threshold`]).
    pub fn run(
        &self,
        input: &PackedActivations,
        threads: usize,
    ) -> Result<PackedActivations, KernelError> {
        if input.channels() != self.in_channels {
            return Err(KernelError::ChannelMismatch {
                weight_in_channels: self.in_channels,
                input_channels: input.channels(),
            });
        }
        packed::checked_product(
            "convolution output",
            &[input.height(), input.width(), self.out_channels],
        )?;
        let threads = resolve_threads(threads);
        Ok(match &self.inner {
            PreparedInner::Reference(w, t) => reference::conv_threshold(input, w, t)?,
            PreparedInner::Lanes(lanes, layer) => engine::run_lanes(*lanes, input, layer, threads),
            PreparedInner::Pixel(pixel, prep, t) => {
                match engine::run(*pixel, input, prep, Some(t), threads) {
                    QConvOutput::Packed(p) => p,
                    QConvOutput::Accumulators(_) => unreachable!("thresholds given"),
                }
            }
        })
    }
}

/// [`qconv2d`] with thresholds: packed 2-bit output.
pub fn qconv2d_threshold(
    kind: KernelKind,
    input: &PackedActivations,
    weights: &PackedWeights,
    thresholds: &Thresholds,
    threads: usize,
) -> Result<PackedActivations, KernelError> {
    match qconv2d(kind, input, weights, Some(thresholds), threads)? {
        QConvOutput::Packed(p) => Ok(p),
        QConvOutput::Accumulators(_) => unreachable!("thresholds given"),
    }
}

/// [`qconv2d`] without thresholds: raw `i32` accumulators `[y][x][o]`.
pub fn qconv2d_acc(
    kind: KernelKind,
    input: &PackedActivations,
    weights: &PackedWeights,
    threads: usize,
) -> Result<Vec<i32>, KernelError> {
    match qconv2d(kind, input, weights, None, threads)? {
        QConvOutput::Accumulators(a) => Ok(a),
        QConvOutput::Packed(_) => unreachable!("no thresholds given"),
    }
}

/// Achievable peak of a kernel, in binary ops per second: the best of a few
/// runs of a compute-bound synthetic thresholded 3×3 layer (16×16 pixels,
/// 256 → 256 channels: 74 KB of weights that stay in cache), through the
/// same code path as the model's layers. A yardstick for the per-layer figures
/// of `lm bench`, measured rather than computed from a clock frequency this
/// code cannot know.
pub fn peak_binary_ops_per_second(kind: KernelKind, threads: usize) -> f64 {
    let (h, w, c_in, c_out, k) = (16, 16, 256, 256, 3);
    let levels: Vec<u8> = (0..h * w * c_in)
        .map(|i| ((i * 7 + i / 13) % 4) as u8)
        .collect();
    let (Ok(input), Ok(weights), Ok(thresholds)) = (
        PackedActivations::from_levels(&levels, h, w, c_in),
        PackedWeights::from_fn(c_out, c_in, k, |o, c, ky, kx| {
            (o * 31 + c * 7 + ky * 3 + kx) % 3 != 0
        }),
        Thresholds::from_rows(&vec![[-100, 0, 100, 0]; c_out]),
    ) else {
        return 0.0;
    };
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = std::time::Instant::now();
        if qconv2d_threshold(kind, &input, &weights, &thresholds, threads).is_err() {
            return 0.0;
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    binary_ops(h, w, c_in, c_out, k) as f64 / best
}

/// Number of 1-bit × 1-bit (AND-popcount) operations of one convolution:
/// `H · W · C_out · C_in · K · K · 2` (2 activation bit planes × 1 weight bit per MAC).
/// Used for the "binary ops per second" figures of the benchmarks.
pub fn binary_ops(
    height: usize,
    width: usize,
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
) -> u64 {
    [height, width, in_channels, out_channels, kernel, kernel, 2]
        .iter()
        .map(|&d| d as u64)
        .product()
}

#[cfg(test)]
mod tests {
    use super::random::Rng;
    use super::*;

    fn fast_kinds() -> Vec<KernelKind> {
        KernelKind::available()
            .into_iter()
            .filter(|&k| k != KernelKind::Reference)
            .collect()
    }

    fn random_case(
        rng: &mut Rng,
        h: usize,
        w: usize,
        c_in: usize,
        c_out: usize,
        k: usize,
    ) -> (PackedActivations, PackedWeights) {
        let a = PackedActivations::from_levels(&rng.levels(h * w * c_in), h, w, c_in).unwrap();
        let wt =
            PackedWeights::from_signs(&rng.signs(c_out * c_in * k * k), c_out, c_in, k).unwrap();
        (a, wt)
    }

    fn random_thresholds(rng: &mut Rng, acc: &[i32], c_out: usize) -> Thresholds {
        random::thresholds_around(rng, acc, c_out).unwrap()
    }

    #[test]
    fn kernel_selection() {
        let avail = KernelKind::available();
        assert!(avail.contains(&KernelKind::Reference) && avail.contains(&KernelKind::Portable));
        assert!(KernelKind::best().is_available());
        #[cfg(any(target_arch = "aarch64", all(target_arch = "arm", lm_arm_neon)))]
        assert_eq!(KernelKind::best(), KernelKind::Neon);
        for k in KernelKind::ALL {
            assert_eq!(k.name().parse::<KernelKind>(), Ok(k));
            assert_eq!(k.to_string(), k.name());
        }
        assert_eq!("BEST".parse::<KernelKind>(), Ok(KernelKind::best()));
        assert!("sse9".parse::<KernelKind>().is_err());
        eprintln!("available kernels: {avail:?}");
    }

    /// Every available fast kernel equals the reference bit for bit (accumulators and packed
    /// thresholded output) over randomised shapes.
    #[test]
    fn fast_kernels_match_reference_random_shapes() {
        let mut rng = Rng::new(0x1234);
        let sizes = [1usize, 2, 3, 4, 5, 7];
        let c_ins = [1usize, 5, 31, 32, 33, 63, 64, 65, 100];
        let c_outs = [1usize, 3, 5, 31, 33, 65];
        let mut cases = Vec::new();
        // every channel count and kernel size at least once, with odd sizes...
        for (i, &c_in) in c_ins.iter().enumerate() {
            for k in [1, 3] {
                cases.push((sizes[i % 6], sizes[(i + 3) % 6], c_in, c_outs[i % 6], k));
            }
        }
        for (i, &c_out) in c_outs.iter().enumerate() {
            cases.push((3, 5, c_ins[(i * 2) % 9], c_out, 3));
        }
        // ...plus random combinations.
        for _ in 0..100 {
            cases.push((
                sizes[rng.below(6)],
                sizes[rng.below(6)],
                c_ins[rng.below(9)],
                c_outs[rng.below(6)],
                [1, 3][rng.below(2)],
            ));
        }
        for (h, w, c_in, c_out, k) in cases {
            let (a, wt) = random_case(&mut rng, h, w, c_in, c_out, k);
            let acc_ref = reference::conv_acc(&a, &wt).unwrap();
            let t = random_thresholds(&mut rng, &acc_ref, c_out);
            let out_ref = reference::conv_threshold(&a, &wt, &t).unwrap();
            for kind in fast_kinds() {
                let what = format!("{kind} h={h} w={w} c_in={c_in} c_out={c_out} k={k}");
                assert_eq!(qconv2d_acc(kind, &a, &wt, 1).unwrap(), acc_ref, "{what}");
                assert_eq!(
                    qconv2d_threshold(kind, &a, &wt, &t, 1).unwrap(),
                    out_ref,
                    "{what}"
                );
            }
            // Prepared once, run twice (as the graph op does), every kind incl. the reference.
            for kind in KernelKind::available() {
                let prepared = PreparedConv::new(kind, &wt, &t).unwrap();
                for threads in [1, 2] {
                    assert_eq!(
                        prepared.run(&a, threads).unwrap(),
                        out_ref,
                        "prepared {kind}"
                    );
                }
            }
        }
    }

    /// Extreme inputs: all-3 activations with all-+1 / all-−1 weights reach ±3·K·K·C_in at
    /// the interior, and the padding shows at every border. The long rows (C_in = 300, 4100,
    /// 20000) drive the SIMD byte/u16 counters through their periodic flushes at maximal counts.
    #[test]
    fn extreme_values_and_borders() {
        for &(h, w, c_in, k) in &[
            (3usize, 3usize, 100usize, 3usize),
            (1, 4, 65, 3),
            (2, 2, 33, 1),
            (3, 3, 300, 3),
            (3, 3, 20000, 3),
            (2, 3, 4100, 1),
        ] {
            let a = PackedActivations::from_levels(&vec![3; h * w * c_in], h, w, c_in).unwrap();
            let wt = PackedWeights::from_fn(2, c_in, k, |o, _, _, _| o == 0).unwrap();
            let acc_ref = reference::conv_acc(&a, &wt).unwrap();
            for y in 0..h {
                for x in 0..w {
                    let rows = (y + k / 2).min(h - 1) + 1 - y.saturating_sub(k / 2);
                    let cols = (x + k / 2).min(w - 1) + 1 - x.saturating_sub(k / 2);
                    let full = (3 * rows * cols * c_in) as i32;
                    assert_eq!(acc_ref[(y * w + x) * 2], full);
                    assert_eq!(acc_ref[(y * w + x) * 2 + 1], -full);
                }
            }
            for kind in fast_kinds() {
                assert_eq!(qconv2d_acc(kind, &a, &wt, 1).unwrap(), acc_ref, "{kind}");
            }
        }
    }

    /// Thresholds exactly at the accumulator, one below and one above, both directions,
    /// constant channels with i32::MIN/MAX, and their clamped (±32768) versions.
    #[test]
    fn threshold_edge_cases() {
        let mut rng = Rng::new(99);
        let (h, w, c_in, k) = (4, 3, 37, 3);
        let (a, wt) = random_case(&mut rng, h, w, c_in, 9, k);
        let acc = reference::conv_acc(&a, &wt).unwrap();
        let v = acc[5 * 9 + 4]; // pixel (1,2) channel 4
        let rows = [
            [v, v + 1, v + 2, 0],                            // exactly at T0
            [v - 1, v, v + 1, 0],                            // exactly at T1
            [v - 2, v - 1, v, 0],                            // exactly at T2
            [v, v - 1, v - 2, FLAG_DESCENDING],              // descending, at T0
            [v + 2, v + 1, v, FLAG_DESCENDING],              // descending, at T2
            [i32::MIN, i32::MIN, i32::MIN, 0],               // constant 3
            [i32::MIN, i32::MAX, i32::MAX, 0],               // constant 1
            [i32::MAX, i32::MAX, i32::MAX, 0],               // constant 0
            [i32::MIN, i32::MAX, i32::MIN, FLAG_DESCENDING], // descending constant: 1
        ];
        let t = Thresholds::from_rows(&rows).unwrap();
        let tc = t.clamped();
        let out_ref = reference::conv_threshold(&a, &wt, &t).unwrap();
        assert_eq!(reference::conv_threshold(&a, &wt, &tc).unwrap(), out_ref);
        // Levels each row gives for the accumulator value v (ties at T0, T1, T2):
        let expect_at_v = [1u8, 2, 3, 1, 3, 3, 1, 0, 1];
        for (o, &e) in expect_at_v.iter().enumerate() {
            assert_eq!(t.level(o, v), e, "row {o}");
            assert_eq!(tc.level(o, v), e, "clamped row {o}");
        }
        let lv = out_ref.to_levels();
        for p in 0..h * w {
            assert_eq!(&lv[p * 9 + 5..p * 9 + 9], &[3, 1, 0, 1]);
        }
        for kind in fast_kinds() {
            assert_eq!(
                qconv2d_threshold(kind, &a, &wt, &t, 1).unwrap(),
                out_ref,
                "{kind}"
            );
            assert_eq!(
                qconv2d_threshold(kind, &a, &wt, &tc, 2).unwrap(),
                out_ref,
                "{kind}"
            );
        }
    }

    #[test]
    fn multi_threaded_equals_single_threaded() {
        let mut rng = Rng::new(5);
        for &(h, w, c_in, c_out, k) in &[
            (7usize, 5usize, 65usize, 33usize, 3usize),
            (2, 9, 31, 5, 1),
            (1, 3, 5, 3, 3),
            // Long rows: the lane kernels take whole row segments, split mid-row by threads.
            (3, 41, 32, 64, 3),
            (2, 40, 96, 48, 3),
        ] {
            let (a, wt) = random_case(&mut rng, h, w, c_in, c_out, k);
            let acc1 = qconv2d_acc(KernelKind::best(), &a, &wt, 1).unwrap();
            let t = random_thresholds(&mut rng, &acc1, c_out);
            let out1 = qconv2d_threshold(KernelKind::best(), &a, &wt, &t, 1).unwrap();
            for kind in fast_kinds() {
                for threads in [0, 2, 3, 4, 16] {
                    assert_eq!(qconv2d_acc(kind, &a, &wt, threads).unwrap(), acc1);
                    assert_eq!(qconv2d_threshold(kind, &a, &wt, &t, threads).unwrap(), out1);
                }
            }
        }
    }

    #[test]
    fn bad_geometry_is_an_error() {
        let a = PackedActivations::zeros(3, 3, 10).unwrap();
        let wt = PackedWeights::from_fn(4, 11, 3, |_, _, _, _| true).unwrap();
        for kind in KernelKind::ALL {
            let e = qconv2d(kind, &a, &wt, None, 1).unwrap_err();
            assert_eq!(
                e,
                KernelError::ChannelMismatch {
                    weight_in_channels: 11,
                    input_channels: 10
                }
            );
            assert!(e.to_string().contains("11 input channels"), "{e}");
        }
        let wt = PackedWeights::from_fn(4, 10, 1, |_, _, _, _| true).unwrap();
        let t = Thresholds::from_rows(&[[0, 0, 0, 0]; 3]).unwrap();
        assert!(matches!(
            PreparedConv::new(KernelKind::Portable, &wt, &t).unwrap_err(),
            KernelError::ThresholdCount { .. }
        ));
        let t4 = Thresholds::from_rows(&[[0, 0, 0, 0]; 4]).unwrap();
        let wrong = PackedActivations::zeros(3, 3, 11).unwrap();
        assert!(matches!(
            PreparedConv::new(KernelKind::Portable, &wt, &t4)
                .unwrap()
                .run(&wrong, 1)
                .unwrap_err(),
            KernelError::ChannelMismatch { .. }
        ));
        assert_eq!(
            qconv2d(KernelKind::Portable, &a, &wt, Some(&t), 1).unwrap_err(),
            KernelError::ThresholdCount {
                thresholds: 3,
                out_channels: 4
            }
        );
        for kind in KernelKind::ALL.into_iter().filter(|k| !k.is_available()) {
            assert_eq!(
                qconv2d(kind, &a, &wt, None, 1).unwrap_err(),
                KernelError::KernelUnavailable {
                    kernel: kind.name()
                }
            );
        }
        let e: Box<dyn std::error::Error> = Box::new(KernelError::UnsupportedKernel { kernel: 5 });
        assert!(e.to_string().contains("only 1 and 3"));
    }

    #[test]
    fn binary_ops_definition() {
        assert_eq!(binary_ops(80, 80, 128, 32, 3), 80 * 80 * 128 * 32 * 9 * 2);
    }
}
