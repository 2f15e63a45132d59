//! The policies the simulator compares. Each answers the questions a worker loop asks:
//! which workers exist and where their threads may run, which lanes a worker takes in what
//! order, where a runnable task goes, whom to wake for it, whether an idle worker lends
//! its CPUs.
//!
//! [`Hetsched`] answers every one of them by calling `hetsched::runtime::policy`, the
//! module the real workers call: no copy of the policy lives here, so when a rule changes
//! the simulator follows. P-only reuses it too: it is hetsched's own policy on a runtime
//! with no E workers ([`Hetsched::p_only`]). The comparison policies (P/E-blind
//! stealing, GCD-like, static split) are written here, because no runtime of ours runs them.

use crate::chip::Core;
use hetsched::runtime::policy::{self, Placement, Readiness, Source};
use hetsched::{CoreClass, Lane, Pin, Qos, WorkerRole};

/// One worker thread: its class and where the OS may run it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerSpec {
    /// The worker's class (which lanes it may take).
    pub class: CoreClass,
    /// Cores its thread may run on (never empty).
    pub cpus: Vec<usize>,
    /// Runs at the lowest OS priority (any normal thread on its core preempts it).
    pub idle_priority: bool,
}

/// A scheduling policy, as the simulated worker loop sees it.
pub trait Policy {
    /// Name in tables (`hetsched`, `blind`, `p_only`, `gcd`, `static`).
    fn name(&self) -> &'static str;
    /// The workers on a machine with these cores.
    fn workers(&self, cores: &[Core]) -> Vec<WorkerSpec>;
    /// The lane a task of `qos` is queued in.
    fn lane_of(&self, qos: Qos) -> Lane {
        Lane::of(qos)
    }
    /// The lanes a worker of `class` may take.
    fn lanes_for(&self, class: CoreClass) -> &'static [Lane];
    /// Where a worker looks, in order, on its poll number `tick` (before stealing).
    fn search_order(&self, class: CoreClass, tick: u32, after_yield: bool) -> Vec<(Lane, Source)>;
    /// The lanes it steals from other workers' queues, in order (empty: no stealing).
    fn steal_order(&self, class: CoreClass) -> &'static [Lane];
    /// Where a task that becomes runnable goes (`on`: the class of the worker doing it).
    fn placement(
        &self,
        lane: Lane,
        on: Option<CoreClass>,
        slot_limited: bool,
        readiness: Readiness,
    ) -> Placement;
    /// Which worker roles to wake for new work of `lane`, in order (the simulator runs no
    /// critical workers: a `Critical` entry finds none asleep, as in a runtime without them).
    fn wake_order(&self, lane: Lane) -> &'static [WorkerRole];
    /// Take the LIFO slot's task after `streak` LIFO polls in a row? (Default: at most 3
    /// in a row, tokio's `MAX_LIFO_POLLS_PER_TICK` too.)
    fn take_lifo(&self, streak: u32) -> bool {
        streak < 3
    }
    /// E workers allowed on Default / Utility at once (`None`, the default: no limit).
    fn efficiency_slots(&self, _e_workers: usize, _e_cpus: usize) -> Option<usize> {
        None
    }
    /// Does a worker of `class` need a slot to take `lane`? (Default: never.)
    fn needs_slot(&self, _class: CoreClass, _lane: Lane) -> bool {
        false
    }
    /// Does an idle worker of `class` lend its CPUs to E workers in long polls?
    fn lends(&self, _class: CoreClass) -> bool {
        false
    }
    /// How long a poll runs before it may borrow, µs.
    fn lend_after_us(&self) -> f64 {
        f64::INFINITY
    }
    /// Would a loan add capacity?
    fn lending_pays(&self, _awake_e: usize, _e_cpus: usize) -> bool {
        false
    }
    /// Which E worker borrows, from two looks `lend_after_us` apart.
    fn borrower(&self, _before: &[Option<usize>], _after: &[Option<usize>]) -> Option<usize> {
        None
    }
    /// A static policy's owner for the `nth` task submitted from outside (`None`: the
    /// task goes where [`Policy::placement`] says).
    fn owner_of_arrival(&self, _nth: usize, _workers: usize) -> Option<usize> {
        None
    }
    /// A look at an injector moves a batch into the worker's own queue (work-stealing
    /// runtimes); false: one task at a time (a shared queue is the only queue).
    fn injector_batch(&self) -> bool {
        true
    }
    /// A worker's poll counter wraps at this value.
    fn tick_period(&self) -> u32 {
        policy::TICK_PERIOD
    }
}

fn class_cpus(cores: &[Core], class: CoreClass) -> Vec<usize> {
    (0..cores.len())
        .filter(|&c| cores[c].class == class)
        .collect()
}

fn every_cpu(cores: &[Core]) -> Vec<usize> {
    (0..cores.len()).collect()
}

/// hetsched's policy under a [`Pin`] mode, on a runtime with or without E workers:
/// every answer comes from `hetsched::runtime::policy`.
#[derive(Clone, Debug)]
pub struct Hetsched {
    /// The pin mode (the runtime's default is [`Pin::Spill`]).
    pub pin: Pin,
    /// Run E workers at all (false: the P-only policy, hetsched on the P cores alone).
    pub efficiency_workers: bool,
    /// Worker counts per class (`None`: `policy::default_workers`).
    pub counts: Option<(usize, usize)>,
}

impl Hetsched {
    /// hetsched as it ships: `Pin::Spill`, default worker counts.
    pub fn shipped() -> Hetsched {
        Hetsched {
            pin: Pin::Spill,
            efficiency_workers: true,
            counts: None,
        }
    }

    /// P-only: hetsched's policy with no E workers, the E cores left idle.
    pub fn p_only() -> Hetsched {
        Hetsched {
            pin: Pin::Class,
            efficiency_workers: false,
            counts: None,
        }
    }

    fn has_e(&self) -> bool {
        self.efficiency_workers
    }
}

impl Policy for Hetsched {
    fn name(&self) -> &'static str {
        match (self.efficiency_workers, self.pin) {
            (false, _) => "p_only",
            (true, Pin::Spill) => "hetsched",
            (true, Pin::Class) => "hetsched_class",
            (true, Pin::Core) => "hetsched_core",
            (true, Pin::Off) => "hetsched_off",
        }
    }

    fn workers(&self, cores: &[Core]) -> Vec<WorkerSpec> {
        let p = class_cpus(cores, CoreClass::Performance);
        let e = if self.efficiency_workers {
            class_cpus(cores, CoreClass::Efficiency)
        } else {
            Vec::new()
        };
        let mut specs = Vec::new();
        for class in [CoreClass::Performance, CoreClass::Efficiency] {
            let n = match self.counts {
                Some((p_n, _)) if class == CoreClass::Performance => p_n,
                Some((_, e_n)) => e_n,
                None => policy::default_workers(class, self.pin, p.len(), e.len()),
            };
            let n = if class == CoreClass::Efficiency && !self.efficiency_workers {
                0
            } else {
                n
            };
            for nth in 0..n {
                let placed = policy::thread_placement(self.pin, class, nth, &p, &e);
                let cpus = if placed.cpus.is_empty() {
                    every_cpu(cores)
                } else {
                    placed.cpus
                };
                specs.push(WorkerSpec {
                    class,
                    cpus,
                    idle_priority: placed.idle_priority,
                });
            }
        }
        specs
    }

    fn lanes_for(&self, class: CoreClass) -> &'static [Lane] {
        policy::lanes_for(class, self.has_e())
    }

    fn search_order(&self, class: CoreClass, tick: u32, after_yield: bool) -> Vec<(Lane, Source)> {
        policy::search_order(class, self.has_e(), tick, after_yield)
            .steps()
            .to_vec()
    }

    fn steal_order(&self, class: CoreClass) -> &'static [Lane] {
        policy::steal_order(class, self.has_e())
    }

    fn placement(
        &self,
        lane: Lane,
        on: Option<CoreClass>,
        slot_limited: bool,
        readiness: Readiness,
    ) -> Placement {
        // The simulated machine runs no critical workers (`Builder::critical_workers`).
        let on = on.map(WorkerRole::from);
        policy::placement(lane, on, self.has_e(), false, slot_limited, readiness)
    }

    fn wake_order(&self, lane: Lane) -> &'static [WorkerRole] {
        policy::wake_order(lane, self.has_e())
    }

    fn take_lifo(&self, streak: u32) -> bool {
        policy::take_lifo(streak)
    }

    fn efficiency_slots(&self, e_workers: usize, e_cpus: usize) -> Option<usize> {
        policy::efficiency_slots(self.pin, e_workers, e_cpus)
    }

    fn needs_slot(&self, class: CoreClass, lane: Lane) -> bool {
        policy::needs_efficiency_slot(class, lane)
    }

    fn lends(&self, class: CoreClass) -> bool {
        policy::lends_cpus(self.pin, class, self.has_e())
    }

    fn lend_after_us(&self) -> f64 {
        policy::LEND_AFTER.as_secs_f64() * 1e6
    }

    fn lending_pays(&self, awake_e: usize, e_cpus: usize) -> bool {
        policy::lending_pays(awake_e, e_cpus)
    }

    fn borrower(&self, before: &[Option<usize>], after: &[Option<usize>]) -> Option<usize> {
        policy::borrower(before, after)
    }
}

/// P/E-blind work stealing, what tokio and rayon do: one lane, every worker alike and
/// unpinned (the OS places the threads), a LIFO slot, a per-worker queue, a shared
/// injector looked at first on every 61st poll (tokio's `global_queue_interval`), steal
/// from anyone.
#[derive(Clone, Debug, Default)]
pub struct Blind {
    /// Worker threads (`None`: one per core).
    pub workers: Option<usize>,
}

/// tokio's `global_queue_interval` default.
const GLOBAL_QUEUE_INTERVAL: u32 = 61;

impl Policy for Blind {
    fn name(&self) -> &'static str {
        "blind"
    }

    fn workers(&self, cores: &[Core]) -> Vec<WorkerSpec> {
        let n = self.workers.unwrap_or(cores.len()).max(1);
        (0..n)
            .map(|_| WorkerSpec {
                class: CoreClass::Performance,
                cpus: every_cpu(cores),
                idle_priority: false,
            })
            .collect()
    }

    fn lane_of(&self, _qos: Qos) -> Lane {
        Lane::Default
    }

    fn lanes_for(&self, _class: CoreClass) -> &'static [Lane] {
        &[Lane::Default]
    }

    fn search_order(&self, _class: CoreClass, tick: u32, after_yield: bool) -> Vec<(Lane, Source)> {
        let global_first = after_yield || tick % GLOBAL_QUEUE_INTERVAL == 0;
        let source = if global_first {
            Source::InjectorFirst
        } else {
            Source::LocalFirst
        };
        vec![(Lane::Default, source)]
    }

    fn steal_order(&self, _class: CoreClass) -> &'static [Lane] {
        &[Lane::Default]
    }

    fn placement(
        &self,
        _lane: Lane,
        on: Option<CoreClass>,
        _slot_limited: bool,
        readiness: Readiness,
    ) -> Placement {
        match (on, readiness) {
            (None, _) => Placement::Injector,
            (Some(_), Readiness::Woken) => Placement::LifoSlot,
            (Some(_), _) => Placement::LocalQueue,
        }
    }

    fn wake_order(&self, _lane: Lane) -> &'static [WorkerRole] {
        &[WorkerRole::Performance]
    }
}

/// A GCD-like policy: one shared queue per QoS and no per-worker queues; latency-critical
/// and default work on P workers first, spilling to E workers; utility and background work
/// on E workers only. Workers are kept to their class's cores (as macOS keeps background
/// QoS on the E cluster).
#[derive(Clone, Debug, Default)]
pub struct GcdLike;

impl Policy for GcdLike {
    fn name(&self) -> &'static str {
        "gcd"
    }

    fn workers(&self, cores: &[Core]) -> Vec<WorkerSpec> {
        let mut specs = Vec::new();
        for class in [CoreClass::Performance, CoreClass::Efficiency] {
            let cpus = class_cpus(cores, class);
            specs.extend(cpus.iter().map(|_| WorkerSpec {
                class,
                cpus: cpus.clone(),
                idle_priority: false,
            }));
        }
        specs
    }

    fn lanes_for(&self, class: CoreClass) -> &'static [Lane] {
        match class {
            CoreClass::Performance => &[Lane::Critical, Lane::Default],
            CoreClass::Efficiency => &[
                Lane::Critical,
                Lane::Default,
                Lane::Utility,
                Lane::Background,
            ],
        }
    }

    fn search_order(
        &self,
        class: CoreClass,
        _tick: u32,
        _after_yield: bool,
    ) -> Vec<(Lane, Source)> {
        self.lanes_for(class)
            .iter()
            .map(|&lane| (lane, Source::InjectorFirst))
            .collect()
    }

    fn steal_order(&self, _class: CoreClass) -> &'static [Lane] {
        &[]
    }

    fn injector_batch(&self) -> bool {
        false
    }

    fn placement(&self, _: Lane, _: Option<CoreClass>, _: bool, _: Readiness) -> Placement {
        Placement::Injector
    }

    fn wake_order(&self, lane: Lane) -> &'static [WorkerRole] {
        match lane {
            Lane::Critical | Lane::Default => &[WorkerRole::Performance, WorkerRole::Efficiency],
            Lane::Utility | Lane::Background => &[WorkerRole::Efficiency],
        }
    }

    fn take_lifo(&self, _streak: u32) -> bool {
        false
    }
}

/// Static equal split (OpenMP `schedule(static)`): tasks submitted from outside are dealt
/// round-robin to one worker per core, pinned to it; no stealing, no shared queue.
#[derive(Clone, Debug, Default)]
pub struct StaticSplit;

impl Policy for StaticSplit {
    fn name(&self) -> &'static str {
        "static"
    }

    fn workers(&self, cores: &[Core]) -> Vec<WorkerSpec> {
        (0..cores.len())
            .map(|c| WorkerSpec {
                class: CoreClass::Performance,
                cpus: vec![c],
                idle_priority: false,
            })
            .collect()
    }

    fn lane_of(&self, _qos: Qos) -> Lane {
        Lane::Default
    }

    fn lanes_for(&self, _class: CoreClass) -> &'static [Lane] {
        &[Lane::Default]
    }

    fn search_order(&self, _: CoreClass, _: u32, _: bool) -> Vec<(Lane, Source)> {
        vec![(Lane::Default, Source::LocalFirst)]
    }

    fn steal_order(&self, _class: CoreClass) -> &'static [Lane] {
        &[]
    }

    fn placement(&self, _: Lane, on: Option<CoreClass>, _: bool, r: Readiness) -> Placement {
        match (on, r) {
            (Some(_), Readiness::Woken) => Placement::LifoSlot,
            (Some(_), _) => Placement::LocalQueue,
            // Only reached for wakes from outside (a probe's timer): its owner's queue is
            // chosen by the engine through `owner_of_arrival`.
            (None, _) => Placement::Injector,
        }
    }

    fn wake_order(&self, _lane: Lane) -> &'static [WorkerRole] {
        &[WorkerRole::Performance]
    }

    fn owner_of_arrival(&self, nth: usize, workers: usize) -> Option<usize> {
        Some(nth % workers.max(1))
    }
}

/// The policy names on the command line, in table order.
pub const NAMES: [&str; 5] = ["hetsched", "blind", "p_only", "gcd", "static"];

/// The policy called `name` (one of [`NAMES`], or `hetsched_class` / `hetsched_off`).
pub fn by_name(name: &str) -> Option<Box<dyn Policy>> {
    let hetsched = |pin| Hetsched {
        pin,
        ..Hetsched::shipped()
    };
    Some(match name {
        "hetsched" => Box::new(Hetsched::shipped()),
        "hetsched_class" => Box::new(hetsched(Pin::Class)),
        "hetsched_off" => Box::new(hetsched(Pin::Off)),
        "blind" => Box::new(Blind::default()),
        "p_only" => Box::new(Hetsched::p_only()),
        "gcd" => Box::new(GcdLike),
        "static" => Box::new(StaticSplit),
        _ => return None,
    })
}
