//! Blueoil's `output.json`, version 0.2, for `IMAGE.KEYPOINT_DETECTION`.
//!
//! ```json
//! { "benchmark": {"total": {"mean": s, "std": s}, "pre": .., "run": .., "post": ..},
//!   "classes": [{"id": 0, "name": "person"}],
//!   "date": "2026-11-23T10:00:00+00:00",
//!   "results": [{"file_path": "...", "prediction": {
//!        "joints": [x0..x16, y0..y16, v0..v16],
//!        "keypoints": [{"name", "x", "y", "score", "visible"}, ..]}}],
//!   "task": "IMAGE.KEYPOINT_DETECTION",
//!   "version": 0.2 }
//! ```
//! `joints` is Blueoil's planar integer list; `keypoints` is our clearer
//! addition (float original-image pixels; invisible joints keep their peak
//! position and score). A grid detector (`GridOffsetToPoints`) adds
//! `points`: `[{"name", "class", "x", "y", "score"}, ..]`, any number per
//! class; its `joints`/`keypoints` hold the best point of each class. An image that could not be processed (unreadable,
//! corrupt, failed inference) has `{"file_path": "...", "error": "..."}` and
//! no `prediction`, so that the results of the other images are kept.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Mean and (population) standard deviation of a stage, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    pub mean: f64,
    pub std: f64,
}

impl MeanStd {
    pub fn of(samples: &[Duration]) -> MeanStd {
        let s = Stats::of(samples);
        MeanStd {
            mean: s.mean,
            std: s.std,
        }
    }
}

/// Summary statistics of durations, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    /// The middle sample (mean of the two middle ones for an even count): unlike the mean, a
    /// few runs slowed down by something else on the machine do not move it.
    pub median: f64,
    pub count: usize,
}

impl Stats {
    pub fn of(samples: &[Duration]) -> Stats {
        let n = samples.len();
        if n == 0 {
            return Stats {
                mean: 0.0,
                std: 0.0,
                min: 0.0,
                median: 0.0,
                count: 0,
            };
        }
        let secs: Vec<f64> = samples.iter().map(Duration::as_secs_f64).collect();
        let mean = secs.iter().sum::<f64>() / n as f64;
        let var = secs.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n as f64;
        let min = secs.iter().copied().fold(f64::INFINITY, f64::min);
        let mut sorted = secs.clone();
        sorted.sort_by(f64::total_cmp);
        let median = (sorted[(n - 1) / 2] + sorted[n / 2]) / 2.0;
        Stats {
            mean,
            std: var.sqrt(),
            min,
            median,
            count: n,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Benchmark {
    pub total: MeanStd,
    pub pre: MeanStd,
    pub run: MeanStd,
    pub post: MeanStd,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Class {
    pub id: usize,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keypoint {
    pub name: String,
    pub x: f32,
    pub y: f32,
    pub score: f32,
    pub visible: bool,
}

/// One point of a grid detector (`GridOffsetToPoints`), in original-image
/// pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointOut {
    /// The class's `KEYPOINTS.names` entry, and its index.
    pub name: String,
    pub class: usize,
    pub x: f32,
    pub y: f32,
    pub score: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub joints: Vec<i64>,
    pub keypoints: Vec<Keypoint>,
    /// Grid detectors only: every point kept, by class then score (the
    /// pose heads' entries have no such key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<Vec<PointOut>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageResult {
    pub file_path: String,
    /// Absent when the image failed (then `error` says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
    /// Why this image has no prediction; absent for a processed image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The overlay picture written for it, relative to output.json's folder (`lm run`'s
    /// addition; absent when none was written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputJson {
    pub benchmark: Benchmark,
    pub classes: Vec<Class>,
    pub date: String,
    pub results: Vec<ImageResult>,
    pub task: String,
    pub version: f64,
}

impl OutputJson {
    pub const VERSION: f64 = 0.2;

    pub fn classes(names: &[String]) -> Vec<Class> {
        names
            .iter()
            .enumerate()
            .map(|(id, name)| Class {
                id,
                name: name.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_points_are_one_more_key_beside_blueoils() {
        let p = Prediction {
            joints: vec![3, 4, 1],
            keypoints: vec![],
            points: Some(vec![PointOut {
                name: "wheel".into(),
                class: 0,
                x: 3.5,
                y: 4.25,
                score: 0.75,
            }]),
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"joints":[3,4,1],"keypoints":[],"points":[{"name":"wheel","class":0,"x":3.5,"y":4.25,"score":0.75}]}"#
        );
    }

    #[test]
    fn a_failed_image_has_an_error_and_no_prediction_and_a_good_one_no_error() {
        let good = ImageResult {
            overlay: None,
            file_path: "a.png".into(),
            prediction: Some(Prediction {
                joints: vec![1, 2, 1],
                keypoints: vec![],
                points: None,
            }),
            error: None,
        };
        let bad = ImageResult {
            overlay: None,
            file_path: "b.png".into(),
            prediction: None,
            error: Some("cannot decode image b.png".into()),
        };
        assert_eq!(
            serde_json::to_string(&good).unwrap(),
            r#"{"file_path":"a.png","prediction":{"joints":[1,2,1],"keypoints":[]}}"#
        );
        assert_eq!(
            serde_json::to_string(&bad).unwrap(),
            r#"{"file_path":"b.png","error":"cannot decode image b.png"}"#
        );
        let back: ImageResult =
            serde_json::from_str(r#"{"file_path":"b.png","error":"x"}"#).unwrap();
        assert_eq!((back.prediction, back.error.as_deref()), (None, Some("x")));
    }

    #[test]
    fn stats_match_numpy_population_std() {
        let d: Vec<Duration> = [1.0, 2.0, 4.0]
            .iter()
            .map(|s| Duration::from_secs_f64(*s))
            .collect();
        let s = Stats::of(&d);
        assert!((s.mean - 7.0 / 3.0).abs() < 1e-9);
        // np.std([1, 2, 4]) = 1.247219128924647
        assert!((s.std - 1.247_219_128_924_647).abs() < 1e-9);
        assert_eq!(s.min, 1.0);
        // np.median: the middle value, or the mean of the two middle ones.
        assert_eq!(s.median, 2.0);
        let even: Vec<Duration> = [5.0, 1.0, 4.0, 2.0]
            .iter()
            .map(|s| Duration::from_secs_f64(*s))
            .collect();
        assert!((Stats::of(&even).median - 3.0).abs() < 1e-9);
        assert_eq!(Stats::of(&[]).count, 0);
    }
}
