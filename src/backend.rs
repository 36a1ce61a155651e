//! Where the quantised layers run: the [`Backend`] a model is compiled for, and
//! [`EngineOptions`], the plain description of one (`--backend`, `--kernel`, `--threads`,
//! `--fpga-device`, `--udmabuf` on the command line) that every front end opens the same way.

use crate::accel::{open_executor, FpgaExecutor};
use crate::kernels::KernelKind;
use crate::ops::qconv2d::{CpuExecutor, Executor};
use anyhow::{bail, Result};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Where the quantised blocks of a QONNX model run.
#[derive(Debug, Clone)]
pub enum Backend {
    /// tract's float evaluation of the fake-quant graph (the reference).
    Float,
    /// Fused integer blocks on the bit-serial CPU kernels.
    Cpu(CpuExecutor),
    /// Fused integer blocks on the FPGA accelerator (or a simulation of
    /// it), each layer falling back to the CPU kernels on any driver error.
    Fpga(Arc<FpgaExecutor>),
}

impl Default for Backend {
    fn default() -> Self {
        Backend::Cpu(CpuExecutor::default())
    }
}

impl Backend {
    /// What runs the fused layers; `None` for the float reference.
    pub fn executor(&self) -> Option<Arc<dyn Executor>> {
        match self {
            Backend::Float => None,
            Backend::Cpu(c) => Some(Arc::new(*c)),
            Backend::Fpga(f) => Some(f.clone()),
        }
    }

    pub fn name(&self) -> String {
        self.executor().map_or_else(|| "float".into(), |e| e.name())
    }

    /// Threads of the CPU work around the quantised layers (the float input block); the
    /// FPGA backend's are its CPU fallback's.
    pub fn cpu_threads(&self) -> usize {
        match self {
            Backend::Float => 1,
            Backend::Cpu(c) => c.threads,
            Backend::Fpga(f) => f.fallback().threads,
        }
    }
}

/// Which backend to open (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// The bit-serial CPU kernels.
    #[default]
    Cpu,
    /// The FPGA accelerator, each layer falling back to the CPU kernels on any driver error.
    Fpga,
    /// The board's accelerator if it opens, else the CPU kernels.
    Auto,
    /// tract's float evaluation of the fake-quant graph (the reference).
    Float,
}

impl BackendChoice {
    pub const ALL: [BackendChoice; 4] = [
        BackendChoice::Cpu,
        BackendChoice::Fpga,
        BackendChoice::Auto,
        BackendChoice::Float,
    ];

    /// Lower-case name, as accepted by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            BackendChoice::Cpu => "cpu",
            BackendChoice::Fpga => "fpga",
            BackendChoice::Auto => "auto",
            BackendChoice::Float => "float",
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|b| b.name()).collect();
                format!("unknown backend `{s}` (expected {})", names.join(", "))
            })
    }
}

/// Everything needed to open a [`Backend`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    pub backend: BackendChoice,
    /// CPU kernel of the quantised layers (and the FPGA backend's fallback).
    pub kernel: KernelKind,
    /// Threads for the quantised layers on the CPU (0 = all cores).
    pub threads: usize,
    /// Accelerator: `uio:/dev/uioN`, `mem` (/dev/mem), `sim` (software model) or `verilator`.
    pub fpga_device: String,
    /// u-dma-buf buffer for the accelerator's operands.
    pub udmabuf: String,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            backend: BackendChoice::Cpu,
            kernel: KernelKind::best(),
            threads: 1,
            fpga_device: "uio:/dev/uio0".into(),
            udmabuf: "udmabuf0".into(),
        }
    }
}

impl EngineOptions {
    /// Opens the backend: checks the kernel, opens the accelerator for `fpga` (an error if it
    /// does not open) and `auto` (a warning and the CPU if it does not).
    pub fn open(&self) -> Result<Backend> {
        if self.backend == BackendChoice::Float {
            return Ok(Backend::Float);
        }
        if !self.kernel.is_available() {
            let names: Vec<&str> = KernelKind::available().iter().map(|k| k.name()).collect();
            bail!(
                "kernel {} is not available on this CPU/build (available: {})",
                self.kernel.name(),
                names.join(", ")
            );
        }
        let cpu = CpuExecutor {
            kernel: self.kernel,
            threads: self.threads,
        };
        match self.backend {
            BackendChoice::Fpga => Ok(Backend::Fpga(Arc::new(open_executor(
                &self.fpga_device,
                &self.udmabuf,
                cpu,
            )?))),
            BackendChoice::Auto => match open_executor(&self.fpga_device, &self.udmabuf, cpu) {
                Ok(fpga) => Ok(Backend::Fpga(Arc::new(fpga))),
                Err(e) => {
                    tracing::warn!("no FPGA ({e:#}); quantised layers run on the CPU");
                    Ok(Backend::Cpu(cpu))
                }
            },
            BackendChoice::Cpu | BackendChoice::Float => Ok(Backend::Cpu(cpu)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_round_trip() {
        for b in BackendChoice::ALL {
            assert_eq!(b.name().parse::<BackendChoice>(), Ok(b));
        }
        let e = "gpu".parse::<BackendChoice>().unwrap_err();
        assert_eq!(e, "unknown backend `gpu` (expected cpu, fpga, auto, float)");
    }

    #[test]
    fn opens_cpu_float_and_simulated_fpga() {
        let cpu = EngineOptions::default().open().unwrap();
        assert!(matches!(cpu, Backend::Cpu(c) if c.threads == 1));
        let float = EngineOptions {
            backend: BackendChoice::Float,
            ..Default::default()
        };
        assert!(matches!(float.open().unwrap(), Backend::Float));
        let sim = EngineOptions {
            backend: BackendChoice::Fpga,
            fpga_device: "sim".into(),
            ..Default::default()
        };
        assert!(matches!(sim.open().unwrap(), Backend::Fpga(_)));
    }

    #[test]
    fn fpga_that_does_not_open_is_an_error_and_auto_falls_back() {
        let missing = EngineOptions {
            backend: BackendChoice::Fpga,
            fpga_device: "uio:/nonexistent/uio9".into(),
            ..Default::default()
        };
        let e = missing.open().unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/uio9"), "{e:#}");
        let auto = EngineOptions {
            backend: BackendChoice::Auto,
            ..missing
        };
        assert!(matches!(auto.open().unwrap(), Backend::Cpu(_)));
    }

    #[test]
    fn unavailable_kernel_names_the_available_ones_in_lower_case() {
        let Some(missing) = KernelKind::ALL.into_iter().find(|k| !k.is_available()) else {
            return; // every kernel runs on this CPU
        };
        let e = EngineOptions {
            kernel: missing,
            ..Default::default()
        }
        .open()
        .unwrap_err()
        .to_string();
        assert!(e.contains("available: reference, portable"), "{e}");
    }
}
