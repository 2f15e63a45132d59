//! The runtimes under test behind two small traits, so each workload is written once for
//! async runtimes (hetsched, tokio) and once for closure pools (plain pool, `threadpool`,
//! rayon) and every runtime runs the very same code.

use super::plain_pool::{PlainPool, PlainPoolHandle};
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex};

/// How long one benchmark run may take before it is declared stalled.
pub const STALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Counts down to zero; the thread that takes it to zero wakes the waiter. Every runtime
/// signals completion this same way.
pub struct Latch {
    remaining: std::sync::atomic::AtomicUsize,
    done: Mutex<bool>,
    signal: Condvar,
}

impl Latch {
    /// A latch that opens after `n` count-downs.
    pub fn new(n: usize) -> Arc<Latch> {
        Arc::new(Latch {
            remaining: std::sync::atomic::AtomicUsize::new(n),
            done: Mutex::new(n == 0),
            signal: Condvar::new(),
        })
    }

    /// One unit done.
    #[inline]
    pub fn count_down(&self) {
        if self
            .remaining
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            == 1
        {
            *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
            self.signal.notify_all();
        }
    }

    /// Block until the count reached zero. A run that has not finished after
    /// [`STALL_LIMIT`] is a lost task or a starving scheduler: say so and exit with status 3
    /// rather than hang a CI job for ever.
    pub fn wait(&self) {
        let deadline = std::time::Instant::now() + STALL_LIMIT;
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            let now = std::time::Instant::now();
            if now >= deadline {
                eprintln!(
                    "benchmark run stalled: {} of its tasks unfinished after {} s \
                     (a lost task or a starving scheduler)",
                    self.remaining.load(std::sync::atomic::Ordering::Acquire),
                    STALL_LIMIT.as_secs()
                );
                std::process::exit(3);
            }
            done = self
                .signal
                .wait_timeout(done, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// An async runtime: spawn from outside (a handle on a foreign thread) and from inside a
/// task (the free function the runtime offers there), and its `yield_now`.
pub trait AsyncRt: Sync {
    /// Spawn from a thread that is not one of the runtime's workers.
    fn spawn_outside<F: Future<Output = ()> + Send + 'static>(&self, fut: F);
    /// Submit a job from outside with no handle wanted (a closure pool's `execute`): the
    /// runtime's fire-and-forget spawn where it has one (hetsched's `spawn_detached`),
    /// else a spawn whose handle is dropped at once (tokio's idiom).
    fn spawn_job_outside<F: Future<Output = ()> + Send + 'static>(&self, fut: F) {
        self.spawn_outside(fut)
    }
    /// Submit many jobs from outside, no handles wanted: the runtime's batch spawn where it
    /// has one (hetsched's `spawn_batch_detached`), else one by one.
    fn spawn_jobs_outside<F, I>(&self, jobs: I)
    where
        F: Future<Output = ()> + Send + 'static,
        I: IntoIterator<Item = F>,
    {
        for job in jobs {
            self.spawn_job_outside(job);
        }
    }
    /// Spawn from inside a task of this runtime.
    fn spawn_inside<F: Future<Output = ()> + Send + 'static>(fut: F);
    /// From this thread, outside the runtime: `block_on` a future that spawns `n` tasks
    /// one after another, awaiting each before the next (what a `main` on the runtime does).
    fn spawn_and_await_from_block_on(&self, n: usize);
    /// The runtime's own yield.
    fn yield_now() -> impl Future<Output = ()> + Send;
}

impl AsyncRt for hetsched::Runtime {
    fn spawn_outside<F: Future<Output = ()> + Send + 'static>(&self, fut: F) {
        drop(self.spawn(fut));
    }
    fn spawn_job_outside<F: Future<Output = ()> + Send + 'static>(&self, fut: F) {
        self.spawn_detached(fut);
    }
    fn spawn_jobs_outside<F, I>(&self, jobs: I)
    where
        F: Future<Output = ()> + Send + 'static,
        I: IntoIterator<Item = F>,
    {
        self.spawn_batch_detached(hetsched::Qos::Default, jobs);
    }
    fn spawn_inside<F: Future<Output = ()> + Send + 'static>(fut: F) {
        drop(hetsched::spawn(fut));
    }
    fn spawn_and_await_from_block_on(&self, n: usize) {
        self.block_on(async {
            for i in 0..n {
                let done = hetsched::spawn(async move { i }).await;
                assert_eq!(done.ok(), Some(i), "a spawned task was lost");
            }
        });
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        hetsched::yield_now()
    }
}

impl AsyncRt for tokio::runtime::Runtime {
    fn spawn_outside<F: Future<Output = ()> + Send + 'static>(&self, fut: F) {
        drop(self.spawn(fut));
    }
    fn spawn_inside<F: Future<Output = ()> + Send + 'static>(fut: F) {
        drop(tokio::spawn(fut));
    }
    fn spawn_and_await_from_block_on(&self, n: usize) {
        self.block_on(async {
            for i in 0..n {
                let done = tokio::spawn(async move { i }).await;
                assert_eq!(done.ok(), Some(i), "a spawned task was lost");
            }
        });
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }
}

/// A pool of threads running boxed closures; cloneable so jobs can submit jobs.
pub trait ClosurePool: Clone + Send + Sync + 'static {
    /// Queue `job`.
    fn execute<J: FnOnce() + Send + 'static>(&self, job: J);
}

impl ClosurePool for PlainPoolHandle {
    fn execute<J: FnOnce() + Send + 'static>(&self, job: J) {
        PlainPoolHandle::execute(self, job)
    }
}

impl ClosurePool for threadpool::ThreadPool {
    fn execute<J: FnOnce() + Send + 'static>(&self, job: J) {
        threadpool::ThreadPool::execute(self, job)
    }
}

/// `rayon::ThreadPool::spawn` (from a worker of the pool it pushes to that worker's deque).
#[derive(Clone)]
pub struct RayonPool(pub Arc<rayon::ThreadPool>);

impl ClosurePool for RayonPool {
    fn execute<J: FnOnce() + Send + 'static>(&self, job: J) {
        self.0.spawn(job)
    }
}

/// Which runtime a result belongs to; the names are the JSON contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// hetsched, configured by the caller.
    Hetsched,
    /// [`PlainPool`].
    PlainPool,
    /// The `threadpool` crate.
    ThreadPool,
    /// tokio's multi-thread runtime.
    Tokio,
    /// `rayon::ThreadPool::spawn`.
    Rayon,
}

impl Kind {
    /// Every runtime, in table order.
    pub const ALL: [Kind; 5] = [
        Kind::Hetsched,
        Kind::PlainPool,
        Kind::ThreadPool,
        Kind::Tokio,
        Kind::Rayon,
    ];

    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Hetsched => "hetsched",
            Kind::PlainPool => "plain_pool",
            Kind::ThreadPool => "threadpool",
            Kind::Tokio => "tokio",
            Kind::Rayon => "rayon",
        }
    }
}

/// One instance of every runtime, each with the same number of worker threads.
pub struct Runtimes {
    /// Worker threads per runtime.
    pub workers: usize,
    /// hetsched.
    pub hetsched: hetsched::Runtime,
    /// The plain pool.
    pub plain: PlainPool,
    /// The `threadpool` crate.
    pub threadpool: threadpool::ThreadPool,
    /// tokio multi-thread.
    pub tokio: tokio::runtime::Runtime,
    /// rayon.
    pub rayon: RayonPool,
}

impl Runtimes {
    /// Start the other runtimes with as many workers as `hetsched` has.
    pub fn new(hetsched: hetsched::Runtime) -> std::io::Result<Runtimes> {
        let workers = hetsched.metrics().workers.len().max(1);
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_time()
            .build()?;
        let rayon = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Runtimes {
            workers,
            hetsched,
            plain: PlainPool::new(workers)?,
            threadpool: threadpool::ThreadPool::new(workers),
            tokio,
            rayon: RayonPool(Arc::new(rayon)),
        })
    }
}
