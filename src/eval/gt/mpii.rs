//! MPII as the json that mmpose and HRNet use: a list of
//! `{image, center: [x, y], scale, joints: 16 × [x, y], joints_vis: 16 × 0/1}`
//! (optionally `headbox: [x1, y1, x2, y2]`).
//!
//! Box: the square of side `scale × 200` centred on `center` (MPII's person
//! scale is relative to a 200 px tall person), as the coco17 index does.
//! PCKh head size: MPII's definition is 0.6 × the diagonal of the annotated
//! head rectangle (`SC_BIAS` in the MPII/HRNet evaluation code). The mmpose
//! json has no head rectangle (it lives in `mpii_gt_val.mat`), so unless a
//! `headbox` is given the head size is the head segment, the distance from
//! `upper_neck` to `head_top`, which that rectangle approximates.

use crate::eval::{BoxXywh, GroundTruth, GtJoint, Sample};
use anyhow::{ensure, Context, Result};
use serde::Deserialize;
use std::path::PathBuf;

/// mmpose's MPII joint order, in canonical names.
pub const MPII16_NAMES: [&str; 16] = [
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "pelvis",
    "thorax",
    "upper_neck",
    "head_top",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
];

/// MPII's head rectangle → head size factor.
pub const SC_BIAS: f64 = 0.6;

#[derive(Deserialize)]
struct Person {
    image: String,
    center: [f64; 2],
    scale: f64,
    joints: Vec<[f64; 2]>,
    joints_vis: Vec<f64>,
    #[serde(default)]
    headbox: Option<[f64; 4]>,
}

pub fn parse(text: &str) -> Result<GroundTruth> {
    let persons: Vec<Person> = serde_json::from_str(text).context("not MPII (mmpose) json")?;
    let mut samples = vec![];
    let mut skipped = vec![];
    let mut approximated = 0;
    for (ix, p) in persons.iter().enumerate() {
        ensure!(
            p.joints.len() == 16 && p.joints_vis.len() == 16,
            "[{ix}] ({}): {} joints and {} joints_vis, expected 16 each",
            p.image,
            p.joints.len(),
            p.joints_vis.len()
        );
        ensure!(
            p.scale.is_finite() && p.scale > 0.0,
            "[{ix}] ({}): scale {} must be positive",
            p.image,
            p.scale
        );
        let joints: Vec<GtJoint> = p
            .joints
            .iter()
            .zip(&p.joints_vis)
            .map(|(&[x, y], &vis)| {
                if vis > 0.0 {
                    GtJoint { x, y, v: 2 }
                } else {
                    GtJoint::UNLABELLED
                }
            })
            .collect();
        if joints.iter().all(|j| !j.labelled()) {
            skipped.push(format!("{}: no labelled joint", p.image));
            continue;
        }
        let head_size = match p.headbox {
            Some([x1, y1, x2, y2]) => {
                Some(SC_BIAS * ((x2 - x1).powi(2) + (y2 - y1).powi(2)).sqrt())
            }
            None => {
                let (neck, top) = (joints[8], joints[9]);
                (neck.labelled() && top.labelled()).then(|| {
                    approximated += 1;
                    ((top.x - neck.x).powi(2) + (top.y - neck.y).powi(2)).sqrt()
                })
            }
        };
        let side = p.scale * 200.0;
        samples.push(Sample {
            image: PathBuf::from(&p.image),
            dataset: "mpii".into(),
            bbox: BoxXywh {
                x: p.center[0] - side / 2.0,
                y: p.center[1] - side / 2.0,
                w: side,
                h: side,
            },
            bbox_from: "MPII center/scale (scale × 200 square)".into(),
            joints,
            area: side * side,
            head_size,
        });
    }
    let mut notes = vec![];
    if approximated > 0 {
        notes.push(format!(
            "PCKh head size of {approximated} person(s) is |head_top − upper_neck| (no headbox in the json)"
        ));
    }
    Ok(GroundTruth {
        joint_names: MPII16_NAMES.iter().map(|s| s.to_string()).collect(),
        samples,
        skipped,
        ignored: vec![],
        notes,
    })
}
