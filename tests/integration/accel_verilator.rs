//! The FPGA driver (`lm::accel`) over the Verilator co-simulation of the RTL (`fpga/rtl`):
//! the very same driver code as on the board. Bit-exact with the reference kernel on random
//! shapes and on every quantised conv of the default model; soft reset mid-job; bus errors and
//! hung bus; busy core; bad geometry rejected before START.
//!
//! `cargo test --features verilator --test integration accel_verilator::` (needs
//! verilator >= 5; run by `fpga/ci.sh`).

use std::sync::Mutex;
use std::time::Duration;

use lm::accel::dma::SimSdram;
use lm::accel::regmap::{self, ctrl, status};
use lm::accel::verilator::{SimFault, SimStat, VerilatorSim};
use lm::accel::workload::{random_operands, Rng};
use lm::accel::{
    AccelError, Accelerator, DriverConfig, RegisterAccess, ResetOutcome, SimOptions, Traced,
};
use lm::kernels::{reference, QConvOutput};

/// The simulations are run one at a time (2-core CI machines; Verilator contexts are heavy).
static SERIAL: Mutex<()> = Mutex::new(());

type Sim = Accelerator<Traced<VerilatorSim>>;

fn open(config: DriverConfig) -> Sim {
    let opts = SimOptions::default();
    let sdram = SimSdram::new(opts.sdram_bytes, opts.phys_base);
    let dma = Box::new(sdram.region(0, opts.sdram_bytes).unwrap());
    let v = VerilatorSim::new(sdram, config.clock_hz).unwrap();
    Accelerator::new(Traced::new(v), dma, config).unwrap()
}

fn sim(acc: &mut Sim) -> &mut VerilatorSim {
    &mut acc.regs_mut().inner
}

fn assert_clean_bus(acc: &mut Sim) {
    assert_eq!(
        sim(acc).stat(SimStat::ProtocolViolations),
        0,
        "Avalon protocol violations"
    );
    assert_eq!(
        sim(acc).stat(SimStat::WritesDropped),
        0,
        "writes outside the SDRAM"
    );
}

fn check(
    acc: &mut Sim,
    seed: u64,
    (h, w, c_in, c_out, k): (usize, usize, usize, usize, usize),
    raw: bool,
) {
    let ops = random_operands(seed, h, w, c_in, c_out, k).unwrap();
    let name = format!("{h}x{w} {c_in}->{c_out} k{k}");
    let (out, stats) = acc
        .conv(&name, &ops.input, &ops.weights, Some(&ops.thresholds))
        .unwrap_or_else(|e| panic!("{e}"));
    let want = reference::conv_threshold(&ops.input, &ops.weights, &ops.thresholds).unwrap();
    assert_eq!(
        out,
        QConvOutput::Packed(want),
        "{name}: packed output differs"
    );
    assert!(
        stats.cycles > 0 && stats.mac_cycles > 0 && stats.cycles >= stats.mac_cycles,
        "{stats:?}"
    );
    if raw {
        let (out, _) = acc
            .conv(&name, &ops.input, &ops.weights, None)
            .unwrap_or_else(|e| panic!("{e}"));
        let want = reference::conv_acc(&ops.input, &ops.weights).unwrap();
        assert_eq!(
            out,
            QConvOutput::Accumulators(want),
            "{name}: raw accumulators differ"
        );
    }
}

#[test]
fn open_checks_id_and_caps() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut acc = open(DriverConfig::default());
    let info = acc.info();
    assert_eq!(info.id, regmap::id::RESET);
    assert_eq!((info.version_major, info.version_minor), (1, 0));
    assert_eq!(info.caps, lm::accel::Caps::decode(regmap::caps::RESET));
    assert_eq!(
        acc.regs_mut().read(regmap::timeout::OFFSET),
        DriverConfig::default().bus_watchdog_cycles
    );
}

#[test]
fn random_shapes_bit_exact_with_reference() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut acc = open(DriverConfig::default());
    let mut rng = Rng::new(42);
    let dims = [1usize, 2, 3, 5, 7, 9];
    let c_ins = [1usize, 5, 31, 33, 40, 65, 100];
    let c_outs = [1usize, 7, 31, 33, 45, 70];
    for i in 0..24u64 {
        // alternate SDRAM timing (latency, waitrequest ‰) and interrupt / polling
        let (lat, wait) = [(8, 0), (1, 0), (23, 250), (45, 400)][(i % 4) as usize];
        sim(&mut acc).set_timing(lat, wait, i as u32 + 1);
        acc.config_mut().use_irq = i % 2 == 0;
        let shape = (
            dims[rng.below(dims.len())],
            dims[rng.below(dims.len())],
            c_ins[rng.below(c_ins.len())],
            c_outs[rng.below(c_outs.len())],
            if rng.below(2) == 0 { 1 } else { 3 },
        );
        check(&mut acc, 500 + i, shape, i % 3 == 0);
    }
    // multi-strip layer (the activation buffer holds only part of the image)
    sim(&mut acc).set_timing(12, 150, 3);
    check(&mut acc, 600, (29, 66, 190, 70, 3), true);
    assert_clean_bus(&mut acc);
}

#[test]
fn default_model_layers_bit_exact_with_reference() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut acc = open(DriverConfig::default());
    sim(&mut acc).set_timing(10, 0, 1);
    for (l, stats) in crate::common::model_layers_bit_exact(&mut acc) {
        eprintln!(
            "{:<24} {:>8} cycles {:>7.3} ms util {:>5.1} %",
            l.name,
            stats.cycles,
            stats.device_ms(),
            100.0 * stats.mac_utilisation()
        );
    }
    assert_clean_bus(&mut acc);
}

#[test]
fn soft_reset_mid_job_then_correct_job() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut acc = open(DriverConfig::default());
    let ops = random_operands(7, 40, 40, 128, 32, 3).unwrap(); // ~65 k cycles
    let want = reference::conv_threshold(&ops.input, &ops.weights, &ops.thresholds).unwrap();
    // time out (and so soft-reset) while loading, computing and writing
    for (i, cycles) in [300u64, 3_000, 30_000, 60_000].into_iter().enumerate() {
        acc.config_mut().timeout = Duration::from_secs_f64(cycles as f64 / 100e6);
        acc.config_mut().use_irq = i % 2 == 0;
        acc.regs_mut().clear_writes();
        let e = acc
            .conv("mid", &ops.input, &ops.weights, Some(&ops.thresholds))
            .unwrap_err();
        match &e {
            AccelError::Timeout {
                reset, regs, clock, ..
            } => {
                assert_eq!(*reset, ResetOutcome::Done, "{e}");
                assert_eq!(*clock, "device time");
                assert!(regs.status & status::BUSY != 0, "{e}");
            }
            _ => panic!("expected a timeout: {e}"),
        }
        assert_eq!(acc.regs().soft_resets(), 1);
        let st = acc.regs_mut().read(status::OFFSET);
        assert_eq!(st, 0, "idle and clean after the reset");
        // a correct job right after
        acc.config_mut().timeout = Duration::from_millis(500);
        let (out, _) = acc
            .conv(
                "after reset",
                &ops.input,
                &ops.weights,
                Some(&ops.thresholds),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out,
            QConvOutput::Packed(want.clone()),
            "after reset at {cycles} cycles"
        );
    }
    // an explicit soft reset while a job runs (START written behind the driver's back)
    acc.regs_mut().write(ctrl::OFFSET, ctrl::START);
    sim(&mut acc).step(5_000);
    assert!(acc.regs_mut().read(status::OFFSET) & status::BUSY != 0);
    assert_eq!(acc.soft_reset(), ResetOutcome::Done);
    let (out, _) = acc
        .conv("final", &ops.input, &ops.weights, Some(&ops.thresholds))
        .unwrap();
    assert_eq!(out, QConvOutput::Packed(want));
    assert_clean_bus(&mut acc);
}

#[test]
fn busy_at_start_writes_no_start() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut acc = open(DriverConfig::default());
    let ops = random_operands(8, 20, 20, 64, 32, 3).unwrap();
    acc.conv("first", &ops.input, &ops.weights, Some(&ops.thresholds))
        .unwrap();
    // someone else starts a job with the same configuration
    acc.regs_mut().write(ctrl::OFFSET, ctrl::START);
    acc.regs_mut().clear_writes();
    let e = acc
        .conv("second", &ops.input, &ops.weights, Some(&ops.thresholds))
        .unwrap_err();
    assert!(
        matches!(
            e,
            AccelError::Busy {
                reset: ResetOutcome::Done,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("second") && e.to_string().contains("BUSY"),
        "{e}"
    );
    assert_eq!(
        acc.regs().starts(),
        0,
        "START must not be written while busy"
    );
    acc.conv("third", &ops.input, &ops.weights, Some(&ops.thresholds))
        .unwrap();
}

#[test]
fn bad_geometry_rejected_before_start() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut acc = open(DriverConfig::default());
    let big = random_operands(9, 1, 1, 3650, 2, 3).unwrap();
    let wide = random_operands(10, 3, 1400, 32, 4, 3).unwrap();
    acc.regs_mut().clear_writes();
    let e1 = acc
        .conv("big", &big.input, &big.weights, Some(&big.thresholds))
        .unwrap_err();
    let e2 = acc
        .conv("wide", &wide.input, &wide.weights, None)
        .unwrap_err();
    assert!(e1.to_string().contains("IN_GROUPS"), "{e1}");
    assert!(e2.to_string().contains("WIDTH"), "{e2}");
    assert!(acc.regs().writes().is_empty(), "{:?}", acc.regs().writes());
    // the hardware would have refused too: program the same layer by hand
    let r = acc.regs_mut();
    r.write(regmap::dim::OFFSET, (3 << 16) | 1400);
    r.write(regmap::chan::OFFSET, (4 << 16) | 1);
    r.write(regmap::conv::OFFSET, 0x113);
    r.write(ctrl::OFFSET, ctrl::START);
    r.inner.step(10);
    let st = r.read(status::OFFSET);
    assert_eq!(st, status::DONE | status::ERR_TILE);
    r.write(status::OFFSET, st);
}

#[test]
fn bus_error_and_hung_bus_reported_then_recovered() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut acc = open(DriverConfig {
        bus_watchdog_cycles: 2_000,
        ..DriverConfig::default()
    });
    let ops = random_operands(11, 6, 7, 70, 40, 3).unwrap();
    let want = reference::conv_threshold(&ops.input, &ops.weights, &ops.thresholds).unwrap();
    acc.conv("ok", &ops.input, &ops.weights, Some(&ops.thresholds))
        .unwrap();
    let lay = acc.last_layout().unwrap();
    let (lo, hi) = (lay.w_addr as u32 + 64, lay.w_addr as u32 + 72);

    sim(&mut acc).set_fault(SimFault::ErrorResponse, lo, hi);
    let e = acc
        .conv("weights", &ops.input, &ops.weights, Some(&ops.thresholds))
        .unwrap_err();
    match &e {
        AccelError::Hardware {
            errors,
            err_addr,
            reset,
            ..
        } => {
            assert_eq!(errors, "ERR_BUS", "{e}");
            assert!((lo..hi).contains(err_addr), "{e}");
            assert_eq!(*reset, ResetOutcome::Done);
        }
        _ => panic!("{e}"),
    }
    assert!(e.to_string().contains("layer `weights`") && e.to_string().contains("ERR_BUS"));

    sim(&mut acc).set_fault(SimFault::StuckWaitrequest, lo, hi);
    let e = acc
        .conv("hung", &ops.input, &ops.weights, Some(&ops.thresholds))
        .unwrap_err();
    match &e {
        AccelError::Hardware { errors, reset, .. } => {
            assert_eq!(errors, "ERR_TIMEOUT", "{e}");
            assert_eq!(*reset, ResetOutcome::Done);
        }
        _ => panic!("{e}"),
    }

    sim(&mut acc).set_fault(SimFault::None, 0, 0);
    let (out, _) = acc
        .conv("recovered", &ops.input, &ops.weights, Some(&ops.thresholds))
        .unwrap();
    assert_eq!(out, QConvOutput::Packed(want));
}
