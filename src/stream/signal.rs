//! SIGINT/SIGTERM → a flag the stream polls, so that it ends cleanly (JSON Lines flushed,
//! summary printed) instead of being killed mid-write.
//!
//! A second signal while stopping changes nothing: `timeout`, a process manager or an
//! impatient Ctrl-C often send two (`timeout` signals the whole process group), and the
//! summary must not be lost to it. A third forces the exit at once, without the summary
//! (status 128 + the signal's number), as many daemons do.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static SIGNALS: AtomicU32 = AtomicU32::new(0);

/// The signal that forces the exit.
pub const FORCE_AFTER: u32 = 3;

extern "C" fn on_signal(sig: libc::c_int) {
    // Only atomics, write(2) and _exit(2): async-signal-safe.
    let n = SIGNALS.fetch_add(1, Ordering::SeqCst) + 1;
    STOP.store(true, Ordering::SeqCst);
    if n >= FORCE_AFTER {
        const MSG: &[u8] = b"lm stream: third stop signal: exiting now, without the summary\n";
        // SAFETY: write(2) of a static buffer and _exit(2) are async-signal-safe.
        unsafe {
            libc::write(2, MSG.as_ptr().cast(), MSG.len());
            libc::_exit(128 + sig);
        }
    }
}

/// Installs the handlers (idempotent).
pub fn install() {
    #[cfg(unix)]
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a plain sigaction with a handler that only touches atomics (and exits).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = 0;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Whether a stop signal arrived.
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
