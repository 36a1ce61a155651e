//! `/dev/mem` backend: the CSR page mapped with `O_SYNC` (uncached) at its physical base.
//! Needs root (or `CAP_SYS_RAWIO`) and a kernel without `CONFIG_STRICT_DEVMEM` blocking the
//! bridge window. No interrupt: the driver polls STATUS with a timeout.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;

use super::error::AccelError;
use super::mmio::MmioWindow;
use super::regmap;
use super::regs::RegisterAccess;

/// Fix hint when there is no `/dev/mem` at all (a kernel without CONFIG_DEVMEM, a container);
/// a `/dev/mem` the user may not open gets [`AccelError::device`]'s advice on rights.
pub const NO_DEVMEM_HINT: &str = "this system has no /dev/mem (a kernel built without \
     CONFIG_DEVMEM, or a container that does not pass it through): use the UIO backend \
     (--fpga-device uio:/dev/uioN, device-tree node in fpga/quartus/README.md)";

/// Memory-mapped CSR block through `/dev/mem`.
pub struct DevMem {
    /// The CSR window inside the (page-aligned) mapping.
    regs: MmioWindow,
    phys: u64,
}

pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

impl DevMem {
    /// Maps `span` bytes of physical address space at `phys` (e.g.
    /// [`regmap::CSR_BASE_PHYS`], [`regmap::CSR_SPAN`]).
    pub fn open(phys: u64, span: usize) -> Result<Self, AccelError> {
        Self::open_path("/dev/mem", phys, span)
    }

    /// As [`open`](Self::open) with another memory device node (for tests).
    pub fn open_path(node: &str, phys: u64, span: usize) -> Result<Self, AccelError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_SYNC)
            .open(node)
            .map_err(|e| AccelError::device(node, e, NO_DEVMEM_HINT))?;
        let page = page_size() as u64;
        let base = phys & !(page - 1);
        let start = (phys - base) as usize;
        // SAFETY: a device mapping of MMIO registers, accessed only with volatile 32-bit
        // loads/stores inside `span`.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .offset(base)
                .len(start + span)
                .map_mut(&file)
        }
        .map_err(|e| AccelError::Io {
            what: "mmap of the CSR block failed",
            node: format!("{node} at {phys:#x}"),
            source: e,
        })?;
        Ok(Self {
            regs: MmioWindow::new(map, start, span),
            phys,
        })
    }

    /// The default CSR block of the DE10-Nano design (lightweight bridge, offset 0).
    pub fn open_default() -> Result<Self, AccelError> {
        Self::open(regmap::CSR_BASE_PHYS, regmap::CSR_SPAN)
    }
}

impl RegisterAccess for DevMem {
    fn read(&mut self, offset: u32) -> u32 {
        self.regs.read(offset)
    }
    fn write(&mut self, offset: u32, value: u32) {
        self.regs.write(offset, value)
    }
    fn describe(&self) -> String {
        format!("/dev/mem at {:#x}", self.phys)
    }
}
