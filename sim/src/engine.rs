//! The discrete-event engine: worker threads on modelled cores, their queues, injectors,
//! stealing, parking and waking, lending, driven by a [`Policy`].
//!
//! The worker loop is the runtime's (`src/runtime/worker.rs`), step for step: a search in
//! the policy's order (LIFO slot with its streak cap, own queue, injector batch, fair
//! turns), then stealing in the policy's steal order; the idle protocol of
//! `runtime/idle.rs` (one sleeper woken per unit of new work unless a worker that may run
//! it is searching; the last searcher to find work wakes one more; a worker rechecks
//! before it sleeps); efficiency slots; and lending (an idle lending worker looks at the E
//! workers every `lend_after`, and lends its cores to the one the policy picks). Every
//! *decision* in it is a call to the policy. Mechanism costs are [`Costs`]; the OS is
//! [`crate::os`].
//!
//! Deterministic: time is simulated, ties are broken by event order, and the only
//! randomness (victim selection, steal misses, arrivals) comes from the seed.

use crate::chip::{Chip, Core};
use crate::os::{self, OsModel, OsThread};
use crate::policies::{Policy, WorkerSpec};
use crate::workload::{Arrival, Program, Workload};
use crate::Rng;
use hetsched::runtime::policy::{
    first_choice_in, searches_injectors_next, wakes_a_peer, Placement, Readiness, Source,
};
use hetsched::{CoreClass, Lane, Qos, WorkerRole};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// What the mechanism costs, in µs of a fast core's time.
#[derive(Clone, Debug, PartialEq)]
pub struct Costs {
    /// Per poll: the task's header, waker and bookkeeping.
    pub poll_us: f64,
    /// One push or pop on a queue.
    pub queue_us: f64,
    /// One steal attempt on a victim (hit or miss).
    pub steal_us: f64,
    /// Chance that a steal from a non-empty queue misses (contention, `Steal::Retry`).
    pub steal_miss: f64,
    /// A parked worker's wake-up: unpark until its thread runs.
    pub wake_us: f64,
    /// A search that found nothing and looks again (the recheck before sleeping).
    pub search_us: f64,
}

impl Default for Costs {
    /// Defaults measured on this project's 2-core VM: a spawned no-op task costs about
    /// 1,450 instructions end to end (callgrind, BENCHMARKS.md), ~0.3 µs; crossbeam queue
    /// operations are tens of ns; a futex wake-up to a running thread is 10-50 µs here
    /// (the harness's idle-runtime probe p50).
    fn default() -> Costs {
        Costs {
            poll_us: 0.3,
            queue_us: 0.05,
            steal_us: 0.2,
            steal_miss: 0.05,
            wake_us: 20.0,
            search_us: 1.0,
        }
    }
}

/// A simulation's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Mechanism costs.
    pub costs: Costs,
    /// The OS model.
    pub os: OsModel,
    /// Seed for victim selection, steal misses and arrivals.
    pub seed: u64,
    /// Record the timeline (for SVG output).
    pub timeline: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            costs: Costs::default(),
            os: OsModel::capacity_aware(),
            seed: 1,
            timeline: false,
        }
    }
}

/// One bar of the timeline: a worker polling a task of `lane` (its Qos's) on `core`.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// The core.
    pub core: usize,
    /// The worker.
    pub worker: usize,
    /// The task's lane.
    pub lane: Lane,
    /// Start, µs.
    pub start: f64,
    /// End, µs.
    pub end: f64,
}

/// What a simulation measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The policy.
    pub policy: String,
    /// The chip's name.
    pub chip: String,
    /// The workload's name.
    pub workload: String,
    /// The cores simulated.
    pub cores: Vec<Core>,
    /// The workers: class and allowed cores.
    pub workers: Vec<WorkerSpec>,
    /// First arrival to the batch's last completion, µs.
    pub makespan_us: f64,
    /// The fluid lower bound, µs: batch work over total speed, or the longest chain of
    /// one task on the fastest core, whichever is larger.
    pub bound_us: f64,
    /// Runnable → polled, µs, for every poll, per lane of the task's Qos (`Lane::of`, whatever
    /// queue the policy used): the runtime's wake-to-poll.
    pub wait_us: [Vec<f64>; 4],
    /// Arrival → done, µs, for requests and probe wakes (the latency-critical tasks
    /// outside the batch): a probe sample is one wake to the end of its poll.
    pub response_us: Vec<f64>,
    /// Task work done per core class (P, E), µs of fast-core work.
    pub work_by_class: [f64; 2],
    /// Busy time per core class, µs.
    pub busy_by_class: [f64; 2],
    /// Energy proxy: busy time × the core's power weight ([`power_weight`]).
    pub energy: f64,
    /// Polls per worker class (P, E) and lane: which class polled what.
    pub polls: [[u64; 4]; 2],
    /// Polls per core class (P, E) and lane: where the polls ran.
    pub polls_on: [[u64; 4]; 2],
    /// CPU loans made.
    pub loans: u64,
    /// Steals that took work.
    pub steals: u64,
    /// Worker wake-ups.
    pub wakeups: u64,
    /// Thread moves between cores.
    pub migrations: u64,
    /// The timeline, if asked for.
    pub timeline: Vec<Segment>,
}

/// Relative power of a core of `speed` when busy, for the energy proxy: `speed³` (dynamic
/// power C·V²·f with voltage roughly proportional to frequency, the Linux Energy Model's
/// premise, `Documentation/power/energy-model.rst`). A proxy for comparing policies, not
/// a measurement: real E cores also differ in C.
pub fn power_weight(speed: f64) -> f64 {
    speed.powi(3)
}

/// Why the simulation could not finish.
#[derive(Clone, Debug, PartialEq)]
pub struct Stuck(pub String);

impl std::fmt::Display for Stuck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TaskState {
    /// Waiting: for children, for its next probe wake, or not yet arrived.
    Waiting,
    Queued,
    Running,
    Done,
}

struct Task {
    qos: Qos,
    lane: Lane,
    program: Program,
    polls_done: u32,
    /// Counts for the batch's makespan.
    batch: bool,
    /// A request or probe: its response time is recorded.
    critical: bool,
    state: TaskState,
    runnable_since: f64,
    /// Latency-critical work outside the batch: when it arrived (or was woken).
    arrived: f64,
    parent: Option<usize>,
    children_left: u32,
}

impl Task {
    /// Work of the next poll.
    fn next_work(&self) -> f64 {
        match self.program {
            Program::Cpu(w) => w,
            Program::Chunks { chunk, .. } => chunk,
            Program::Probe { work, .. } => work,
            Program::ForkJoin {
                depth, leaf, node, ..
            } => {
                if depth == 0 {
                    leaf
                } else {
                    node
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum BurstKind {
    Poll(usize),
    Search,
}

#[derive(Clone, Copy, Debug)]
struct Burst {
    left: f64,
    kind: BurstKind,
}

struct Worker {
    class: CoreClass,
    own: Vec<usize>,
    burst: Option<Burst>,
    locals: [Option<VecDeque<usize>>; 4],
    lifo: Option<usize>,
    lifo_streak: u32,
    tick: u32,
    yielded: bool,
    searching: bool,
    holds_slot: bool,
    slot_limited: bool,
    parked: bool,
    rng: Rng,
    /// Poll counter and whether a poll is running (the loan's seqcount).
    poll_seq: usize,
    polling: bool,
    /// E worker: the lender whose cores it runs on.
    lent_by: Option<usize>,
    /// Lending P worker: the E worker it lent to, and its watch (`before`, generation).
    lent_to: Option<usize>,
    watch: Option<Vec<Option<usize>>>,
    watch_gen: u64,
    lender: bool,
    /// Costs paid since the last burst, added to the next one.
    pending_cost: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Event {
    Arrive(usize),
    Woken(usize),
    LendCheck(usize, u64),
    ProbeWake(usize),
    Misfit(usize, usize),
    BalanceTick,
}

struct Timed {
    at: f64,
    seq: u64,
    event: Event,
}

impl PartialEq for Timed {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timed {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap, the earliest event must come out first.
        other.at.total_cmp(&self.at).then(other.seq.cmp(&self.seq))
    }
}

/// Longest a simulation may run, simulated µs (a guard against a policy that strands work).
const TIME_LIMIT_US: f64 = 600e6;

struct Sim<'a> {
    policy: &'a dyn Policy,
    cfg: &'a Config,
    cores: Vec<Core>,
    speeds: Vec<f64>,
    workers: Vec<Worker>,
    threads: Vec<OsThread>,
    tasks: Vec<Task>,
    arrivals: Vec<Arrival>,
    injectors: [VecDeque<usize>; 4],
    sleepers: [Vec<usize>; 2],
    searching: [usize; 2],
    slots: Option<(usize, usize)>,
    e_cores: usize,
    now: f64,
    events: BinaryHeap<Timed>,
    seq: u64,
    rng: Rng,
    external_arrivals: usize,
    batch_left: usize,
    open: usize,
    last_batch_done: f64,
    /// Per core: the thread its pending misfit pull is for.
    misfit_pending: Vec<Option<usize>>,
    out: Outcome,
    open_segments: Vec<Option<Segment>>,
}

/// Run `workload` on `chip` under `policy`.
pub fn simulate(
    chip: &Chip,
    policy: &dyn Policy,
    workload: Workload,
    cfg: &Config,
) -> Result<Outcome, Stuck> {
    let cores = chip.cores();
    let p_capacity: f64 = cores
        .iter()
        .filter(|c| c.class == CoreClass::Performance)
        .map(|c| c.speed)
        .sum();
    let arrivals = workload.arrivals(cores.len(), p_capacity, cfg.seed);
    let mut sim = Sim::new(chip, policy, cfg, cores, arrivals, workload.name());
    sim.run()?;
    Ok(sim.out)
}

/// The fluid lower bound of `arrivals` on cores of `speeds`, µs.
pub fn fluid_bound(arrivals: &[Arrival], speeds: &[f64]) -> f64 {
    let (mut total, mut longest) = (0.0f64, 0.0f64);
    for a in arrivals.iter().filter(|a| a.batch) {
        total += a.program.work();
        longest = longest.max(a.program.chain());
    }
    let capacity: f64 = speeds.iter().sum();
    let fastest = speeds.iter().copied().fold(0.0, f64::max);
    (total / capacity.max(1e-12)).max(longest / fastest.max(1e-12))
}

impl<'a> Sim<'a> {
    fn new(
        chip: &Chip,
        policy: &'a dyn Policy,
        cfg: &'a Config,
        cores: Vec<Core>,
        arrivals: Vec<Arrival>,
        workload: String,
    ) -> Sim<'a> {
        let speeds: Vec<f64> = cores.iter().map(|c| c.speed).collect();
        let specs = policy.workers(&cores);
        let e_cores = cores
            .iter()
            .filter(|c| c.class == CoreClass::Efficiency)
            .count();
        let e_workers = specs
            .iter()
            .filter(|s| s.class == CoreClass::Efficiency)
            .count();
        let slots = policy
            .efficiency_slots(e_workers, e_cores)
            .map(|max| (0, max));
        let workers: Vec<Worker> = specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let mut locals: [Option<VecDeque<usize>>; 4] = Default::default();
                for lane in policy.lanes_for(spec.class) {
                    locals[lane.index()] = Some(VecDeque::new());
                }
                Worker {
                    class: spec.class,
                    own: spec.cpus.clone(),
                    burst: None,
                    locals,
                    lifo: None,
                    lifo_streak: 0,
                    tick: 0,
                    yielded: false,
                    searching: false,
                    holds_slot: false,
                    slot_limited: spec.class == CoreClass::Efficiency && slots.is_some(),
                    parked: true,
                    rng: Rng::new(cfg.seed ^ (0x9E37_79B9_7F4A_7C15 ^ ((i as u64 + 1) << 1 | 1))),
                    poll_seq: 0,
                    polling: false,
                    lent_by: None,
                    lent_to: None,
                    watch: None,
                    watch_gen: 0,
                    lender: policy.lends(spec.class),
                    pending_cost: 0.0,
                }
            })
            .collect();
        let threads = specs
            .iter()
            .map(|s| OsThread {
                allowed: s.cpus.clone(),
                idle_priority: s.idle_priority,
                core: s.cpus[0],
                runnable: false,
            })
            .collect();
        let mut sleepers: [Vec<usize>; 2] = Default::default();
        for (i, s) in specs.iter().enumerate() {
            sleepers[ci(s.class)].push(i);
        }
        let bound_us = fluid_bound(&arrivals, &speeds);
        let out = Outcome {
            policy: policy.name().into(),
            chip: chip.name.into(),
            workload,
            cores: cores.clone(),
            workers: specs.clone(),
            makespan_us: 0.0,
            bound_us,
            wait_us: Default::default(),
            response_us: Vec::new(),
            work_by_class: [0.0; 2],
            busy_by_class: [0.0; 2],
            energy: 0.0,
            polls: [[0; 4]; 2],
            polls_on: [[0; 4]; 2],
            loans: 0,
            steals: 0,
            wakeups: 0,
            migrations: 0,
            timeline: Vec::new(),
        };
        let n_workers = workers.len();
        Sim {
            policy,
            cfg,
            speeds,
            misfit_pending: vec![None; cores.len()],
            cores,
            workers,
            threads,
            tasks: Vec::new(),
            batch_left: arrivals.iter().filter(|a| a.batch).count(),
            open: arrivals.len(),
            arrivals,
            injectors: Default::default(),
            sleepers,
            searching: [0; 2],
            slots,
            e_cores,
            now: 0.0,
            events: BinaryHeap::new(),
            seq: 0,
            rng: Rng::new(cfg.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1),
            external_arrivals: 0,
            last_batch_done: 0.0,
            out,
            open_segments: vec![None; n_workers],
        }
    }

    fn at(&mut self, at: f64, event: Event) {
        self.seq += 1;
        self.events.push(Timed {
            at,
            seq: self.seq,
            event,
        });
    }

    fn run(&mut self) -> Result<(), Stuck> {
        for i in 0..self.arrivals.len() {
            let at = self.arrivals[i].at;
            self.at(at, Event::Arrive(i));
        }
        self.at(self.cfg.os.balance_period_us, Event::BalanceTick);
        while self.open > 0 {
            if self.now > TIME_LIMIT_US {
                return Err(Stuck(format!(
                    "{} on {} under {}: not done after {} simulated seconds ({} batch tasks left)",
                    self.out.workload,
                    self.out.chip,
                    self.out.policy,
                    TIME_LIMIT_US / 1e6,
                    self.batch_left
                )));
            }
            let rates = os::rates(&self.threads, &self.speeds);
            // The next burst to end, at the current rates.
            let mut first: Option<(f64, usize)> = None;
            for (i, w) in self.workers.iter().enumerate() {
                if let (Some(b), r) = (w.burst, rates[i]) {
                    if r > 0.0 {
                        let dt = b.left.max(0.0) / r;
                        if first.map_or(true, |(best, _)| dt < best) {
                            first = Some((dt, i));
                        }
                    }
                }
            }
            let next_event = self.events.peek().map(|e| e.at);
            match (first, next_event) {
                (Some((dt, i)), ev) if ev.map_or(true, |at| self.now + dt <= at) => {
                    self.advance(dt, &rates);
                    if let Some(b) = self.workers[i].burst.as_mut() {
                        b.left = 0.0;
                    }
                    self.end_burst(i);
                }
                (_, Some(at)) => {
                    let dt = (at - self.now).max(0.0);
                    self.advance(dt, &rates);
                    let Timed { event, .. } = self.events.pop().expect("peeked");
                    self.handle(event);
                }
                (_, None) => {
                    return Err(Stuck(format!(
                        "{} on {} under {}: {} tasks left and nothing runs (work stranded)",
                        self.out.workload, self.out.chip, self.out.policy, self.open
                    )))
                }
            }
            self.balance();
        }
        self.close_segments();
        self.out.makespan_us = self.last_batch_done;
        Ok(())
    }

    /// Let `dt` µs pass at `rates`.
    fn advance(&mut self, dt: f64, rates: &[f64]) {
        if dt <= 0.0 {
            return;
        }
        let mut core_busy = vec![false; self.cores.len()];
        for (i, &r) in rates.iter().enumerate() {
            let Some(burst) = self.workers[i].burst.as_mut() else {
                continue;
            };
            if r <= 0.0 {
                continue;
            }
            burst.left -= r * dt;
            let core = self.threads[i].core;
            core_busy[core] = true;
            if let BurstKind::Poll(t) = burst.kind {
                self.out.work_by_class[ci(self.cores[core].class)] += r * dt;
                if self.cfg.timeline {
                    let lane = Lane::of(self.tasks[t].qos);
                    self.extend_segment(i, core, lane, dt);
                }
            }
        }
        for (c, busy) in core_busy.into_iter().enumerate() {
            if busy {
                let class = ci(self.cores[c].class);
                self.out.busy_by_class[class] += dt;
                self.out.energy += dt * power_weight(self.cores[c].speed);
            }
        }
        self.now += dt;
    }

    fn extend_segment(&mut self, worker: usize, core: usize, lane: Lane, dt: f64) {
        let now = self.now;
        match &mut self.open_segments[worker] {
            Some(s) if s.core == core && s.lane == lane && (s.end - now).abs() < 1e-9 => {
                s.end = now + dt;
            }
            slot => {
                if let Some(done) = slot.take() {
                    self.out.timeline.push(done);
                }
                *slot = Some(Segment {
                    core,
                    worker,
                    lane,
                    start: now,
                    end: now + dt,
                });
            }
        }
    }

    fn close_segments(&mut self) {
        for s in self.open_segments.iter_mut() {
            if let Some(s) = s.take() {
                self.out.timeline.push(s);
            }
        }
        self.out
            .timeline
            .sort_by(|a, b| a.start.total_cmp(&b.start));
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Arrive(i) => self.arrive(i),
            Event::Woken(w) => self.woken(w),
            Event::LendCheck(w, gen) => self.lend_check(w, gen),
            Event::ProbeWake(t) => self.probe_wake(t),
            Event::Misfit(core, w) => {
                self.misfit_pending[core] = None;
                let occ = os::occupancy(&self.threads, self.cores.len());
                let others: Vec<usize> = self.misfit_pending.iter().flatten().copied().collect();
                let still = occ[core] == (0, 0)
                    && os::misfit_for(&self.threads, core, &self.speeds, &others) == Some(w);
                if still {
                    self.move_thread(w, core);
                }
            }
            Event::BalanceTick => {
                if let Some((w, core)) = os::starved_move(&self.threads, &self.speeds) {
                    self.move_thread(w, core);
                }
                let next = self.now + self.cfg.os.balance_period_us;
                self.at(next, Event::BalanceTick);
            }
        }
    }

    // ---- tasks -------------------------------------------------------------------------

    fn arrive(&mut self, i: usize) {
        let a = self.arrivals[i].clone();
        let t = self.new_task(a.qos, a.program.clone(), a.batch, None);
        self.tasks[t].critical = !a.batch;
        self.tasks[t].arrived = self.now;
        if let Program::Probe { period, .. } = a.program {
            // Its timer fires every period from now on; it first runs at the first tick.
            self.at(self.now + period, Event::ProbeWake(t));
            return;
        }
        let owner = self
            .policy
            .owner_of_arrival(self.external_arrivals, self.workers.len());
        self.external_arrivals += 1;
        match owner {
            Some(w) => self.give_to(w, t),
            None => self.schedule(t, None, Readiness::Spawned),
        }
    }

    fn new_task(
        &mut self,
        qos: Qos,
        program: Program,
        batch: bool,
        parent: Option<usize>,
    ) -> usize {
        self.tasks.push(Task {
            qos,
            lane: self.policy.lane_of(qos),
            program,
            polls_done: 0,
            batch,
            critical: false,
            state: TaskState::Waiting,
            runnable_since: self.now,
            arrived: self.now,
            parent,
            children_left: 0,
        });
        self.tasks.len() - 1
    }

    fn probe_wake(&mut self, t: usize) {
        if self.batch_left == 0 {
            if self.tasks[t].state == TaskState::Waiting {
                self.complete(t);
            }
            return;
        }
        if let Program::Probe { period, .. } = self.tasks[t].program {
            self.at(self.now + period, Event::ProbeWake(t));
        }
        // A wake while it is queued or running coalesces, as a waker's would.
        if self.tasks[t].state == TaskState::Waiting {
            self.tasks[t].arrived = self.now;
            self.schedule(t, None, Readiness::Woken);
        }
    }

    /// A static policy's task for worker `w`'s own queue.
    fn give_to(&mut self, w: usize, t: usize) {
        let lane = self.tasks[t].lane;
        self.tasks[t].state = TaskState::Queued;
        self.tasks[t].runnable_since = self.now;
        self.push_local(w, lane, t);
        if self.workers[w].parked {
            if let Some(pos) = self.sleepers[ci(self.workers[w].class)]
                .iter()
                .position(|&s| s == w)
            {
                self.sleepers[ci(self.workers[w].class)].remove(pos);
                self.searching[ci(self.workers[w].class)] += 1;
                self.wake(w);
            }
        }
    }

    /// The runtime's `Shared::schedule`: where a runnable task goes.
    fn schedule(&mut self, t: usize, on: Option<usize>, readiness: Readiness) {
        let lane = self.tasks[t].lane;
        self.tasks[t].state = TaskState::Queued;
        self.tasks[t].runnable_since = self.now;
        let (class, slot_limited) = match on {
            Some(w) => (Some(self.workers[w].class), self.workers[w].slot_limited),
            None => (None, false),
        };
        match (
            on,
            self.policy.placement(lane, class, slot_limited, readiness),
        ) {
            (Some(w), Placement::LifoSlot) => {
                if searches_injectors_next(readiness) {
                    self.workers[w].yielded = true;
                }
                self.workers[w].pending_cost += self.cfg.costs.queue_us;
                if let Some(displaced) = self.workers[w].lifo.replace(t) {
                    let dl = self.tasks[displaced].lane;
                    self.push_local(w, dl, displaced);
                    self.notify(dl);
                }
            }
            (Some(w), Placement::LocalQueue) => {
                if searches_injectors_next(readiness) {
                    self.workers[w].yielded = true;
                }
                let worker = &self.workers[w];
                // No critical workers here.
                let first_choice = first_choice_in(self.policy.wake_order(lane), false)
                    .is_some_and(|role| role.class() == worker.class);
                let injectors = &self.injectors;
                let wake_a_peer = wakes_a_peer(readiness, first_choice, || {
                    worker.lifo.is_some()
                        || worker.locals.iter().flatten().any(|q| !q.is_empty())
                        || worker
                            .locals
                            .iter()
                            .zip(injectors)
                            .any(|(local, injector)| local.is_some() && !injector.is_empty())
                });
                self.push_local(w, lane, t);
                if wake_a_peer {
                    self.notify(lane);
                }
            }
            (on, _) => {
                if let Some(w) = on {
                    self.workers[w].pending_cost += self.cfg.costs.queue_us;
                }
                self.injectors[lane.index()].push_back(t);
                self.notify(lane);
            }
        }
    }

    fn push_local(&mut self, w: usize, lane: Lane, t: usize) {
        self.workers[w].pending_cost += self.cfg.costs.queue_us;
        match self.workers[w].locals[lane.index()].as_mut() {
            Some(q) => q.push_back(t),
            None => {
                self.injectors[lane.index()].push_back(t);
                self.notify(lane);
            }
        }
    }

    fn complete(&mut self, t: usize) {
        self.tasks[t].state = TaskState::Done;
        self.open -= 1;
        if self.tasks[t].batch {
            self.batch_left -= 1;
            self.last_batch_done = self.now;
        }
    }

    /// A poll of `t` by worker `w` ended: what the task does next.
    fn end_poll(&mut self, w: usize, t: usize) {
        self.tasks[t].polls_done += 1;
        let done = self.tasks[t].polls_done;
        if self.tasks[t].critical {
            let since = self.tasks[t].arrived;
            self.out.response_us.push(self.now - since);
        }
        match self.tasks[t].program.clone() {
            Program::Cpu(_) => self.finish(w, t),
            Program::Chunks { chunks, .. } => {
                if done < chunks {
                    self.schedule(t, Some(w), Readiness::Yielded);
                } else {
                    self.finish(w, t);
                }
            }
            Program::Probe { .. } => {
                self.tasks[t].state = TaskState::Waiting;
                if self.batch_left == 0 {
                    self.complete(t);
                }
            }
            Program::ForkJoin { depth, leaf, node } => {
                if depth == 0 || done >= 2 {
                    self.finish(w, t);
                } else {
                    self.tasks[t].state = TaskState::Waiting;
                    self.tasks[t].children_left = 2;
                    let qos = self.tasks[t].qos;
                    for _ in 0..2 {
                        let child = self.new_task(
                            qos,
                            Program::ForkJoin {
                                depth: depth - 1,
                                leaf,
                                node,
                            },
                            false,
                            Some(t),
                        );
                        // Children are the batch's work but not counted in it: the root's
                        // completion ends the batch.
                        self.open += 1;
                        self.schedule(child, Some(w), Readiness::Spawned);
                    }
                }
            }
        }
    }

    /// `t` is done; a parent waiting for it is woken by this worker.
    fn finish(&mut self, w: usize, t: usize) {
        self.complete(t);
        if let Some(parent) = self.tasks[t].parent {
            self.tasks[parent].children_left -= 1;
            if self.tasks[parent].children_left == 0 {
                self.schedule(parent, Some(w), Readiness::Woken);
            }
        }
    }

    // ---- the worker loop ---------------------------------------------------------------

    fn end_burst(&mut self, w: usize) {
        let burst = self.workers[w].burst.take().expect("a burst ended");
        if let BurstKind::Poll(t) = burst.kind {
            self.end_poll(w, t);
            let worker = &mut self.workers[w];
            worker.polling = false;
            if let Some(lender) = worker.lent_by.take() {
                // `Loan::end_poll`: the thread gets its own cores back.
                self.threads[w].allowed = self.workers[w].own.clone();
                if self.workers[lender].lent_to == Some(w) {
                    self.workers[lender].lent_to = None;
                }
            }
            if std::mem::take(&mut self.workers[w].holds_slot) {
                if let Some((used, _)) = self.slots.as_mut() {
                    *used -= 1;
                }
            }
        }
        self.next_task(w);
    }

    /// Find the next task and start polling it, or park.
    fn next_task(&mut self, w: usize) {
        match self.find_task(w) {
            Some(t) => {
                let class = ci(self.workers[w].class);
                if std::mem::take(&mut self.workers[w].searching) {
                    self.searching[class] -= 1;
                    if self.searching[class] == 0 {
                        // The last searcher found work: wake one more for what is left.
                        for lane in Lane::ALL {
                            if self.lane_has_work(lane, None) {
                                self.notify(lane);
                            }
                        }
                    }
                }
                self.start_poll(w, t);
            }
            None => self.park(w),
        }
    }

    fn start_poll(&mut self, w: usize, t: usize) {
        // Metrics by the task's own lane (its Qos), whatever queue the policy used.
        let lane = Lane::of(self.tasks[t].qos);
        let wait = self.now - self.tasks[t].runnable_since;
        self.out.wait_us[lane.index()].push(wait);
        let class = ci(self.workers[w].class);
        self.out.polls[class][lane.index()] += 1;
        self.tasks[t].state = TaskState::Running;
        let work = self.tasks[t].next_work();
        let worker = &mut self.workers[w];
        worker.poll_seq += 1;
        worker.polling = true;
        let left = work + self.cfg.costs.poll_us + std::mem::take(&mut worker.pending_cost);
        self.set_burst(
            w,
            Burst {
                left,
                kind: BurstKind::Poll(t),
            },
        );
        let core_class = ci(self.cores[self.threads[w].core].class);
        self.out.polls_on[core_class][lane.index()] += 1;
    }

    /// Give worker `w` a burst; a thread that was not runnable is placed by the OS.
    fn set_burst(&mut self, w: usize, burst: Burst) {
        let was_runnable = self.threads[w].runnable;
        self.workers[w].burst = Some(burst);
        if !was_runnable {
            let core = os::wake_core(&self.threads, w, &self.speeds, &self.cfg.os);
            self.threads[w].runnable = true;
            if core != self.threads[w].core {
                self.threads[w].core = core;
                self.migrated(w);
            }
        }
    }

    fn migrated(&mut self, w: usize) {
        self.out.migrations += 1;
        if let Some(b) = self.workers[w].burst.as_mut() {
            b.left += self.cfg.os.migrate_us;
        }
    }

    fn move_thread(&mut self, w: usize, core: usize) {
        if self.threads[w].core != core {
            self.threads[w].core = core;
            self.migrated(w);
        }
    }

    fn next_tick(&mut self, w: usize) -> u32 {
        let period = self.policy.tick_period();
        let worker = &mut self.workers[w];
        worker.tick = (worker.tick + 1) % period;
        worker.tick
    }

    fn find_task(&mut self, w: usize) -> Option<usize> {
        let tick = self.next_tick(w);
        let after_yield = std::mem::take(&mut self.workers[w].yielded);
        let class = self.workers[w].class;
        for (lane, source) in self.policy.search_order(class, tick, after_yield) {
            if let Some(t) = self.take_with_slot(w, lane, Take::From(source)) {
                return Some(t);
            }
        }
        for &lane in self.policy.steal_order(class) {
            if let Some(t) = self.take_with_slot(w, lane, Take::Steal) {
                return Some(t);
            }
        }
        None
    }

    fn take_with_slot(&mut self, w: usize, lane: Lane, how: Take) -> Option<usize> {
        let needs =
            self.workers[w].slot_limited && self.policy.needs_slot(self.workers[w].class, lane);
        if needs {
            match self.slots.as_mut() {
                Some((used, max)) if *used < *max => *used += 1,
                Some(_) => return None,
                None => {}
            }
        }
        let task = match how {
            Take::From(Source::LocalFirst) => self
                .pop_local(w, lane)
                .or_else(|| self.pop_injector(w, lane)),
            Take::From(Source::InjectorFirst) => self
                .pop_injector(w, lane)
                .or_else(|| self.pop_local(w, lane)),
            Take::From(Source::FairQueue) => {
                if let Some(t) = self.lifo_task_of(w, lane) {
                    self.push_local(w, lane, t);
                }
                self.pop_queue(w, lane)
                    .or_else(|| self.pop_injector(w, lane))
            }
            Take::From(Source::FairInjector) => self
                .pop_injector_one(w, lane)
                .or_else(|| self.pop_local(w, lane)),
            Take::Steal => self.steal(w, lane),
        };
        if needs {
            if task.is_some() {
                self.workers[w].holds_slot = true;
            } else if let Some((used, _)) = self.slots.as_mut() {
                *used -= 1;
            }
        }
        task
    }

    fn lifo_task_of(&mut self, w: usize, lane: Lane) -> Option<usize> {
        let worker = &mut self.workers[w];
        match worker.lifo {
            Some(t) if self.tasks[t].lane == lane => worker.lifo.take(),
            _ => None,
        }
    }

    fn pop_local(&mut self, w: usize, lane: Lane) -> Option<usize> {
        if let Some(t) = self.lifo_task_of(w, lane) {
            if self.policy.take_lifo(self.workers[w].lifo_streak) {
                self.workers[w].lifo_streak += 1;
                return Some(t);
            }
            self.push_local(w, lane, t);
        }
        self.pop_queue(w, lane)
    }

    fn pop_queue(&mut self, w: usize, lane: Lane) -> Option<usize> {
        let t = self.workers[w].locals[lane.index()].as_mut()?.pop_front();
        if t.is_some() {
            self.workers[w].lifo_streak = 0;
            self.workers[w].pending_cost += self.cfg.costs.queue_us;
        }
        t
    }

    /// Up to this many tasks come out of a queue in one batch steal (crossbeam-deque's
    /// `MAX_BATCH` + the one popped).
    const BATCH: usize = 33;

    fn pop_injector(&mut self, w: usize, lane: Lane) -> Option<usize> {
        if !self.policy.injector_batch() {
            return self.pop_injector_one(w, lane);
        }
        self.workers[w].locals[lane.index()].as_ref()?;
        let l = lane.index();
        let first = self.injectors[l].pop_front()?;
        let mut moved = 0;
        while moved + 1 < Self::BATCH {
            let Some(t) = self.injectors[l].pop_front() else {
                break;
            };
            self.workers[w].locals[l]
                .as_mut()
                .expect("checked")
                .push_back(t);
            moved += 1;
        }
        let worker = &mut self.workers[w];
        worker.lifo_streak = 0;
        worker.pending_cost += self.cfg.costs.queue_us * (1 + moved) as f64;
        if moved > 0 {
            self.notify(lane);
        }
        Some(first)
    }

    fn pop_injector_one(&mut self, w: usize, lane: Lane) -> Option<usize> {
        self.workers[w].locals[lane.index()].as_ref()?;
        let t = self.injectors[lane.index()].pop_front()?;
        self.workers[w].lifo_streak = 0;
        self.workers[w].pending_cost += self.cfg.costs.queue_us;
        Some(t)
    }

    fn steal(&mut self, w: usize, lane: Lane) -> Option<usize> {
        let l = lane.index();
        self.workers[w].locals[l].as_ref()?;
        let n = self.workers.len();
        let start = (self.workers[w].rng.next_u64() % n as u64) as usize;
        for offset in 0..n {
            let victim = (start + offset) % n;
            if victim == w {
                continue;
            }
            let len = match self.workers[victim].locals[l].as_ref() {
                Some(q) => q.len(),
                None => continue,
            };
            self.workers[w].pending_cost += self.cfg.costs.steal_us;
            if len == 0 || self.rng.unit() < self.cfg.costs.steal_miss {
                continue;
            }
            let take = len.div_ceil(2).min(Self::BATCH);
            let mut got: Vec<usize> = Vec::with_capacity(take);
            let q = self.workers[victim].locals[l].as_mut().expect("checked");
            for _ in 0..take {
                got.extend(q.pop_front());
            }
            let first = got.remove(0);
            self.workers[w].locals[l]
                .as_mut()
                .expect("checked")
                .extend(got);
            self.workers[w].lifo_streak = 0;
            self.out.steals += 1;
            return Some(first);
        }
        None
    }

    // ---- idle protocol -----------------------------------------------------------------

    /// Is work of `lane` where a worker other than `except` may take it?
    fn lane_has_work(&self, lane: Lane, except: Option<usize>) -> bool {
        let l = lane.index();
        !self.injectors[l].is_empty()
            || self.workers.iter().enumerate().any(|(i, w)| {
                Some(i) != except && w.locals[l].as_ref().is_some_and(|q| !q.is_empty())
            })
    }

    /// `Shared::has_visible_work` for worker `w` about to sleep.
    fn has_visible_work(&self, w: usize) -> bool {
        let class = self.workers[w].class;
        let slot_free = self.slots.map_or(true, |(used, max)| used < max);
        let steals = self.policy.steal_order(class);
        self.policy.lanes_for(class).iter().any(|&lane| {
            let may =
                !(self.workers[w].slot_limited && self.policy.needs_slot(class, lane)) || slot_free;
            let l = lane.index();
            let others = steals.contains(&lane) && self.lane_has_work(lane, Some(w));
            let own = self.workers[w].locals[l]
                .as_ref()
                .is_some_and(|q| !q.is_empty())
                || self.workers[w]
                    .lifo
                    .is_some_and(|t| self.tasks[t].lane == lane);
            may && (!self.injectors[l].is_empty() || others || own)
        })
    }

    /// `Idle::worker_to_notify` + unpark.
    fn notify(&mut self, lane: Lane) {
        for &role in self.policy.wake_order(lane) {
            if role == WorkerRole::Critical {
                continue; // No critical workers here: none asleep, none searching.
            }
            let c = ci(role.class());
            if self.searching[c] != 0 {
                return;
            }
            if let Some(w) = self.sleepers[c].pop() {
                self.searching[c] += 1;
                self.wake(w);
                return;
            }
        }
    }

    fn wake(&mut self, w: usize) {
        self.out.wakeups += 1;
        // Its pending lend checks are stale from now on.
        self.workers[w].watch_gen += 1;
        self.workers[w].watch = None;
        let at = self.now + self.cfg.costs.wake_us;
        self.at(at, Event::Woken(w));
    }

    fn woken(&mut self, w: usize) {
        self.workers[w].parked = false;
        self.workers[w].searching = true;
        if let Some(e) = self.workers[w].lent_to.take() {
            self.take_back(w, e);
        }
        if self.workers[w].class == CoreClass::Efficiency {
            // `Loan::set_awake(true)`: a lender sleeping blind starts watching.
            for p in 0..self.workers.len() {
                let lender = &self.workers[p];
                if lender.lender && lender.parked && lender.watch.is_none() {
                    self.start_watch(p);
                }
            }
        }
        self.set_burst(
            w,
            Burst {
                left: 0.0,
                kind: BurstKind::Search,
            },
        );
    }

    fn park(&mut self, w: usize) {
        let class = ci(self.workers[w].class);
        self.sleepers[class].push(w);
        if std::mem::take(&mut self.workers[w].searching) {
            self.searching[class] -= 1;
        }
        if self.has_visible_work(w) {
            // `cancel_sleep`: look again (after a search's worth of time).
            self.sleepers[class].retain(|&s| s != w);
            self.workers[w].searching = true;
            self.searching[class] += 1;
            let left = self.cfg.costs.search_us + std::mem::take(&mut self.workers[w].pending_cost);
            self.set_burst(
                w,
                Burst {
                    left,
                    kind: BurstKind::Search,
                },
            );
            return;
        }
        self.workers[w].parked = true;
        self.workers[w].pending_cost = 0.0;
        self.threads[w].runnable = false;
        if self.workers[w].lender && self.awake_e() > 0 {
            self.start_watch(w);
        }
    }

    // ---- lending -----------------------------------------------------------------------

    fn awake_e(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| w.class == CoreClass::Efficiency && !w.parked)
            .count()
    }

    /// `Loan::running_poll` for every worker.
    fn running_e_polls(&self) -> Vec<Option<usize>> {
        self.workers
            .iter()
            .map(|w| {
                (w.class == CoreClass::Efficiency && w.polling && w.lent_by.is_none())
                    .then_some(w.poll_seq)
            })
            .collect()
    }

    fn start_watch(&mut self, p: usize) {
        self.workers[p].watch = Some(self.running_e_polls());
        let gen = self.workers[p].watch_gen;
        let at = self.now + self.policy.lend_after_us();
        if at.is_finite() {
            self.at(at, Event::LendCheck(p, gen));
        }
    }

    /// A lending worker's timed park ran out: `keep_or_lend`, then watch on or sleep blind.
    fn lend_check(&mut self, p: usize, gen: u64) {
        if !self.workers[p].parked || self.workers[p].watch_gen != gen {
            return;
        }
        let Some(before) = self.workers[p].watch.take() else {
            return;
        };
        self.keep_or_lend(p, &before);
        if self.awake_e() > 0 {
            self.start_watch(p);
        }
    }

    fn keep_or_lend(&mut self, p: usize, before: &[Option<usize>]) {
        let pays = self.policy.lending_pays(self.awake_e(), self.e_cores);
        if let Some(e) = self.workers[p].lent_to {
            if !pays {
                self.workers[p].lent_to = None;
                self.take_back(p, e);
                return;
            }
            if self.workers[e].lent_by == Some(p) {
                return;
            }
            self.workers[p].lent_to = None;
        }
        if !pays {
            return;
        }
        let after = self.running_e_polls();
        let Some(e) = self.policy.borrower(before, &after) else {
            return;
        };
        // `Loan::lend`: still in that poll, not lent: its thread moves to our cores.
        if after[e].is_none() || self.workers[e].lent_by.is_some() {
            return;
        }
        self.workers[e].lent_by = Some(p);
        self.workers[p].lent_to = Some(e);
        self.out.loans += 1;
        let cores = self.workers[p].own.clone();
        self.threads[e].allowed = cores.clone();
        if !cores.contains(&self.threads[e].core) {
            let occ = os::occupancy(&self.threads, self.cores.len());
            let to = cores
                .iter()
                .copied()
                .find(|&c| occ[c] == (0, 0))
                .unwrap_or(cores[0]);
            self.move_thread(e, to);
        }
    }

    /// End `p`'s loan to `e`, if it stands: `e`'s thread may use its own cores again.
    fn take_back(&mut self, p: usize, e: usize) {
        if self.workers[e].lent_by == Some(p) {
            self.workers[e].lent_by = None;
            self.threads[e].allowed = self.workers[e].own.clone();
        }
    }

    // ---- the OS's balancing ------------------------------------------------------------

    fn balance(&mut self) {
        loop {
            let occ = os::occupancy(&self.threads, self.cores.len());
            let mut idle: Vec<usize> = (0..self.cores.len())
                .filter(|&c| occ[c] == (0, 0))
                .collect();
            idle.sort_by(|&a, &b| self.speeds[b].total_cmp(&self.speeds[a]).then(a.cmp(&b)));
            let pull = idle
                .iter()
                .find_map(|&c| os::waiting_for(&self.threads, c, &self.speeds).map(|w| (w, c)));
            match pull {
                Some((w, c)) => self.move_thread(w, c),
                None => {
                    if self.cfg.os.misfit {
                        for c in idle {
                            if self.misfit_pending[c].is_some() {
                                continue;
                            }
                            let taken: Vec<usize> =
                                self.misfit_pending.iter().flatten().copied().collect();
                            if let Some(w) = os::misfit_for(&self.threads, c, &self.speeds, &taken)
                            {
                                self.misfit_pending[c] = Some(w);
                                let at = self.now + self.cfg.os.misfit_delay_us;
                                self.at(at, Event::Misfit(c, w));
                            }
                        }
                    }
                    return;
                }
            }
        }
    }
}

/// Index of a class in per-class arrays: P = 0, E = 1.
pub fn ci(class: CoreClass) -> usize {
    match class {
        CoreClass::Performance => 0,
        CoreClass::Efficiency => 1,
    }
}

#[derive(Clone, Copy, Debug)]
enum Take {
    From(Source),
    Steal,
}

impl Outcome {
    /// Makespan over the fluid bound.
    pub fn over_bound(&self) -> f64 {
        self.makespan_us / self.bound_us.max(1e-12)
    }

    /// The `q` quantile (0..=1) of lane `lane`'s runnable → polled waits, µs.
    pub fn wait_quantile(&self, lane: Lane, q: f64) -> Option<f64> {
        quantile(&self.wait_us[lane.index()], q)
    }

    /// The `q` quantile of the latency-critical tasks' response times, µs.
    pub fn response_quantile(&self, q: f64) -> Option<f64> {
        quantile(&self.response_us, q)
    }

    /// Share of the task work done on E cores.
    pub fn efficiency_share(&self) -> f64 {
        let total = self.work_by_class[0] + self.work_by_class[1];
        if total > 0.0 {
            self.work_by_class[1] / total
        } else {
            0.0
        }
    }
}

/// The `q` quantile of `samples` (nearest rank), `None` if empty.
pub fn quantile(samples: &[f64], q: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}
