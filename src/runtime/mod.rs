//! The runtime: worker threads per core class, per-lane queues with work stealing, the
//! idle / wake protocol, `block_on`, shutdown and metrics.
//!
//! How work flows:
//! - a task's [`Qos`] puts it in a [`Lane`]; the lane decides which workers may poll it
//!   (see [`policy`] for the table and the fairness bound);
//! - a task woken on a worker that may run its lane goes to that worker's LIFO slot
//!   (polled next; capped at [`MAX_LIFO_STREAK`] in a row); a task spawned there, or one
//!   that yielded, goes to the back of the worker's queue for the lane; anywhere else (a
//!   foreign thread, or a worker of the wrong class) it goes to the lane's shared injector.
//!   After a task yields or wakes itself during its own poll the worker's next search looks
//!   at the injectors first;
//! - an idle worker looks at its lanes in order (own queue, then injector), then steals
//!   half of a peer's queue for a lane it may run, then sleeps; one sleeper is woken per
//!   unit of new work, none while a worker that may run it is already searching, and none
//!   for a yield on a worker of the lane's first choice that sees no other work
//!   ([`policy::wakes_a_peer`]).

mod block_on;
mod blocking;
mod builder;
mod context;
mod cpu_watch;
mod escalate;
mod held_refs;
mod idle;
mod lend;
mod metrics;
mod monitor;
mod parker;
pub mod policy;
mod registry;
mod shared;
mod stuck;
mod task_refs;
#[cfg(feature = "tokio")]
mod tokio_context;
mod worker;

/// Hooks for the loom models in `loom-tests/` (built only with `--cfg loom`; not public API).
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    use super::Runtime;

    pub use crate::task::loom_hooks as raw_task;

    /// Times the runtime's workers went to sleep (committed to park), summed over workers.
    pub fn parks(rt: &Runtime) -> u64 {
        rt.handle
            .shared
            .workers
            .iter()
            .map(|w| w.counters.parks.get())
            .sum()
    }

    /// One worker's published poll for the stuck-poll watchdog (`runtime/stuck.rs`).
    #[derive(Default)]
    pub struct PollRecord(super::stuck::PollRecord);

    impl PollRecord {
        /// The worker starts a poll (of a Default task, never reported before).
        pub fn begin(&self) {
            self.0.begin(super::Lane::Default, false)
        }
        /// The worker's poll ends: true if the watchdog reported it (the task gets marked).
        pub fn end(&self) -> bool {
            self.0.end()
        }
        /// The watchdog's look: the number of the poll running now.
        pub fn sample(&self) -> Option<usize> {
            self.0.sample().map(|running| running.poll)
        }
        /// The watchdog claims poll `poll`: true if it may call the hook.
        pub fn claim(&self, poll: usize) -> bool {
            self.0.claim(poll)
        }
    }

    /// A value whose tasks reference it through counted task references
    /// (`runtime/task_refs.rs`): they hold one strong reference together. `dropped` is set
    /// when the value is dropped; its `Drop` also writes a loom-tracked cell that every
    /// task reference's holder reads, so a drop that does not happen after every holder's
    /// last read is a causality violation.
    pub struct TaskRefOwner {
        refs: super::task_refs::TaskRefs,
        data: loom::cell::UnsafeCell<usize>,
        dropped: crate::loom::sync::Arc<crate::loom::sync::atomic::AtomicBool>,
    }

    impl super::task_refs::TaskOwner for TaskRefOwner {
        fn task_refs(&self) -> &super::task_refs::TaskRefs {
            &self.refs
        }
    }

    impl Drop for TaskRefOwner {
        fn drop(&mut self) {
            // SAFETY: loom checks that no read of the cell races with this write.
            self.data.with_mut(|data| unsafe { *data = 0 });
            let was = self.dropped.swap(true, std::sync::atomic::Ordering::SeqCst);
            assert!(!was, "the owner was dropped twice");
        }
    }

    impl TaskRefOwner {
        /// An owner that sets `dropped` when it is dropped.
        pub fn new(
            dropped: crate::loom::sync::Arc<crate::loom::sync::atomic::AtomicBool>,
        ) -> TaskRefOwner {
            TaskRefOwner {
                refs: Default::default(),
                data: loom::cell::UnsafeCell::new(1),
                dropped,
            }
        }

        /// Read the owner's data, as a task's code reads its runtime.
        pub fn read(&self) -> usize {
            // SAFETY: loom checks that no write of the cell races with this read.
            self.data.with(|data| unsafe { *data })
        }
    }

    /// One task's reference to a [`TaskRefOwner`].
    pub struct TaskRef(super::task_refs::OwnerRef<TaskRefOwner>);

    impl TaskRef {
        /// A new task reference (the caller holds a strong reference, as a spawner does).
        pub fn new(owner: &crate::loom::sync::Arc<TaskRefOwner>) -> TaskRef {
            TaskRef(super::task_refs::OwnerRef::new(owner))
        }
        /// The owner, as the task reaches it.
        pub fn owner(&self) -> &TaskRefOwner {
            self.0.get()
        }
        /// A strong reference to the owner taken through the task's (`OwnerRef::to_arc`).
        pub fn to_arc(&self) -> crate::loom::sync::Arc<TaskRefOwner> {
            self.0.to_arc()
        }
        /// Give this reference back in a batch with `others` (as a worker does): one update.
        pub fn release_with(self, others: Vec<TaskRef>) {
            let n = 1 + others.len();
            let owner = self.0.into_counted();
            for other in others {
                assert!(std::ptr::eq(other.0.into_counted(), owner), "another owner");
            }
            // SAFETY: `n` counted references to `owner`, each given back once, here.
            unsafe { super::task_refs::release(owner, n) };
        }
    }

    /// One E worker's side of CPU lending (`runtime/lend.rs`), with a stand-in OS thread
    /// (under loom nothing is really moved; the lock's state is the affinity).
    pub struct Loan(super::lend::Loan);

    impl Default for Loan {
        fn default() -> Self {
            let loan = super::lend::Loan::default();
            loan.set_thread(crate::sys::OsThread(0));
            Loan(loan)
        }
    }

    impl Loan {
        /// The E worker starts a poll.
        pub fn begin_poll(&self) {
            self.0.begin_poll()
        }
        /// The E worker's poll ends.
        pub fn end_poll(&self) {
            self.0.end_poll(&[0, 1])
        }
        /// The poll a would-be lender sees running.
        pub fn running_poll(&self) -> Option<usize> {
            self.0.running_poll()
        }
        /// Worker `lender` lends its CPUs to poll `poll`; whether the loan stands.
        pub fn lend(&self, poll: usize, lender: usize) -> bool {
            self.0.lend(poll, lender, &[0], &[0, 1])
        }
        /// The lender woke: it takes its CPUs back.
        pub fn take_back(&self, lender: usize) {
            self.0.take_back(Some(lender), &[0, 1])
        }
        /// Is the thread on a lender's CPUs now?
        pub fn is_lent(&self) -> bool {
            self.0.is_lent()
        }
        /// The E worker goes to sleep (false) or wakes (true).
        pub fn set_awake(&self, awake: bool) {
            self.0.set_awake(awake)
        }
    }

    /// The CPU watch's published set (`runtime/cpu_watch.rs`): the monitor publishes, a
    /// worker follows.
    pub struct CpuWatch(super::cpu_watch::CpuWatch);

    impl Default for CpuWatch {
        fn default() -> Self {
            CpuWatch(super::cpu_watch::CpuWatch::new(std::time::Duration::ZERO))
        }
    }

    impl CpuWatch {
        /// The monitor saw `allowed`: true if that was a change (the first look is not).
        pub fn publish(&self, allowed: Vec<usize>) -> bool {
            self.0.publish(allowed)
        }
        /// A worker's look: the set, if it changed since the epoch in `seen`.
        pub fn follow(&self, seen: &std::cell::Cell<usize>) -> Option<Vec<usize>> {
            self.0.follow(seen)
        }
    }

    /// A lending P worker's side of the blind-sleep handshake.
    #[derive(Default)]
    pub struct Lender(super::lend::Lender);

    impl Lender {
        /// Going to sleep: blind (true) if no E worker in `loans` is awake.
        pub fn sleeps_blind(&self, loans: &[&Loan]) -> bool {
            self.0.sleeps_blind(loans.iter().map(|l| &l.0))
        }
        /// An E worker woke: must it unpark this lender?
        pub fn needs_nudge(&self) -> bool {
            self.0.needs_nudge()
        }
    }

    /// Workers on their role's sleeper list now: asleep (or committing to sleep) and not
    /// taken off by a notifier. A worker woken counts its unpark before it can be listed
    /// again, so once every worker is listed the unpark counts are final.
    pub fn listed_sleepers(rt: &Runtime) -> usize {
        let shared = &rt.handle.shared;
        (0..shared.workers.len())
            .filter(|&i| shared.idle.is_sleeper(i, shared.workers[i].role))
            .count()
    }

    /// Times the runtime's workers were woken from sleep, summed over workers.
    pub fn unparks(rt: &Runtime) -> u64 {
        rt.handle
            .shared
            .workers
            .iter()
            .map(|w| w.counters.unparks.get())
            .sum()
    }

    /// A timer driver (`time/driver.rs`) whose thread the model runs.
    pub struct TimerDriver(crate::time::driver::Driver);

    impl Default for TimerDriver {
        fn default() -> Self {
            TimerDriver(crate::time::driver::Driver::new())
        }
    }

    impl TimerDriver {
        /// The driver thread's body: returns after [`TimerDriver::stop`].
        pub fn run(&self) {
            self.0.run()
        }
        /// End `run`.
        pub fn stop(&self) {
            self.0.stop()
        }
        /// Set a timer for `deadline` that wakes `waker`.
        pub fn register(&self, deadline: std::time::Instant, waker: std::task::Waker) {
            self.0.register(deadline, waker);
        }
        /// Timers set and not yet fired.
        pub fn pending(&self) -> usize {
            self.0.pending()
        }
        /// `nanos` after the driver's start on the model's clock.
        pub fn at(&self, nanos: u64) -> std::time::Instant {
            self.0.at(nanos)
        }
        /// Move the model's clock to `nanos`: a sleep until then or earlier expires.
        pub fn advance(&self, nanos: u64) {
            self.0.advance(nanos)
        }
    }
}

pub use builder::{
    Builder, ConfigError, Pin, DEFAULT_BLOCKING_KEEP_ALIVE, DEFAULT_IDLE_SPIN,
    DEFAULT_MAX_BLOCKING_THREADS, ENV_CPU_CHECK_MS, ENV_CRITICAL_WORKERS, ENV_DRIVE_IO,
    ENV_E_WORKERS, ENV_IDLE_SPIN_US, ENV_LONG_POLL_MS, ENV_PIN, ENV_P_WORKERS, ENV_QOS_ESCALATION,
    ENV_QOS_HINTS, MAX_IDLE_SPIN, MAX_WORKERS_PER_CLASS,
};
pub use cpu_watch::DEFAULT_CPU_CHECK_INTERVAL;
pub(crate) use escalate::awaited;
pub use escalate::RESCUE_LIMIT;
pub use metrics::{
    BlockingMetrics, Hints, LaneMetrics, LatencyHistogram, RuntimeMetrics, WorkerMetrics,
    LATENCY_BUCKETS, LATENCY_SAMPLE_EVERY,
};
pub use policy::{
    Lane, WorkerRole, CRITICAL_POLL_LIMIT, FAIRNESS_BOUND, FAIR_INTERVAL, MAX_LIFO_STREAK,
};
pub use shared::BATCH_CHUNK;
pub(crate) use shared::{leave_registry, release_owner, task_ended, Shared};
pub use stuck::{LongPoll, DEFAULT_LONG_POLL_THRESHOLD};
pub(crate) use task_refs::OwnerRef;

use crate::loom::sync::Arc;
use crate::task::{JoinHandle, Qos};
use crate::topology::CoreClass;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin as StdPin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A running hetsched runtime: worker threads for performance and efficiency cores.
///
/// Dropping it shuts it down: workers stop after their current poll, every task's future
/// is dropped exactly once (queued, waiting on a waker, or running), queued blocking jobs
/// are cancelled, and the drop waits for the worker threads and for running blocking jobs
/// (which cannot be interrupted) to finish — like tokio's runtime drop. A blocking job that
/// never returns therefore holds the drop up for ever: [`Runtime::shutdown_timeout`]
/// bounds how long all of that may take. Dropped from inside one of its own tasks, the
/// runtime only signals shutdown and returns at once (a thread cannot wait for itself).
///
/// ```
/// use hetsched::{Qos, Runtime};
///
/// let rt = Runtime::new().unwrap(); // topology and settings from HETSCHED_* or detection
/// let answer = rt.block_on(async {
///     let urgent = hetsched::spawn_with(Qos::Interactive, async { 40 });
///     let batch = hetsched::spawn_with(Qos::Background, async { 2 });
///     urgent.await.unwrap() + batch.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
pub struct Runtime {
    handle: Handle,
    threads: Vec<crate::loom::thread::JoinHandle<()>>,
    shut_down: bool,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.handle.shared.workers.len())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime configured by the environment ([`Builder::from_env`]): detection plus the
    /// operator's `HETSCHED_*` variables. A malformed variable is an `InvalidInput` error
    /// naming it.
    pub fn new() -> io::Result<Runtime> {
        Builder::from_env()?.build()
    }

    pub(crate) fn from_parts(
        shared: Arc<Shared>,
        threads: Vec<crate::loom::thread::JoinHandle<()>>,
    ) -> Self {
        Runtime {
            handle: Handle { shared },
            threads,
            shut_down: false,
        }
    }

    /// Run `future` to completion on the calling thread, with this runtime entered (so
    /// [`spawn`] works inside it). Its panic, if any, reaches the caller.
    ///
    /// # Panics
    ///
    /// When called on a worker thread of any hetsched runtime (from inside a task): that
    /// would block the worker and can deadlock the runtime. Await instead.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Spawn a task. Its Qos is inherited from the calling task, or `Default` when called
    /// from outside any task (invariant 8).
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Spawn a task with an explicit Qos.
    pub fn spawn_with<F>(&self, qos: Qos, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn_with(qos, future)
    }

    /// Spawn a task with no [`JoinHandle`] (fire and forget); see
    /// [`Handle::spawn_detached`].
    pub fn spawn_detached<F>(&self, future: F)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn_detached(future)
    }

    /// Spawn many tasks at `qos` with one wake-up; see [`Handle::spawn_batch`].
    pub fn spawn_batch<I, F>(
        &self,
        qos: Qos,
        futures: I,
        handles: &mut impl Extend<JoinHandle<F::Output>>,
    ) where
        I: IntoIterator<Item = F>,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn_batch(qos, futures, handles)
    }

    /// Spawn many tasks at `qos` with one wake-up and no handles; see
    /// [`Handle::spawn_batch_detached`].
    pub fn spawn_batch_detached<I, F>(&self, qos: Qos, futures: I)
    where
        I: IntoIterator<Item = F>,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn_batch_detached(qos, futures)
    }

    /// Run a blocking function on the runtime's blocking pool; see [`spawn_blocking`].
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// A cheap, cloneable handle for spawning onto this runtime from anywhere.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// A snapshot of the runtime's metrics.
    pub fn metrics(&self) -> RuntimeMetrics {
        self.handle.shared.metrics()
    }

    /// Shut down, waiting at most `timeout` in all for workers to finish the poll they are
    /// in and for running blocking jobs to return. Workers still busy after that are left to
    /// exit on their own (their tasks are dropped when their poll returns), and so are
    /// blocking jobs still running; every other task's future is dropped before this
    /// returns.
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.shutdown(Some(timeout));
    }

    fn shutdown(&mut self, timeout: Option<Duration>) {
        if std::mem::replace(&mut self.shut_down, true) {
            return;
        }
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let on_own_worker =
            context::with_worker(|w| w.is_some_and(|c| c.belongs_to(&self.handle.shared)));
        self.handle.shared.begin_shutdown();
        if on_own_worker {
            // Dropped from one of its own tasks: this thread cannot wait for itself. Workers
            // exit after their current poll; the last one drops the remaining tasks.
            self.threads.clear();
            return;
        }
        if self.handle.shared.wait_for_workers(timeout) {
            for thread in self.threads.drain(..) {
                let _ = thread.join();
            }
        } else {
            self.threads.clear();
            self.handle.shared.drop_remaining_tasks();
        }
        // Running blocking jobs too, as tokio does: when the drop returns, no thread of this
        // runtime runs user code any more (a `main` that ends right after it would otherwise
        // cut a blocking write short). Not from a worker (returned above), and not for the
        // calling thread itself if it is a blocking job.
        self.handle.shared.blocking.wait_for_threads(deadline);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

/// A handle to a runtime: spawn onto it from any thread. Cloning is cheap.
///
/// ```
/// let rt = hetsched::Builder::new().build().unwrap();
/// let handle = rt.handle();
/// let task = std::thread::spawn(move || handle.spawn(async { 1 + 1 }))
///     .join()
///     .unwrap();
/// assert_eq!(rt.block_on(task).unwrap(), 2);
/// ```
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

/// Error from [`Handle::try_current`]: this thread is not inside a hetsched runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoRuntime(());

impl fmt::Display for NoRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "not inside a hetsched runtime: call this from a task or from Runtime::block_on, \
             or keep a Handle (Runtime::handle) and use it",
        )
    }
}

impl std::error::Error for NoRuntime {}

impl Handle {
    /// The runtime of the calling task (or of the enclosing `block_on`).
    ///
    /// # Panics
    ///
    /// Outside any hetsched runtime; see [`Handle::try_current`].
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(handle) => handle,
            Err(err) => panic!("hetsched::Handle::current: {err}"),
        }
    }

    /// The runtime of the calling task, or an error outside any runtime.
    pub fn try_current() -> Result<Handle, NoRuntime> {
        context::current_runtime()
            .map(|shared| Handle { shared })
            .ok_or(NoRuntime(()))
    }

    /// Spawn a task; its Qos is inherited from the calling task, or `Default`.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_here(None, |shared, core, qos| {
            Shared::spawn_from(shared, core, qos, future)
        })
    }

    /// Spawn a task with an explicit Qos.
    pub fn spawn_with<F>(&self, qos: Qos, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_here(Some(qos), |shared, core, qos| {
            Shared::spawn_from(shared, core, qos, future)
        })
    }

    /// Spawn a task with no [`JoinHandle`] (fire and forget), its Qos inherited from the
    /// calling task, or `Default`. The same task as `drop(handle.spawn(future))`, cheaper:
    /// no waker is made for a handle, and the task is detached before any worker can see
    /// it, so the spawning thread touches nothing a worker is touching (dropping a handle
    /// right after the spawn races the worker that already polls the task). Its output is
    /// dropped when it finishes; a panic in it is caught and dropped too. The closure-pool
    /// style of job (`pool.execute(job)`).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let rt = hetsched::Builder::new().build().unwrap();
    /// let done = Arc::new(AtomicUsize::new(0));
    /// for _ in 0..100 {
    ///     let done = done.clone();
    ///     rt.handle().spawn_detached(async move {
    ///         done.fetch_add(1, Ordering::Relaxed);
    ///     });
    /// }
    /// while done.load(Ordering::Relaxed) < 100 {
    ///     std::thread::yield_now();
    /// }
    /// ```
    pub fn spawn_detached<F>(&self, future: F)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_here(None, |shared, core, qos| {
            Shared::spawn_detached_from(shared, core, qos, future)
        })
    }

    /// [`spawn_detached`](Self::spawn_detached) with an explicit Qos.
    pub fn spawn_detached_with<F>(&self, qos: Qos, future: F)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_here(Some(qos), |shared, core, qos| {
            Shared::spawn_detached_from(shared, core, qos, future)
        })
    }

    /// Run `spawn` on this runtime, at `qos` or, if `None`, at the Qos a plain spawn
    /// inherits, from this thread's worker if it is one of this runtime's: the
    /// [`on_current`] of a handle (one thread-local read for the Qos and the worker).
    fn spawn_here<R>(
        &self,
        qos: Option<Qos>,
        spawn: impl FnOnce(&Arc<Shared>, Option<&worker::WorkerCore>, Qos) -> R,
    ) -> R {
        context::with_spawn_site(|inherited, worker| {
            spawn(
                &self.shared,
                self.shared.own(worker),
                qos.unwrap_or(inherited),
            )
        })
    }

    /// Spawn every future of `futures` at `qos` and add their [`JoinHandle`]s to `handles`,
    /// in order: for harnesses and fan-out. One wake-up serves the whole batch (the first
    /// worker to find the work wakes the next, so the batch spreads over idle workers one
    /// at a time) and the per-spawn bookkeeping is paid once; from one of this runtime's
    /// workers the tasks go to its own queue, where idle peers steal them. After shutdown the
    /// futures are dropped and their handles resolve to cancelled errors.
    ///
    /// Qos is explicit here; [`current_qos`]`().unwrap_or_default()` is what a plain
    /// [`spawn`](Self::spawn) would inherit.
    ///
    /// ```
    /// use hetsched::Qos;
    ///
    /// let rt = hetsched::Builder::new().build().unwrap();
    /// let mut handles = Vec::new();
    /// rt.handle().spawn_batch(Qos::Utility, (0..8u64).map(|i| async move { i * i }), &mut handles);
    /// let squares: Vec<u64> = handles.into_iter().map(|h| rt.block_on(h).unwrap()).collect();
    /// assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49]);
    /// ```
    pub fn spawn_batch<I, F>(
        &self,
        qos: Qos,
        futures: I,
        handles: &mut impl Extend<JoinHandle<F::Output>>,
    ) where
        I: IntoIterator<Item = F>,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut add = |handle| handles.extend(std::iter::once(handle));
        Shared::spawn_batch(&self.shared, qos, futures, Some(&mut add));
    }

    /// [`spawn_batch`](Self::spawn_batch) with no handles (fire and forget, as
    /// [`spawn_detached`](Self::spawn_detached)).
    ///
    /// From a thread outside the runtime, the futures are handed over in chunks of
    /// [`BATCH_CHUNK`] and the workers make the tasks: each chunk travels as one carrier task
    /// (in the batch's lane, so it runs where the batch's tasks may run) that spawns its
    /// futures from the worker running it. The calling thread then pays one task per chunk,
    /// not per future, and each task is allocated where it will run, in memory that worker's
    /// allocator just freed: measured 1.8x fewer ns per task than per-future spawning from
    /// outside (BENCHMARKS.md). Carriers are polled like any task (worker poll counts include
    /// them) but are not counted as spawned or completed tasks.
    ///
    /// ```
    /// use hetsched::Qos;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let rt = hetsched::Builder::new().build().unwrap();
    /// let done = Arc::new(AtomicUsize::new(0));
    /// let jobs = (0..1_000).map(|_| {
    ///     let done = done.clone();
    ///     async move { done.fetch_add(1, Ordering::Relaxed); }
    /// });
    /// rt.handle().spawn_batch_detached(Qos::Background, jobs);
    /// while done.load(Ordering::Relaxed) < 1_000 {
    ///     std::thread::yield_now();
    /// }
    /// ```
    pub fn spawn_batch_detached<I, F>(&self, qos: Qos, futures: I)
    where
        I: IntoIterator<Item = F>,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Shared::spawn_batch_detached(&self.shared, qos, futures);
    }

    /// Run a blocking function on the runtime's blocking pool; see [`spawn_blocking`].
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        Shared::spawn_blocking(&self.shared, f)
    }

    /// Run `future` to completion on the calling thread; see [`Runtime::block_on`].
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        block_on::block_on(&self.shared, future)
    }

    /// A snapshot of the runtime's metrics.
    pub fn metrics(&self) -> RuntimeMetrics {
        self.shared.metrics()
    }
}

/// Spawn a task onto the current runtime. Its Qos is inherited from the calling task
/// (as Swift tasks and GCD blocks do), or `Default` from `block_on`.
///
/// # Panics
///
/// Outside a hetsched runtime (use [`Handle::spawn`] there).
///
/// ```
/// use hetsched::Qos;
/// let rt = hetsched::Builder::new().build().unwrap();
/// let qos = rt.block_on(rt.spawn_with(Qos::Utility, async {
///     // A plain spawn inside a Utility task is Utility too.
///     hetsched::spawn(async { hetsched::current_qos() }).await.unwrap()
/// }));
/// assert_eq!(qos.unwrap(), Some(Qos::Utility));
/// ```
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    on_current(None, |shared, core, qos| {
        Shared::spawn_from(shared, core, qos, future)
    })
}

/// Run `spawn` on the current runtime, at `qos` or, if `None`, at the Qos a plain spawn
/// inherits: on one of its workers straight through the worker (no handle is made, so no
/// reference count is touched), elsewhere through [`Handle::current`] (which panics
/// outside any runtime).
fn on_current<R>(
    qos: Option<Qos>,
    spawn: impl FnOnce(&Arc<Shared>, Option<&worker::WorkerCore>, Qos) -> R,
) -> R {
    context::with_spawn_site(|inherited, worker| {
        let qos = qos.unwrap_or(inherited);
        match worker {
            // A worker's thread is entered in its own runtime (block_on, the only other way
            // to enter one, refuses to run on a worker), so its runtime is the current one.
            Some(core) => spawn(core.shared_arc(), Some(core), qos),
            None => spawn(&Handle::current().shared, None, qos),
        }
    })
}

/// Spawn a task with no [`JoinHandle`] onto the current runtime, its Qos inherited; see
/// [`Handle::spawn_detached`].
///
/// # Panics
///
/// Outside a hetsched runtime (use [`Handle::spawn_detached`] there).
pub fn spawn_detached<F>(future: F)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    on_current(None, |shared, core, qos| {
        Shared::spawn_detached_from(shared, core, qos, future)
    })
}

/// [`spawn_detached`] with an explicit Qos.
///
/// # Panics
///
/// Outside a hetsched runtime (use [`Handle::spawn_detached_with`] there).
pub fn spawn_detached_with<F>(qos: Qos, future: F)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    on_current(Some(qos), |shared, core, qos| {
        Shared::spawn_detached_from(shared, core, qos, future)
    })
}

/// Spawn a task with an explicit Qos onto the current runtime.
///
/// # Panics
///
/// Outside a hetsched runtime (use [`Handle::spawn_with`] there).
pub fn spawn_with<F>(qos: Qos, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    on_current(Some(qos), |shared, core, qos| {
        Shared::spawn_from(shared, core, qos, future)
    })
}

/// Run a blocking function (file I/O, DNS, compression, a C library) on the current
/// runtime's blocking pool, so it never holds up a worker; await the returned handle.
///
/// The pool is elastic: threads start on demand up to
/// [`Builder::max_blocking_threads`] (default 512), are not pinned and get no class QoS
/// hint — they start with the process's own placement, also when this is called on an
/// efficiency worker — and exit after [`Builder::blocking_keep_alive`] idle (default 10 s). Aborting the
/// handle before the job starts cancels it; a started job runs to completion. At runtime
/// shutdown queued jobs are dropped (their handles give a cancelled `JoinError`) and running
/// ones finish on their own threads; dropping the [`Runtime`] waits for them (bounded by
/// [`Runtime::shutdown_timeout`]).
///
/// # Panics
///
/// Outside a hetsched runtime (use [`Runtime::spawn_blocking`] or
/// [`Handle::spawn_blocking`] there).
///
/// ```
/// let rt = hetsched::Builder::new().build().unwrap();
/// let len = rt.block_on(async {
///     hetsched::spawn_blocking(|| std::fs::read_to_string("Cargo.toml").map(|s| s.len()))
///         .await
///         .unwrap()
/// });
/// assert!(len.unwrap() > 0);
/// ```
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    Handle::current().spawn_blocking(f)
}

/// The class of the worker polling the caller, or `None` outside a worker thread.
pub fn current_class() -> Option<CoreClass> {
    context::with_worker(|w| w.map(|core| core.class))
}

/// The Qos of the task being polled on this thread, or `None` outside a task.
pub fn current_qos() -> Option<Qos> {
    context::current_task_qos()
}

/// Yield to the scheduler: the task goes to the back of its worker's queue for its lane,
/// and the worker looks at the shared injectors first for its next task, so other tasks
/// get a turn.
///
/// A task that wakes itself during its poll any other way (a channel it both sends on and
/// awaits, a hand-written `wake_by_ref(); Poll::Pending`, or another library's
/// `yield_now`) keeps its place instead: it goes to its worker's LIFO slot, ahead of the
/// worker's own queue (at most [`MAX_LIFO_STREAK`] times in a row), but the worker still
/// looks at the injectors first, so work woken from outside (timers, I/O, other threads)
/// is not held back by a task that keeps waking itself.
///
/// ```
/// let rt = hetsched::Builder::new().build().unwrap();
/// rt.block_on(rt.spawn(async {
///     for _ in 0..3 {
///         hetsched::yield_now().await;
///     }
/// }))
/// .unwrap();
/// ```
pub async fn yield_now() {
    YieldNow { yielded: false }.await
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: StdPin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        if !context::request_yield(cx.waker()) {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::topology::Topology;

    /// The registry holds exactly the tasks that returned `Pending` and are not done yet: a
    /// task finishing in its first poll never enters it (no lock on its path), a waiting
    /// task does, and leaves once its future is dropped.
    #[test]
    fn only_waiting_tasks_are_in_the_registry() {
        let rt = Builder::new()
            .topology(Topology::uniform(1))
            .workers(CoreClass::Performance, 1)
            .pin(Pin::Off)
            .qos_hints(false)
            .build()
            .unwrap();
        let registry = &rt.handle.shared.registry;
        for _ in 0..100 {
            rt.block_on(rt.spawn(async {})).unwrap();
        }
        assert_eq!(registry.waiting(), 0, "a task done in one poll was entered");
        let (tx, rx) = futures::channel::oneshot::channel::<u32>();
        let waiter = rt.spawn(async move { rx.await.unwrap() });
        // Once it has waited, it is entered (polled on the worker: wait for that).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while registry.waiting() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the waiting task was never entered"
            );
            std::thread::yield_now();
        }
        assert_eq!(registry.waiting(), 1);
        tx.send(5).unwrap();
        assert_eq!(rt.block_on(waiter).unwrap(), 5);
        assert_eq!(
            registry.waiting(),
            0,
            "a finished task was left in the registry"
        );
    }
}
