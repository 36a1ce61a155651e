//! Post-processors: model outputs → joints, one file per post-processor
//! (meta.yaml `POST_PROCESSOR`).
//!
//! - [`gaussian_heatmap_to_joints`]: Blueoil's `GaussianHeatmapToJoints`.
//! - [`heatmap_offset_to_joints`]: PoseNet-style heatmap + offset heads.

pub mod gaussian_heatmap_to_joints;
pub mod heatmap_offset_to_joints;

pub use gaussian_heatmap_to_joints::gaussian_heatmap_to_joints;
pub use heatmap_offset_to_joints::{heatmap_offset_to_joints, Offsets};

use crate::config::{DataFormat, PostProcessor};
use anyhow::{bail, ensure, Result};

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

/// Runs meta.yaml's post-processor on the model's outputs: the heatmaps
/// (`MODEL.output`) first, then the post-processor's extra outputs in the
/// order of [`PostProcessor::extra_outputs`]. Returns the heatmaps (for
/// diagnostics) and the joints in network-input pixels.
pub fn decode(post: &PostProcessor, outputs: &[OutputTensor]) -> Result<(Heatmaps, Vec<Joint>)> {
    let Some(first) = outputs.first() else {
        bail!("the model returned no output");
    };
    let heatmaps = Heatmaps::from_tensor(&first.shape, &first.data, post.data_format())?;
    let joints = match post {
        PostProcessor::GaussianHeatmapToJoints(p) => gaussian_heatmap_to_joints(&heatmaps, p),
        PostProcessor::HeatmapOffsetToJoints(p) => {
            ensure!(
                outputs.len() == 2,
                "HeatmapOffsetToJoints needs 2 model outputs (heatmaps, offsets), got {}",
                outputs.len()
            );
            let offsets = Offsets::from_tensor(&outputs[1].shape, &outputs[1].data, p)?;
            heatmap_offset_to_joints(&heatmaps, &offsets, p)?
        }
    };
    Ok((heatmaps, joints))
}
