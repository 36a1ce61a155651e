//! Packed tensor types shared by the CPU kernels, the FPGA RTL and the driver.
//!
//! This module is the packed-format contract between the CPU kernels, the graph ops
//! (`crate::ops::pack`) and the FPGA (RTL and driver). The layout:
//!
//! # Activations ([`PackedActivations`])
//! One image, NHWC order, channels split into `G = ceil(C / 32)` groups of 32.
//! A level `q ∈ {0,1,2,3}` (real value `q · 2/3`) is stored as two bit planes.
//! Flat array of little-endian `u32` words, `H · W · G · 2` words in total:
//!
//! ```text
//! word index         = ((y * W + x) * G + g) * 2 + b      b = bit plane: 0 = LSB, 1 = MSB
//! bit i of that word = bit b of q(y, x, channel 32*g + i)
//! ```
//! Channels `>= C` (the tail of the last group) are 0 in both planes; the constructors check it.
//!
//! # Binary weights ([`PackedWeights`])
//! Weights `w ∈ {-1, +1}`, kernel size `K ∈ {1, 3}`, `G = ceil(C_in / 32)`:
//!
//! ```text
//! word index = ((o * K + ky) * K + kx) * G + g
//! bit i      = 1 if w(o, 32*g + i, ky, kx) == +1, 0 if -1
//! ```
//! Bits for input channels `>= C_in` are 0. So the `K·K·G` words of output channel `o` are
//! contiguous and ordered `[ky][kx][g]`, the same order in which a `K×K` window of packed
//! activations is read (`[ky][kx][g][b]`), which is what the fast kernels exploit.
//! BipolarQuant convention: `+1` for `W >= 0` (sign(0) = +1), `-1` otherwise (NaN included);
//! the per-output-channel scale is folded into the thresholds, never stored here.
//!
//! # Thresholds ([`Thresholds`])
//! Four `i32` per output channel, `[T0, T1, T2, flags]` at words `4*o .. 4*o+4`,
//! `flags` bit 0 = DESCENDING (other bits are reserved and must be 0):
//!
//! ```text
//! ascending : q_out = (acc >= T0) + (acc >= T1) + (acc >= T2)
//! descending: q_out = (acc <= T0) + (acc <= T1) + (acc <= T2)
//! ```
//! Constant channels use `i32::MIN` (always reached) / `i32::MAX` (never reached) in
//! ascending mode. Producers may clamp into `[-32768, 32767]` ([`Thresholds::clamped`]);
//! that is exact whenever `|acc| <= 32766`, i.e. `3·K·K·C_in <= 32766` (13,824 in this network;
//! an accumulator of exactly 32767 would reach a clamped `i32::MAX`).
//!
//! # Raw accumulators
//! One `i32` per output, index `(y * W + x) * C_out + o`.

use std::fmt;

/// Channels per packed word (one channel group).
pub const GROUP_CHANNELS: usize = 32;
/// Bit planes per 2-bit activation.
pub const PLANES: usize = 2;
/// Highest activation level (2-bit unsigned).
pub const MAX_LEVEL: u8 = 3;
/// `flags` bit 0 of a threshold row: the channel compares with `<=` instead of `>=`.
pub const FLAG_DESCENDING: i32 = 1;
/// Range producers clamp thresholds into (hardware compares in 17-bit signed arithmetic).
pub const THRESHOLD_CLAMP: (i32, i32) = (-32768, 32767);

/// Number of 32-channel groups for `channels` channels: `ceil(channels / 32)`.
pub fn groups(channels: usize) -> usize {
    channels.div_ceil(GROUP_CHANNELS)
}

/// Mask of the valid channel bits in group `g` of a `channels`-channel tensor.
pub fn group_mask(channels: usize, g: usize) -> u32 {
    let valid = channels.saturating_sub(g * GROUP_CHANNELS);
    if valid >= GROUP_CHANNELS {
        u32::MAX
    } else {
        (1u32 << valid) - 1
    }
}

/// Errors from building packed tensors or running a quantised convolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// A dimension (height, width, channels, ...) is zero.
    ZeroDimension { what: &'static str },
    /// The tensor would not fit in memory / `usize`, or its accumulator would not fit `i32`.
    TooLarge { what: &'static str },
    /// A buffer has the wrong number of elements for the stated geometry.
    BufferLength {
        what: &'static str,
        expected: usize,
        actual: usize,
    },
    /// An activation level outside `0..=3`.
    LevelOutOfRange { index: usize, value: u8 },
    /// A weight that is neither `-1` nor `+1`.
    SignOutOfRange { index: usize, value: i8 },
    /// Kernel size other than 1 or 3.
    UnsupportedKernel { kernel: usize },
    /// Bits set in the unused channel tail of the last group.
    NonZeroTail { what: &'static str, word: usize },
    /// Weight input channels differ from the activation channels.
    ChannelMismatch {
        weight_in_channels: usize,
        input_channels: usize,
    },
    /// Number of threshold rows differs from the weight output channels.
    ThresholdCount {
        thresholds: usize,
        out_channels: usize,
    },
    /// Reserved flag bits set in a threshold row.
    InvalidFlags { channel: usize, flags: i32 },
    /// The requested kernel is not compiled in or not supported by this CPU.
    KernelUnavailable { kernel: &'static str },
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroDimension { what } => write!(f, "{what} must be at least 1, got 0"),
            Self::TooLarge { what } => write!(f, "{what} is too large"),
            Self::BufferLength {
                what,
                expected,
                actual,
            } => write!(
                f,
                "{what}: expected {expected} elements for the given geometry, got {actual}"
            ),
            Self::LevelOutOfRange { index, value } => write!(
                f,
                "activation level {value} at index {index} is out of range 0..={MAX_LEVEL}"
            ),
            Self::SignOutOfRange { index, value } => {
                write!(f, "weight {value} at index {index} is not -1 or +1")
            }
            Self::UnsupportedKernel { kernel } => {
                write!(f, "kernel size {kernel} is not supported (only 1 and 3)")
            }
            Self::NonZeroTail { what, word } => write!(
                f,
                "{what}: word {word} has bits set for channels beyond the channel count \
                 (the tail of the last 32-channel group must be 0)"
            ),
            Self::ChannelMismatch {
                weight_in_channels,
                input_channels,
            } => write!(
                f,
                "weights expect {weight_in_channels} input channels but the activations have \
                 {input_channels}"
            ),
            Self::ThresholdCount {
                thresholds,
                out_channels,
            } => write!(
                f,
                "{thresholds} threshold rows given for {out_channels} output channels"
            ),
            Self::InvalidFlags { channel, flags } => write!(
                f,
                "threshold flags {flags:#x} of output channel {channel} use reserved bits \
                 (only bit 0 = DESCENDING is defined)"
            ),
            Self::KernelUnavailable { kernel } => {
                write!(f, "kernel `{kernel}` is not available on this CPU/build")
            }
        }
    }
}

impl std::error::Error for KernelError {}

pub(crate) fn checked_product(what: &'static str, dims: &[usize]) -> Result<usize, KernelError> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or(KernelError::TooLarge { what })
}

fn nonzero(what: &'static str, v: usize) -> Result<(), KernelError> {
    if v == 0 {
        Err(KernelError::ZeroDimension { what })
    } else {
        Ok(())
    }
}

fn check_len(what: &'static str, expected: usize, actual: usize) -> Result<(), KernelError> {
    if expected != actual {
        Err(KernelError::BufferLength {
            what,
            expected,
            actual,
        })
    } else {
        Ok(())
    }
}

/// A packed 2-bit activation tensor (one image, `[y][x][group][bitplane]` `u32` words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedActivations {
    height: usize,
    width: usize,
    channels: usize,
    words: Vec<u32>,
}

impl PackedActivations {
    fn geometry(height: usize, width: usize, channels: usize) -> Result<usize, KernelError> {
        nonzero("activation height", height)?;
        nonzero("activation width", width)?;
        nonzero("activation channels", channels)?;
        checked_product(
            "packed activation tensor",
            &[height, width, groups(channels), PLANES],
        )
    }

    /// All-zero (level 0) tensor.
    pub fn zeros(height: usize, width: usize, channels: usize) -> Result<Self, KernelError> {
        let n = Self::geometry(height, width, channels)?;
        Ok(Self {
            height,
            width,
            channels,
            words: vec![0; n],
        })
    }

    /// Packs HWC levels (`levels[(y * width + x) * channels + c]`, each in `0..=3`).
    pub fn from_levels(
        levels: &[u8],
        height: usize,
        width: usize,
        channels: usize,
    ) -> Result<Self, KernelError> {
        let mut t = Self::zeros(height, width, channels)?;
        check_len(
            "activation levels (HWC)",
            checked_product("activation levels", &[height, width, channels])?,
            levels.len(),
        )?;
        let g = t.groups();
        for (p, pixel) in levels.chunks_exact(channels).enumerate() {
            let out = &mut t.words[p * g * PLANES..(p + 1) * g * PLANES];
            for (c, &q) in pixel.iter().enumerate() {
                if q > MAX_LEVEL {
                    return Err(KernelError::LevelOutOfRange {
                        index: p * channels + c,
                        value: q,
                    });
                }
                let (gi, bit) = (c / GROUP_CHANNELS, c % GROUP_CHANNELS);
                out[gi * PLANES] |= u32::from(q & 1) << bit;
                out[gi * PLANES + 1] |= u32::from(q >> 1) << bit;
            }
        }
        Ok(t)
    }

    /// Wraps already packed words (e.g. from the FPGA), checking length and the zero tail.
    pub fn from_words(
        height: usize,
        width: usize,
        channels: usize,
        words: Vec<u32>,
    ) -> Result<Self, KernelError> {
        let n = Self::geometry(height, width, channels)?;
        check_len("packed activation words", n, words.len())?;
        let g = groups(channels);
        let tail = !group_mask(channels, g - 1);
        if tail != 0 {
            for (i, w) in words.iter().enumerate() {
                if (i / PLANES) % g == g - 1 && w & tail != 0 {
                    return Err(KernelError::NonZeroTail {
                        what: "packed activation words",
                        word: i,
                    });
                }
            }
        }
        Ok(Self {
            height,
            width,
            channels,
            words,
        })
    }

    /// Unpacks to HWC levels (inverse of [`Self::from_levels`]).
    pub fn to_levels(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.height * self.width * self.channels);
        let g = self.groups();
        for pixel in self.words.chunks_exact(g * PLANES) {
            for c in 0..self.channels {
                let (gi, bit) = (c / GROUP_CHANNELS, c % GROUP_CHANNELS);
                let b0 = (pixel[gi * PLANES] >> bit) & 1;
                let b1 = (pixel[gi * PLANES + 1] >> bit) & 1;
                out.push((b0 | (b1 << 1)) as u8);
            }
        }
        out
    }

    /// Level of one element.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn level(&self, y: usize, x: usize, c: usize) -> u8 {
        assert!(y < self.height && x < self.width && c < self.channels);
        let (gi, bit) = (c / GROUP_CHANNELS, c % GROUP_CHANNELS);
        let b0 = (self.words[self.word_index(y, x, gi, 0)] >> bit) & 1;
        let b1 = (self.words[self.word_index(y, x, gi, 1)] >> bit) & 1;
        (b0 | (b1 << 1)) as u8
    }

    /// Flat word index of `(y, x, group, bit plane)`: `((y * W + x) * G + g) * 2 + b`.
    pub fn word_index(&self, y: usize, x: usize, g: usize, b: usize) -> usize {
        ((y * self.width + x) * self.groups() + g) * PLANES + b
    }

    pub fn height(&self) -> usize {
        self.height
    }
    pub fn width(&self) -> usize {
        self.width
    }
    pub fn channels(&self) -> usize {
        self.channels
    }
    /// `ceil(channels / 32)`.
    pub fn groups(&self) -> usize {
        groups(self.channels)
    }
    /// `u32` words per pixel: `groups * 2`.
    pub fn words_per_pixel(&self) -> usize {
        self.groups() * PLANES
    }
    pub fn words(&self) -> &[u32] {
        &self.words
    }
    pub fn into_words(self) -> Vec<u32> {
        self.words
    }
}

/// Packed binary weights, `[o][ky][kx][group]` `u32` words, bit = 1 for `+1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedWeights {
    out_channels: usize,
    in_channels: usize,
    kernel: usize,
    words: Vec<u32>,
}

impl PackedWeights {
    fn geometry(
        out_channels: usize,
        in_channels: usize,
        kernel: usize,
    ) -> Result<usize, KernelError> {
        nonzero("weight output channels", out_channels)?;
        nonzero("weight input channels", in_channels)?;
        if kernel != 1 && kernel != 3 {
            return Err(KernelError::UnsupportedKernel { kernel });
        }
        // |acc| <= 3 * K * K * C_in must fit an i32 accumulator.
        let max_acc = checked_product("accumulator range", &[3, kernel, kernel, in_channels])?;
        if max_acc > i32::MAX as usize {
            return Err(KernelError::TooLarge {
                what: "accumulator range 3*K*K*C_in (exceeds i32)",
            });
        }
        checked_product(
            "packed weight tensor",
            &[out_channels, kernel, kernel, groups(in_channels)],
        )
    }

    /// Packs weights from a predicate `positive(o, c, ky, kx)` (`true` = `+1`, `false` = `-1`).
    pub fn from_fn(
        out_channels: usize,
        in_channels: usize,
        kernel: usize,
        mut positive: impl FnMut(usize, usize, usize, usize) -> bool,
    ) -> Result<Self, KernelError> {
        let n = Self::geometry(out_channels, in_channels, kernel)?;
        let g = groups(in_channels);
        let mut words = vec![0u32; n];
        for o in 0..out_channels {
            for c in 0..in_channels {
                for ky in 0..kernel {
                    for kx in 0..kernel {
                        if positive(o, c, ky, kx) {
                            let idx = ((o * kernel + ky) * kernel + kx) * g + c / GROUP_CHANNELS;
                            words[idx] |= 1 << (c % GROUP_CHANNELS);
                        }
                    }
                }
            }
        }
        Ok(Self {
            out_channels,
            in_channels,
            kernel,
            words,
        })
    }

    /// Packs `±1` signs given in OIHW order: `signs[((o * C_in + c) * K + ky) * K + kx]`.
    pub fn from_signs(
        signs: &[i8],
        out_channels: usize,
        in_channels: usize,
        kernel: usize,
    ) -> Result<Self, KernelError> {
        Self::geometry(out_channels, in_channels, kernel)?;
        let n = checked_product("weight signs", &[out_channels, in_channels, kernel, kernel])?;
        check_len("weight signs (OIHW)", n, signs.len())?;
        if let Some((index, &value)) = signs.iter().enumerate().find(|(_, &s)| s != 1 && s != -1) {
            return Err(KernelError::SignOutOfRange { index, value });
        }
        Self::from_fn(out_channels, in_channels, kernel, |o, c, ky, kx| {
            signs[((o * in_channels + c) * kernel + ky) * kernel + kx] > 0
        })
    }

    /// BipolarQuant of float OIHW weights: `+1` for `w >= 0` (so `-0.0` and `0.0` give `+1`),
    /// `-1` otherwise (NaN gives `-1`).
    pub fn from_f32_oihw(
        weights: &[f32],
        out_channels: usize,
        in_channels: usize,
        kernel: usize,
    ) -> Result<Self, KernelError> {
        Self::geometry(out_channels, in_channels, kernel)?;
        let n = checked_product(
            "float weights",
            &[out_channels, in_channels, kernel, kernel],
        )?;
        check_len("float weights (OIHW)", n, weights.len())?;
        Self::from_fn(out_channels, in_channels, kernel, |o, c, ky, kx| {
            weights[((o * in_channels + c) * kernel + ky) * kernel + kx] >= 0.0
        })
    }

    /// Wraps already packed words, checking length and the zero tail.
    pub fn from_words(
        out_channels: usize,
        in_channels: usize,
        kernel: usize,
        words: Vec<u32>,
    ) -> Result<Self, KernelError> {
        let n = Self::geometry(out_channels, in_channels, kernel)?;
        check_len("packed weight words", n, words.len())?;
        let g = groups(in_channels);
        let tail = !group_mask(in_channels, g - 1);
        if tail != 0 {
            for (i, w) in words.iter().enumerate() {
                if i % g == g - 1 && w & tail != 0 {
                    return Err(KernelError::NonZeroTail {
                        what: "packed weight words",
                        word: i,
                    });
                }
            }
        }
        Ok(Self {
            out_channels,
            in_channels,
            kernel,
            words,
        })
    }

    /// The weight `w(o, c, ky, kx)` as `+1` or `-1`.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn sign(&self, o: usize, c: usize, ky: usize, kx: usize) -> i8 {
        assert!(
            o < self.out_channels && c < self.in_channels && ky < self.kernel && kx < self.kernel
        );
        let w = self.words[self.word_index(o, ky, kx, c / GROUP_CHANNELS)];
        if (w >> (c % GROUP_CHANNELS)) & 1 == 1 {
            1
        } else {
            -1
        }
    }

    /// Flat word index of `(o, ky, kx, group)`: `((o * K + ky) * K + kx) * G + g`.
    pub fn word_index(&self, o: usize, ky: usize, kx: usize, g: usize) -> usize {
        ((o * self.kernel + ky) * self.kernel + kx) * self.groups() + g
    }

    pub fn out_channels(&self) -> usize {
        self.out_channels
    }
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }
    /// Kernel size `K` (1 or 3); padding is `K / 2`.
    pub fn kernel(&self) -> usize {
        self.kernel
    }
    /// `ceil(in_channels / 32)`.
    pub fn groups(&self) -> usize {
        groups(self.in_channels)
    }
    /// Words per output channel: `K * K * G`.
    pub fn words_per_output(&self) -> usize {
        self.kernel * self.kernel * self.groups()
    }
    pub fn words(&self) -> &[u32] {
        &self.words
    }
    pub fn into_words(self) -> Vec<u32> {
        self.words
    }
}

/// Per-output-channel thresholds `[T0, T1, T2, flags]` (flat `i32` words, 4 per channel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    words: Vec<i32>,
}

impl Thresholds {
    /// From one `[T0, T1, T2, flags]` row per output channel.
    pub fn from_rows(rows: &[[i32; 4]]) -> Result<Self, KernelError> {
        Self::from_words(rows.iter().flatten().copied().collect())
    }

    /// From the flat little-endian word layout (`4 * C_out` words).
    pub fn from_words(words: Vec<i32>) -> Result<Self, KernelError> {
        if words.is_empty() || !words.len().is_multiple_of(4) {
            return Err(KernelError::BufferLength {
                what: "threshold words (4 per output channel)",
                expected: words.len().div_ceil(4).max(1) * 4,
                actual: words.len(),
            });
        }
        for (channel, row) in words.chunks_exact(4).enumerate() {
            if row[3] & !FLAG_DESCENDING != 0 {
                return Err(KernelError::InvalidFlags {
                    channel,
                    flags: row[3],
                });
            }
        }
        Ok(Self { words })
    }

    /// Number of output channels.
    pub fn channels(&self) -> usize {
        self.words.len() / 4
    }

    /// Row `[T0, T1, T2, flags]` of output channel `o`.
    pub fn row(&self, o: usize) -> [i32; 4] {
        let r = &self.words[4 * o..4 * o + 4];
        [r[0], r[1], r[2], r[3]]
    }

    pub fn is_descending(&self, o: usize) -> bool {
        self.words[4 * o + 3] & FLAG_DESCENDING != 0
    }

    /// Output level for accumulator `acc` of channel `o` (the spec's formula, exact in `i32`).
    #[inline]
    pub fn level(&self, o: usize, acc: i32) -> u8 {
        let r = &self.words[4 * o..4 * o + 4];
        if r[3] & FLAG_DESCENDING == 0 {
            u8::from(acc >= r[0]) + u8::from(acc >= r[1]) + u8::from(acc >= r[2])
        } else {
            u8::from(acc <= r[0]) + u8::from(acc <= r[1]) + u8::from(acc <= r[2])
        }
    }

    /// Copy with `T0..T2` clamped into `[-32768, 32767]` (flags unchanged). Gives the same
    /// outputs as `self` for every `|acc| <= 32766` (guaranteed when `3·K·K·C_in <= 32766`).
    pub fn clamped(&self) -> Self {
        let (lo, hi) = THRESHOLD_CLAMP;
        let mut words = self.words.clone();
        for row in words.chunks_exact_mut(4) {
            for t in &mut row[..3] {
                *t = (*t).clamp(lo, hi);
            }
        }
        Self { words }
    }

    pub fn words(&self) -> &[i32] {
        &self.words
    }
    pub fn into_words(self) -> Vec<i32> {
        self.words
    }
}

#[cfg(test)]
mod tests {
    use super::super::random::Rng;
    use super::*;

    #[test]
    fn activation_round_trip_and_tail() {
        let mut rng = Rng::new(1);
        for &c in &[1usize, 5, 31, 32, 33, 63, 64, 65, 100] {
            for &(h, w) in &[(1usize, 1usize), (2, 3), (5, 4)] {
                let lv = rng.levels(h * w * c);
                let p = PackedActivations::from_levels(&lv, h, w, c).unwrap();
                assert_eq!(p.words().len(), h * w * groups(c) * 2);
                assert_eq!(p.to_levels(), lv);
                for y in 0..h {
                    for x in 0..w {
                        for ch in 0..c {
                            assert_eq!(p.level(y, x, ch), lv[(y * w + x) * c + ch]);
                        }
                    }
                }
                // the tail is zero, so from_words accepts the words back
                let q = PackedActivations::from_words(h, w, c, p.words().to_vec()).unwrap();
                assert_eq!(p, q);
            }
        }
    }

    #[test]
    fn activation_layout_matches_spec() {
        // H=1, W=2, C=40 (G=2); set q(0,1,33)=2 and q(0,0,0)=3, q(0,0,31)=1.
        let (h, w, c) = (1, 2, 40);
        let mut lv = vec![0u8; h * w * c];
        lv[c + 33] = 2;
        lv[0] = 3;
        lv[31] = 1;
        let p = PackedActivations::from_levels(&lv, h, w, c).unwrap();
        let mut expect = [0u32; 8];
        // ((y*W + x)*G + g)*2 + b
        expect[0] = 1 | (1 << 31); // pixel 0, g0, LSB plane
        expect[1] = 1; // pixel 0, g0, MSB plane
        expect[(2 + 1) * 2 + 1] = 1 << 1; // pixel 1, g1, MSB plane, bit 33-32
        assert_eq!(p.words(), &expect[..]);
        assert_eq!(p.word_index(0, 1, 1, 1), 7);
    }

    #[test]
    fn activation_errors() {
        assert_eq!(
            PackedActivations::from_levels(&[0, 4], 1, 1, 2),
            Err(KernelError::LevelOutOfRange { index: 1, value: 4 })
        );
        assert!(matches!(
            PackedActivations::from_levels(&[0; 5], 1, 2, 3),
            Err(KernelError::BufferLength {
                expected: 6,
                actual: 5,
                ..
            })
        ));
        assert!(matches!(
            PackedActivations::from_levels(&[], 0, 2, 3),
            Err(KernelError::ZeroDimension { .. })
        ));
        assert!(matches!(
            PackedActivations::from_words(1, 1, 33, vec![0, 0, 0]),
            Err(KernelError::BufferLength { expected: 4, .. })
        ));
        assert_eq!(
            PackedActivations::from_words(1, 1, 33, vec![0, 0, 0, 2]),
            Err(KernelError::NonZeroTail {
                what: "packed activation words",
                word: 3
            })
        );
        assert!(PackedActivations::from_words(1, 1, 33, vec![u32::MAX, u32::MAX, 1, 1]).is_ok());
        assert!(matches!(
            PackedActivations::zeros(usize::MAX, 3, 3),
            Err(KernelError::TooLarge { .. })
        ));
        let msg = KernelError::LevelOutOfRange { index: 1, value: 4 }.to_string();
        assert!(msg.contains("out of range"), "{msg}");
    }

    #[test]
    fn weight_round_trip_and_layout() {
        let mut rng = Rng::new(2);
        for &(o, c, k) in &[
            (1usize, 1usize, 1usize),
            (3, 33, 3),
            (5, 65, 1),
            (2, 100, 3),
        ] {
            let s = rng.signs(o * c * k * k);
            let wts = PackedWeights::from_signs(&s, o, c, k).unwrap();
            assert_eq!(wts.words().len(), o * k * k * groups(c));
            for oo in 0..o {
                for cc in 0..c {
                    for ky in 0..k {
                        for kx in 0..k {
                            assert_eq!(
                                wts.sign(oo, cc, ky, kx),
                                s[((oo * c + cc) * k + ky) * k + kx]
                            );
                        }
                    }
                }
            }
            let f: Vec<f32> = s.iter().map(|&v| if v > 0 { 0.0 } else { -0.5 }).collect();
            assert_eq!(PackedWeights::from_f32_oihw(&f, o, c, k).unwrap(), wts);
            assert_eq!(
                PackedWeights::from_words(o, c, k, wts.words().to_vec()).unwrap(),
                wts
            );
        }
        // explicit layout: o=1, ky=2, kx=0, c=34 (G=2) -> word ((1*3+2)*3+0)*2+1 = 31, bit 2
        let w = PackedWeights::from_fn(2, 40, 3, |o, c, ky, kx| (o, c, ky, kx) == (1, 34, 2, 0))
            .unwrap();
        for (i, &word) in w.words().iter().enumerate() {
            assert_eq!(word, if i == 31 { 1 << 2 } else { 0 }, "word {i}");
        }
    }

    #[test]
    fn weight_errors() {
        assert_eq!(
            PackedWeights::from_signs(&[1, 0], 1, 2, 1),
            Err(KernelError::SignOutOfRange { index: 1, value: 0 })
        );
        assert_eq!(
            PackedWeights::from_signs(&[1; 4], 1, 1, 2),
            Err(KernelError::UnsupportedKernel { kernel: 2 })
        );
        assert!(matches!(
            PackedWeights::from_signs(&[1; 8], 1, 1, 3),
            Err(KernelError::BufferLength {
                expected: 9,
                actual: 8,
                ..
            })
        ));
        assert!(matches!(
            PackedWeights::from_fn(0, 1, 1, |_, _, _, _| true),
            Err(KernelError::ZeroDimension { .. })
        ));
        assert!(matches!(
            PackedWeights::from_words(1, 5, 1, vec![1 << 5]),
            Err(KernelError::NonZeroTail { word: 0, .. })
        ));
        assert!(matches!(
            PackedWeights::from_fn(1, 1 << 28, 3, |_, _, _, _| true),
            Err(KernelError::TooLarge { .. })
        ));
        assert_eq!(
            PackedWeights::from_f32_oihw(&[f32::NAN, -0.0], 1, 2, 1)
                .unwrap()
                .words(),
            &[0b10]
        );
    }

    #[test]
    fn threshold_semantics_and_validation() {
        let t = Thresholds::from_rows(&[
            [-1, 0, 5, 0],
            [5, 0, -1, FLAG_DESCENDING],
            [i32::MIN, i32::MIN, i32::MAX, 0],
        ])
        .unwrap();
        assert_eq!(t.channels(), 3);
        let asc: Vec<u8> = [-2, -1, 0, 4, 5, 6]
            .iter()
            .map(|&a| t.level(0, a))
            .collect();
        assert_eq!(asc, [0, 1, 2, 2, 3, 3]);
        let desc: Vec<u8> = [-2, -1, 0, 4, 5, 6]
            .iter()
            .map(|&a| t.level(1, a))
            .collect();
        assert_eq!(desc, [3, 3, 2, 1, 1, 0]);
        assert!(t.is_descending(1) && !t.is_descending(0));
        let c = t.clamped();
        assert_eq!(c.row(2), [-32768, -32768, 32767, 0]);
        for acc in [-32766, -13824, 0, 13824, 32766] {
            for o in 0..3 {
                assert_eq!(t.level(o, acc), c.level(o, acc));
            }
            assert_eq!(t.level(2, acc), 2);
        }
        // beyond the documented range clamping is no longer exact
        assert_ne!(t.level(2, 32767), c.level(2, 32767));
        assert_eq!(
            Thresholds::from_rows(&[[0, 0, 0, 2]]),
            Err(KernelError::InvalidFlags {
                channel: 0,
                flags: 2
            })
        );
        assert!(matches!(
            Thresholds::from_words(vec![0; 5]),
            Err(KernelError::BufferLength {
                expected: 8,
                actual: 5,
                ..
            })
        ));
        assert!(Thresholds::from_words(vec![]).is_err());
    }
}
