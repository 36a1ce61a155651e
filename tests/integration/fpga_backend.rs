//! `--backend fpga` through the accelerator's software model: the same
//! results as the CPU kernels, and a per-layer CPU fallback when the device
//! misbehaves (here: a core that never raises DONE).

use crate::common::*;
use lm::accel::{Accelerator, DriverConfig, FpgaExecutor, LayerRun, ModelOptions, SimOptions};
use lm::backend::Backend;
use lm::config::Meta;
use lm::model::Model;
use lm::ops::qconv2d::CpuExecutor;
use lm::preprocess::InputImage;
use std::sync::Arc;
use std::time::Duration;

fn input() -> InputImage {
    let data = (0..64 * 64 * 3)
        .map(|i| ((i * 37 + i / 192) % 256) as f32 / 255.0)
        .collect();
    InputImage {
        height: 64,
        width: 64,
        data,
    }
}

fn fpga(never_done: bool) -> Arc<FpgaExecutor> {
    let config = DriverConfig {
        timeout: Duration::from_millis(5),
        ..DriverConfig::default()
    };
    let mut accel =
        Accelerator::open_model(SimOptions::default(), ModelOptions::default(), config).unwrap();
    accel.regs_mut().faults.never_done = never_done;
    Arc::new(FpgaExecutor::new(
        "sim",
        accel.into_dyn(),
        CpuExecutor::default(),
    ))
}

fn heatmaps(backend: &Backend) -> Vec<f32> {
    let meta = Meta::load(fixture("lm_tiny_quantize.yaml")).unwrap();
    let model = Model::load(
        &meta.model_path().unwrap(),
        &meta,
        &lm::model::LoadOptions::on(backend),
    )
    .unwrap();
    run_raw(&model, 64, &input().data).data
}

#[test]
fn fpga_model_gives_the_cpu_kernels_results() {
    let cpu = heatmaps(&Backend::Cpu(CpuExecutor::default()));
    let exec = fpga(false);
    let on_fpga = heatmaps(&Backend::Fpga(exec.clone()));
    assert_eq!(
        cpu, on_fpga,
        "packed levels are identical, so heatmaps are bit-identical"
    );
    let log = exec.take_log();
    assert_eq!(log.len(), 21, "one job per fused layer");
    for (layer, run) in &log {
        match run {
            LayerRun::Fpga(stats) => assert!(stats.cycles > 0, "{layer}"),
            LayerRun::Cpu(e) => panic!("{layer} fell back: {e}"),
        }
    }
}

#[test]
fn a_hung_accelerator_falls_back_to_the_cpu_per_layer() {
    let cpu = heatmaps(&Backend::Cpu(CpuExecutor::default()));
    let exec = fpga(true);
    let started = std::time::Instant::now();
    let out = heatmaps(&Backend::Fpga(exec.clone()));
    assert_eq!(cpu, out, "fallback results are the CPU kernels' results");
    let log = exec.take_log();
    assert_eq!(log.len(), 21);
    for (layer, run) in &log {
        match run {
            LayerRun::Cpu(e) => {
                assert!(
                    e.contains(layer.as_str()),
                    "error does not name the layer: {e}"
                );
                assert!(
                    e.to_lowercase().contains("timeout") || e.contains("DONE"),
                    "{e}"
                );
            }
            LayerRun::Fpga(_) => panic!("{layer} claims to have run on a hung core"),
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "waits must be bounded"
    );
}
