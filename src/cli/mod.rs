//! The `lm` command line: one file per command, each with its flags (clap) and the few lines
//! that hand them to the library; the library knows nothing of clap.
//!
//! * [`engine`]: `--backend`, `--kernel`, `--threads`, `--fpga-device`, `--udmabuf`, shared by
//!   the commands that run a model;
//! * [`gpio`]: `--led`, `--button`, `--min-joints`, `--captures` of `run` and `stream`;
//! * [`logging`]: `-v` and `RUST_LOG`.

mod bench;
#[cfg(feature = "tensorflow")]
mod check_blueoil;
#[cfg(feature = "tensorflow")]
mod convert;
mod doctor;
mod engine;
#[cfg(feature = "eval")]
mod eval;
mod gpio;
mod logging;
mod run;
mod stream;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

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

#[derive(Subcommand)]
enum Command {
    /// Estimate poses: writes OUTDIR/output.json and OUTDIR/images/<name>.png.
    Run(run::Args),
    /// Time loading, each stage and each node of the model.
    Bench(bench::Args),
    #[cfg(feature = "eval")]
    /// Measure a model on labelled images: PCK, PCKh, COCO OKS AP/AR, pixel error;
    /// tables on the terminal, REPORT_DIR/report.json and pck.png.
    Eval(eval::Args),
    #[cfg(feature = "tensorflow")]
    /// Compare a Blueoil TensorFlow graph, as lm imports it, with Blueoil's per-op outputs
    /// (`inference_test_data/`: one .npy per tensor); fails on the first difference.
    CheckBlueoil(check_blueoil::Args),
    #[cfg(feature = "tensorflow")]
    /// Write a Blueoil TensorFlow graph as a QONNX file (training/README.md's contract: opset 13
    /// and qonnx.custom_op.general Quant/BipolarQuant, NCHW inside, NHWC input and output),
    /// then run both files in lm on one input and report how far their outputs are apart.
    Convert(convert::Args),
    /// Poses from a camera, video file or image folder, live: JSON Lines, overlays, a web view.
    Stream(stream::Args),
    /// What this board offers to lm (CPU and NEON, FPGA accelerator, DMA buffers, GPIO) and
    /// how to fix what is missing.
    Doctor(doctor::Args),
}

/// Parses the command line, runs the command, prints its error as one line.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose);
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
        Command::Run(args) => run::run(args),
        Command::Bench(args) => bench::run(args),
        #[cfg(feature = "eval")]
        Command::Eval(args) => eval::run(args),
        #[cfg(feature = "tensorflow")]
        Command::CheckBlueoil(args) => check_blueoil::run(args),
        #[cfg(feature = "tensorflow")]
        Command::Convert(args) => convert::run(args),
        Command::Stream(args) => stream::run(args),
        Command::Doctor(args) => doctor::run(args),
    }
}
