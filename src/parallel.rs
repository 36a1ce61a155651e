//! A team of persistent worker threads for the engine's short parallel loops.
//!
//! The quantised layers of the default model take 0.02–0.7 ms each, one after the other, ~30
//! per frame. A pool whose workers go to sleep between jobs (rayon's, which the engine used
//! before) pays a futex wake-up per layer — on a VM's idle vCPU tens of µs — and its caller
//! sleeps while the workers run, so on a 2-core machine 2 threads were *slower* than 1. This
//! team avoids both:
//! - the calling thread runs parts itself (it is one of the `threads`);
//! - a worker that finished a job spins ([`SPIN`]) before it parks, so the next layer of the
//!   same frame finds it awake; a frame's first layer after a pause wakes it once.
//!
//! Work is split into `parts` indices that the participants take from one counter, so any
//! `parts` works with any number of threads, and results never depend on the thread count.
//! One caller uses the team at a time: a second caller (another thread, or a part that itself
//! asks for parallelism) runs its parts serially instead of waiting.
//!
//! A worker that the OS preempts while it holds a part stalls the whole loop until it runs
//! again: with a busy process of the same priority on the other core, a time slice (ms) per
//! layer, and 2 threads became 2–3× *slower* than 1 on average. So a loop whose caller waited
//! longer than [`STALL`] (and longer than its own share took) for a worker counts as a stall,
//! and once stalls add up to a tenth of the recent time ([`STALL_WINDOW`]) the team pauses:
//! loops run on the caller alone, at 1-thread speed, then try again. A pause lasts
//! [`BACKOFF_MIN`], doubling up to [`BACKOFF_MAX`] while pauses follow each other within
//! [`RELAPSE`] (a neighbour that keeps the core busy). A VM's occasional hiccups (a worker
//! descheduled for a few ms) do not pause it: pausing for those cost more than they did.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, TryLockError};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long an idle worker spins before it parks. Longer than the gap between two layers of a
/// frame (a few µs of layout ops, up to ~0.3 ms for the float head), short enough that a
/// stream's idle time between frames is not burnt.
pub const SPIN: Duration = Duration::from_micros(2000);

/// A caller that waited this long for a worker (and longer than its own parts took) counts
/// the worker as preempted. Well above a layer's imbalance between two running threads (tens
/// of µs on x86, the largest layer's whole time on a Cortex-A9 is a few ms, and its halves
/// are even), well below a scheduler's time slice.
pub const STALL: Duration = Duration::from_micros(1000);

/// How long loops run on the caller alone after a first stall.
pub const BACKOFF_MIN: Duration = Duration::from_millis(10);

/// The longest pause after repeated stalls (`BACKOFF_MIN · 2^7`).
pub const BACKOFF_MAX: Duration = Duration::from_millis(1280);

/// A pause this soon after the last one ended is twice as long; a later one starts again from
/// [`BACKOFF_MIN`].
pub const RELAPSE: Duration = Duration::from_millis(50);

/// Stalls pause the team once their time, each weighted by `exp(-age / STALL_WINDOW)`, adds up
/// to `STALL_SHARE · STALL_WINDOW`: a neighbour that takes the worker's core for 75 % of the
/// time (measured: a busy loop of the same priority) gets there within a few stalls, while a
/// VM's hiccups (1–4 ms, a few a second here) do not.
pub const STALL_WINDOW: Duration = Duration::from_millis(100);

/// See [`STALL_WINDOW`].
pub const STALL_SHARE: f64 = 0.1;

/// Runs `f(i)` for every `i < parts`, spread over up to `threads` threads (the caller and
/// `threads - 1` workers of the team; `0` = every core). Returns when all parts are done. A
/// panic in a part is re-raised here after the other parts ran (on any path, serial too).
pub fn for_each_part(parts: usize, threads: usize, f: &(dyn Fn(usize) + Sync)) {
    let threads = resolve(threads).min(parts);
    let team = (threads > 1)
        .then(Team::get)
        .filter(|team| !team.backoff.active(Backoff::now()));
    let guard = team.and_then(|team| match team.lock.try_lock() {
        Ok(g) => Some((team, g)),
        Err(TryLockError::Poisoned(p)) => Some((team, p.into_inner())),
        // Busy (another caller, or a nested call from inside a part): run serially.
        Err(TryLockError::WouldBlock) => None,
    });
    let helpers = guard
        .as_ref()
        .map_or(0, |(team, _)| (threads - 1).min(team.workers.len()));
    let job = Job {
        // SAFETY: the lifetime is erased only while this function runs: it does not return
        // (or unwind) before every helper has decremented `pending`, after which no worker
        // touches the job again.
        f: unsafe {
            std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static (dyn Fn(usize) + Sync)>(f)
        },
        parts,
        next: AtomicUsize::new(0),
        pending: AtomicUsize::new(helpers),
        panic: Mutex::new(None),
    };
    if let Some((team, _)) = &guard {
        for w in &team.workers[..helpers] {
            w.post(&job);
        }
    }
    let start = Instant::now();
    job.work();
    if let Some(waited) = job.wait(start) {
        if let Some((team, _)) = &guard {
            STALLS.fetch_add(1, Ordering::Relaxed);
            match team.backoff.on_stall(Backoff::now(), waited) {
                Some(pause) => tracing::debug!(
                    "a worker stalled a loop for {waited:?}, and others before: 1 thread for {pause:?}"
                ),
                None => tracing::debug!("a worker stalled a loop for {waited:?}"),
            }
        }
    }
    drop(guard);
    let panic = job.panic.lock().map(|mut p| p.take()).unwrap_or(None);
    if let Some(payload) = panic {
        resume_unwind(payload);
    }
}

/// Splits `out` into chunks of `chunk` elements (the last may be shorter) and runs
/// `f(index, chunk)` on each, over up to `threads` threads (see [`for_each_part`]).
pub fn for_each_chunk_mut<T: Send>(
    out: &mut [T],
    chunk: usize,
    threads: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    let chunk = chunk.max(1);
    let slots: Vec<Slot<&mut [T]>> = out.chunks_mut(chunk).map(|c| Mutex::new(Some(c))).collect();
    for_each_part(slots.len(), threads, &|i| {
        let taken = slots[i].lock().ok().and_then(|mut s| s.take());
        if let Some(c) = taken {
            f(i, c);
        }
    });
}

/// Splits `out` (items of `item_len` elements, e.g. pixels) into `threads` contiguous ranges of
/// (nearly) equal item counts, each a multiple of `align` items except the last, and runs
/// `f(first_item, range)` on each (see [`for_each_part`]). Ranges of items rather than rows:
/// the 5×5 and 10×10 layers have too few rows to split evenly.
pub fn for_each_range_mut<T: Send>(
    out: &mut [T],
    item_len: usize,
    align: usize,
    threads: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    let items = out.len() / item_len.max(1);
    let threads = resolve(threads).clamp(1, items.max(1));
    if threads == 1 {
        return f(0, out);
    }
    let per = items.div_ceil(threads).next_multiple_of(align.max(1));
    for_each_chunk_mut(out, per * item_len, threads, |i, chunk| f(i * per, chunk));
}

/// [`for_each_chunk_mut`] over two slices split into the same number of chunks: runs
/// `f(index, a_chunk, b_chunk)` (e.g. the rows of two images of different row lengths).
pub fn for_each_chunk_pair_mut<A: Send, B: Send>(
    a: &mut [A],
    a_chunk: usize,
    b: &mut [B],
    b_chunk: usize,
    threads: usize,
    f: impl Fn(usize, &mut [A], &mut [B]) + Sync,
) {
    let slots: Vec<Slot<(&mut [A], &mut [B])>> = a
        .chunks_mut(a_chunk.max(1))
        .zip(b.chunks_mut(b_chunk.max(1)))
        .map(|p| Mutex::new(Some(p)))
        .collect();
    for_each_part(slots.len(), threads, &|i| {
        let taken = slots[i].lock().ok().and_then(|mut s| s.take());
        if let Some((x, y)) = taken {
            f(i, x, y);
        }
    });
}

/// A chunk that exactly one part takes (`take`), whichever thread runs that part.
type Slot<T> = Mutex<Option<T>>;

/// `threads`, with `0` meaning every core.
pub fn resolve(threads: usize) -> usize {
    if threads == 0 {
        cores()
    } else {
        threads
    }
}

/// `available_parallelism`, asked once: on Linux each call reads the cgroup's CPU quota from
/// `/sys/fs/cgroup` and `/proc` (tens of µs; per layer it made `--threads 0` 1.5× slower
/// than `--threads 2`).
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| thread::available_parallelism().map_or(1, |n| n.get()))
}

/// One parallel loop, on the calling thread's stack.
struct Job {
    f: &'static (dyn Fn(usize) + Sync),
    parts: usize,
    /// The next part to take.
    next: AtomicUsize,
    /// Helpers that have not finished yet.
    pending: AtomicUsize,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Job {
    /// Takes parts until none is left.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.parts {
                return;
            }
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| (self.f)(i))) {
                if let Ok(mut p) = self.panic.lock() {
                    p.get_or_insert(payload);
                }
            }
        }
    }

    /// Waits for the helpers (their parts are short: spin, then yield). The caller's own
    /// parts ran from `start` until now; returns how long it waited if that was a stall
    /// (longer than [`STALL`] and than its own parts took).
    fn wait(&self, start: Instant) -> Option<Duration> {
        let mut spins = 0u32;
        // Read the clock only once a wait is long (a µs or so of spinning).
        let mut long_since = None;
        while self.pending.load(Ordering::Acquire) != 0 {
            if spins < 1 << 16 {
                spins += 1;
                if spins == 1 << 10 {
                    long_since = Some(Instant::now());
                }
                std::hint::spin_loop();
            } else {
                thread::yield_now();
            }
        }
        let since = long_since?;
        let waited = since.elapsed();
        (waited > STALL && waited > since - start).then_some(waited)
    }
}

struct Team {
    lock: Mutex<()>,
    workers: Vec<Arc<Worker>>,
    /// When loops run on their caller alone (after stalls).
    backoff: Backoff,
}

impl Team {
    fn get() -> &'static Team {
        static TEAM: OnceLock<Team> = OnceLock::new();
        TEAM.get_or_init(|| {
            let workers = (1..cores())
                .filter_map(|i| {
                    let slot = Arc::new(Worker {
                        state: AtomicUsize::new(IDLE),
                        job: AtomicPtr::new(std::ptr::null_mut()),
                        thread: OnceLock::new(),
                    });
                    let mine = Arc::clone(&slot);
                    let handle = thread::Builder::new()
                        .name(format!("lm-worker-{i}"))
                        .spawn(move || mine.run())
                        // No thread (resource limits): the team is smaller; never an error.
                        .ok()?;
                    slot.thread.set(handle.thread().clone()).ok()?;
                    Some(slot)
                })
                .collect();
            Team {
                lock: Mutex::new(()),
                workers,
                backoff: Backoff::default(),
            }
        })
    }
}

/// Loops whose caller waited for a preempted worker (see the module docs), since the start.
pub static STALLS: AtomicU64 = AtomicU64::new(0);

/// The pauses after stalls: the policy of the module docs, on times in ns from any fixed
/// origin ([`Backoff::now`] in the team; chosen ones in the tests).
#[derive(Default)]
struct Backoff {
    /// Loops run on their caller alone until then (0: never paused).
    until: AtomicU64,
    /// Written only on stalls, by the caller holding the team.
    state: Mutex<BackoffState>,
}

#[derive(Default)]
struct BackoffState {
    /// The stalls' time, each decayed by `exp(-age / STALL_WINDOW)`, in ns, as of `at`.
    debt: f64,
    at: u64,
    /// The last pause's length (0: none yet).
    last_pause: u64,
}

impl Backoff {
    /// ns since the first call (in the process).
    fn now() -> u64 {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }

    fn active(&self, now: u64) -> bool {
        now < self.until.load(Ordering::Relaxed)
    }

    /// Counts a stall of `waited` at `now`; starts a pause (and returns its length) once the
    /// recent stalls add up to [`STALL_SHARE`] of [`STALL_WINDOW`].
    fn on_stall(&self, now: u64, waited: Duration) -> Option<Duration> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let age = now.saturating_sub(st.at) as f64;
        st.debt =
            st.debt * (-age / STALL_WINDOW.as_nanos() as f64).exp() + waited.as_nanos() as f64;
        st.at = now;
        if st.debt < STALL_SHARE * STALL_WINDOW.as_nanos() as f64 {
            return None;
        }
        let ended = self.until.load(Ordering::Relaxed);
        let pause = if st.last_pause != 0 && now.saturating_sub(ended) < RELAPSE.as_nanos() as u64 {
            (2 * st.last_pause).min(BACKOFF_MAX.as_nanos() as u64)
        } else {
            BACKOFF_MIN.as_nanos() as u64
        };
        st.debt = 0.0;
        st.last_pause = pause;
        self.until.store(now + pause, Ordering::Relaxed);
        Some(Duration::from_nanos(pause))
    }
}

const IDLE: usize = 0;
const SLEEPING: usize = 1;
const POSTED: usize = 2;

struct Worker {
    state: AtomicUsize,
    job: AtomicPtr<Job>,
    thread: OnceLock<Thread>,
}

impl Worker {
    fn post(&self, job: &Job) {
        self.job
            .store(job as *const Job as *mut Job, Ordering::Release);
        if self.state.swap(POSTED, Ordering::AcqRel) == SLEEPING {
            if let Some(t) = self.thread.get() {
                t.unpark();
            }
        }
    }

    fn run(&self) {
        loop {
            self.await_job();
            // SAFETY: `post` stored a job that stays alive until `pending` is decremented
            // below (see `for_each_part`).
            let job = unsafe { &*self.job.load(Ordering::Acquire) };
            job.work();
            // IDLE before `pending`: once the caller sees pending == 0 it may post again.
            self.state.store(IDLE, Ordering::Release);
            job.pending.fetch_sub(1, Ordering::Release);
        }
    }

    fn await_job(&self) {
        let start = Instant::now();
        let mut spins = 0u32;
        while self.state.load(Ordering::Acquire) != POSTED {
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(1024)
                && start.elapsed() > SPIN
                && self
                    .state
                    .compare_exchange(IDLE, SLEEPING, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                // `post` swaps in POSTED and unparks; park's token makes a wake-up between
                // the exchange and `park` not lost.
                while self.state.load(Ordering::Acquire) != POSTED {
                    thread::park();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn every_part_runs_exactly_once_for_any_thread_count() {
        for threads in [0, 1, 2, 3, 8] {
            for parts in [0, 1, 2, 5, 64] {
                let hits: Vec<AtomicU64> = (0..parts).map(|_| AtomicU64::new(0)).collect();
                for_each_part(parts, threads, &|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
            }
        }
    }

    #[test]
    fn chunks_cover_the_slice_with_their_indices() {
        let mut v = vec![0usize; 103];
        for_each_chunk_mut(&mut v, 10, 2, |i, c| {
            for (j, x) in c.iter_mut().enumerate() {
                *x = i * 10 + j;
            }
        });
        assert_eq!(v, (0..103).collect::<Vec<_>>());
    }

    #[test]
    fn ranges_cover_the_items_aligned_with_their_first_index() {
        for (items, threads) in [(25, 2), (7, 3), (1, 2), (100, 1), (9, 16)] {
            let mut v = vec![usize::MAX; items * 3];
            for_each_range_mut(&mut v, 3, 2, threads, |first, range| {
                assert!(first % 2 == 0 || threads == 1);
                for (j, x) in range.iter_mut().enumerate() {
                    *x = first * 3 + j;
                }
            });
            assert_eq!(
                v,
                (0..items * 3).collect::<Vec<_>>(),
                "{items} items, {threads} threads"
            );
        }
    }

    #[test]
    fn chunk_pairs_are_split_alike() {
        let (mut a, mut b) = (vec![0usize; 30], vec![0usize; 10]);
        for_each_chunk_pair_mut(&mut a, 6, &mut b, 2, 2, |i, x, y| {
            x.fill(i);
            y.fill(i);
        });
        assert_eq!(a, (0..30).map(|j| j / 6).collect::<Vec<_>>());
        assert_eq!(b, (0..10).map(|j| j / 2).collect::<Vec<_>>());
    }

    #[test]
    fn a_nested_or_concurrent_call_runs_serially_and_completes() {
        let total = AtomicU64::new(0);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                thread::spawn(|| {
                    let sum = AtomicU64::new(0);
                    for_each_part(8, 2, &|i| {
                        for_each_part(4, 2, &|j| {
                            sum.fetch_add((i * 4 + j) as u64, Ordering::Relaxed);
                        });
                    });
                    sum.load(Ordering::Relaxed)
                })
            })
            .collect();
        for h in handles {
            total.fetch_add(h.join().unwrap(), Ordering::Relaxed);
        }
        assert_eq!(total.load(Ordering::Relaxed), 4 * (0..32).sum::<u64>());
    }

    #[test]
    fn a_panicking_part_is_re_raised_after_the_others_finish() {
        let done = AtomicU64::new(0);
        let r = catch_unwind(AssertUnwindSafe(|| {
            for_each_part(6, 2, &|i| {
                if i == 3 {
                    panic!("part 3 failed");
                }
                done.fetch_add(1, Ordering::Relaxed);
            })
        }));
        let msg = r.unwrap_err();
        assert_eq!(msg.downcast_ref::<&str>(), Some(&"part 3 failed"));
        assert_eq!(done.load(Ordering::Relaxed), 5);
        // The team still works afterwards.
        let n = AtomicU64::new(0);
        for_each_part(10, 2, &|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 10);
    }

    #[test]
    fn occasional_stalls_do_not_pause_the_team() {
        let ms = |m: u64| m * 1_000_000;
        let b = Backoff::default();
        assert!(!b.active(0));
        // A VM's hiccups: 4 ms, every 200 ms.
        for i in 1..50 {
            assert_eq!(b.on_stall(ms(200 * i), Duration::from_millis(4)), None);
        }
        assert!(!b.active(ms(10_000)));
    }

    #[test]
    fn frequent_stalls_pause_the_team_for_longer_and_longer() {
        let ms = |m: u64| m * 1_000_000;
        let b = Backoff::default();
        let stall = Duration::from_millis(4);
        // A neighbour's time slices: a 4 ms stall every 5 ms. The decayed sum passes
        // 10 ms (a tenth of 100 ms) at the third.
        assert_eq!(b.on_stall(ms(1000), stall), None);
        assert_eq!(b.on_stall(ms(1005), stall), None);
        assert_eq!(b.on_stall(ms(1010), stall), Some(BACKOFF_MIN));
        assert!(b.active(ms(1019)) && !b.active(ms(1020)));
        // The neighbour is still there when each pause ends: each pause doubles, up to the cap.
        let mut now = ms(1020);
        let mut want = BACKOFF_MIN;
        for _ in 0..10 {
            want = (want * 2).min(BACKOFF_MAX);
            assert_eq!(b.on_stall(now, stall), None);
            assert_eq!(b.on_stall(now + ms(5), stall), None);
            assert_eq!(b.on_stall(now + ms(10), stall), Some(want));
            now += ms(10) + want.as_nanos() as u64;
        }
        assert_eq!(want, BACKOFF_MAX);
        // Frequent stalls again, long after the last pause: the shortest pause.
        let later = now + ms(10_000);
        assert_eq!(b.on_stall(later, stall), None);
        assert_eq!(b.on_stall(later + ms(5), stall), None);
        assert_eq!(b.on_stall(later + ms(10), stall), Some(BACKOFF_MIN));
    }

    #[test]
    fn a_worker_that_stalls_a_loop_is_detected_and_the_results_stay_whole() {
        if cores() < 2 {
            eprintln!("skipped: one core, no worker to stall");
            return;
        }
        let caller = thread::current().id();
        // The worker's part sleeps (as if preempted) after the caller's part saw it start;
        // another test may hold the team (then this loop runs serially): try a few times.
        for _ in 0..20 {
            let before = STALLS.load(Ordering::Relaxed);
            let started = AtomicU64::new(0);
            let done = AtomicU64::new(0);
            for_each_part(2, 2, &|_| {
                if thread::current().id() == caller {
                    let t = Instant::now();
                    while started.load(Ordering::Acquire) == 0 && t.elapsed() < SPIN {
                        std::hint::spin_loop();
                    }
                } else {
                    started.store(1, Ordering::Release);
                    thread::sleep(STALL * 20);
                }
                done.fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!(done.load(Ordering::Relaxed), 2);
            if STALLS.load(Ordering::Relaxed) > before {
                return;
            }
            thread::sleep(BACKOFF_MAX);
        }
        panic!(
            "a worker sleeping {:?} in its part was never seen as a stall",
            STALL * 20
        );
    }

    #[test]
    fn a_worker_that_parked_is_woken_by_the_next_job() {
        let n = AtomicU64::new(0);
        for_each_part(4, 2, &|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        thread::sleep(SPIN * 3);
        for_each_part(4, 2, &|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 8);
    }
}
