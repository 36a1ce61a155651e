//! Verilator co-simulation backend (feature `verilator`): the RTL of `fpga/rtl`, verilated by
//! `build.rs` and linked through the C ABI of `fpga/sim/lm_qconv_shim.h`. Its SDRAM is a
//! Rust-owned [`SimSdram`] served to the core's Avalon masters; the same driver drives it.

use std::ffi::c_void;
use std::ptr::NonNull;
use std::time::Duration;

use super::dma::SimSdram;
use super::error::AccelError;
use super::regs::RegisterAccess;

#[allow(dead_code)]
mod ffi {
    use std::ffi::{c_int, c_void};
    extern "C" {
        pub fn lmq_new(sdram: *mut u8, sdram_len: usize) -> *mut c_void;
        pub fn lmq_free(h: *mut c_void);
        pub fn lmq_read(h: *mut c_void, offset: u32) -> u32;
        pub fn lmq_write(h: *mut c_void, offset: u32, value: u32);
        pub fn lmq_step(h: *mut c_void, cycles: u64) -> u64;
        pub fn lmq_irq(h: *mut c_void) -> c_int;
        pub fn lmq_set_phys_base(h: *mut c_void, phys_base: u32);
        pub fn lmq_set_timing(h: *mut c_void, read_latency: u32, wait_permille: u32, seed: u32);
        pub fn lmq_set_fault(h: *mut c_void, kind: u32, lo: u32, hi: u32);
        pub fn lmq_reset(h: *mut c_void);
        pub fn lmq_stat(h: *mut c_void, which: u32) -> u64;
    }
}

/// SDRAM fault kinds of [`VerilatorSim::set_fault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimFault {
    /// No fault.
    None = 0,
    /// Reads in the range return SLAVEERROR (→ `ERR_BUS`).
    ErrorResponse = 1,
    /// Reads in the range are never accepted (waitrequest stuck; → `ERR_TIMEOUT` from the
    /// core's watchdog).
    StuckWaitrequest = 2,
}

/// Counters of [`VerilatorSim::stat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimStat {
    Cycles = 0,
    ReadBeats = 1,
    WriteBeats = 2,
    WritesDropped = 3,
    WaitrequestCycles = 4,
    ProtocolViolations = 5,
}

/// One simulated accelerator (a [`RegisterAccess`] backend).
pub struct VerilatorSim {
    h: NonNull<c_void>,
    sdram: SimSdram,
    clock_hz: f64,
}

// SAFETY: the handle is only used through `&mut self` (one thread at a time); the shim keeps
// no thread-local state.
unsafe impl Send for VerilatorSim {}

impl VerilatorSim {
    /// Creates the model over `sdram` (its `phys_base` becomes the bus address of byte 0).
    pub fn new(sdram: SimSdram, clock_hz: f64) -> Result<Self, AccelError> {
        let base = u32::try_from(sdram.phys_base()).map_err(|_| AccelError::Io {
            what: "simulated SDRAM must lie below 4 GiB",
            node: format!("phys_base {:#x}", sdram.phys_base()),
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        })?;
        let h = {
            let _g = sdram.lock_for_ffi();
            // SAFETY: the pointer/length describe the SDRAM allocation, which `self.sdram`
            // keeps alive for as long as the handle exists.
            unsafe { ffi::lmq_new(sdram.raw_ptr(), sdram.len()) }
        };
        let h = NonNull::new(h).ok_or_else(|| AccelError::Io {
            what: "lmq_new failed (out of memory)",
            node: "verilator".into(),
            source: std::io::Error::from(std::io::ErrorKind::OutOfMemory),
        })?;
        let s = Self { h, sdram, clock_hz };
        // SAFETY: valid handle.
        unsafe { ffi::lmq_set_phys_base(s.h.as_ptr(), base) };
        Ok(s)
    }

    fn call<T>(&mut self, f: impl FnOnce(*mut c_void) -> T) -> T {
        let _g = self.sdram.lock_for_ffi();
        f(self.h.as_ptr())
    }

    /// Advances the clock by `cycles`; returns the cycles simulated since creation.
    pub fn step(&mut self, cycles: u64) -> u64 {
        // SAFETY: valid handle; the SDRAM lock is held during the call.
        self.call(|h| unsafe { ffi::lmq_step(h, cycles) })
    }

    /// Cycles simulated since creation.
    pub fn cycles(&mut self) -> u64 {
        self.step(0)
    }

    /// Interrupt output level.
    pub fn irq(&mut self) -> bool {
        // SAFETY: valid handle.
        self.call(|h| unsafe { ffi::lmq_irq(h) }) != 0
    }

    /// SDRAM timing: read latency (cycles), waitrequest probability (‰), seed.
    pub fn set_timing(&mut self, read_latency: u32, wait_permille: u32, seed: u32) {
        // SAFETY: valid handle.
        self.call(|h| unsafe { ffi::lmq_set_timing(h, read_latency, wait_permille, seed) })
    }

    /// Injects `fault` on bus addresses `[lo, hi)`.
    pub fn set_fault(&mut self, fault: SimFault, lo: u32, hi: u32) {
        // SAFETY: valid handle.
        self.call(|h| unsafe { ffi::lmq_set_fault(h, fault as u32, lo, hi) })
    }

    /// Pulses the hardware reset input.
    pub fn hard_reset(&mut self) {
        // SAFETY: valid handle.
        self.call(|h| unsafe { ffi::lmq_reset(h) })
    }

    /// A simulator counter.
    pub fn stat(&mut self, which: SimStat) -> u64 {
        // SAFETY: valid handle.
        self.call(|h| unsafe { ffi::lmq_stat(h, which as u32) })
    }

    /// The simulated SDRAM.
    pub fn sdram(&self) -> &SimSdram {
        &self.sdram
    }

    fn cycles_for(&self, d: Duration) -> u64 {
        (d.as_secs_f64() * self.clock_hz).ceil().max(1.0) as u64
    }
}

impl Drop for VerilatorSim {
    fn drop(&mut self) {
        // SAFETY: valid handle, freed once.
        self.call(|h| unsafe { ffi::lmq_free(h) })
    }
}

impl RegisterAccess for VerilatorSim {
    fn read(&mut self, offset: u32) -> u32 {
        // SAFETY: valid handle; the SDRAM lock is held during the call.
        self.call(|h| unsafe { ffi::lmq_read(h, offset) })
    }
    fn write(&mut self, offset: u32, value: u32) {
        // SAFETY: as above.
        self.call(|h| unsafe { ffi::lmq_write(h, offset, value) })
    }
    fn describe(&self) -> String {
        "Verilator co-simulation".into()
    }
    fn supports_irq(&self) -> bool {
        true
    }
    fn wait_irq(&mut self, timeout: Duration) -> std::io::Result<bool> {
        let end = self.cycles() + self.cycles_for(timeout);
        loop {
            if self.irq() {
                return Ok(true);
            }
            let now = self.cycles();
            if now >= end {
                return Ok(false);
            }
            self.step((end - now).min(256));
        }
    }
    fn pause(&mut self, interval: Duration) {
        let n = self.cycles_for(interval);
        self.step(n);
    }
    fn device_time(&mut self) -> Option<Duration> {
        let c = self.cycles();
        Some(Duration::from_secs_f64(c as f64 / self.clock_hz))
    }
}
