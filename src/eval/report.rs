//! The evaluation's results: terminal tables per joint and per data set,
//! `report.json`, COCO-format ground truth and predictions (for
//! pycocotools), and the PCK-vs-α plot.

use super::gt::Format;
use super::joints::JointMap;
use super::metric_list::{Metric, DEFAULT_METRICS};
use super::metrics::{
    coco_keypoint_eval, pck, pixel_error, CocoDet, CocoGt, CocoStats, JointError, Norm,
    COCO17_SIGMAS,
};
use super::options::{CropMode, EvalOptions};
use super::prediction::{Failure, Prediction};
use super::{GroundTruth, GtJoint};
use crate::config::COCO17_NAMES;
use crate::pipeline::Pipeline;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// α values of the PCK curves (0 to 0.5 in steps of 0.01).
pub fn curve_alphas() -> Vec<f64> {
    (0..=50).map(|i| i as f64 / 100.0).collect()
}

/// Joints MPII's PCKh mean leaves out.
const NOT_IN_PCKH_MEAN: [&str; 2] = ["pelvis", "thorax"];

/// Scores of a set of joints (one joint, one data set, everything).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    pub name: String,
    /// Instances that contributed.
    pub instances: usize,
    /// Labelled joints scored.
    pub joints: usize,
    /// PCK by the box's longer side at α 0.05, 0.1, 0.2, 0.5 (and each `--metric pck@A`).
    pub pck: BTreeMap<String, Option<f64>>,
    /// PCK by the torso (left shoulder – right hip) at α 0.1, 0.2 (and each `tpck@A`).
    pub pck_torso: BTreeMap<String, Option<f64>>,
    /// PCKh at α 0.1, 0.5 (and each `pckh@A`; pelvis and thorax excluded, as MPII's mean).
    pub pckh: BTreeMap<String, Option<f64>>,
    pub mean_px_error: Option<f64>,
    pub median_px_error: Option<f64>,
    /// COCOeval keypoint AP/AR (None without COCO-named joints).
    pub coco: Option<CocoStats>,
}

/// A PCK curve of one joint group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Curve {
    pub group: String,
    pub joints: usize,
    pub pck: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub model: String,
    pub meta: String,
    pub ground_truth: String,
    pub format: Format,
    pub crop: CropMode,
    pub margin: f64,
    pub min_joints: usize,
    /// The terminal tables' columns (`--metric`).
    pub metrics: Vec<Metric>,
    pub instances_evaluated: usize,
    pub instances_failed: usize,
    pub skipped: Vec<String>,
    pub notes: Vec<String>,
    pub joint_map: JointMap,
    pub summary: Scores,
    pub per_joint: Vec<Scores>,
    pub per_dataset: Vec<Scores>,
    pub curve_alphas: Vec<f64>,
    pub curves: Vec<Curve>,
    pub failures: Vec<Failure>,
}

fn key(alpha: f64) -> String {
    format!("{alpha}")
}

/// The joint group a canonical name is plotted in.
pub fn group_of(name: &str) -> &'static str {
    for (part, group) in [
        ("shoulder", "shoulders"),
        ("elbow", "elbows"),
        ("wrist", "wrists"),
        ("hip", "hips"),
        ("knee", "knees"),
        ("ankle", "ankles"),
    ] {
        if name.contains(part) {
            return group;
        }
    }
    if ["nose", "eye", "ear", "head", "neck"]
        .iter()
        .any(|p| name.contains(p))
    {
        "head"
    } else {
        "other"
    }
}

const GROUP_ORDER: [&str; 8] = [
    "head",
    "shoulders",
    "elbows",
    "wrists",
    "hips",
    "knees",
    "ankles",
    "other",
];

/// The COCO-17 view of the evaluation, for OKS: per COCO joint, the paired
/// (model index, ground-truth index).
fn coco_pairs(map: &JointMap) -> Vec<Option<(usize, usize)>> {
    COCO17_NAMES
        .iter()
        .map(|n| map.pairs.iter().find(|p| p.2 == *n).map(|p| (p.0, p.1)))
        .collect()
}

fn to_coco17(joints: &[GtJoint], pairs: &[Option<(usize, usize)>]) -> Vec<GtJoint> {
    pairs
        .iter()
        .map(|p| p.map_or(GtJoint::UNLABELLED, |(_, g)| joints[g]))
        .collect()
}

/// COCOeval inputs: ground truth (scored samples that ran, plus COCO's
/// ignored instances on their images) and one prediction per sample. Image
/// ids are 1-based in order of first appearance.
pub struct CocoView {
    pub images: Vec<PathBuf>,
    pub gts: Vec<CocoGt>,
    pub dets: Vec<CocoDet>,
    /// Data set of each gt / det (parallel vectors).
    pub gt_dataset: Vec<String>,
    pub det_dataset: Vec<String>,
}

pub fn coco_view(
    truth: &GroundTruth,
    map: &JointMap,
    predictions: &[Prediction],
) -> Option<CocoView> {
    let pairs = coco_pairs(map);
    if pairs.iter().all(|p| p.is_none()) {
        return None;
    }
    let mut images: Vec<PathBuf> = vec![];
    let mut id_of = |p: &Path| -> u64 {
        match images.iter().position(|i| i == p) {
            Some(i) => i as u64 + 1,
            None => {
                images.push(p.to_path_buf());
                images.len() as u64
            }
        }
    };
    let mut v = CocoView {
        images: vec![],
        gts: vec![],
        dets: vec![],
        gt_dataset: vec![],
        det_dataset: vec![],
    };
    for p in predictions {
        let s = &truth.samples[p.sample];
        let image_id = id_of(&s.image);
        let joints = to_coco17(&s.joints, &pairs);
        let labelled = joints.iter().any(|j| j.labelled());
        v.gts.push(CocoGt {
            image_id,
            joints,
            area: s.area,
            bbox: [s.bbox.x, s.bbox.y, s.bbox.w, s.bbox.h],
            iscrowd: false,
            ignore: !labelled,
        });
        v.gt_dataset.push(s.dataset.clone());
        v.dets.push(CocoDet {
            image_id,
            keypoints: pairs
                .iter()
                .map(|q| q.map_or((0.0, 0.0), |(m, _)| (p.joints[m].0, p.joints[m].1)))
                .collect(),
            score: p.score(),
        });
        v.det_dataset.push(s.dataset.clone());
    }
    for ig in &truth.ignored {
        // Only on images that were evaluated: elsewhere it changes nothing.
        let Some(pos) = images.iter().position(|i| *i == ig.image) else {
            continue;
        };
        let dataset = v.gt_dataset[v
            .gts
            .iter()
            .position(|g| g.image_id == pos as u64 + 1)
            .expect("evaluated image")]
        .clone();
        v.gts.push(CocoGt {
            image_id: pos as u64 + 1,
            joints: to_coco17(&ig.joints, &pairs),
            area: ig.area,
            bbox: [ig.bbox.x, ig.bbox.y, ig.bbox.w, ig.bbox.h],
            iscrowd: ig.iscrowd,
            ignore: true,
        });
        v.gt_dataset.push(dataset);
    }
    v.images = images;
    Some(v)
}

/// The α values a report scores: the fixed set of [`Scores`] plus those `--metric` asks for.
#[derive(Debug, Clone)]
struct Alphas {
    pck: Vec<f64>,
    torso: Vec<f64>,
    pckh: Vec<f64>,
}

impl Alphas {
    fn for_metrics(metrics: &[Metric]) -> Alphas {
        let mut a = Alphas {
            pck: vec![0.05, 0.1, 0.2, 0.5],
            torso: vec![0.1, 0.2],
            pckh: vec![0.1, 0.5],
        };
        for m in metrics {
            let (list, alpha) = match *m {
                Metric::Pck(x) => (&mut a.pck, x),
                Metric::PckTorso(x) => (&mut a.torso, x),
                Metric::Pckh(x) => (&mut a.pckh, x),
                Metric::Oks | Metric::PixelError => continue,
            };
            if !list.contains(&alpha) {
                list.push(alpha);
            }
        }
        a
    }
}

fn scores(
    name: &str,
    errors: &[&JointError],
    instances: usize,
    coco: Option<CocoStats>,
    alphas: &Alphas,
) -> Scores {
    let at = |alphas: &[f64], n: Norm, errs: &[&JointError]| -> BTreeMap<String, Option<f64>> {
        alphas
            .iter()
            .map(|&a| (key(a), pck(errs.iter().copied(), a, n)))
            .collect()
    };
    let for_pckh: Vec<&JointError> = errors
        .iter()
        .copied()
        .filter(|e| !NOT_IN_PCKH_MEAN.contains(&e.joint.as_str()))
        .collect();
    let px = pixel_error(errors.iter().copied());
    Scores {
        name: name.to_string(),
        instances,
        joints: errors.len(),
        pck: at(&alphas.pck, Norm::Box, errors),
        pck_torso: at(&alphas.torso, Norm::Torso, errors),
        pckh: at(&alphas.pckh, Norm::Head, &for_pckh),
        mean_px_error: px.map(|p| p.0),
        median_px_error: px.map(|p| p.1),
        coco,
    }
}

/// Distances of every labelled, predicted joint.
pub fn joint_errors(
    truth: &GroundTruth,
    map: &JointMap,
    predictions: &[Prediction],
) -> Vec<JointError> {
    let idx = |n: &str| truth.joint_names.iter().position(|g| g == n);
    let (ls, rh) = (idx("left_shoulder"), idx("right_hip"));
    let mut out = vec![];
    for p in predictions {
        let s = &truth.samples[p.sample];
        let torso = match (ls, rh) {
            (Some(a), Some(b)) if s.joints[a].labelled() && s.joints[b].labelled() => {
                let (a, b) = (s.joints[a], s.joints[b]);
                Some(((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()).filter(|t| *t > 0.0)
            }
            _ => None,
        };
        for (m, g, name) in &map.pairs {
            let gj = s.joints[*g];
            if !gj.labelled() {
                continue;
            }
            let (x, y, ..) = p.joints[*m];
            out.push(JointError {
                sample: p.sample,
                joint: name.clone(),
                distance: ((x - gj.x).powi(2) + (y - gj.y).powi(2)).sqrt(),
                box_size: s.bbox.longer_side(),
                torso,
                head: s.head_size,
            });
        }
    }
    out
}

impl Report {
    pub fn build(
        pipeline: &Pipeline,
        opts: &EvalOptions,
        format: Format,
        truth: &GroundTruth,
        map: &JointMap,
        predictions: &[Prediction],
        failures: &[Failure],
    ) -> Report {
        let errors = joint_errors(truth, map, predictions);
        let metrics = if opts.metrics.is_empty() {
            DEFAULT_METRICS.to_vec()
        } else {
            opts.metrics.clone()
        };
        let alphas = Alphas::for_metrics(&metrics);
        let all: Vec<&JointError> = errors.iter().collect();
        let view = coco_view(truth, map, predictions);
        let coco_of = |dataset: Option<&str>| -> Option<CocoStats> {
            let v = view.as_ref()?;
            let keep = |d: &String| dataset.is_none_or(|want| d == want);
            let gts: Vec<CocoGt> = v
                .gts
                .iter()
                .zip(&v.gt_dataset)
                .filter(|(_, d)| keep(d))
                .map(|(g, _)| g.clone())
                .collect();
            let dets: Vec<CocoDet> = v
                .dets
                .iter()
                .zip(&v.det_dataset)
                .filter(|(_, d)| keep(d))
                .map(|(g, _)| g.clone())
                .collect();
            coco_keypoint_eval(&gts, &dets, &COCO17_SIGMAS)
        };
        let summary = scores("all", &all, predictions.len(), coco_of(None), &alphas);
        let per_joint = map
            .pairs
            .iter()
            .map(|(_, _, name)| {
                let e: Vec<&JointError> = errors.iter().filter(|e| e.joint == *name).collect();
                let instances = e.len();
                scores(name, &e, instances, None, &alphas)
            })
            .collect();
        let mut datasets: Vec<&str> = vec![];
        for p in predictions {
            let d = truth.samples[p.sample].dataset.as_str();
            if !datasets.contains(&d) {
                datasets.push(d);
            }
        }
        let per_dataset = datasets
            .iter()
            .map(|d| {
                let e: Vec<&JointError> = errors
                    .iter()
                    .filter(|e| truth.samples[e.sample].dataset == *d)
                    .collect();
                let n = predictions
                    .iter()
                    .filter(|p| truth.samples[p.sample].dataset == *d)
                    .count();
                scores(d, &e, n, coco_of(Some(d)), &alphas)
            })
            .collect();
        let curve_alphas = curve_alphas();
        let mut curves: Vec<Curve> = GROUP_ORDER
            .iter()
            .filter_map(|g| {
                let e: Vec<&JointError> =
                    errors.iter().filter(|e| group_of(&e.joint) == *g).collect();
                (!e.is_empty()).then(|| Curve {
                    group: g.to_string(),
                    joints: e.len(),
                    pck: curve_alphas
                        .iter()
                        .map(|&a| pck(e.iter().copied(), a, Norm::Box).unwrap_or(0.0))
                        .collect(),
                })
            })
            .collect();
        if !errors.is_empty() {
            curves.push(Curve {
                group: "all".into(),
                joints: errors.len(),
                pck: curve_alphas
                    .iter()
                    .map(|&a| pck(&errors, a, Norm::Box).unwrap_or(0.0))
                    .collect(),
            });
        }
        let model = Pipeline::model_path(&pipeline.meta, None)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Report {
            model,
            meta: pipeline.meta.path.display().to_string(),
            ground_truth: opts.gt.display().to_string(),
            format,
            crop: opts.crop,
            margin: opts.margin,
            min_joints: opts.min_joints,
            metrics,
            instances_evaluated: predictions.len(),
            instances_failed: failures.len(),
            skipped: truth.skipped.clone(),
            notes: truth.notes.clone(),
            joint_map: map.clone(),
            summary,
            per_joint,
            per_dataset,
            curve_alphas,
            curves,
            failures: failures.to_vec(),
        }
    }

    /// One metric's cells for a row (as many as its columns in that table).
    fn cells(s: &Scores, m: &Metric, per_joint: bool) -> Vec<String> {
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        let px = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        let g = |m: &BTreeMap<String, Option<f64>>, a: f64| m.get(&key(a)).copied().flatten();
        match *m {
            Metric::Pck(a) => vec![f(g(&s.pck, a))],
            Metric::PckTorso(a) => vec![f(g(&s.pck_torso, a))],
            Metric::Pckh(a) => vec![f(g(&s.pckh, a))],
            Metric::Oks if per_joint => vec![],
            Metric::Oks => vec![
                f(s.coco.map(|c| c.ap)),
                f(s.coco.map(|c| c.ap50)),
                f(s.coco.map(|c| c.ar)),
            ],
            Metric::PixelError => vec![px(s.mean_px_error), px(s.median_px_error)],
        }
    }

    /// A table: a name column, a count column or two, then the metrics' columns.
    fn rows<'a>(
        &self,
        t: &mut String,
        heads: &[&str],
        rows: impl Iterator<Item = &'a Scores>,
        per_joint: bool,
    ) {
        let mut header: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
        for m in &self.metrics {
            header.extend(if per_joint {
                m.joint_columns()
            } else {
                m.dataset_columns()
            });
        }
        let widths: Vec<usize> = header
            .iter()
            .enumerate()
            .map(|(i, h)| if i == 0 { 16 } else { h.chars().count().max(6) })
            .collect();
        let line = |t: &mut String, cells: &[String]| {
            let mut out = format!("{:<w$}", cells[0], w = widths[0]);
            for (c, w) in cells.iter().zip(&widths).skip(1) {
                let _ = write!(out, " {c:>w$}");
            }
            let _ = writeln!(t, "{out}");
        };
        line(t, &header);
        for s in rows {
            let mut cells = vec![s.name.clone()];
            if per_joint {
                cells.push(s.joints.to_string());
            } else {
                cells.push(s.instances.to_string());
                cells.push(s.joints.to_string());
            }
            for m in &self.metrics {
                cells.extend(Self::cells(s, m, per_joint));
            }
            line(t, &cells);
        }
    }

    /// The terminal tables: per joint, per data set, and the summary, with the columns of
    /// [`Report::metrics`].
    pub fn table(&self) -> String {
        let mut t = String::new();
        self.rows(&mut t, &["joint", "n"], self.per_joint.iter(), true);
        let _ = writeln!(t);
        let datasets = self
            .per_dataset
            .iter()
            .chain(std::iter::once(&self.summary));
        self.rows(&mut t, &["dataset", "inst", "joints"], datasets, false);
        let s = &self.summary;
        let figures: Vec<String> = self
            .metrics
            .iter()
            .map(|m| {
                let c = Self::cells(s, m, false);
                match m {
                    Metric::Pck(a) => format!("PCK@{a} {} (box longer side)", c[0]),
                    Metric::PckTorso(a) => format!("torso PCK@{a} {}", c[0]),
                    Metric::Pckh(a) => format!("PCKh mean@{a} {}", c[0]),
                    Metric::Oks => format!("OKS AP {} AP50 {} AR {}", c[0], c[1], c[2]),
                    Metric::PixelError => format!("pixel error mean {} median {}", c[0], c[1]),
                }
            })
            .collect();
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "{} instance(s) evaluated, {} failed, {} skipped; {}",
            self.instances_evaluated,
            self.instances_failed,
            self.skipped.len(),
            figures.join("; ")
        );
        if !self.joint_map.unmatched_model.is_empty() {
            let _ = writeln!(
                t,
                "model joints not in the ground truth: {}",
                self.joint_map.unmatched_model.join(", ")
            );
        }
        if !self.joint_map.unmatched_gt.is_empty() {
            let _ = writeln!(
                t,
                "ground-truth joints the model does not predict: {}",
                self.joint_map.unmatched_gt.join(", ")
            );
        }
        for n in &self.notes {
            let _ = writeln!(t, "note: {n}");
        }
        t
    }
}

/// COCO ground truth and results json for pycocotools.
pub fn coco_files(v: &CocoView) -> (serde_json::Value, serde_json::Value) {
    let images: Vec<_> = v
        .images
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"id": i + 1, "file_name": p.display().to_string()}))
        .collect();
    let annotations: Vec<_> = v
        .gts
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let kp: Vec<f64> = g
                .joints
                .iter()
                .flat_map(|j| [j.x, j.y, j.v as f64])
                .collect();
            json!({
                "id": i + 1,
                "image_id": g.image_id,
                "category_id": 1,
                "keypoints": kp,
                "num_keypoints": g.joints.iter().filter(|j| j.labelled()).count(),
                "area": g.area,
                "bbox": g.bbox,
                "iscrowd": g.iscrowd as u8,
            })
        })
        .collect();
    let gt = json!({
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "keypoints": COCO17_NAMES}],
    });
    let results: Vec<_> = v
        .dets
        .iter()
        .map(|d| {
            let kp: Vec<f64> = d.keypoints.iter().flat_map(|&(x, y)| [x, y, 1.0]).collect();
            json!({"image_id": d.image_id, "category_id": 1, "keypoints": kp, "score": d.score})
        })
        .collect();
    (gt, json!(results))
}
