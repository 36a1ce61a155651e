//! Issue 5 benchmark: cycles of every quantised conv of the default model (160×160 input) on
//! the FPGA accelerator's RTL, from its CYCLES / PERF_* counters, driven through the Rust
//! driver over the Verilator co-simulation. Prints a Markdown table: cycles, ms at 100 MHz,
//! MAC utilisation per layer and the frame total (layers × their count per frame: the 21
//! quantised convs the runtime runs at output stride 8; the dead laterals c1/c2 are measured
//! but count 0). Each output is also checked bit-exact against the CPU kernel.
//!
//! ```text
//! cargo run --features verilator --example fpga_cycles [-- --latency 10 --wait 0]
//! ```
//! `--latency L`: SDRAM read latency in cycles (default 10); `--wait P`: waitrequest
//! probability in ‰ (default 0).

#[cfg(not(feature = "verilator"))]
fn main() {
    eprintln!(
        "fpga_cycles needs the Verilator co-simulation: \
         cargo run --features verilator --example fpga_cycles"
    );
    std::process::exit(2);
}

#[cfg(feature = "verilator")]
fn main() -> anyhow::Result<()> {
    use lm::accel::workload::{random_operands, LayerShape, LIVE_CONVS_PER_FRAME, MODEL_LAYERS};
    use lm::accel::{Accelerator, DriverConfig, SimOptions};
    use lm::kernels::{self, KernelKind, QConvOutput};

    let mut latency = 10u32;
    let mut wait = 0u32;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| -> anyhow::Result<u32> {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))?
                .parse()
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))
        };
        match a.as_str() {
            "--latency" => latency = val("--latency")?,
            "--wait" => wait = val("--wait")?,
            other => anyhow::bail!("unknown argument {other} (expected --latency N, --wait P)"),
        }
    }

    let config = DriverConfig::default();
    let mut acc = Accelerator::open_verilator(SimOptions::default(), config)?;
    acc.regs_mut().set_timing(latency, wait, 1);
    let mhz = config.clock_hz / 1e6;
    println!(
        "lm_qconv RTL (Verilator), default model at 160x160, SDRAM read latency {latency}, \
         waitrequest {wait}/1000, {mhz:.0} MHz\n"
    );
    println!(
        "| Layer | × | cycles | ms @{mhz:.0} MHz | MAC cycles | load cycles | MAC util. | bit-exact |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|");

    let run = |acc: &mut Accelerator<_>, seed: u64, l: &LayerShape| -> anyhow::Result<_> {
        let ops = random_operands(
            seed,
            l.height,
            l.width,
            l.in_channels,
            l.out_channels,
            l.kernel,
        )?;
        let (out, stats) = acc.conv(l.name, &ops.input, &ops.weights, Some(&ops.thresholds))?;
        let want = kernels::qconv2d_threshold(
            KernelKind::best(),
            &ops.input,
            &ops.weights,
            &ops.thresholds,
            0,
        )?;
        Ok((stats, out == QConvOutput::Packed(want)))
    };

    let (mut frame_cycles, mut frame_mac, mut frame_load, mut frame_macs) =
        (0u64, 0u64, 0u64, 0u64);
    let mut frame_convs = 0usize;
    let mut all_ok = true;
    let mut peak = 1024u64;
    for (i, l) in MODEL_LAYERS.iter().enumerate() {
        let (s, ok) = run(&mut acc, 1000 + i as u64, l)?;
        all_ok &= ok;
        peak = s.peak_macs_per_cycle;
        let n = l.count as u64;
        frame_convs += l.count;
        frame_cycles += n * s.cycles;
        frame_mac += n * s.mac_cycles;
        frame_load += n * s.load_cycles;
        frame_macs += n * s.macs;
        println!(
            "| {} | {} | {} | {:.3} | {} | {} | {:.1} % | {} |",
            l.name,
            l.count,
            s.cycles,
            s.device_ms(),
            s.mac_cycles,
            s.load_cycles,
            100.0 * s.mac_utilisation(),
            if ok { "yes" } else { "**NO**" }
        );
    }
    let ms = frame_cycles as f64 / config.clock_hz * 1e3;
    println!(
        "| **frame (Σ count × cycles, {frame_convs} convs)** | | **{frame_cycles}** | **{ms:.2}** | {frame_mac} | {frame_load} | **{:.1} %** | {} |",
        100.0 * frame_macs as f64 / (frame_cycles as f64 * peak as f64),
        if all_ok { "yes" } else { "**NO**" }
    );
    println!(
        "\nframe: {:.1} M MACs; target <= 8 ms at {mhz:.0} MHz: {}",
        frame_macs as f64 / 1e6,
        if ms <= 8.0 { "met" } else { "MISSED" }
    );

    // published anchor shape (ikwzm QCONV-STRIP: 160x160x32 -> 8, 3x3; 582 µs)
    let anchor = LayerShape {
        name: "anchor 160x160 32->8 3x3",
        height: 160,
        width: 160,
        in_channels: 32,
        out_channels: 8,
        kernel: 3,
        count: 1,
    };
    let (s, ok) = run(&mut acc, 7, &anchor)?;
    println!(
        "{}: {} cycles = {:.3} ms, MAC util. {:.1} %, bit-exact {}",
        anchor.name,
        s.cycles,
        s.device_ms(),
        100.0 * s.mac_utilisation(),
        if ok { "yes" } else { "NO" }
    );
    anyhow::ensure!(
        frame_convs == LIVE_CONVS_PER_FRAME,
        "MODEL_LAYERS counts {frame_convs} convs per frame, expected {LIVE_CONVS_PER_FRAME}"
    );
    anyhow::ensure!(
        all_ok && ok,
        "an accelerator output differs from the CPU kernel"
    );
    Ok(())
}
