//! The scheduling policy, and nothing else: which lanes a worker may take and in what
//! order, where a new or woken task goes, which workers to wake for it, and when a lower
//! lane gets its fairness turn.
//!
//! Pure functions over small enums: no threads, no atomics, no queues. The worker loop
//! (`worker.rs`) asks this module what to do; tests here check every combination. It is
//! public so that the simulator (`hetsched-sim`, the `sim/` workspace member) makes its
//! decisions by calling these very functions: the policy it measures on modelled chips is
//! the one the runtime ships. Not a stable API: its functions change with the policy.
//!
//! | worker      | takes, in order                                                         | never takes |
//! |-------------|-------------------------------------------------------------------------|-------------|
//! | Performance | Critical → Default → Utility → Background (only with no E workers)       | —           |
//! | Efficiency  | Utility → Default → Background                                          | Critical    |
//! | Critical    | Critical (its own queue, the injector, and steals of other queues' Critical work) | every other lane |
//!
//! (A runtime whose Critical lane was never used looks at it last, not first:
//! [`with_lane_last`].)
//!
//! **Critical workers** ([`WorkerRole::Critical`], `Builder::critical_workers`) are extra
//! threads on the P CPUs at a raised OS priority that take only the Critical lane. They sleep
//! on their own idle list, which only Critical work reaches ([`wake_order`]): Default or
//! Background work never wakes them. With them present, Critical work that becomes runnable
//! on a P or E worker goes to the Critical injector and wakes a critical worker first
//! ([`placement`]), so the kernel preempts whatever batch chunk runs on a P CPU for it. A
//! Critical task whose poll on a critical worker runs past [`CRITICAL_POLL_LIMIT`] is
//! *demoted*: it runs in the Default lane for the rest of its life ([`demotes`]), so that a
//! task that never yields cannot hold a core at the raised priority.
//!
//! **Qos escalation** (`JoinHandle` awaited by a task of a higher Qos, see
//! [`escalated`]): the awaited task's effective Qos rises to the waiter's (never falls), and
//! its lane is recomputed at every scheduling and every poll, so the invariants above apply
//! to its new lane; a worker that takes a task it may no longer run hands it on
//! ([`Readiness::Rerouted`]).
//!
//! **Fairness bound.** Every [`FAIR_INTERVAL`]-th poll of a worker is a *fair turn*. Fair
//! turns rotate through the worker's lanes; on a lane's fair turn the worker looks at that
//! lane first, and the lane's turns alternate between its two sources: the shared injector
//! first on one (one task, no batch), the worker's own queue first on the next (the queue's
//! head, after the LIFO slot's task of that lane has gone to the back of the queue). So
//! while a lane has queued work that this worker may take, the task at the head of that
//! lane's injector, and the task at the head of the worker's own queue for that lane, are
//! each polled within [`FAIRNESS_BOUND`] = 2 × `FAIR_INTERVAL` × lanes polls of this worker: at
//! most 2 × 61 × 4 = 488 polls, whatever floods the higher lanes. The injector turns keep
//! the injector from starving behind a worker whose own queue never empties (the role of
//! tokio's `global_queue_interval`); the queue turns keep tasks already moved into the
//! worker's queue (by a batch from the injector, a spawn, or the LIFO slot) from starving
//! behind an injector that is kept fed.
//!
//! **Unequal cores: thread placement** (`thread_placement`, `default_workers`). Under
//! [`Pin::Spill`] (the default) P workers are pinned to the P CPUs and E workers may run on
//! every CPU of the runtime at the lowest OS priority, one E worker per CPU. Efficiency
//! work then soaks up any CPU the P workers leave idle (the kernel moves a runnable
//! low-priority thread off a slow CPU onto an idle fast one: its capacity-aware balancing
//! actively pulls the lone task of a CPU whose capacity is reduced), and a P worker that
//! wakes preempts it at once, so latency-critical work never waits behind it. Measured on
//! an emulated 1P+1E machine in BENCHMARKS.md ("Unequal cores").
//!
//! **Unequal cores: lending** (`lends_cpus`, `borrower`, `LEND_AFTER`). A long job that an
//! E worker is polling on a slow CPU cannot be stolen. A P worker with nothing to do looks
//! at the E workers twice, `LEND_AFTER` (1 ms) apart, and lends its CPUs to one that was in the
//! same poll both times (`runtime/lend.rs` moves the thread and moves it back when the P
//! worker wakes or the poll ends). The kernel does the same on its own where it knows the
//! CPUs' capacities, only later; where it does not, nothing else would.

use super::builder::{Pin, DEFAULT_IDLE_SPIN};
use crate::task::Qos;
use crate::topology::CoreClass;
use std::fmt;
use std::time::Duration;

/// A scheduling lane: the queue class a task's [`Qos`] puts it in.
///
/// ```
/// use hetsched::{Lane, Qos};
///
/// assert_eq!(Lane::of(Qos::Interactive), Lane::Critical);
/// assert_eq!(Lane::of(Qos::UserInitiated), Lane::Critical);
/// assert_eq!(Lane::of(Qos::Background), Lane::Background);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    /// `Interactive` and `UserInitiated`: polled only on performance workers.
    Critical,
    /// `Default`: anywhere, preferred by performance workers.
    Default,
    /// `Utility`: anywhere, preferred by efficiency workers.
    Utility,
    /// `Background`: efficiency workers only, when the runtime has any.
    Background,
}

/// How many lanes there are.
pub const LANES: usize = 4;

/// Every [`FAIR_INTERVAL`]-th poll of a worker is a fairness turn (see the module docs).
/// Prime, like tokio's 61, so it does not beat in step with periodic workloads.
pub const FAIR_INTERVAL: u32 = 61;

/// The fairness bound, in polls of one worker (see the module docs): two fair turns of
/// each of the at most 4 lanes, one per source.
pub const FAIRNESS_BOUND: u32 = 2 * FAIR_INTERVAL * LANES as u32;

/// A worker's poll counter wraps to 0 at this value: a multiple of every fair-turn cycle
/// (`2 × lanes × FAIR_INTERVAL` for 1 to 4 lanes: 24 × 61 divides it), so the rotation
/// never skips a turn at the wrap and the bound holds across it.
pub const TICK_PERIOD: u32 = FAIR_INTERVAL * 24 * (1 << 20);

/// At most this many polls in a row come from a worker's LIFO slot; then the slot's task
/// goes to the back of the queue, so two tasks waking each other cannot starve the rest.
pub const MAX_LIFO_STREAK: u32 = 3;

impl Lane {
    /// All lanes, most urgent first.
    pub const ALL: [Lane; LANES] = [
        Lane::Critical,
        Lane::Default,
        Lane::Utility,
        Lane::Background,
    ];

    /// The lane of a task with this Qos. A task keeps its lane for life.
    pub fn of(qos: Qos) -> Lane {
        match qos {
            Qos::Interactive | Qos::UserInitiated => Lane::Critical,
            Qos::Default => Lane::Default,
            Qos::Utility => Lane::Utility,
            Qos::Background => Lane::Background,
        }
    }

    /// Position in [`Lane::ALL`], for indexing per-lane arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The lane at `index & 3` in [`Lane::ALL`] (the inverse of [`Lane::index`], for the
    /// two bits a task's state byte keeps it in). A match, not a table: the positions are the
    /// discriminants, so it compiles to nothing.
    pub(crate) fn from_low_bits(index: usize) -> Lane {
        match index & 0b11 {
            0 => Lane::Critical,
            1 => Lane::Default,
            2 => Lane::Utility,
            _ => Lane::Background,
        }
    }

    /// Short lowercase name, as printed in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Critical => "critical",
            Lane::Default => "default",
            Lane::Utility => "utility",
            Lane::Background => "background",
        }
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a worker thread is for: the lanes of its core class, or (a critical worker) only
/// the Critical lane.
///
/// ```
/// use hetsched::{CoreClass, WorkerRole};
///
/// assert_eq!(WorkerRole::from(CoreClass::Efficiency), WorkerRole::Efficiency);
/// // Critical workers run on the performance CPUs.
/// assert_eq!(WorkerRole::Critical.class(), CoreClass::Performance);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorkerRole {
    /// A performance worker: every lane but Background (which it takes only when the
    /// runtime has no efficiency workers).
    Performance,
    /// An efficiency worker: every lane but Critical.
    Efficiency,
    /// A critical worker: only the Critical lane, on the P CPUs, at a raised OS priority.
    Critical,
}

impl WorkerRole {
    /// Every role, in the order of [`WorkerRole::index`].
    pub const ALL: [WorkerRole; 3] = [
        WorkerRole::Performance,
        WorkerRole::Efficiency,
        WorkerRole::Critical,
    ];

    /// The core class whose CPUs a worker of this role runs on.
    pub fn class(self) -> CoreClass {
        match self {
            WorkerRole::Performance | WorkerRole::Critical => CoreClass::Performance,
            WorkerRole::Efficiency => CoreClass::Efficiency,
        }
    }

    /// Position in [`WorkerRole::ALL`], for indexing per-role arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Short lowercase name, as printed in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerRole::Performance => "performance",
            WorkerRole::Efficiency => "efficiency",
            WorkerRole::Critical => "critical",
        }
    }
}

impl From<CoreClass> for WorkerRole {
    /// The role of an ordinary worker of `class`.
    fn from(class: CoreClass) -> WorkerRole {
        match class {
            CoreClass::Performance => WorkerRole::Performance,
            CoreClass::Efficiency => WorkerRole::Efficiency,
        }
    }
}

impl fmt::Display for WorkerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The lanes a worker of `role` may take, in the order it prefers them.
/// `has_efficiency_workers`: whether the runtime runs any efficiency worker.
pub fn lanes_for(role: impl Into<WorkerRole>, has_efficiency_workers: bool) -> &'static [Lane] {
    match (role.into(), has_efficiency_workers) {
        (WorkerRole::Critical, _) if crate::loom::mutation!("critical_takes_default") => {
            &[Lane::Critical, Lane::Default]
        }
        (WorkerRole::Critical, _) => &[Lane::Critical],
        (WorkerRole::Performance, true) => &[Lane::Critical, Lane::Default, Lane::Utility],
        (WorkerRole::Performance, false) => &Lane::ALL,
        (WorkerRole::Efficiency, _) if crate::loom::mutation!("e_takes_critical") => &[
            Lane::Critical,
            Lane::Utility,
            Lane::Default,
            Lane::Background,
        ],
        (WorkerRole::Efficiency, _) => &[Lane::Utility, Lane::Default, Lane::Background],
    }
}

/// May a worker of `role` poll a task of `lane`?
pub fn may_run(role: impl Into<WorkerRole>, has_efficiency_workers: bool, lane: Lane) -> bool {
    lanes_for(role, has_efficiency_workers).contains(&lane)
}

/// Which worker roles may run `lane`, in the order to wake them when its work arrives.
/// Critical work wakes a critical worker first (a runtime without any has none asleep nor
/// searching, so the idle protocol moves on to the P workers); no other lane names them,
/// so their idle list is reached by Critical work only.
pub fn wake_order(lane: Lane, has_efficiency_workers: bool) -> &'static [WorkerRole] {
    use WorkerRole::{Critical, Efficiency, Performance};
    match (lane, has_efficiency_workers) {
        (Lane::Critical, _) if crate::loom::mutation!("critical_wakes_p_first") => {
            &[Performance, Critical]
        }
        (Lane::Critical, _) => &[Critical, Performance],
        (Lane::Default, _) if crate::loom::mutation!("default_wakes_critical") => {
            &[Critical, Performance, Efficiency]
        }
        (_, false) => &[Performance],
        (Lane::Default, true) => &[Performance, Efficiency],
        (Lane::Utility, true) => &[Efficiency, Performance],
        (Lane::Background, true) => &[Efficiency],
    }
}

/// How long a poll of a Critical task on a critical worker may run before the task is
/// demoted ([`demotes`]). 1 ms: the length of the batch chunks the critical workers exist to
/// preempt. A latency-critical poll is tens of µs (a request handler's step); one that runs
/// for a millisecond at the raised priority takes that millisecond from whatever batch
/// work shares its CPU.
pub const CRITICAL_POLL_LIMIT: Duration = Duration::from_millis(1);

/// Does a poll of a task in `lane` that ran for `ran` (CPU time of the worker's thread,
/// so a poll the OS preempted is not held against the task) on a worker of `role` demote
/// the task to the Default lane for the rest of its life? Only a Critical poll on a critical worker
/// longer than [`CRITICAL_POLL_LIMIT`]: elsewhere a long poll costs what it costs on any
/// cooperative runtime (and the stuck-poll watchdog reports it), but on a critical worker
/// it runs above every ordinary thread. Permanent, not for a few polls: a task that took
/// the core once is likely to again, and a rule without hysteresis is one an operator can
/// predict.
///
/// ```
/// use hetsched::runtime::policy::{demotes, CRITICAL_POLL_LIMIT};
/// use hetsched::{Lane, WorkerRole};
/// use std::time::Duration;
///
/// let long = CRITICAL_POLL_LIMIT + Duration::from_micros(1);
/// assert!(demotes(WorkerRole::Critical, Lane::Critical, long));
/// assert!(!demotes(WorkerRole::Performance, Lane::Critical, long));
/// assert!(!demotes(WorkerRole::Critical, Lane::Critical, Duration::from_micros(50)));
/// ```
pub fn demotes(role: WorkerRole, lane: Lane, ran: Duration) -> bool {
    role == WorkerRole::Critical && lane == Lane::Critical && ran > CRITICAL_POLL_LIMIT
}

/// The Qos a task awaited by a task of `waiter` runs at from its next scheduling on, if
/// that raises it from `awaited` (its effective Qos now): the waiter's, when more urgent.
/// `None`: no change (escalation never lowers). Swift raises a task's priority the same
/// way when a higher-priority task awaits it, and GCD a queue's when a higher-QoS block is
/// waiting on it ("QoS override").
///
/// ```
/// use hetsched::runtime::policy::escalated;
/// use hetsched::Qos;
///
/// assert_eq!(escalated(Qos::Background, Qos::Interactive), Some(Qos::Interactive));
/// assert_eq!(escalated(Qos::Interactive, Qos::Background), None);
/// assert_eq!(escalated(Qos::Default, Qos::Default), None);
/// ```
pub fn escalated(awaited: Qos, waiter: Qos) -> Option<Qos> {
    (waiter.urgency() > awaited.urgency()).then_some(waiter)
}

/// Why a task became runnable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Just spawned.
    Spawned,
    /// A waker fired while the task was not running: from another task, a foreign
    /// thread, a timer.
    Woken,
    /// Woken during its own poll by anything but `yield_now`: a channel firing mid-poll,
    /// or a yield the runtime cannot tell apart from one (another library's `yield_now`,
    /// a hand-written `wake_by_ref(); Poll::Pending`). It keeps the LIFO slot, but the
    /// worker's next search looks at the injectors first ([`searches_injectors_next`]).
    WokenWhileRunning,
    /// Called `yield_now`: it asked to run again after the others (`context::request_yield`;
    /// on its own worker without a wake: the poll's end schedules it).
    Yielded,
    /// Taken from a queue by a worker that may not run its lane: its lane changed while it
    /// was queued (escalated, or demoted). It goes where its new lane's workers find it.
    Rerouted,
}

impl Readiness {
    /// Every reason, in [`Readiness::index`] order.
    pub const ALL: [Readiness; 5] = [
        Readiness::Spawned,
        Readiness::Woken,
        Readiness::WokenWhileRunning,
        Readiness::Yielded,
        Readiness::Rerouted,
    ];

    /// Position in [`Readiness::ALL`], for per-reason tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// After placing a task that became runnable this way, does the worker's next search look
/// at the lane's injector before its own queue and LIFO slot?
///
/// Yes for a task that woke itself, however it did: the raw task tells the runtime only
/// that a wake came during the poll (`ScheduleInfo::woken_while_running`), not from whom,
/// and a task that keeps waking itself through the LIFO slot would otherwise leave the
/// injector (where every wake from a timer, the reactor or a foreign thread lands) to the
/// fair turns, up to [`FAIRNESS_BOUND`] polls later. Measured: a Default-Qos probe under batch tasks that
/// yield through `futures-lite` waited 698 ms p99 instead of 1 ms (BENCHMARKS.md, B).
pub fn searches_injectors_next(readiness: Readiness) -> bool {
    matches!(readiness, Readiness::Yielded | Readiness::WokenWhileRunning)
}

/// Is `role` the first choice for `lane`'s work: the first role of [`wake_order`] that the
/// runtime has workers of ([`first_choice_in`])?
pub fn is_first_choice(
    role: WorkerRole,
    lane: Lane,
    has_efficiency_workers: bool,
    has_critical_workers: bool,
) -> bool {
    first_choice_in(
        wake_order(lane, has_efficiency_workers),
        has_critical_workers,
    ) == Some(role)
}

/// The first role of a lane's wake order (`order`) that the runtime has workers of:
/// critical workers only with `has_critical_workers`. (The simulator asks it of its
/// policies' wake orders.)
pub fn first_choice_in(order: &[WorkerRole], has_critical_workers: bool) -> Option<WorkerRole> {
    order
        .iter()
        .copied()
        .find(|&role| role != WorkerRole::Critical || has_critical_workers)
}

/// Is a sleeping peer woken for a task just put in its worker's own queue (where peers may
/// steal it)? Not for a yield on a worker of the lane's first choice
/// ([`is_first_choice`]) that sees no other work it could run (`sees_other_work`: a task in
/// its LIFO slot or own queues, or in the injector of a lane it may run): that worker is
/// between polls and its next search finds this task, the only work there is for it, so a
/// peer woken for it would find nothing, or take it and leave this worker idle: a wake-up
/// system call and a migration per yield of a lone task (measured: 75,000-95,000 context
/// switches in 4 million yields of one task on two workers). tokio's `should_notify_others`
/// makes the same call. Anywhere else a peer is woken as for any new work: a yield on a
/// worker of a later choice (a Default task on an E worker) wakes a sleeping worker of the
/// first choice, which may steal the task onto its faster core, and one queued beside other
/// work wakes a peer to take some of it. `sees_other_work` is asked only for a yield on
/// the first choice.
pub fn wakes_a_peer(
    readiness: Readiness,
    first_choice: bool,
    sees_other_work: impl FnOnce() -> bool,
) -> bool {
    let quiet_here = first_choice || crate::loom::mutation!("lone_yield_ignores_the_first_choice");
    readiness != Readiness::Yielded
        || !quiet_here
        || sees_other_work()
        || crate::loom::mutation!("lone_yield_wakes_a_peer")
}

/// Where a task that becomes runnable goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The current worker's LIFO slot: polled next. For a task woken by the running task
    /// (ping-pong stays on one hot cache).
    LifoSlot,
    /// The back of the current worker's own queue for the lane, where idle peers can steal
    /// it: a new task (so work spawned by a busy worker spreads at once — a spawn in the
    /// LIFO slot could not be stolen while its spawner keeps running) or a yielding task.
    LocalQueue,
    /// The lane's shared injector, and an idle worker that may run it is woken.
    Injector,
}

/// Where a task of `lane` goes when it becomes runnable.
///
/// `on_worker`: the role of the worker of *this* runtime doing the spawn/wake, if any.
/// `slot_limited`: that worker needs an [`efficiency_slots`] slot for some lanes; work of
/// those lanes goes to the injector, because this worker may be unable to take it from its
/// LIFO slot (where nobody else could reach it) for as long as the slots are taken.
/// `has_critical_workers`: Critical work made runnable on any other worker goes to the
/// injector, where the critical worker woken for it takes it at once, instead of waiting in
/// the LIFO slot or queue of a worker that may be in the middle of a long batch poll.
pub fn placement(
    lane: Lane,
    on_worker: Option<WorkerRole>,
    has_efficiency_workers: bool,
    has_critical_workers: bool,
    slot_limited: bool,
    readiness: Readiness,
) -> Placement {
    match on_worker {
        _ if readiness == Readiness::Rerouted => Placement::Injector,
        Some(role) if slot_limited && needs_efficiency_slot(role.class(), lane) => {
            Placement::Injector
        }
        Some(role)
            if has_critical_workers && lane == Lane::Critical && role != WorkerRole::Critical =>
        {
            Placement::Injector
        }
        Some(role) if may_run(role, has_efficiency_workers, lane) => match readiness {
            Readiness::Woken | Readiness::WokenWhileRunning => Placement::LifoSlot,
            Readiness::Spawned | Readiness::Yielded | Readiness::Rerouted => Placement::LocalQueue,
        },
        // A foreign thread, or a worker that may not run this lane (an E worker waking a
        // latency-critical task, a P worker spawning background work): the lane's injector.
        _ => Placement::Injector,
    }
}

/// Where a worker thread may run, and whether it asks for the lowest OS priority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadPlacement {
    /// CPUs to pin the thread to (empty: not pinned).
    pub cpus: Vec<usize>,
    /// Ask for the lowest OS priority (`sys::set_current_thread_idle_priority`).
    pub idle_priority: bool,
    /// Ask for a raised OS priority (`sys::raise_current_thread_priority`): critical
    /// workers only.
    pub raised_priority: bool,
}

/// Where the `nth` worker of `class` runs under `pin`, given the CPUs of each class.
///
/// | pin | performance worker | efficiency worker |
/// |---|---|---|
/// | `Spill` | the P CPUs | every CPU (P ∪ E), lowest OS priority |
/// | `Class` | the P CPUs | the E CPUs |
/// | `Core` | the `nth` P CPU | the `nth` E CPU (wrapping) |
/// | `Off` | anywhere | anywhere |
pub fn thread_placement(
    pin: Pin,
    class: CoreClass,
    nth: usize,
    p_cpus: &[usize],
    e_cpus: &[usize],
) -> ThreadPlacement {
    let own = match class {
        CoreClass::Performance => p_cpus,
        CoreClass::Efficiency => e_cpus,
    };
    let (cpus, idle_priority) = match (pin, class) {
        (Pin::Off, _) => (Vec::new(), false),
        (Pin::Class, _) | (Pin::Spill, CoreClass::Performance) => (own.to_vec(), false),
        (Pin::Core, _) if own.is_empty() => (Vec::new(), false),
        (Pin::Core, _) => (vec![own[nth % own.len()]], false),
        (Pin::Spill, CoreClass::Efficiency) => {
            let mut all: Vec<usize> = p_cpus.iter().chain(e_cpus).copied().collect();
            all.sort_unstable();
            all.dedup();
            (all, true)
        }
    };
    ThreadPlacement {
        cpus,
        idle_priority,
        raised_priority: false,
    }
}

/// May an idle worker drive the I/O reactor while it sleeps (feature `async-io`,
/// [`Builder::drive_io`](crate::Builder::drive_io))? Every worker but one at the idle OS
/// priority (an E worker under [`Pin::Spill`]): a `SCHED_IDLE` thread woken by a ready
/// socket runs only when its CPU has nothing else to do, so readiness it took from the
/// reactor would wait behind whatever runs there. Such workers sleep on their condvar and
/// leave the reactor to the others (or to async-io's own thread).
///
/// ```
/// use hetsched::runtime::policy::drives_reactor;
/// assert!(drives_reactor(false));
/// assert!(!drives_reactor(true));
/// ```
pub fn drives_reactor(idle_priority: bool) -> bool {
    !idle_priority
}

/// Where a critical worker runs under `pin`: on every P CPU (whatever the pin mode but
/// `Off`), so that the kernel wakes it on whichever P core it can preempt first, at a raised
/// OS priority (also under `Off`: the priority is what makes it a critical worker).
///
/// ```
/// use hetsched::runtime::policy::critical_placement;
/// use hetsched::Pin;
///
/// let placed = critical_placement(Pin::Core, &[0, 1]);
/// assert_eq!(placed.cpus, [0, 1]);
/// assert!(placed.raised_priority && !placed.idle_priority);
/// ```
pub fn critical_placement(pin: Pin, p_cpus: &[usize]) -> ThreadPlacement {
    ThreadPlacement {
        cpus: if pin == Pin::Off {
            Vec::new()
        } else {
            p_cpus.to_vec()
        },
        idle_priority: false,
        raised_priority: true,
    }
}

/// The CPUs this process may use now, as the runtime's CPU watch sees them: `own` is the
/// affinity of the watch's thread (started with the process's placement from before
/// hetsched placed any thread, its `baseline`), which the kernel narrows to the cgroup
/// cpuset when that shrinks. `baseline ∩ own`, so that a kernel that resets a thread to the
/// whole cpuset when it grows back (before Linux 6.2) does not widen the runtime past the
/// mask it was started with; `own` alone when they share nothing (the cpuset moved the
/// process off every CPU of its mask: the kernel runs every thread on the cpuset then).
pub fn allowed_cpus(own: &[usize], baseline: &[usize]) -> Vec<usize> {
    let both: Vec<usize> = own
        .iter()
        .copied()
        .filter(|c| baseline.contains(c))
        .collect();
    if both.is_empty() {
        own.to_vec()
    } else {
        both
    }
}

/// Where a pinned worker goes when the CPUs the process may use become `allowed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repin {
    /// The CPUs to pin the worker to.
    pub cpus: Vec<usize>,
    /// None of the worker's own class's CPUs is allowed: it runs on the other class's
    /// (its lanes stay what they were; only where its thread runs changes).
    pub displaced: bool,
}

/// Where a worker placed on `placed` (its [`thread_placement`], which never changes) runs
/// when the allowed CPUs are `allowed`; `class_cpus` are the CPUs of its class. In order:
/// the CPUs of `placed` still allowed (so a cpuset that grows back gets the placement
/// back); else the allowed CPUs of its class (a `Pin::Core` worker whose CPU went away
/// moves to its class's other CPUs, not to any CPU as the kernel would move it); else every
/// allowed CPU, `displaced`. `None` when there is nothing to do: an unpinned worker
/// (`placed` empty; the kernel keeps it inside the cpuset), or nothing allowed.
///
/// ```
/// use hetsched::runtime::policy::{repin, Repin};
///
/// // A P worker pinned to CPU 2 of P = {2, 3}; the cpuset drops CPU 2.
/// let to = repin(&[2], &[2, 3], &[0, 1, 3]).unwrap();
/// assert_eq!(to, Repin { cpus: vec![3], displaced: false });
/// // Every P CPU gone: it runs on what is left.
/// assert!(repin(&[2], &[2, 3], &[0, 1]).unwrap().displaced);
/// ```
pub fn repin(placed: &[usize], class_cpus: &[usize], allowed: &[usize]) -> Option<Repin> {
    if placed.is_empty() || allowed.is_empty() {
        return None;
    }
    let within = |set: &[usize]| -> Vec<usize> {
        set.iter()
            .copied()
            .filter(|c| allowed.contains(c))
            .collect()
    };
    let own = within(placed);
    if !own.is_empty() {
        return Some(Repin {
            cpus: own,
            displaced: false,
        });
    }
    let class = within(class_cpus);
    if !class.is_empty() {
        return Some(Repin {
            cpus: class,
            displaced: false,
        });
    }
    Some(Repin {
        cpus: allowed.to_vec(),
        displaced: true,
    })
}

/// How many workers `class` gets when the caller does not say, on a machine with
/// `p_count` P and `e_count` E CPUs: one per CPU of the class, except that under
/// [`Pin::Spill`] a machine with E cores gets one E worker per CPU of either class, so
/// that efficiency work can fill every CPU the P workers leave idle. No E cores: no E
/// workers (a one-kind machine is a plain work-stealing executor).
pub fn default_workers(class: CoreClass, pin: Pin, p_count: usize, e_count: usize) -> usize {
    match class {
        CoreClass::Performance => p_count,
        CoreClass::Efficiency if e_count == 0 => 0,
        CoreClass::Efficiency if pin == Pin::Spill => p_count + e_count,
        CoreClass::Efficiency => e_count,
    }
}

/// How long a worker that has run out of work keeps looking for more before it sleeps
/// (`Builder::idle_spin`): the setting if there is one; else [`DEFAULT_IDLE_SPIN`] while the process
/// may use more than one CPU, and none on one CPU. There the looking worker holds the one
/// CPU that the threads feeding it need, so nothing arrives while it looks unless the
/// kernel preempts it for them: on a one-CPU mask, spawning and awaiting one task after another from
/// `block_on` ran at 0.83x tokio with the default spin and 1.05x without (BENCHMARKS.md,
/// "One CPU").
/// `cpus_available` `None`: the OS does not say; the default spin stays (it was measured
/// as a gain wherever a second CPU exists, and a cost of at most 10 µs per idle moment).
pub fn idle_spin(set: Option<Duration>, cpus_available: Option<usize>) -> Duration {
    set.unwrap_or(if cpus_available.map_or(true, |cpus| cpus > 1) {
        DEFAULT_IDLE_SPIN
    } else {
        Duration::ZERO
    })
}

/// Under [`Pin::Spill`] there are more E workers than E CPUs, all at the lowest OS
/// priority: an E worker that starts a Default or Utility task on a P CPU and is then
/// preempted by the P worker there would hold that task hostage for as long as the P
/// worker stays busy (nothing can steal a task that is being polled). So at most this many
/// E workers poll Default or Utility tasks at a time: one per E CPU, the CPUs where an E
/// worker is never preempted by a P worker. The others take only Background work (which
/// waits for everything anyway); P workers and the E workers holding a slot take the rest.
/// At least one slot, even with no E CPUs (E workers asked for on a one-kind machine or a
/// one-CPU mask), so that E workers still help with shared-lane work (invariant 3).
/// `None`: no limit (E workers do not outnumber E CPUs, or they are not spilling).
pub fn efficiency_slots(pin: Pin, e_workers: usize, e_cpus: usize) -> Option<usize> {
    (pin == Pin::Spill && e_workers > e_cpus.max(1)).then_some(e_cpus.max(1))
}

/// Does a worker of `class` need one of the [`efficiency_slots`] to take a task of `lane`?
pub fn needs_efficiency_slot(class: CoreClass, lane: Lane) -> bool {
    class == CoreClass::Efficiency && matches!(lane, Lane::Default | Lane::Utility)
}

/// How long an efficiency worker's poll must have been running before an idle
/// performance worker lends it its CPUs ([`lends_cpus`], [`borrower`]).
///
/// A poll that has run this long is a long job, not one of many short tasks: moving its
/// thread costs a migration (tens of µs of cold caches) against the milliseconds it would
/// still run at E speed. Shorter tasks (the 100-200 µs ones of the benchmarks) never
/// trigger it, and a P worker only looks once per this interval while it is idle.
pub const LEND_AFTER: Duration = Duration::from_millis(1);

/// Does an idle worker of `class` lend its CPUs to efficiency workers stuck in long polls
/// (see `runtime/lend.rs`)? Only performance workers under [`Pin::Spill`], where E
/// workers may run on P CPUs anyway (lending only makes the move happen now) and a P
/// worker that wakes preempts them at once (they run at the lowest OS priority). Under
/// `Class` and `Core` an E worker must stay on its CPUs; under `Off` the kernel decides.
pub fn lends_cpus(pin: Pin, class: CoreClass, has_efficiency_workers: bool) -> bool {
    pin == Pin::Spill && class == CoreClass::Performance && has_efficiency_workers
}

/// Would a loan add capacity? Only if the idle P CPUs are really idle: with more E workers
/// awake than there are E CPUs, the spill already runs one of them on the P CPUs, and moving
/// another there would crowd the two onto one CPU while an E CPU empties (measured: the
/// Background batch of `latency_under_batch` lost 5-9% against tokio that way). A sleeping
/// E worker is also what leaves a P CPU idle in the straggler case (the few-long-jobs
/// workloads): the others found nothing to take.
pub fn lending_pays(awake_e_workers: usize, e_cpus: usize) -> bool {
    awake_e_workers <= e_cpus.max(1)
}

/// Which efficiency worker an idle P worker lends its CPUs to, from two looks at the
/// workers [`LEND_AFTER`] apart: `before[i]` / `after[i]` is the number of the poll worker
/// `i` was running (`None`: not polling, not an E worker, or already lent). The first
/// worker seen in the *same* poll both times: that poll has run for at least
/// `LEND_AFTER`. A worker that finished a poll in between and started another is not
/// picked (its new poll may be short).
pub fn borrower(before: &[Option<usize>], after: &[Option<usize>]) -> Option<usize> {
    before
        .iter()
        .zip(after)
        .position(|(b, a)| b.is_some() && b == a)
}

/// Where to look first within a lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The worker's LIFO slot and own queue, then the lane's injector.
    LocalFirst,
    /// The lane's injector, then the worker's own queue.
    InjectorFirst,
    /// A fair turn's look at the injector: one task from its head (no batch: moving tasks
    /// into the worker's queue on every fair turn would grow that queue faster than the
    /// queue turns drain it), then the worker's own queue.
    FairInjector,
    /// A fair turn's look at the worker's own queue: the LIFO slot's task of this lane goes
    /// to the back of the queue, then the queue's head is taken, then the injector's.
    FairQueue,
}

/// The order in which a worker looks for its next task (before stealing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchOrder {
    steps: [(Lane, Source); LANES],
    len: usize,
}

impl SearchOrder {
    /// The steps, in order.
    pub fn steps(&self) -> &[(Lane, Source)] {
        &self.steps[..self.len]
    }
}

/// The search order for a worker's poll number `tick`.
///
/// Normal polls: lanes in preference order, own queue before injector. Right after a task
/// yielded (`after_yield`): the same lanes, but each lane's injector first — a yield means
/// "let the others run", and that includes work spawned or woken from outside, which would
/// otherwise wait behind tasks that keep yielding on this worker's own queue. Fair turns
/// (every [`FAIR_INTERVAL`]-th tick): the rotating lane first, from the source whose turn it
/// is ([`Source::FairInjector`] and [`Source::FairQueue`] alternate from one of the
/// lane's fair turns to the next), then the remaining lanes in preference order. (The
/// runtime moves the Critical lane last in the normal polls' order while that lane was
/// never used: [`with_lane_last`].)
pub fn search_order(
    role: impl Into<WorkerRole>,
    has_efficiency_workers: bool,
    tick: u32,
    after_yield: bool,
) -> SearchOrder {
    let role = role.into();
    if !is_fair_turn(tick) {
        return regular_search_order(role, has_efficiency_workers, after_yield);
    }
    let lanes = lanes_for(role, has_efficiency_workers);
    let mut steps = [(Lane::Critical, Source::LocalFirst); LANES];
    let fair_turn = (tick / FAIR_INTERVAL) as usize;
    let favoured = lanes[fair_turn % lanes.len()];
    let source = if (fair_turn / lanes.len()) % 2 == 0 {
        Source::FairInjector
    } else {
        Source::FairQueue
    };
    steps[0] = (favoured, source);
    let rest = lanes.iter().filter(|lane| **lane != favoured);
    for (step, lane) in steps[1..].iter_mut().zip(rest) {
        *step = (*lane, Source::LocalFirst);
    }
    SearchOrder {
        steps,
        len: lanes.len(),
    }
}

/// Is poll number `tick` a fair turn (see [`search_order`])?
pub fn is_fair_turn(tick: u32) -> bool {
    tick % FAIR_INTERVAL == 0
}

/// [`search_order`] for every tick that is not a fair turn: it depends on the worker and on
/// `after_yield` only, so a worker may compute both once and reuse them (the search runs
/// before every poll).
pub fn regular_search_order(
    role: impl Into<WorkerRole>,
    has_efficiency_workers: bool,
    after_yield: bool,
) -> SearchOrder {
    let lanes = lanes_for(role, has_efficiency_workers);
    let mut steps = [(Lane::Critical, Source::LocalFirst); LANES];
    let source = if after_yield {
        Source::InjectorFirst
    } else {
        Source::LocalFirst
    };
    for (step, lane) in steps.iter_mut().zip(lanes) {
        *step = (*lane, source);
    }
    SearchOrder {
        steps,
        len: lanes.len(),
    }
}

/// `order` with `lane`'s step, if it has one, moved to the back; the other steps keep
/// their order.
///
/// A worker searches this way while no task was ever placed in, or raised to, the Critical
/// lane of its runtime (`Shared::critical_lane_used`): most programs never spawn one, and
/// without this every search would first look at that lane's empty LIFO slot, queue and
/// injector (about 20 instructions per task; BENCHMARKS.md, "Under 600"). It changes no
/// outcome while the lane is unused: every lane is still looked at, and a lane that never
/// had a task is empty wherever it is looked at. Should a task reach the lane by a path
/// that does not set the flag, it is still found, after the other lanes. The simulator
/// applies the policy's own order: with no critical task the two find the same tasks.
pub fn with_lane_last(order: SearchOrder, lane: Lane) -> SearchOrder {
    let mut steps = order.steps;
    let len = order.len;
    if let Some(at) = steps[..len].iter().position(|step| step.0 == lane) {
        steps[at..len].rotate_left(1);
    }
    SearchOrder { steps, len }
}

/// Steal order: the lanes a worker may take, in preference order (victims are chosen by
/// the worker; this only fixes which of their queues are fair game).
pub fn steal_order(role: impl Into<WorkerRole>, has_efficiency_workers: bool) -> &'static [Lane] {
    lanes_for(role, has_efficiency_workers)
}

/// Should the task in the LIFO slot be taken now, after `streak` LIFO polls in a row?
pub fn take_lifo(streak: u32) -> bool {
    streak < MAX_LIFO_STREAK
}

#[cfg(test)]
mod tests {
    use super::*;
    use CoreClass::{Efficiency, Performance};
    use WorkerRole as R;

    const CLASSES: [CoreClass; 2] = [Performance, Efficiency];

    #[test]
    fn the_default_idle_spin_needs_a_second_cpu_and_a_setting_always_wins() {
        assert_eq!(idle_spin(None, Some(2)), DEFAULT_IDLE_SPIN);
        assert_eq!(idle_spin(None, Some(64)), DEFAULT_IDLE_SPIN);
        assert_eq!(idle_spin(None, Some(1)), Duration::ZERO);
        assert_eq!(
            idle_spin(None, None),
            DEFAULT_IDLE_SPIN,
            "unknown: the default"
        );
        let set = Duration::from_micros(250);
        assert_eq!(idle_spin(Some(set), Some(1)), set);
        assert_eq!(idle_spin(Some(Duration::ZERO), Some(8)), Duration::ZERO);
    }

    #[test]
    fn regular_search_order_is_the_search_order_of_every_tick_but_fair_turns() {
        for role in WorkerRole::ALL {
            for has_e in [false, true] {
                for after_yield in [false, true] {
                    let regular = regular_search_order(role, has_e, after_yield);
                    for tick in 0..8 * FAIR_INTERVAL * LANES as u32 {
                        let order = search_order(role, has_e, tick, after_yield);
                        assert_eq!(is_fair_turn(tick), tick % FAIR_INTERVAL == 0);
                        if !is_fair_turn(tick) {
                            assert_eq!(order, regular, "{role:?} {has_e} {after_yield} {tick}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn readiness_indices_follow_all() {
        for (i, readiness) in Readiness::ALL.into_iter().enumerate() {
            assert_eq!(readiness.index(), i);
        }
        for (i, lane) in Lane::ALL.into_iter().enumerate() {
            assert_eq!(lane.index(), i);
        }
    }

    #[test]
    fn critical_only_on_performance_and_critical_workers() {
        for has_e in [true, false] {
            assert!(may_run(Performance, has_e, Lane::Critical));
            assert!(may_run(R::Critical, has_e, Lane::Critical));
            assert!(!may_run(Efficiency, has_e, Lane::Critical));
            // A critical worker first (none asleep: the P workers, as without them).
            assert_eq!(
                wake_order(Lane::Critical, has_e),
                &[R::Critical, R::Performance]
            );
        }
    }

    #[test]
    fn critical_workers_take_only_the_critical_lane_and_no_other_lane_wakes_them() {
        for has_e in [true, false] {
            assert_eq!(lanes_for(R::Critical, has_e), &[Lane::Critical]);
            assert_eq!(steal_order(R::Critical, has_e), &[Lane::Critical]);
            for tick in 0..2 * FAIR_INTERVAL {
                for after_yield in [false, true] {
                    assert!(search_order(R::Critical, has_e, tick, after_yield)
                        .steps()
                        .iter()
                        .all(|(lane, _)| *lane == Lane::Critical));
                }
            }
            for lane in Lane::ALL.into_iter().filter(|&l| l != Lane::Critical) {
                assert!(!may_run(R::Critical, has_e, lane), "{lane}");
                assert!(!wake_order(lane, has_e).contains(&R::Critical), "{lane}");
            }
        }
    }

    #[test]
    fn demotion_only_for_long_critical_polls_on_critical_workers() {
        let long = CRITICAL_POLL_LIMIT + Duration::from_micros(1);
        assert!(demotes(R::Critical, Lane::Critical, long));
        assert!(!demotes(R::Critical, Lane::Critical, CRITICAL_POLL_LIMIT));
        for role in [R::Performance, R::Efficiency] {
            assert!(!demotes(role, Lane::Critical, long * 100));
        }
    }

    #[test]
    fn escalation_raises_and_never_lowers() {
        for awaited in Qos::ALL {
            for waiter in Qos::ALL {
                let raised = escalated(awaited, waiter);
                if waiter.urgency() > awaited.urgency() {
                    assert_eq!(raised, Some(waiter), "{awaited:?} awaited by {waiter:?}");
                } else {
                    assert_eq!(raised, None, "{awaited:?} awaited by {waiter:?}");
                }
            }
        }
        assert_eq!(
            escalated(Qos::Background, Qos::Interactive),
            Some(Qos::Interactive)
        );
        assert_eq!(escalated(Qos::Interactive, Qos::Background), None);
    }

    #[test]
    fn background_only_on_efficiency_workers_when_there_are_any() {
        assert!(!may_run(Performance, true, Lane::Background));
        assert!(may_run(Efficiency, true, Lane::Background));
        assert_eq!(wake_order(Lane::Background, true), &[R::Efficiency]);
        // Without E workers, P workers take it, below every other lane.
        assert!(may_run(Performance, false, Lane::Background));
        assert_eq!(
            lanes_for(Performance, false).last(),
            Some(&Lane::Background)
        );
    }

    #[test]
    fn default_and_utility_run_anywhere_with_class_preferences() {
        for class in CLASSES {
            assert!(may_run(class, true, Lane::Default));
            assert!(may_run(class, true, Lane::Utility));
        }
        let p = lanes_for(Performance, true);
        let e = lanes_for(Efficiency, true);
        let pos = |lanes: &[Lane], lane| lanes.iter().position(|l| *l == lane).unwrap();
        assert!(pos(p, Lane::Default) < pos(p, Lane::Utility));
        assert!(pos(e, Lane::Utility) < pos(e, Lane::Default));
        assert_eq!(
            wake_order(Lane::Default, true),
            &[R::Performance, R::Efficiency]
        );
        assert_eq!(
            wake_order(Lane::Utility, true),
            &[R::Efficiency, R::Performance]
        );
    }

    #[test]
    fn wake_order_agrees_with_may_run() {
        for has_e in [true, false] {
            for lane in Lane::ALL {
                for role in WorkerRole::ALL {
                    if role == R::Efficiency && !has_e {
                        continue;
                    }
                    assert_eq!(
                        wake_order(lane, has_e).contains(&role),
                        may_run(role, has_e, lane),
                        "{lane} {role} has_e={has_e}"
                    );
                }
            }
        }
    }

    #[test]
    fn placement_never_puts_work_where_the_worker_may_not_run_it() {
        for has_e in [true, false] {
            for lane in Lane::ALL {
                for (on, has_c) in [None, Some(R::Performance), Some(R::Efficiency)]
                    .into_iter()
                    .flat_map(|on| [(on, false), (on, true)])
                    .chain([(Some(R::Critical), true)])
                {
                    for readiness in [
                        Readiness::Spawned,
                        Readiness::Woken,
                        Readiness::WokenWhileRunning,
                        Readiness::Yielded,
                        Readiness::Rerouted,
                    ] {
                        let p = placement(lane, on, has_e, has_c, false, readiness);
                        // A slot-limited E worker sends shared-lane work to the injector.
                        let limited = placement(lane, on, has_e, has_c, true, readiness);
                        if on.is_some_and(|r| needs_efficiency_slot(r.class(), lane)) {
                            assert_eq!(limited, Placement::Injector);
                        } else {
                            assert_eq!(limited, p);
                        }
                        // With critical workers, Critical work made runnable anywhere else
                        // goes where they take it at once.
                        let for_critical_workers =
                            has_c && lane == Lane::Critical && on != Some(R::Critical);
                        match on {
                            _ if readiness == Readiness::Rerouted || for_critical_workers => {
                                assert_eq!(p, Placement::Injector)
                            }
                            Some(role) if may_run(role, has_e, lane) => {
                                let woken = matches!(
                                    readiness,
                                    Readiness::Woken | Readiness::WokenWhileRunning
                                );
                                let want = if woken {
                                    Placement::LifoSlot
                                } else {
                                    Placement::LocalQueue
                                };
                                assert_eq!(p, want);
                            }
                            _ => assert_eq!(p, Placement::Injector),
                        }
                    }
                }
            }
        }
        // The invariant-1 case spelled out: an E worker waking a critical task.
        assert_eq!(
            placement(
                Lane::Critical,
                Some(R::Efficiency),
                true,
                false,
                false,
                Readiness::Woken
            ),
            Placement::Injector
        );
    }

    #[test]
    fn normal_turn_takes_highest_lane_first_local_first() {
        for has_e in [true, false] {
            for class in CLASSES {
                for tick in (1..1000).filter(|t| t % FAIR_INTERVAL != 0) {
                    let order = search_order(class, has_e, tick, false);
                    let lanes: Vec<Lane> = order.steps().iter().map(|s| s.0).collect();
                    assert_eq!(lanes, lanes_for(class, has_e));
                    assert!(order.steps().iter().all(|s| s.1 == Source::LocalFirst));
                }
            }
        }
    }

    #[test]
    fn a_lane_moved_last_is_still_searched_and_the_others_keep_their_order() {
        for has_e in [true, false] {
            for role in WorkerRole::ALL {
                for after_yield in [false, true] {
                    let order = regular_search_order(role, has_e, after_yield);
                    let moved = with_lane_last(order, Lane::Critical);
                    let before: Vec<_> = order.steps().to_vec();
                    let after: Vec<_> = moved.steps().to_vec();
                    assert_eq!(after.len(), before.len());
                    let others = |steps: &[(Lane, Source)]| -> Vec<(Lane, Source)> {
                        steps
                            .iter()
                            .copied()
                            .filter(|s| s.0 != Lane::Critical)
                            .collect()
                    };
                    assert_eq!(others(&after), others(&before));
                    let critical = before.iter().find(|s| s.0 == Lane::Critical);
                    if let Some(step) = critical {
                        assert_eq!(after.last(), Some(step), "{role:?} {has_e} {after_yield}");
                    } else {
                        assert_eq!(after, before);
                    }
                }
            }
        }
    }

    #[test]
    fn search_order_only_ever_names_lanes_the_worker_may_run() {
        for has_e in [true, false] {
            for class in CLASSES {
                for tick in 0..(FAIR_INTERVAL * 8) {
                    let order = search_order(class, has_e, tick, false);
                    let mut seen: Vec<Lane> = order.steps().iter().map(|s| s.0).collect();
                    assert!(seen.iter().all(|l| may_run(class, has_e, *l)));
                    seen.sort();
                    seen.dedup();
                    assert_eq!(seen.len(), lanes_for(class, has_e).len(), "each lane once");
                }
            }
        }
    }

    /// The stated starvation bound, computed from `search_order` itself: for every lane a
    /// worker may run and each of its two fair-turn sources, the longest run of ticks in
    /// which that (lane, source) is never looked at first, over three full cycles, with and
    /// without a yield before each look. The worst case over all classes is the bound.
    #[test]
    fn every_lane_gets_both_fair_turns_within_the_bound() {
        let mut worst = 0;
        for has_e in [true, false] {
            for class in CLASSES {
                let lanes = lanes_for(class, has_e);
                let cycle = FAIRNESS_BOUND * 3;
                for after_yield in [false, true] {
                    for lane in lanes {
                        for source in [Source::FairInjector, Source::FairQueue] {
                            let firsts: Vec<u32> = (0..cycle)
                                .filter(|&tick| {
                                    search_order(class, has_e, tick, after_yield).steps()[0]
                                        == (*lane, source)
                                })
                                .collect();
                            assert!(firsts.len() >= 3, "{class} {lane} {source:?} never first");
                            // The gap before the first turn, between turns, and after the
                            // last one to the end of the cycle.
                            let edges = std::iter::once(0)
                                .chain(firsts.iter().copied())
                                .chain(std::iter::once(cycle));
                            let gap = edges
                                .clone()
                                .zip(edges.skip(1))
                                .map(|(a, b)| b - a)
                                .max()
                                .unwrap();
                            worst = worst.max(gap);
                        }
                    }
                }
            }
        }
        assert_eq!(
            worst, FAIRNESS_BOUND,
            "the documented bound is the real worst case"
        );
        assert_eq!(
            FAIRNESS_BOUND, 488,
            "README and module docs say 2 × 61 × 4 = 488"
        );
        // The counter's wrap continues every cycle exactly (worker.rs wraps at TICK_PERIOD).
        for lanes in 1..=LANES as u32 {
            assert_eq!(
                TICK_PERIOD % (2 * lanes * FAIR_INTERVAL),
                0,
                "{lanes} lanes"
            );
        }
    }

    #[test]
    fn only_a_lone_yield_on_the_first_choice_wakes_no_peer() {
        for readiness in Readiness::ALL {
            let lone = wakes_a_peer(readiness, true, || false);
            assert_eq!(lone, readiness != Readiness::Yielded, "{readiness:?}");
            assert!(
                wakes_a_peer(readiness, true, || true),
                "{readiness:?}, other work seen"
            );
            assert!(
                wakes_a_peer(readiness, false, || false),
                "{readiness:?}, a later choice"
            );
        }
    }

    #[test]
    fn the_first_choice_is_the_first_role_of_the_wake_order_that_exists() {
        use WorkerRole::{Critical, Efficiency, Performance};
        // A Default task on an E worker is not on its first choice: a P worker is.
        assert!(is_first_choice(Performance, Lane::Default, true, false));
        assert!(!is_first_choice(Efficiency, Lane::Default, true, false));
        assert!(is_first_choice(Efficiency, Lane::Utility, true, false));
        assert!(!is_first_choice(Performance, Lane::Utility, true, false));
        assert!(is_first_choice(Performance, Lane::Utility, false, false));
        // Critical work goes to critical workers first, to P workers without them.
        assert!(is_first_choice(Critical, Lane::Critical, true, true));
        assert!(!is_first_choice(Performance, Lane::Critical, true, true));
        assert!(is_first_choice(Performance, Lane::Critical, true, false));
    }

    #[test]
    fn after_a_yield_injectors_come_first_in_the_same_lane_order() {
        for has_e in [true, false] {
            for class in CLASSES {
                for tick in (1..200).filter(|t| t % FAIR_INTERVAL != 0) {
                    let order = search_order(class, has_e, tick, true);
                    let lanes: Vec<Lane> = order.steps().iter().map(|s| s.0).collect();
                    assert_eq!(lanes, lanes_for(class, has_e), "lane priority is kept");
                    assert!(order.steps().iter().all(|s| s.1 == Source::InjectorFirst));
                }
                // A fair turn stays a fair turn.
                assert_eq!(
                    search_order(class, has_e, FAIR_INTERVAL, true),
                    search_order(class, has_e, FAIR_INTERVAL, false)
                );
            }
        }
    }

    /// Every placement over every allowed set of 4 CPUs: the answer is always allowed,
    /// inside the placement when possible, inside the class next, and the placement comes
    /// back whole when everything is allowed again.
    #[test]
    fn repin_stays_allowed_and_prefers_placement_then_class() {
        let subsets = |n: usize| -> Vec<Vec<usize>> {
            (0u32..1 << n)
                .map(|m| (0..n).filter(|c| m & (1 << c) != 0).collect())
                .collect()
        };
        let (p, e) = (vec![0, 1], vec![2, 3]);
        for pin in [Pin::Spill, Pin::Class, Pin::Core, Pin::Off] {
            for class in CLASSES {
                for nth in 0..2 {
                    let placed = thread_placement(pin, class, nth, &p, &e).cpus;
                    let class_cpus = if class == Performance { &p } else { &e };
                    for allowed in subsets(4) {
                        let got = repin(&placed, class_cpus, &allowed);
                        if placed.is_empty() || allowed.is_empty() {
                            assert_eq!(got, None);
                            continue;
                        }
                        let got = got.unwrap();
                        assert!(!got.cpus.is_empty());
                        assert!(got.cpus.iter().all(|c| allowed.contains(c)), "{got:?}");
                        let in_placed = placed.iter().any(|c| allowed.contains(c));
                        let in_class = class_cpus.iter().any(|c| allowed.contains(c));
                        if in_placed {
                            assert!(got.cpus.iter().all(|c| placed.contains(c)));
                        } else if in_class {
                            assert!(got.cpus.iter().all(|c| class_cpus.contains(c)));
                        } else {
                            assert_eq!(got.cpus, allowed);
                        }
                        assert_eq!(got.displaced, !in_placed && !in_class);
                    }
                    if !placed.is_empty() {
                        let all = repin(&placed, class_cpus, &[0, 1, 2, 3]).unwrap();
                        assert_eq!(all.cpus, placed);
                    }
                }
            }
        }
    }

    #[test]
    fn allowed_cpus_stay_inside_the_baseline_unless_it_is_gone() {
        assert_eq!(allowed_cpus(&[0, 1, 2], &[1, 2, 3]), vec![1, 2]);
        assert_eq!(allowed_cpus(&[0, 1, 2, 3], &[1]), vec![1]);
        assert_eq!(allowed_cpus(&[0], &[1]), vec![0]);
        assert_eq!(allowed_cpus(&[], &[1]), Vec::<usize>::new());
    }

    #[test]
    fn thread_placement_table() {
        let (p, e) = (&[4, 5][..], &[0, 1, 2][..]);
        let at = |pin, class, nth| thread_placement(pin, class, nth, p, e);
        let placed = |cpus: &[usize], idle| ThreadPlacement {
            cpus: cpus.to_vec(),
            idle_priority: idle,
            raised_priority: false,
        };
        // Critical workers: every P CPU whatever the pin (but Off), raised priority.
        for pin in [Pin::Spill, Pin::Class, Pin::Core] {
            assert_eq!(
                critical_placement(pin, p),
                ThreadPlacement {
                    cpus: p.to_vec(),
                    idle_priority: false,
                    raised_priority: true,
                }
            );
        }
        assert!(critical_placement(Pin::Off, p).cpus.is_empty());
        assert_eq!(at(Pin::Spill, Performance, 0), placed(&[4, 5], false));
        assert_eq!(
            at(Pin::Spill, Efficiency, 3),
            placed(&[0, 1, 2, 4, 5], true)
        );
        assert_eq!(at(Pin::Class, Performance, 1), placed(&[4, 5], false));
        assert_eq!(at(Pin::Class, Efficiency, 1), placed(&[0, 1, 2], false));
        assert_eq!(at(Pin::Core, Performance, 3), placed(&[5], false));
        assert_eq!(at(Pin::Core, Efficiency, 4), placed(&[1], false));
        assert_eq!(at(Pin::Off, Efficiency, 0), placed(&[], false));
        // Only spilling E workers ever ask for the lowest priority, and every placement
        // stays on the runtime's CPUs.
        for pin in [Pin::Spill, Pin::Class, Pin::Core, Pin::Off] {
            for class in CLASSES {
                for nth in 0..6 {
                    let t = at(pin, class, nth);
                    assert_eq!(t.idle_priority, pin == Pin::Spill && class == Efficiency);
                    assert!(t.cpus.iter().all(|c| p.contains(c) || e.contains(c)));
                    if class == Performance && pin != Pin::Off {
                        assert!(!t.cpus.is_empty() && t.cpus.iter().all(|c| p.contains(c)));
                    }
                }
            }
        }
        // No CPU ids (macOS): nothing to pin to, whatever the mode.
        assert!(thread_placement(Pin::Core, Efficiency, 0, &[], &[])
            .cpus
            .is_empty());
    }

    #[test]
    fn efficiency_slots_only_limit_spilling_e_workers_on_shared_lanes() {
        assert_eq!(efficiency_slots(Pin::Spill, 2, 1), Some(1));
        assert_eq!(efficiency_slots(Pin::Spill, 24, 16), Some(16));
        // Explicit counts at or below the E CPUs, or any other placement: no limit.
        assert_eq!(efficiency_slots(Pin::Spill, 1, 1), None);
        // No E CPUs (explicit E workers on a one-kind machine): one slot, never zero.
        assert_eq!(efficiency_slots(Pin::Spill, 2, 0), Some(1));
        assert_eq!(efficiency_slots(Pin::Spill, 1, 0), None);
        for pin in [Pin::Class, Pin::Core, Pin::Off] {
            assert_eq!(efficiency_slots(pin, 8, 1), None);
        }
        for lane in Lane::ALL {
            assert!(!needs_efficiency_slot(Performance, lane));
            assert_eq!(
                needs_efficiency_slot(Efficiency, lane),
                lane == Lane::Default || lane == Lane::Utility,
                "{lane}"
            );
        }
        // The default worker counts under Spill always bring the limit into play.
        for (p, e) in [(1, 1), (4, 4), (8, 16)] {
            let workers = default_workers(Efficiency, Pin::Spill, p, e);
            assert_eq!(efficiency_slots(Pin::Spill, workers, e), Some(e));
        }
    }

    #[test]
    fn only_spilling_performance_workers_lend_their_cpus() {
        for pin in [Pin::Spill, Pin::Class, Pin::Core, Pin::Off] {
            for class in CLASSES {
                for has_e in [true, false] {
                    assert_eq!(
                        lends_cpus(pin, class, has_e),
                        pin == Pin::Spill && class == Performance && has_e,
                        "{pin:?} {class:?} has_e={has_e}"
                    );
                }
            }
        }
        // The borrower's placement is what makes the loan safe: a spilling E worker may
        // already run on the P CPUs, at the lowest priority.
        let e = thread_placement(Pin::Spill, Efficiency, 0, &[0, 1], &[2]);
        assert!(e.idle_priority);
        assert!([0, 1].iter().all(|cpu| e.cpus.contains(cpu)));
    }

    #[test]
    fn lending_pays_only_while_no_e_worker_already_spills_onto_the_p_cpus() {
        // 1P+1E, default 2 E workers: one long job on E, the other E worker asleep.
        assert!(lending_pays(1, 1));
        // Both E workers busy (a Background batch): one of them runs on the P CPU already.
        assert!(!lending_pays(2, 1));
        assert!(lending_pays(4, 4));
        assert!(!lending_pays(5, 4));
        // E workers on a machine without E CPUs (one slot): one awake may borrow.
        assert!(lending_pays(1, 0));
        assert!(!lending_pays(2, 0));
    }

    #[test]
    fn the_borrower_is_in_the_same_poll_on_both_looks() {
        // Same poll both times: that poll has run for LEND_AFTER at least.
        assert_eq!(borrower(&[None, Some(3)], &[None, Some(3)]), Some(1));
        // The first such worker wins.
        assert_eq!(borrower(&[Some(1), Some(3)], &[Some(1), Some(3)]), Some(0));
        // A new poll since the first look (or an ended one, or one lent meanwhile): no.
        assert_eq!(borrower(&[Some(3)], &[Some(5)]), None);
        assert_eq!(borrower(&[Some(3)], &[None]), None);
        assert_eq!(borrower(&[None], &[Some(3)]), None);
        assert_eq!(borrower(&[None, None], &[None, None]), None);
        assert_eq!(borrower(&[], &[]), None);
        // Short polls are left alone: LEND_AFTER is well above a 200 µs task.
        assert!(LEND_AFTER >= Duration::from_micros(500));
    }

    #[test]
    fn default_worker_counts() {
        for pin in [Pin::Spill, Pin::Class, Pin::Core, Pin::Off] {
            assert_eq!(default_workers(Performance, pin, 4, 4), 4);
            // A one-kind machine never gets E workers by default.
            assert_eq!(default_workers(Efficiency, pin, 8, 0), 0);
        }
        assert_eq!(default_workers(Efficiency, Pin::Spill, 1, 1), 2);
        assert_eq!(default_workers(Efficiency, Pin::Spill, 8, 16), 24);
        assert_eq!(default_workers(Efficiency, Pin::Class, 8, 16), 16);
    }

    /// A task in a worker's LIFO slot is reachable by that worker's own searches alone. So
    /// every lane the policy puts there must be one that every search of the worker looks
    /// at (each source looks at the worker's own queue and slot), and one it may take
    /// without an efficiency slot, which another worker may hold for as long as the task
    /// waits (RELIABILITY.md, bug 6: a task whose lane *changed* in the slot is handed on by
    /// `WorkerCore::lifo_task_of`, which relies on this for every lane it leaves in place).
    #[test]
    fn every_lane_placed_in_the_lifo_slot_is_searched_without_a_slot() {
        for role in WorkerRole::ALL {
            for (has_e, has_critical, slot_limited) in
                (0..8).map(|bits| (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0))
            {
                for lane in Lane::ALL {
                    for readiness in Readiness::ALL {
                        let placed = placement(
                            lane,
                            Some(role),
                            has_e,
                            has_critical,
                            slot_limited,
                            readiness,
                        );
                        if placed != Placement::LifoSlot {
                            continue;
                        }
                        let case =
                            format!("{role} {lane} {readiness:?} e={has_e} slots={slot_limited}");
                        assert!(
                            !(slot_limited && needs_efficiency_slot(role.class(), lane)),
                            "{case}: needs a slot to be taken"
                        );
                        for tick in 0..FAIRNESS_BOUND * 2 {
                            for after_yield in [false, true] {
                                let order = search_order(role, has_e, tick, after_yield);
                                assert!(
                                    order.steps().iter().any(|&(l, _)| l == lane),
                                    "{case}: not searched at tick {tick}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn lifo_streak_is_capped() {
        assert!(take_lifo(0));
        assert!(take_lifo(MAX_LIFO_STREAK - 1));
        assert!(!take_lifo(MAX_LIFO_STREAK));
    }

    #[test]
    fn qos_maps_to_lanes() {
        let lanes: Vec<Lane> = Qos::ALL.into_iter().map(Lane::of).collect();
        assert_eq!(
            lanes,
            [
                Lane::Critical,
                Lane::Critical,
                Lane::Default,
                Lane::Utility,
                Lane::Background
            ]
        );
        for (i, lane) in Lane::ALL.into_iter().enumerate() {
            assert_eq!(lane.index(), i);
        }
    }
}
