//! `lm eval`: a model against labelled images (PCK, PCKh, OKS AP/AR, pixel error).

use super::engine::EngineArgs;
use anyhow::Result;
use lm::eval::gt::Format;
use lm::eval::CropMode;
use lm::pipeline::Pipeline;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
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
    #[arg(long, value_parser = names(Format::ALL.map(Format::name)))]
    format: Option<String>,
    /// `box`: a square crop around each annotated box; `none`: the whole image.
    #[arg(long, default_value = "box", value_parser = names(CropMode::ALL.map(CropMode::name)))]
    crop: String,
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
}

/// The library's names as clap's possible values (listed in `--help` and in its errors).
fn names<const N: usize>(names: [&'static str; N]) -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(names)
}

pub fn run(args: Args) -> Result<()> {
    // Before the model loads: a typo costs no waiting.
    let metrics = lm::eval::metric_list::parse_metrics(&args.metrics)?;
    let format = args.format.as_deref().map(str::parse).transpose();
    let format: Option<Format> = format.map_err(anyhow::Error::msg)?;
    let crop: CropMode = args.crop.parse().map_err(anyhow::Error::msg)?;
    let pipeline = Pipeline::load(
        &args.meta,
        args.model.as_deref(),
        &lm::model::LoadOptions::on(&args.engine.backend()?),
    )?;
    let opts = lm::eval::EvalOptions {
        gt: args.gt,
        format,
        images: args.images,
        crop,
        margin: args.margin,
        min_joints: args.min_joints,
        out_dir: args.output,
        progress: !args.quiet,
        metrics,
    };
    let outcome = lm::eval::evaluate(&pipeline, &opts)?;
    print!("{}", outcome.table);
    for path in &outcome.written {
        println!("wrote {}", path.display());
    }
    lm::eval::run::fail_on_errors(&outcome)
}
