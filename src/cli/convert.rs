//! `lm convert`: a Blueoil TensorFlow graph → a QONNX file, checked by running both in lm.

use anyhow::Result;
use lm::tf::convert::{compare_runs, convert_file};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The graph (`minimal_graph_with_shape.pb`).
    graph: PathBuf,
    /// The QONNX file to write.
    #[arg(short, long)]
    output: PathBuf,
}

/// Converts, writes, then runs both files in lm (float) on one input and fails if their outputs
/// differ by more than 1e-5 × max(1, max |output|); prints what it wrote and measured.
pub fn run(args: Args) -> Result<()> {
    let (graph, output) = (&args.graph, &args.output);
    let s = convert_file(graph, output)?;
    let bytes = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    let ops: Vec<String> = s.ops.iter().map(|(op, n)| format!("{op} {n}")).collect();
    let io = |v: &[(String, Vec<usize>)]| {
        v.iter()
            .map(|(n, s)| format!("{n} {s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "wrote {} ({bytes} bytes): {} nodes ({}), {} initializers; input {}, output {}",
        output.display(),
        s.ops.values().sum::<usize>(),
        ops.join(", "),
        s.initializers,
        io(&s.inputs),
        io(&s.outputs)
    );
    let (diff, scale) = compare_runs(graph, output)?;
    println!(
        "lm runs both on one input (float): outputs differ by at most {diff:e} (max |output| {scale:e})"
    );
    anyhow::ensure!(
        diff <= 1e-5 * scale.max(1.0),
        "{} and {} give different outputs (max |diff| {diff:e})",
        graph.display(),
        output.display()
    );
    Ok(())
}
