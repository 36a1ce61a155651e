//! `lm stream`: poses from a camera, video file or image folder, live.

use super::engine::EngineArgs;
use super::gpio::StreamGpioArgs;
use anyhow::Result;
use lm::pipeline::Pipeline;
use lm::stream::runner::{run_stream, StreamGpio, StreamHooks};
use lm::stream::StreamOptions;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
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
    gpio: StreamGpioArgs,
}

pub fn run(args: Args) -> Result<()> {
    let source = lm::stream::SourceUri::parse(&args.source)?;
    let pipeline = Pipeline::load(
        &args.meta,
        args.model.as_deref(),
        &lm::model::LoadOptions::on(&args.engine.backend()?),
    )?;
    let mut pins = args.gpio.open()?;
    let frames_source = lm::stream::open_source(&source)?;
    let opts = StreamOptions {
        source_name: source.text.clone(),
        jsonl: args.jsonl,
        record: args.record,
        frames: args.frames,
        http: args.http,
        report_every: (args.stats_every > 0.0)
            .then(|| std::time::Duration::from_secs_f64(args.stats_every)),
        ..Default::default()
    };
    let pins = pins.as_mut().map(|p| p as &mut dyn StreamGpio);
    let hooks = StreamHooks {
        gpio: pins,
        on_start: None,
    };
    run_stream(&pipeline, frames_source, &opts, hooks)?;
    Ok(())
}
