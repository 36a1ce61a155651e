//! `GaussianHeatmapToJoints`: heatmaps → joints, with Blueoil's semantics.
//!
//! For each joint channel: take the FIRST maximum in row-major order (like
//! `np.argmax`); the joint is visible iff that peak is not below
//! `threshold_scale × confidence_threshold` (Blueoil: `10 × threshold`, 10
//! being the peak of its training heatmaps). A visible joint sits at
//! `(x · stride, y · stride)` in network-input pixels; an invisible one is
//! `[0, 0, 0]` in Blueoil's `joints` list.
//!
//! Opt-in `subpixel`: every joint moves a quarter cell towards the larger of
//! its two neighbours on each axis, a cheap refinement within the cell
//! grid (training/README.md measures what it gains).
//!
//! Opt-in `stack` (stacked hourglasses with intermediate supervision): which
//! stack's heatmaps to decode, among one output per stack or along axis 1
//! of a 5-D output `[1, stacks, ...]`.

use super::head::Head;
use super::{Decoded, Heatmaps, Joint, OutputTensor};
use crate::config::{ConfigError, DataFormat, Meta};
use anyhow::{bail, ensure, Result};
use serde::Deserialize;
use std::path::Path;

fn default_threshold_scale() -> f64 {
    10.0
}

/// Blueoil's `GaussianHeatmapToJoints`, with opt-in extensions whose defaults
/// keep Blueoil's behaviour.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaussianHeatmapToJoints {
    pub confidence_threshold: f64,
    #[serde(default = "default_num_dimensions")]
    pub num_dimensions: u32,
    #[serde(default = "default_stride")]
    pub stride: u32,
    /// Peak value of a confident joint: the raw cut-off is
    /// `threshold_scale × confidence_threshold`. Blueoil's training heatmaps
    /// peak at 10; use 1.0 for sigmoid heatmaps in 0..1.
    #[serde(default = "default_threshold_scale")]
    pub threshold_scale: f64,
    /// Layout of the heatmap tensor (Blueoil: NHWC).
    #[serde(default)]
    pub data_format: DataFormat,
    /// Every joint moves a quarter cell towards its larger neighbour on each
    /// axis (off in Blueoil).
    #[serde(default)]
    pub subpixel: bool,
    /// Also run the picture mirrored left–right and average the heatmaps
    /// (mirrored back, left/right joints swapped) before decoding: a second
    /// inference per picture (off in Blueoil; `postprocess::flip_test`).
    #[serde(default)]
    pub flip_test: bool,
    /// Which stack's heatmaps to decode, for stacked hourglasses trained with
    /// intermediate supervision (negative: from the end, `-1` = the last):
    /// an index into the model's outputs when it has one output per stack,
    /// or along axis 1 of a 5-D output `[1, stacks, ...]`. Off in Blueoil.
    #[serde(default)]
    pub stack: Option<i64>,
}

fn default_num_dimensions() -> u32 {
    2
}
fn default_stride() -> u32 {
    1
}

impl Head for GaussianHeatmapToJoints {
    fn data_format(&self) -> DataFormat {
        self.data_format
    }

    fn stride(&self) -> u32 {
        self.stride
    }

    fn confidence_threshold(&self) -> f64 {
        self.confidence_threshold
    }

    fn picks_among_outputs(&self) -> bool {
        self.stack.is_some()
    }

    fn validate(&self, meta: &Meta) -> Result<(), ConfigError> {
        let [h, w] = meta.image_size;
        let field = "POST_PROCESSOR.GaussianHeatmapToJoints";
        if !(0.0..=1.0).contains(&self.confidence_threshold) {
            return Err(meta.error(
                &format!("{field}.confidence_threshold"),
                format!("{} is outside 0..=1", self.confidence_threshold),
            ));
        }
        if self.num_dimensions != 2 {
            return Err(meta.error(
                &format!("{field}.num_dimensions"),
                format!("{} is not supported (only 2)", self.num_dimensions),
            ));
        }
        if self.stride == 0 {
            return Err(meta.error(&format!("{field}.stride"), "must be positive"));
        }
        if !(self.threshold_scale.is_finite() && self.threshold_scale > 0.0) {
            return Err(meta.error(
                &format!("{field}.threshold_scale"),
                format!("{} must be a positive number", self.threshold_scale),
            ));
        }
        if h % self.stride != 0 || w % self.stride != 0 {
            return Err(meta.error(
                &format!("{field}.stride"),
                format!("{} does not divide IMAGE_SIZE [{h}, {w}]", self.stride),
            ));
        }
        if self.flip_test {
            crate::postprocess::flip_test::mirror_pairs(&meta.keypoints.names).map_err(|e| {
                meta.error(
                    &format!("{field}.flip_test"),
                    format!("{e} (KEYPOINTS.names, default COCO-17)"),
                )
            })?;
        }
        Ok(())
    }

    fn check_outputs(
        &self,
        meta: &Meta,
        shapes: &[Vec<usize>],
        path: &Path,
    ) -> Result<(usize, Vec<usize>)> {
        check_outputs(meta, self, shapes, path)
    }

    fn decode(&self, _meta: &Meta, outputs: &[OutputTensor]) -> Result<Decoded> {
        let heatmaps = heatmaps_of(outputs, self)?;
        let joints = gaussian_heatmap_to_joints(&heatmaps, self);
        Ok(Decoded {
            heatmaps: Some(heatmaps),
            joints,
            points: None,
        })
    }
}

/// `stack` as an index into `count` stacks (negative: from the end).
pub fn resolve_stack(stack: i64, count: usize) -> Option<usize> {
    let c = count as i64;
    let i = if stack < 0 { c + stack } else { stack };
    (0..c).contains(&i).then_some(i as usize)
}

/// The heatmaps to decode among the model's outputs: the only one, or with
/// `stack` the chosen output or the chosen slice of a 5-D output.
pub fn heatmaps_of(outputs: &[OutputTensor], p: &GaussianHeatmapToJoints) -> Result<Heatmaps> {
    let (out, stack) = match (p.stack, outputs) {
        (_, []) => bail!("the model returned no output"),
        (None, [first, ..]) => (first, None),
        (Some(stack), [one]) => (one, Some(stack)),
        (Some(stack), many) => {
            let Some(i) = resolve_stack(stack, many.len()) else {
                bail!("stack {stack}: the model gives {} outputs", many.len());
            };
            (&many[i], None)
        }
    };
    match (stack, out.shape.as_slice()) {
        (None, shape) => Heatmaps::from_tensor(shape, &out.data, p.data_format),
        (Some(stack), &[1, stacks, a, b, c]) => {
            let Some(s) = resolve_stack(stack, stacks) else {
                bail!("stack {stack}: the heatmap output has {stacks} stacks");
            };
            let chunk = a * b * c;
            ensure!(
                out.data.len() == stacks * chunk,
                "heatmap buffer has {} values, shape {:?} needs {}",
                out.data.len(),
                out.shape,
                stacks * chunk
            );
            Heatmaps::from_tensor(
                &[1, a, b, c],
                &out.data[s * chunk..(s + 1) * chunk],
                p.data_format,
            )
        }
        (Some(stack), shape) => bail!(
            "stack {stack}: the one heatmap output has shape {shape:?}, no stack axis (5-D [1, stacks, ...])"
        ),
    }
}

/// Decodes every joint channel.
///
/// Invisible joints keep their peak position and score (for diagnostics;
/// `subpixel` refines them too, so that evaluation scores every joint the
/// same way); Blueoil's `joints` list reports them as 0.
pub fn gaussian_heatmap_to_joints(hm: &Heatmaps, p: &GaussianHeatmapToJoints) -> Vec<Joint> {
    let cutoff = p.threshold_scale * p.confidence_threshold;
    let stride = p.stride as f32;
    (0..hm.joints)
        .map(|j| {
            let (py, px, peak) = hm.argmax(j);
            let visible = (peak as f64) >= cutoff;
            let (mut fx, mut fy) = (px as f32, py as f32);
            if p.subpixel {
                fx += quarter_shift(hm, j, py, px, true);
                fy += quarter_shift(hm, j, py, px, false);
            }
            Joint {
                x: fx * stride,
                y: fy * stride,
                score: (peak as f64 / p.threshold_scale) as f32,
                visible,
            }
        })
        .collect()
}

/// Checks the model's outputs against meta.yaml: the heatmaps (the only
/// output, or the one `stack` picks) must be `IMAGE_SIZE / stride` with one
/// channel per joint name. Returns the index of the decoded output and its
/// (4-D) heatmap shape.
pub fn check_outputs(
    meta: &Meta,
    p: &GaussianHeatmapToJoints,
    shapes: &[Vec<usize>],
    path: &Path,
) -> Result<(usize, Vec<usize>)> {
    let field = "POST_PROCESSOR.GaussianHeatmapToJoints";
    let stack_field = format!("{field}.stack");
    let (index, shape) = match (p.stack, shapes) {
        (_, []) => bail!("model {} has no output", path.display()),
        (None, [first, ..]) => (0, first.clone()),
        (Some(stack), [one]) => match one.as_slice() {
            &[1, stacks, a, b, c] => match resolve_stack(stack, stacks) {
                Some(_) => (0, vec![1, a, b, c]),
                None => bail!(meta.error(
                    &stack_field,
                    format!(
                        "{stack} is not one of the {stacks} stacks of the heatmap output of model {} (shape {one:?}; -{stacks}..={})",
                        path.display(),
                        stacks - 1
                    )
                )),
            },
            other => bail!(meta.error(
                &stack_field,
                format!(
                    "model {} has one heatmap output, of shape {other:?}: no stack to choose (stack picks one of several outputs, or along axis 1 of a 5-D [1, stacks, ...] output)",
                    path.display()
                )
            )),
        },
        (Some(stack), many) => match resolve_stack(stack, many.len()) {
            Some(i) => (i, many[i].clone()),
            None => bail!(meta.error(
                &stack_field,
                format!(
                    "{stack} is not one of the {} outputs of model {} (-{0}..={})",
                    many.len(),
                    path.display(),
                    many.len() - 1
                )
            )),
        },
    };
    let (h, w) = meta.input_hw();
    let stride = p.stride as usize;
    let want_hw = (h / stride, w / stride);
    let joints = meta.keypoints.names.len();
    let (got_hw, got_j) = match (p.data_format, shape.as_slice()) {
        (DataFormat::NHWC, [1, oh, ow, j]) => ((*oh, *ow), *j),
        (DataFormat::NCHW, [1, j, oh, ow]) => ((*oh, *ow), *j),
        _ => bail!(meta.error(
            &format!("{field}.data_format"),
            format!(
                "heatmap output of model {} has shape {shape:?}, not a batch-1 {:?} tensor",
                path.display(),
                p.data_format
            )
        )),
    };
    if got_hw != want_hw {
        bail!(meta.error(
            &format!("{field}.stride"),
            format!(
                "stride {stride} on IMAGE_SIZE [{h}, {w}] means {}×{} heatmaps, but model {} outputs {}×{} (shape {shape:?})",
                want_hw.0,
                want_hw.1,
                path.display(),
                got_hw.0,
                got_hw.1
            )
        ));
    }
    if got_j != joints {
        bail!(meta.error(
            "KEYPOINTS.names",
            format!(
                "{joints} joints named (default COCO-17), but model {} outputs {got_j} heatmap channels",
                path.display()
            )
        ));
    }
    Ok((index, shape))
}

/// ±0.25 towards the larger of the two neighbours along one axis, 0 at a
/// border or when they are equal.
fn quarter_shift(hm: &Heatmaps, j: usize, y: usize, x: usize, along_x: bool) -> f32 {
    let (pos, len) = if along_x {
        (x, hm.width)
    } else {
        (y, hm.height)
    };
    if pos == 0 || pos + 1 >= len {
        return 0.0;
    }
    let (before, after) = if along_x {
        (hm.at(y, x - 1, j), hm.at(y, x + 1, j))
    } else {
        (hm.at(y - 1, x, j), hm.at(y + 1, x, j))
    };
    if after > before {
        0.25
    } else if after < before {
        -0.25
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(threshold: f64, stride: u32) -> GaussianHeatmapToJoints {
        GaussianHeatmapToJoints {
            confidence_threshold: threshold,
            num_dimensions: 2,
            stride,
            threshold_scale: 10.0,
            data_format: DataFormat::NHWC,
            subpixel: false,
            flip_test: false,
            stack: None,
        }
    }

    fn blank(h: usize, w: usize, j: usize) -> Heatmaps {
        Heatmaps::from_hwc(h, w, j, vec![0.0; h * w * j]).unwrap()
    }

    fn set(hm: &mut Heatmaps, y: usize, x: usize, j: usize, v: f32) {
        let (w, n) = (hm.width, hm.joints);
        hm.data[(y * w + x) * n + j] = v;
    }

    #[test]
    fn ties_take_the_first_maximum_in_row_major_order() {
        let mut hm = blank(4, 5, 1);
        set(&mut hm, 2, 1, 0, 3.0);
        set(&mut hm, 1, 4, 0, 3.0); // earlier row wins
        set(&mut hm, 3, 0, 0, 3.0);
        let j = gaussian_heatmap_to_joints(&hm, &post(0.1, 1))[0];
        assert_eq!((j.x, j.y, j.visible), (4.0, 1.0, true));
        // Same row: the smaller x wins.
        let mut hm = blank(2, 6, 1);
        set(&mut hm, 1, 5, 0, 2.0);
        set(&mut hm, 1, 2, 0, 2.0);
        let j = gaussian_heatmap_to_joints(&hm, &post(0.1, 1))[0];
        assert_eq!((j.x, j.y), (2.0, 1.0));
    }

    #[test]
    fn threshold_edge_is_inclusive() {
        // cut-off = 10 × 0.25 = 2.5: a peak of exactly 2.5 is visible.
        let mut hm = blank(3, 3, 2);
        set(&mut hm, 1, 1, 0, 2.5);
        set(&mut hm, 1, 1, 1, 2.4999);
        let js = gaussian_heatmap_to_joints(&hm, &post(0.25, 8));
        assert!(js[0].visible);
        assert!(!js[1].visible);
        assert!((js[0].score - 0.25).abs() < 1e-7);
    }

    #[test]
    fn all_below_threshold_gives_no_visible_joint() {
        let mut hm = blank(5, 5, 17);
        for j in 0..17 {
            set(&mut hm, j % 5, (j * 3) % 5, j, 0.99);
        }
        let js = gaussian_heatmap_to_joints(&hm, &post(0.1, 8));
        assert_eq!(js.len(), 17);
        assert!(js.iter().all(|j| !j.visible));
    }

    #[test]
    fn stride_scales_coordinates() {
        let mut hm = blank(20, 20, 1);
        set(&mut hm, 7, 13, 0, 9.0);
        for stride in [1, 2, 4, 8, 16] {
            let j = gaussian_heatmap_to_joints(&hm, &post(0.1, stride))[0];
            assert_eq!((j.x, j.y), (13.0 * stride as f32, 7.0 * stride as f32));
        }
    }

    #[test]
    fn negative_heatmaps_still_pick_the_peak() {
        let mut hm = Heatmaps::from_hwc(2, 2, 1, vec![-5.0, -1.0, -3.0, -2.0]).unwrap();
        set(&mut hm, 0, 0, 0, -4.0);
        let j = gaussian_heatmap_to_joints(&hm, &post(0.0, 1))[0];
        // cut-off 0: a peak of -1 is below it.
        assert_eq!((j.x, j.y, j.visible), (1.0, 0.0, false));
    }

    #[test]
    fn nchw_layout_is_transposed() {
        // 2 joints, 2x3: channel 0 peaks at (0,2), channel 1 at (1,0).
        let mut data = vec![0f32; 12];
        data[2] = 5.0;
        data[6 + 3] = 5.0;
        let hm = Heatmaps::from_tensor(&[1, 2, 2, 3], &data, DataFormat::NCHW).unwrap();
        assert_eq!(hm.argmax(0), (0, 2, 5.0));
        assert_eq!(hm.argmax(1), (1, 0, 5.0));
        assert!(Heatmaps::from_tensor(&[2, 2, 2, 3], &data, DataFormat::NCHW).is_err());
    }

    #[test]
    fn subpixel_shifts_a_quarter_towards_larger_neighbour() {
        let mut hm = blank(5, 5, 1);
        set(&mut hm, 2, 2, 0, 10.0);
        set(&mut hm, 2, 3, 0, 6.0); // right larger than left (0)
        set(&mut hm, 1, 2, 0, 4.0); // up larger than down (0)
        let mut p = post(0.1, 4);
        let plain = gaussian_heatmap_to_joints(&hm, &p)[0];
        assert_eq!((plain.x, plain.y), (8.0, 8.0));
        p.subpixel = true;
        let refined = gaussian_heatmap_to_joints(&hm, &p)[0];
        assert_eq!((refined.x, refined.y), (9.0, 7.0));
        // Below the cut-off the joint is refined the same way (evaluation scores
        // every joint's position), only reported invisible.
        p.confidence_threshold = 2.0;
        let dim = gaussian_heatmap_to_joints(&hm, &p)[0];
        assert_eq!((dim.x, dim.y, dim.visible), (9.0, 7.0, false));
    }

    fn out(shape: &[usize], data: Vec<f32>) -> OutputTensor {
        OutputTensor {
            shape: shape.to_vec(),
            data,
        }
    }

    #[test]
    fn stack_picks_a_slice_of_a_5d_output_or_one_of_several_outputs() {
        // 3 stacks of one 2×2 NCHW joint: stack s peaks at cell s (row-major).
        let mut data = vec![0f32; 12];
        for s in 0..3 {
            data[s * 4 + s] = 1.0 + s as f32;
        }
        let mut p = post(0.1, 1);
        p.data_format = DataFormat::NCHW;
        for (stack, cell) in [(-1, 2), (0, 0), (1, 1), (-3, 0)] {
            p.stack = Some(stack);
            let hm = heatmaps_of(&[out(&[1, 3, 1, 2, 2], data.clone())], &p).unwrap();
            assert_eq!(
                hm.argmax(0),
                (cell / 2, cell % 2, 1.0 + cell as f32),
                "stack {stack}"
            );
        }
        // The same heatmaps as three outputs.
        let outs: Vec<_> = (0..3)
            .map(|s| out(&[1, 1, 2, 2], data[s * 4..s * 4 + 4].to_vec()))
            .collect();
        p.stack = Some(-1);
        assert_eq!(heatmaps_of(&outs, &p).unwrap().argmax(0), (1, 0, 3.0));
        p.stack = Some(0);
        assert_eq!(heatmaps_of(&outs, &p).unwrap().argmax(0), (0, 0, 1.0));
        // Out of range, or no stack axis: errors, not panics.
        p.stack = Some(3);
        assert!(heatmaps_of(&outs, &p).is_err());
        assert!(heatmaps_of(&[out(&[1, 3, 1, 2, 2], data.clone())], &p).is_err());
        p.stack = Some(-1);
        assert!(heatmaps_of(&[out(&[1, 1, 2, 2], data[..4].to_vec())], &p).is_err());
        assert!(heatmaps_of(&[out(&[1, 3, 1, 2, 2], data[..11].to_vec())], &p).is_err());
        // Without `stack`: the first output, as Blueoil.
        p.stack = None;
        assert_eq!(heatmaps_of(&outs, &p).unwrap().argmax(0), (0, 0, 1.0));
        assert_eq!(resolve_stack(-4, 3), None);
        assert_eq!(resolve_stack(2, 3), Some(2));
    }
}
