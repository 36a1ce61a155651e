//! The accelerator driver: the same code for the board (`/dev/mem`, UIO) and the simulators
//! (software model, Verilator), generic over [`RegisterAccess`].
//!
//! Protocol of one job (fpga/REGMAP.md): validate the layer against CAPS (no register is
//! written for a layer that cannot run) → copy input / weights / thresholds into the DMA
//! buffer, `sync_for_device` → check STATUS.BUSY is clear, clear stale DONE/ERR_* bits →
//! program IN/W/THR/OUT_ADDR, DIM, CHAN, CONV → `CTRL = START [| IRQ_EN]` → wait for DONE
//! (interrupt or polling, always with a timeout) → on an error bit or a timeout: capture the
//! registers, soft-reset the core, return an error naming the layer → otherwise read the
//! counters, clear DONE, `sync_for_cpu`, read the output back.

use std::time::{Duration, Instant};

use super::dma::{DmaBuffer, SimSdram};
use super::error::{AccelError, ResetOutcome};
use super::regmap::{self, caps, chan, conv, ctrl, dim, status};
use super::regs::{RegSnapshot, RegisterAccess};
use super::soft_core::{ModelOptions, SoftModel};
use crate::kernels::{
    check_geometry, PackedActivations, PackedWeights, QConvOutput, Thresholds, GROUP_CHANNELS,
};

/// Driver settings.
#[derive(Debug, Clone, Copy)]
pub struct DriverConfig {
    /// Longest wait for DONE of one job. Measured in device time on simulators
    /// ([`RegisterAccess::device_time`]), in wall time on hardware. The slowest layer of the
    /// default model takes ~2.6 ms at 100 MHz.
    pub timeout: Duration,
    /// Longest wait for BUSY to clear after a SOFT_RESET.
    pub reset_timeout: Duration,
    /// Pause between two STATUS polls when not waiting on the interrupt.
    pub poll_interval: Duration,
    /// Wait on the interrupt when the backend has one (UIO, simulators); otherwise poll.
    pub use_irq: bool,
    /// Value written to the TIMEOUT register (the core's bus watchdog, cycles; 0 = off).
    pub bus_watchdog_cycles: u32,
    /// Accelerator clock, for [`LayerStats`] (100 MHz on the DE10-Nano design).
    pub clock_hz: f64,
    /// Absolute wall-clock bound on any single wait, also in simulation (a guard against a
    /// simulator whose clock does not advance).
    pub wall_limit: Duration,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(500),
            reset_timeout: Duration::from_millis(50),
            poll_interval: Duration::from_micros(10),
            use_irq: true,
            bus_watchdog_cycles: regmap::timeout::RESET,
            clock_hz: 100e6,
            wall_limit: Duration::from_secs(600),
        }
    }
}

/// The accelerator's synthesis-time capabilities (CAPS register).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Output channels per pass (32).
    pub out_lanes: u32,
    /// Activation buffer depth, 64-bit words (one pixel × one 32-channel group).
    pub act_words: u64,
    /// Weight buffer depth per output lane, 32-bit words.
    pub weight_words: u64,
    /// SDRAM bus width in bytes.
    pub bus_bytes: u32,
}

impl Caps {
    pub fn decode(v: u32) -> Self {
        let v = caps::Caps::from_bits(v);
        Self {
            out_lanes: v.out_lanes(),
            act_words: 1u64 << v.act_depth_log2(),
            weight_words: 1u64 << v.w_depth_log2(),
            bus_bytes: v.bus_bytes(),
        }
    }

    /// MACs (binary weight × 2-bit activation) the array does per cycle.
    pub fn macs_per_cycle(&self) -> u64 {
        u64::from(self.out_lanes) * GROUP_CHANNELS as u64
    }
}

/// ID and CAPS read at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceInfo {
    pub id: u32,
    pub version_major: u32,
    pub version_minor: u32,
    pub caps: Caps,
}

/// Counters of one job (from the accelerator's CYCLES / PERF_* registers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerStats {
    /// Clock cycles from START to DONE.
    pub cycles: u64,
    /// Cycles the MAC array was issued work.
    pub mac_cycles: u64,
    /// Cycles spent loading from SDRAM.
    pub load_cycles: u64,
    /// Cycles stalled by output back-pressure.
    pub stall_cycles: u64,
    /// MACs of the layer: `H·W·K²·C_in·C_out`.
    pub macs: u64,
    /// The array's peak MACs per cycle (CAPS.OUT_LANES × 32).
    pub peak_macs_per_cycle: u64,
    /// Accelerator clock (from [`DriverConfig::clock_hz`]).
    pub clock_hz: f64,
    /// Host wall time of the whole call (copies, cache maintenance, waiting).
    pub wall: Duration,
}

impl LayerStats {
    /// Device time of the job at the configured clock, in milliseconds.
    pub fn device_ms(&self) -> f64 {
        self.cycles as f64 / self.clock_hz * 1e3
    }
    /// Fraction of the MAC array's peak used over the whole job.
    pub fn mac_utilisation(&self) -> f64 {
        if self.cycles == 0 {
            0.0
        } else {
            self.macs as f64 / (self.cycles as f64 * self.peak_macs_per_cycle as f64)
        }
    }
}

/// Where a job's operands were placed (physical addresses and byte sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JobLayout {
    pub in_addr: u64,
    pub in_bytes: usize,
    pub w_addr: u64,
    pub w_bytes: usize,
    pub thr_addr: u64,
    pub thr_bytes: usize,
    pub out_addr: u64,
    pub out_bytes: usize,
    /// Bytes of the DMA buffer used (from its start).
    pub total: usize,
}

const ALIGN: usize = 64; // cache line; the core needs 8

fn align_up(v: usize) -> usize {
    v.div_ceil(ALIGN) * ALIGN
}

/// The STATUS register.
fn read_status(regs: &mut impl RegisterAccess) -> status::Status {
    status::Status::from_bits(regs.read(status::OFFSET))
}

/// Gives a DMA error the layer's name (the buffer does not know it).
fn naming(layer: &str) -> impl Fn(AccelError) -> AccelError + '_ {
    move |e| match e {
        AccelError::DmaSpace { buffer, reason, .. } => AccelError::DmaSpace {
            layer: layer.to_string(),
            buffer,
            reason,
        },
        e => e,
    }
}

/// A job's counters (CYCLES and PERF_*), read right after DONE.
struct JobCounters {
    cycles: u64,
    mac_cycles: u64,
    load_cycles: u64,
    stall_cycles: u64,
}

/// Clock for timeouts: device time when the backend has one, otherwise wall time.
struct Deadline {
    device_start: Option<Duration>,
    wall_start: Instant,
    limit: Duration,
    wall_limit: Duration,
}

impl Deadline {
    fn new(regs: &mut impl RegisterAccess, limit: Duration, wall_limit: Duration) -> Self {
        Self {
            device_start: regs.device_time(),
            wall_start: Instant::now(),
            limit,
            wall_limit,
        }
    }
    fn clock_name(&self) -> &'static str {
        if self.device_start.is_some() {
            "device time"
        } else {
            "wall time"
        }
    }
    /// Time left, `None` once expired.
    fn remaining(&self, regs: &mut impl RegisterAccess) -> Option<Duration> {
        let wall = self.wall_start.elapsed();
        if wall >= self.wall_limit {
            return None;
        }
        let elapsed = match (self.device_start, regs.device_time()) {
            (Some(s), Some(now)) => now.saturating_sub(s),
            _ => wall,
        };
        self.limit.checked_sub(elapsed).filter(|d| !d.is_zero())
    }
}

/// The driver. `R` is the register backend; the same code serves all of them.
///
/// `conv` takes `&mut self`: share one accelerator between threads behind a `Mutex`.
pub struct Accelerator<R: RegisterAccess> {
    regs: R,
    dma: Box<dyn DmaBuffer>,
    info: DeviceInfo,
    config: DriverConfig,
    last_layout: Option<JobLayout>,
}

/// An accelerator with a type-erased backend (what the runtime holds).
pub type DynAccelerator = Accelerator<Box<dyn RegisterAccess + Send>>;

impl<R: RegisterAccess> Accelerator<R> {
    /// Opens the accelerator behind `regs`, using `dma` for all operands: checks the ID
    /// register (magic and major version), reads CAPS, tests the bus with SCRATCH, resets a
    /// busy core and programs the bus watchdog.
    pub fn new(
        mut regs: R,
        dma: Box<dyn DmaBuffer>,
        config: DriverConfig,
    ) -> Result<Self, AccelError> {
        let id = regmap::id::Id::from_bits(regs.read(regmap::id::OFFSET));
        let (magic, major, minor) = (id.magic(), id.version_major(), id.version_minor());
        if magic != regmap::MAGIC || major != regmap::VERSION_MAJOR {
            return Err(AccelError::BadId {
                backend: regs.describe(),
                id: id.bits(),
                magic,
                major,
                minor,
                expected_magic: regmap::MAGIC,
                expected_major: regmap::VERSION_MAJOR,
            });
        }
        for pattern in [0xA5A5_5A5Au32, 0x5A5A_A5A5] {
            regs.write(regmap::scratch::OFFSET, pattern);
            let back = regs.read(regmap::scratch::OFFSET);
            if back != pattern {
                return Err(AccelError::Io {
                    what: "bus test failed: SCRATCH register (offset 0x40) does not read back \
                           what was written",
                    node: format!(
                        "{}: wrote {pattern:#010x}, read {back:#010x}",
                        regs.describe()
                    ),
                    source: std::io::Error::from(std::io::ErrorKind::InvalidData),
                });
            }
        }
        let caps = Caps::decode(regs.read(caps::OFFSET));
        let mut acc = Self {
            regs,
            dma,
            info: DeviceInfo {
                id: id.bits(),
                version_major: major,
                version_minor: minor,
                caps,
            },
            config,
            last_layout: None,
        };
        if read_status(&mut acc.regs).busy() {
            // a previous process died mid-job: best effort, `conv` checks BUSY again
            let _ = acc.soft_reset();
        }
        acc.regs
            .write(regmap::timeout::OFFSET, config.bus_watchdog_cycles);
        acc.regs
            .write(status::OFFSET, status::DONE | status::ERR_ALL);
        Ok(acc)
    }

    pub fn info(&self) -> DeviceInfo {
        self.info
    }
    pub fn config(&self) -> &DriverConfig {
        &self.config
    }
    /// Change timeouts etc. (TIMEOUT register is rewritten on the next job).
    pub fn config_mut(&mut self) -> &mut DriverConfig {
        &mut self.config
    }
    /// The register backend (simulators expose fault injection and statistics there).
    pub fn regs(&self) -> &R {
        &self.regs
    }
    pub fn regs_mut(&mut self) -> &mut R {
        &mut self.regs
    }
    /// The DMA buffer.
    pub fn dma(&self) -> &dyn DmaBuffer {
        self.dma.as_ref()
    }
    /// Operand placement of the last job that got as far as staging.
    pub fn last_layout(&self) -> Option<JobLayout> {
        self.last_layout
    }
    /// Backend description, e.g. `"/dev/uio0"`.
    pub fn describe(&self) -> String {
        format!("{} + {}", self.regs.describe(), self.dma.describe())
    }

    /// Checks that a layer of this shape can run (CAPS limits, register field widths); the
    /// runtime can call it when it builds the graph to decide which layers to offload.
    /// `field` of the error names the register field at fault.
    pub fn supports(
        &self,
        layer: &str,
        height: usize,
        width: usize,
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
    ) -> Result<(), AccelError> {
        let err = |field: &'static str, value: usize, reason: String| {
            Err(AccelError::Geometry {
                layer: layer.to_string(),
                field,
                value: value as u64,
                reason,
            })
        };
        let c = self.info.caps;
        let g = in_channels.div_ceil(GROUP_CHANNELS);
        if kernel != 1 && kernel != 3 {
            return err(
                "KSIZE",
                kernel,
                "only 1×1 and 3×3 kernels (stride 1, SAME)".into(),
            );
        }
        for (field, v) in [
            ("HEIGHT", height),
            ("WIDTH", width),
            ("IN_GROUPS", g),
            ("OUT_CH", out_channels),
        ] {
            if v == 0 {
                return err(field, v, "must be at least 1".into());
            }
            if v > 0xFFFF {
                return err(field, v, "exceeds the 16-bit register field".into());
            }
        }
        let kk = (kernel * kernel) as u64;
        if kk * g as u64 > c.weight_words {
            let max_c_in = c.weight_words / kk * GROUP_CHANNELS as u64;
            return err(
                "IN_GROUPS",
                g,
                format!(
                    "K²·G = {kk}·{g} = {} weight words per output channel exceed the weight buffer \
                     (CAPS.W_DEPTH_LOG2: {} words), i.e. C_in = {in_channels} > {max_c_in} for a \
                     {kernel}×{kernel} kernel",
                    kk * g as u64,
                    c.weight_words
                ),
            );
        }
        let rows = kernel.min(height) as u64;
        if rows * (width * g) as u64 > c.act_words {
            return err(
                "WIDTH",
                width,
                format!(
                    "min(K,H)·W·G = {rows}·{width}·{g} = {} activation words exceed the activation \
                     buffer (CAPS.ACT_DEPTH_LOG2: {} words); the core needs {rows} full rows on chip",
                    rows * (width * g) as u64,
                    c.act_words
                ),
            );
        }
        // 18-bit signed accumulators in the RTL: |acc| <= 3·K²·32·G must stay below 2^17
        if 3 * kk * (GROUP_CHANNELS * g) as u64 >= 1 << 17 {
            return err(
                "IN_GROUPS",
                g,
                "accumulator range 3·K²·32·G exceeds the core's 18-bit accumulators".into(),
            );
        }
        Ok(())
    }

    /// Plans the placement of a job's operands in the DMA buffer (nothing is written).
    fn plan(
        &self,
        layer: &str,
        input: &PackedActivations,
        weights: &PackedWeights,
        thresholds: Option<&Thresholds>,
    ) -> Result<JobLayout, AccelError> {
        let in_bytes = input.words().len() * 4;
        let w_bytes = weights.words().len() * 4;
        let thr_bytes = thresholds.map_or(0, |t| t.words().len() * 4);
        let out_bytes = match thresholds {
            Some(_) => input.height() * input.width() * weights.out_channels().div_ceil(32) * 8,
            None => input.height() * input.width() * weights.out_channels() * 4,
        };
        let w_off = align_up(in_bytes);
        let thr_off = align_up(w_off + w_bytes);
        let out_off = align_up(thr_off + thr_bytes);
        let total = align_up(out_off + out_bytes);
        let base = self.dma.phys_addr();
        if total > self.dma.len() {
            return Err(AccelError::DmaSpace {
                layer: layer.to_string(),
                buffer: self.dma.describe(),
                reason: format!(
                    "the layer needs {total} bytes (input {in_bytes}, weights {w_bytes}, \
                     thresholds {thr_bytes}, output {out_bytes}) but the buffer has {}; \
                     allocate a larger u-dma-buf",
                    self.dma.len()
                ),
            });
        }
        if !base.is_multiple_of(8) || base + total as u64 > 1 << 32 {
            return Err(AccelError::DmaSpace {
                layer: layer.to_string(),
                buffer: self.dma.describe(),
                reason: format!(
                    "physical range [{base:#x}, +{total:#x}) must be 8-byte aligned and below \
                     4 GiB (32-bit address registers)"
                ),
            });
        }
        Ok(JobLayout {
            in_addr: base,
            in_bytes,
            w_addr: base + w_off as u64,
            w_bytes,
            thr_addr: base + thr_off as u64,
            thr_bytes,
            out_addr: base + out_off as u64,
            out_bytes,
            total,
        })
    }

    /// Runs one convolution (stride 1, SAME padding) on the accelerator.
    ///
    /// With `thresholds` the result is [`QConvOutput::Packed`] (the next layer's packed
    /// input), without it [`QConvOutput::Accumulators`] (raw `i32`, index
    /// `(y·W + x)·C_out + o`). Bit-exact with [`crate::kernels::reference`]. `layer` names the
    /// layer in errors. On any error the core is left idle (soft-reset if needed) and the
    /// caller can compute the layer on the CPU instead.
    pub fn conv(
        &mut self,
        layer: &str,
        input: &PackedActivations,
        weights: &PackedWeights,
        thresholds: Option<&Thresholds>,
    ) -> Result<(QConvOutput, LayerStats), AccelError> {
        let wall = Instant::now();
        self.validate(layer, input, weights, thresholds)?;
        let lay = self.plan(layer, input, weights, thresholds)?;
        self.last_layout = Some(lay);
        self.stage(layer, &lay, input, weights, thresholds)?;
        self.ensure_idle(layer)?;
        self.program(&lay, input, weights, thresholds.is_some());
        let mut irq = self.start();
        self.wait_done(layer, &mut irq)?;
        let counters = self.finish(irq);
        let output = self.read_back(layer, &lay, input, weights, thresholds.is_some())?;
        let (h, w, c_in) = (input.height(), input.width(), input.channels());
        let (c_out, k) = (weights.out_channels(), weights.kernel());
        let stats = LayerStats {
            cycles: counters.cycles,
            mac_cycles: counters.mac_cycles,
            load_cycles: counters.load_cycles,
            stall_cycles: counters.stall_cycles,
            macs: (h * w * k * k * c_in * c_out) as u64,
            peak_macs_per_cycle: self.info.caps.macs_per_cycle(),
            clock_hz: self.config.clock_hz,
            wall: wall.elapsed(),
        };
        Ok((output, stats))
    }

    /// Checks that the operands agree with each other and that the layer fits the core
    /// (nothing is written for a layer that cannot run).
    fn validate(
        &self,
        layer: &str,
        input: &PackedActivations,
        weights: &PackedWeights,
        thresholds: Option<&Thresholds>,
    ) -> Result<(), AccelError> {
        check_geometry(input, weights, thresholds).map_err(|source| AccelError::Operands {
            layer: layer.to_string(),
            source,
        })?;
        let (h, w, c_in) = (input.height(), input.width(), input.channels());
        let (c_out, k) = (weights.out_channels(), weights.kernel());
        self.supports(layer, h, w, c_in, c_out, k)
    }

    /// Byte offset in the DMA buffer of physical address `phys` (one of a [`JobLayout`]'s).
    fn dma_offset(&self, phys: u64) -> usize {
        (phys - self.dma.phys_addr()) as usize
    }

    /// Copies the operands into the DMA buffer at `lay` and hands the whole job's
    /// range to the device.
    fn stage(
        &mut self,
        layer: &str,
        lay: &JobLayout,
        input: &PackedActivations,
        weights: &PackedWeights,
        thresholds: Option<&Thresholds>,
    ) -> Result<(), AccelError> {
        let in_bytes: Vec<u8> = input.words().iter().flat_map(|v| v.to_le_bytes()).collect();
        let w_bytes: Vec<u8> = weights
            .words()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let (in_off, w_off) = (self.dma_offset(lay.in_addr), self.dma_offset(lay.w_addr));
        self.dma
            .write_at(in_off, &in_bytes)
            .map_err(naming(layer))?;
        self.dma.write_at(w_off, &w_bytes).map_err(naming(layer))?;
        if let Some(t) = thresholds {
            let t_bytes: Vec<u8> = t.words().iter().flat_map(|v| v.to_le_bytes()).collect();
            let thr_off = self.dma_offset(lay.thr_addr);
            self.dma
                .write_at(thr_off, &t_bytes)
                .map_err(naming(layer))?;
        }
        // the output too: no dirty line may be evicted over the core's writes
        self.dma
            .sync_for_device(0, lay.total)
            .map_err(naming(layer))
    }

    /// Refuses the layer if the core is busy (someone else's job, a stuck core), after
    /// capturing its registers and soft-resetting it.
    fn ensure_idle(&mut self, layer: &str) -> Result<(), AccelError> {
        if !read_status(&mut self.regs).busy() {
            return Ok(());
        }
        let (regs, reset) = self.capture_and_reset();
        Err(AccelError::Busy {
            layer: layer.to_string(),
            regs,
            reset,
        })
    }

    /// Clears stale DONE / ERR_* bits and programs the job's configuration registers
    /// (addresses, DIM, CHAN, CONV) and the bus watchdog.
    fn program(
        &mut self,
        lay: &JobLayout,
        input: &PackedActivations,
        weights: &PackedWeights,
        thr_en: bool,
    ) {
        let (h, w, c_in) = (input.height(), input.width(), input.channels());
        let (c_out, k) = (weights.out_channels(), weights.kernel());
        // `supports` has bounded every value to its field, so the setters drop no bits
        let dim = dim::Dim::default()
            .with_height(h as u32)
            .with_width(w as u32);
        let chan = chan::Chan::default()
            .with_out_ch(c_out as u32)
            .with_in_groups(c_in.div_ceil(GROUP_CHANNELS) as u32);
        let conv = conv::Conv::default()
            .with_ksize(k as u32)
            .with_pad((k / 2) as u32)
            .with_thr_en(thr_en);
        let r = &mut self.regs;
        r.write(status::OFFSET, status::DONE | status::ERR_ALL);
        r.write(regmap::in_addr::OFFSET, lay.in_addr as u32);
        r.write(regmap::w_addr::OFFSET, lay.w_addr as u32);
        r.write(regmap::thr_addr::OFFSET, lay.thr_addr as u32);
        r.write(regmap::out_addr::OFFSET, lay.out_addr as u32);
        r.write(dim::OFFSET, dim.bits());
        r.write(chan::OFFSET, chan.bits());
        r.write(conv::OFFSET, conv.bits());
        r.write(regmap::timeout::OFFSET, self.config.bus_watchdog_cycles);
    }

    /// Arms the interrupt if it is to be used and writes START. Returns whether the
    /// job is waited for by interrupt.
    fn start(&mut self) -> bool {
        let r = &mut self.regs;
        let irq = self.config.use_irq && r.supports_irq() && r.arm_irq().is_ok();
        let ctrl = ctrl::Ctrl::default().with_start(true).with_irq_en(irq);
        r.write(ctrl::OFFSET, ctrl.bits());
        irq
    }

    /// Waits (bounded) for DONE, by interrupt while `irq` holds (cleared when the
    /// interrupt wait fails and polling takes over). A timeout or an error bit becomes an
    /// error naming the layer, with the core soft-reset.
    fn wait_done(&mut self, layer: &str, irq: &mut bool) -> Result<(), AccelError> {
        let r = &mut self.regs;
        let deadline = Deadline::new(r, self.config.timeout, self.config.wall_limit);
        let st = loop {
            let s = read_status(r);
            if s.done() && !s.busy() {
                break Some(s);
            }
            let Some(left) = deadline.remaining(r) else {
                break None;
            };
            if *irq {
                if r.wait_irq(left).is_err() {
                    *irq = false;
                }
            } else {
                r.pause(self.config.poll_interval.min(left));
            }
        };
        let Some(st) = st else {
            let (regs, reset) = self.capture_and_reset();
            return Err(AccelError::Timeout {
                layer: layer.to_string(),
                timeout: self.config.timeout,
                clock: deadline.clock_name(),
                regs,
                reset,
            });
        };
        if st.err_all() != 0 {
            let (regs, reset) = self.capture_and_reset();
            return Err(AccelError::Hardware {
                layer: layer.to_string(),
                errors: super::regs::status_bits(st.err_all()),
                err_addr: regs.err_addr,
                regs,
                reset,
            });
        }
        Ok(())
    }

    /// Reads the job's counters, clears DONE (which also drops the interrupt line)
    /// and, if the job used the interrupt, IRQ_EN.
    fn finish(&mut self, irq: bool) -> JobCounters {
        let r = &mut self.regs;
        let counters = JobCounters {
            cycles: u64::from(r.read(regmap::cycles::OFFSET)),
            mac_cycles: u64::from(r.read(regmap::perf_mac::OFFSET)),
            load_cycles: u64::from(r.read(regmap::perf_load::OFFSET)),
            stall_cycles: u64::from(r.read(regmap::perf_stall::OFFSET)),
        };
        r.write(status::OFFSET, status::DONE);
        if irq {
            r.write(ctrl::OFFSET, 0);
        }
        counters
    }

    /// Hands the output range back to the CPU and decodes it: the packed tensor
    /// (`packed`, the job had thresholds) or the raw accumulators.
    fn read_back(
        &mut self,
        layer: &str,
        lay: &JobLayout,
        input: &PackedActivations,
        weights: &PackedWeights,
        packed: bool,
    ) -> Result<QConvOutput, AccelError> {
        let out_off = self.dma_offset(lay.out_addr);
        self.dma
            .sync_for_cpu(out_off, lay.out_bytes)
            .map_err(naming(layer))?;
        let mut out = vec![0u8; lay.out_bytes];
        self.dma.read_at(out_off, &mut out).map_err(naming(layer))?;
        if !packed {
            return Ok(QConvOutput::Accumulators(
                out.chunks_exact(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ));
        }
        // the packed layout of C_out channels, read in whole 64-bit beats
        let words: Vec<u32> = out
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let (h, w, c_out) = (input.height(), input.width(), weights.out_channels());
        PackedActivations::from_words(h, w, c_out, words)
            .map(QConvOutput::Packed)
            .map_err(|source| AccelError::BadOutput {
                layer: layer.to_string(),
                source,
            })
    }

    /// Captures the registers that explain a failure, then soft-resets the core (in that
    /// order: the reset clears the error bits).
    fn capture_and_reset(&mut self) -> (RegSnapshot, ResetOutcome) {
        let regs = RegSnapshot::capture(&mut self.regs);
        (regs, self.soft_reset())
    }

    /// [`conv`](Self::conv) with thresholds: the packed output.
    pub fn conv_threshold(
        &mut self,
        layer: &str,
        input: &PackedActivations,
        weights: &PackedWeights,
        thresholds: &Thresholds,
    ) -> Result<(PackedActivations, LayerStats), AccelError> {
        match self.conv(layer, input, weights, Some(thresholds))? {
            (QConvOutput::Packed(p), s) => Ok((p, s)),
            (QConvOutput::Accumulators(_), _) => unreachable!("thresholds given"),
        }
    }

    /// Aborts whatever the core does (CTRL.SOFT_RESET), waits (bounded) for BUSY to clear and
    /// clears DONE / error bits.
    pub fn soft_reset(&mut self) -> ResetOutcome {
        let r = &mut self.regs;
        r.write(ctrl::OFFSET, ctrl::SOFT_RESET);
        let deadline = Deadline::new(r, self.config.reset_timeout, self.config.wall_limit);
        let outcome = loop {
            if !read_status(r).busy() {
                break ResetOutcome::Done;
            }
            match deadline.remaining(r) {
                Some(left) => r.pause(self.config.poll_interval.min(left)),
                None => break ResetOutcome::StillBusy,
            }
        };
        r.write(status::OFFSET, status::DONE | status::ERR_ALL);
        outcome
    }
}

impl<R: RegisterAccess + Send + 'static> Accelerator<R> {
    /// Type-erases the backend.
    pub fn into_dyn(self) -> DynAccelerator {
        Accelerator {
            regs: Box::new(self.regs),
            dma: self.dma,
            info: self.info,
            config: self.config,
            last_layout: self.last_layout,
        }
    }
}

/// Options of the simulator backends.
#[derive(Debug, Clone, Copy)]
pub struct SimOptions {
    /// Simulated SDRAM size in bytes (all of it is the DMA buffer).
    pub sdram_bytes: usize,
    /// Physical address of the SDRAM's first byte (non-zero so that the driver's use of
    /// physical addresses is exercised).
    pub phys_base: u64,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            sdram_bytes: 4 << 20,
            phys_base: 0x3000_0000,
        }
    }
}

impl Accelerator<SoftModel> {
    /// The driver over the pure-Rust software model.
    pub fn open_model(
        sim: SimOptions,
        model: ModelOptions,
        config: DriverConfig,
    ) -> Result<Self, AccelError> {
        let sdram = SimSdram::new(sim.sdram_bytes, sim.phys_base);
        let dma = Box::new(sdram.region(0, sim.sdram_bytes)?);
        Self::new(SoftModel::new(sdram, model), dma, config)
    }
}

#[cfg(feature = "verilator")]
impl Accelerator<super::verilator::VerilatorSim> {
    /// The driver over the Verilator co-simulation of the RTL (feature `verilator`).
    pub fn open_verilator(sim: SimOptions, config: DriverConfig) -> Result<Self, AccelError> {
        let sdram = SimSdram::new(sim.sdram_bytes, sim.phys_base);
        let dma = Box::new(sdram.region(0, sim.sdram_bytes)?);
        let v = super::verilator::VerilatorSim::new(sdram, config.clock_hz)?;
        Self::new(v, dma, config)
    }
}

/// Board backend selection (DE10-Nano).
#[derive(Debug, Clone)]
pub struct BoardOptions {
    /// UIO device node of the core (interrupt wait); `None`: use `/dev/mem` and poll.
    pub uio: Option<String>,
    /// Physical CSR base for `/dev/mem` (default [`regmap::CSR_BASE_PHYS`]).
    pub csr_phys: u64,
    /// u-dma-buf device name (`/dev/<name>`).
    pub udmabuf: String,
    /// CPU mapping of the DMA buffer.
    pub cache: super::dma::CacheMode,
}

impl Default for BoardOptions {
    fn default() -> Self {
        Self {
            uio: Some("/dev/uio0".into()),
            csr_phys: regmap::CSR_BASE_PHYS,
            udmabuf: "udmabuf0".into(),
            cache: super::dma::CacheMode::Uncached,
        }
    }
}

impl DynAccelerator {
    /// Opens the accelerator on the board: UIO (`opts.uio`) or `/dev/mem`, plus u-dma-buf.
    pub fn open_board(opts: &BoardOptions, config: DriverConfig) -> Result<Self, AccelError> {
        let regs: Box<dyn RegisterAccess + Send> = match &opts.uio {
            Some(path) => Box::new(super::uio::Uio::open(path)?),
            None => Box::new(super::devmem::DevMem::open(
                opts.csr_phys,
                regmap::CSR_SPAN,
            )?),
        };
        let dma = Box::new(super::dma::UdmaBuf::open(&opts.udmabuf, opts.cache)?);
        Accelerator::new(regs, dma, config)
    }
}
