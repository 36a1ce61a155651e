//! `CoordinateRegressionToJoints`: a regression vector → joints.
//!
//! Direct coordinate regression heads (the keras-io StanfordExtra model: a
//! MobileNetV2 backbone, two separable convs, a sigmoid, 24 dog joints)
//! output one vector per image holding, per joint, the `components` in
//! order — `x0, y0, x1, y1, ...` by default, or component by component with
//! `planar` (`x0..xK-1, y0..yK-1`). Whatever the tensor's shape (`[1, 48]`,
//! `[1, 1, 1, 48]`, `[1, 48, 1, 1]`), the values are read in memory order.
//!
//! Per joint: `x = v_x` (through a sigmoid with `sigmoid`), times the input
//! width when `normalized` (keras-io divides the labels by the image size);
//! `y` likewise with the height. With a `score` component the joint's score
//! is that value (through a sigmoid with `score_sigmoid`) and it is visible
//! iff the score reaches `confidence_threshold`; without one every joint is
//! visible with score 1.
//!
//! f32 arithmetic in this order, so that a float32 numpy decoding gives the
//! same bits (tests/python/check_heads.py).

use super::head::{main_output, Head};
use super::{Decoded, Joint, OutputTensor};
use crate::config::{ConfigError, Meta};
use anyhow::{bail, ensure, Result};
use serde::Deserialize;
use std::path::Path;

/// What each joint's slice of a coordinate-regression output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[allow(non_camel_case_types)]
pub enum Component {
    x,
    y,
    /// A per-joint confidence or visibility.
    score,
}

fn default_components() -> Vec<Component> {
    vec![Component::x, Component::y]
}

fn default_true() -> bool {
    true
}

/// Our extension (direct coordinate regression, e.g. a MobileNetV2 with a
/// dense head): one output vector holding, per joint, the `components` in
/// order (`x0, y0, x1, y1, ...`), or component by component with `planar`
/// (`x0..xK-1, y0..yK-1`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoordinateRegressionToJoints {
    #[serde(default = "default_components")]
    pub components: Vec<Component>,
    #[serde(default)]
    pub planar: bool,
    /// Coordinates are fractions of the input's width and height (keras-io's
    /// `keypoints / IMG_SIZE`); `false`: network-input pixels.
    #[serde(default = "default_true")]
    pub normalized: bool,
    /// Coordinates are logits: x = sigmoid(value).
    #[serde(default)]
    pub sigmoid: bool,
    /// The score is a logit: score = sigmoid(value).
    #[serde(default)]
    pub score_sigmoid: bool,
    /// Cut-off on the score, inclusive; only with a `score` component
    /// (without one, every joint is visible).
    #[serde(default)]
    pub confidence_threshold: Option<f64>,
}

impl Head for CoordinateRegressionToJoints {
    fn confidence_threshold(&self) -> f64 {
        // Without a score component every joint is visible.
        self.confidence_threshold.unwrap_or(0.0)
    }

    fn validate(&self, meta: &Meta) -> Result<(), ConfigError> {
        let field = "POST_PROCESSOR.CoordinateRegressionToJoints";
        let count = |c: Component| self.components.iter().filter(|&&d| d == c).count();
        if count(Component::x) != 1 || count(Component::y) != 1 || count(Component::score) > 1 {
            return Err(meta.error(
                &format!("{field}.components"),
                format!(
                    "{:?} must hold x and y once each and score at most once",
                    self.components
                ),
            ));
        }
        let has_score = count(Component::score) == 1;
        match (self.confidence_threshold, has_score) {
            (Some(_), false) => {
                return Err(meta.error(
                    &format!("{field}.confidence_threshold"),
                    "needs a `score` in `components` (without one every joint is visible)",
                ))
            }
            (None, true) => {
                return Err(meta.error(
                    &format!("{field}.components"),
                    "a `score` component needs `confidence_threshold`",
                ))
            }
            (Some(t), true)
                if !t.is_finite() || (self.score_sigmoid && !(0.0..=1.0).contains(&t)) =>
            {
                return Err(meta.error(
                    &format!("{field}.confidence_threshold"),
                    format!("{t} must be finite (and within 0..=1 with score_sigmoid)"),
                ))
            }
            _ => {}
        }
        if self.score_sigmoid && !has_score {
            return Err(meta.error(
                &format!("{field}.score_sigmoid"),
                "there is no `score` in `components` to apply it to",
            ));
        }
        Ok(())
    }

    fn check_outputs(
        &self,
        meta: &Meta,
        shapes: &[Vec<usize>],
        path: &Path,
    ) -> Result<(usize, Vec<usize>)> {
        check_outputs(meta, self, shapes, path)?;
        main_output(shapes, path)
    }

    fn decode(&self, meta: &Meta, outputs: &[OutputTensor]) -> Result<Decoded> {
        let Some(vector) = outputs.first() else {
            bail!("the model returned no output");
        };
        Ok(Decoded {
            heatmaps: None,
            joints: coordinate_regression_to_joints(vector, self, meta.input_hw())?,
            points: None,
        })
    }
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// Values per image of an output of `shape`: everything after a batch of 1
/// (a rank-1 tensor is one image's vector).
fn per_image(shape: &[usize]) -> Option<usize> {
    match shape {
        [n] => Some(*n),
        [1, rest @ ..] => Some(rest.iter().product()),
        _ => None,
    }
}

/// Decodes every joint; `input_hw` is the network input (height, width).
pub fn coordinate_regression_to_joints(
    out: &OutputTensor,
    p: &CoordinateRegressionToJoints,
    input_hw: (usize, usize),
) -> Result<Vec<Joint>> {
    let Some(n) = per_image(&out.shape) else {
        bail!(
            "regression output must be batch 1, found shape {:?}",
            out.shape
        );
    };
    let c = p.components.len();
    ensure!(
        c > 0 && n % c == 0 && out.data.len() == n,
        "regression output of shape {:?} ({} values) is not a whole number of joints × {:?}",
        out.shape,
        out.data.len(),
        p.components
    );
    let k = n / c;
    let at = |joint: usize, comp: usize| {
        if p.planar {
            out.data[comp * k + joint]
        } else {
            out.data[joint * c + comp]
        }
    };
    let index = |want: Component| p.components.iter().position(|&d| d == want);
    let (Some(ix), Some(iy)) = (index(Component::x), index(Component::y)) else {
        bail!("components {:?} lack x or y", p.components);
    };
    let is = index(Component::score);
    let (h, w) = (input_hw.0 as f32, input_hw.1 as f32);
    let coordinate = |v: f32, side: f32| {
        let v = if p.sigmoid { sigmoid(v) } else { v };
        if p.normalized {
            v * side
        } else {
            v
        }
    };
    Ok((0..k)
        .map(|j| {
            let score = match is {
                Some(i) if p.score_sigmoid => sigmoid(at(j, i)),
                Some(i) => at(j, i),
                None => 1.0,
            };
            let visible = match (is, p.confidence_threshold) {
                (Some(_), Some(t)) => (score as f64) >= t,
                _ => true,
            };
            Joint {
                x: coordinate(at(j, ix), w),
                y: coordinate(at(j, iy), h),
                score,
                visible,
            }
        })
        .collect())
}

/// Checks the regression output (the only output, or `MODEL.output`)
/// against meta.yaml: batch 1 and `joints × components` values per image.
pub fn check_outputs(
    meta: &Meta,
    p: &CoordinateRegressionToJoints,
    shapes: &[Vec<usize>],
    path: &Path,
) -> Result<()> {
    let field = "POST_PROCESSOR.CoordinateRegressionToJoints";
    let Some(shape) = shapes.first() else {
        bail!("model {} has no output", path.display());
    };
    let joints = meta.keypoints.names.len();
    let want = joints * p.components.len();
    // Name `components` where it is written, else the post-processor.
    let at = if meta.source.contains("components:") {
        format!("{field}.components")
    } else {
        field.to_string()
    };
    match per_image(shape) {
        Some(n) if n == want => Ok(()),
        Some(n) => bail!(meta.error(
            &at,
            format!(
                "model {} outputs shape {shape:?}, {n} values per image, but {joints} joints (KEYPOINTS.names, default COCO-17) × {:?} need {want}",
                path.display(),
                p.components
            )
        )),
        None => bail!(meta.error(
            &at,
            format!(
                "model {} outputs shape {shape:?}: not one vector of batch 1",
                path.display()
            )
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(components: &[Component], planar: bool) -> CoordinateRegressionToJoints {
        CoordinateRegressionToJoints {
            components: components.to_vec(),
            planar,
            normalized: true,
            sigmoid: false,
            score_sigmoid: false,
            confidence_threshold: None,
        }
    }

    fn tensor(shape: &[usize], data: &[f32]) -> OutputTensor {
        OutputTensor {
            shape: shape.to_vec(),
            data: data.to_vec(),
        }
    }

    use Component::{score, x, y};

    #[test]
    fn interleaved_xy_is_scaled_by_width_and_height() {
        // keras-io layout: x0, y0, x1, y1 on a 100 (h) × 200 (w) input.
        let out = tensor(&[1, 1, 1, 4], &[0.5, 0.25, 0.1, 1.0]);
        let js = coordinate_regression_to_joints(&out, &post(&[x, y], false), (100, 200)).unwrap();
        assert_eq!(js.len(), 2);
        assert_eq!((js[0].x, js[0].y), (100.0, 25.0));
        assert_eq!((js[1].x, js[1].y), (0.1 * 200.0, 100.0));
        assert!(js.iter().all(|j| j.visible && j.score == 1.0));
    }

    #[test]
    fn planar_and_component_order_read_different_values() {
        let data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let out = tensor(&[1, 6], &data);
        let mut p = post(&[x, y], true);
        p.normalized = false;
        // planar: x = [1, 2, 3], y = [4, 5, 6].
        let js = coordinate_regression_to_joints(&out, &p, (10, 10)).unwrap();
        let xy: Vec<_> = js.iter().map(|j| (j.x, j.y)).collect();
        assert_eq!(xy, vec![(1.0, 4.0), (2.0, 5.0), (3.0, 6.0)]);
        // interleaved y, x: (y0, x0) = (1, 2).
        let mut p = post(&[y, x], false);
        p.normalized = false;
        let js = coordinate_regression_to_joints(&out, &p, (10, 10)).unwrap();
        let xy: Vec<_> = js.iter().map(|j| (j.x, j.y)).collect();
        assert_eq!(xy, vec![(2.0, 1.0), (4.0, 3.0), (6.0, 5.0)]);
    }

    #[test]
    fn score_component_sigmoids_and_inclusive_threshold() {
        // Triples x, y, score; sigmoid on the coordinates, raw score.
        let out = tensor(&[6], &[0.0, 0.0, 0.5, 100.0, -100.0, 0.4999]);
        let mut p = post(&[x, y, score], false);
        p.sigmoid = true;
        p.confidence_threshold = Some(0.5);
        let js = coordinate_regression_to_joints(&out, &p, (10, 20)).unwrap();
        assert_eq!((js[0].x, js[0].y), (10.0, 5.0));
        assert_eq!((js[0].score, js[0].visible), (0.5, true));
        assert_eq!((js[1].x, js[1].y), (20.0, 0.0));
        assert!(!js[1].visible, "0.4999 < 0.5");
        // Score logits: sigmoid(0.5) = 0.6224593, sigmoid(0.4999) = 0.6224363.
        p.score_sigmoid = true;
        p.confidence_threshold = Some(0.62245);
        let js = coordinate_regression_to_joints(&out, &p, (10, 20)).unwrap();
        assert!((js[0].score - 0.622_459).abs() < 1e-6, "{}", js[0].score);
        assert!(js[0].visible && !js[1].visible);
    }

    #[test]
    fn planar_scores_come_after_all_coordinates() {
        // x0 x1 | y0 y1 | s0 s1
        let out = tensor(&[1, 6], &[1.0, 2.0, 3.0, 4.0, 0.9, 0.1]);
        let mut p = post(&[x, y, score], true);
        p.normalized = false;
        p.confidence_threshold = Some(0.5);
        let js = coordinate_regression_to_joints(&out, &p, (8, 8)).unwrap();
        assert_eq!((js[0].x, js[0].y, js[0].visible), (1.0, 3.0, true));
        assert_eq!((js[1].x, js[1].y, js[1].visible), (2.0, 4.0, false));
        assert_eq!(js[1].score, 0.1);
    }

    #[test]
    fn wrong_sizes_are_errors_not_panics() {
        let p = post(&[x, y], false);
        assert!(coordinate_regression_to_joints(&tensor(&[1, 3], &[0.0; 3]), &p, (8, 8)).is_err());
        assert!(coordinate_regression_to_joints(&tensor(&[2, 4], &[0.0; 8]), &p, (8, 8)).is_err());
        assert!(coordinate_regression_to_joints(&tensor(&[1, 4], &[0.0; 3]), &p, (8, 8)).is_err());
    }
}
