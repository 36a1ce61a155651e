//! The FPGA driver (`lm::accel`) over the pure-Rust software model of the accelerator:
//! bit-exact with the reference kernel on random shapes and on every quantised conv of the
//! default model, and every error path (fault injection) ends in a clear, bounded error.

use std::time::{Duration, Instant};

use lm::accel::dma::{CacheMode, SimSdram, UdmaBuf};
use lm::accel::regmap::{self, ctrl, status};
use lm::accel::workload::{random_operands, Rng, LIVE_CONVS_PER_FRAME, MODEL_LAYERS};
use lm::accel::{
    AccelError, Accelerator, BoardOptions, DriverConfig, DynAccelerator, ModelOptions,
    ResetOutcome, SimOptions, SoftModel,
};
use lm::kernels::{reference, PackedWeights, QConvOutput};

fn open(config: DriverConfig) -> Accelerator<SoftModel> {
    Accelerator::open_model(SimOptions::default(), ModelOptions::default(), config).unwrap()
}

/// Runs one layer with and without thresholds and compares with the reference kernel.
fn check_layer(
    acc: &mut Accelerator<SoftModel>,
    seed: u64,
    shape: (usize, usize, usize, usize, usize),
    raw: bool,
) {
    let (h, w, c_in, c_out, k) = shape;
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
        stats.cycles >= stats.mac_cycles && stats.mac_cycles > 0,
        "{name}: {stats:?}"
    );
    if raw {
        let (out, _) = acc.conv(&name, &ops.input, &ops.weights, None).unwrap();
        let want = reference::conv_acc(&ops.input, &ops.weights).unwrap();
        assert_eq!(
            out,
            QConvOutput::Accumulators(want),
            "{name}: accumulators differ"
        );
    }
}

#[test]
fn random_shapes_bit_exact_with_reference() {
    let mut acc = open(DriverConfig::default());
    let mut poll = open(DriverConfig {
        use_irq: false,
        ..DriverConfig::default()
    });
    let dims = [1usize, 2, 3, 5, 7];
    let c_ins = [1usize, 5, 31, 32, 33, 40, 65, 100];
    let c_outs = [1usize, 7, 31, 33, 45, 70];
    let mut rng = Rng::new(7);
    for i in 0..40u64 {
        let shape = (
            dims[rng.below(dims.len())],
            dims[rng.below(dims.len())],
            c_ins[rng.below(c_ins.len())],
            c_outs[rng.below(c_outs.len())],
            if rng.below(2) == 0 { 1 } else { 3 },
        );
        let dev = if i % 2 == 0 { &mut acc } else { &mut poll };
        check_layer(dev, 100 + i, shape, i % 3 == 0);
    }
    // the interrupt path was used by the first, polling by the second
    assert!(acc
        .regs()
        .writes()
        .iter()
        .any(|&(o, v)| o == ctrl::OFFSET && v & ctrl::IRQ_EN != 0));
    assert!(!poll
        .regs()
        .writes()
        .iter()
        .any(|&(o, v)| o == ctrl::OFFSET && v & ctrl::IRQ_EN != 0));
}

#[test]
fn default_model_layers_bit_exact_with_reference() {
    let mut acc = open(DriverConfig::default());
    let stats = crate::common::model_layers_bit_exact(&mut acc);
    assert_eq!(stats.len(), MODEL_LAYERS.len());
}

#[test]
fn model_layers_are_the_live_quantised_convs_of_the_default_model() {
    // The frame totals (examples/fpga_cycles.rs, fpga/README.md) count MODEL_LAYERS × count:
    // that must be exactly the quantised convs the runtime runs for the shipped model.
    let meta = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("meta/lm_single_pose_v1_quantize.yaml");
    let pipeline = lm::pipeline::Pipeline::load(
        &meta,
        None,
        &lm::model::LoadOptions::on(&lm::backend::Backend::default()),
    )
    .unwrap();
    let shape = |h, w, c_in, c_out, k| (h, w, c_in, c_out, k);
    let mut got: Vec<_> = pipeline
        .model
        .qconv_layers()
        .iter()
        .map(|l| shape(l.height, l.width, l.in_channels, l.out_channels, l.kernel))
        .collect();
    let mut want: Vec<_> = MODEL_LAYERS
        .iter()
        .flat_map(|l| {
            let s = shape(l.height, l.width, l.in_channels, l.out_channels, l.kernel);
            std::iter::repeat_n(s, l.count)
        })
        .collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(
        got, want,
        "MODEL_LAYERS (count > 0) vs the model's fused convs"
    );
    assert_eq!(got.len(), LIVE_CONVS_PER_FRAME);
    // The dead laterals (count 0) are real shapes of the export but never run.
    for l in MODEL_LAYERS.iter().filter(|l| l.count == 0) {
        assert!(l.name.contains("dead"), "{}", l.name);
        assert!(!got.contains(&shape(
            l.height,
            l.width,
            l.in_channels,
            l.out_channels,
            l.kernel
        )));
    }
}

#[test]
fn never_done_times_out_bounded_and_resets() {
    let mut acc = open(DriverConfig {
        timeout: Duration::from_millis(5),
        ..DriverConfig::default()
    });
    let ops = random_operands(1, 5, 5, 40, 33, 3).unwrap();
    acc.regs_mut().faults.never_done = true;
    acc.regs_mut().clear_writes();
    let t = Instant::now();
    let e = acc
        .conv(
            "stage3.conv2",
            &ops.input,
            &ops.weights,
            Some(&ops.thresholds),
        )
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5), "bounded wait");
    let msg = e.to_string();
    eprintln!("{msg}");
    assert!(
        matches!(
            e,
            AccelError::Timeout {
                reset: ResetOutcome::Done,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("stage3.conv2") && msg.contains("no DONE") && msg.contains("BUSY"),
        "{msg}"
    );
    assert!(
        msg.contains("STATUS=") && msg.contains("ERR_ADDR=") && msg.contains("CYCLES="),
        "{msg}"
    );
    assert_eq!(acc.regs().starts(), 1);
    assert_eq!(acc.regs().soft_resets(), 1, "core reset after the timeout");
    assert_eq!(e.layer(), Some("stage3.conv2"));
    // the core is usable again
    acc.regs_mut().faults.never_done = false;
    let (out, _) = acc
        .conv("again", &ops.input, &ops.weights, Some(&ops.thresholds))
        .unwrap();
    assert_eq!(
        out,
        QConvOutput::Packed(
            reference::conv_threshold(&ops.input, &ops.weights, &ops.thresholds).unwrap()
        )
    );
}

#[test]
fn never_done_times_out_in_wall_time_too() {
    // a simulator whose clock barely moves: the wall-clock guard still ends the wait
    let mut acc = open(DriverConfig {
        timeout: Duration::from_secs(3600),
        poll_interval: Duration::from_nanos(10),
        use_irq: false,
        wall_limit: Duration::from_millis(100),
        ..DriverConfig::default()
    });
    let ops = random_operands(2, 2, 2, 8, 8, 1).unwrap();
    acc.regs_mut().faults.never_done = true;
    let t = Instant::now();
    let e = acc.conv("l", &ops.input, &ops.weights, None).unwrap_err();
    assert!(matches!(e, AccelError::Timeout { .. }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn error_bits_are_named_and_core_reset() {
    let mut acc = open(DriverConfig::default());
    let ops = random_operands(3, 3, 4, 33, 40, 3).unwrap();
    for (bit, name) in [
        (status::ERR_BUS, "ERR_BUS"),
        (status::ERR_TIMEOUT, "ERR_TIMEOUT"),
        (status::ERR_TILE, "ERR_TILE"),
    ] {
        acc.regs_mut().faults.error_bits = bit;
        acc.regs_mut().faults.error_addr = 0x3000_1238;
        acc.regs_mut().clear_writes();
        let e = acc
            .conv("head.conv", &ops.input, &ops.weights, Some(&ops.thresholds))
            .unwrap_err();
        let msg = e.to_string();
        match &e {
            AccelError::Hardware {
                errors,
                err_addr,
                reset,
                ..
            } => {
                assert_eq!(errors, name);
                assert_eq!(*err_addr, 0x3000_1238);
                assert_eq!(*reset, ResetOutcome::Done);
            }
            _ => panic!("unexpected {msg}"),
        }
        assert!(
            msg.contains("head.conv") && msg.contains(name) && msg.contains("0x30001238"),
            "{msg}"
        );
        assert_eq!(acc.regs().soft_resets(), 1);
    }
    acc.regs_mut().faults.error_bits = 0;
    acc.conv("ok", &ops.input, &ops.weights, Some(&ops.thresholds))
        .unwrap();
}

#[test]
fn bus_error_on_weights_reports_the_address() {
    let mut acc = open(DriverConfig::default());
    let ops = random_operands(4, 4, 4, 64, 32, 3).unwrap();
    acc.conv("first", &ops.input, &ops.weights, Some(&ops.thresholds))
        .unwrap();
    let lay = acc.last_layout().unwrap();
    let bad = lay.w_addr + 256;
    acc.regs_mut().faults.bus_error = Some((bad, bad + 8));
    let e = acc
        .conv("second", &ops.input, &ops.weights, Some(&ops.thresholds))
        .unwrap_err();
    eprintln!("{e}");
    match e {
        AccelError::Hardware {
            ref errors,
            err_addr,
            ..
        } => {
            assert_eq!(errors, "ERR_BUS");
            assert_eq!(u64::from(err_addr), bad);
        }
        ref e => panic!("{e}"),
    }
}

#[test]
fn wrong_id_fails_open_naming_register_and_values() {
    for (id, what) in [
        (0x1234_0100u32, "magic 0x1234"),
        (0x4C51_0200, "version 2.0"),
        (0xFFFF_FFFF, "0xffffffff"),
    ] {
        let sdram = SimSdram::new(1 << 16, 0x1000_0000);
        let mut model = SoftModel::new(sdram.clone(), ModelOptions::default());
        model.faults.id = Some(id);
        let e = Accelerator::new(
            model,
            Box::new(sdram.region(0, 1 << 16).unwrap()),
            DriverConfig::default(),
        )
        .err()
        .expect("open must fail");
        let msg = e.to_string();
        assert!(matches!(e, AccelError::BadId { .. }), "{msg}");
        assert!(
            msg.contains("ID register") && msg.contains(what) && msg.contains("0x4c51"),
            "{msg}"
        );
    }
}

#[test]
fn busy_at_start_writes_no_start() {
    let mut acc = open(DriverConfig::default());
    let ops = random_operands(5, 3, 3, 32, 32, 3).unwrap();
    acc.regs_mut().faults.busy = true;
    acc.regs_mut().clear_writes();
    let e = acc
        .conv("busy", &ops.input, &ops.weights, Some(&ops.thresholds))
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            AccelError::Busy {
                reset: ResetOutcome::Done,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("busy") && msg.contains("BUSY") && msg.contains("START not written"),
        "{msg}"
    );
    assert_eq!(acc.regs().starts(), 0);
    assert_eq!(acc.regs().soft_resets(), 1);
    // the soft reset freed the core
    acc.conv("after", &ops.input, &ops.weights, Some(&ops.thresholds))
        .unwrap();

    // a core that stays busy even after SOFT_RESET: bounded, reported
    acc.regs_mut().faults.busy = true;
    acc.regs_mut().faults.reset_stuck = true;
    let t = Instant::now();
    let e = acc
        .conv("stuck", &ops.input, &ops.weights, Some(&ops.thresholds))
        .unwrap_err();
    assert!(
        matches!(
            e,
            AccelError::Busy {
                reset: ResetOutcome::StillBusy,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("FAILED (still BUSY)"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn bad_geometry_rejected_before_start() {
    let mut acc = open(DriverConfig::default());
    // weight buffer: 3x3 with C_in = 3,650 -> K²G = 9·115 = 1035 > 1024 words
    let big_cin = random_operands(6, 1, 1, 3650, 2, 3).unwrap();
    // activation rows: min(K,H)·W·G = 3·1500·1 > 4096
    let wide = random_operands(7, 3, 1500, 32, 4, 3).unwrap();
    // mismatched operands
    let a = random_operands(8, 2, 2, 40, 8, 3).unwrap();
    let b = random_operands(8, 2, 2, 41, 8, 3).unwrap();
    acc.regs_mut().clear_writes();
    let cases: Vec<(AccelError, &str)> = vec![
        (
            acc.conv(
                "big_cin",
                &big_cin.input,
                &big_cin.weights,
                Some(&big_cin.thresholds),
            )
            .unwrap_err(),
            "IN_GROUPS",
        ),
        (
            acc.conv("wide", &wide.input, &wide.weights, None)
                .unwrap_err(),
            "WIDTH",
        ),
        (
            acc.conv("mismatch", &a.input, &b.weights, None)
                .unwrap_err(),
            "input channels",
        ),
    ];
    for (e, field) in &cases {
        let msg = e.to_string();
        assert!(msg.contains(field), "{msg}");
        assert!(e.is_layer_unsupported(), "{msg}");
    }
    assert!(
        cases[0].0.to_string().contains("3650") && cases[0].0.to_string().contains("weight buffer")
    );
    assert!(
        acc.regs().writes().is_empty(),
        "no register written: {:?}",
        acc.regs().writes()
    );
    // also through `supports`
    let e = acc.supports("k5", 8, 8, 32, 32, 5).unwrap_err();
    assert!(e.to_string().contains("KSIZE"), "{e}");
    let e = acc.supports("h", 70_000, 1, 32, 32, 1).unwrap_err();
    assert!(e.to_string().contains("HEIGHT = 70000"), "{e}");
    assert!(acc.regs().writes().is_empty());
}

#[test]
fn dma_buffer_too_small_rejected_before_start() {
    let mut acc = Accelerator::open_model(
        SimOptions {
            sdram_bytes: 16 << 10,
            phys_base: 0x2000_0000,
        },
        ModelOptions::default(),
        DriverConfig::default(),
    )
    .unwrap();
    let ops = random_operands(9, 20, 20, 128, 64, 3).unwrap();
    acc.regs_mut().clear_writes();
    let e = acc
        .conv("big", &ops.input, &ops.weights, Some(&ops.thresholds))
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, AccelError::DmaSpace { .. }) && msg.contains("big") && msg.contains("bytes"),
        "{msg}"
    );
    assert_eq!(acc.regs().starts(), 0);
    // a layer that fits still runs on the same accelerator
    let w = PackedWeights::from_fn(1, 32, 1, |_, _, _, _| true).unwrap();
    let small = random_operands(10, 2, 2, 32, 1, 1).unwrap();
    acc.conv("tiny", &small.input, &w, Some(&small.thresholds))
        .unwrap();
}

#[test]
fn missing_device_nodes_are_named_with_a_fix() {
    let e = lm::accel::uio::Uio::open("/dev/uio99").err().unwrap();
    let msg = e.to_string();
    assert!(
        msg.contains("/dev/uio99") && msg.contains("uio_pdrv_genirq of_id=lm,qconv-1.0"),
        "{msg}"
    );
    let opts = BoardOptions {
        uio: Some("/dev/uio99".into()),
        udmabuf: "udmabuf_lm_test_missing".into(),
        ..BoardOptions::default()
    };
    let msg = DynAccelerator::open_board(&opts, DriverConfig::default())
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("/dev/uio99"), "{msg}");
    // The same fix as `lm doctor` gives (src/board/doctor.rs uses this text).
    assert!(msg.contains(lm::accel::uio::UIO_HINT), "{msg}");
    let msg = UdmaBuf::open("udmabuf_lm_test_missing", CacheMode::Cached)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("/sys/class/u-dma-buf/udmabuf_lm_test_missing")
            && msg.contains("modprobe u-dma-buf"),
        "{msg}"
    );
    let msg = lm::accel::devmem::DevMem::open_path(
        "/nonexistent/mem",
        regmap::CSR_BASE_PHYS,
        regmap::CSR_SPAN,
    )
    .err()
    .unwrap()
    .to_string();
    // A system without /dev/mem is not a matter of rights.
    assert!(
        msg.contains("/nonexistent/mem") && msg.contains("no /dev/mem") && !msg.contains("root"),
        "{msg}"
    );
}

#[test]
fn shareable_behind_a_mutex() {
    fn send<T: Send>(_: &T) {}
    let acc = open(DriverConfig::default()).into_dyn();
    send(&acc);
    let shared = std::sync::Arc::new(std::sync::Mutex::new(acc));
    let ops = random_operands(11, 3, 5, 33, 20, 3).unwrap();
    let want = reference::conv_threshold(&ops.input, &ops.weights, &ops.thresholds).unwrap();
    std::thread::scope(|s| {
        for t in 0..2 {
            let shared = shared.clone();
            let (ops, want) = (&ops, &want);
            s.spawn(move || {
                for i in 0..3 {
                    let mut g = shared.lock().unwrap();
                    let (out, _) = g
                        .conv(
                            &format!("t{t}.{i}"),
                            &ops.input,
                            &ops.weights,
                            Some(&ops.thresholds),
                        )
                        .unwrap();
                    assert_eq!(out, QConvOutput::Packed(want.clone()));
                }
            });
        }
    });
    let info = shared.lock().unwrap().info();
    assert_eq!(info.caps.out_lanes, 32);
    assert_eq!(info.caps.macs_per_cycle(), 1024);
}
