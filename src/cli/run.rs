//! `lm run`: poses of image files → OUTDIR/output.json and overlays.

use super::engine::EngineArgs;
use super::gpio::GpioArgs;
use anyhow::Result;
use lm::pipeline::Pipeline;
use lm::run::{failure_summary, run_images, RunOptions};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Input image(s): PNG, JPEG or BMP files, folders of them, or quoted `*` patterns
    /// ('shots/*.jpg').
    #[arg(short = 'i', long = "image", required = true, num_args = 1..)]
    images: Vec<PathBuf>,
    /// Blueoil meta.yaml.
    #[arg(short = 'c', long = "config")]
    meta: PathBuf,
    /// Model (ONNX/QONNX, or Blueoil's TensorFlow .pb); default: meta.yaml's MODEL.file.
    #[arg(short, long)]
    model: Option<PathBuf>,
    /// Output folder.
    #[arg(short, long, default_value = "output")]
    output: PathBuf,
    /// Timed trials per image (after one untimed warm-up).
    #[arg(long = "trial", default_value_t = 1)]
    trials: usize,
    /// Write output.json only, no OUTDIR/images/<name>.png.
    #[arg(long)]
    no_overlay: bool,
    /// Seconds between progress lines on stderr during a batch (0: none; default: 5 when
    /// stderr is a terminal, else none).
    #[arg(long, value_name = "S")]
    progress: Option<f64>,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    gpio: GpioArgs,
}

/// `--progress S`, or every 5 s on a terminal (a log file or journald gets none unless asked).
fn progress_every(flag: Option<f64>) -> Option<std::time::Duration> {
    use std::io::IsTerminal;
    let seconds = flag.unwrap_or(if std::io::stderr().is_terminal() {
        5.0
    } else {
        0.0
    });
    (seconds > 0.0 && seconds.is_finite()).then(|| std::time::Duration::from_secs_f64(seconds))
}

pub fn run(args: Args) -> Result<()> {
    let pipeline = Pipeline::load(
        &args.meta,
        args.model.as_deref(),
        &lm::model::LoadOptions::on(&args.engine.backend()?),
    )?;
    let json_path = args.output.join("output.json");
    // Failed images of the latest capture: the exit status and error line.
    let mut failed: Option<String> = None;
    let loops = args.gpio.loops();
    args.gpio.run(|| {
        let opts = RunOptions {
            images: args.images.clone(),
            out_dir: args.output.clone(),
            trials: args.trials,
            overlays: !args.no_overlay,
            progress: progress_every(args.progress),
        };
        let out = run_images(&pipeline, &opts)?;
        let per_image: Vec<usize> = out
            .results
            .iter()
            .map(|r| {
                r.prediction
                    .as_ref()
                    .map_or(0, |p| p.keypoints.iter().filter(|k| k.visible).count())
            })
            .collect();
        let visible: usize = per_image.iter().sum();
        println!(
            "{} image(s), {visible} visible joint(s); run {:.2} ms/frame (mean); \
             peak heap {:.1} MiB; wrote {}",
            out.results.len(),
            out.benchmark.run.mean * 1e3,
            lm::heap::peak_bytes().unwrap_or(0) as f64 / (1024.0 * 1024.0),
            json_path.display()
        );
        failed = failure_summary(&out, &json_path);
        if let (Some(why), true) = (&failed, loops) {
            // The capture loop goes on: say so now, not only at the end.
            tracing::warn!("{why}");
        }
        // The status LED shows the last image.
        Ok(per_image.last().copied().unwrap_or(0))
    })?;
    failed.map_or(Ok(()), |why| Err(anyhow::anyhow!(why)))
}
