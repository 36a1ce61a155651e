//! An inference in Blueoil's terms: the planar integer `joints` list and the `prediction` of
//! `output.json` (also the pose of each JSON Lines record of `lm stream`).

use super::json::{ImageResult, Keypoint, PointOut, Prediction};
use crate::config::Meta;
use crate::pose::{Inference, Pose};
use crate::postprocess::Joint;
use std::path::Path;

/// Blueoil's planar `joints` list `[x0..xn, y0..yn, v0..vn]` of joints found on the whole
/// image: network-input coordinates scaled per axis to the image (`image_size`: width,
/// height) and truncated to integers (f32 arithmetic, as numpy does on Blueoil's float32
/// joints); invisible joints are 0, 0, 0.
pub fn scaled_planar_joints(
    network_joints: &[Joint],
    image_size: (u32, u32),
    input_hw: (usize, usize),
) -> Vec<i64> {
    let sx = image_size.0 as f32 / input_hw.1 as f32;
    let sy = image_size.1 as f32 / input_hw.0 as f32;
    let n = network_joints.len();
    let mut out = vec![0i64; 3 * n];
    for (i, j) in network_joints.iter().enumerate() {
        if j.visible {
            out[i] = (j.x * sx) as i64;
            out[n + i] = (j.y * sy) as i64;
            out[2 * n + i] = 1;
        }
    }
    out
}

/// Blueoil's planar list from a pose's own (image-pixel) joints: the visible joints'
/// coordinates truncated to integers. Equal to [`scaled_planar_joints`] for a pose scaled
/// from the whole image; also right for a pose found on a crop, or filtered (`lm stream`'s
/// `TEMPORAL`).
pub fn planar_joints(pose: &Pose) -> Vec<i64> {
    let n = pose.joints.len();
    let mut out = vec![0i64; 3 * n];
    for (i, j) in pose.joints.iter().enumerate() {
        if j.visible {
            out[i] = j.x as i64;
            out[n + i] = j.y as i64;
            out[2 * n + i] = 1;
        }
    }
    out
}

/// The output.json entry of one image.
pub fn image_result(meta: &Meta, path: &Path, inference: &Inference) -> ImageResult {
    ImageResult {
        file_path: path.display().to_string(),
        prediction: Some(prediction(meta, inference)),
        error: None,
        overlay: None,
    }
}

/// Blueoil's `prediction` of one inference: planar `joints` and named `keypoints` (and a grid
/// detector's `points`).
pub fn prediction(meta: &Meta, inference: &Inference) -> Prediction {
    let names = &meta.keypoints.names;
    let keypoints = inference
        .pose
        .joints
        .iter()
        .zip(names)
        .map(|(j, name)| Keypoint {
            name: name.clone(),
            x: j.x,
            y: j.y,
            score: j.score,
            visible: j.visible,
        })
        .collect();
    let points = inference.pose.points.as_ref().map(|points| {
        points
            .iter()
            .map(|p| PointOut {
                name: names.get(p.class).cloned().unwrap_or_default(),
                class: p.class,
                x: p.x,
                y: p.y,
                score: p.score,
            })
            .collect()
    });
    Prediction {
        joints: scaled_planar_joints(
            &inference.network_joints,
            inference.pose.image_size,
            meta.input_hw(),
        ),
        keypoints,
        points,
    }
}
