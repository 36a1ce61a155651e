//! Test and benchmark workloads for the accelerator: the quantised conv layers of the
//! default model and deterministic random operands (used by `tests/accel_*.rs` and
//! `examples/fpga_cycles.rs`).

use crate::kernels::{self, KernelKind, PackedActivations, PackedWeights, Thresholds};

/// One quantised conv layer shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerShape {
    pub name: &'static str,
    pub height: usize,
    pub width: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    /// Occurrences per frame in the runtime's graph (output stride 8). 0 for a conv that the
    /// export contains but that is dead code at stride 8 (tract drops it; never run).
    pub count: usize,
}

impl LayerShape {
    /// MACs of one occurrence: `H·W·K²·C_in·C_out`.
    pub fn macs(&self) -> u64 {
        (self.height
            * self.width
            * self.kernel
            * self.kernel
            * self.in_channels
            * self.out_channels) as u64
    }
}

const fn l(
    name: &'static str,
    hw: usize,
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    count: usize,
) -> LayerShape {
    LayerShape {
        name,
        height: hw,
        width: hw,
        in_channels,
        out_channels,
        kernel,
        count,
    }
}

/// The quantised (binary-weight) convolutions of the default model
/// (LmSinglePoseV1Quantize, `meta/lm_single_pose_v1_quantize.yaml`) at its 160×160 input,
/// one entry per distinct shape, in graph order: the 3×3 backbone (conv2–conv17), the 1×1
/// laterals c1–c5 and the 3×3 top-down `connect_block1` (10×10) / `connect_block2` (20×20).
///
/// `count` is the number of occurrences per frame as the runtime runs the model at output
/// stride 8: the 21 live convs. The laterals c1 (80×80) and c2 (40×40) are in the export
/// but only feed top-down blocks of smaller output strides, so they are dead code at
/// stride 8 (tract drops them): `count` 0, listed only so that tests still exercise their
/// shapes. `tests/integration/accel_model.rs` checks this list against the fused layers of the
/// shipped model.
pub const MODEL_LAYERS: &[LayerShape] = &[
    l("80x80 128->32 3x3", 80, 128, 32, 3, 1),   // conv2
    l("80x80 32->32 3x3", 80, 32, 32, 3, 1),     // conv3
    l("40x40 128->32 3x3", 40, 128, 32, 3, 1),   // conv4
    l("40x40 32->32 3x3", 40, 32, 32, 3, 2),     // conv5, conv6
    l("20x20 128->64 3x3", 20, 128, 64, 3, 1),   // conv7
    l("20x20 64->64 3x3", 20, 64, 64, 3, 2),     // conv8, conv9
    l("10x10 256->128 3x3", 10, 256, 128, 3, 1), // conv10
    l("10x10 128->128 3x3", 10, 128, 128, 3, 2), // conv11, conv12
    l("5x5 512->256 3x3", 5, 512, 256, 3, 1),    // conv13
    l("5x5 256->256 3x3", 5, 256, 256, 3, 4),    // conv14 .. conv17
    l("lat 80x80 32->32 1x1 (c1, dead)", 80, 32, 32, 1, 0),
    l("lat 40x40 32->32 1x1 (c2, dead)", 40, 32, 32, 1, 0),
    l("lat 20x20 64->32 1x1", 20, 64, 32, 1, 1),   // c3
    l("lat 10x10 128->32 1x1", 10, 128, 32, 1, 1), // c4
    l("lat 5x5 256->32 1x1", 5, 256, 32, 1, 1),    // c5
    l("td 10x10 64->32 3x3", 10, 64, 32, 3, 1),    // connect_block1
    l("td 20x20 64->32 3x3", 20, 64, 32, 3, 1),    // connect_block2
];

/// Number of quantised convs the runtime runs per frame (Σ `count` of [`MODEL_LAYERS`]).
pub const LIVE_CONVS_PER_FRAME: usize = 21;

pub use crate::kernels::random::Rng;

/// Random operands of one layer.
#[derive(Debug, Clone)]
pub struct Operands {
    pub input: PackedActivations,
    pub weights: PackedWeights,
    pub thresholds: Thresholds,
}

/// Random input and weights of the given shape, and thresholds drawn around the accumulators
/// actually produced (so that ties `acc == T` occur), mixing ascending, descending and
/// constant (`i32::MIN` / `i32::MAX`) channels.
pub fn random_operands(
    seed: u64,
    height: usize,
    width: usize,
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
) -> Result<Operands, kernels::KernelError> {
    let mut rng = Rng::new(seed);
    let levels = rng.levels(height * width * in_channels);
    let input = PackedActivations::from_levels(&levels, height, width, in_channels)?;
    let weights = PackedWeights::from_fn(out_channels, in_channels, kernel, |_, _, _, _| {
        rng.next_u64() >> 63 == 1
    })?;
    let acc = kernels::qconv2d_acc(KernelKind::best(), &input, &weights, 0)?;
    let thresholds = kernels::random::thresholds_around(&mut rng, &acc, out_channels)?;
    Ok(Operands {
        input,
        weights,
        thresholds,
    })
}
