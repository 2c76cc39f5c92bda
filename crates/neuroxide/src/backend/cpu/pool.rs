//! A small, allocation-free parallel-for for the CPU kernels.
//!
//! Why not rayon for kernels: a kernel call posts a job to rayon's pool, and rayon's job queues
//! (crossbeam's injector and workers' deques) allocate and free blocks as they fill and shrink:
//! measured here, 4 to 16 heap allocations per 1000 kernel calls. Neuroxide promises a training
//! step with *no* heap allocation after the first, so kernels use this pool instead: workers wait
//! on a condition variable, a job is a borrowed closure, and tasks are handed out through an
//! atomic counter. Parallelism is across independent outputs only, so which thread runs a task
//! never changes a result (PARITY.md rule 9).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// A borrowed job with its lifetime erased; only dereferenced while `run` is waiting for it.
#[derive(Clone, Copy)]
struct JobRef(*const (dyn Fn(usize) + Sync));
// SAFETY: the pointee is `Sync` and outlives every use (see `ThreadPool::run`).
unsafe impl Send for JobRef {}

/// How long a thread spins (checking an atomic) before it sleeps on the condition variable.
/// A training step launches kernels back to back; waking a sleeping thread costs tens of
/// microseconds of futex traffic per kernel, which spinning through the short gaps avoids.
const SPIN_ITERATIONS: u32 = 20_000;

struct Control {
    job: Option<JobRef>,
    tasks: usize,
    sleeping: usize,
    shutdown: bool,
}

struct Shared {
    control: Mutex<Control>,
    wake: Condvar,
    /// Bumped (under the lock) each time a job is published.
    generation: AtomicU64,
    /// Workers that finished the current job.
    finished: AtomicUsize,
    next_task: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Control> {
        // A poisoned lock can only come from a panicking task; the state itself stays valid.
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A fixed set of worker threads plus the calling thread.
pub struct ThreadPool {
    threads: usize,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl ThreadPool {
    /// A pool that runs tasks on `threads` threads in total (the caller is one of them).
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            control: Mutex::new(Control {
                job: None,
                tasks: 0,
                sleeping: 0,
                shutdown: false,
            }),
            wake: Condvar::new(),
            generation: AtomicU64::new(0),
            finished: AtomicUsize::new(0),
            next_task: AtomicUsize::new(0),
        });
        let workers = (1..threads)
            .map(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("neuroxide-cpu-{i}"))
                    .spawn(move || worker_loop(&shared))
                    .expect("failed to spawn a CPU worker thread")
            })
            .collect();
        ThreadPool {
            threads,
            shared,
            workers,
        }
    }

    /// Number of threads that run tasks (workers plus the caller).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f(0)`, `f(1)`, …, `f(tasks - 1)`, each exactly once, spread over the pool's threads,
    /// and returns when all have finished. Makes no heap allocation.
    pub fn run(&self, tasks: usize, f: &(dyn Fn(usize) + Sync)) {
        if self.threads == 1 || tasks <= 1 {
            (0..tasks).for_each(f);
            return;
        }
        // SAFETY: the lifetime is erased only for the duration of this call: we wait below until
        // every worker has reported that it no longer touches the job.
        let job: JobRef = JobRef(unsafe {
            std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static (dyn Fn(usize) + Sync)>(f)
        });
        let sleeping = {
            let mut c = self.shared.lock();
            c.job = Some(job);
            c.tasks = tasks;
            self.shared.finished.store(0, Ordering::SeqCst);
            self.shared.next_task.store(0, Ordering::SeqCst);
            self.shared.generation.fetch_add(1, Ordering::SeqCst);
            c.sleeping
        };
        if sleeping > 0 {
            self.shared.wake.notify_all();
        }
        run_tasks(&self.shared, f, tasks);
        let workers = self.threads - 1;
        let mut spins = 0u32;
        while self.shared.finished.load(Ordering::Acquire) < workers {
            if spins < SPIN_ITERATIONS {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        self.shared.lock().job = None;
    }
}

fn run_tasks(shared: &Shared, f: &(dyn Fn(usize) + Sync), tasks: usize) {
    loop {
        let i = shared.next_task.fetch_add(1, Ordering::SeqCst);
        if i >= tasks {
            break;
        }
        f(i);
    }
}

fn worker_loop(shared: &Shared) {
    let mut seen = 0u64;
    loop {
        // Spin briefly for the next job, then sleep until one is published.
        let mut spins = 0u32;
        while shared.generation.load(Ordering::Acquire) == seen && spins < SPIN_ITERATIONS {
            spins += 1;
            std::hint::spin_loop();
        }
        let (job, tasks) = {
            let mut c = shared.lock();
            while shared.generation.load(Ordering::SeqCst) == seen && !c.shutdown {
                c.sleeping += 1;
                c = shared.wake.wait(c).unwrap_or_else(|e| e.into_inner());
                c.sleeping -= 1;
            }
            if c.shutdown {
                return;
            }
            seen = shared.generation.load(Ordering::SeqCst);
            (c.job, c.tasks)
        };
        if let Some(job) = job {
            // SAFETY: `run` keeps the closure alive until every worker has reported below.
            let f = unsafe { &*job.0 };
            run_tasks(shared, f, tasks);
        }
        shared.finished.fetch_add(1, Ordering::Release);
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// A raw pointer to an output slice that tasks write disjoint parts of.
#[derive(Clone, Copy)]
pub struct SharedMut<'a> {
    ptr: *mut f32,
    len: usize,
    _borrow: std::marker::PhantomData<&'a mut [f32]>,
}
// SAFETY: users only create disjoint sub-slices from different tasks (see `slice`).
unsafe impl Send for SharedMut<'_> {}
unsafe impl Sync for SharedMut<'_> {}

impl<'a> SharedMut<'a> {
    /// Wraps an output slice.
    pub fn new(s: &'a mut [f32]) -> Self {
        SharedMut {
            ptr: s.as_mut_ptr(),
            len: s.len(),
            _borrow: std::marker::PhantomData,
        }
    }
    /// The sub-slice `start..start + len`.
    ///
    /// # Safety
    /// Tasks running at the same time must ask for disjoint ranges, and the wrapped slice must
    /// outlive the returned one.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, start: usize, len: usize) -> &'a mut [f32] {
        assert!(start + len <= self.len, "SharedMut range out of bounds");
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

/// Splits `out` (`rows` rows of `row_len` values) into contiguous row blocks and calls
/// `f(first_row, block)` for each block in parallel. Each output row is written by one task.
pub fn par_rows(
    pool: &ThreadPool,
    out: &mut [f32],
    rows: usize,
    row_len: usize,
    f: &(dyn Fn(usize, &mut [f32]) + Sync),
) {
    let work = rows * row_len;
    // Below ~16k values the synchronisation costs more than the work.
    let tasks = if work < 16 * 1024 {
        1
    } else {
        (pool.threads() * 4).min(rows).max(1)
    };
    if tasks == 1 {
        f(0, &mut out[..work]);
        return;
    }
    let per = rows.div_ceil(tasks);
    let shared = SharedMut::new(&mut out[..work]);
    pool.run(tasks, &|t| {
        let r0 = t * per;
        if r0 >= rows {
            return;
        }
        let r1 = (r0 + per).min(rows);
        // SAFETY: tasks get disjoint row ranges of `out`, which outlives `pool.run`.
        let block = unsafe { shared.slice(r0 * row_len, (r1 - r0) * row_len) };
        f(r0, block);
    });
}
