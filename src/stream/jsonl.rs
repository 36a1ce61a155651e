//! One JSON object per frame (JSON Lines): what `--jsonl`, `--record` and `/events` give.
//!
//! ```json
//! {"frame": 12, "timestamp": 1796212345.123456, "source": "v4l2:/dev/video0", "width": 320,
//!  "height": 240, "joints": [x0.., y0.., v0..], "keypoints": [{"name", "x", "y", "score",
//!  "visible"}, ..], "times": {"queue": s, "pre": s, "run": s, "post": s}, "latency": s}
//! ```
//! `joints` and `keypoints` are exactly those of `lm run`'s output.json; `timestamp` is the
//! capture time (Unix seconds), `times.queue` the wait between capture and inference, and
//! `latency` capture → pose ready (seconds). With meta.yaml `TEMPORAL` on, both are the
//! filtered pose in frame pixels, and `"crop": {"x", "y", "width", "height"}` names the region
//! inferred on (absent: the whole frame). A frame of an image folder names its `"file"`.

use super::temporal::crop::Region;
use crate::output::json::{Keypoint, PointOut};
use crate::pipeline::Pipeline;
use crate::pose::Inference;
use serde::{Deserialize, Serialize};
use std::time::{Duration, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameTimes {
    pub queue: f64,
    pub pre: f64,
    pub run: f64,
    pub post: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameRecord {
    pub frame: u64,
    pub timestamp: f64,
    pub source: String,
    /// The image file of a folder source's frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub width: u32,
    pub height: u32,
    pub joints: Vec<i64>,
    pub keypoints: Vec<Keypoint>,
    /// Grid detectors' points (as output.json's); absent for pose heads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<Vec<PointOut>>,
    pub times: FrameTimes,
    pub latency: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<Region>,
}

impl FrameRecord {
    pub fn new(
        pipeline: &Pipeline,
        source: &str,
        frame: &super::Frame,
        inference: &Inference,
        queue: Duration,
        latency: Duration,
    ) -> FrameRecord {
        let prediction = crate::output::blueoil::prediction(&pipeline.meta, inference);
        let (width, height) = frame.image.dimensions();
        FrameRecord {
            frame: frame.number,
            timestamp: frame
                .captured
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            source: source.to_string(),
            file: frame.file.as_ref().map(|p| p.display().to_string()),
            width,
            height,
            joints: prediction.joints,
            keypoints: prediction.keypoints,
            points: prediction.points,
            times: FrameTimes {
                queue: queue.as_secs_f64(),
                pre: inference.times.pre.as_secs_f64(),
                run: inference.times.run.as_secs_f64(),
                post: inference.times.post.as_secs_f64(),
            },
            latency: latency.as_secs_f64(),
            crop: None,
        }
    }

    /// For a pose from [`super::temporal::Temporal`]: Blueoil's `joints` list from the pose
    /// itself (it was found on `crop`, or filtered), and the crop.
    pub fn with_temporal(mut self, inference: &Inference, crop: Option<Region>) -> FrameRecord {
        self.joints = crate::output::blueoil::planar_joints(&inference.pose);
        self.crop = crop;
        self
    }

    pub fn visible_joints(&self) -> usize {
        self.keypoints.iter().filter(|k| k.visible).count()
    }
}
