//! Scores: PCK (normalised by the box's longer side, or by the torso),
//! PCKh (MPII's head size), COCO OKS with COCOeval's AP/AR, pixel errors.
//!
//! PCK counts every labelled ground-truth joint that the model predicts;
//! the model's position is its heatmap peak whether or not the peak clears
//! `confidence_threshold` (PCK has no "abstain"). A joint is correct at α
//! when its distance is at most α × the normaliser.

use super::GtJoint;

/// One labelled ground-truth joint and the model's prediction of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JointError {
    /// Index of the sample in the evaluation.
    pub sample: usize,
    /// Canonical joint name.
    pub joint: String,
    /// Distance in original-image pixels.
    pub distance: f64,
    /// The sample box's longer side.
    pub box_size: f64,
    /// Left shoulder to right hip, when both are labelled.
    pub torso: Option<f64>,
    /// MPII head size, when the format gives one.
    pub head: Option<f64>,
}

/// What PCK is normalised by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    Box,
    Torso,
    Head,
}

impl JointError {
    pub fn norm(&self, n: Norm) -> Option<f64> {
        match n {
            Norm::Box => Some(self.box_size),
            Norm::Torso => self.torso,
            Norm::Head => self.head,
        }
    }
}

/// Fraction of joints within α × normaliser; None when no joint has the
/// normaliser.
pub fn pck<'a>(
    errors: impl IntoIterator<Item = &'a JointError>,
    alpha: f64,
    n: Norm,
) -> Option<f64> {
    let (mut hit, mut total) = (0usize, 0usize);
    for e in errors {
        if let Some(norm) = e.norm(n) {
            total += 1;
            if e.distance <= alpha * norm {
                hit += 1;
            }
        }
    }
    (total > 0).then(|| hit as f64 / total as f64)
}

/// Mean and median of the distances (None when empty).
pub fn pixel_error<'a>(errors: impl IntoIterator<Item = &'a JointError>) -> Option<(f64, f64)> {
    let mut d: Vec<f64> = errors.into_iter().map(|e| e.distance).collect();
    if d.is_empty() {
        return None;
    }
    d.sort_by(f64::total_cmp);
    let mean = d.iter().sum::<f64>() / d.len() as f64;
    let mid = d.len() / 2;
    let median = if d.len() % 2 == 1 {
        d[mid]
    } else {
        (d[mid - 1] + d[mid]) / 2.0
    };
    Some((mean, median))
}

/// COCO's per-keypoint OKS sigmas, in COCO-17 order (cocoeval.py).
pub const COCO17_SIGMAS: [f64; 17] = [
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107,
    0.087, 0.087, 0.089, 0.089,
];

/// A box as COCO stores it: x, y, w, h.
pub type Bbox = [f64; 4];

/// One ground-truth instance for COCOeval: joints in the sigmas' order.
#[derive(Debug, Clone, PartialEq)]
pub struct CocoGt {
    pub image_id: u64,
    pub joints: Vec<GtJoint>,
    pub area: f64,
    pub bbox: Bbox,
    pub iscrowd: bool,
    /// COCOeval's `ignore`: crowd, or `num_keypoints == 0`.
    pub ignore: bool,
}

/// One prediction for COCOeval: keypoints in the sigmas' order.
#[derive(Debug, Clone, PartialEq)]
pub struct CocoDet {
    pub image_id: u64,
    pub keypoints: Vec<(f64, f64)>,
    pub score: f64,
}

/// Object keypoint similarity exactly as COCOeval's `computeOks`: over the
/// labelled joints, mean of exp(−d² / (2 · area · (2σ)²)); for an instance
/// without labelled joints, the distance to a box twice the size around the
/// annotation's box, over all joints.
pub fn oks(gt: &CocoGt, det: &CocoDet, sigmas: &[f64]) -> f64 {
    let vars: Vec<f64> = sigmas.iter().map(|s| (2.0 * s).powi(2)).collect();
    let k1 = gt.joints.iter().filter(|j| j.v > 0).count();
    let [bx, by, bw, bh] = gt.bbox;
    let (x0, x1, y0, y1) = (bx - bw, bx + 2.0 * bw, by - bh, by + 2.0 * bh);
    let mut sum = 0.0;
    let mut count = 0usize;
    for (k, (g, &(xd, yd))) in gt.joints.iter().zip(&det.keypoints).enumerate() {
        let (dx, dy) = if k1 > 0 {
            if g.v == 0 {
                continue;
            }
            (xd - g.x, yd - g.y)
        } else {
            (
                (x0 - xd).max(0.0) + (xd - x1).max(0.0),
                (y0 - yd).max(0.0) + (yd - y1).max(0.0),
            )
        };
        let e = (dx * dx + dy * dy) / vars[k] / (gt.area + f64::EPSILON) / 2.0;
        sum += (-e).exp();
        count += 1;
    }
    if count == 0 {
        0.0
    } else {
        sum / count as f64
    }
}

/// COCOeval's keypoint summary (area range "all", 20 detections an image).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CocoStats {
    /// AP over OKS thresholds 0.50:0.05:0.95.
    pub ap: f64,
    pub ap50: f64,
    pub ap75: f64,
    /// AR over the same thresholds.
    pub ar: f64,
    pub ar50: f64,
    pub ar75: f64,
}

const MAX_DETS: usize = 20;

/// numpy's `linspace(start, stop, n)`.
fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    let step = (stop - start) / (n - 1) as f64;
    (0..n).map(|i| i as f64 * step + start).collect()
}

/// COCOeval (`iouType="keypoints"`: evaluate, accumulate, summarize) for one
/// category. None when no ground truth is scored.
pub fn coco_keypoint_eval(gts: &[CocoGt], dets: &[CocoDet], sigmas: &[f64]) -> Option<CocoStats> {
    let thresholds = linspace(0.5, 0.95, 10);
    let rec_thrs = linspace(0.0, 1.0, 101);
    let mut image_ids: Vec<u64> = gts.iter().map(|g| g.image_id).collect();
    image_ids.sort_unstable();
    image_ids.dedup();
    // Per threshold: (score, matched, ignored) of every detection, image by image.
    let mut per_t: Vec<Vec<(f64, bool, bool)>> = vec![vec![]; thresholds.len()];
    let mut npig = 0usize;
    for &img in &image_ids {
        // Non-ignored ground truth first (stable), detections by score (stable).
        let mut g: Vec<&CocoGt> = gts.iter().filter(|g| g.image_id == img).collect();
        g.sort_by_key(|g| g.ignore);
        let mut d: Vec<&CocoDet> = dets.iter().filter(|d| d.image_id == img).collect();
        d.sort_by(|a, b| b.score.total_cmp(&a.score));
        d.truncate(MAX_DETS);
        npig += g.iter().filter(|g| !g.ignore).count();
        let ious: Vec<Vec<f64>> = d
            .iter()
            .map(|d| g.iter().map(|g| oks(g, d, sigmas)).collect())
            .collect();
        for (t, &thr) in thresholds.iter().enumerate() {
            let mut gt_matched = vec![false; g.len()];
            for (di, det) in d.iter().enumerate() {
                let mut iou = thr.min(1.0 - 1e-10);
                let mut m: Option<usize> = None;
                for gi in 0..g.len() {
                    if gt_matched[gi] && !g[gi].iscrowd {
                        continue;
                    }
                    // Already matched to a scored instance: ignored ones come after.
                    if let Some(mi) = m {
                        if !g[mi].ignore && g[gi].ignore {
                            break;
                        }
                    }
                    if ious[di][gi] < iou {
                        continue;
                    }
                    iou = ious[di][gi];
                    m = Some(gi);
                }
                match m {
                    Some(gi) => {
                        gt_matched[gi] = true;
                        per_t[t].push((det.score, true, g[gi].ignore));
                    }
                    None => per_t[t].push((det.score, false, false)),
                }
            }
        }
    }
    if npig == 0 {
        return None;
    }
    let mut precision = vec![vec![0.0; rec_thrs.len()]; thresholds.len()];
    let mut recall = vec![0.0; thresholds.len()];
    for (t, dets) in per_t.iter_mut().enumerate() {
        // np.argsort(-scores, kind="mergesort"): stable.
        dets.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (mut tp, mut fp) = (0.0f64, 0.0f64);
        let mut rc = vec![];
        let mut pr = vec![];
        for &(_, matched, ignored) in dets.iter() {
            if ignored {
                // Cumulative sums do not move: COCOeval keeps the entry.
            } else if matched {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            rc.push(tp / npig as f64);
            pr.push(tp / (fp + tp + f64::EPSILON));
        }
        recall[t] = rc.last().copied().unwrap_or(0.0);
        for i in (1..pr.len()).rev() {
            if pr[i] > pr[i - 1] {
                pr[i - 1] = pr[i];
            }
        }
        for (ri, &r) in rec_thrs.iter().enumerate() {
            // np.searchsorted(rc, r, side="left"); COCOeval stops at the first miss.
            let pi = rc.partition_point(|&x| x < r);
            if pi >= pr.len() {
                break;
            }
            precision[t][ri] = pr[pi];
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let at = |thr: f64| {
        thresholds
            .iter()
            .position(|&t| (t - thr).abs() < 1e-9)
            .expect("threshold on the grid")
    };
    let all: Vec<f64> = precision.iter().flatten().copied().collect();
    Some(CocoStats {
        ap: mean(&all),
        ap50: mean(&precision[at(0.5)]),
        ap75: mean(&precision[at(0.75)]),
        ar: mean(&recall),
        ar50: recall[at(0.5)],
        ar75: recall[at(0.75)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(distance: f64, box_size: f64, torso: Option<f64>, head: Option<f64>) -> JointError {
        JointError {
            sample: 0,
            joint: "j".into(),
            distance,
            box_size,
            torso,
            head,
        }
    }

    #[test]
    fn pck_by_box_and_torso_hand_computed() {
        // Box 100 px: at α = 0.1 the cut-off is 10 px (inclusive).
        let e = [
            err(5.0, 100.0, Some(40.0), None),
            err(10.0, 100.0, Some(40.0), None),
            err(15.0, 100.0, None, None),
            err(30.0, 200.0, Some(100.0), None),
        ];
        assert_eq!(pck(&e, 0.1, Norm::Box), Some(0.5));
        // α = 0.2: 20, 20, 20, 40 px → 5, 10, 15, 30 all in.
        assert_eq!(pck(&e, 0.2, Norm::Box), Some(1.0));
        assert_eq!(pck(&e, 0.05, Norm::Box), Some(0.25));
        // Torso: 40, 40, 100 → cut-offs at α 0.2: 8, 8, 20 → only 5 px is in.
        assert_eq!(pck(&e, 0.2, Norm::Torso), Some(1.0 / 3.0));
        assert_eq!(pck(&e, 0.5, Norm::Head), None);
    }

    #[test]
    fn pckh_hand_computed() {
        // Head size 20 px: PCKh@0.5 cut-off 10 px, @0.1 2 px; head 60 px: 30 and 6 px.
        let e = [
            err(1.5, 300.0, None, Some(20.0)),
            err(9.0, 300.0, None, Some(20.0)),
            err(10.5, 300.0, None, Some(20.0)),
            err(3.0, 300.0, None, Some(60.0)),
            err(0.0, 300.0, None, None),
        ];
        assert_eq!(pck(&e, 0.5, Norm::Head), Some(0.75));
        // @0.1: 1.5 (≤ 2) and 3.0 (≤ 6) are in.
        assert_eq!(pck(&e, 0.1, Norm::Head), Some(0.5));
    }

    #[test]
    fn pixel_error_mean_and_median() {
        let e = [
            err(1.0, 1.0, None, None),
            err(7.0, 1.0, None, None),
            err(3.0, 1.0, None, None),
            err(5.0, 1.0, None, None),
        ];
        assert_eq!(pixel_error(&e), Some((4.0, 4.0)));
        assert_eq!(pixel_error(&e[..3]), Some((11.0 / 3.0, 3.0)));
        assert_eq!(pixel_error(&[]), None);
    }

    fn person(image_id: u64, x: f64) -> CocoGt {
        CocoGt {
            image_id,
            joints: vec![
                GtJoint { x, y: 10.0, v: 2 },
                GtJoint {
                    x: x + 10.0,
                    y: 10.0,
                    v: 1,
                },
                GtJoint::UNLABELLED,
            ],
            area: 100.0,
            bbox: [x, 0.0, 10.0, 10.0],
            iscrowd: false,
            ignore: false,
        }
    }

    fn det(image_id: u64, kp: &[(f64, f64)], score: f64) -> CocoDet {
        CocoDet {
            image_id,
            keypoints: kp.to_vec(),
            score,
        }
    }

    const SIG: [f64; 3] = [0.1, 0.1, 0.1];

    #[test]
    fn oks_hand_computed() {
        let g = person(1, 0.0);
        // Exact on the labelled joints; the unlabelled one does not count.
        let d = det(1, &[(0.0, 10.0), (10.0, 10.0), (99.0, 99.0)], 1.0);
        assert_eq!(oks(&g, &d, &SIG), 1.0);
        // First joint 2 px off: e = 4 / (0.2² · 100) / 2 = 0.5.
        let d = det(1, &[(2.0, 10.0), (10.0, 10.0), (0.0, 0.0)], 1.0);
        let want = ((-0.5f64).exp() + 1.0) / 2.0;
        assert!((oks(&g, &d, &SIG) - want).abs() < 1e-12);
    }

    #[test]
    fn ap_is_one_for_perfect_predictions_and_falls_with_a_miss() {
        let gts = [person(1, 0.0), person(1, 50.0), person(2, 0.0)];
        let perfect = [
            det(1, &[(0.0, 10.0), (10.0, 10.0), (0.0, 0.0)], 0.9),
            det(1, &[(50.0, 10.0), (60.0, 10.0), (0.0, 0.0)], 0.8),
            det(2, &[(0.0, 10.0), (10.0, 10.0), (0.0, 0.0)], 0.7),
        ];
        let s = coco_keypoint_eval(&gts, &perfect, &SIG).unwrap();
        assert_eq!((s.ap, s.ar), (1.0, 1.0));
        // The highest-scoring prediction is far off: a false positive first,
        // then 2 of 3 found. Precision at recall ≤ 2/3 is 2/3 (interpolated),
        // nothing above: AP = 67 recall points × 2/3 / 101.
        let one_wrong = [
            det(1, &[(90.0, 90.0), (95.0, 95.0), (0.0, 0.0)], 0.95),
            perfect[1].clone(),
            perfect[2].clone(),
        ];
        let s = coco_keypoint_eval(&gts, &one_wrong, &SIG).unwrap();
        assert!((s.ar - 2.0 / 3.0).abs() < 1e-12, "{s:?}");
        assert!((s.ap - 67.0 * (2.0 / 3.0) / 101.0).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn predictions_on_ignored_instances_are_neither_hits_nor_misses() {
        let mut crowd = person(1, 50.0);
        crowd.ignore = true;
        crowd.iscrowd = true;
        let gts = [person(1, 0.0), crowd];
        let dets = [
            det(1, &[(50.0, 10.0), (60.0, 10.0), (0.0, 0.0)], 0.9),
            det(1, &[(0.0, 10.0), (10.0, 10.0), (0.0, 0.0)], 0.8),
        ];
        let s = coco_keypoint_eval(&gts, &dets, &SIG).unwrap();
        // Precision is tp / (tp + fp + eps) as in COCOeval: 1 − 2⁻⁵² here.
        assert!((s.ap - 1.0).abs() < 1e-15 && s.ar == 1.0, "{s:?}");
    }
}
