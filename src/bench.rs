//! `lm bench`: how long loading and each stage take, and where the model
//! spends its time.

use crate::backend::Backend;
use crate::image_file::load_image;
use crate::output::json::Stats;
use crate::pipeline::Pipeline;
use anyhow::Result;
use image::RgbImage;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub meta: PathBuf,
    pub model: Option<PathBuf>,
    /// Image to run; a synthetic gradient of the network's size if `None`.
    pub image: Option<PathBuf>,
    pub runs: usize,
    /// Profiled runs for the per-node table.
    pub profile_runs: usize,
    /// Rows of the per-node table.
    pub top: usize,
    /// Where quantised layers run.
    pub backend: Backend,
}

/// Runs the benchmark and returns the report as text.
pub fn bench(opts: &BenchOptions) -> Result<String> {
    let t0 = Instant::now();
    let pipeline = Pipeline::load(
        &opts.meta,
        opts.model.as_deref(),
        &crate::model::LoadOptions::on(&opts.backend),
    )?;
    let load = t0.elapsed();
    let image = match &opts.image {
        Some(p) => load_image(p)?,
        None => synthetic_image(&pipeline),
    };

    pipeline.infer(&image)?; // warm-up
    let stalls_before = crate::parallel::STALLS.load(std::sync::atomic::Ordering::Relaxed);
    let mut pre = vec![];
    let mut run = vec![];
    let mut post = vec![];
    let mut total = vec![];
    for _ in 0..opts.runs.max(1) {
        let t = pipeline.infer(&image)?.times;
        pre.push(t.pre);
        run.push(t.run);
        post.push(t.post);
        total.push(t.total());
    }

    let stalls = crate::parallel::STALLS.load(std::sync::atomic::Ordering::Relaxed) - stalls_before;

    let mut per_node: HashMap<(String, String), Duration> = HashMap::new();
    let mut order: Vec<(String, String)> = vec![];
    let input = crate::preprocess::preprocess(&pipeline.meta, &image)?;
    for _ in 0..opts.profile_runs.max(1) {
        let (_, times) = pipeline
            .model
            .run_profiled(pipeline.model.input_tensor(&input)?)?;
        for t in times {
            let key = (t.name, t.op);
            if !per_node.contains_key(&key) {
                order.push(key.clone());
            }
            *per_node.entry(key).or_default() += t.time;
        }
    }

    let mut out = String::new();
    let m = &pipeline.model;
    writeln!(out, "model      {}", m.path.display())?;
    writeln!(out, "meta       {}", pipeline.meta.path.display())?;
    writeln!(
        out,
        "input      {:?} {:?} ({:?}), output {:?} {:?}",
        m.input_type, m.input_shape, m.input_format, m.output_name, m.output_shape
    )?;
    writeln!(out, "plan       {} nodes", m.node_count())?;
    match &m.backend {
        Backend::Float => writeln!(
            out,
            "backend    float (tract evaluates the fake-quant graph)"
        )?,
        b => writeln!(
            out,
            "backend    {} ({} quantised convs fused, {} convs left in float)",
            b.name(),
            m.fusion.fused.len(),
            m.fusion.skipped.len()
        )?,
    }
    writeln!(
        out,
        "load       {:.1} ms (parse + type + optimise)",
        ms(load.as_secs_f64())
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "stage      mean ms    std ms    min ms median ms   (n = {})",
        total.len()
    )?;
    for (name, samples) in [
        ("pre", &pre),
        ("run", &run),
        ("post", &post),
        ("total", &total),
    ] {
        let s = Stats::of(samples);
        writeln!(
            out,
            "{name:<8} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            ms(s.mean),
            ms(s.std),
            ms(s.min),
            ms(s.median)
        )?;
    }
    let threads = crate::parallel::resolve(m.backend.cpu_threads());
    if threads > 1 {
        // A worker preempted while it held part of a layer (another process on its core).
        writeln!(
            out,
            "threads    {threads}: {stalls} stall(s) of over {} µs while timing",
            crate::parallel::STALL.as_micros()
        )?;
    }
    writeln!(out)?;
    let runs = opts.profile_runs.max(1) as f64;
    let sum: f64 = per_node.values().map(Duration::as_secs_f64).sum::<f64>() / runs;
    let mut rows: Vec<_> = order
        .iter()
        .map(|k| (k, per_node[k].as_secs_f64() / runs))
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    writeln!(
        out,
        "top nodes by time (mean of {} profiled runs, sum {:.3} ms)",
        opts.profile_runs.max(1),
        ms(sum)
    )?;
    writeln!(out, "{:>9} {:>6}  {:<28} node", "ms", "%", "op")?;
    for ((name, op), t) in rows.into_iter().take(opts.top) {
        writeln!(
            out,
            "{:>9.3} {:>5.1}%  {:<28} {}",
            ms(t),
            100.0 * t / sum.max(1e-12),
            op,
            name
        )?;
    }
    let layers = m.qconv_layers();
    if !layers.is_empty() {
        writeln!(out)?;
        writeln!(out, "quantised layers (binary op = 1-bit×1-bit AND-popcount; Gbop/s = binary ops / node time)")?;
        writeln!(
            out,
            "{:<28} {:>9} {:>11} {:>2} {:>9} {:>8}",
            "node", "H×W", "C_in→C_out", "k", "ms", "Gbop/s"
        )?;
        let mut total_ops = 0u64;
        let mut total_time = 0f64;
        for l in &layers {
            let t = per_node
                .iter()
                .find(|((name, _), _)| *name == l.node)
                .map(|(_, d)| d.as_secs_f64() / runs)
                .unwrap_or(0.0);
            total_ops += l.binary_ops();
            total_time += t;
            writeln!(
                out,
                "{:<28} {:>9} {:>11} {:>2} {:>9.3} {:>8.1}",
                l.node,
                format!("{}×{}", l.height, l.width),
                format!("{}→{}", l.in_channels, l.out_channels),
                l.kernel,
                ms(t),
                l.binary_ops() as f64 / t.max(1e-12) / 1e9
            )?;
        }
        writeln!(
            out,
            "{:<28} {:>9} {:>11} {:>2} {:>9.3} {:>8.1}",
            "all quantised layers",
            "",
            "",
            "",
            ms(total_time),
            total_ops as f64 / total_time.max(1e-12) / 1e9
        )?;
        if let crate::backend::Backend::Cpu(cpu) = &m.backend {
            let peak = crate::kernels::peak_binary_ops_per_second(cpu.kernel, cpu.threads);
            writeln!(
                out,
                "kernel peak {:.1} Gbop/s ({}; compute-bound synthetic 3×3 layer, 16×16, 256→256)",
                peak / 1e9,
                cpu.kernel.name()
            )?;
        }
    }
    writeln!(out)?;
    if let Some(b) = crate::heap::peak_bytes() {
        writeln!(out, "peak heap  {:.1} MiB", b as f64 / (1024.0 * 1024.0))?;
    }
    match crate::sys::peak_rss_bytes() {
        Some(b) => writeln!(out, "peak RSS   {:.1} MiB", b as f64 / (1024.0 * 1024.0))?,
        None => writeln!(out, "peak RSS   unknown (no /proc/self/status)")?,
    }
    Ok(out)
}

fn ms(seconds: f64) -> f64 {
    seconds * 1e3
}

/// A smooth colour gradient of the network's input size.
fn synthetic_image(pipeline: &Pipeline) -> RgbImage {
    let (h, w) = pipeline.meta.input_hw();
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        image::Rgb([
            (x * 255 / w.max(1) as u32) as u8,
            (y * 255 / h.max(1) as u32) as u8,
            128,
        ])
    })
}
