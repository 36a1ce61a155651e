//! `lm check-blueoil`: a Blueoil graph as lm imports it vs Blueoil's per-op outputs.

use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Folder of `NNN_<tensor>:0.npy` files (`blueoil convert`'s inference_test_data).
    dir: PathBuf,
    /// The graph (`minimal_graph_with_shape.pb`).
    #[arg(short, long)]
    model: PathBuf,
    /// Allowed |difference| relative to max(1, max |Blueoil|) for non-quantiser tensors.
    #[arg(long, default_value_t = 1e-5)]
    tolerance: f32,
}

pub fn run(args: Args) -> Result<()> {
    let comparisons = lm::tf::check::check_dir(&args.model, &args.dir, args.tolerance)?;
    let (text, ok) = lm::tf::check::summary(&comparisons);
    print!("{text}");
    anyhow::ensure!(
        ok,
        "{} differs from {}",
        args.model.display(),
        args.dir.display()
    );
    Ok(())
}
