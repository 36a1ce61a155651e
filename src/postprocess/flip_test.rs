//! Flip test (opt-in `GaussianHeatmapToJoints.flip_test`): the network also
//! sees the picture mirrored left–right; its heatmaps, mirrored back with the
//! left and right joints swapped, are averaged with the plain ones before
//! decoding, as HRNet and SimpleBaseline evaluate. It costs a second inference
//! per picture.
//!
//! Alignment: a joint at input pixel `x` peaks at heatmap cell `x / stride`
//! (Blueoil's `JointsToGaussianHeatmap`), and mirroring moves it to pixel
//! `W − 1 − x`. So cell `i` of the plain heatmaps reads the mirrored ones at
//! `(W − 1) / stride − i`, which falls between two cells when `stride > 1`
//! (linear interpolation, clamped at the border). Simply reversing the cells
//! would be off by `1 − 1 / stride` cells (7 pixels at stride 8).

use super::Heatmaps;
use anyhow::{ensure, Result};

/// For each joint, the index of its mirror image: `left_x` ↔ `right_x` (also
/// `l_x` ↔ `r_x`); a name with neither prefix is its own mirror. Errors name
/// a left or right joint whose partner is missing.
pub fn mirror_pairs(names: &[String]) -> Result<Vec<usize>, String> {
    const SIDES: [(&str, &str); 2] = [("left_", "right_"), ("l_", "r_")];
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let partner = SIDES.iter().find_map(|(l, r)| {
                if let Some(rest) = name.strip_prefix(l) {
                    Some(format!("{r}{rest}"))
                } else {
                    name.strip_prefix(r).map(|rest| format!("{l}{rest}"))
                }
            });
            match partner {
                None => Ok(i),
                Some(p) => names.iter().position(|n| *n == p).ok_or_else(|| {
                    format!("joint {name:?} has no mirror joint {p:?} among the joint names")
                }),
            }
        })
        .collect()
}

/// Averages `plain` with `mirrored` (the heatmaps of the mirrored picture)
/// mirrored back into the plain picture's frame: channel `j` reads the
/// mirrored channel `pairs[j]`. `input_width` is the network input's width
/// in pixels, `stride` its ratio to the heatmaps' width.
pub fn fuse_mirrored(
    plain: &Heatmaps,
    mirrored: &Heatmaps,
    pairs: &[usize],
    input_width: usize,
    stride: u32,
) -> Result<Heatmaps> {
    let (h, w, j) = (plain.height, plain.width, plain.joints);
    ensure!(
        (mirrored.height, mirrored.width, mirrored.joints) == (h, w, j),
        "flip test: the mirrored picture's heatmaps are {}×{}×{}, the plain ones {h}×{w}×{j}",
        mirrored.height,
        mirrored.width,
        mirrored.joints
    );
    ensure!(
        pairs.len() == j && pairs.iter().all(|&p| p < j),
        "flip test: {} mirror pairs for {j} heatmap channels",
        pairs.len()
    );
    // Where each plain column reads the mirrored heatmaps: two columns and weights.
    let last = (w - 1) as f32;
    let taps: Vec<(usize, usize, f32)> = (0..w)
        .map(|x| {
            let pos = ((input_width as f32 - 1.0) / stride as f32 - x as f32).clamp(0.0, last);
            let x0 = pos.floor() as usize;
            (x0, (x0 + 1).min(w - 1), pos - x0 as f32)
        })
        .collect();
    let mut data = Vec::with_capacity(plain.data.len());
    for y in 0..h {
        for (x, &(x0, x1, f)) in taps.iter().enumerate() {
            for (c, &m) in pairs.iter().enumerate() {
                let back = mirrored.at(y, x0, m) * (1.0 - f) + mirrored.at(y, x1, m) * f;
                data.push(0.5 * (plain.at(y, x, c) + back));
            }
        }
    }
    Heatmaps::from_hwc(h, w, j, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::COCO17_NAMES;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    /// Gaussian heatmaps (peak 10, sigma 2 cells) with one joint per channel at
    /// `(x, y)` input pixels.
    fn gaussians(w_cells: usize, stride: f32, joints: &[(f32, f32)]) -> Heatmaps {
        let mut data = Vec::new();
        for y in 0..w_cells {
            for x in 0..w_cells {
                for &(jx, jy) in joints {
                    let (dx, dy) = (x as f32 - jx / stride, y as f32 - jy / stride);
                    data.push(10.0 * (-(dx * dx + dy * dy) / 8.0).exp());
                }
            }
        }
        Heatmaps::from_hwc(w_cells, w_cells, joints.len(), data).unwrap()
    }

    #[test]
    fn coco_names_pair_left_with_right() {
        let coco: Vec<String> = COCO17_NAMES.iter().map(|s| s.to_string()).collect();
        let want = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15];
        assert_eq!(mirror_pairs(&coco).unwrap(), want);
        let mpii = names(&["r_ankle", "head_top", "l_ankle"]);
        assert_eq!(mirror_pairs(&mpii).unwrap(), [2, 1, 0]);
        let err = mirror_pairs(&names(&["nose", "left_paw"])).unwrap_err();
        assert!(
            err.contains("\"left_paw\"") && err.contains("\"right_paw\""),
            "{err}"
        );
    }

    #[test]
    fn stride_one_mirror_of_itself_is_unchanged() {
        // At stride 1 the mirrored column is an exact cell: fusing a picture's
        // heatmaps with their own exact mirror image gives them back.
        let plain = gaussians(6, 1.0, &[(1.0, 2.0), (4.0, 3.0), (2.5, 2.5)]);
        let mut mirrored = plain.clone();
        for y in 0..6 {
            for x in 0..6 {
                for c in 0..3 {
                    let pair = [1, 0, 2][c];
                    mirrored.data[(y * 6 + x) * 3 + c] = plain.at(y, 5 - x, pair);
                }
            }
        }
        let fused = fuse_mirrored(&plain, &mirrored, &[1, 0, 2], 6, 1).unwrap();
        for (a, b) in fused.data.iter().zip(&plain.data) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn stride_eight_lines_up_the_mirrored_peak() {
        // A left wrist at input pixel (37, 50) of a 160-px input; in the
        // mirrored picture the network sees a right wrist at (122, 50).
        let plain = gaussians(20, 8.0, &[(37.0, 50.0), (0.0, 0.0)]);
        let mirrored = gaussians(20, 8.0, &[(0.0, 0.0), (159.0 - 37.0, 50.0)]);
        let (py, px, peak) = plain.argmax(0);
        let (_, mx, _) = mirrored.argmax(1);
        // 37 / 8 = 4.6 → cell 5; 122 / 8 = 15.25 → cell 15, and merely
        // reversing the cells would put it at 19 − 15 = 4, a cell off.
        assert_eq!((px, mx), (5, 15));
        let fused = fuse_mirrored(&plain, &mirrored, &[1, 0], 160, 8).unwrap();
        let (fy, fx, fpeak) = fused.argmax(0);
        assert_eq!((fy, fx), (py, px));
        assert!((fpeak - peak).abs() < 0.02 * peak, "{fpeak} vs {peak}");
    }

    #[test]
    fn mismatched_heatmaps_are_an_error() {
        let a = gaussians(4, 1.0, &[(1.0, 1.0)]);
        let b = gaussians(5, 1.0, &[(1.0, 1.0)]);
        let e = fuse_mirrored(&a, &b, &[0], 4, 1).unwrap_err().to_string();
        assert!(e.contains("5×5×1") && e.contains("4×4×1"), "{e}");
        let e = fuse_mirrored(&a, &a, &[1], 4, 1).unwrap_err().to_string();
        assert!(e.contains("mirror pairs"), "{e}");
    }
}
