//! The engine flags of the commands that run a model.

use lm::backend::{Backend, BackendChoice, EngineOptions};
use lm::kernels::KernelKind;

/// Where the quantised layers run.
#[derive(clap::Args, Clone, Debug)]
pub struct EngineArgs {
    /// `cpu`: fused integer bit-serial kernels; `fpga`: the FPGA accelerator
    /// (`--fpga-device`), each layer falling back to the CPU kernels on any
    /// driver error; `auto`: the board's accelerator if it opens, else `cpu`;
    /// `float`: tract's float evaluation of the fake-quant graph (the reference).
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "fpga", "auto", "float"])]
    backend: String,
    /// CPU kernel: best, reference, portable, popcnt, avx2, avx512, neon.
    #[arg(long, default_value = "best")]
    kernel: KernelKind,
    /// Threads for the quantised layers on the CPU (0 = all cores).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Accelerator: uio:/dev/uioN, mem (/dev/mem), sim (software model) or verilator.
    #[arg(long, default_value = "uio:/dev/uio0")]
    fpga_device: String,
    /// u-dma-buf buffer for the accelerator's operands.
    #[arg(long, default_value = "udmabuf0")]
    udmabuf: String,
}

impl EngineArgs {
    pub fn options(&self) -> EngineOptions {
        EngineOptions {
            backend: self
                .backend
                .parse::<BackendChoice>()
                .expect("clap checked the name"),
            kernel: self.kernel,
            threads: self.threads,
            fpga_device: self.fpga_device.clone(),
            udmabuf: self.udmabuf.clone(),
        }
    }

    pub fn backend(&self) -> anyhow::Result<Backend> {
        self.options().open()
    }
}
