//! `lm eval`: a model measured on labelled images.
//!
//! Ground truth in one of several formats ([`gt`]: COCO, the project's
//! `gt_coco17.json` index, MPII as mmpose/HRNet store it, StanfordExtra,
//! `filename box points` text, CSV) becomes a list of [`Sample`]s: one
//! annotated instance each, joints in original-image pixels. [`joints`] pairs
//! the model's joint names (meta.yaml `KEYPOINTS.names`) with the ground
//! truth's by name; [`crop`] cuts the square crop a single-person model sees
//! and maps joints back; [`metrics`] scores (PCK, PCKh, COCO OKS AP/AR, pixel
//! error), [`metric_list`] picks the columns shown (`--metric`); [`report`]
//! prints the tables; [`files`] writes `report.json`, the COCO results files and
//! [`plot`]'s PCK curve. [`run`] drives it all ([`options`] in, [`prediction`]s through).

pub mod crop;
pub mod files;
pub mod gt;
pub mod joints;
pub mod metric_list;
pub mod metrics;
pub mod options;
pub mod plot;
pub mod prediction;
pub mod report;
pub mod run;

pub use options::{CropMode, EvalOptions};
pub use prediction::{Failure, Prediction};
pub use run::{evaluate, EvalOutcome};

use std::path::PathBuf;

/// One labelled joint in original-image pixels; `v` as COCO: 0 = not
/// labelled, 1 = labelled but occluded, 2 = labelled and visible.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct GtJoint {
    pub x: f64,
    pub y: f64,
    pub v: u8,
}

impl GtJoint {
    pub const UNLABELLED: GtJoint = GtJoint {
        x: 0.0,
        y: 0.0,
        v: 0,
    };

    pub fn labelled(&self) -> bool {
        self.v > 0
    }
}

/// An axis-aligned box in pixels: top-left corner, width, height.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BoxXywh {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl BoxXywh {
    pub fn longer_side(&self) -> f64 {
        self.w.max(self.h)
    }

    pub fn centre(&self) -> (f64, f64) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }

    /// The tight box around the labelled joints (None without any).
    pub fn around(joints: &[GtJoint]) -> Option<BoxXywh> {
        let labelled: Vec<&GtJoint> = joints.iter().filter(|j| j.labelled()).collect();
        if labelled.is_empty() {
            return None;
        }
        let fold = |f: fn(f64, f64) -> f64, init: f64, get: fn(&GtJoint) -> f64| {
            labelled.iter().map(|j| get(j)).fold(init, f)
        };
        let (x0, x1) = (
            fold(f64::min, f64::INFINITY, |j| j.x),
            fold(f64::max, f64::NEG_INFINITY, |j| j.x),
        );
        let (y0, y1) = (
            fold(f64::min, f64::INFINITY, |j| j.y),
            fold(f64::max, f64::NEG_INFINITY, |j| j.y),
        );
        Some(BoxXywh {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        })
    }
}

/// One annotated instance (person, dog) of one image.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Image path as the ground truth names it (resolved against `--images`).
    pub image: PathBuf,
    /// Data set the instance comes from (`gt_coco17.json`'s `dataset`, else
    /// the format's name).
    pub dataset: String,
    /// The instance's box; the tight box around its joints when the format
    /// has none.
    pub bbox: BoxXywh,
    /// Where `bbox` came from (annotation, MPII centre/scale, joint extent).
    pub bbox_from: String,
    /// One entry per [`GroundTruth::joint_names`].
    pub joints: Vec<GtJoint>,
    /// Object area for COCO OKS (COCO's segmentation `area`; else the box's).
    pub area: f64,
    /// MPII's head segment length for PCKh, when the format gives one.
    pub head_size: Option<f64>,
}

impl Sample {
    pub fn labelled_count(&self) -> usize {
        self.joints.iter().filter(|j| j.labelled()).count()
    }
}

/// A ground-truth file read into samples.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    /// Joint names of the file, in its order (canonical spelling, see
    /// [`joints::canonical`]).
    pub joint_names: Vec<String>,
    pub samples: Vec<Sample>,
    /// Instances the format says to leave out (COCO crowd regions, persons
    /// without labelled joints), with why: counted in the report.
    pub skipped: Vec<String>,
    /// COCO's ignored annotations (crowd regions, `num_keypoints == 0`):
    /// not scored, but as in COCOeval a prediction matching one is neither a
    /// true nor a false positive.
    pub ignored: Vec<IgnoredInstance>,
    /// How the file was interpreted where the format leaves a choice.
    pub notes: Vec<String>,
}

/// An annotation COCOeval keeps as "ignore" (see [`GroundTruth::ignored`]).
#[derive(Debug, Clone, PartialEq)]
pub struct IgnoredInstance {
    pub image: PathBuf,
    pub joints: Vec<GtJoint>,
    pub bbox: BoxXywh,
    pub area: f64,
    pub iscrowd: bool,
}
