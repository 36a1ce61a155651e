//! `lm run`: images → `OUTDIR/output.json` + `OUTDIR/images/<name>.png`.

use crate::image_file::load_image;
use crate::output::atomic::{save_png_atomic, write_atomic};
use crate::output::blueoil::image_result;
use crate::output::json::{Benchmark, ImageResult, MeanStd, OutputJson};
use crate::output::overlay::draw_inference;
use crate::pipeline::Pipeline;
use crate::pose::{Inference, StageTimes};
use anyhow::{ensure, Context, Result};
use image::RgbImage;
use std::path::{Path, PathBuf};

/// What `lm run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub images: Vec<PathBuf>,
    pub out_dir: PathBuf,
    /// Timed trials per image, after one untimed warm-up run.
    pub trials: usize,
}

/// Runs every image, writes output.json and the overlays, and returns what
/// was written.
///
/// An image that cannot be read, decoded, pre-processed or run is recorded in
/// `results` with its `error` and the run goes on with the next one: the
/// results of the good images are never lost ([`failure_summary`] says which
/// failed). An image whose overlay cannot be written keeps its `prediction` and
/// gets the `error` too. Only what stops every image is an `Err`: no image
/// given, or an output folder or output.json that cannot be written.
pub fn run_images(pipeline: &Pipeline, opts: &RunOptions) -> Result<OutputJson> {
    ensure!(!opts.images.is_empty(), "no input image given");
    ensure!(opts.trials >= 1, "--trial must be at least 1");
    let image_dir = opts.out_dir.join("images");
    std::fs::create_dir_all(&image_dir)
        .with_context(|| format!("cannot create output folder {}", image_dir.display()))?;

    let mut times: Vec<StageTimes> = vec![];
    let mut results = vec![];
    let mut warmed_up = false;
    for (ix, path) in opts.images.iter().enumerate() {
        let (image, inference) =
            match infer_file(pipeline, path, opts.trials, &mut warmed_up, &mut times) {
                Ok(done) => done,
                Err(e) => {
                    tracing::debug!("{e:#}");
                    results.push(ImageResult {
                        file_path: path.display().to_string(),
                        prediction: None,
                        error: Some(format!("{e:#}")),
                    });
                    continue;
                }
            };
        let mut picture = image;
        draw_inference(&mut picture, &inference.pose, &pipeline.meta.keypoints);
        let png = image_dir.join(overlay_name(path, ix));
        let mut result = image_result(&pipeline.meta, path, &inference);
        // The pose is good even when its overlay cannot be written (disk full, a folder in the
        // way): keep it, and fail the image with the reason.
        if let Err(e) = save_png_atomic(&picture, &png) {
            tracing::debug!("{e:#}");
            result.error = Some(format!("{}: {e:#}", path.display()));
        }
        results.push(result);
    }

    let stage = |f: fn(&StageTimes) -> std::time::Duration| {
        MeanStd::of(&times.iter().map(f).collect::<Vec<_>>())
    };
    let output = OutputJson {
        benchmark: Benchmark {
            total: stage(StageTimes::total),
            pre: stage(|t| t.pre),
            run: stage(|t| t.run),
            post: stage(|t| t.post),
        },
        classes: OutputJson::classes(&pipeline.meta.classes),
        date: crate::sys::now_iso8601(),
        results,
        task: pipeline.meta.task.clone(),
        version: OutputJson::VERSION,
    };
    let json_path = opts.out_dir.join("output.json");
    let text = serde_json::to_string_pretty(&output)?;
    write_atomic(&json_path, (text + "\n").as_bytes())?;
    Ok(output)
}

/// Loads one image and runs it `trials` times (after one untimed warm-up run
/// for the first image that loads), appending each run's times to `times`.
/// Every error names the file.
fn infer_file(
    pipeline: &Pipeline,
    path: &Path,
    trials: usize,
    warmed_up: &mut bool,
    times: &mut Vec<StageTimes>,
) -> Result<(RgbImage, Inference)> {
    let image = load_image(path)?;
    let infer = || {
        pipeline
            .infer(&image)
            .with_context(|| format!("while processing {}", path.display()))
    };
    if !*warmed_up {
        // Untimed warm-up: first-run allocations and caches.
        infer()?;
        *warmed_up = true;
    }
    let mut last: Option<Inference> = None;
    for _ in 0..trials {
        let inference = infer()?;
        times.push(inference.times);
        last = Some(inference);
    }
    Ok((image, last.expect("trials >= 1")))
}

/// The results of `output` that are errors.
pub fn failures(output: &OutputJson) -> Vec<&ImageResult> {
    output
        .results
        .iter()
        .filter(|r| r.error.is_some())
        .collect()
}

/// One line saying how many and which images of `output` failed, and why
/// (each error names its file), or `None` if none did. `json_path` is where
/// the results were written.
pub fn failure_summary(output: &OutputJson, json_path: &Path) -> Option<String> {
    let failed = failures(output);
    if failed.is_empty() {
        return None;
    }
    let errors: Vec<&str> = failed.iter().filter_map(|r| r.error.as_deref()).collect();
    Some(format!(
        "{} of {} image(s) failed: {} (all results in {}): {}",
        failed.len(),
        output.results.len(),
        failed
            .iter()
            .map(|r| r.file_path.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        json_path.display(),
        errors.join("; ")
    ))
}

/// `<stem>.png`, or `<stem>_<index>.png` if the stem is empty.
fn overlay_name(path: &Path, ix: usize) -> String {
    match path.file_stem().and_then(|s| s.to_str()) {
        Some(stem) if !stem.is_empty() => format!("{stem}.png"),
        _ => format!("image_{ix}.png"),
    }
}
