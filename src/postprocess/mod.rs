//! Post-processors: model outputs → joints, one file per post-processor
//! (meta.yaml `POST_PROCESSOR`).
//!
//! - [`gaussian_heatmap_to_joints`]: Blueoil's `GaussianHeatmapToJoints`;
//!   [`flip_test`] averages in the mirrored picture's heatmaps first.
//! - [`heatmap_offset_to_joints`]: PoseNet-style heatmap + offset heads.
//! - [`coordinate_regression_to_joints`]: a vector of (normalised) x, y
//!   (and score) per joint.
//! - [`grid_offset_to_points`]: a grid detector's cells (offset + class
//!   scores) → any number of points per class, with a distance NMS.
//!
//! Each file holds its head's parameters (a serde struct with its defaults) and implements
//! [`Head`] for them: validation against meta.yaml, the check of the model's outputs (naming
//! the field at fault) and decoding. [`heads!`] below registers them.

pub mod coordinate_regression_to_joints;
pub mod flip_test;
pub mod gaussian_heatmap_to_joints;
pub mod grid_offset_to_points;
pub mod head;
pub mod heatmap_offset_to_joints;

pub use coordinate_regression_to_joints::{
    coordinate_regression_to_joints, CoordinateRegressionToJoints,
};
pub use gaussian_heatmap_to_joints::{gaussian_heatmap_to_joints, GaussianHeatmapToJoints};
pub use grid_offset_to_points::{grid_offset_to_points, GridOffsetToPoints, Point};
pub use head::Head;
pub use heatmap_offset_to_joints::{heatmap_offset_to_joints, HeatmapOffsetToJoints, Offsets};

use crate::config::{DataFormat, Meta};
use anyhow::{bail, ensure, Result};

/// Declares [`PostProcessor`], one variant per head, named as in meta.yaml and holding the
/// head's parameters.
macro_rules! heads {
    ($($name:ident),+ $(,)?) => {
        /// One entry of `POST_PROCESSOR`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum PostProcessor {
            $($name($name)),+
        }

        impl PostProcessor {
            /// The meta.yaml names, in registration order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),+];

            /// The meta.yaml name.
            pub fn name(&self) -> &'static str {
                match self {
                    $(PostProcessor::$name(_) => stringify!($name)),+
                }
            }

            /// What the head knows of itself.
            pub fn head(&self) -> &dyn Head {
                match self {
                    $(PostProcessor::$name(p) => p),+
                }
            }

            /// Reads the attributes of the entry `name` (one of [`PostProcessor::NAMES`]).
            pub(crate) fn parse_entry<'de, A: serde::de::MapAccess<'de>>(
                name: &str,
                map: &mut A,
            ) -> Result<Self, A::Error> {
                $(if name == stringify!($name) {
                    return Ok(PostProcessor::$name(map.next_value()?));
                })+
                Err(serde::de::Error::unknown_variant(name, Self::NAMES))
            }
        }
    };
}

// Every head, in the order meta.yaml errors list them.
heads!(
    GaussianHeatmapToJoints,
    HeatmapOffsetToJoints,
    CoordinateRegressionToJoints,
    GridOffsetToPoints,
);

/// Heatmaps of one image, normalised to `height × width × joints` (HWC).
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmaps {
    pub height: usize,
    pub width: usize,
    pub joints: usize,
    pub data: Vec<f32>,
}

impl Heatmaps {
    /// Wraps an HWC buffer.
    pub fn from_hwc(
        height: usize,
        width: usize,
        joints: usize,
        data: Vec<f32>,
    ) -> Result<Heatmaps> {
        ensure!(
            data.len() == height * width * joints,
            "heatmap buffer has {} values, expected {height}×{width}×{joints}",
            data.len()
        );
        Ok(Heatmaps {
            height,
            width,
            joints,
            data,
        })
    }

    /// Builds from a batch-1 4-D tensor laid out as `format`.
    pub fn from_tensor(shape: &[usize], data: &[f32], format: DataFormat) -> Result<Heatmaps> {
        ensure!(
            shape.len() == 4 && shape[0] == 1,
            "heatmap output must be 4-D with batch 1, found shape {shape:?}"
        );
        match format {
            DataFormat::NHWC => Heatmaps::from_hwc(shape[1], shape[2], shape[3], data.to_vec()),
            DataFormat::NCHW => {
                let (j, h, w) = (shape[1], shape[2], shape[3]);
                ensure!(
                    data.len() == j * h * w,
                    "heatmap buffer does not match shape {shape:?}"
                );
                let mut hwc = vec![0f32; data.len()];
                for c in 0..j {
                    for p in 0..h * w {
                        hwc[p * j + c] = data[c * h * w + p];
                    }
                }
                Heatmaps::from_hwc(h, w, j, hwc)
            }
        }
    }

    #[inline]
    pub fn at(&self, y: usize, x: usize, joint: usize) -> f32 {
        self.data[(y * self.width + x) * self.joints + joint]
    }

    /// First maximum of one channel in row-major order: (y, x, value).
    /// NaN never wins.
    pub fn argmax(&self, joint: usize) -> (usize, usize, f32) {
        let mut best = (0, 0, f32::NEG_INFINITY);
        for y in 0..self.height {
            for x in 0..self.width {
                let v = self.at(y, x, joint);
                if v > best.2 {
                    best = (y, x, v);
                }
            }
        }
        best
    }
}

/// One decoded joint, in network-input pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Joint {
    pub x: f32,
    pub y: f32,
    /// Peak value divided by `threshold_scale`: comparable with
    /// `confidence_threshold`.
    pub score: f32,
    pub visible: bool,
}

/// One raw f32 output tensor of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// What a post-processor decoded from one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The heatmaps of heatmap heads (diagnostics); `None` for the others.
    pub heatmaps: Option<Heatmaps>,
    /// One joint per `KEYPOINTS.names` entry, in network-input pixels.
    pub joints: Vec<Joint>,
    /// Every point of a grid detector (network-input pixels), by class and
    /// then score; `None` for the pose heads.
    pub points: Option<Vec<Point>>,
}

/// [`decode`] with the flip test (`GaussianHeatmapToJoints.flip_test`):
/// `mirrored` are the model's outputs on the left–right mirrored input; its
/// heatmaps are mirrored back and averaged with the plain ones, which are then
/// decoded (and returned as the heatmaps).
pub fn decode_flip_test(
    meta: &Meta,
    outputs: &[OutputTensor],
    mirrored: &[OutputTensor],
) -> Result<Decoded> {
    let PostProcessor::GaussianHeatmapToJoints(p) = &meta.post else {
        bail!("the flip test needs the GaussianHeatmapToJoints post-processor");
    };
    let plain = gaussian_heatmap_to_joints::heatmaps_of(outputs, p)?;
    let flipped = gaussian_heatmap_to_joints::heatmaps_of(mirrored, p)?;
    let pairs = flip_test::mirror_pairs(&meta.keypoints.names).map_err(anyhow::Error::msg)?;
    let fused = flip_test::fuse_mirrored(&plain, &flipped, &pairs, meta.input_hw().1, p.stride)?;
    let joints = gaussian_heatmap_to_joints(&fused, p);
    Ok(Decoded {
        heatmaps: Some(fused),
        joints,
        points: None,
    })
}

/// Runs meta.yaml's post-processor on the model's outputs: the main output
/// (`MODEL.output`) first, then the post-processor's extra outputs in the
/// order of [`Head::extra_outputs`].
pub fn decode(meta: &Meta, outputs: &[OutputTensor]) -> Result<Decoded> {
    ensure!(!outputs.is_empty(), "the model returned no output");
    meta.post.head().decode(meta, outputs)
}
