//! The accelerator as an [`Executor`] of fused quantised convolutions, with
//! a per-layer fallback to the CPU kernels.
//!
//! Any driver error — a layer the core cannot take, a timeout, error bits —
//! is logged with its layer and register state, the driver has already reset
//! the core, and that layer is computed on the CPU instead, so one bad job
//! never stops the frame and never gives a wrong answer.

use super::{DynAccelerator, LayerStats};
use crate::kernels::{PackedActivations, PackedWeights, Thresholds};
use crate::ops::qconv2d::{CpuExecutor, Executor};
use std::sync::Mutex;

/// What happened to one layer job.
#[derive(Debug, Clone)]
pub enum LayerRun {
    /// Ran on the accelerator.
    Fpga(LayerStats),
    /// Fell back to the CPU, with the driver's error.
    Cpu(String),
}

/// Runs layers on the accelerator, falling back to `fallback` per layer.
pub struct FpgaExecutor {
    device: String,
    accel: Mutex<DynAccelerator>,
    fallback: CpuExecutor,
    log: Mutex<Vec<(String, LayerRun)>>,
}

impl std::fmt::Debug for FpgaExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FpgaExecutor")
            .field("device", &self.device)
            .field("fallback", &self.fallback)
            .finish()
    }
}

impl FpgaExecutor {
    /// `device` names the backend in logs (e.g. `uio:/dev/uio0`, `sim`).
    pub fn new(device: impl Into<String>, accel: DynAccelerator, fallback: CpuExecutor) -> Self {
        FpgaExecutor {
            device: device.into(),
            accel: Mutex::new(accel),
            fallback,
            log: Mutex::new(vec![]),
        }
    }

    /// The CPU executor that takes the layers the accelerator cannot.
    pub fn fallback(&self) -> CpuExecutor {
        self.fallback
    }

    /// Every job since the last call, in order: (layer, what happened).
    pub fn take_log(&self) -> Vec<(String, LayerRun)> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Direct access to the driver (simulator fault injection in tests).
    pub fn with_accelerator<T>(&self, f: impl FnOnce(&mut DynAccelerator) -> T) -> T {
        f(&mut self.accel.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Executor for FpgaExecutor {
    fn name(&self) -> String {
        format!("fpga-{} (fallback {})", self.device, self.fallback.name())
    }

    fn conv(
        &self,
        layer: &str,
        input: &PackedActivations,
        weights: &PackedWeights,
        thresholds: &Thresholds,
    ) -> anyhow::Result<PackedActivations> {
        let result = self
            .accel
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .conv_threshold(layer, input, weights, thresholds);
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok((out, stats)) => {
                log.push((layer.to_string(), LayerRun::Fpga(stats)));
                Ok(out)
            }
            Err(e) => {
                tracing::warn!("FPGA could not run layer {layer} ({e}); computing it on the CPU");
                log.push((layer.to_string(), LayerRun::Cpu(e.to_string())));
                drop(log);
                self.fallback.conv(layer, input, weights, thresholds)
            }
        }
    }
}

/// Opens the accelerator named by `device` as an executor:
///
/// * `uio:/dev/uioN` — the board, through UIO (interrupt wait) and u-dma-buf `udmabuf`;
/// * `mem` — the board, through `/dev/mem` (root) and u-dma-buf `udmabuf`;
/// * `sim` — the pure-Rust software model of the core;
/// * `verilator` — the Verilator co-simulation of the RTL (cargo feature `verilator`).
pub fn open_executor(
    device: &str,
    udmabuf: &str,
    fallback: CpuExecutor,
) -> anyhow::Result<FpgaExecutor> {
    use super::{Accelerator, BoardOptions, DriverConfig, ModelOptions, SimOptions};
    let config = DriverConfig::default();
    let accel = match device {
        "sim" => Accelerator::open_model(SimOptions::default(), ModelOptions::default(), config)?
            .into_dyn(),
        #[cfg(feature = "verilator")]
        "verilator" => Accelerator::open_verilator(SimOptions::default(), config)?.into_dyn(),
        #[cfg(not(feature = "verilator"))]
        "verilator" => anyhow::bail!(
            "this lm was built without the `verilator` feature (cargo build --features verilator)"
        ),
        "mem" => {
            let opts = BoardOptions {
                uio: None,
                udmabuf: udmabuf.to_string(),
                ..BoardOptions::default()
            };
            DynAccelerator::open_board(&opts, config)?
        }
        uio if uio.starts_with("uio:") => {
            let opts = BoardOptions {
                uio: Some(uio["uio:".len()..].to_string()),
                udmabuf: udmabuf.to_string(),
                ..BoardOptions::default()
            };
            DynAccelerator::open_board(&opts, config)?
        }
        other => anyhow::bail!(
            "unknown FPGA device {other:?} (expected uio:/dev/uioN, mem, sim or verilator)"
        ),
    };
    Ok(FpgaExecutor::new(device, accel, fallback))
}
