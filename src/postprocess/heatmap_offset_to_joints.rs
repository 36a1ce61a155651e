//! `HeatmapOffsetToJoints`: PoseNet-style heatmap + offset heads → joints.
//!
//! For each joint: the FIRST maximum of its heatmap channel in row-major
//! order (like `np.argmax`) gives the cell `(cy, cx)`; the joint sits at
//! `(cx · stride + dx, cy · stride + dy)` in network-input pixels, `dy, dx`
//! being that joint's offsets at that cell (the offset tensor has `2 ×
//! joints` channels, ordered as `offset_layout` says). The score is the peak
//! (through a sigmoid for logit heatmaps such as PoseNet's); the joint is
//! visible iff the score is not below `confidence_threshold`.
//!
//! The arithmetic is f32 in this order so that a numpy decoding in float32
//! gives the same bits (see `tests/python/check_posenet.py`).

use super::head::{main_output, Head};
use super::{Decoded, Heatmaps, Joint, OutputTensor};
use crate::config::{ConfigError, DataFormat, Meta};
use anyhow::{bail, ensure, Result};
use serde::Deserialize;
use std::path::Path;

/// How the `2 × joints` channels of an offset tensor are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[allow(non_camel_case_types)]
pub enum OffsetLayout {
    /// PoseNet: all y offsets, then all x offsets (`y0..yK-1, x0..xK-1`).
    #[default]
    planar_yx,
    /// Per joint, y then x (`y0, x0, y1, x1, ...`).
    interleaved_yx,
    /// Per joint, x then y (`x0, y0, x1, y1, ...`).
    interleaved_xy,
}

/// Our extension (PoseNet-style heads): per joint, the argmax cell of the
/// heatmap, refined by a second output holding a pixel offset per joint and
/// cell: `position = cell × stride + offset`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeatmapOffsetToJoints {
    /// Cut-off on the score (after the sigmoid, if any); inclusive.
    pub confidence_threshold: f64,
    /// Output stride: heatmaps have `ceil(IMAGE_SIZE / stride)` cells.
    pub stride: u32,
    /// Name of the offset output tensor (the heatmaps are `MODEL.output`).
    pub offsets_output: String,
    #[serde(default)]
    pub offset_layout: OffsetLayout,
    /// Score = sigmoid(heatmap peak) for heatmaps that are logits (PoseNet).
    #[serde(default)]
    pub sigmoid: bool,
    /// Layout of both the heatmap and the offset tensors.
    #[serde(default)]
    pub data_format: DataFormat,
}

impl Head for HeatmapOffsetToJoints {
    fn data_format(&self) -> DataFormat {
        self.data_format
    }

    fn stride(&self) -> u32 {
        self.stride
    }

    fn confidence_threshold(&self) -> f64 {
        self.confidence_threshold
    }

    fn extra_outputs(&self) -> Vec<(&'static str, &str)> {
        vec![(
            "POST_PROCESSOR.HeatmapOffsetToJoints.offsets_output",
            self.offsets_output.as_str(),
        )]
    }

    fn validate(&self, meta: &Meta) -> Result<(), ConfigError> {
        let field = "POST_PROCESSOR.HeatmapOffsetToJoints";
        if !(0.0..=1.0).contains(&self.confidence_threshold) && self.sigmoid {
            return Err(meta.error(
                &format!("{field}.confidence_threshold"),
                format!(
                    "{} is outside 0..=1 (the score is a sigmoid)",
                    self.confidence_threshold
                ),
            ));
        }
        if !self.confidence_threshold.is_finite() {
            return Err(meta.error(
                &format!("{field}.confidence_threshold"),
                "must be a finite number",
            ));
        }
        if self.stride == 0 {
            return Err(meta.error(&format!("{field}.stride"), "must be positive"));
        }
        if self.offsets_output.is_empty() {
            return Err(meta.error(
                &format!("{field}.offsets_output"),
                "must name the model's offset output tensor",
            ));
        }
        if meta.model.output.as_deref() == Some(self.offsets_output.as_str()) {
            return Err(meta.error(
                &format!("{field}.offsets_output"),
                format!(
                    "{:?} is also MODEL.output (the heatmaps): name the offset tensor",
                    self.offsets_output
                ),
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
        let [heatmaps, offsets] = outputs else {
            bail!(
                "HeatmapOffsetToJoints needs 2 model outputs (heatmaps, offsets), got {}",
                outputs.len()
            );
        };
        let heatmaps = Heatmaps::from_tensor(&heatmaps.shape, &heatmaps.data, self.data_format)?;
        let offsets = Offsets::from_tensor(&offsets.shape, &offsets.data, self)?;
        let joints = heatmap_offset_to_joints(&heatmaps, &offsets, self)?;
        Ok(Decoded {
            heatmaps: Some(heatmaps),
            joints,
            points: None,
        })
    }
}

/// Per-joint offsets of one image, normalised to `height × width × joints`
/// for each axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Offsets {
    pub height: usize,
    pub width: usize,
    pub joints: usize,
    pub dy: Vec<f32>,
    pub dx: Vec<f32>,
}

impl Offsets {
    /// Builds from a batch-1 4-D tensor `[1, H, W, 2K]` (NHWC) or
    /// `[1, 2K, H, W]` (NCHW) whose channels are ordered as `p.offset_layout`.
    pub fn from_tensor(
        shape: &[usize],
        data: &[f32],
        p: &HeatmapOffsetToJoints,
    ) -> Result<Offsets> {
        let (h, w, c) = match (p.data_format, shape) {
            (DataFormat::NHWC, [1, h, w, c]) => (*h, *w, *c),
            (DataFormat::NCHW, [1, c, h, w]) => (*h, *w, *c),
            _ => bail!(
                "offset output must be a batch-1 {:?} 4-D tensor, found shape {shape:?}",
                p.data_format
            ),
        };
        ensure!(
            c % 2 == 0,
            "offset output has {c} channels, not 2 per joint"
        );
        ensure!(
            data.len() == h * w * c,
            "offset buffer has {} values, shape {shape:?} needs {}",
            data.len(),
            h * w * c
        );
        let k = c / 2;
        let (mut dy, mut dx) = (vec![0f32; h * w * k], vec![0f32; h * w * k]);
        for cell in 0..h * w {
            for j in 0..k {
                let (cy, cx) = match p.offset_layout {
                    OffsetLayout::planar_yx => (j, k + j),
                    OffsetLayout::interleaved_yx => (2 * j, 2 * j + 1),
                    OffsetLayout::interleaved_xy => (2 * j + 1, 2 * j),
                };
                let at = |ch: usize| match p.data_format {
                    DataFormat::NHWC => data[cell * c + ch],
                    DataFormat::NCHW => data[ch * h * w + cell],
                };
                dy[cell * k + j] = at(cy);
                dx[cell * k + j] = at(cx);
            }
        }
        Ok(Offsets {
            height: h,
            width: w,
            joints: k,
            dy,
            dx,
        })
    }

    /// (dy, dx) of `joint` at cell (y, x).
    #[inline]
    pub fn at(&self, y: usize, x: usize, joint: usize) -> (f32, f32) {
        let i = (y * self.width + x) * self.joints + joint;
        (self.dy[i], self.dx[i])
    }
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// Decodes every joint. Invisible joints keep their position and score (for
/// diagnostics); Blueoil's `joints` list reports them as 0.
pub fn heatmap_offset_to_joints(
    hm: &Heatmaps,
    off: &Offsets,
    p: &HeatmapOffsetToJoints,
) -> Result<Vec<Joint>> {
    ensure!(
        (off.height, off.width, off.joints) == (hm.height, hm.width, hm.joints),
        "offsets are {}×{} for {} joints but heatmaps are {}×{} for {} joints",
        off.height,
        off.width,
        off.joints,
        hm.height,
        hm.width,
        hm.joints
    );
    let stride = p.stride as f32;
    Ok((0..hm.joints)
        .map(|j| {
            let (cy, cx, peak) = hm.argmax(j);
            let (dy, dx) = off.at(cy, cx, j);
            let score = if p.sigmoid { sigmoid(peak) } else { peak };
            Joint {
                x: cx as f32 * stride + dx,
                y: cy as f32 * stride + dy,
                score,
                visible: (score as f64) >= p.confidence_threshold,
            }
        })
        .collect())
}

/// Checks the heatmap and offset output shapes against meta.yaml: heatmaps
/// `ceil(IMAGE_SIZE / stride)` cells with one channel per joint name, offsets
/// the same cells with `2 × joints` channels.
pub fn check_outputs(
    meta: &Meta,
    p: &HeatmapOffsetToJoints,
    shapes: &[Vec<usize>],
    path: &Path,
) -> Result<()> {
    let field = "POST_PROCESSOR.HeatmapOffsetToJoints";
    let [heatmaps, offsets] = shapes else {
        bail!(
            "model {} gives {} outputs, HeatmapOffsetToJoints needs 2",
            path.display(),
            shapes.len()
        );
    };
    let split = |shape: &[usize]| match (p.data_format, shape) {
        (DataFormat::NHWC, [1, h, w, c]) => Some(((*h, *w), *c)),
        (DataFormat::NCHW, [1, c, h, w]) => Some(((*h, *w), *c)),
        _ => None,
    };
    let Some((hm_hw, joints)) = split(heatmaps) else {
        bail!(meta.error(
            &format!("{field}.data_format"),
            format!(
                "heatmap output of model {} has shape {heatmaps:?}, not a batch-1 {:?} tensor",
                path.display(),
                p.data_format
            )
        ));
    };
    let (h, w) = meta.input_hw();
    let stride = p.stride as usize;
    let want_hw = (h.div_ceil(stride), w.div_ceil(stride));
    if hm_hw != want_hw {
        bail!(meta.error(
            &format!("{field}.stride"),
            format!(
                "stride {stride} on IMAGE_SIZE [{h}, {w}] means {}×{} heatmap cells, but model {} outputs {}×{} (shape {heatmaps:?})",
                want_hw.0,
                want_hw.1,
                path.display(),
                hm_hw.0,
                hm_hw.1
            )
        ));
    }
    let names = meta.keypoints.names.len();
    if joints != names {
        bail!(meta.error(
            "KEYPOINTS.names",
            format!(
                "{names} joints named (default COCO-17), but model {} outputs {joints} heatmap channels",
                path.display()
            )
        ));
    }
    let offsets_field = format!("{field}.offsets_output");
    match split(offsets) {
        Some((hw, c)) if hw == hm_hw && c == 2 * joints => Ok(()),
        Some((hw, c)) if hw == hm_hw => bail!(meta.error(
            &offsets_field,
            format!(
                "offset tensor {:?} of model {} has {c} channels (shape {offsets:?}), not 2 × {joints} heatmap joints",
                p.offsets_output,
                path.display()
            )
        )),
        _ => bail!(meta.error(
            &offsets_field,
            format!(
                "offset tensor {:?} of model {} has shape {offsets:?}, not a batch-1 {:?} tensor of {}×{} cells like the heatmaps {heatmaps:?}",
                p.offsets_output,
                path.display(),
                p.data_format,
                hm_hw.0,
                hm_hw.1
            )
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(layout: OffsetLayout, format: DataFormat, threshold: f64) -> HeatmapOffsetToJoints {
        HeatmapOffsetToJoints {
            confidence_threshold: threshold,
            stride: 16,
            offsets_output: "offsets".into(),
            offset_layout: layout,
            sigmoid: false,
            data_format: format,
        }
    }

    /// 3×4 cells, 2 joints: joint 0 peaks at (1, 2), joint 1 at (2, 0).
    /// Offsets: value = 100·axis + 10·joint + cell index / 100 (axis 0 = y),
    /// so every read can be traced back.
    fn nhwc_case(layout: OffsetLayout) -> (Vec<f32>, Vec<f32>) {
        let (h, w, k) = (3, 4, 2);
        let mut hm = vec![0f32; h * w * k];
        hm[(w + 2) * k] = 5.0;
        hm[(2 * w) * k + 1] = 0.7;
        let mut off = vec![0f32; h * w * 2 * k];
        for cell in 0..h * w {
            for j in 0..k {
                for axis in 0..2 {
                    let v = 100.0 * axis as f32 + 10.0 * j as f32 + cell as f32 / 100.0;
                    let ch = match (layout, axis) {
                        (OffsetLayout::planar_yx, 0) => j,
                        (OffsetLayout::planar_yx, _) => k + j,
                        (OffsetLayout::interleaved_yx, a) => 2 * j + a,
                        (OffsetLayout::interleaved_xy, a) => 2 * j + 1 - a,
                    };
                    off[cell * 2 * k + ch] = v;
                }
            }
        }
        (hm, off)
    }

    fn to_nchw(data: &[f32], h: usize, w: usize, c: usize) -> Vec<f32> {
        let mut out = vec![0f32; data.len()];
        for p in 0..h * w {
            for ch in 0..c {
                out[ch * h * w + p] = data[p * c + ch];
            }
        }
        out
    }

    #[test]
    fn cell_times_stride_plus_offset_in_every_layout_and_format() {
        for layout in [
            OffsetLayout::planar_yx,
            OffsetLayout::interleaved_yx,
            OffsetLayout::interleaved_xy,
        ] {
            let (hm, off) = nhwc_case(layout);
            for format in [DataFormat::NHWC, DataFormat::NCHW] {
                let p = post(layout, format, 0.5);
                let (hm_t, off_t, hs, os) = match format {
                    DataFormat::NHWC => (hm.clone(), off.clone(), [1, 3, 4, 2], [1, 3, 4, 4]),
                    DataFormat::NCHW => (
                        to_nchw(&hm, 3, 4, 2),
                        to_nchw(&off, 3, 4, 4),
                        [1, 2, 3, 4],
                        [1, 4, 3, 4],
                    ),
                };
                let heat = Heatmaps::from_tensor(&hs, &hm_t, format).unwrap();
                let offsets = Offsets::from_tensor(&os, &off_t, &p).unwrap();
                let js = heatmap_offset_to_joints(&heat, &offsets, &p).unwrap();
                // Joint 0: cell (y 1, x 2) = index 6.
                assert_eq!(
                    js[0].x,
                    2.0 * 16.0 + (100.0 + 0.06),
                    "{layout:?} {format:?}"
                );
                assert_eq!(js[0].y, 16.0 + 0.06, "{layout:?} {format:?}");
                assert_eq!((js[0].score, js[0].visible), (5.0, true));
                // Joint 1: cell (y 2, x 0) = index 8.
                assert_eq!(js[1].x, 0.0 + (110.0 + 0.08), "{layout:?} {format:?}");
                assert_eq!(js[1].y, 32.0 + (10.0 + 0.08), "{layout:?} {format:?}");
                assert_eq!((js[1].score, js[1].visible), (0.7, true));
            }
        }
    }

    #[test]
    fn layouts_read_different_channels() {
        // The same buffer decoded planar vs interleaved must differ: a
        // layout switch that is ignored fails here.
        let (hm, off) = nhwc_case(OffsetLayout::planar_yx);
        let heat = Heatmaps::from_tensor(&[1, 3, 4, 2], &hm, DataFormat::NHWC).unwrap();
        let planar = post(OffsetLayout::planar_yx, DataFormat::NHWC, 0.5);
        let inter = post(OffsetLayout::interleaved_yx, DataFormat::NHWC, 0.5);
        let a = Offsets::from_tensor(&[1, 3, 4, 4], &off, &planar).unwrap();
        let b = Offsets::from_tensor(&[1, 3, 4, 4], &off, &inter).unwrap();
        let ja = heatmap_offset_to_joints(&heat, &a, &planar).unwrap();
        let jb = heatmap_offset_to_joints(&heat, &b, &inter).unwrap();
        // Interleaved reads channel 1 (planar: joint 1's y) as joint 0's x.
        assert_eq!(ja[0].x, 32.0 + 100.06);
        assert_eq!(jb[0].x, 32.0 + 10.06);
    }

    #[test]
    fn threshold_is_inclusive_and_sigmoid_applies_to_the_score() {
        let (hm, off) = nhwc_case(OffsetLayout::planar_yx);
        let heat = Heatmaps::from_tensor(&[1, 3, 4, 2], &hm, DataFormat::NHWC).unwrap();
        // The score is f32: compare against the same f32 value.
        let mut p = post(OffsetLayout::planar_yx, DataFormat::NHWC, 0.7f32 as f64);
        let offsets = Offsets::from_tensor(&[1, 3, 4, 4], &off, &p).unwrap();
        let js = heatmap_offset_to_joints(&heat, &offsets, &p).unwrap();
        assert!(js[1].visible, "a score equal to the threshold is visible");
        p.confidence_threshold = 0.71;
        let js = heatmap_offset_to_joints(&heat, &offsets, &p).unwrap();
        assert!(js[0].visible && !js[1].visible);
        // Invisible joints keep their decoded position.
        assert_eq!(js[1].y, 32.0 + 10.08);
        // sigmoid(0.7) = 0.668 < 0.67 ; sigmoid(5) = 0.9933.
        p.sigmoid = true;
        p.confidence_threshold = 0.67;
        let js = heatmap_offset_to_joints(&heat, &offsets, &p).unwrap();
        assert!((js[0].score - 0.993_307).abs() < 1e-6, "{}", js[0].score);
        assert!((js[1].score - 0.668_188).abs() < 1e-6, "{}", js[1].score);
        assert!(js[0].visible && !js[1].visible);
    }

    #[test]
    fn ties_take_the_first_cell_in_row_major_order() {
        let mut hm = vec![0f32; 3 * 4];
        hm[7] = 2.0; // (1, 3)
        hm[9] = 2.0; // (2, 1)
        hm[5] = 2.0; // (1, 1): first
        let heat = Heatmaps::from_tensor(&[1, 3, 4, 1], &hm, DataFormat::NHWC).unwrap();
        let p = post(OffsetLayout::planar_yx, DataFormat::NHWC, 0.0);
        let off = vec![0f32; 3 * 4 * 2];
        let offsets = Offsets::from_tensor(&[1, 3, 4, 2], &off, &p).unwrap();
        let j = heatmap_offset_to_joints(&heat, &offsets, &p).unwrap()[0];
        assert_eq!((j.x, j.y), (16.0, 16.0));
    }

    #[test]
    fn mismatched_tensors_are_errors_not_panics() {
        let p = post(OffsetLayout::planar_yx, DataFormat::NHWC, 0.5);
        // Odd channel count.
        assert!(Offsets::from_tensor(&[1, 2, 2, 3], &[0.0; 12], &p).is_err());
        // Buffer shorter than the shape.
        assert!(Offsets::from_tensor(&[1, 2, 2, 4], &[0.0; 12], &p).is_err());
        // Batch 2.
        assert!(Offsets::from_tensor(&[2, 2, 2, 2], &[0.0; 16], &p).is_err());
        // Offsets for 1 joint, heatmaps for 2.
        let heat = Heatmaps::from_tensor(&[1, 2, 2, 2], &[0.0; 8], DataFormat::NHWC).unwrap();
        let offsets = Offsets::from_tensor(&[1, 2, 2, 2], &[0.0; 8], &p).unwrap();
        let e = heatmap_offset_to_joints(&heat, &offsets, &p).unwrap_err();
        assert!(
            e.to_string().contains("offsets are 2×2 for 1 joints"),
            "{e}"
        );
    }
}
