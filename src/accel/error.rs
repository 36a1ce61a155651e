//! Errors of the accelerator driver.

use std::time::Duration;

use super::regs::RegSnapshot;
use crate::kernels::KernelError;

/// Everything that can go wrong when opening or driving the accelerator. Each variant names
/// what failed (device node, register, layer) so that the runtime can log it and fall back to
/// the CPU kernel for that layer.
#[derive(Debug, thiserror::Error)]
pub enum AccelError {
    /// A device node or sysfs file could not be opened / mapped.
    #[error("cannot open {node}: {source}. Fix: {hint}")]
    Device {
        node: String,
        #[source]
        source: std::io::Error,
        hint: String,
    },

    /// An I/O operation on an open device failed.
    #[error("{what} ({node}): {source}")]
    Io {
        what: &'static str,
        node: String,
        #[source]
        source: std::io::Error,
    },

    /// The ID register does not hold the expected magic / major version.
    #[error(
        "accelerator at {backend}: ID register (offset 0x00) reads {id:#010x}: magic {magic:#06x}, \
         version {major}.{minor}; this driver needs magic {expected_magic:#06x} version \
         {expected_major}.x. Wrong or missing bitstream, or the HPS-to-FPGA bridge is not enabled \
         (U-Boot `bridge enable`, fpga/quartus/README.md)"
    )]
    BadId {
        backend: String,
        id: u32,
        magic: u32,
        major: u32,
        minor: u32,
        expected_magic: u32,
        expected_major: u32,
    },

    /// The layer cannot run on this accelerator (checked against CAPS before START).
    #[error("layer `{layer}`: not supported by the accelerator: {field} = {value}: {reason}")]
    Geometry {
        layer: String,
        field: &'static str,
        value: u64,
        reason: String,
    },

    /// Input, weights and thresholds do not fit together.
    #[error("layer `{layer}`: inconsistent operands: {source}")]
    Operands {
        layer: String,
        #[source]
        source: KernelError,
    },

    /// The DMA buffer is too small for the layer, or an access is out of its range.
    #[error("layer `{layer}`: DMA buffer {buffer}: {reason}")]
    DmaSpace {
        layer: String,
        buffer: String,
        reason: String,
    },

    /// STATUS.BUSY was set before START (another job is running or the core is stuck).
    /// The driver issued a soft reset; START was not written.
    #[error(
        "layer `{layer}`: accelerator busy before START (START not written; soft reset {reset}); {regs}"
    )]
    Busy {
        layer: String,
        regs: RegSnapshot,
        reset: ResetOutcome,
    },

    /// DONE did not come within the timeout. The core was soft-reset.
    #[error(
        "layer `{layer}`: no DONE after {timeout:?} ({clock}); core soft reset {reset}; {regs}"
    )]
    Timeout {
        layer: String,
        timeout: Duration,
        clock: &'static str,
        regs: RegSnapshot,
        reset: ResetOutcome,
    },

    /// The job ended with error bits in STATUS. The core was soft-reset.
    #[error("layer `{layer}`: accelerator reported {errors} (ERR_ADDR={err_addr:#010x}); core soft reset {reset}; {regs}")]
    Hardware {
        layer: String,
        /// The error bit names, e.g. `"ERR_BUS"`.
        errors: String,
        err_addr: u32,
        regs: RegSnapshot,
        reset: ResetOutcome,
    },

    /// The output read back from the DMA buffer violates the packed format (e.g. bits set in
    /// the channel tail) — a hardware or cache-coherency fault.
    #[error("layer `{layer}`: bad output from the accelerator: {source}")]
    BadOutput {
        layer: String,
        #[source]
        source: KernelError,
    },
}

/// What happened to the soft reset issued after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetOutcome {
    /// BUSY cleared after SOFT_RESET.
    Done,
    /// BUSY was still set when the reset wait timed out (the core needs a hardware reset /
    /// bitstream reload).
    StillBusy,
}

impl std::fmt::Display for ResetOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResetOutcome::Done => "done",
            ResetOutcome::StillBusy => "FAILED (still BUSY)",
        })
    }
}

impl AccelError {
    /// Builds [`AccelError::Device`] for `node` from an I/O error, with a fix hint for the
    /// common cases (missing node, permission denied).
    pub fn device(node: impl Into<String>, source: std::io::Error, missing_hint: &str) -> Self {
        let node = node.into();
        let hint = match source.kind() {
            std::io::ErrorKind::NotFound => missing_hint.to_string(),
            std::io::ErrorKind::PermissionDenied => format!(
                "run as root, or give your user access to {node} with a udev rule (see \
                 fpga/README.md, \"Rust driver\")"
            ),
            _ => format!("check that {node} is the right device ({missing_hint})"),
        };
        AccelError::Device { node, source, hint }
    }

    /// The layer name, for errors that belong to a layer.
    pub fn layer(&self) -> Option<&str> {
        match self {
            AccelError::Geometry { layer, .. }
            | AccelError::Operands { layer, .. }
            | AccelError::DmaSpace { layer, .. }
            | AccelError::Busy { layer, .. }
            | AccelError::Timeout { layer, .. }
            | AccelError::Hardware { layer, .. }
            | AccelError::BadOutput { layer, .. } => Some(layer),
            _ => None,
        }
    }

    /// Whether the error is specific to one layer's shape (the accelerator itself is fine and
    /// other layers may still run on it), as opposed to a device fault.
    pub fn is_layer_unsupported(&self) -> bool {
        matches!(
            self,
            AccelError::Geometry { .. } | AccelError::Operands { .. } | AccelError::DmaSpace { .. }
        )
    }
}
