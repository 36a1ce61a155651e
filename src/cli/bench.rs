//! `lm bench`: load time, per-stage and per-node times of the model.

use super::engine::EngineArgs;
use anyhow::Result;
use lm::bench::{bench, BenchOptions};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
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
}

pub fn run(args: Args) -> Result<()> {
    let backend = args.engine.backend()?;
    print!(
        "{}",
        bench(&BenchOptions {
            meta: args.meta,
            model: args.model,
            image: args.image,
            runs: args.runs,
            profile_runs: args.profile_runs,
            top: args.top,
            backend,
        })?
    );
    Ok(())
}
