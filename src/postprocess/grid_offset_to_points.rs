//! `GridOffsetToPoints`: a grid detector's cells → points of each class.
//!
//! The model divides its input into `stride × stride` cells (the 1920 × 320
//! seed: 32 px, 60 × 10 cells); each cell holds an offset `(dx, dy)` and one
//! score per class (a class per `KEYPOINTS.names` entry, plus an optional
//! background channel that only takes part in the softmax). A cell is a
//! point of class `c` when its score for `c` (after `score_activation`)
//! reaches `confidence_threshold`; its position is
//! `((cell_x + o + dx) × stride, (cell_y + o + dy) × stride)` with
//! `offset_unit: cell` (`o` = 0, or 0.5 with `offset_origin: center`), or
//! `(cell_x + o) × stride + dx` with `offset_unit: pixel`.
//!
//! Distance NMS, per class: candidates by descending score (ties: the first
//! cell in row-major order), a candidate closer than `nms_distance` pixels
//! to an already kept point of its class is dropped.
//!
//! Joints (Blueoil's `joints`/`keypoints` fields): per class the best kept
//! point, visible; a class without a point gets its best cell, invisible
//! (for diagnosis), as the other heads do.
//!
//! f32 arithmetic in this order, the softmax summing classes in channel
//! order, so that a float32 numpy decoding gives the same bits
//! (tests/python/check_heads.py).

use super::head::{main_output, Head};
use super::{Decoded, Joint, OutputTensor};
use crate::config::{ConfigError, DataFormat, Meta};
use anyhow::{bail, Result};
use serde::Deserialize;
use std::path::Path;

/// Channel order of a grid detector's cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[allow(non_camel_case_types)]
pub enum GridChannels {
    /// `[dx, dy, class 0, ..., class K-1]`.
    #[default]
    offsets_first,
    /// `[class 0, ..., class K-1, dx, dy]`.
    offsets_last,
}

/// Order of the two offset channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[allow(non_camel_case_types)]
pub enum AxisOrder {
    #[default]
    xy,
    yx,
}

/// What an offset of 1 means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[allow(non_camel_case_types)]
pub enum OffsetUnit {
    /// One cell: `x = (cell_x + dx) × stride`.
    #[default]
    cell,
    /// One network-input pixel: `x = cell_x × stride + dx`.
    pixel,
}

/// Where an offset of 0 lies in its cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[allow(non_camel_case_types)]
pub enum OffsetOrigin {
    #[default]
    corner,
    center,
}

/// Applied to the class channels before the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[allow(non_camel_case_types)]
pub enum ScoreActivation {
    /// The channels are probabilities already.
    #[default]
    none,
    sigmoid,
    /// Over the class channels of a cell (and the background channel).
    softmax,
}

/// Our extension (grid keypoint detectors): one cell per `stride × stride`
/// pixels with an offset `(dx, dy)` and a score per class (a class per
/// `KEYPOINTS.names` entry); every cell whose class score reaches the
/// threshold is a point of that class, and points of a class closer than
/// `nms_distance` to a better one are dropped.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridOffsetToPoints {
    /// Cut-off on the class score (after `score_activation`); inclusive.
    pub confidence_threshold: f64,
    /// Cell size in network-input pixels: `ceil(IMAGE_SIZE / stride)` cells.
    pub stride: u32,
    /// Points of one class closer than this (network-input pixels) to a
    /// higher-scoring kept point are suppressed; default: `stride`; 0: none.
    #[serde(default)]
    pub nms_distance: Option<f64>,
    #[serde(default)]
    pub channels: GridChannels,
    #[serde(default)]
    pub offset_order: AxisOrder,
    #[serde(default)]
    pub offset_unit: OffsetUnit,
    #[serde(default)]
    pub offset_origin: OffsetOrigin,
    #[serde(default)]
    pub score_activation: ScoreActivation,
    /// One more class channel after the named classes ("no point"): part of
    /// the softmax, never reported.
    #[serde(default)]
    pub background: bool,
    #[serde(default)]
    pub data_format: DataFormat,
}

impl GridOffsetToPoints {
    /// `nms_distance`, or its default (one cell).
    pub fn nms_distance(&self) -> f64 {
        self.nms_distance.unwrap_or(self.stride as f64)
    }
}

impl Head for GridOffsetToPoints {
    fn data_format(&self) -> DataFormat {
        self.data_format
    }

    fn stride(&self) -> u32 {
        self.stride
    }

    fn confidence_threshold(&self) -> f64 {
        self.confidence_threshold
    }

    fn validate(&self, meta: &Meta) -> Result<(), ConfigError> {
        let field = "POST_PROCESSOR.GridOffsetToPoints";
        let t = self.confidence_threshold;
        let bounded = self.score_activation != ScoreActivation::none;
        if !t.is_finite() || (bounded && !(0.0..=1.0).contains(&t)) {
            return Err(meta.error(
                &format!("{field}.confidence_threshold"),
                format!(
                    "{t} must be finite (and within 0..=1 with score_activation {:?})",
                    self.score_activation
                ),
            ));
        }
        if self.stride == 0 {
            return Err(meta.error(&format!("{field}.stride"), "must be positive"));
        }
        if let Some(d) = self.nms_distance {
            if !(d.is_finite() && d >= 0.0) {
                return Err(meta.error(
                    &format!("{field}.nms_distance"),
                    format!("{d} must be a distance in pixels, ≥ 0"),
                ));
            }
        }
        if self.background && self.score_activation != ScoreActivation::softmax {
            return Err(meta.error(
                &format!("{field}.background"),
                "a background channel only makes sense with score_activation: softmax",
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

    fn decode(&self, _meta: &Meta, outputs: &[OutputTensor]) -> Result<Decoded> {
        let Some(grid) = outputs.first() else {
            bail!("the model returned no output");
        };
        let (joints, points) = grid_offset_to_points(grid, self)?;
        Ok(Decoded {
            heatmaps: None,
            joints,
            points: Some(points),
        })
    }
}

/// One detected point, in network-input pixels (or an image's, once scaled).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Index into `KEYPOINTS.names`.
    pub class: usize,
    pub x: f32,
    pub y: f32,
    pub score: f32,
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// (cells high, cells wide, channels) of a batch-1 4-D tensor.
fn grid_shape(shape: &[usize], format: DataFormat) -> Option<(usize, usize, usize)> {
    match (format, shape) {
        (DataFormat::NHWC, &[1, h, w, c]) => Some((h, w, c)),
        (DataFormat::NCHW, &[1, c, h, w]) => Some((h, w, c)),
        _ => None,
    }
}

/// Decodes the grid: one joint per class and every kept point, by class and
/// then descending score.
pub fn grid_offset_to_points(
    out: &OutputTensor,
    p: &GridOffsetToPoints,
) -> Result<(Vec<Joint>, Vec<Point>)> {
    let Some((h, w, c)) = grid_shape(&out.shape, p.data_format) else {
        bail!(
            "grid output must be a batch-1 {:?} 4-D tensor, found shape {:?}",
            p.data_format,
            out.shape
        );
    };
    let background = usize::from(p.background);
    if c < 3 + background || out.data.len() != h * w * c {
        bail!(
            "grid output of shape {:?} ({} values) has no room for 2 offsets, {background} background and at least one class channel",
            out.shape,
            out.data.len()
        );
    }
    let k = c - 2 - background;
    let at = |cell: usize, ch: usize| match p.data_format {
        DataFormat::NHWC => out.data[cell * c + ch],
        DataFormat::NCHW => out.data[ch * h * w + cell],
    };
    let (offsets, first_class) = match p.channels {
        GridChannels::offsets_first => (0, 2),
        GridChannels::offsets_last => (k + background, 0),
    };
    let (ch_dx, ch_dy) = match p.offset_order {
        AxisOrder::xy => (offsets, offsets + 1),
        AxisOrder::yx => (offsets + 1, offsets),
    };
    let origin: f32 = match p.offset_origin {
        OffsetOrigin::corner => 0.0,
        OffsetOrigin::center => 0.5,
    };
    let stride = p.stride as f32;
    let place = |cell_pos: usize, d: f32| match p.offset_unit {
        OffsetUnit::cell => (cell_pos as f32 + origin + d) * stride,
        OffsetUnit::pixel => (cell_pos as f32 + origin) * stride + d,
    };

    // Scores of every cell, class-major: scores[class * cells + cell].
    let cells = h * w;
    let mut scores = vec![0f32; k * cells];
    let mut raw = vec![0f32; k + background];
    for cell in 0..cells {
        for (i, r) in raw.iter_mut().enumerate() {
            *r = at(cell, first_class + i);
        }
        match p.score_activation {
            ScoreActivation::none => {}
            ScoreActivation::sigmoid => raw.iter_mut().for_each(|v| *v = sigmoid(*v)),
            ScoreActivation::softmax => {
                let max = raw.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0f32;
                for v in raw.iter_mut() {
                    *v = (*v - max).exp();
                    sum += *v;
                }
                raw.iter_mut().for_each(|v| *v /= sum);
            }
        }
        for class in 0..k {
            scores[class * cells + cell] = raw[class];
        }
    }

    let position = |cell: usize| {
        let (cy, cx) = (cell / w, cell % w);
        (place(cx, at(cell, ch_dx)), place(cy, at(cell, ch_dy)))
    };
    let radius = p.nms_distance();
    let mut joints = Vec::with_capacity(k);
    let mut points = vec![];
    for class in 0..k {
        let s = &scores[class * cells..(class + 1) * cells];
        let mut candidates: Vec<usize> = (0..cells)
            .filter(|&cell| (s[cell] as f64) >= p.confidence_threshold)
            .collect();
        // Stable: equal scores keep row-major order.
        candidates.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
        let first = points.len();
        for cell in candidates {
            let (x, y) = position(cell);
            let far = points[first..].iter().all(|q: &Point| {
                let (dx, dy) = ((q.x - x) as f64, (q.y - y) as f64);
                dx * dx + dy * dy >= radius * radius
            });
            if far {
                points.push(Point {
                    class,
                    x,
                    y,
                    score: s[cell],
                });
            }
        }
        joints.push(match points.get(first) {
            Some(best) => Joint {
                x: best.x,
                y: best.y,
                score: best.score,
                visible: true,
            },
            None => {
                // The first maximum; NaN never wins.
                let mut best = 0;
                for cell in 1..cells {
                    if s[cell] > s[best] || (s[best].is_nan() && !s[cell].is_nan()) {
                        best = cell;
                    }
                }
                let (x, y) = position(best);
                Joint {
                    x,
                    y,
                    score: s[best],
                    visible: false,
                }
            }
        });
    }
    Ok((joints, points))
}

/// Checks the grid output against meta.yaml: `ceil(IMAGE_SIZE / stride)`
/// cells with 2 offsets, one score per joint name and the background.
pub fn check_outputs(
    meta: &Meta,
    p: &GridOffsetToPoints,
    shapes: &[Vec<usize>],
    path: &Path,
) -> Result<()> {
    let field = "POST_PROCESSOR.GridOffsetToPoints";
    let Some(shape) = shapes.first() else {
        bail!("model {} has no output", path.display());
    };
    let Some((gh, gw, c)) = grid_shape(shape, p.data_format) else {
        bail!(meta.error(
            &format!("{field}.data_format"),
            format!(
                "grid output of model {} has shape {shape:?}, not a batch-1 {:?} tensor",
                path.display(),
                p.data_format
            )
        ));
    };
    let (h, w) = meta.input_hw();
    let stride = p.stride as usize;
    let want = (h.div_ceil(stride), w.div_ceil(stride));
    if (gh, gw) != want {
        bail!(meta.error(
            &format!("{field}.stride"),
            format!(
                "stride {stride} on IMAGE_SIZE [{h}, {w}] means {}×{} cells, but model {} outputs {gh}×{gw} (shape {shape:?})",
                want.0,
                want.1,
                path.display()
            )
        ));
    }
    let classes = meta.keypoints.names.len();
    let background = usize::from(p.background);
    if c != 2 + classes + background {
        bail!(meta.error(
            "KEYPOINTS.names",
            format!(
                "{classes} classes named (default COCO-17): a cell needs 2 offsets + {classes} scores{} = {} channels, but model {} outputs {c} (shape {shape:?})",
                if p.background { " + 1 background" } else { "" },
                2 + classes + background,
                path.display()
            )
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(threshold: f64, stride: u32) -> GridOffsetToPoints {
        GridOffsetToPoints {
            confidence_threshold: threshold,
            stride,
            nms_distance: None,
            channels: GridChannels::offsets_first,
            offset_order: AxisOrder::xy,
            offset_unit: OffsetUnit::cell,
            offset_origin: OffsetOrigin::corner,
            score_activation: ScoreActivation::none,
            background: false,
            data_format: DataFormat::NHWC,
        }
    }

    /// NHWC grid h × w with channels [dx, dy, scores...]; `cells` sets
    /// (y, x, dx, dy, scores).
    fn grid(
        h: usize,
        w: usize,
        k: usize,
        cells: &[(usize, usize, f32, f32, &[f32])],
    ) -> OutputTensor {
        let c = 2 + k;
        let mut data = vec![0f32; h * w * c];
        for &(y, x, dx, dy, s) in cells {
            let base = (y * w + x) * c;
            data[base] = dx;
            data[base + 1] = dy;
            data[base + 2..base + 2 + s.len()].copy_from_slice(s);
        }
        OutputTensor {
            shape: vec![1, h, w, c],
            data,
        }
    }

    #[test]
    fn every_cell_above_the_threshold_is_a_point_of_its_class() {
        // 2 classes on a 2 × 4 grid, stride 32, offsets in cells.
        let out = grid(
            2,
            4,
            2,
            &[
                (0, 0, 0.5, 0.25, &[0.9, 0.0]),
                (1, 3, 0.0, 1.0, &[0.6, 0.7]),
                (0, 2, 0.1, 0.1, &[0.49, 0.5]),
            ],
        );
        let (joints, points) = grid_offset_to_points(&out, &post(0.5, 32)).unwrap();
        let got: Vec<_> = points
            .iter()
            .map(|p| (p.class, p.x, p.y, p.score))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 16.0, 8.0, 0.9),
                (0, 96.0, 64.0, 0.6),
                (1, 96.0, 64.0, 0.7),
                (1, (2.0 + 0.1) * 32.0, 0.1 * 32.0, 0.5), // threshold inclusive
            ]
        );
        assert_eq!(
            (joints[0].x, joints[0].y, joints[0].visible),
            (16.0, 8.0, true)
        );
        assert_eq!(
            (joints[1].x, joints[1].y, joints[1].score),
            (96.0, 64.0, 0.7)
        );
    }

    #[test]
    fn distance_nms_keeps_the_best_of_close_points_per_class() {
        // Class 0 at cells (0,0) and (0,1): 32 px apart with zero offsets.
        let out = grid(
            1,
            3,
            2,
            &[
                (0, 0, 0.0, 0.0, &[0.8, 0.0]),
                (0, 1, 0.0, 0.0, &[0.9, 0.9]),
                (0, 2, 0.0, 0.0, &[0.0, 0.9]),
            ],
        );
        let mut p = post(0.5, 32);
        // Default radius = stride: 32 px is not closer than 32 → both kept.
        let (_, pts) = grid_offset_to_points(&out, &p).unwrap();
        assert_eq!(pts.len(), 4);
        p.nms_distance = Some(32.5);
        let (_, pts) = grid_offset_to_points(&out, &p).unwrap();
        let got: Vec<_> = pts.iter().map(|p| (p.class, p.x)).collect();
        // Class 0: 0.9 at x 32 beats 0.8 at x 0. Class 1: tie at 0.9, the
        // first cell in row-major order (x 32) wins. Other classes do not
        // suppress each other.
        assert_eq!(got, vec![(0, 32.0), (1, 32.0)]);
        p.nms_distance = Some(0.0);
        assert_eq!(grid_offset_to_points(&out, &p).unwrap().1.len(), 4);
    }

    #[test]
    fn a_class_without_points_gets_its_best_cell_invisible() {
        let out = grid(
            2,
            2,
            2,
            &[(1, 0, 0.5, 0.5, &[0.2, 0.3]), (0, 1, 0.0, 0.0, &[0.3, 0.9])],
        );
        let (joints, points) = grid_offset_to_points(&out, &post(0.5, 10)).unwrap();
        assert_eq!(points.len(), 1);
        assert_eq!(
            (joints[0].x, joints[0].y, joints[0].score, joints[0].visible),
            (10.0, 0.0, 0.3, false)
        );
        assert!(joints[1].visible);
    }

    #[test]
    fn offset_units_origins_orders_and_channel_layouts() {
        let mut p = post(0.5, 8);
        // [dx, dy, s] = [2, 3, 1] at cell (y 1, x 2).
        let out = grid(2, 3, 1, &[(1, 2, 2.0, 3.0, &[1.0])]);
        let xy = |p: &GridOffsetToPoints, out: &OutputTensor| {
            let (_, pts) = grid_offset_to_points(out, p).unwrap();
            (pts[0].x, pts[0].y)
        };
        assert_eq!(xy(&p, &out), ((2.0 + 2.0) * 8.0, (1.0 + 3.0) * 8.0));
        p.offset_unit = OffsetUnit::pixel;
        assert_eq!(xy(&p, &out), (16.0 + 2.0, 8.0 + 3.0));
        p.offset_origin = OffsetOrigin::center;
        assert_eq!(xy(&p, &out), (20.0 + 2.0, 12.0 + 3.0));
        p.offset_order = AxisOrder::yx;
        assert_eq!(xy(&p, &out), (20.0 + 3.0, 12.0 + 2.0));
        // The same cell as [s, dx, dy], offsets last.
        let mut last = out.clone();
        let base = (3 + 2) * 3;
        last.data[base..base + 3].copy_from_slice(&[1.0, 2.0, 3.0]);
        p.channels = GridChannels::offsets_last;
        p.offset_order = AxisOrder::xy;
        assert_eq!(xy(&p, &last), (20.0 + 2.0, 12.0 + 3.0));
        // NCHW: the same values, channel-major.
        let mut nchw = vec![0f32; 18];
        for cell in 0..6 {
            for ch in 0..3 {
                nchw[ch * 6 + cell] = last.data[cell * 3 + ch];
            }
        }
        p.data_format = DataFormat::NCHW;
        let t = OutputTensor {
            shape: vec![1, 3, 2, 3],
            data: nchw,
        };
        assert_eq!(xy(&p, &t), (20.0 + 2.0, 12.0 + 3.0));
    }

    #[test]
    fn softmax_with_background_and_sigmoid() {
        // Logits [2, 0] + background 1 at one cell: softmax over 3.
        let mut out = grid(1, 1, 3, &[(0, 0, 0.0, 0.0, &[2.0, 0.0, 1.0])]);
        let mut p = post(0.5, 4);
        p.score_activation = ScoreActivation::softmax;
        p.background = true;
        let (joints, points) = grid_offset_to_points(&out, &p).unwrap();
        assert_eq!(joints.len(), 2, "the background is not a class");
        let e = [2f32.exp(), 1.0, 1f32.exp()];
        let want = (2f32 - 2.0).exp() / (1.0 + (-2f32).exp() + (-1f32).exp());
        assert!(
            (joints[0].score - want).abs() < 1e-6,
            "{} vs {want}",
            joints[0].score
        );
        assert!((joints[0].score - e[0] / e.iter().sum::<f32>()).abs() < 1e-6);
        assert_eq!(points.len(), 1, "0.665 ≥ 0.5, class 1 at 0.09 is not");
        p.score_activation = ScoreActivation::sigmoid;
        p.background = false;
        out.shape = vec![1, 1, 1, 5];
        let (joints, _) = grid_offset_to_points(&out, &p).unwrap();
        assert_eq!(joints.len(), 3);
        assert!((joints[1].score - 0.5).abs() < 1e-7 && joints[1].visible);
    }

    #[test]
    fn bad_tensors_are_errors_not_panics() {
        let p = post(0.5, 4);
        let t = |shape: &[usize], n: usize| OutputTensor {
            shape: shape.to_vec(),
            data: vec![0.0; n],
        };
        assert!(grid_offset_to_points(&t(&[1, 2, 2, 2], 8), &p).is_err());
        assert!(grid_offset_to_points(&t(&[1, 2, 2, 3], 11), &p).is_err());
        assert!(grid_offset_to_points(&t(&[2, 2, 3], 12), &p).is_err());
        let mut bg = post(0.5, 4);
        bg.background = true;
        assert!(grid_offset_to_points(&t(&[1, 1, 1, 3], 3), &bg).is_err());
    }
}
