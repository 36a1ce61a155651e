//! The evaluation loop: ground truth → crops → [`Pipeline::infer`] →
//! joints in image pixels → scores and report. A sample whose image cannot
//! be read or run is recorded as a failure and the others go on.

use super::crop::CropWindow;
use super::gt;
use super::joints::JointMap;
use super::options::{CropMode, EvalOptions};
use super::prediction::{Failure, PredictedJoint, Prediction};
use super::report::Report;
use super::{GroundTruth, Sample};
use crate::image_file::load_image;
use crate::pipeline::Pipeline;
use anyhow::{bail, Context, Result};
use image::RgbImage;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Everything an evaluation produced.
#[derive(Debug)]
pub struct EvalOutcome {
    pub report: Report,
    /// The terminal tables.
    pub table: String,
    pub failures: Vec<Failure>,
    /// Files written into the report folder.
    pub written: Vec<PathBuf>,
}

/// An error naming every failed instance (after the report is out), or Ok.
pub fn fail_on_errors(outcome: &EvalOutcome) -> Result<()> {
    if outcome.failures.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = outcome
        .failures
        .iter()
        .map(|f| format!("{}: {}", f.image.display(), f.error))
        .collect();
    bail!(
        "{} of {} instance(s) failed (the others are scored above): {}",
        outcome.failures.len(),
        outcome.failures.len() + outcome.report.instances_evaluated,
        list.join("; ")
    )
}

/// Where an image named by the ground truth is: under `images` when given,
/// else beside the ground-truth file or in one of the folders above it
/// (`gt_coco17.json` names images relative to its parent folder).
pub fn resolve_image(images: Option<&Path>, gt_dir: &Path, name: &Path) -> PathBuf {
    if name.is_absolute() {
        return name.to_path_buf();
    }
    if let Some(dir) = images {
        return dir.join(name);
    }
    gt_dir
        .ancestors()
        .take(4)
        .map(|d| d.join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| gt_dir.join(name))
}

/// Runs the model on every sample of `opts.gt` and scores it.
pub fn evaluate(pipeline: &Pipeline, opts: &EvalOptions) -> Result<EvalOutcome> {
    if !(opts.margin.is_finite() && opts.margin > 0.0) {
        bail!("--margin {} must be a positive number", opts.margin);
    }
    let gt_dir = opts
        .gt
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let listing_dir = opts.images.clone().unwrap_or_else(|| gt_dir.clone());
    let (format, mut truth) = gt::read(&opts.gt, opts.format, &listing_dir)?;
    let model_names = &pipeline.meta.keypoints.names;
    let map = JointMap::by_name(model_names, &truth.joint_names);
    if map.pairs.is_empty() {
        bail!(
            "no joint of the model ({}: {}) is in the ground truth ({}: {})",
            pipeline.meta.path.display(),
            model_names.join(", "),
            opts.gt.display(),
            truth.joint_names.join(", ")
        );
    }
    keep_enough_joints(&mut truth, &map, opts.min_joints);

    let total = truth.samples.len();
    let started = Instant::now();
    let mut progress = Progress::new(opts.progress, total);
    let mut predictions: Vec<Prediction> = vec![];
    let mut failures: Vec<Failure> = vec![];
    // Instances of one image follow each other: decode it once.
    let mut cached: Option<(PathBuf, std::result::Result<RgbImage, String>)> = None;
    let mut whole_image: Option<(PathBuf, Vec<PredictedJoint>)> = None;
    for (ix, sample) in truth.samples.iter().enumerate() {
        let path = resolve_image(opts.images.as_deref(), &gt_dir, &sample.image);
        if cached.as_ref().map(|c| &c.0) != Some(&path) {
            let decoded = load_image(&path).map_err(|e| format!("{e:#}"));
            cached = Some((path.clone(), decoded));
        }
        let image = match &cached.as_ref().expect("just set").1 {
            Ok(img) => img,
            Err(e) => {
                failures.push(Failure {
                    sample: ix,
                    image: path.clone(),
                    error: e.clone(),
                });
                progress.tick(ix + 1, failures.len());
                continue;
            }
        };
        let joints = match opts.crop {
            CropMode::Box => predict_in_box(pipeline, image, sample, opts.margin),
            CropMode::None => match &whole_image {
                Some((p, j)) if *p == path => Ok(j.clone()),
                _ => predict(pipeline, image, None).inspect(|j| {
                    whole_image = Some((path.clone(), j.clone()));
                }),
            },
        };
        match joints {
            Ok(joints) => predictions.push(Prediction { sample: ix, joints }),
            Err(e) => failures.push(Failure {
                sample: ix,
                image: path.clone(),
                error: format!("{e:#}"),
            }),
        }
        progress.tick(ix + 1, failures.len());
    }
    progress.done(started.elapsed().as_secs_f64());

    let report = Report::build(
        pipeline,
        opts,
        format,
        &truth,
        &map,
        &predictions,
        &failures,
    );
    let table = report.table();
    let mut written = vec![];
    if let Some(dir) = &opts.out_dir {
        written = super::files::write_all(dir, &report, &truth, &map, &predictions)?;
    }
    Ok(EvalOutcome {
        report,
        table,
        failures,
        written,
    })
}

/// Drops instances with fewer than `min` labelled joints among those the
/// model predicts, noting them as skipped.
fn keep_enough_joints(truth: &mut GroundTruth, map: &JointMap, min: usize) {
    let samples = std::mem::take(&mut truth.samples);
    for s in samples {
        let n = map
            .pairs
            .iter()
            .filter(|p| s.joints[p.1].labelled())
            .count();
        if n == 0 || n < min {
            truth.skipped.push(format!(
                "{}: {n} labelled joint(s) the model predicts (fewer than {})",
                s.image.display(),
                min.max(1)
            ));
        } else {
            truth.samples.push(s);
        }
    }
}

fn predict_in_box(
    pipeline: &Pipeline,
    image: &RgbImage,
    sample: &Sample,
    margin: f64,
) -> Result<Vec<PredictedJoint>> {
    let window = CropWindow::around(&sample.bbox, margin)
        .with_context(|| format!("box of {}", sample.image.display()))?;
    let crop = window.cut(image);
    predict(pipeline, &crop, Some(&window))
}

/// Runs the pipeline; joints in the original image's pixels.
fn predict(
    pipeline: &Pipeline,
    image: &RgbImage,
    window: Option<&CropWindow>,
) -> Result<Vec<PredictedJoint>> {
    let inference = pipeline.infer(image)?;
    Ok(inference
        .pose
        .joints
        .iter()
        .map(|j| {
            let (x, y) = (j.x as f64, j.y as f64);
            let (x, y) = window.map_or((x, y), |w| w.to_image(x, y));
            (x, y, j.score as f64, j.visible)
        })
        .collect())
}

/// Progress on stderr: a line rewritten in place on a terminal, else a
/// line every tenth of the way.
struct Progress {
    on: bool,
    tty: bool,
    total: usize,
    last_tenth: usize,
}

impl Progress {
    fn new(on: bool, total: usize) -> Progress {
        Progress {
            on,
            tty: std::io::stderr().is_terminal(),
            total,
            last_tenth: 0,
        }
    }

    fn tick(&mut self, done: usize, failed: usize) {
        if !self.on || self.total == 0 {
            return;
        }
        let line = format!("eval: {done}/{} instances, {failed} failed", self.total);
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r{line}");
            let _ = err.flush();
        } else {
            let tenth = done * 10 / self.total;
            if tenth > self.last_tenth {
                self.last_tenth = tenth;
                let _ = writeln!(err, "{line}");
            }
        }
    }

    fn done(&self, seconds: f64) {
        if self.on && self.total > 0 {
            let pre = if self.tty { "\r" } else { "" };
            // Padded: on a terminal it overwrites the longer progress line.
            let line = format!("eval: {} instances in {seconds:.1} s", self.total);
            eprintln!("{pre}{line:<48}");
        }
    }
}
