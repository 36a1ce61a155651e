//! The `lm` command line: parses arguments and hands off to the library.

use anyhow::Result;
use clap::{Parser, Subcommand};
use lm::accel::open_executor;
use lm::bench::{bench, BenchOptions};
use lm::kernels::KernelKind;
use lm::model::Backend;
use lm::ops::qconv2d::CpuExecutor;
use lm::pipeline::Pipeline;
use lm::run::{failure_summary, run_images, RunOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

// Counts heap bytes: `run` and `bench` report the peak (see lm::heap).
#[global_allocator]
static HEAP: lm::heap::CountingAllocator = lm::heap::CountingAllocator;

#[derive(Parser)]
#[command(
    name = "lm",
    version,
    about = "Quantised single-person pose estimation (Blueoil LmSinglePose compatible)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log more (-v: debug, -vv: trace); RUST_LOG also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// Where the quantised layers run.
#[derive(clap::Args, Clone, Debug)]
struct EngineArgs {
    /// `cpu`: fused integer bit-serial kernels; `fpga`: the FPGA accelerator
    /// (`--fpga-device`), each layer falling back to the CPU kernels on any
    /// driver error; `auto`: the board's accelerator if it opens, else `cpu`;
    /// `float`: tract's float evaluation of the fake-quant graph (the reference).
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "fpga", "auto", "float"])]
    backend: String,
    /// CPU kernel: best, reference, portable, popcnt, avx2, avx512, neon.
    #[arg(long, default_value = "best")]
    kernel: KernelKind,
    /// Threads for the quantised layers on the CPU (0 = all cores).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Accelerator: uio:/dev/uioN, mem (/dev/mem), sim (software model) or verilator.
    #[arg(long, default_value = "uio:/dev/uio0")]
    fpga_device: String,
    /// u-dma-buf buffer for the accelerator's operands.
    #[arg(long, default_value = "udmabuf0")]
    udmabuf: String,
}

impl EngineArgs {
    fn backend(&self) -> Result<Backend> {
        if self.backend == "float" {
            return Ok(Backend::Float);
        }
        if !self.kernel.is_available() {
            anyhow::bail!(
                "kernel {} is not available on this CPU/build (available: {:?})",
                self.kernel.name(),
                KernelKind::available()
            );
        }
        let cpu = CpuExecutor {
            kernel: self.kernel,
            threads: self.threads,
        };
        match self.backend.as_str() {
            "fpga" => Ok(Backend::Fpga(Arc::new(open_executor(
                &self.fpga_device,
                &self.udmabuf,
                cpu,
            )?))),
            "auto" => match open_executor(&self.fpga_device, &self.udmabuf, cpu) {
                Ok(fpga) => Ok(Backend::Fpga(Arc::new(fpga))),
                Err(e) => {
                    tracing::warn!("no FPGA ({e:#}); quantised layers run on the CPU");
                    Ok(Backend::Cpu(cpu))
                }
            },
            _ => Ok(Backend::Cpu(cpu)),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Estimate poses: writes OUTDIR/output.json and OUTDIR/images/<name>.png.
    Run {
        /// Input image(s): PNG, JPEG or BMP.
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
        #[command(flatten)]
        engine: EngineArgs,
        #[command(flatten)]
        gpio: lm::board::app::GpioArgs,
    },
    /// Time loading, each stage and each node of the model.
    Bench {
        /// Blueoil meta.yaml.
        #[arg(short = 'c', long = "config")]
        meta: PathBuf,
        /// Model (ONNX/QONNX, or Blueoil's TensorFlow .pb); default: meta.yaml's MODEL.file.
        #[arg(short, long)]
        model: Option<PathBuf>,
        /// Image to run (default: a synthetic image).
        #[arg(short = 'i', long = "image")]
        image: Option<PathBuf>,
        /// Timed runs.
        #[arg(short = 'n', long, default_value_t = 20)]
        runs: usize,
        /// Profiled runs for the per-node table.
        #[arg(long, default_value_t = 5)]
        profile_runs: usize,
        /// Rows of the per-node table.
        #[arg(long, default_value_t = 15)]
        top: usize,
        #[command(flatten)]
        engine: EngineArgs,
    },
    #[cfg(feature = "eval")]
    /// Measure a model on labelled images: PCK, PCKh, COCO OKS AP/AR, pixel error;
    /// tables on the terminal, REPORT_DIR/report.json and pck.png.
    Eval {
        /// Blueoil meta.yaml.
        #[arg(short = 'c', long = "config")]
        meta: PathBuf,
        /// Model (ONNX/QONNX); default: meta.yaml's MODEL.file.
        #[arg(short, long)]
        model: Option<PathBuf>,
        /// Ground truth file.
        #[arg(long)]
        gt: PathBuf,
        /// Images folder (default: beside the ground truth, or a folder above it).
        #[arg(long)]
        images: Option<PathBuf>,
        /// Ground truth format (default: guessed from the file).
        #[arg(long, value_enum)]
        format: Option<lm::eval::gt::Format>,
        /// `box`: a square crop around each annotated box; `none`: the whole image.
        #[arg(long, value_enum, default_value = "box")]
        crop: lm::eval::run::CropMode,
        /// Crop side as a multiple of the box's longer side.
        #[arg(long, default_value_t = 1.25)]
        margin: f64,
        /// Skip instances with fewer labelled joints (among those the model predicts).
        #[arg(long, default_value_t = 1)]
        min_joints: usize,
        /// Report folder (report.json, pck.png, coco_gt.json, coco_results.json).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Table columns, comma-separated or repeated: pck@A, tpck@A (torso), pckh@A, oks, px
        /// (default: pck@0.1,pck@0.2,tpck@0.2,pckh@0.1,pckh@0.5,oks,px).
        #[arg(long = "metric", value_name = "METRICS")]
        metrics: Vec<String>,
        /// No progress on stderr.
        #[arg(short, long)]
        quiet: bool,
        #[command(flatten)]
        engine: EngineArgs,
    },
    #[cfg(feature = "tensorflow")]
    /// Compare a Blueoil TensorFlow graph, as lm imports it, with Blueoil's per-op outputs
    /// (`inference_test_data/`: one .npy per tensor); fails on the first difference.
    CheckBlueoil {
        /// Folder of `NNN_<tensor>:0.npy` files (`blueoil convert`'s inference_test_data).
        dir: PathBuf,
        /// The graph (`minimal_graph_with_shape.pb`).
        #[arg(short, long)]
        model: PathBuf,
        /// Allowed |difference| relative to max(1, max |Blueoil|) for non-quantiser tensors.
        #[arg(long, default_value_t = 1e-5)]
        tolerance: f32,
    },
    #[cfg(feature = "tensorflow")]
    /// Write a Blueoil TensorFlow graph as a QONNX file (training/README.md's contract: opset 13
    /// and qonnx.custom_op.general Quant/BipolarQuant, NCHW inside, NHWC input and output),
    /// then run both files in lm on one input and report how far their outputs are apart.
    Convert {
        /// The graph (`minimal_graph_with_shape.pb`).
        graph: PathBuf,
        /// The QONNX file to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Poses from a camera, video file or image folder, live: JSON Lines, overlays, a web view.
    Stream {
        /// Source URI: v4l2:/dev/video0?width=320&height=240&fps=30&format=MJPG|YUYV, a folder
        /// or glob of images (?fps=F&loop), an .mjpg or .y4m file, or - (stdin).
        #[arg(short = 's', long)]
        source: String,
        /// Blueoil meta.yaml.
        #[arg(short = 'c', long = "config")]
        meta: PathBuf,
        /// Model (ONNX/QONNX); default: meta.yaml's MODEL.file.
        #[arg(short, long)]
        model: Option<PathBuf>,
        /// Serve the web view (/, /stream.mjpg, /pose, /events, /health) on ADDR:PORT.
        #[arg(long, value_name = "ADDR:PORT")]
        http: Option<String>,
        /// Write one JSON object per frame to FILE (- = stdout).
        #[arg(long, value_name = "FILE|-")]
        jsonl: Option<PathBuf>,
        /// Write DIR/stream.jsonl and the overlays DIR/frames/<frame>.png.
        #[arg(long, value_name = "DIR")]
        record: Option<PathBuf>,
        /// Stop after N frames.
        #[arg(long, value_name = "N")]
        frames: Option<u64>,
        /// Seconds between stats lines on stderr (0: summary only).
        #[arg(long, value_name = "S", default_value_t = 5.0)]
        stats_every: f64,
        #[command(flatten)]
        engine: EngineArgs,
        #[command(flatten)]
        gpio: lm::board::app::StreamGpioArgs,
    },
    /// What this board offers to lm (CPU and NEON, FPGA accelerator, DMA buffers, GPIO) and
    /// how to fix what is missing.
    Doctor {
        /// Root of the file system to inspect (a mounted SD card image, tests).
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Fail (exit status 1) when something is missing or wrong.
        #[arg(long)]
        strict: bool,
    },
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let default = match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    // RUST_LOG as `level` or `target=level,...` (tracing-subscriber's `Targets` syntax: no
    // regex span/field directives, so no regex engine in the board binaries).
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(default));
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the whole cause chain, outermost first.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Run {
            images,
            meta,
            model,
            output,
            trials,
            engine,
            gpio,
        } => {
            let pipeline = Pipeline::load_with(&meta, model.as_deref(), &engine.backend()?)?;
            let json_path = output.join("output.json");
            // Failed images of the latest capture: the exit status and error line.
            let mut failed: Option<String> = None;
            lm::board::app::run_with_gpio(&gpio, || {
                let opts = RunOptions {
                    images: images.clone(),
                    out_dir: output.clone(),
                    trials,
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
                if let (Some(why), true) = (&failed, gpio.loops()) {
                    // The capture loop goes on: say so now, not only at the end.
                    tracing::warn!("{why}");
                }
                // The status LED shows the last image.
                Ok(per_image.last().copied().unwrap_or(0))
            })?;
            failed.map_or(Ok(()), |why| Err(anyhow::anyhow!(why)))
        }
        #[cfg(feature = "eval")]
        Command::Eval {
            meta,
            model,
            gt,
            images,
            format,
            crop,
            margin,
            min_joints,
            output,
            metrics,
            quiet,
            engine,
        } => {
            // Before the model loads: a typo costs no waiting.
            let metrics = lm::eval::metric_list::parse_metrics(&metrics)?;
            let pipeline = Pipeline::load_with(&meta, model.as_deref(), &engine.backend()?)?;
            let opts = lm::eval::EvalOptions {
                gt,
                format,
                images,
                crop,
                margin,
                min_joints,
                out_dir: output,
                progress: !quiet,
                metrics,
            };
            let outcome = lm::eval::evaluate(&pipeline, &opts)?;
            print!("{}", outcome.table);
            for path in &outcome.written {
                println!("wrote {}", path.display());
            }
            lm::eval::run::fail_on_errors(&outcome)
        }
        #[cfg(feature = "tensorflow")]
        Command::CheckBlueoil {
            dir,
            model,
            tolerance,
        } => {
            let comparisons = lm::tf::check::check_dir(&model, &dir, tolerance)?;
            let (text, ok) = lm::tf::check::summary(&comparisons);
            print!("{text}");
            anyhow::ensure!(ok, "{} differs from {}", model.display(), dir.display());
            Ok(())
        }
        #[cfg(feature = "tensorflow")]
        Command::Convert { graph, output } => lm::tf::convert::command(&graph, &output),
        Command::Stream {
            source,
            meta,
            model,
            http,
            jsonl,
            record,
            frames,
            stats_every,
            engine,
            gpio,
        } => {
            let source = lm::stream::SourceUri::parse(&source)?;
            let pipeline = Pipeline::load_with(&meta, model.as_deref(), &engine.backend()?)?;
            let mut pins = gpio.open()?;
            let frames_source = lm::stream::open_source(&source)?;
            let opts = lm::stream::runner::StreamOptions {
                source_name: source.text.clone(),
                jsonl,
                record,
                frames,
                http,
                report_every: (stats_every > 0.0)
                    .then(|| std::time::Duration::from_secs_f64(stats_every)),
                ..Default::default()
            };
            let pins = pins
                .as_mut()
                .map(|p| p as &mut dyn lm::stream::runner::StreamGpio);
            lm::stream::runner::run_stream_gpio(&pipeline, frames_source, &opts, pins, |_| {})?;
            Ok(())
        }
        Command::Doctor { root, strict } => {
            let read_id = |dev: &lm::board::doctor::UioDevice| -> Result<u32> {
                use lm::accel::RegisterAccess as _;
                let mut uio = lm::accel::uio::Uio::open(&dev.dev)?;
                Ok(uio.read(lm::accel::regmap::id::OFFSET))
            };
            lm::board::app::doctor_command(&root, strict, Some(&read_id))
        }
        Command::Bench {
            meta,
            model,
            image,
            runs,
            profile_runs,
            top,
            engine,
        } => {
            let backend = engine.backend()?;
            print!(
                "{}",
                bench(&BenchOptions {
                    meta,
                    model,
                    image,
                    runs,
                    profile_runs,
                    top,
                    backend,
                })?
            );
            Ok(())
        }
    }
}
