//! `lm run`: images → `OUTDIR/output.json` + `OUTDIR/images/<name>.png`.

use crate::image_file::listing::{images_in, matching, IMAGE_EXTENSIONS};
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
    /// Image files, folders of images, or `*` patterns over file names (`shots/*.jpg`).
    pub images: Vec<PathBuf>,
    pub out_dir: PathBuf,
    /// Timed trials per image, after one untimed warm-up run.
    pub trials: usize,
    /// Write `OUTDIR/images/<name>.png` for each image.
    pub overlays: bool,
    /// Print `lm run: N of M images ...` on stderr at most this often (`None`: never).
    pub progress: Option<std::time::Duration>,
}

/// The image files `inputs` name: a file as given, a folder's images, a pattern's matches (a
/// quoted `*` the shell did not expand), each list in name order. Read at every run, so that
/// `--button` sees files added since.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    for input in inputs {
        let found = if input.is_dir() {
            images_in(input)?
        } else if !input.exists()
            && input
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains('*'))
        {
            matching(input)?
        } else {
            out.push(input.clone());
            continue;
        };
        ensure!(
            !found.is_empty(),
            "{}: no images ({}) found",
            input.display(),
            IMAGE_EXTENSIONS.join(", ")
        );
        out.extend(found);
    }
    Ok(out)
}

/// One overlay name per image, all different: `<stem>.png`; when two images share a stem
/// (`x.jpg` and `x.png`, or the same name in two folders) the later ones get `<stem>_<ext>.png`,
/// then `<stem>_2.png`, `<stem>_3.png`, ...
fn overlay_names(images: &[PathBuf]) -> Vec<String> {
    let mut used = std::collections::HashSet::new();
    images
        .iter()
        .enumerate()
        .map(|(ix, path)| {
            let stem = match path.file_stem().and_then(|s| s.to_str()) {
                Some(stem) if !stem.is_empty() => stem.to_string(),
                _ => format!("image_{ix}"),
            };
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            let mut candidates = vec![format!("{stem}.png")];
            if !ext.is_empty() {
                candidates.push(format!("{stem}_{ext}.png"));
            }
            let name = candidates
                .into_iter()
                .chain((2..).map(|k| format!("{stem}_{k}.png")))
                .find(|n| !used.contains(n))
                .expect("an unused name");
            used.insert(name.clone());
            name
        })
        .collect()
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
    let images = expand_inputs(&opts.images)?;
    let names = overlay_names(&images);
    let image_dir = opts.out_dir.join("images");
    let made = if opts.overlays {
        &image_dir
    } else {
        &opts.out_dir
    };
    std::fs::create_dir_all(made)
        .with_context(|| format!("cannot create output folder {}", made.display()))?;

    let mut times: Vec<StageTimes> = vec![];
    let mut results = vec![];
    let mut warmed_up = false;
    let started = std::time::Instant::now();
    let mut last_progress = started;
    for (done, (path, name)) in images.iter().zip(&names).enumerate() {
        if let Some(every) = opts.progress {
            // A long batch says how far it is (one line at most every `every`).
            if done > 0 && last_progress.elapsed() >= every {
                let per = started.elapsed().as_secs_f64() / done as f64;
                eprintln!(
                    "lm run: {done} of {} images, {per:.2} s an image, about {:.0} s left",
                    images.len(),
                    per * (images.len() - done) as f64
                );
                last_progress = std::time::Instant::now();
            }
        }
        let (image, inference) =
            match infer_file(pipeline, path, opts.trials, &mut warmed_up, &mut times) {
                Ok(done) => done,
                Err(e) => {
                    tracing::debug!("{e:#}");
                    results.push(ImageResult {
                        file_path: path.display().to_string(),
                        prediction: None,
                        error: Some(format!("{e:#}")),
                        overlay: None,
                    });
                    continue;
                }
            };
        let mut result = image_result(&pipeline.meta, path, &inference);
        if opts.overlays {
            let mut picture = image;
            draw_inference(&mut picture, &inference.pose, &pipeline.meta.keypoints);
            // The pose is good even when its overlay cannot be written (disk full, a folder in
            // the way): keep it, and fail the image with the reason.
            match save_png_atomic(&picture, &image_dir.join(name)) {
                Ok(()) => result.overlay = Some(format!("images/{name}")),
                Err(e) => {
                    tracing::debug!("{e:#}");
                    result.error = Some(format!("{}: {e:#}", path.display()));
                }
            }
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
