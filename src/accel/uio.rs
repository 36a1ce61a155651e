//! UIO backend: `/dev/uioN` of the `generic-uio` device-tree node. Map 0 is the CSR block;
//! reading the fd waits for the interrupt, writing 1 re-enables it (uio_pdrv_genirq
//! disables the line after each interrupt).

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::devmem::page_size;
use super::error::AccelError;
use super::mmio::MmioWindow;
use super::regmap;
use super::regs::RegisterAccess;

/// Fix hint when the UIO node is missing: the one fix `lm doctor` also gives
/// (boards/de10_nano/SETUP.md).
pub const UIO_HINT: &str = "load a bitstream with lm_qconv (fpga/quartus/README.md), apply the \
     overlay boards/de10_nano/lm_qconv.dtbo and bind it to UIO: modprobe uio_pdrv_genirq \
     of_id=lm,qconv-1.0 (built-in driver: uio_pdrv_genirq.of_id=lm,qconv-1.0 on the kernel \
     command line; boards/de10_nano/SETUP.md), then check `cat /sys/class/uio/uio*/name` for \
     the right index";

/// CSR block and interrupt through a UIO device.
pub struct Uio {
    path: PathBuf,
    file: File,
    regs: MmioWindow,
}

fn sys_num(path: &Path) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

impl Uio {
    /// Opens `/dev/uio<index>`.
    pub fn open_index(index: u32) -> Result<Self, AccelError> {
        Self::open(format!("/dev/uio{index}"))
    }

    /// Opens a UIO device node, e.g. `"/dev/uio0"`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AccelError> {
        let path = path.as_ref().to_path_buf();
        let node = path.display().to_string();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| AccelError::device(&node, e, UIO_HINT))?;
        let name = path.file_name().map(|n| n.to_string_lossy().to_string());
        let maps = name.map(|n| PathBuf::from("/sys/class/uio").join(n).join("maps/map0"));
        let size = maps
            .as_ref()
            .and_then(|m| sys_num(&m.join("size")))
            .map_or(regmap::CSR_SPAN, |s| s as usize);
        // map0 may start inside a page (newer kernels report the in-page offset)
        let start = maps
            .as_ref()
            .and_then(|m| sys_num(&m.join("offset")))
            .map_or(0, |o| o as usize % page_size());
        let span = size;
        // SAFETY: MMIO mapping of UIO map 0 (mmap offset 0 selects map 0), accessed only with
        // volatile 32-bit loads/stores inside `span`.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .offset(0)
                .len(start + span)
                .map_mut(&file)
        }
        .map_err(|e| AccelError::Io {
            what: "mmap of UIO map 0 failed",
            node: node.clone(),
            source: e,
        })?;
        Ok(Self {
            path,
            file,
            regs: MmioWindow::new(map, start, span),
        })
    }
}

impl RegisterAccess for Uio {
    fn read(&mut self, offset: u32) -> u32 {
        self.regs.read(offset)
    }
    fn write(&mut self, offset: u32, value: u32) {
        self.regs.write(offset, value)
    }
    fn describe(&self) -> String {
        self.path.display().to_string()
    }
    fn supports_irq(&self) -> bool {
        true
    }
    fn arm_irq(&mut self) -> std::io::Result<()> {
        self.file.write_all(&1u32.to_ne_bytes())
    }
    fn wait_irq(&mut self, timeout: Duration) -> std::io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return if e.kind() == std::io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            };
        }
        if n == 0 {
            return Ok(false);
        }
        let mut count = [0u8; 4];
        self.file.read_exact(&mut count)?;
        // uio_pdrv_genirq disabled the line when it fired: enable it again at once, so that
        // a stale interrupt consumed here cannot swallow the one the driver waits for (a
        // still-asserted level just makes the next wait return early; the driver then
        // re-reads STATUS)
        self.arm_irq()?;
        Ok(true)
    }
}
