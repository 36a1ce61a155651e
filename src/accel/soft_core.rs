//! Pure-Rust software model of the accelerator's register protocol (fpga/REGMAP.md), over a
//! [`SimSdram`]. Fast (the arithmetic uses the CPU kernels), always part of `cargo test`, and
//! with fault injection ([`ModelFaults`]) for the driver's error paths.
//!
//! What is modelled: ID/CAPS, CTRL (START, SOFT_RESET, IRQ_EN), STATUS (BUSY, DONE W1C, every
//! ERR_* cause with the RTL's rules: geometry, tile fit and alignment checked before any bus
//! access; reads outside the SDRAM or in an injected fault range give ERR_BUS with ERR_ADDR;
//! START while busy gives ERR_START_BUSY), the packed / raw output written at OUT_ADDR (writes
//! outside the SDRAM are dropped, as the Verilator SDRAM model does), the interrupt level and
//! the counters. Time: one cycle per register access plus whatever the driver's polling
//! ([`RegisterAccess::pause`]) lets pass; a job takes an *estimate* of the RTL's cycle count
//! (same compute term, approximate loads; the RTL's `CYCLES` is the reference).
//!
//! Named `soft_core` rather than `model` to keep it apart from [`crate::model`], the network
//! loader.

use std::time::Duration;

use super::dma::SimSdram;
use super::regmap::{self, caps, chan, conv, ctrl, dim, status};
use super::regs::{RegisterAccess, WriteLog};
use crate::kernels::{
    self, KernelKind, PackedActivations, PackedWeights, QConvOutput, Thresholds, FLAG_DESCENDING,
};

/// Faults the model can inject (all off by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelFaults {
    /// Jobs never finish: BUSY stays set, DONE never comes (until SOFT_RESET).
    pub never_done: bool,
    /// Extra STATUS error bits raised when a job completes (the job then fails: no output).
    pub error_bits: u32,
    /// ERR_ADDR reported with `error_bits`.
    pub error_addr: u32,
    /// Value the ID register reads instead of the real one (wrong bitstream / version).
    pub id: Option<u32>,
    /// BUSY reads 1 although no job of ours runs (someone else's job / stuck core); cleared by
    /// SOFT_RESET unless `reset_stuck` is also set.
    pub busy: bool,
    /// SOFT_RESET does not clear BUSY (a core that needs a hardware reset).
    pub reset_stuck: bool,
    /// Reads of physical addresses in `[lo, hi)` return an error response (ERR_BUS).
    pub bus_error: Option<(u64, u64)>,
}

/// Options of [`SoftModel`].
#[derive(Debug, Clone, Copy)]
pub struct ModelOptions {
    /// CAPS value (default: the RTL's reset value).
    pub caps: u32,
    /// Clock for [`RegisterAccess::device_time`] (default 100 MHz).
    pub clock_hz: f64,
    /// Whether the model offers an interrupt (driver then waits with `wait_irq`).
    pub irq: bool,
    /// Kernel used to compute the results (any kind is bit-exact with the reference).
    pub kernel: KernelKind,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            caps: caps::RESET,
            clock_hz: 100e6,
            irq: true,
            kernel: KernelKind::best(),
        }
    }
}

struct Job {
    start: u64,
    done_at: u64,
    /// Output to write at completion: (physical address, bytes).
    output: Option<(u64, Vec<u8>)>,
    /// Error bits / address at completion (bus error found while reading the operands).
    error: Option<(u32, u32)>,
    mac_cycles: u64,
    load_cycles: u64,
}

/// The software device model (a [`RegisterAccess`] backend).
pub struct SoftModel {
    sdram: SimSdram,
    opts: ModelOptions,
    /// Backing store of the RW registers, by offset / 4.
    regs: [u32; 64],
    status: u32,
    cycle: u64,
    job: Option<Job>,
    counters: [u32; 4],
    /// Injected faults; change them at any time.
    pub faults: ModelFaults,
    log: WriteLog,
}

const CYCLES_IDX: usize = (regmap::cycles::OFFSET / 4) as usize;

impl SoftModel {
    pub fn new(sdram: SimSdram, opts: ModelOptions) -> Self {
        let mut regs = [0u32; 64];
        for (_, off, _, reset) in regmap::REGISTERS {
            regs[(off / 4) as usize] = reset;
        }
        Self {
            sdram,
            opts,
            regs,
            status: 0,
            cycle: 0,
            job: None,
            counters: [0; 4],
            faults: ModelFaults::default(),
            log: WriteLog::default(),
        }
    }

    /// The simulated SDRAM.
    pub fn sdram(&self) -> &SimSdram {
        &self.sdram
    }

    /// Every register write so far, `(offset, value)` in order.
    pub fn writes(&self) -> &[(u32, u32)] {
        self.log.writes()
    }

    /// Forgets the write log.
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

    /// Cycles simulated so far.
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// Whether the interrupt output is asserted (`IRQ_EN & DONE`).
    pub fn irq(&self) -> bool {
        self.regs[(ctrl::OFFSET / 4) as usize] & ctrl::IRQ_EN != 0
            && self.status & status::DONE != 0
    }

    fn busy(&self) -> bool {
        self.job.is_some() || self.faults.busy
    }

    /// Advances the clock by `n` cycles, finishing a job whose time has come.
    pub fn advance(&mut self, n: u64) {
        self.cycle = self.cycle.saturating_add(n);
        let due = self.job.as_ref().is_some_and(|j| self.cycle >= j.done_at);
        if due {
            let job = self.job.take().expect("checked");
            let cycles = job.done_at - job.start;
            let injected = self.faults.error_bits & status::ERR_ALL;
            if let Some((bits, addr)) = job.error {
                self.status = status::DONE | bits;
                self.regs[(regmap::err_addr::OFFSET / 4) as usize] = addr;
            } else if injected != 0 {
                self.status = status::DONE | injected;
                self.regs[(regmap::err_addr::OFFSET / 4) as usize] = self.faults.error_addr;
            } else {
                if let Some((addr, bytes)) = &job.output {
                    self.write_mem(*addr, bytes);
                }
                self.status = status::DONE;
            }
            self.counters = [
                cycles as u32,
                job.mac_cycles as u32,
                job.load_cycles as u32,
                0,
            ];
        }
    }

    /// Writes whole 8-byte beats that lie inside the SDRAM; others are dropped.
    fn write_mem(&self, addr: u64, bytes: &[u8]) {
        self.sdram.with(|m| {
            for (i, beat) in bytes.chunks(8).enumerate() {
                let a = addr + 8 * i as u64;
                if let Some(off) = a
                    .checked_sub(self.sdram.phys_base())
                    .and_then(|o| usize::try_from(o).ok())
                    .filter(|&o| o + beat.len() <= m.len())
                {
                    m[off..off + beat.len()].copy_from_slice(beat);
                }
            }
        })
    }

    /// Reads `n` u32 words at `addr`, or the first failing 8-byte beat address.
    fn read_words(&self, addr: u64, n: usize) -> Result<Vec<u32>, u32> {
        let bytes = n * 4;
        let first_beat = addr & !7;
        let last_beat = (addr + bytes as u64).div_ceil(8) * 8;
        let mut a = first_beat;
        while a < last_beat {
            let faulty = self
                .faults
                .bus_error
                .is_some_and(|(lo, hi)| a + 8 > lo && a < hi);
            if faulty || self.sdram.offset_of(a, 8).is_none() {
                return Err(a as u32);
            }
            a += 8;
        }
        let off = self.sdram.offset_of(addr, bytes).ok_or(addr as u32)?;
        Ok(self.sdram.with(|m| {
            m[off..off + bytes]
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        }))
    }

    fn reg(&self, offset: u32) -> u32 {
        self.regs[(offset / 4) as usize]
    }

    fn start(&mut self) {
        if self.busy() {
            self.status |= status::ERR_START_BUSY;
            return;
        }
        self.status = 0;
        let dim = dim::Dim::from_bits(self.reg(dim::OFFSET));
        let chan = chan::Chan::from_bits(self.reg(chan::OFFSET));
        let conv = conv::Conv::from_bits(self.reg(conv::OFFSET));
        let (w, h) = (dim.width() as usize, dim.height() as usize);
        let (g, c_out) = (chan.in_groups() as usize, chan.out_ch() as usize);
        let (k, pad, thr_en) = (conv.ksize() as usize, conv.pad() as usize, conv.thr_en());
        let caps = caps::Caps::from_bits(self.opts.caps);
        let act_depth = 1usize << caps.act_depth_log2();
        let w_depth = 1usize << caps.w_depth_log2();
        let lanes = caps.out_lanes().max(1) as usize;
        let addr = |o: u32| u64::from(self.reg(o));
        let (in_a, w_a, thr_a, out_a) = (
            addr(regmap::in_addr::OFFSET),
            addr(regmap::w_addr::OFFSET),
            addr(regmap::thr_addr::OFFSET),
            addr(regmap::out_addr::OFFSET),
        );

        let fail_now = |s: &mut Self, bit: u32| {
            s.status = status::DONE | bit;
            s.counters = [1, 0, 0, 0];
        };
        if w == 0 || h == 0 || g == 0 || c_out == 0 || !(k == 1 || k == 3) || pad != k / 2 {
            return fail_now(self, status::ERR_GEOM);
        }
        if k * k * g > w_depth || k.min(h) * w * g > act_depth {
            return fail_now(self, status::ERR_TILE);
        }
        if in_a % 8 != 0 || (thr_en && thr_a % 8 != 0) || out_a % 8 != 0 || w_a % 4 != 0 {
            return fail_now(self, status::ERR_ALIGN);
        }

        // timing estimate (the RTL's structure: per 32-channel output block, load thresholds
        // and weights, then the activations (once if the image is resident), then one MAC
        // cycle per (pixel, tap, group); with a resident image, block b+1's thresholds and
        // weights are prefetched while block b computes, so only the excess shows)
        let blocks = c_out.div_ceil(lanes) as u64;
        let block_macs = (h * w * k * k * g) as u64;
        let mac_cycles = block_macs * blocks;
        let act_beats = (h * w * g) as u64;
        let resident = h * w * g <= act_depth;
        let per_block = (lanes * k * k * g).div_ceil(2) as u64 + if thr_en { 64 } else { 0 } + 24;
        let load_cycles = if resident {
            per_block + (blocks - 1) * per_block.saturating_sub(block_macs) + act_beats + 16
        } else {
            blocks * (per_block + act_beats * 115 / 100 + 16)
        };
        let cycles = mac_cycles + load_cycles + 16;

        let job_err = |bit: u32, a: u32| Job {
            start: self.cycle,
            done_at: self.cycle + load_cycles / 2 + 8,
            output: None,
            error: Some((bit, a)),
            mac_cycles: 0,
            load_cycles: load_cycles / 2,
        };
        let c_in = 32 * g; // the hardware only knows groups; tail channels are zero anyway
        let input = match self.read_words(in_a, h * w * g * 2) {
            Ok(v) => v,
            Err(a) => return self.job = Some(job_err(status::ERR_BUS, a)),
        };
        let weights = match self.read_words(w_a, c_out * k * k * g) {
            Ok(v) => v,
            Err(a) => return self.job = Some(job_err(status::ERR_BUS, a)),
        };
        let thresholds = if thr_en {
            match self.read_words(thr_a, c_out * 4) {
                Ok(v) => Some(v),
                Err(a) => return self.job = Some(job_err(status::ERR_BUS, a)),
            }
        } else {
            None
        };
        let input = PackedActivations::from_words(h, w, c_in, input);
        let weights = PackedWeights::from_words(c_out, c_in, k, weights);
        let thresholds = thresholds.map(|t| {
            // the RTL only looks at flags bit 0
            let words: Vec<i32> = t
                .chunks_exact(4)
                .flat_map(|r| {
                    [
                        r[0] as i32,
                        r[1] as i32,
                        r[2] as i32,
                        r[3] as i32 & FLAG_DESCENDING,
                    ]
                })
                .collect();
            Thresholds::from_words(words)
        });
        let result = match (input, weights, thresholds.transpose()) {
            (Ok(i), Ok(wt), Ok(t)) => kernels::qconv2d(self.opts.kernel, &i, &wt, t.as_ref(), 1),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e),
        };
        let output = match result {
            Ok(QConvOutput::Packed(p)) => p.words().iter().flat_map(|v| v.to_le_bytes()).collect(),
            Ok(QConvOutput::Accumulators(a)) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            // cannot happen for geometry that passed the checks above; model it as a bus error
            Err(_) => return self.job = Some(job_err(status::ERR_BUS, in_a as u32)),
        };
        self.job = Some(Job {
            start: self.cycle,
            done_at: if self.faults.never_done {
                u64::MAX
            } else {
                self.cycle + cycles
            },
            output: Some((out_a, output)),
            error: None,
            mac_cycles,
            load_cycles,
        });
    }

    fn soft_reset(&mut self) {
        self.job = None;
        if !self.faults.reset_stuck {
            self.faults.busy = false;
        }
        self.status = 0;
    }
}

impl RegisterAccess for SoftModel {
    fn read(&mut self, offset: u32) -> u32 {
        self.advance(1);
        match offset {
            regmap::id::OFFSET => self.faults.id.unwrap_or(regmap::id::RESET),
            caps::OFFSET => self.opts.caps,
            status::OFFSET => self.status | u32::from(self.busy()),
            ctrl::OFFSET => self.reg(ctrl::OFFSET) & ctrl::IRQ_EN,
            regmap::cycles::OFFSET => match &self.job {
                Some(j) => (self.cycle - j.start) as u32,
                None => self.counters[0],
            },
            regmap::perf_mac::OFFSET => self.counters[1],
            regmap::perf_load::OFFSET => self.counters[2],
            regmap::perf_stall::OFFSET => self.counters[3],
            o if o % 4 == 0 && (o as usize) < regmap::CSR_SPAN => self.regs[(o / 4) as usize],
            _ => 0,
        }
    }

    fn write(&mut self, offset: u32, value: u32) {
        self.log.push(offset, value);
        self.advance(1);
        match offset {
            ctrl::OFFSET => {
                self.regs[(ctrl::OFFSET / 4) as usize] = value & ctrl::IRQ_EN;
                if value & ctrl::SOFT_RESET != 0 {
                    self.soft_reset();
                }
                if value & ctrl::START != 0 {
                    self.start();
                }
            }
            status::OFFSET => self.status &= !(value & (status::DONE | status::ERR_ALL)),
            regmap::id::OFFSET
            | caps::OFFSET
            | regmap::err_addr::OFFSET
            | regmap::perf_mac::OFFSET
            | regmap::perf_load::OFFSET
            | regmap::perf_stall::OFFSET => {}
            o if o as usize == CYCLES_IDX * 4 => {}
            o if o % 4 == 0 && (o as usize) < regmap::CSR_SPAN => {
                self.regs[(o / 4) as usize] = value
            }
            _ => {}
        }
    }

    fn describe(&self) -> String {
        "software model".into()
    }

    fn supports_irq(&self) -> bool {
        self.opts.irq
    }

    fn wait_irq(&mut self, timeout: Duration) -> std::io::Result<bool> {
        if !self.opts.irq {
            return Err(std::io::Error::from(std::io::ErrorKind::Unsupported));
        }
        let budget = (timeout.as_secs_f64() * self.opts.clock_hz).ceil().max(1.0) as u64;
        let end = self.cycle.saturating_add(budget);
        // jump straight to the job's completion if it comes before the deadline
        if let Some(j) = &self.job {
            if j.done_at <= end {
                let n = j.done_at.saturating_sub(self.cycle);
                self.advance(n);
            }
        }
        if !self.irq() {
            let n = end.saturating_sub(self.cycle);
            self.advance(n);
        }
        Ok(self.irq())
    }

    fn pause(&mut self, interval: Duration) {
        let n = (interval.as_secs_f64() * self.opts.clock_hz)
            .ceil()
            .max(1.0) as u64;
        self.advance(n);
    }

    fn device_time(&mut self) -> Option<Duration> {
        Some(Duration::from_secs_f64(
            self.cycle as f64 / self.opts.clock_hz,
        ))
    }
}
