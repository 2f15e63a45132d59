//! State shared by a runtime's workers, handles and tasks: queues, the idle protocol, the
//! task registry, metrics, and the shutdown flag. Spawning and scheduling live here.

use super::blocking::BlockingPool;
use super::context;
use super::cpu_watch::{CpuWatch, Placed};
use super::idle::Idle;
use super::lend::{Lender, Loan};
use super::metrics::{self, ExternalCounters, RuntimeMetrics, WorkerCounters, WorkerInfo};
use super::parker::Parker;
use super::policy::{self, Lane, Placement, Readiness, WorkerRole, LANES};
use super::registry::Registry;
use super::stuck::{self, LaneLongPolls, PollRecord, WatchdogConfig};
use super::task_refs::{OwnerRef, TaskOwner, TaskRefs};
use super::worker::WorkerCore;
use crate::loom::deque::{Injector, Stealer};
use crate::loom::sync::atomic::{fence, AtomicBool, AtomicUsize};
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::loom::untracked;
use crate::task::{spawn_raw, spawn_raw_detached, JoinHandle, Qos, TaskHeader};
use crate::topology::CoreClass;
use crossbeam_utils::CachePadded;
use std::future::Future;
use std::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};
use std::time::{Duration, Instant};

pub(crate) type Task = crate::task::Runnable;

/// Where [`Shared::place`] queued a task, as far as waking workers is concerned.
#[derive(Clone, Copy)]
enum Queued {
    /// Nowhere another worker may take it from (the LIFO slot), or in the placing worker's
    /// own queue as a yield that worker's next search finds, the only work it sees
    /// (`policy::wakes_a_peer`): nobody to wake.
    Here,
    /// In the placing worker's own queue for the lane (stealable).
    Local(Lane),
    /// In the lane's injector.
    Injected(Lane),
}

/// What [`Shared::finish_placing`] still has to do for one or more placements.
#[derive(Clone, Copy, Default)]
struct Wakeups {
    /// Lanes that got work other workers may take (bit `Lane::index`).
    lanes: u8,
    /// Something went into an injector: re-check shutdown.
    injected: bool,
}

impl Wakeups {
    fn add(&mut self, placed: Queued) {
        match placed {
            Queued::Here => {}
            Queued::Local(lane) => self.lanes |= 1 << lane.index(),
            Queued::Injected(lane) => {
                self.lanes |= 1 << lane.index();
                self.injected = true;
            }
        }
    }
}

/// The end of a batch spawn (`Shared::spawn_batch_inner`): counts a worker's spawns and
/// wakes workers for what was placed, when dropped.
struct BatchEnd<'a> {
    shared: &'a Shared,
    core: Option<&'a WorkerCore>,
    lane: Lane,
    /// Spawned by `core` and not counted yet (spawns from outside are counted one by one).
    spawned: u64,
    placed: Wakeups,
}

impl Drop for BatchEnd<'_> {
    fn drop(&mut self) {
        if self.spawned > 0 {
            self.shared
                .count_spawned(self.core, self.lane, self.spawned);
        }
        self.shared.finish_placing(self.placed);
    }
}

/// What other threads may see of one worker.
pub(crate) struct WorkerSlot {
    pub(crate) name: String,
    pub(crate) class: CoreClass,
    /// What it is for (a critical worker's class is Performance: it runs on the P CPUs).
    pub(crate) role: WorkerRole,
    /// CPUs this worker is pinned to (empty: not pinned).
    pub(crate) cpus: Vec<usize>,
    /// Runs at the lowest OS priority (a spilling E worker, `policy::thread_placement`).
    pub(crate) idle_priority: bool,
    /// Runs at a raised OS priority (a critical worker, `policy::critical_placement`).
    pub(crate) raised_priority: bool,
    /// Steal ends of the worker's per-lane queues (`None` for lanes it may not run).
    pub(crate) stealers: [Option<Stealer<Task>>; LANES],
    pub(crate) parker: Parker,
    pub(crate) counters: WorkerCounters,
    /// A P worker that lends its CPUs to E workers in long polls when idle
    /// (`policy::lends_cpus`); `None` for the others.
    pub(crate) lender: Option<Lender>,
    /// An E worker that may be lent CPUs (`runtime/lend.rs`); `None` for the others.
    pub(crate) loan: Option<Loan>,
    /// The poll this worker is in, for the stuck-poll watchdog (`runtime/stuck.rs`).
    pub(crate) polls: PollRecord,
    /// Where it runs after a change of the allowed CPUs (`runtime/cpu_watch.rs`).
    pub(crate) placed: Mutex<Placed>,
}

pub(crate) struct Shared {
    pub(crate) injectors: [Injector<Task>; LANES],
    /// One slot per worker, each on cache lines of its own: a worker writes its slot's
    /// counters and poll record at every poll, and a neighbour's writes must not evict
    /// what it reads of its own.
    pub(crate) workers: Box<[CachePadded<WorkerSlot>]>,
    pub(crate) idle: Idle,
    pub(crate) registry: Registry,
    /// Its tasks' references to it, which together hold one strong reference
    /// (`runtime/task_refs.rs`). On a cache line of its own: every spawn updates it, and
    /// its neighbours are read by every worker's search.
    task_refs: CachePadded<TaskRefs>,
    pub(crate) blocking: BlockingPool,
    pub(crate) has_efficiency: bool,
    /// The runtime runs critical workers (`policy::placement` routes Critical work to them).
    pub(crate) has_critical: bool,
    /// E workers polling Default or Utility tasks now, and the most there may be
    /// (`policy::efficiency_slots`); `None`: no limit.
    efficiency_slots: Option<(AtomicUsize, usize)>,
    /// The stuck-poll watchdog's settings (`None`: it does not run; `runtime/stuck.rs`).
    pub(crate) watchdog: Option<WatchdogConfig>,
    /// The CPU watch (`None`: it does not run; `runtime/cpu_watch.rs`).
    pub(crate) cpu_watch: Option<CpuWatch>,
    /// The CPUs of each class in the runtime's topology, by `CoreClass::index` (where a
    /// displaced worker's class is looked for when re-placing it).
    pub(crate) class_cpus: [Vec<usize>; 2],
    /// Where the monitor thread (watchdog and CPU watch, `runtime/monitor.rs`) sleeps
    /// between looks (shutdown wakes it).
    pub(crate) monitor_parker: Parker,
    /// Long polls per lane, found by the watchdog.
    pub(crate) long_polls: [LaneLongPolls; LANES],
    /// Time wake-to-poll latency (sampled); off only to measure what it costs.
    pub(crate) sample_latency: bool,
    /// Raise awaited tasks to their waiter's Qos (`Builder::qos_escalation`).
    pub(crate) qos_escalation: bool,
    /// Idle workers drive the I/O reactor (`Builder::drive_io`; feature `async-io`).
    pub(crate) drive_io: bool,
    /// `Builder::idle_spin` as set; `None`: the default, which follows the CPUs the process
    /// may use (`policy::idle_spin`).
    idle_spin_set: Option<Duration>,
    /// How long a worker out of work keeps looking before it sleeps, in nanoseconds, as
    /// `policy::idle_spin` says for `idle_spin_set` and the CPUs available at `build` and
    /// after each change the CPU watch sees. A hint, not part of any protocol (so not a
    /// loom atomic): the idle protocol is the same for any spin, zero included (the loom
    /// park models run both).
    idle_spin_ns: untracked::AtomicU64,
    /// The tokio context its threads enter (`Builder::tokio_context`; feature `tokio`).
    #[cfg(feature = "tokio")]
    pub(crate) tokio: Option<super::tokio_context::TokioContext>,
    /// E-core speed relative to P from the runtime's topology (for metrics).
    pub(crate) efficiency_speed: Option<f64>,
    pub(crate) external: ExternalCounters,
    epoch: Instant,
    shutdown: AtomicBool,
    /// Has the Critical lane ever been used in this runtime: a task placed in it
    /// (`place`) or raised to it (`escalate::awaited`)? Set once, never cleared. Until
    /// then workers look at that lane last (`policy::with_lane_last`), which spares a
    /// program that never spawns critical work a look at three empty places before every
    /// poll. A hint, not part of any protocol (so not a loom atomic): a worker that reads it
    /// late, or a critical task that got into a queue some other way, is still searched
    /// for, after the other lanes.
    critical_used: untracked::AtomicBool,
    /// Worker threads still running their loop, and a condvar signalled as they exit.
    running: Mutex<usize>,
    exited: Condvar,
}

impl TaskOwner for Shared {
    #[inline]
    fn task_refs(&self) -> &TaskRefs {
        &self.task_refs
    }
}

impl Shared {
    pub(crate) fn new(
        workers: Vec<WorkerSlot>,
        has_efficiency: bool,
        efficiency_slots: Option<usize>,
        blocking: BlockingPool,
    ) -> Shared {
        let count = workers.len();
        let has_critical = workers.iter().any(|w| w.role == WorkerRole::Critical);
        Shared {
            has_critical,
            blocking,
            injectors: std::array::from_fn(|_| Injector::new()),
            registry: Registry::new(count),
            task_refs: CachePadded::new(TaskRefs::default()),
            workers: workers.into_iter().map(CachePadded::new).collect(),
            idle: Idle::new(),
            has_efficiency,
            efficiency_slots: efficiency_slots.map(|max| (AtomicUsize::new(0), max)),
            sample_latency: true,
            qos_escalation: true,
            drive_io: false,
            idle_spin_set: None,
            idle_spin_ns: untracked::AtomicU64::new(0),
            #[cfg(feature = "tokio")]
            tokio: None,
            watchdog: None,
            cpu_watch: None,
            class_cpus: Default::default(),
            monitor_parker: Parker::default(),
            long_polls: stuck::lane_stats(),
            efficiency_speed: None,
            external: ExternalCounters::default(),
            epoch: Instant::now(),
            shutdown: AtomicBool::new(false),
            critical_used: untracked::AtomicBool::new(false),
            running: Mutex::new(count),
            exited: Condvar::default(),
        }
    }

    /// Record `Builder::idle_spin` (`None`: the default) and choose the spin for
    /// `cpus_available` (`sys::cpus_available` at `build`).
    pub(crate) fn set_idle_spin(&mut self, set: Option<Duration>, cpus_available: Option<usize>) {
        self.idle_spin_set = set;
        self.follow_cpu_count(cpus_available);
    }

    /// The CPUs the process may use are now `cpus_available`: a default spin follows them
    /// (none on one CPU, `policy::idle_spin`); a spin that was set stays.
    pub(crate) fn follow_cpu_count(&self, cpus_available: Option<usize>) {
        let spin = policy::idle_spin(self.idle_spin_set, cpus_available);
        // At most `MAX_IDLE_SPIN`, a second: far inside a u64 of nanoseconds.
        let ns = u64::try_from(spin.as_nanos()).unwrap_or(u64::MAX);
        self.idle_spin_ns.store(ns, Relaxed);
    }

    /// How long a worker out of work keeps looking before it sleeps now.
    #[inline]
    pub(crate) fn idle_spin(&self) -> Duration {
        Duration::from_nanos(self.idle_spin_ns.load(Relaxed))
    }

    #[inline]
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Acquire)
    }

    /// Has the Critical lane ever been used here (see the field)?
    #[inline]
    pub(crate) fn critical_lane_used(&self) -> bool {
        self.critical_used.load(Relaxed)
    }

    /// A task was placed in, or raised to, the Critical lane: workers search it first from
    /// now on.
    #[inline]
    pub(crate) fn note_critical_lane_used(&self) {
        if !self.critical_lane_used() {
            self.critical_used.store(true, Relaxed);
        }
    }

    pub(crate) fn nanos_since_start(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// This runtime's worker, if `worker` (the worker of the calling thread) is one.
    #[inline]
    pub(crate) fn own<'a>(&self, worker: Option<&'a WorkerCore>) -> Option<&'a WorkerCore> {
        worker.filter(|core| core.belongs_to(self))
    }

    /// Spawn `future` at `qos` from `core`, this runtime's worker on the calling thread
    /// (`None`: the caller is not one of them). After shutdown the future is dropped at once
    /// and the handle resolves to a cancelled `JoinError`.
    // An associated function rather than a `self: &Arc<Self>` method: loom's `Arc` cannot
    // be a method receiver.
    pub(crate) fn spawn_from<F>(
        this: &Arc<Self>,
        core: Option<&WorkerCore>,
        qos: Qos,
        future: F,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Self::spawn_one(this, core, qos, JoinHandle::refused(qos), |header| {
            spawn_raw(header, future, schedule_woken)
        })
    }

    /// Spawn `future` at `qos` with no `JoinHandle` (fire and forget): no waker is made for
    /// a handle, and the task is detached before anyone else can see it, so nothing about
    /// joining is paid for. After shutdown the future is dropped at once.
    pub(crate) fn spawn_detached_from<F>(
        this: &Arc<Self>,
        core: Option<&WorkerCore>,
        qos: Qos,
        future: F,
    ) where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Self::spawn_one(this, core, qos, (), |header| {
            (spawn_raw_detached(header, future, schedule_woken), ())
        })
    }

    /// The one spawn both of the above make: `make` builds the task (and what the caller
    /// gets back) from its header; it is counted and scheduled from `core`. After
    /// shutdown `make` is dropped unused, and with it the future it holds, and the caller
    /// gets `refused`.
    fn spawn_one<R>(
        this: &Arc<Self>,
        core: Option<&WorkerCore>,
        qos: Qos,
        refused: R,
        make: impl FnOnce(TaskHeader) -> (Task, R),
    ) -> R {
        if this.is_shutdown() {
            drop(make);
            return refused;
        }
        let lane = Lane::of(qos);
        let header = TaskHeader::owned(qos, this, core.is_none(), Some(lane));
        let (runnable, made) = make(header);
        this.count_spawned(core, lane, 1);
        this.schedule_from(core, runnable, Readiness::Spawned);
        made
    }

    /// Spawn every future of `futures` at `qos`, with one wake-up for the whole batch
    /// instead of one per task: tasks spawned from one of this runtime's workers go to its
    /// own queue (or the lane's injector, where the policy says), the others to the lane's
    /// injector, and only then is a sleeping worker woken (the first searcher to find work
    /// wakes the next, so a batch spreads over idle workers one at a time). `handle`
    /// receives each task's `JoinHandle` (`None`: spawn detached, no handles made). After
    /// shutdown the futures are dropped and the handles resolve to cancelled errors.
    pub(crate) fn spawn_batch<I, F>(
        this: &Arc<Self>,
        qos: Qos,
        futures: I,
        handle: Option<&mut dyn FnMut(JoinHandle<F::Output>)>,
    ) where
        I: IntoIterator<Item = F>,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Self::spawn_batch_inner(this, qos, futures, handle, true)
    }

    /// [`spawn_batch`](Self::spawn_batch); `counted`: the tasks count as spawned and
    /// completed in their lane (false for batch carriers, which are not the caller's tasks).
    fn spawn_batch_inner<I, F>(
        this: &Arc<Self>,
        qos: Qos,
        futures: I,
        mut handle: Option<&mut dyn FnMut(JoinHandle<F::Output>)>,
        counted: bool,
    ) where
        I: IntoIterator<Item = F>,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let lane = Lane::of(qos);
        let counted_lane = counted.then_some(lane);
        context::with_worker(|worker| {
            let core = this.own(worker);
            // Counts and wakes for what was placed when dropped: at the end, or while a
            // panic in the caller's iterator or `Extend` unwinds, so that the tasks placed
            // before it are counted and found.
            let mut batch = BatchEnd {
                shared: this,
                core,
                lane,
                spawned: 0,
                placed: Wakeups::default(),
            };
            for future in futures {
                if this.is_shutdown() {
                    drop(future);
                    if let Some(handle) = handle.as_mut() {
                        handle(JoinHandle::refused(qos));
                    }
                    continue;
                }
                let header = TaskHeader::owned(qos, this, core.is_none(), counted_lane);
                let (runnable, join) = match handle {
                    Some(_) => {
                        let (runnable, join) = spawn_raw(header, future, schedule_woken);
                        (runnable, Some(join))
                    }
                    None => (spawn_raw_detached(header, future, schedule_woken), None),
                };
                if counted {
                    // From outside, each spawn is counted before it is placed: it is counted
                    // as scheduled by that (`place`). A worker counts its own at the end.
                    match core {
                        None => this.count_spawned(None, lane, 1),
                        Some(_) => batch.spawned += 1,
                    }
                }
                batch
                    .placed
                    .add(this.place(core, runnable, Readiness::Spawned));
                // After the placement, as `spawn_one` does: the caller's code sees the handle
                // only once the task is scheduled in its spawn lane (awaiting it may escalate
                // the task, which then moves it from that lane).
                if let (Some(handle), Some(join)) = (handle.as_mut(), join) {
                    handle(join);
                }
            }
        })
    }

    /// [`spawn_batch`](Self::spawn_batch) with no handles. On one of this runtime's workers,
    /// exactly that; from anywhere else the futures go over in chunks of [`BATCH_CHUNK`],
    /// each carried by one uncounted task that spawns them from the worker running it (see
    /// `Handle::spawn_batch_detached` for why).
    pub(crate) fn spawn_batch_detached<I, F>(this: &Arc<Self>, qos: Qos, futures: I)
    where
        I: IntoIterator<Item = F>,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if context::with_worker(|worker| this.own(worker).is_some()) {
            return Self::spawn_batch(this, qos, futures, None);
        }
        let mut futures = futures.into_iter();
        let carriers = std::iter::from_fn(|| {
            let chunk: Vec<F> = futures.by_ref().take(BATCH_CHUNK).collect();
            (!chunk.is_empty()).then(|| carry(qos, chunk))
        });
        Self::spawn_batch_inner(this, qos, carriers, None, false);
    }

    /// Count `n` tasks spawned in `lane` (on `core`'s counters, or the shared block).
    #[inline]
    fn count_spawned(&self, core: Option<&WorkerCore>, lane: Lane, n: u64) {
        match core {
            Some(core) => core.counters().spawned[lane.index()].add(n),
            None => self.external.spawned[lane.index()].add(n),
        }
    }

    /// Run `f` on the blocking pool.
    pub(crate) fn spawn_blocking<F, R>(this: &Arc<Self>, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let qos = context::inherited_qos();
        if this.is_shutdown() {
            drop(f);
            return JoinHandle::refused(qos);
        }
        fn schedule_blocking(runnable: Task, _: crate::task::ScheduleInfo) {
            if let Some(owner) = runnable.metadata().owner_arc() {
                owner.blocking.schedule(&owner, runnable);
            }
        }
        // Not counted nor ever in the registry (lane `None`): a blocking job never waits on
        // a waker (its future completes in one poll), so shutdown reaches every queued job
        // through the pool's queue.
        // Run and freed on a blocking thread: no worker batch to give the reference to.
        let header = TaskHeader::owned(qos, this, false, None);
        let (runnable, handle) = spawn_raw(header, async move { f() }, schedule_blocking);
        runnable.schedule();
        handle
    }

    /// A task became runnable (spawned, woken or handed on): put it where the policy says.
    pub(crate) fn schedule(&self, task: Task, readiness: Readiness) {
        context::with_worker(|worker| self.schedule_from(self.own(worker), task, readiness))
    }

    /// [`schedule`](Self::schedule) from `core`, this runtime's worker on this thread
    /// (`None`: the caller is not one of them).
    // Always inlined, with `place`, into every spawn: a spawn instantiation grows by about
    // 0.5 KB of code per spawned future type, and a spawned task costs 21 instructions
    // fewer (the call and its register saves; BENCHMARKS.md, "Fewer instructions per task").
    #[inline(always)]
    fn schedule_from(&self, core: Option<&WorkerCore>, task: Task, readiness: Readiness) {
        match self.place(core, task, readiness) {
            Queued::Here => {}
            Queued::Local(lane) => self.notify(lane),
            Queued::Injected(lane) => self.after_inject(lane),
        }
    }

    /// [`place`](Self::place) once shutdown has begun: into the lane's injector, counted as
    /// any placement is. Not dropped here: `schedule` runs inside wakers, and a waker may be
    /// called with a lock held that the future's drop takes (h2 wakes its connection task
    /// while holding its streams lock, and dropping the connection takes that lock: a
    /// same-thread deadlock when a runtime with open HTTP/2 connections was dropped). The
    /// injector's shutdown re-check (`finish_placing`) leaves the task to the last worker's
    /// drain, which drops futures outside any wake, or drops it itself once every worker is
    /// gone. Out of line: every spawn and wake inlines `place` (inlined, this branch cost a
    /// chained spawn 10 instructions and a yield 24).
    #[cold]
    #[inline(never)]
    fn place_at_shutdown(
        &self,
        core: Option<&WorkerCore>,
        task: Task,
        readiness: Readiness,
    ) -> Queued {
        let header = task.metadata();
        let lane = header.lane();
        header.set_queued_in(lane);
        self.count_scheduled(core, header, lane, readiness);
        self.injectors[lane.index()].push(task);
        Queued::Injected(lane)
    }

    /// Count one scheduling of a task in `lane` (on `core`'s counters, or the shared block),
    /// which the caller marked as queued there: the same whether or not shutdown has begun,
    /// since whoever takes it out of a queue (a poll, or shutdown's drain) counts the take
    /// in that lane.
    #[inline(always)]
    fn count_scheduled(
        &self,
        core: Option<&WorkerCore>,
        header: &TaskHeader,
        lane: Lane,
        readiness: Readiness,
    ) {
        match core {
            Some(core) => core.counters().scheduled[lane.index()].bump(),
            // A task spawned from outside and counted as spawned is counted as scheduled
            // by that (`metrics::snapshot` adds the two): one locked update fewer per spawn.
            None if readiness == Readiness::Spawned && header.counted_in().is_some() => {}
            None => self.external.scheduled[lane.index()].bump(),
        }
    }

    /// Put `task` where the policy says, without waking anyone: the caller passes what
    /// this returns to [`finish_placing`](Self::finish_placing) (after more placements, for
    /// a batch).
    #[inline(always)]
    fn place(&self, core: Option<&WorkerCore>, task: Task, readiness: Readiness) -> Queued {
        if self.is_shutdown() {
            return self.place_at_shutdown(core, task, readiness);
        }
        let header = task.metadata();
        // Read at every scheduling: escalation or demotion may have changed it since the last.
        let lane = header.lane();
        header.set_queued_in(lane);
        if lane == Lane::Critical {
            self.note_critical_lane_used();
        }
        if self.sample_latency && context::sample_latency(lane == Lane::Critical) {
            header.mark_scheduled(self.nanos_since_start());
        }
        self.count_scheduled(core, header, lane, readiness);
        let Some(core) = core else {
            self.injectors[lane.index()].push(task);
            return Queued::Injected(lane);
        };
        match core.placement(lane, readiness) {
            Placement::LifoSlot => {
                if policy::searches_injectors_next(readiness) {
                    core.note_yield();
                }
                match core.put_lifo(task) {
                    Some(displaced) => {
                        let displaced_lane = displaced.metadata().lane();
                        core.push_local(displaced_lane, displaced);
                        Queued::Local(displaced_lane)
                    }
                    None => Queued::Here,
                }
            }
            Placement::LocalQueue => {
                if policy::searches_injectors_next(readiness) {
                    core.note_yield();
                }
                let wake_a_peer =
                    policy::wakes_a_peer(readiness, core.is_first_choice(lane), || {
                        core.sees_work()
                    });
                core.push_local(lane, task);
                if wake_a_peer {
                    Queued::Local(lane)
                } else {
                    Queued::Here
                }
            }
            Placement::Injector => {
                self.injectors[lane.index()].push(task);
                Queued::Injected(lane)
            }
        }
    }

    /// After placements (a batch's): wake a worker for each lane that got work others may
    /// take, with the injector's shutdown re-check if anything went into one (see
    /// [`after_inject`](Self::after_inject)). One fence serves every lane.
    fn finish_placing(&self, placed: Wakeups) {
        if placed.lanes == 0 {
            return;
        }
        fence(SeqCst);
        if placed.injected && self.shutdown_after_inject() {
            return;
        }
        for lane in Lane::ALL {
            if placed.lanes & (1 << lane.index()) != 0 {
                self.notify_after_fence(lane);
            }
        }
    }

    /// A task was pushed to `lane`'s injector: re-check shutdown (a push racing with it is
    /// dropped by the last worker's drain, or here if every worker is gone), else wake a
    /// worker that may run it. One fence serves the re-check and the idle protocol.
    fn after_inject(&self, lane: Lane) {
        fence(SeqCst);
        if !self.shutdown_after_inject() {
            self.notify_after_fence(lane);
        }
    }

    /// After an injector push and a fence: true if shutdown began, in which case the task
    /// is left to the last worker's drain, or drained here if every worker is gone (and no
    /// worker is to be woken).
    fn shutdown_after_inject(&self) -> bool {
        if self.shutdown.load(SeqCst) && !crate::loom::mutation!("no_inject_recheck") {
            self.drain_if_workers_gone();
            return true;
        }
        crate::loom::mutation!("inject_no_notify")
    }

    /// Push to the lane's injector and wake a worker that may run it.
    pub(crate) fn inject(&self, lane: Lane, task: Task) {
        self.injectors[lane.index()].push(task);
        self.after_inject(lane);
    }

    /// Wake one sleeping worker for new work of `lane`, unless one is already searching.
    #[inline]
    pub(crate) fn notify(&self, lane: Lane) {
        fence(SeqCst);
        self.notify_after_fence(lane);
    }

    /// [`notify`](Self::notify) for a caller that issued a SeqCst fence after making the
    /// work visible (the idle protocol's half: work, fence, then the counters).
    #[inline]
    fn notify_after_fence(&self, lane: Lane) {
        // A worker asleep in a reactor on this very thread (its reactor woke the task) is
        // woken first: it runs the task as soon as the reactor returns, with no other
        // thread woken.
        let prefer = || {
            context::with_driving_worker(|core| self.own(core).map(|core| (core.index, core.role)))
        };
        if let Some(index) = self
            .idle
            .worker_to_notify(lane, self.has_efficiency, prefer)
        {
            self.workers[index].parker.unpark();
        }
    }

    /// Is work of `lane` queued where any worker may take it: in the lane's injector or in
    /// any worker's queue for the lane?
    fn lane_has_work(&self, lane: Lane) -> bool {
        let l = lane.index();
        !self.injectors[l].is_empty()
            || self
                .workers
                .iter()
                .any(|w| w.stealers[l].as_ref().is_some_and(|s| !s.is_empty()))
    }

    /// Is there work a worker of `role` may take now? (Called by a worker whose own
    /// queues are empty, so counting its own queue changes nothing.) Lanes that need an
    /// efficiency slot count only while one is free: an E worker that may not take them
    /// must sleep, not spin on them.
    pub(crate) fn has_visible_work(&self, role: WorkerRole) -> bool {
        self.lanes_open_to(role)
            .any(|lane| self.lane_has_work(lane))
    }

    /// The lanes a worker of `role` may take work from now: its role's lanes, less those
    /// that need an efficiency slot while none is free.
    fn lanes_open_to(&self, role: WorkerRole) -> impl Iterator<Item = Lane> + '_ {
        policy::lanes_for(role, self.has_efficiency)
            .iter()
            .copied()
            .filter(move |&lane| {
                !policy::needs_efficiency_slot(role.class(), lane) || self.slot_free()
            })
    }

    /// Is there work a worker of `role` may take now in an injector (work from outside the
    /// runtime, or handed on), leaving out the workers' own queues? What a worker that
    /// looks for work before sleeping watches (`WorkerCore::look_before_sleeping`): a peer's
    /// queue is the peer's to run, and reading its ends while the peer pushes and pops would
    /// slow the peer down. The Critical lane is left out where critical workers exist:
    /// Critical work wakes one of them, and a P worker that happened to be looking would
    /// otherwise take it first, at its ordinary priority.
    pub(crate) fn has_injected_work(&self, role: WorkerRole) -> bool {
        self.lanes_open_to(role)
            .filter(|&lane| !(lane == Lane::Critical && self.has_critical))
            .any(|lane| !self.injectors[lane.index()].is_empty())
    }

    fn slot_free(&self) -> bool {
        self.efficiency_slots
            .as_ref()
            .map_or(true, |(used, max)| used.load(SeqCst) < *max)
    }

    /// Take an efficiency slot (see `policy::efficiency_slots`); false if none is free.
    /// Always true without a limit.
    pub(crate) fn try_take_slot(&self) -> bool {
        let Some((used, max)) = &self.efficiency_slots else {
            return true;
        };
        if crate::loom::mutation!("slots_unlimited") {
            used.fetch_add(1, SeqCst);
            return true;
        }
        let mut now = used.load(SeqCst);
        loop {
            if now >= *max {
                return false;
            }
            match used.compare_exchange_weak(now, now + 1, SeqCst, SeqCst) {
                Ok(_) => return true,
                Err(actual) => now = actual,
            }
        }
    }

    /// Give back a slot taken by `try_take_slot`.
    pub(crate) fn release_slot(&self) {
        if let Some((used, _)) = &self.efficiency_slots {
            used.fetch_sub(1, SeqCst);
        }
    }

    /// Is this runtime limiting E workers on shared lanes at all?
    pub(crate) fn has_slot_limit(&self) -> bool {
        self.efficiency_slots.is_some()
    }

    /// Every lane with work other workers could take. Fenced, so it sees work whose pusher
    /// saw this caller searching.
    pub(crate) fn lanes_with_visible_work(&self) -> impl Iterator<Item = Lane> + '_ {
        fence(SeqCst);
        Lane::ALL
            .into_iter()
            .filter(|&lane| self.lane_has_work(lane))
    }

    /// Begin shutdown: no new work is accepted, workers are told to stop.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, SeqCst);
        self.blocking.shutdown();
        for index in self.idle.drain_sleepers() {
            self.workers[index].parker.unpark();
        }
        self.monitor_parker.unpark();
        // Workers that are awake see the flag at their next look for work.
    }

    /// After a push during shutdown: drop what is queued if no worker is left to. Read
    /// under the lock the last worker counts itself out under, after its last look at the
    /// injectors: a push it did not see finds zero here, and one that finds a worker left
    /// is seen by that worker's look (`worker_exited`).
    fn drain_if_workers_gone(&self) {
        let gone = *self.running.lock() == 0;
        if gone {
            self.drain_injectors();
        }
    }

    /// A worker left its loop (its own queues already drained).
    pub(crate) fn worker_exited(&self) {
        let mut running = self.running.lock();
        if *running == 1 {
            // The last worker out drops what is left everywhere else, *before* it counts
            // itself out, so a shutdown that sees zero workers also sees no live task. Until
            // the injectors stay empty: a future's drop may wake another task, which is
            // left in an injector too (`schedule`).
            loop {
                drop(running);
                self.drop_remaining_tasks();
                running = self.running.lock();
                if self.injectors.iter().all(|i| i.is_empty()) {
                    break;
                }
            }
        }
        *running -= 1;
        if *running == 0 {
            self.exited.notify_all();
        }
    }

    /// Wait until every worker left its loop, or `timeout` passed. True if all left.
    pub(crate) fn wait_for_workers(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut running = self.running.lock();
        while *running > 0 {
            match deadline {
                None => running = self.exited.wait(running),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    drop(running);
                    // A short sleep-poll keeps this simple and loom-free; shutdown is rare.
                    std::thread::sleep((deadline - now).min(Duration::from_millis(1)));
                    running = self.running.lock();
                }
            }
        }
        true
    }

    /// Drop every task still queued in the injectors and every task waiting on a waker.
    /// Safe to call more than once and from any thread.
    pub(crate) fn drop_remaining_tasks(&self) {
        self.drain_injectors();
        // Idle tasks: waking them schedules them into the injectors (shutdown), drained here.
        if !crate::loom::mutation!("no_wake_all") {
            self.registry.wake_all();
        }
        self.drain_injectors();
    }

    fn drain_injectors(&self) {
        for injector in &self.injectors {
            loop {
                match injector.steal() {
                    crate::loom::deque::Steal::Success(task) => {
                        if let Some(lane) = task.metadata().take_queued_lane() {
                            self.external.taken[lane.index()].bump();
                        }
                        drop(task)
                    }
                    crate::loom::deque::Steal::Empty => break,
                    crate::loom::deque::Steal::Retry => continue,
                }
            }
        }
    }

    pub(crate) fn metrics(&self) -> RuntimeMetrics {
        metrics::snapshot(
            self.workers.iter().map(|w| WorkerInfo {
                name: &w.name,
                class: w.class,
                role: w.role,
                cpus: &w.cpus,
                placed: w.placed.lock().clone(),
                counters: &w.counters,
            }),
            &self.external,
            &self.long_polls,
            metrics::RuntimeInfo {
                blocking: {
                    let stats = self.blocking.stats();
                    metrics::BlockingMetrics {
                        threads: stats.threads,
                        idle_threads: stats.idle,
                        queued: stats.queued,
                    }
                },
                efficiency_speed: self.efficiency_speed,
                idle_spin: self.idle_spin(),
                allowed_cpus: self
                    .cpu_watch
                    .as_ref()
                    .map(CpuWatch::allowed)
                    .filter(|cpus| !cpus.is_empty()),
                cpu_set_changes: self.cpu_watch.as_ref().map_or(0, CpuWatch::changes),
            },
        )
    }
}

/// Futures per carrier task when a batch is spawned from outside the runtime
/// (`Handle::spawn_batch_detached`): enough that the calling thread's cost per future is a
/// move into a vector, few enough that a batch of a thousand still spreads over every
/// worker (16 carriers, stolen one by one).
pub const BATCH_CHUNK: usize = 64;

/// The carrier of one chunk of a batch: spawns each future, detached at `qos`, from the
/// worker that polls it (where the task is then allocated and queued). Polled only by
/// workers; if shutdown drops it instead, the chunk's futures are dropped with it, once.
async fn carry<F>(qos: Qos, chunk: Vec<F>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    context::with_worker(|worker| match worker {
        Some(core) => {
            let shared = core.shared_arc();
            for future in chunk {
                Shared::spawn_detached_from(shared, Some(core), qos, future);
            }
        }
        // Not reachable (only workers poll tasks); the futures are dropped.
        None => drop(chunk),
    })
}

/// The schedule function of every task a runtime spawns (it captures nothing:
/// see `TaskHeader::owner`): a woken task is scheduled by its own runtime.
fn schedule_woken(task: Task, info: crate::task::ScheduleInfo) {
    // Woken during its own poll: a yield if `yield_now` woke it; otherwise a wake that
    // keeps the LIFO slot (see `Readiness::WokenWhileRunning`).
    let readiness = if !info.woken_while_running {
        Readiness::Woken
    } else if context::take_yield_request() {
        Readiness::Yielded
    } else {
        Readiness::WokenWhileRunning
    };
    let Some(owner) = task.metadata().owner() else {
        return; // unreachable: every task spawned with this function has an owner
    };
    let owner: *const Shared = owner;
    context::with_worker(|worker| match worker {
        // On one of the runtime's workers, whose own reference keeps the runtime alive
        // while the task is scheduled.
        Some(core) if std::ptr::eq(core.shared(), owner) => {
            core.shared().schedule_from(Some(core), task, readiness)
        }
        // Anywhere else the task's reference to its runtime is all there may be, and it
        // goes into a queue with the task, where a worker may finish (and free) it before
        // this scheduling is over: hold one of our own until then.
        _ => {
            if let Some(owner) = task.metadata().owner_arc() {
                owner.schedule_from(None, task, readiness);
            }
        }
    })
}

/// Called by the task wrapper when a task's future is dropped outside a poll (its
/// `Runnable` dropped, by shutdown or with its queue): count its end in its spawn `lane`.
/// (A task that ends in a poll is counted by `WorkerCore::poll_ended`.)
pub(crate) fn task_ended(header: &TaskHeader, lane: Lane) {
    let Some(owner) = header.owner() else {
        return;
    };
    context::with_worker(|worker| count_end(owner, worker, lane));
}

/// Count a task's end in `lane`: on `worker`'s own counters if it is one of `owner`'s, else
/// in the shared block.
pub(crate) fn count_end(owner: &Shared, worker: Option<&WorkerCore>, lane: Lane) {
    match owner.own(worker) {
        Some(core) => core.counters().completed[lane.index()].bump(),
        None => owner.external.completed[lane.index()].bump(),
    }
}

/// A task's header is dropped (the task is freed): give up its reference to its runtime,
/// in a batch if this is one of that runtime's workers (`WorkerCore::release_owner`).
pub(crate) fn release_owner(owner: OwnerRef<Shared>) {
    context::with_worker(|worker| match owner.get().own(worker) {
        Some(core) => core.release_owner(owner),
        None => drop(owner),
    })
}

/// The task's future was dropped: take it out of its runtime's registry (`key`, from its
/// first `Pending`).
pub(crate) fn leave_registry(header: &TaskHeader, key: usize) {
    if let Some(owner) = header.owner() {
        owner.registry.unregister(key);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    /// Shared state of a runtime with one worker of `class` and no threads.
    fn one_worker(class: CoreClass) -> Arc<Shared> {
        let slot = WorkerSlot {
            name: "test-0".to_string(),
            class,
            role: class.into(),
            raised_priority: false,
            cpus: Vec::new(),
            idle_priority: false,
            stealers: [None, None, None, None],
            polls: Default::default(),
            parker: Parker::default(),
            counters: WorkerCounters::default(),
            lender: None,
            loan: None,
            placed: Default::default(),
        };
        let blocking = BlockingPool::new(1, Duration::from_secs(1), "test".to_string());
        Arc::new(Shared::new(vec![slot], true, None, blocking))
    }

    /// A task that counts its future's drop in `drops`.
    fn counted_task(qos: Qos, drops: &std::sync::Arc<AtomicUsize>) -> Task {
        struct Token(std::sync::Arc<AtomicUsize>);
        impl Drop for Token {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let token = Token(drops.clone());
        let (task, handle) = spawn_raw(
            TaskHeader::new(qos),
            async move {
                let _token = token;
            },
            |_: Task, _: crate::task::ScheduleInfo| {},
        );
        drop(handle); // detach
        task
    }

    /// A worker of [`one_worker`] with its own queue for every lane.
    fn core_with_queues(shared: &Arc<Shared>) -> WorkerCore {
        let queue = || Some(crate::loom::deque::Worker::new_fifo());
        WorkerCore::new(shared.clone(), 0, [queue(), queue(), queue(), queue()])
    }

    fn lane_of(task: Option<Task>) -> Option<Lane> {
        task.map(|task| task.metadata().lane())
    }

    // Until a critical task is queued, the Critical lane is searched last, not skipped:
    // one that reached a queue without `place` (a task escalated in the LIFO slot, pushed
    // on when the slot is displaced) is still found.
    #[test]
    fn before_any_critical_task_was_placed_the_critical_lane_is_searched_last() {
        let shared = one_worker(CoreClass::Performance);
        let core = core_with_queues(&shared);
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        core.push_local(Lane::Critical, counted_task(Qos::Interactive, &drops));
        core.push_local(Lane::Default, counted_task(Qos::Default, &drops));
        assert!(!shared.critical_lane_used());
        assert_eq!(lane_of(core.find_task(1, false)), Some(Lane::Default));
        assert_eq!(lane_of(core.find_task(2, false)), Some(Lane::Critical));
        assert_eq!(lane_of(core.find_task(3, false)), None);
        assert_eq!(drops.load(SeqCst), 2);
    }

    #[test]
    fn once_a_critical_task_was_placed_the_critical_lane_is_searched_first() {
        let shared = one_worker(CoreClass::Performance);
        let core = core_with_queues(&shared);
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        core.push_local(Lane::Default, counted_task(Qos::Default, &drops));
        drop(Shared::spawn_from(
            &shared,
            Some(&core),
            Qos::Interactive,
            async {},
        ));
        assert!(
            shared.critical_lane_used(),
            "placing a critical task sets the flag"
        );
        assert_eq!(lane_of(core.find_task(1, false)), Some(Lane::Critical));
        assert_eq!(lane_of(core.find_task(2, false)), Some(Lane::Default));
    }

    #[test]
    fn a_critical_task_spawned_from_outside_sets_the_flag() {
        let shared = one_worker(CoreClass::Performance);
        drop(Shared::spawn_from(
            &shared,
            None,
            Qos::UserInitiated,
            async {},
        ));
        assert!(shared.critical_lane_used());
    }

    // A task raised to the Critical lane may go from a LIFO slot to a queue without passing
    // `place`: raising it sets the flag of its own runtime.
    #[test]
    fn a_task_raised_to_the_critical_lane_sets_the_flag_of_its_runtime() {
        let shared = one_worker(CoreClass::Performance);
        let core = core_with_queues(&shared);
        let header = TaskHeader::owned(Qos::Default, &shared, false, Some(Lane::Default));
        let (task, handle) =
            spawn_raw(header, async {}, |_: Task, _: crate::task::ScheduleInfo| {});
        drop(handle);
        let _worker = context::WorkerGuard::set(&core);
        let _polling = context::PollGuard::enter(Qos::Interactive, crate::task::TaskId::NONE);
        assert!(!shared.critical_lane_used());
        super::super::escalate::awaited(task.metadata());
        assert_eq!(task.metadata().lane(), Lane::Critical, "not raised");
        assert!(shared.critical_lane_used());
    }

    #[test]
    fn tasks_of_other_lanes_leave_the_critical_flag_unset() {
        let shared = one_worker(CoreClass::Performance);
        let core = core_with_queues(&shared);
        for qos in [Qos::Default, Qos::Utility, Qos::Background] {
            drop(Shared::spawn_from(&shared, Some(&core), qos, async {}));
            drop(Shared::spawn_from(&shared, None, qos, async {}));
        }
        assert!(!shared.critical_lane_used());
    }

    // `push_local` for a lane the worker has no queue for (unreachable by the policy) must
    // behave like any other push to an injector.

    #[test]
    fn push_local_fallback_after_shutdown_leaves_the_task_to_the_last_workers_drain() {
        let shared = one_worker(CoreClass::Efficiency);
        // No own queue for any lane.
        let core = WorkerCore::new(shared.clone(), 0, [None, None, None, None]);
        shared.begin_shutdown();
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        core.push_local(Lane::Critical, counted_task(Qos::Interactive, &drops));
        // Not dropped by the push (it may run inside a waker; see `schedule`) ...
        assert_eq!(drops.load(SeqCst), 0, "dropped inside the push");
        assert!(!shared.injectors[Lane::Critical.index()].is_empty());
        // ... but by the last worker on its way out.
        shared.worker_exited();
        assert!(shared.injectors[Lane::Critical.index()].is_empty());
        assert_eq!(drops.load(SeqCst), 1, "its future was not dropped");
        // With every worker gone, the pushing thread drops it at once.
        core.push_local(Lane::Critical, counted_task(Qos::Interactive, &drops));
        assert!(shared.injectors[Lane::Critical.index()].is_empty());
        assert_eq!(drops.load(SeqCst), 2);
    }

    /// A spawn from outside that passed its shutdown check just before shutdown began: it
    /// is counted as spawned (and so as scheduled), placed by `place`'s shutdown branch and
    /// dropped unrun by the drain. Its lane's queued count goes back to zero.
    #[test]
    fn a_spawn_from_outside_racing_shutdown_leaves_no_queued_count() {
        let shared = one_worker(CoreClass::Performance);
        let header = TaskHeader::owned(Qos::Default, &shared, true, Some(Lane::Default));
        let task = spawn_raw_detached(header, async {}, schedule_woken);
        shared.count_spawned(None, Lane::Default, 1);
        shared.begin_shutdown();
        assert!(matches!(
            shared.place(None, task, Readiness::Spawned),
            Queued::Injected(Lane::Default)
        ));
        shared.worker_exited();
        let lane = shared.metrics().lanes[Lane::Default.index()].clone();
        assert_eq!((lane.spawned, lane.queued), (1, 0), "{lane:?}");
    }

    #[test]
    fn push_local_fallback_wakes_a_sleeping_worker() {
        let shared = one_worker(CoreClass::Efficiency);
        let core = WorkerCore::new(shared.clone(), 0, [None, None, None, None]);
        shared.idle.prepare_sleep(0, WorkerRole::Efficiency, false);
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        core.push_local(Lane::Background, counted_task(Qos::Background, &drops));
        assert!(!shared.injectors[Lane::Background.index()].is_empty());
        assert!(
            !shared.idle.is_sleeper(0, WorkerRole::Efficiency),
            "the sleeping worker was not woken for the pushed task"
        );
        assert_eq!(drops.load(SeqCst), 0);
        drop(core);
        shared.begin_shutdown();
        shared.drop_remaining_tasks();
        assert_eq!(drops.load(SeqCst), 1);
    }
}
