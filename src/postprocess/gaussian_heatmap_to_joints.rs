//! `GaussianHeatmapToJoints`: heatmaps → joints, with Blueoil's semantics.
//!
//! For each joint channel: take the FIRST maximum in row-major order (like
//! `np.argmax`); the joint is visible iff that peak is not below
//! `threshold_scale × confidence_threshold` (Blueoil: `10 × threshold`, 10
//! being the peak of its training heatmaps). A visible joint sits at
//! `(x · stride, y · stride)` in network-input pixels; an invisible one is
//! `[0, 0, 0]` in Blueoil's `joints` list.

use super::{Heatmaps, Joint};
use crate::config::GaussianHeatmapToJoints;

/// Decodes every joint channel.
///
/// Invisible joints keep their peak position and score (for diagnostics);
/// Blueoil's `joints` list reports them as 0.
pub fn gaussian_heatmap_to_joints(hm: &Heatmaps, p: &GaussianHeatmapToJoints) -> Vec<Joint> {
    let cutoff = p.threshold_scale * p.confidence_threshold;
    let stride = p.stride as f32;
    (0..hm.joints)
        .map(|j| {
            let (py, px, peak) = hm.argmax(j);
            let visible = (peak as f64) >= cutoff;
            let (mut fx, mut fy) = (px as f32, py as f32);
            if p.subpixel && visible {
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
    use crate::config::DataFormat;

    fn post(threshold: f64, stride: u32) -> GaussianHeatmapToJoints {
        GaussianHeatmapToJoints {
            confidence_threshold: threshold,
            num_dimensions: 2,
            stride,
            threshold_scale: 10.0,
            data_format: DataFormat::NHWC,
            subpixel: false,
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
    }
}
