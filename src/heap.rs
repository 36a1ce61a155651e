//! Heap accounting: a global allocator that counts live and peak heap bytes.
//!
//! Peak RSS under qemu-user includes the emulator (its translated code and
//! its own heap), so it says little about the board. The peak heap counted
//! here is the program's own, the same on every target, and is what the
//! model's weights and activations cost. The `lm` binary installs it; as a
//! library, [`peak_bytes`] reports `None` unless the application does too:
//!
//! ```ignore
//! #[global_allocator]
//! static HEAP: lm::heap::CountingAllocator = lm::heap::CountingAllocator;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// [`System`] plus two counters (two relaxed atomics per allocation).
pub struct CountingAllocator;

impl CountingAllocator {
    fn grew(by: usize) {
        let live = LIVE.fetch_add(by, Relaxed) + by;
        PEAK.fetch_max(live, Relaxed);
        INSTALLED.store(true, Relaxed);
    }

    fn shrank(by: usize) {
        LIVE.fetch_sub(by, Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the counters never
// affect the memory handed out.
// The methods stay out of line, like std's default allocator: with fat LTO and `lm`
// at opt-level 3 (armv7 dist) they were inlined into every allocation site of every
// crate, +137 KB of code.
unsafe impl GlobalAlloc for CountingAllocator {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Self::grew(layout.size());
        }
        p
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Self::grew(layout.size());
        }
        p
    }

    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        Self::shrank(layout.size());
    }

    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                Self::grew(new_size - layout.size());
            } else {
                Self::shrank(layout.size() - new_size);
            }
        }
        p
    }
}

/// The most heap bytes allocated and not yet freed at any moment so far;
/// `None` without [`CountingAllocator`].
pub fn peak_bytes() -> Option<usize> {
    INSTALLED.load(Relaxed).then(|| PEAK.load(Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The unit-test binary does not install the allocator: drive it directly.
    #[test]
    fn counts_live_and_peak_bytes() {
        let a = CountingAllocator;
        let big = Layout::from_size_align(1 << 20, 64).unwrap();
        let small = Layout::from_size_align(1000, 8).unwrap();
        unsafe {
            let base = LIVE.load(Relaxed);
            let p = a.alloc(big);
            let q = a.alloc_zeroed(small);
            assert_eq!(LIVE.load(Relaxed), base + (1 << 20) + 1000);
            assert!(PEAK.load(Relaxed) >= base + (1 << 20) + 1000);
            let q = a.realloc(q, small, 10);
            assert_eq!(LIVE.load(Relaxed), base + (1 << 20) + 10);
            a.dealloc(p, big);
            a.dealloc(q, Layout::from_size_align(10, 8).unwrap());
            assert_eq!(LIVE.load(Relaxed), base);
        }
        assert!(peak_bytes().unwrap() >= 1 << 20);
    }
}
