//! What the model gave for each sample: a [`Prediction`], or a [`Failure`] that names the
//! image and why.

use std::path::PathBuf;

/// One predicted joint in original-image pixels: (x, y, score, visible).
pub type PredictedJoint = (f64, f64, f64, bool);

/// The model's joints for one sample, in original-image pixels, in the
/// model's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub sample: usize,
    /// (x, y, score, visible)
    pub joints: Vec<PredictedJoint>,
}

impl Prediction {
    /// COCOeval's instance score for a single-person prediction: the mean
    /// score of the joints the model calls visible (0 when none is).
    pub fn score(&self) -> f64 {
        let vis: Vec<f64> = self.joints.iter().filter(|j| j.3).map(|j| j.2).collect();
        if vis.is_empty() {
            0.0
        } else {
            vis.iter().sum::<f64>() / vis.len() as f64
        }
    }
}

/// A sample that could not be evaluated.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Failure {
    pub sample: usize,
    pub image: PathBuf,
    pub error: String,
}
