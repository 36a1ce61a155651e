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

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, TryLockError};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long an idle worker spins before it parks. Longer than the gap between two layers of a
/// frame (a few µs of layout ops, up to ~0.3 ms for the float head), short enough that a
/// stream's idle time between frames is not burnt.
pub const SPIN: Duration = Duration::from_micros(2000);

/// Runs `f(i)` for every `i < parts`, spread over up to `threads` threads (the caller and
/// `threads - 1` workers of the team; `0` = every core). Returns when all parts are done. A
/// panic in a part is re-raised here after the other parts ran (on any path, serial too).
pub fn for_each_part(parts: usize, threads: usize, f: &(dyn Fn(usize) + Sync)) {
    let threads = resolve(threads).min(parts);
    let team = (threads > 1).then(Team::get);
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
    job.work();
    job.wait();
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

    /// Waits for the helpers (their parts are short: spin, then yield).
    fn wait(&self) {
        let mut spins = 0u32;
        while self.pending.load(Ordering::Acquire) != 0 {
            if spins < 1 << 16 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                thread::yield_now();
            }
        }
    }
}

struct Team {
    lock: Mutex<()>,
    workers: Vec<Arc<Worker>>,
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
            }
        })
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
