//! The one register-access trait every backend implements (`/dev/mem`, UIO, the software
//! model and the Verilator co-simulation), plus decoding helpers for error messages.

use std::fmt;
use std::time::Duration;

use super::regmap::{self, status};

/// 32-bit access to the accelerator's CSR block (byte offsets of [`regmap`]).
///
/// The driver ([`super::Accelerator`]) is written against this trait only, so the very same
/// code runs on the board and in both simulators. Accesses are infallible at this level (a
/// memory-mapped read cannot report an error); the driver checks the ID register at open.
pub trait RegisterAccess {
    /// Reads the register at byte offset `offset`.
    fn read(&mut self, offset: u32) -> u32;

    /// Writes `value` to the register at byte offset `offset`.
    fn write(&mut self, offset: u32, value: u32);

    /// Short description for error messages, e.g. `"/dev/uio0"` or `"software model"`.
    fn describe(&self) -> String;

    /// Whether [`wait_irq`](Self::wait_irq) works on this backend.
    fn supports_irq(&self) -> bool {
        false
    }

    /// Called by the driver right before START when it is going to wait for the interrupt
    /// (UIO: re-enables the interrupt line in the kernel by writing 1 to the fd).
    fn arm_irq(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    /// Waits up to `timeout` for the accelerator's interrupt. `Ok(true)`: it fired;
    /// `Ok(false)`: timed out. Backends without an interrupt return `Unsupported`.
    fn wait_irq(&mut self, timeout: Duration) -> std::io::Result<bool> {
        let _ = timeout;
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "this register backend has no interrupt",
        ))
    }

    /// Lets about `interval` pass between two polls of STATUS. Hardware sleeps or spins;
    /// simulators advance their clock (otherwise polling would never see the job finish).
    fn pause(&mut self, interval: Duration) {
        if interval.is_zero() {
            std::hint::spin_loop();
        } else {
            std::thread::sleep(interval);
        }
    }

    /// Device time since the backend was created, for simulators (derived from their cycle
    /// count). The driver measures its timeouts in this time when it is available, so that a
    /// slow simulation never times out spuriously; hardware returns `None` (wall time is used).
    fn device_time(&mut self) -> Option<Duration> {
        None
    }
}

impl<T: RegisterAccess + ?Sized> RegisterAccess for Box<T> {
    fn read(&mut self, offset: u32) -> u32 {
        (**self).read(offset)
    }
    fn write(&mut self, offset: u32, value: u32) {
        (**self).write(offset, value)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn supports_irq(&self) -> bool {
        (**self).supports_irq()
    }
    fn arm_irq(&mut self) -> std::io::Result<()> {
        (**self).arm_irq()
    }
    fn wait_irq(&mut self, timeout: Duration) -> std::io::Result<bool> {
        (**self).wait_irq(timeout)
    }
    fn pause(&mut self, interval: Duration) {
        (**self).pause(interval)
    }
    fn device_time(&mut self) -> Option<Duration> {
        (**self).device_time()
    }
}

/// Every register write of a backend, `(offset, value)` in order, with the counts tests ask
/// about (kept by [`Traced`] and by the software model).
#[derive(Debug, Clone, Default)]
pub struct WriteLog(Vec<(u32, u32)>);

impl WriteLog {
    pub fn push(&mut self, offset: u32, value: u32) {
        self.0.push((offset, value));
    }
    /// Every write so far, `(offset, value)` in order.
    pub fn writes(&self) -> &[(u32, u32)] {
        &self.0
    }
    pub fn clear(&mut self) {
        self.0.clear();
    }
    /// Number of CTRL writes with `bits` set.
    fn ctrl_writes_with(&self, bits: u32) -> usize {
        let ctrl = regmap::ctrl::OFFSET;
        self.0
            .iter()
            .filter(|(o, v)| *o == ctrl && v & bits != 0)
            .count()
    }
    /// Number of CTRL writes with START set.
    pub fn starts(&self) -> usize {
        self.ctrl_writes_with(regmap::ctrl::START)
    }
    /// Number of CTRL writes with SOFT_RESET set.
    pub fn soft_resets(&self) -> usize {
        self.ctrl_writes_with(regmap::ctrl::SOFT_RESET)
    }
}

/// A backend wrapper that records every register write (for tests and debugging: e.g. to
/// prove that a rejected layer wrote nothing, or to log a failing job's programming).
pub struct Traced<R> {
    /// The wrapped backend.
    pub inner: R,
    log: WriteLog,
}

impl<R> Traced<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            log: WriteLog::default(),
        }
    }
    /// Every write so far, `(offset, value)` in order.
    pub fn writes(&self) -> &[(u32, u32)] {
        self.log.writes()
    }
    pub fn clear_writes(&mut self) {
        self.log.clear();
    }
    /// Number of CTRL writes with START set.
    pub fn starts(&self) -> usize {
        self.log.starts()
    }
    /// Number of CTRL writes with SOFT_RESET set.
    pub fn soft_resets(&self) -> usize {
        self.log.soft_resets()
    }
}

impl<R: RegisterAccess> RegisterAccess for Traced<R> {
    fn read(&mut self, offset: u32) -> u32 {
        self.inner.read(offset)
    }
    fn write(&mut self, offset: u32, value: u32) {
        self.log.push(offset, value);
        self.inner.write(offset, value)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn supports_irq(&self) -> bool {
        self.inner.supports_irq()
    }
    fn arm_irq(&mut self) -> std::io::Result<()> {
        self.inner.arm_irq()
    }
    fn wait_irq(&mut self, timeout: Duration) -> std::io::Result<bool> {
        self.inner.wait_irq(timeout)
    }
    fn pause(&mut self, interval: Duration) {
        self.inner.pause(interval)
    }
    fn device_time(&mut self) -> Option<Duration> {
        self.inner.device_time()
    }
}

/// Name of the register at byte offset `offset` (`"0x4c"` style for unknown offsets).
pub fn register_name(offset: u32) -> String {
    regmap::REGISTERS
        .iter()
        .find(|r| r.1 == offset)
        .map_or_else(|| format!("{offset:#04x}"), |r| r.0.to_string())
}

/// Names of the STATUS bits set in `value`, e.g. `"DONE|ERR_BUS"` (`"-"` if none).
pub fn status_bits(value: u32) -> String {
    const BITS: [(u32, &str); 8] = [
        (status::BUSY, "BUSY"),
        (status::DONE, "DONE"),
        (status::ERR_GEOM, "ERR_GEOM"),
        (status::ERR_TILE, "ERR_TILE"),
        (status::ERR_ALIGN, "ERR_ALIGN"),
        (status::ERR_BUS, "ERR_BUS"),
        (status::ERR_TIMEOUT, "ERR_TIMEOUT"),
        (status::ERR_START_BUSY, "ERR_START_BUSY"),
    ];
    let mut names: Vec<String> = BITS
        .iter()
        .filter(|(m, _)| value & m != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let known = BITS.iter().fold(0, |a, (m, _)| a | m);
    if value & !known != 0 {
        names.push(format!("reserved {:#x}", value & !known));
    }
    if names.is_empty() {
        "-".into()
    } else {
        names.join("|")
    }
}

/// Register state captured for an error report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RegSnapshot {
    pub status: u32,
    pub ctrl: u32,
    pub err_addr: u32,
    pub cycles: u32,
    pub perf_mac: u32,
    pub perf_load: u32,
    pub dim: u32,
    pub chan: u32,
    pub conv: u32,
}

impl RegSnapshot {
    /// Reads the registers that explain a failure.
    pub fn capture(regs: &mut (impl RegisterAccess + ?Sized)) -> Self {
        Self {
            status: regs.read(status::OFFSET),
            ctrl: regs.read(regmap::ctrl::OFFSET),
            err_addr: regs.read(regmap::err_addr::OFFSET),
            cycles: regs.read(regmap::cycles::OFFSET),
            perf_mac: regs.read(regmap::perf_mac::OFFSET),
            perf_load: regs.read(regmap::perf_load::OFFSET),
            dim: regs.read(regmap::dim::OFFSET),
            chan: regs.read(regmap::chan::OFFSET),
            conv: regs.read(regmap::conv::OFFSET),
        }
    }
}

impl fmt::Display for RegSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dim = regmap::dim::Dim::from_bits(self.dim);
        let chan = regmap::chan::Chan::from_bits(self.chan);
        let conv = regmap::conv::Conv::from_bits(self.conv);
        write!(
            f,
            "STATUS={:#010x} [{}] ERR_ADDR={:#010x} CYCLES={} PERF_MAC={} PERF_LOAD={} CTRL={:#x} \
             DIM={}x{} CHAN=G{}/C_out{} CONV=K{}/PAD{}/THR_EN{}",
            self.status,
            status_bits(self.status),
            self.err_addr,
            self.cycles,
            self.perf_mac,
            self.perf_load,
            self.ctrl,
            dim.height(),
            dim.width(),
            chan.in_groups(),
            chan.out_ch(),
            conv.ksize(),
            conv.pad(),
            u32::from(conv.thr_en()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_status() {
        assert_eq!(status_bits(0), "-");
        assert_eq!(status_bits(status::DONE | status::ERR_BUS), "DONE|ERR_BUS");
        assert_eq!(status_bits(1 << 20), "reserved 0x100000");
        assert_eq!(register_name(0x44), "ERR_ADDR");
        assert_eq!(register_name(0x80), "0x80");
    }

    #[test]
    fn snapshot_decodes_the_job_registers() {
        // raw values as fpga/REGMAP.md packs them (HEIGHT 480, WIDTH 640; OUT_CH 64, IN_GROUPS
        // 8; THR_EN, PAD 1, KSIZE 3), so that the getters are checked against the map
        let snap = RegSnapshot {
            dim: 0x01e0_0280,
            chan: 0x0040_0008,
            conv: 0x0000_0113,
            ..RegSnapshot::default()
        };
        let text = snap.to_string();
        assert!(
            text.ends_with("DIM=480x640 CHAN=G8/C_out64 CONV=K3/PAD1/THR_EN1"),
            "{text}"
        );
    }
}
