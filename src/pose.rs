//! What one inference gives: the [`Pose`] in the image's own pixels, the joints in
//! network-input pixels, the heatmaps of heatmap heads, and the time of each stage.

use crate::postprocess::{Heatmaps, Joint, Point};
use std::time::Duration;

/// Joints of one image, in that image's own pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Pose {
    /// Original image (width, height).
    pub image_size: (u32, u32),
    pub joints: Vec<Joint>,
    /// A grid detector's points (any number per class); `None` for pose
    /// heads.
    pub points: Option<Vec<Point>>,
}

/// Wall time of each stage of one image.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    pub pre: Duration,
    pub run: Duration,
    pub post: Duration,
}

impl StageTimes {
    pub fn total(&self) -> Duration {
        self.pre + self.run + self.post
    }
}

/// Everything one inference produced.
#[derive(Debug, Clone)]
pub struct Inference {
    /// The decoded heatmaps, for heatmap heads.
    pub heatmaps: Option<Heatmaps>,
    /// Joints in network-input pixels.
    pub network_joints: Vec<Joint>,
    /// Joints in original-image pixels.
    pub pose: Pose,
    pub times: StageTimes,
}
