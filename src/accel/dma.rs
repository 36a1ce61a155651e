//! DMA buffers: physically contiguous memory that the accelerator's SDRAM masters read and
//! write at physical addresses.
//!
//! * [`UdmaBuf`]: u-dma-buf on the board (`/dev/udmabufN`, physical address from
//!   `/sys/class/u-dma-buf/<name>/phys_addr`, cache maintenance through the `sync_*` sysfs
//!   files as the u-dma-buf documentation describes).
//! * [`SimSdram`] / [`SimDmaRegion`]: a Rust-owned byte buffer that plays the board's SDRAM for
//!   the software model and the Verilator co-simulation (physical address `A` is byte
//!   `A - phys_base`).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::error::AccelError;

/// A physically contiguous buffer shared with the accelerator.
pub trait DmaBuffer: Send {
    /// Description for error messages (e.g. `"udmabuf0"`).
    fn describe(&self) -> String;
    /// Physical (bus) address of byte 0.
    fn phys_addr(&self) -> u64;
    /// Size in bytes.
    fn len(&self) -> usize;
    /// Whether the buffer has zero bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies `data` to byte `offset`.
    fn write_at(&mut self, offset: usize, data: &[u8]) -> Result<(), AccelError>;
    /// Copies bytes from `offset` into `out`.
    fn read_at(&mut self, offset: usize, out: &mut [u8]) -> Result<(), AccelError>;
    /// Hands `[offset, offset + len)` to the device (cache clean/flush) before START.
    fn sync_for_device(&mut self, offset: usize, len: usize) -> Result<(), AccelError> {
        let _ = (offset, len);
        Ok(())
    }
    /// Hands `[offset, offset + len)` back to the CPU (cache invalidate) after DONE.
    fn sync_for_cpu(&mut self, offset: usize, len: usize) -> Result<(), AccelError> {
        let _ = (offset, len);
        Ok(())
    }
}

fn range_error(what: &str, offset: usize, n: usize, len: usize) -> AccelError {
    AccelError::DmaSpace {
        layer: String::new(),
        buffer: what.to_string(),
        reason: format!("access [{offset:#x}, +{n:#x}) outside the {len:#x}-byte buffer"),
    }
}

fn check_range(what: &str, offset: usize, n: usize, len: usize) -> Result<(), AccelError> {
    match offset.checked_add(n) {
        Some(end) if end <= len => Ok(()),
        _ => Err(range_error(what, offset, n, len)),
    }
}

// ---------------------------------------------------------------------------------------
// Simulator SDRAM
// ---------------------------------------------------------------------------------------

struct SdramInner {
    /// Start of a leaked `Box<[u8]>` of `len` bytes (freed in `Drop`). Raw, because the
    /// Verilator shim keeps this pointer and writes through it during `lmq_*` calls.
    ptr: *mut u8,
    len: usize,
    phys_base: u64,
    /// Serialises every access (Rust slices are only created while it is held; the
    /// Verilator backend holds it during each FFI call).
    lock: Mutex<()>,
}

// SAFETY: the memory is only accessed while `lock` is held (see `SimSdram::with`), or by the
// Verilator shim during an FFI call made while holding the lock.
unsafe impl Send for SdramInner {}
unsafe impl Sync for SdramInner {}

impl Drop for SdramInner {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` come from `Box::into_raw` of a `Box<[u8]>` in `SimSdram::new`.
        unsafe {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.ptr, self.len,
            )));
        }
    }
}

/// Simulated SDRAM shared by a simulator backend (the device) and its DMA regions (the CPU).
/// Cloning gives another handle to the same memory.
#[derive(Clone)]
pub struct SimSdram {
    inner: Arc<SdramInner>,
}

impl SimSdram {
    /// `len` zeroed bytes; physical address `phys_base` is byte 0.
    pub fn new(len: usize, phys_base: u64) -> Self {
        let b: Box<[u8]> = vec![0u8; len].into_boxed_slice();
        let ptr = Box::into_raw(b) as *mut u8;
        Self {
            inner: Arc::new(SdramInner {
                ptr,
                len,
                phys_base,
                lock: Mutex::new(()),
            }),
        }
    }

    pub fn len(&self) -> usize {
        self.inner.len
    }
    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }
    pub fn phys_base(&self) -> u64 {
        self.inner.phys_base
    }

    fn guard(&self) -> MutexGuard<'_, ()> {
        self.inner.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the whole memory (byte 0 = `phys_base`).
    pub fn with<T>(&self, f: impl FnOnce(&mut [u8]) -> T) -> T {
        let _g = self.guard();
        // SAFETY: exclusive access while the lock is held; the allocation lives as long as
        // `inner`.
        let mem = unsafe { std::slice::from_raw_parts_mut(self.inner.ptr, self.inner.len) };
        f(mem)
    }

    /// Holds the lock while the caller lets foreign code (the Verilator shim) use
    /// [`raw_ptr`](Self::raw_ptr).
    #[allow(dead_code)]
    pub(crate) fn lock_for_ffi(&self) -> MutexGuard<'_, ()> {
        self.guard()
    }

    /// Start of the memory, for the Verilator shim (valid as long as any handle lives).
    #[allow(dead_code)]
    pub(crate) fn raw_ptr(&self) -> *mut u8 {
        self.inner.ptr
    }

    /// Byte offset of physical address `addr` if `[addr, addr + n)` lies inside the memory.
    pub fn offset_of(&self, addr: u64, n: usize) -> Option<usize> {
        let off = addr.checked_sub(self.inner.phys_base)?;
        let off = usize::try_from(off).ok()?;
        (off.checked_add(n)? <= self.inner.len).then_some(off)
    }

    /// A DMA region of `len` bytes at byte offset `offset` of this memory.
    pub fn region(&self, offset: usize, len: usize) -> Result<SimDmaRegion, AccelError> {
        check_range("simulated SDRAM", offset, len, self.len())?;
        Ok(SimDmaRegion {
            sdram: self.clone(),
            offset,
            len,
        })
    }
}

/// A window of [`SimSdram`] used as the driver's DMA buffer in simulation.
pub struct SimDmaRegion {
    sdram: SimSdram,
    offset: usize,
    len: usize,
}

impl DmaBuffer for SimDmaRegion {
    fn describe(&self) -> String {
        format!(
            "simulated SDRAM [{:#x}, +{:#x})",
            self.phys_addr(),
            self.len
        )
    }
    fn phys_addr(&self) -> u64 {
        self.sdram.phys_base() + self.offset as u64
    }
    fn len(&self) -> usize {
        self.len
    }
    fn write_at(&mut self, offset: usize, data: &[u8]) -> Result<(), AccelError> {
        check_range(&self.describe(), offset, data.len(), self.len)?;
        let base = self.offset + offset;
        self.sdram
            .with(|m| m[base..base + data.len()].copy_from_slice(data));
        Ok(())
    }
    fn read_at(&mut self, offset: usize, out: &mut [u8]) -> Result<(), AccelError> {
        check_range(&self.describe(), offset, out.len(), self.len)?;
        let base = self.offset + offset;
        self.sdram
            .with(|m| out.copy_from_slice(&m[base..base + out.len()]));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// u-dma-buf
// ---------------------------------------------------------------------------------------

/// Fix hint when the u-dma-buf device is missing.
pub const UDMABUF_HINT: &str = "load the u-dma-buf kernel module (`modprobe u-dma-buf \
     udmabuf0=16777216`, https://github.com/ikwzm/udmabuf) or the device-tree node \
     `compatible = \"ikwzm,u-dma-buf\"` of fpga/quartus/README.md / boards/de10_nano";

/// How the CPU side of a u-dma-buf buffer is mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// `O_SYNC`: CPU caches off for the buffer (u-dma-buf `sync_mode` 1, its default); no
    /// cache maintenance needed.
    Uncached,
    /// Cached mapping with explicit `sync_for_device` / `sync_for_cpu` around every job
    /// (faster CPU copies; the sysfs writes cost a few µs each).
    Cached,
}

/// A u-dma-buf buffer (`/dev/<name>`, `/sys/class/u-dma-buf/<name>/`).
pub struct UdmaBuf {
    name: String,
    sys_dir: PathBuf,
    map: memmap2::MmapMut,
    phys: u64,
    mode: CacheMode,
    coherent: bool,
}

fn read_sys(path: &Path) -> Result<String, AccelError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| AccelError::device(path.display().to_string(), e, UDMABUF_HINT))
}

fn parse_num(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

impl UdmaBuf {
    /// Opens u-dma-buf device `name` (e.g. `"udmabuf0"`).
    pub fn open(name: &str, mode: CacheMode) -> Result<Self, AccelError> {
        // current driver: /sys/class/u-dma-buf/<name>; old "udmabuf" versions: /sys/class/udmabuf
        let candidates = [
            PathBuf::from("/sys/class/u-dma-buf").join(name),
            PathBuf::from("/sys/class/udmabuf").join(name),
        ];
        let sys_dir = candidates
            .iter()
            .find(|p| p.is_dir())
            .cloned()
            .ok_or_else(|| {
                AccelError::device(
                    candidates[0].display().to_string(),
                    std::io::Error::from(std::io::ErrorKind::NotFound),
                    UDMABUF_HINT,
                )
            })?;
        let phys_file = sys_dir.join("phys_addr");
        let phys_s = read_sys(&phys_file)?;
        let phys = parse_num(&phys_s).ok_or_else(|| AccelError::Io {
            what: "unparsable u-dma-buf phys_addr",
            node: format!("{}: {phys_s:?}", phys_file.display()),
            source: std::io::Error::from(std::io::ErrorKind::InvalidData),
        })?;
        let size_file = sys_dir.join("size");
        let size_s = read_sys(&size_file)?;
        let size = parse_num(&size_s)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| AccelError::Io {
                what: "unparsable u-dma-buf size",
                node: format!("{}: {size_s:?}", size_file.display()),
                source: std::io::Error::from(std::io::ErrorKind::InvalidData),
            })?;
        let coherent = std::fs::read_to_string(sys_dir.join("dma_coherent"))
            .ok()
            .and_then(|s| parse_num(&s))
            .is_some_and(|v| v != 0);

        let dev = format!("/dev/{name}");
        let mut opts = OpenOptions::new();
        opts.read(true).write(true);
        if mode == CacheMode::Uncached {
            opts.custom_flags(libc::O_SYNC);
        }
        let file = opts
            .open(&dev)
            .map_err(|e| AccelError::device(&dev, e, UDMABUF_HINT))?;
        // SAFETY: a device mapping; the memory is shared with the accelerator only, accessed
        // through copies in `read_at`/`write_at`.
        let map = unsafe { memmap2::MmapOptions::new().len(size).map_mut(&file) }.map_err(|e| {
            AccelError::Io {
                what: "mmap of the u-dma-buf device failed",
                node: dev.clone(),
                source: e,
            }
        })?;
        Ok(Self {
            name: name.to_string(),
            sys_dir,
            map,
            phys,
            mode,
            coherent,
        })
    }

    fn sys_write(&self, file: &str, value: u64) -> Result<(), AccelError> {
        let path = self.sys_dir.join(file);
        let mut f: File = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| AccelError::device(path.display().to_string(), e, UDMABUF_HINT))?;
        f.write_all(value.to_string().as_bytes())
            .map_err(|e| AccelError::Io {
                what: "u-dma-buf sysfs write failed",
                node: path.display().to_string(),
                source: e,
            })
    }

    fn sync(&mut self, which: &str, offset: usize, len: usize) -> Result<(), AccelError> {
        if self.mode == CacheMode::Uncached || self.coherent || len == 0 {
            return Ok(());
        }
        check_range(&self.name, offset, len, self.map.len())?;
        self.sys_write("sync_offset", offset as u64)?;
        self.sys_write("sync_size", len as u64)?;
        self.sys_write("sync_direction", 0)?; // DMA_BIDIRECTIONAL
        self.sys_write(which, 1)
    }
}

impl DmaBuffer for UdmaBuf {
    fn describe(&self) -> String {
        format!("/dev/{} (phys {:#x})", self.name, self.phys)
    }
    fn phys_addr(&self) -> u64 {
        self.phys
    }
    fn len(&self) -> usize {
        self.map.len()
    }
    fn write_at(&mut self, offset: usize, data: &[u8]) -> Result<(), AccelError> {
        check_range(&self.name, offset, data.len(), self.map.len())?;
        self.map[offset..offset + data.len()].copy_from_slice(data);
        Ok(())
    }
    fn read_at(&mut self, offset: usize, out: &mut [u8]) -> Result<(), AccelError> {
        check_range(&self.name, offset, out.len(), self.map.len())?;
        out.copy_from_slice(&self.map[offset..offset + out.len()]);
        Ok(())
    }
    fn sync_for_device(&mut self, offset: usize, len: usize) -> Result<(), AccelError> {
        self.sync("sync_for_device", offset, len)
    }
    fn sync_for_cpu(&mut self, offset: usize, len: usize) -> Result<(), AccelError> {
        self.sync("sync_for_cpu", offset, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_region_bounds_and_phys() {
        let m = SimSdram::new(4096, 0x2000_0000);
        let mut r = m.region(1024, 256).unwrap();
        assert_eq!(r.phys_addr(), 0x2000_0400);
        r.write_at(8, &[1, 2, 3]).unwrap();
        let mut b = [0u8; 3];
        r.read_at(8, &mut b).unwrap();
        assert_eq!(b, [1, 2, 3]);
        assert_eq!(m.with(|s| s[1032]), 1);
        assert!(r.write_at(255, &[0, 0]).is_err());
        assert!(m.region(4000, 200).is_err());
        assert_eq!(m.offset_of(0x2000_0ff8, 8), Some(0xff8));
        assert_eq!(m.offset_of(0x2000_0ffc, 8), None);
        assert_eq!(m.offset_of(0x1fff_fffc, 4), None);
    }

    #[test]
    fn missing_udmabuf_names_sysfs_node() {
        let e = UdmaBuf::open("udmabuf_lm_missing", CacheMode::Uncached)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("/sys/class/u-dma-buf/udmabuf_lm_missing") && e.contains("u-dma-buf"),
            "{e}"
        );
    }
}
