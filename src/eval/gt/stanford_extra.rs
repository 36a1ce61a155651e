//! StanfordExtra (dog keypoints) json: a list of `{img_path, img_bbox:
//! [x, y, w, h], joints: 24 × [x, y, v], ...}`. Joint names follow the data
//! set's `keypoint_definitions.csv`.

use crate::eval::{BoxXywh, GroundTruth, GtJoint, Sample};
use anyhow::{ensure, Context, Result};
use serde::Deserialize;
use std::path::PathBuf;

pub const STANFORD_EXTRA_NAMES: [&str; 24] = [
    "left_front_paw",
    "left_front_knee",
    "left_front_elbow",
    "left_rear_paw",
    "left_rear_knee",
    "left_rear_elbow",
    "right_front_paw",
    "right_front_knee",
    "right_front_elbow",
    "right_rear_paw",
    "right_rear_knee",
    "right_rear_elbow",
    "tail_start",
    "tail_end",
    "left_ear_base",
    "right_ear_base",
    "nose",
    "chin",
    "left_ear_tip",
    "right_ear_tip",
    "left_eye",
    "right_eye",
    "withers",
    "throat",
];

#[derive(Deserialize)]
struct Dog {
    img_path: String,
    img_bbox: [f64; 4],
    joints: Vec<[f64; 3]>,
}

pub fn parse(text: &str) -> Result<GroundTruth> {
    let dogs: Vec<Dog> = serde_json::from_str(text).context("not StanfordExtra json")?;
    let mut samples = vec![];
    let mut skipped = vec![];
    for (ix, d) in dogs.iter().enumerate() {
        ensure!(
            d.joints.len() == 24,
            "[{ix}] ({}): {} joints, expected 24",
            d.img_path,
            d.joints.len()
        );
        let joints: Vec<GtJoint> = d
            .joints
            .iter()
            .map(|&[x, y, v]| {
                if v > 0.0 {
                    GtJoint { x, y, v: 2 }
                } else {
                    GtJoint::UNLABELLED
                }
            })
            .collect();
        if joints.iter().all(|j| !j.labelled()) {
            skipped.push(format!("{}: no labelled joint", d.img_path));
            continue;
        }
        let [x, y, w, h] = d.img_bbox;
        samples.push(Sample {
            image: PathBuf::from(&d.img_path),
            dataset: "stanford-extra".into(),
            bbox: BoxXywh { x, y, w, h },
            bbox_from: "annotation".into(),
            joints,
            area: w * h,
            head_size: None,
        });
    }
    Ok(GroundTruth {
        joint_names: STANFORD_EXTRA_NAMES.iter().map(|s| s.to_string()).collect(),
        samples,
        skipped,
        ignored: vec![],
        notes: vec![],
    })
}
