//! FPGA convolution accelerator (`fpga/`, issue 5): register map, register access backends,
//! DMA buffers and the driver.
//!
//! One driver ([`Accelerator`]) over one register-access trait ([`RegisterAccess`]):
//!
//! | backend | type | interrupt | DMA buffer |
//! |---|---|---|---|
//! | `/dev/mem` (root, `O_SYNC`) | [`devmem::DevMem`] | no (polls STATUS) | [`dma::UdmaBuf`] |
//! | UIO `/dev/uioN` | [`uio::Uio`] | yes (fd read/poll) | [`dma::UdmaBuf`] |
//! | software model | [`soft_core::SoftModel`] | simulated | [`dma::SimDmaRegion`] |
//! | Verilator (feature `verilator`) | `verilator::VerilatorSim` | from the RTL | [`dma::SimDmaRegion`] |
//!
//! ```no_run
//! use lm::accel::{BoardOptions, DriverConfig, DynAccelerator};
//! # fn f(input: &lm::kernels::PackedActivations, w: &lm::kernels::PackedWeights,
//! #      t: &lm::kernels::Thresholds) -> Result<(), lm::accel::AccelError> {
//! let mut fpga = DynAccelerator::open_board(&BoardOptions::default(), DriverConfig::default())?;
//! let (out, stats) = fpga.conv("stage2.conv1", input, w, Some(t))?;
//! println!("{} cycles, {:.3} ms", stats.cycles, stats.device_ms());
//! # let _ = out; Ok(()) }
//! ```
//! Every error names the layer (or device node) and, for device faults, the register state;
//! the core is soft-reset before the error is returned, so the caller can simply compute the
//! layer on the CPU and carry on. See fpga/README.md, "Rust driver".

pub mod devmem;
pub mod dma;
mod driver;
mod error;
pub mod executor;
mod mmio;
pub mod regmap;
pub mod regs;
pub mod soft_core;
pub mod uio;
#[cfg(feature = "verilator")]
pub mod verilator;
pub mod workload;

pub use driver::{
    Accelerator, BoardOptions, Caps, DeviceInfo, DriverConfig, DynAccelerator, JobLayout,
    LayerStats, SimOptions,
};
pub use error::{AccelError, ResetOutcome};
pub use executor::{open_executor, FpgaExecutor, LayerRun};
pub use regs::{RegSnapshot, RegisterAccess, Traced, WriteLog};
pub use soft_core::{ModelFaults, ModelOptions, SoftModel};
