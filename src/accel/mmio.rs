//! A mapped register window shared by the board backends (`/dev/mem`, UIO):
//! volatile 32-bit accesses at byte offsets, bounds- and alignment-checked.

/// `span` bytes of registers starting `start` bytes into a mapping.
pub(crate) struct MmioWindow {
    map: memmap2::MmapMut,
    start: usize,
    span: usize,
}

impl MmioWindow {
    pub(crate) fn new(map: memmap2::MmapMut, start: usize, span: usize) -> Self {
        MmioWindow { map, start, span }
    }

    fn reg_ptr(&mut self, offset: u32) -> Option<*mut u32> {
        let off = offset as usize;
        (off.is_multiple_of(4) && off + 4 <= self.span && self.start + off + 4 <= self.map.len())
            // SAFETY: in bounds of the mapping (checked above).
            .then(|| unsafe { self.map.as_mut_ptr().add(self.start + off) as *mut u32 })
    }

    /// Reads a register; an offset outside the window reads as all ones, like
    /// an unmapped bus address.
    pub(crate) fn read(&mut self, offset: u32) -> u32 {
        match self.reg_ptr(offset) {
            // SAFETY: aligned, in-bounds MMIO register.
            Some(p) => unsafe { p.read_volatile() },
            None => u32::MAX,
        }
    }

    /// Writes a register; an offset outside the window is ignored.
    pub(crate) fn write(&mut self, offset: u32, value: u32) {
        if let Some(p) = self.reg_ptr(offset) {
            // SAFETY: aligned, in-bounds MMIO register.
            unsafe { p.write_volatile(value) }
        }
    }
}
