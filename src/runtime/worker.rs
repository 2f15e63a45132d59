//! A worker thread: finds the next task the policy allows, polls it, and parks when
//! there is nothing to do.

use super::context::{self, PollGuard, WorkerGuard};
use super::held_refs::HeldRefs;
use super::metrics::WorkerCounters;
use super::policy::{self, Lane, Placement, Readiness, Source, WorkerRole, LANES};
use super::shared::{Shared, Task};
use super::task_refs::OwnerRef;
use crate::loom::deque::{Steal, Worker};
use crate::loom::sync::Arc;
use crate::task::PollEnd;
use crate::topology::CoreClass;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// How long a worker looking for work before it sleeps (`look_before_sleeping`) watches
/// only the injectors; after that it watches its peers' queues too. Longer than the default
/// `Builder::idle_spin` (10 µs), so that the default never reads a busy peer's queue.
#[cfg(not(any(loom, miri)))]
const PEERS_AFTER: Duration = Duration::from_micros(50);

/// The owner side of a worker: its queues and loop state. Lives on the worker's stack;
/// reachable from `schedule` on the same thread through the thread-local context.
pub(crate) struct WorkerCore {
    pub(crate) index: usize,
    pub(crate) class: CoreClass,
    pub(crate) role: WorkerRole,
    shared: Arc<Shared>,
    /// Own queue per lane (`None` for lanes this worker may not run).
    locals: [Option<Worker<Task>>; LANES],
    /// The task to poll next: spawned or woken by the task now running.
    lifo: Cell<Option<Task>>,
    lifo_streak: Cell<u32>,
    tick: Cell<u32>,
    searching: Cell<bool>,
    /// A task yielded since the last look for work (see `policy::search_order`).
    yielded: Cell<bool>,
    /// The task being polled took an efficiency slot (`policy::efficiency_slots`).
    holds_slot: Cell<bool>,
    /// This worker needs a slot for some lanes (an E worker of a runtime with a limit).
    slot_limited: bool,
    /// The stuck-poll watchdog runs: publish every poll (`runtime/stuck.rs`).
    publish_polls: bool,
    /// The CPU watch's epoch this worker last placed itself for (`runtime/cpu_watch.rs`).
    cpu_epoch: Cell<usize>,
    /// Sleeps in the I/O reactor when idle (`runtime/parker.rs`, `policy::drives_reactor`).
    #[cfg_attr(
        not(all(any(feature = "async-io", feature = "tokio"), not(loom), not(miri))),
        allow(dead_code)
    )]
    drives_io: bool,
    /// The poll clock ([`WorkerCore::poll_clock`]) when the poll under way began: kept by
    /// critical workers only, for the demotion rule (`policy::demotes`, applied in
    /// `poll_ended`).
    poll_started: Cell<Option<Duration>>,
    rng: Cell<u64>,
    /// `policy::regular_search_order` for this worker, without and with `after_yield`:
    /// the search order of every poll that is not a fair turn, computed once; the first
    /// pair with the Critical lane last (`policy::with_lane_last`), for as long as the
    /// runtime's Critical lane was never used (`Shared::critical_lane_used`), the second as
    /// the policy gives it.
    regular_orders: [[policy::SearchOrder; 2]; 2],
    /// `policy::placement` for a task this worker schedules, by lane and readiness, and
    /// `policy::may_run` by lane: the worker's role and its runtime's shape are fixed, so
    /// the policy is asked once per case when the worker starts, not at every scheduling.
    placements: [[Placement; Readiness::ALL.len()]; LANES],
    may_run: [bool; LANES],
    /// `policy::is_first_choice` by lane (fixed, like `may_run`).
    first_choice: [bool; LANES],
    /// References to this runtime that tasks ended on this worker gave up, given back in
    /// batches (see [`WorkerCore::release_owner`]).
    held_refs: HeldRefs<Shared>,
    /// This worker's own slot, `shared.workers[index]`, looked up once (the worker loop and
    /// every spawn and poll reach it).
    slot: std::ptr::NonNull<super::shared::WorkerSlot>,
}

impl WorkerCore {
    pub(crate) fn new(
        shared: Arc<Shared>,
        index: usize,
        locals: [Option<Worker<Task>>; LANES],
    ) -> Self {
        let class = shared.workers[index].class;
        let role = shared.workers[index].role;
        let slot_limited = class == CoreClass::Efficiency && shared.has_slot_limit();
        let publish_polls = shared.watchdog.is_some();
        let has_efficiency = shared.has_efficiency;
        let slot = std::ptr::NonNull::from(&*shared.workers[index]);
        let placements = Lane::ALL.map(|lane| {
            Readiness::ALL.map(|readiness| {
                policy::placement(
                    lane,
                    Some(role),
                    has_efficiency,
                    shared.has_critical,
                    slot_limited,
                    readiness,
                )
            })
        });
        let may_run = Lane::ALL.map(|lane| policy::may_run(role, has_efficiency, lane));
        let first_choice = Lane::ALL
            .map(|lane| policy::is_first_choice(role, lane, has_efficiency, shared.has_critical));
        let drives_io =
            shared.drive_io && policy::drives_reactor(shared.workers[index].idle_priority);
        let held_refs = HeldRefs::new(&shared);
        WorkerCore {
            index,
            class,
            role,
            shared,
            locals,
            lifo: Cell::new(None),
            lifo_streak: Cell::new(0),
            tick: Cell::new(0),
            searching: Cell::new(false),
            yielded: Cell::new(false),
            holds_slot: Cell::new(false),
            slot_limited,
            publish_polls,
            cpu_epoch: Cell::new(0),
            poll_started: Cell::new(None),
            drives_io,
            // Any non-zero odd seed differing per worker will do for victim selection.
            rng: Cell::new(0x9E37_79B9_7F4A_7C15 ^ ((index as u64 + 1) << 1 | 1)),
            slot,
            placements,
            may_run,
            first_choice,
            regular_orders: [false, true].map(|critical_used| {
                [false, true].map(|after_yield| {
                    let order = policy::regular_search_order(role, has_efficiency, after_yield);
                    if critical_used {
                        order
                    } else {
                        policy::with_lane_last(order, Lane::Critical)
                    }
                })
            }),
            held_refs,
        }
    }

    /// A task of this runtime ended on this worker: hold its reference to the runtime and
    /// give it back in a batch (`runtime/held_refs.rs`). Safe to defer: this worker holds
    /// its own reference, so the runtime outlives the batch; what is left is given back
    /// with the worker.
    #[inline]
    pub(crate) fn release_owner(&self, owner: OwnerRef<Shared>) {
        self.held_refs.hold(owner);
    }

    /// The runtime this worker belongs to.
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The runtime this worker belongs to, as the reference its tasks clone.
    pub(crate) fn shared_arc(&self) -> &Arc<Shared> {
        &self.shared
    }

    #[inline]
    pub(crate) fn belongs_to(&self, shared: &Shared) -> bool {
        std::ptr::eq(&*self.shared, shared)
    }

    /// Where a task of `lane` this worker schedules goes (`policy::placement`).
    #[inline]
    pub(crate) fn placement(&self, lane: Lane, readiness: Readiness) -> Placement {
        self.placements[lane.index()][readiness.index()]
    }

    /// What other threads may see of this worker: its slot in `shared.workers`.
    #[inline]
    pub(crate) fn slot(&self) -> &super::shared::WorkerSlot {
        // SAFETY: `slot` points at `self.shared.workers[self.index]`, an element of a boxed
        // slice that is never resized nor moved and lives as long as `self.shared`, which
        // `self` holds; slots are only ever used through shared references.
        unsafe { self.slot.as_ref() }
    }

    #[inline]
    pub(crate) fn counters(&self) -> &WorkerCounters {
        &self.slot().counters
    }

    /// Does the LIFO slot hold a task?
    fn lifo_is_full(&self) -> bool {
        let task = self.lifo.take();
        let full = task.is_some();
        self.lifo.set(task);
        full
    }

    /// Put `task` in the LIFO slot; returns the task it displaced.
    pub(crate) fn put_lifo(&self, task: Task) -> Option<Task> {
        self.lifo.replace(Some(task))
    }

    /// A task of this worker yielded: the next look for work checks injectors first.
    pub(crate) fn note_yield(&self) {
        self.yielded.set(true);
    }

    /// Is this worker the first choice for `lane`'s work (`policy::is_first_choice`)?
    #[inline]
    pub(crate) fn is_first_choice(&self, lane: Lane) -> bool {
        self.first_choice[lane.index()]
    }

    /// Does this worker see work it could run: a task in its LIFO slot or its own queues,
    /// or in the injector of a lane it may run?
    pub(crate) fn sees_work(&self) -> bool {
        let injected = |lane: Lane| {
            self.may_run[lane.index()] && !self.shared.injectors[lane.index()].is_empty()
        };
        self.lifo_is_full()
            || self.locals.iter().flatten().any(|queue| !queue.is_empty())
            || Lane::ALL.into_iter().any(injected)
    }

    /// Push to the back of this worker's own queue for `lane` (the policy guarantees this
    /// worker may run `lane`, so the queue exists).
    #[inline]
    pub(crate) fn push_local(&self, lane: Lane, task: Task) {
        match &self.locals[lane.index()] {
            Some(queue) => queue.push(task),
            // Unreachable by the policy; stay correct anyway: `inject` rechecks shutdown
            // (so the task is dropped, not stranded) and wakes a worker that may run it.
            None => self.shared.inject(lane, task),
        }
    }

    /// The worker loop. Returns when the runtime shuts down.
    pub(crate) fn run(&self) {
        let _guard = WorkerGuard::set(self);
        loop {
            let tick = self.next_tick();
            let fair_turn = policy::is_fair_turn(tick);
            if fair_turn {
                self.between_polls_now_and_then();
            }
            match self.find_task(tick, fair_turn) {
                Some(task) => {
                    if self.searching.replace(false) && self.shared.idle.stop_searching(self.role) {
                        // The last searcher found work. If more is waiting (pushed while we
                        // searched, so its pusher woke nobody), wake one more worker for it.
                        if crate::loom::mutation!("notify_unconditionally") {
                            self.shared.notify(Lane::Default);
                        } else {
                            // Every lane, not just the first: the first may be one no
                            // sleeper can run (critical work queued on a busy P worker)
                            // while a lower lane's work waits for an idle E worker. Each
                            // notify is still throttled by the searching counts.
                            for lane in self.shared.lanes_with_visible_work() {
                                self.shared.notify(lane);
                            }
                        }
                    }
                    if !self.poll(task) {
                        break;
                    }
                }
                // Shutdown wakes every sleeper; a search that finds nothing then ends here.
                None if self.shared.is_shutdown() => break,
                None => self.park(),
            }
        }
        self.drain_own_queues();
    }

    /// What a busy worker does once every fair turn, before its search (a sleeping worker
    /// does the first whenever it wakes): follow a change of the CPUs the process may use,
    /// and drive tokio's drivers (a busy worker's share of the driving;
    /// `runtime/tokio_context.rs`). Not before every poll: that would cost every task a few
    /// instructions. 61 polls are microseconds for short tasks; with long ones a busy worker
    /// follows a CPU change up to 61 polls late (the kernel keeps it on allowed CPUs
    /// meanwhile, only the P/E placement waits), and tokio's timers get driven by the
    /// sleeping workers' reactors as well.
    fn between_polls_now_and_then(&self) {
        self.follow_allowed_cpus();
        #[cfg(all(feature = "tokio", not(loom), not(miri)))]
        if let Some(tokio) = self.tokio_driven() {
            super::tokio_context::drive_now(tokio);
        }
    }

    /// What a critical poll's length is measured on: this thread's CPU time, so that a
    /// poll the OS preempted (another critical worker, an interrupt, a noisy neighbour) is
    /// not taken for one that hogged the CPU; wall time since the runtime started where
    /// the OS has no thread CPU clock. One clock per thread, so differences are meaningful.
    fn poll_clock(&self) -> Duration {
        crate::sys::current_thread_cpu_time()
            .unwrap_or_else(|| Duration::from_nanos(self.shared.nanos_since_start()))
    }

    /// Poll `task`, unless the runtime is shutting down: then drop it and return false (the
    /// worker loop's one look at shutdown while it finds work).
    fn poll(&self, task: Task) -> bool {
        if self.shared.is_shutdown() {
            // Taken as shutdown began (perhaps left in an injector by `Shared::schedule`): it
            // is not run; dropped here, on the worker, outside any waker.
            self.release_held_slot();
            count_take(self.counters(), task.metadata());
            drop(task);
            return false;
        }
        let header = task.metadata();
        let (qos, lane) = header.qos_and_lane();
        if !self.may_run_now(lane) {
            // Its lane changed while it was queued (escalated past this worker's lanes or
            // into one that needs a slot none is free of, demoted off a critical worker's):
            // hand it on (`runtime/escalate.rs`).
            self.release_held_slot();
            self.hand_on(task);
            return true;
        }
        let counters = self.counters();
        count_take(counters, header);
        counters.polls[lane.index()].bump();
        if let Some(queued_at) = header.take_scheduled() {
            let now = self.shared.nanos_since_start();
            counters.latency[lane.index()].record(now.saturating_sub(queued_at));
        }
        let _polling = PollGuard::enter(qos, task.id());
        let slot = self.slot();
        if let Some(loan) = &slot.loan {
            loan.begin_poll();
        }
        if self.publish_polls {
            slot.polls.begin(lane, header.long_poll_reported());
        }
        if self.role == WorkerRole::Critical {
            self.poll_started.set(Some(self.poll_clock()));
        }
        // The task wrapper already turns a panic in `poll` into a JoinError; this catches a
        // panic from the runtime's own code in the poll (the raw task's, `poll_ended`), so
        // that the worker lives on.
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            task.run_with(|end| self.poll_ended(end))
        }))
        .is_err();
        if self.role == WorkerRole::Critical {
            self.poll_started.set(None);
        }
        if unwound && self.publish_polls {
            // Ended by `poll_ended` whenever the task's poll returned.
            slot.polls.finish();
        }
        // A `yield_now` whose task was not rescheduled by this poll (it was cancelled)
        // must not make the next task's self-wake look like a yield.
        context::take_yield_request();
        if let Some(loan) = &slot.loan {
            loan.end_poll(&slot.cpus);
        }
        self.release_held_slot();
        true
    }

    /// A poll of this worker just returned, and its task is surely alive (see
    /// `Runnable::run_with`): if the watchdog reported this poll as stuck, mark the task so
    /// that it is reported once (`runtime/stuck.rs`); on a critical worker, demote the task
    /// if the poll ran too long (`policy::demotes`); count the end of a task that finished;
    /// enter a task that waits for the first time in the registry, so that shutdown can
    /// reach it. Returns whether the task yielded without waking itself (see
    /// `context::request_yield`): it is then scheduled again.
    #[inline]
    fn poll_ended(&self, end: PollEnd<'_>) -> bool {
        let task = end.task;
        if self.publish_polls && self.slot().polls.end() {
            task.mark_long_poll_reported();
        }
        if let Some(started) = self.poll_started.get() {
            let ran = self.poll_clock().saturating_sub(started);
            if policy::demotes(self.role, task.lane(), ran) {
                task.demote();
                self.counters().demotions.bump();
            }
        }
        let Some(lane) = task.counted_in() else {
            // A blocking job or a batch's carrier: neither counted nor registered.
            return context::yield_skipped_wake();
        };
        if end.finished {
            self.counters().completed[lane.index()].bump();
            return false;
        }
        if !task.is_registered() && !crate::loom::mutation!("no_register_on_pending") {
            // This worker's shard of the registry (a task mostly wakes where it waited).
            let key = self.shared.registry.register(self.index, end.waker.clone());
            task.set_registry_key(key);
        }
        context::yield_skipped_wake()
    }

    /// May this worker poll a task of `lane` now? Its role must allow the lane, and an E
    /// worker of a runtime with a slot limit needs a slot for the lanes that take one. The
    /// search took one for the lane it looked at; a task whose lane changed while it was
    /// queued (a Background task escalated to Default) takes its slot here, if one is free.
    #[inline]
    fn may_run_now(&self, lane: Lane) -> bool {
        if !self.may_run[lane.index()] {
            return false;
        }
        if self.holds_slot.get() || !self.needs_slot(lane) {
            return true;
        }
        let took = self.shared.try_take_slot();
        self.holds_slot.set(took);
        took
    }

    /// Hand a task this worker may not poll to its lane's injector (`Readiness::Rerouted`),
    /// where a worker that may run it is woken for it.
    #[cold]
    fn hand_on(&self, task: Task) {
        let counters = self.counters();
        counters.reroutes.bump();
        count_take(counters, task.metadata());
        self.shared.schedule(task, Readiness::Rerouted);
    }

    /// Give back the efficiency slot the task being polled took, if it took one (every
    /// path out of `poll`).
    #[inline]
    fn release_held_slot(&self) {
        if self.holds_slot.replace(false) {
            self.shared.release_slot();
        }
    }

    /// Does this worker need an efficiency slot to poll a task of `lane`? (An E worker of a
    /// runtime with a slot limit, for the lanes that take one: `policy::efficiency_slots`.)
    #[inline]
    fn needs_slot(&self, lane: Lane) -> bool {
        self.slot_limited && policy::needs_efficiency_slot(self.class, lane)
    }

    /// Take a task of `lane` with `take`, holding an efficiency slot for it if this worker
    /// needs one (see `policy::efficiency_slots`). No free slot: nothing is taken.
    fn take_with_slot(&self, lane: Lane, take: impl FnOnce() -> Option<Task>) -> Option<Task> {
        if !self.needs_slot(lane) {
            return take();
        }
        if !self.shared.try_take_slot() {
            return None;
        }
        let task = take();
        if task.is_some() {
            self.holds_slot.set(true);
        } else {
            self.shared.release_slot();
        }
        task
    }

    fn next_tick(&self) -> u32 {
        // Wrap at a whole number of fair-turn cycles, not at u32::MAX (policy::TICK_PERIOD).
        // A compare, not a division: this runs before every poll.
        let tick = match self.tick.get() + 1 {
            policy::TICK_PERIOD => 0,
            tick => tick,
        };
        self.tick.set(tick);
        tick
    }

    /// The next task to poll, for poll number `tick` (`fair_turn`: `policy::is_fair_turn`).
    pub(super) fn find_task(&self, tick: u32, fair_turn: bool) -> Option<Task> {
        let after_yield = self.yielded.replace(false);
        let fair_order;
        let order = if fair_turn {
            fair_order =
                policy::search_order(self.role, self.shared.has_efficiency, tick, after_yield);
            &fair_order
        } else {
            let critical_used = self.shared.critical_lane_used();
            &self.regular_orders[usize::from(critical_used)][usize::from(after_yield)]
        };
        for &(lane, source) in order.steps() {
            let found = self.take_with_slot(lane, || match source {
                Source::LocalFirst => self.pop_local(lane).or_else(|| self.pop_injector(lane)),
                Source::InjectorFirst => self.pop_injector(lane).or_else(|| self.pop_local(lane)),
                Source::FairInjector | Source::FairQueue => self.take_on_fair_turn(lane, source),
            });
            if found.is_some() {
                return found;
            }
        }
        policy::steal_order(self.role, self.shared.has_efficiency)
            .iter()
            .find_map(|&lane| self.take_with_slot(lane, || self.steal(lane)))
            .or_else(|| self.lifo_left_behind())
    }

    /// The LIFO slot's task, whatever its lane, once a search found nothing else: a waiter
    /// on another thread may raise the task to a lane this search had already looked at
    /// (a Default task raised to Critical after the Critical step), and no later step takes
    /// it; unless taken here, the worker would sleep with it, and nobody else can reach
    /// the slot. A task the policy would no longer put in this slot is handed on, as
    /// `lifo_task_of` does (Critical work goes to the critical workers); `poll` runs the
    /// others if it may (taking the efficiency slot a lane needs) or hands them on.
    #[cold]
    fn lifo_left_behind(&self) -> Option<Task> {
        if crate::loom::mutation!("no_lifo_fallback") {
            return None;
        }
        self.take_lifo_if(|_| true)
    }

    fn pop_local(&self, lane: Lane) -> Option<Task> {
        if let Some(task) = self.lifo_task_of(lane) {
            if policy::take_lifo(self.lifo_streak.get()) {
                self.lifo_streak.set(self.lifo_streak.get() + 1);
                return Some(task);
            }
            // Streak cap reached: the slot's task waits its turn at the back.
            self.push_local(lane, task);
        }
        self.pop_queue(lane)
    }

    /// Take the LIFO slot's task if it is of `lane`.
    ///
    /// Invariant: a task stays in the slot only while the policy would put it there
    /// (`placement(its lane, Woken)` is the slot). A task whose lane changed while it waited
    /// there can break it: escalated to Critical on an E worker (no search of that worker
    /// names Critical), escalated from Background to Default on an E worker that needs an
    /// efficiency slot for Default (no search takes it while another worker holds the
    /// slot), escalated to Critical on a P worker of a runtime with critical workers,
    /// demoted off a critical worker. Nobody else can reach the slot, so such a task would
    /// sit there for as long as the worker slept; whatever lane this search looks at, it is
    /// handed to its new lane's injector instead (`runtime/escalate.rs`).
    fn lifo_task_of(&self, lane: Lane) -> Option<Task> {
        self.take_lifo_if(|now| now == lane)
    }

    /// The LIFO slot's task if `wanted(its lane)`, with the slot's invariant kept: a task
    /// the policy would no longer put in this slot (`placement(its lane, Woken)`) is taken
    /// whatever `wanted` says and handed to its lane's injector.
    fn take_lifo_if(&self, wanted: impl FnOnce(Lane) -> bool) -> Option<Task> {
        // Taken out to look at (a `Cell`: one load and one store, no borrow flag), put back
        // if it stays.
        let task = self.lifo.take()?;
        let now = task.metadata().lane();
        let stays = self.placement(now, Readiness::Woken) == Placement::LifoSlot;
        if stays && !wanted(now) {
            self.lifo.set(Some(task));
            return None;
        }
        if stays {
            return Some(task);
        }
        self.hand_on(task);
        None
    }

    /// The head of this worker's own queue for `lane` (not the LIFO slot).
    fn pop_queue(&self, lane: Lane) -> Option<Task> {
        // The streak ends only when a task really comes from elsewhere: resetting it on
        // every lane looked at (the first lane is looked at on every search) would let two
        // tasks waking each other through the slot starve this worker's queue for ever.
        let queue = self.locals[lane.index()].as_ref()?;
        // Two loads where `pop` is a call: many searches look at lanes with nothing queued
        // (every lane before a sleep; the Critical lane first, once a runtime uses it).
        if queue.is_empty() {
            return None;
        }
        let task = queue.pop();
        if task.is_some() {
            self.lifo_streak.set(0);
        }
        task
    }

    /// A fair turn for `lane`'s own queue: the LIFO slot's task of that lane joins the
    /// back of the queue, so that it is reached in queue order (a task left in the slot
    /// behind a flooding higher lane would otherwise never be polled) and the queue's head
    /// is what this turn takes.
    fn lifo_to_queue(&self, lane: Lane) {
        if let Some(task) = self.lifo_task_of(lane) {
            self.push_local(lane, task);
        }
    }

    fn pop_injector(&self, lane: Lane) -> Option<Task> {
        let injector = &self.shared.injectors[lane.index()];
        if injector.is_empty() {
            return None;
        }
        let local = self.locals[lane.index()].as_ref()?;
        loop {
            match injector.steal_batch_and_pop(local) {
                Steal::Success(task) => {
                    self.lifo_streak.set(0);
                    // The batch moved into our queue is stealable: let an idle peer help.
                    if !local.is_empty() {
                        self.shared.notify(lane);
                    }
                    return Some(task);
                }
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    /// A fair turn's take (one poll in `FAIR_INTERVAL`): kept out of line, so that the
    /// search loop every other poll runs stays small enough to inline.
    #[cold]
    #[inline(never)]
    fn take_on_fair_turn(&self, lane: Lane, source: Source) -> Option<Task> {
        if source == Source::FairQueue {
            self.lifo_to_queue(lane);
            self.pop_queue(lane).or_else(|| self.pop_injector(lane))
        } else {
            self.pop_injector_one(lane).or_else(|| self.pop_local(lane))
        }
    }

    /// One task from the head of `lane`'s injector, none moved into our queue (a fair
    /// turn; see `policy::Source::FairInjector`).
    fn pop_injector_one(&self, lane: Lane) -> Option<Task> {
        self.locals[lane.index()].as_ref()?;
        let injector = &self.shared.injectors[lane.index()];
        loop {
            match injector.steal() {
                Steal::Success(task) => {
                    self.lifo_streak.set(0);
                    return Some(task);
                }
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    fn next_random(&self) -> u64 {
        // xorshift64: cheap victim selection, no shared state.
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x
    }

    fn steal(&self, lane: Lane) -> Option<Task> {
        let local = self.locals[lane.index()].as_ref()?;
        let workers = &self.shared.workers;
        let n = workers.len();
        let start = (self.next_random() % n as u64) as usize;
        for offset in 0..n {
            let victim = (start + offset) % n;
            if victim == self.index {
                continue;
            }
            let Some(stealer) = &workers[victim].stealers[lane.index()] else {
                continue;
            };
            loop {
                match stealer.steal_batch_and_pop(local) {
                    Steal::Success(task) => {
                        self.lifo_streak.set(0);
                        self.counters().steals_from[workers[victim].class.index()].bump();
                        return Some(task);
                    }
                    Steal::Empty => break,
                    Steal::Retry => continue,
                }
            }
        }
        None
    }

    /// The tokio context's runtime, if this worker drives it (`runtime/tokio_context.rs`):
    /// the workers drive it, and this one drives reactors (`drives_io`: `Builder::drive_io`
    /// and `policy::drives_reactor`).
    #[cfg(all(feature = "tokio", not(loom), not(miri)))]
    fn tokio_driven(&self) -> Option<&tokio::runtime::Runtime> {
        self.shared
            .tokio
            .as_ref()
            .filter(|_| self.drives_io)?
            .driven_by_workers()
    }

    /// Sleep on this worker's parker until unparked (or `timeout`; true if unparked):
    /// in the I/O reactor if this worker drives it, else on its condvar.
    fn park_thread(&self, timeout: Option<Duration>) -> bool {
        let parker = &self.slot().parker;
        #[cfg(all(feature = "tokio", not(loom), not(miri)))]
        if let Some(rt) = self.tokio_driven() {
            return context::outside_worker(|| parker.park_driving_tokio(rt, timeout));
        }
        #[cfg(all(feature = "async-io", not(loom), not(miri)))]
        if self.drives_io {
            return context::outside_worker(|| parker.park_driving_io(timeout));
        }
        match timeout {
            Some(timeout) => parker.park_timeout(timeout),
            None => {
                parker.park();
                true
            }
        }
    }

    fn park(&self) {
        if self.look_before_sleeping() {
            return;
        }
        let shared = &self.shared;
        shared
            .idle
            .prepare_sleep(self.index, self.role, self.searching.replace(false));
        let recheck = !crate::loom::mutation!("skip_sleep_recheck");
        if shared.is_shutdown() || (recheck && shared.has_visible_work(self.role)) {
            shared.idle.cancel_sleep(self.index, self.role);
            self.searching.set(true);
            return;
        }
        self.counters().parks.bump();
        let slot = &shared.workers[self.index];
        if let Some(loan) = &slot.loan {
            loan.set_awake(false);
        }
        let mut lent_to = None;
        loop {
            // A lending P worker watches the E workers while any is awake: it sleeps in
            // LEND_AFTER steps and may lend its CPUs after each (`runtime/lend.rs`).
            let watching = slot
                .lender
                .as_ref()
                .is_some_and(|lender| !lender.sleeps_blind(self.loans()));
            if watching {
                let before = self.running_e_polls();
                if !self.park_thread(Some(policy::LEND_AFTER)) {
                    lent_to = self.keep_or_lend(lent_to, &before);
                    continue;
                }
            } else {
                self.park_thread(None);
            }
            if let Some(lender) = &slot.lender {
                lender.woke();
            }
            // The CPU watch wakes sleepers after a change: re-place, then sleep on.
            self.follow_allowed_cpus();
            // Woken by a notifier (or shutdown): it took us off the sleeper list and counted
            // us as a searcher. Still listed: a stale token from a notifier that lost a race
            // with `cancel_sleep` earlier (or a nudge to start watching); sleep on.
            if crate::loom::mutation!("drop_recheck")
                || !shared.idle.is_sleeper(self.index, self.role)
            {
                break;
            }
        }
        if let Some(e) = lent_to {
            // Work for us again: the E thread gets its own CPUs back (and so can leave ours).
            self.take_back_from(e);
        }
        if let Some(loan) = &slot.loan {
            loan.set_awake(true);
            // A lender sleeping blind starts watching this worker.
            for lender_slot in shared.workers.iter() {
                if lender_slot.lender.as_ref().is_some_and(|l| l.needs_nudge()) {
                    lender_slot.parker.unpark();
                }
            }
        }
        self.counters().unparks.bump();
        self.searching.set(true);
    }

    /// Before sleeping, keep looking for work for up to `Builder::idle_spin`, as a searcher
    /// (`Idle::try_start_searching`): true if work (or shutdown) showed up, and the caller
    /// searches again, still a searcher. False: sleep (`park` then stops searching in
    /// `prepare_sleep` and looks at every queue once more, as every searcher going to
    /// sleep does).
    ///
    /// It watches the injectors, where work from outside arrives, and the peers' queues
    /// only after `PEERS_AFTER` of looking: reading a busy peer's queue ends at every look
    /// slowed that peer (and stole each link of a chain of spawns), while a long spin
    /// (`idle_spin` may be up to a second) must not hide a peer's work from the runtime for
    /// long, since a notifier wakes nobody while a searcher is up. Not on critical workers
    /// (they are there for rare critical work), nor on workers at the idle OS priority (one
    /// preempted mid-look would stay counted as its role's searcher, and wake-ups for its
    /// role would wait for it), nor while another worker of the role searches.
    fn look_before_sleeping(&self) -> bool {
        let shared = &self.shared;
        let spin = shared.idle_spin();
        if spin.is_zero()
            || self.role == WorkerRole::Critical
            || shared.workers[self.index].idle_priority
        {
            return false;
        }
        if !self.searching.get() {
            if !shared.idle.try_start_searching(self.role) {
                return false;
            }
            self.searching.set(true);
        }
        let injected = || shared.is_shutdown() || shared.has_injected_work(self.role);
        // Under loom and Miri, one look: the protocol (a searcher that goes to sleep) is the
        // same for any length of spin, and a clock has no place in a model.
        #[cfg(any(loom, miri))]
        let seen = injected();
        #[cfg(not(any(loom, miri)))]
        let seen = {
            let started = std::time::Instant::now();
            let (peers_from, deadline) = (started + PEERS_AFTER, started + spin);
            loop {
                // A fraction of a microsecond between looks (`pause` costs 10 to 140 cycles
                // depending on the CPU): a look reads the ends of queues that pushing
                // threads write.
                for _ in 0..8 {
                    std::hint::spin_loop();
                }
                if injected() {
                    break true;
                }
                let now = std::time::Instant::now();
                if now >= peers_from && shared.has_visible_work(self.role) {
                    break true;
                }
                if now >= deadline {
                    break false;
                }
            }
        };
        if !seen && crate::loom::mutation!("spin_leaves_a_searcher") {
            // Planted bug: it sleeps still counted as a searcher, so every later notifier
            // takes the work for found and wakes nobody.
            self.searching.set(false);
        }
        seen
    }

    /// If the CPUs the process may use changed since this worker last looked, pin it
    /// where `policy::repin` says (`runtime/cpu_watch.rs`). One relaxed-cost load when
    /// nothing changed. Between polls only: an E worker is then not lent to a P worker
    /// (its poll's end took any loan back; a lender undoing a loan that raced with that
    /// end widens the thread to its placement, which the kernel keeps inside the cpuset).
    #[inline]
    fn follow_allowed_cpus(&self) {
        if let Some(watch) = &self.shared.cpu_watch {
            if watch.changed_since(self.cpu_epoch.get()) {
                self.replace_after_cpu_change(watch);
            }
        }
    }

    /// The slow half of [`follow_allowed_cpus`](Self::follow_allowed_cpus), out of the
    /// worker loop's way.
    #[cold]
    #[inline(never)]
    fn replace_after_cpu_change(&self, watch: &super::cpu_watch::CpuWatch) {
        let Some(allowed) = watch.follow(&self.cpu_epoch) else {
            return;
        };
        let slot = &self.shared.workers[self.index];
        let class_cpus = &self.shared.class_cpus[self.class.index()];
        let Some(to) = policy::repin(&slot.cpus, class_cpus, &allowed) else {
            return;
        };
        let outcome = crate::sys::pin_current_thread(&to.cpus);
        let mut placed = slot.placed.lock();
        placed.repins += 1;
        placed.displaced = to.displaced;
        placed.cpus = Some(if outcome.is_applied() {
            to.cpus
        } else {
            // Refused: it stays where the kernel put it.
            crate::sys::current_thread_affinity().unwrap_or_default()
        });
        placed.outcome = Some(outcome);
    }

    /// End our loan to E worker `e`, if it still stands: its thread gets its own CPUs back.
    fn take_back_from(&self, e: usize) {
        let borrower = &self.shared.workers[e];
        if let Some(loan) = &borrower.loan {
            loan.take_back(Some(self.index), &borrower.cpus);
        }
    }

    /// The E workers that may borrow our CPUs.
    fn loans(&self) -> impl Iterator<Item = &super::lend::Loan> {
        self.shared.workers.iter().filter_map(|w| w.loan.as_ref())
    }

    /// The poll each worker is running, for the E workers that may borrow our CPUs
    /// (`None` for the others; see `Loan::running_poll`).
    fn running_e_polls(&self) -> Vec<Option<usize>> {
        self.shared
            .workers
            .iter()
            .map(|w| w.loan.as_ref().and_then(|loan| loan.running_poll()))
            .collect()
    }

    /// After sleeping `LEND_AFTER` since `before` was seen: keep the loan we made (if its
    /// poll is still running), else lend our CPUs to an E worker still in the same poll,
    /// if the policy picks one. Returns the borrower.
    fn keep_or_lend(&self, lent_to: Option<usize>, before: &[Option<usize>]) -> Option<usize> {
        let workers = &self.shared.workers;
        let lender = workers[self.index].lender.as_ref()?;
        let pays = lender.pays(self.loans());
        if let Some(e) = lent_to {
            if !pays {
                // More E workers woke since: the loan now only crowds our CPUs.
                self.take_back_from(e);
                return None;
            }
            if workers[e]
                .loan
                .as_ref()
                .is_some_and(|loan| loan.is_lent_by(self.index))
            {
                return Some(e);
            }
        }
        if !pays {
            return None;
        }
        let after = self.running_e_polls();
        let e = policy::borrower(before, &after)?;
        let loan = workers[e].loan.as_ref()?;
        let poll = after[e]?;
        if !loan.lend(
            poll,
            self.index,
            &workers[self.index].cpus,
            &workers[e].cpus,
        ) {
            return None;
        }
        self.counters().cpu_loans.bump();
        Some(e)
    }

    /// Shutdown: drop every task still in this worker's own queues (dropping a runnable
    /// drops its future, exactly once).
    fn drain_own_queues(&self) {
        let lifo = self.lifo.take();
        let queued = self
            .locals
            .iter()
            .flatten()
            .flat_map(|queue| std::iter::from_fn(|| queue.pop()));
        for task in lifo.into_iter().chain(queued) {
            count_take(self.counters(), task.metadata());
            drop(task);
        }
    }
}

/// A worker took `header`'s task out of its queue (to poll it or hand it on): count the
/// take in the lane the task was queued in (its lane may have changed since).
#[inline]
pub(crate) fn count_take(counters: &WorkerCounters, header: &crate::task::TaskHeader) {
    if let Some(lane) = header.take_queued_lane() {
        counters.taken[lane.index()].bump();
    }
}

/// Body of a worker thread.
pub(crate) fn worker_main(
    shared: Arc<Shared>,
    index: usize,
    locals: [Option<Worker<Task>>; LANES],
) {
    // Checks the worker out even if something below panics, so shutdown never waits for a
    // worker that is gone. Declared first: dropped last, after the core and the context.
    let _exit = ExitGuard(shared.clone(), index);
    let core = WorkerCore::new(shared.clone(), index, locals);
    let _enter = context::EnterGuard::enter(shared);
    core.run();
}

struct ExitGuard(Arc<Shared>, usize);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        // No lender may place this thread from now on: its id may soon be another's.
        if let Some(loan) = &self.0.workers[self.1].loan {
            loan.retire();
        }
        self.0.worker_exited();
    }
}
