//! Stress workload: a random spawn tree of N tasks across all five Qos levels, with yields,
//! wakes from foreign threads, aborts (from the parent and from foreign threads) and panics
//! mixed in. At the end it checks that every task was accounted for exactly once and that
//! the arithmetic adds up, then prints a report. Exit status 1 if any check failed.
//!
//! ```text
//! cargo run --release --example stress -- [TASKS] [SEED] [P_WORKERS] [E_WORKERS] [SOAK_SECONDS]
//! # defaults: 1000000 tasks, seed 1, 2 P workers and 2 E workers on a declared
//! # P = first allowed CPU, E = second allowed CPU machine (CPUs 0 and 1 on an
//! # unrestricted box; under a one-CPU mask E has no CPU and E workers run unpinned)
//! # SOAK_SECONDS > 0: one runtime runs tree after tree (seeds SEED, SEED+1, ...) for that
//! # long, every tree checked, the resident set printed every 10 s (RELIABILITY.md, soak)
//!
//! # leak check (RELIABILITY.md):
//! RUSTFLAGS="-g" cargo build --release --example stress
//! valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1 \
//!     target/release/examples/stress 20000
//! ```
//!
//! The same workload is the body of `tests/stress_spawn_trees.rs` (included with
//! `#[path]`), so the test suite and the valgrind run exercise the same code.
//!
//! The tree is a pure function of the seed: each node's shape (how many children, their
//! sizes, their Qos, what each leaf does) comes from a per-node random stream, so the number
//! of tasks is exactly N and every expected outcome is known, whatever order the runtime
//! runs them in. Only "racy" leaves (aborted right after being spawned) may go either way;
//! both outcomes are counted and must add up.

#[allow(dead_code)] // unused when the test suite includes this file as a module
#[path = "common/rss.rs"]
mod rss;

use futures::channel::oneshot;
use futures::future::BoxFuture;
use futures::FutureExt;
use hetsched::{Builder, CoreClass, JoinHandle, Lane, Qos, Runtime, Topology};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex, Once};
use std::thread;

/// Prefix of every panic message the workload raises on purpose (the panic hook keeps
/// them off stderr: tens of thousands of expected panics would drown real output).
pub const PANIC_PREFIX: &str = "stress: planned panic";

/// What a leaf task does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leaf {
    /// Yields 0-2 times, then returns its value.
    Plain,
    /// Waits for a foreign thread to wake it, then returns its value.
    ForeignWake,
    /// Panics after 0-1 yields.
    Panics,
    /// Never finishes; its parent aborts it (itself or through a foreign thread).
    Doomed { foreign_abort: bool },
    /// A plain leaf its parent aborts right after spawning it: either outcome is fine.
    Racy,
}

/// splitmix64: a tiny, good-enough random stream; one per tree node.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn leaf_kind(seed: u64) -> Leaf {
    let mut rng = Rng(seed);
    match rng.below(100) {
        0..=77 => Leaf::Plain,
        78..=85 => Leaf::ForeignWake,
        86..=89 => Leaf::Panics,
        90..=93 => Leaf::Doomed {
            foreign_abort: rng.below(2) == 0,
        },
        _ => Leaf::Racy,
    }
}

fn leaf_value(seed: u64) -> u64 {
    (seed >> 40) % 1000 + 1
}

/// Work for the foreign threads.
enum Foreign {
    Wake(oneshot::Sender<()>),
    Abort(Arc<JoinHandle<u64>>, oneshot::Sender<()>),
}

/// Counters every task updates; compared at the end.
#[derive(Default, Debug)]
pub struct Counters {
    /// Tasks spawned (every spawn call, the root included).
    pub spawned: AtomicU64,
    /// Task futures dropped (each future owns one token).
    pub futures_dropped: AtomicU64,
    /// Leaves in the tree (decided by the seed).
    pub leaves: AtomicU64,
    /// Sum of the values of leaves that returned their value.
    pub leaf_value_sum: AtomicU64,
    /// Leaves that returned their value, as their parents saw it.
    pub leaves_ok: AtomicU64,
    /// Planned panics raised, and panics the parents saw as `JoinError::is_panic`.
    pub panics_raised: AtomicU64,
    /// Panics the parents saw.
    pub panics_seen: AtomicU64,
    /// Doomed leaves spawned, and cancellations the parents saw.
    pub doomed: AtomicU64,
    /// Cancellations the parents saw (doomed leaves plus racy ones that lost).
    pub cancelled_seen: AtomicU64,
    /// Racy leaves spawned.
    pub racy: AtomicU64,
    /// Wakes done by foreign threads.
    pub foreign_wakes: AtomicU64,
    /// Aborts done by foreign threads.
    pub foreign_aborts: AtomicU64,
    /// `yield_now` calls.
    pub yields: AtomicU64,
    /// Outcomes that contradict the plan, or polls on a worker the lane forbids.
    pub violations: AtomicU64,
}

/// Counts a future's drop.
struct DropToken(Arc<Shared>);

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.counters.futures_dropped.fetch_add(1, SeqCst);
    }
}

struct Shared {
    counters: Counters,
    foreign: Mutex<mpsc::Sender<Foreign>>,
    has_efficiency: bool,
}

impl Shared {
    fn violation(&self, what: impl FnOnce() -> String) {
        if self.counters.violations.fetch_add(1, SeqCst) < 10 {
            eprintln!("stress: violation: {}", what());
        }
    }

    fn send(&self, work: Foreign) {
        self.foreign
            .lock()
            .unwrap()
            .send(work)
            .expect("foreign threads are alive while tasks run");
    }

    /// The lane rules of DESIGN.md, checked on every resumption of a leaf spawned at
    /// `qos`: it runs at that Qos or, escalated by a more urgent task awaiting it, at a
    /// higher one (never lower), on a worker allowed to run the lane of the Qos it has now.
    fn check_placement(&self, qos: Qos) {
        let class = hetsched::current_class();
        let now = hetsched::current_qos();
        let ok = now.is_some_and(|now| {
            let allowed = match Lane::of(now) {
                Lane::Critical => class == Some(CoreClass::Performance),
                Lane::Background if self.has_efficiency => class == Some(CoreClass::Efficiency),
                _ => class.is_some(),
            };
            allowed && now.urgency() >= qos.urgency()
        });
        if !ok {
            self.violation(|| format!("{qos:?} task polled on {class:?} with current_qos {now:?}"));
        }
    }
}

fn spawn_counted<F>(shared: &Arc<Shared>, qos: Option<Qos>, fut: F) -> JoinHandle<u64>
where
    F: std::future::Future<Output = u64> + Send + 'static,
{
    shared.counters.spawned.fetch_add(1, SeqCst);
    let token = DropToken(shared.clone());
    let fut = async move {
        let _token = token;
        fut.await
    };
    match qos {
        Some(qos) => hetsched::spawn_with(qos, fut),
        None => hetsched::spawn(fut),
    }
}

async fn foreign_wake(shared: &Arc<Shared>) {
    let (tx, rx) = oneshot::channel();
    shared.send(Foreign::Wake(tx));
    rx.await.expect("the foreign thread fires every wake");
}

fn leaf(shared: Arc<Shared>, seed: u64, qos: Qos, kind: Leaf) -> BoxFuture<'static, u64> {
    async move {
        let mut rng = Rng(seed ^ 0xA5A5);
        shared.check_placement(qos);
        match kind {
            Leaf::Plain | Leaf::Racy => {
                for _ in 0..rng.below(3) {
                    shared.counters.yields.fetch_add(1, SeqCst);
                    hetsched::yield_now().await;
                    shared.check_placement(qos);
                }
            }
            Leaf::ForeignWake => {
                foreign_wake(&shared).await;
                shared.check_placement(qos);
            }
            Leaf::Panics => {
                if rng.below(2) == 0 {
                    shared.counters.yields.fetch_add(1, SeqCst);
                    hetsched::yield_now().await;
                }
                shared.counters.panics_raised.fetch_add(1, SeqCst);
                panic!("{PANIC_PREFIX} in leaf {seed}");
            }
            Leaf::Doomed { .. } => {
                std::future::pending::<()>().await;
                unreachable!("a pending future never completes");
            }
        }
        let value = leaf_value(seed);
        shared.counters.leaf_value_sum.fetch_add(value, SeqCst);
        value
    }
    .boxed()
}

/// A subtree of exactly `size` tasks (this one included); returns the sum of the values
/// of its leaves that returned one.
fn node(shared: Arc<Shared>, seed: u64, size: u64) -> BoxFuture<'static, u64> {
    async move {
        let mut rng = Rng(seed);
        if rng.below(10) == 0 {
            shared.counters.yields.fetch_add(1, SeqCst);
            hetsched::yield_now().await;
        }
        if rng.below(20) == 0 {
            foreign_wake(&shared).await;
        }
        let mut remaining = size - 1;
        let fanout = 1 + rng.below(remaining.min(8));
        let mut children = Vec::with_capacity(fanout as usize);
        for i in 0..fanout {
            let left = fanout - i;
            let child_size = if left == 1 {
                remaining
            } else {
                let share = remaining / left;
                (share / 2 + rng.below(share.max(1))).clamp(1, remaining - (left - 1))
            };
            remaining -= child_size;
            let child_seed = Rng(seed ^ (i + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93)).next();
            // Qos: one of the five, or inherited (a plain spawn).
            let pick = rng.below(6) as usize;
            let qos = Qos::ALL.get(pick).copied();
            let effective = qos.unwrap_or_else(|| hetsched::current_qos().unwrap());
            if child_size == 1 {
                shared.counters.leaves.fetch_add(1, SeqCst);
                let kind = leaf_kind(child_seed);
                let handle = spawn_counted(
                    &shared,
                    qos,
                    leaf(shared.clone(), child_seed, effective, kind),
                );
                match kind {
                    Leaf::Doomed { .. } => shared.counters.doomed.fetch_add(1, SeqCst),
                    Leaf::Racy => {
                        handle.abort();
                        shared.counters.racy.fetch_add(1, SeqCst)
                    }
                    _ => 0,
                };
                children.push((Some((child_seed, kind)), handle));
            } else {
                let handle =
                    spawn_counted(&shared, qos, node(shared.clone(), child_seed, child_size));
                children.push((None, handle));
            }
        }
        let mut sum = 0;
        for (leaf, handle) in children {
            let outcome = match leaf {
                Some((
                    _,
                    Leaf::Doomed {
                        foreign_abort: true,
                    },
                )) => {
                    let handle = Arc::new(handle);
                    let (tx, rx) = oneshot::channel();
                    shared.send(Foreign::Abort(handle.clone(), tx));
                    rx.await
                        .expect("the foreign thread acknowledges every abort");
                    match Arc::try_unwrap(handle) {
                        Ok(handle) => handle.await,
                        Err(_) => unreachable!("the foreign thread dropped its reference"),
                    }
                }
                Some((_, Leaf::Doomed { .. })) => {
                    handle.abort();
                    handle.await
                }
                _ => handle.await,
            };
            match (leaf, outcome) {
                (None, Ok(v)) => sum += v,
                (Some((seed, Leaf::Plain | Leaf::ForeignWake | Leaf::Racy)), Ok(v)) => {
                    if v != leaf_value(seed) {
                        shared.violation(|| format!("leaf {seed} returned {v}"));
                    }
                    shared.counters.leaves_ok.fetch_add(1, SeqCst);
                    sum += v;
                }
                (Some((seed, Leaf::Panics)), Err(e)) if e.is_panic() => {
                    let msg = e.to_string();
                    if !msg.contains(PANIC_PREFIX) || !msg.contains(&seed.to_string()) {
                        shared.violation(|| format!("leaf {seed}: unexpected panic {msg}"));
                    }
                    shared.counters.panics_seen.fetch_add(1, SeqCst);
                }
                (Some((_, Leaf::Doomed { .. } | Leaf::Racy)), Err(e)) if e.is_cancelled() => {
                    shared.counters.cancelled_seen.fetch_add(1, SeqCst);
                }
                (leaf, outcome) => {
                    shared.violation(|| format!("child {leaf:?} of node {seed}: {outcome:?}"))
                }
            }
        }
        sum
    }
    .boxed()
}

/// The outcome of one run, with everything needed to check it.
#[derive(Debug)]
pub struct Report {
    /// Tasks the plan asked for.
    pub planned: u64,
    /// What the root task returned: the sum of its subtree's returned leaf values.
    pub root_value: u64,
    /// The counters.
    pub counters: Counters,
    /// Spawned and completed tasks by the runtime's metrics, summed over lanes; live tasks.
    pub metrics_spawned: u64,
    /// Completed tasks by the runtime's metrics.
    pub metrics_completed: u64,
    /// Live tasks by the runtime's metrics.
    pub metrics_live: usize,
    /// Tasks queued by the runtime's metrics, summed over lanes, once the tree is done.
    pub metrics_queued: u64,
    /// Qos escalations (a task awaiting a child of lower Qos) during the run, and how many
    /// of them moved a queued child to its new lane.
    pub escalations: u64,
    /// See `escalations`.
    pub rescues: u64,
}

impl Report {
    /// Every check; the errors found, empty if all held.
    pub fn problems(&self) -> Vec<String> {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(SeqCst);
        let mut problems = Vec::new();
        let mut check = |ok: bool, what: String| {
            if !ok {
                problems.push(what);
            }
        };
        let spawned = get(&c.spawned);
        check(
            spawned == self.planned,
            format!("spawned {spawned} tasks, planned {}", self.planned),
        );
        check(
            get(&c.futures_dropped) == spawned,
            format!(
                "{} futures dropped for {spawned} tasks (each must be dropped exactly once)",
                get(&c.futures_dropped)
            ),
        );
        check(
            self.root_value == get(&c.leaf_value_sum),
            format!(
                "root returned {} but leaves returned {} in total",
                self.root_value,
                get(&c.leaf_value_sum)
            ),
        );
        let outcomes = get(&c.leaves_ok) + get(&c.panics_seen) + get(&c.cancelled_seen);
        check(
            outcomes == get(&c.leaves),
            format!(
                "{outcomes} leaf outcomes seen for {} leaves",
                get(&c.leaves)
            ),
        );
        check(
            get(&c.panics_seen) == get(&c.panics_raised),
            format!(
                "{} panics seen, {} raised",
                get(&c.panics_seen),
                get(&c.panics_raised)
            ),
        );
        let cancelled = get(&c.cancelled_seen);
        check(
            cancelled >= get(&c.doomed) && cancelled <= get(&c.doomed) + get(&c.racy),
            format!(
                "{cancelled} cancellations for {} doomed + {} racy leaves",
                get(&c.doomed),
                get(&c.racy)
            ),
        );
        check(
            get(&c.violations) == 0,
            format!("{} violations (see stderr)", get(&c.violations)),
        );
        check(
            self.metrics_spawned == spawned
                && self.metrics_completed == spawned
                && self.metrics_live == 0
                && self.metrics_queued == 0,
            format!(
                "metrics: spawned {}, completed {}, live {}, queued {} (tasks spawned: {spawned})",
                self.metrics_spawned,
                self.metrics_completed,
                self.metrics_live,
                self.metrics_queued
            ),
        );
        problems
    }
}

/// Keep the workload's planned panics off stderr; every other panic is reported as usual.
pub fn quiet_planned_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let planned = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|m| m.starts_with(PANIC_PREFIX));
            if !planned {
                default(info);
            }
        }));
    });
}

/// Run a tree of exactly `tasks` tasks (at least 1) on `rt`, with `foreign_threads`
/// threads doing wakes and aborts from outside the runtime.
pub fn run(rt: &Runtime, tasks: u64, seed: u64, foreign_threads: usize) -> Report {
    assert!(tasks >= 1, "a tree has at least its root");
    quiet_planned_panics();
    // This run's share of the runtime's counters (a soak runs many trees on one runtime).
    let lane_sums = |rt: &Runtime| {
        let m = rt.metrics();
        let spawned: u64 = m.lanes.iter().map(|l| l.spawned).sum();
        let completed: u64 = m.lanes.iter().map(|l| l.completed).sum();
        let queued: u64 = m.lanes.iter().map(|l| l.queued).sum();
        (spawned, completed, m.live_tasks, queued)
    };
    let (spawned_before, completed_before, _, _) = lane_sums(rt);
    let (tx, rx) = mpsc::channel::<Foreign>();
    let rx = Arc::new(Mutex::new(rx));
    let counters_owner = Arc::new(Shared {
        counters: Counters::default(),
        foreign: Mutex::new(tx),
        has_efficiency: rt
            .metrics()
            .workers
            .iter()
            .any(|w| w.class == CoreClass::Efficiency),
    });
    let foreign: Vec<_> = (0..foreign_threads.max(1))
        .map(|i| {
            let rx = rx.clone();
            let shared = counters_owner.clone();
            thread::Builder::new()
                .name(format!("stress-foreign-{i}"))
                .spawn(move || loop {
                    let work = rx.lock().unwrap().recv();
                    match work {
                        Ok(Foreign::Wake(tx)) => {
                            shared.counters.foreign_wakes.fetch_add(1, SeqCst);
                            let _ = tx.send(());
                        }
                        Ok(Foreign::Abort(handle, tx)) => {
                            shared.counters.foreign_aborts.fetch_add(1, SeqCst);
                            handle.abort();
                            drop(handle);
                            let _ = tx.send(());
                        }
                        Err(_) => return,
                    }
                })
                .expect("spawn a foreign thread")
        })
        .collect();
    let root = {
        let shared = counters_owner.clone();
        rt.block_on(async move {
            // The root is Default (spawned from outside any task).
            if tasks == 1 {
                shared.counters.leaves.fetch_add(1, SeqCst);
                shared.counters.leaves_ok.fetch_add(1, SeqCst);
                spawn_counted(
                    &shared,
                    None,
                    leaf(shared.clone(), seed, Qos::Default, Leaf::Plain),
                )
                .await
            } else {
                spawn_counted(&shared, None, node(shared.clone(), seed, tasks)).await
            }
        })
    };
    let root_value = root.unwrap_or_else(|e| {
        counters_owner.violation(|| format!("root failed: {e}"));
        0
    });
    // Close the foreign channel: the threads finish what is queued and exit.
    let (closed, _) = mpsc::channel();
    *counters_owner.foreign.lock().unwrap() = closed;
    for t in foreign {
        t.join().expect("foreign thread");
    }
    let (spawned_after, completed_after, live, queued) = lane_sums(rt);
    let metrics = rt.metrics();
    let rescues = metrics.workers.iter().map(|w| w.rescues).sum();
    let shared = Arc::try_unwrap(counters_owner)
        .unwrap_or_else(|_| panic!("every task dropped its reference to the counters"));
    Report {
        planned: tasks,
        root_value,
        counters: shared.counters,
        metrics_spawned: spawned_after - spawned_before,
        metrics_completed: completed_after - completed_before,
        metrics_live: live,
        metrics_queued: queued,
        escalations: metrics.escalations(),
        rescues,
    }
}

/// P = the first CPU this process may use, E = the second (declared; CPUs 0 and 1 on an
/// unrestricted box). With one allowed CPU (`taskset -c N`) E has no CPU: the E workers
/// run unpinned on the same CPU, and every lane rule still holds.
pub fn two_class_runtime(p: usize, e: usize) -> Runtime {
    let allowed: Vec<usize> = Topology::detect().allowed().iter().collect();
    let topology = Topology::with_classes(
        allowed.iter().copied().take(1).collect(),
        allowed.iter().copied().skip(1).take(1).collect(),
    )
    .expect("a declared two-class topology on allowed CPUs");
    Builder::new()
        .topology(topology)
        .workers(CoreClass::Performance, p)
        .workers(CoreClass::Efficiency, e)
        .build()
        .expect("build the runtime")
}

/// The soak: trees of `tasks` on one runtime for `length`, each checked; the resident set
/// every 10 s; at the end its growth after a one-minute warm-up. Exit 1 on any problem.
#[allow(dead_code)] // unused when the test suite includes this file as a module
fn soak_for(rt: &Runtime, tasks: u64, seed: u64, length: std::time::Duration) {
    let start = std::time::Instant::now();
    let mut next_sample = std::time::Duration::ZERO;
    let (mut rounds, mut total, mut errors) = (0u64, 0u64, 0usize);
    let mut samples: Vec<(u64, u64)> = Vec::new();
    while start.elapsed() < length {
        let report = run(rt, tasks, seed + rounds, 2);
        rounds += 1;
        total += report.counters.spawned.load(SeqCst);
        for p in report.problems() {
            eprintln!("stress: FAILED in round {rounds}: {p}");
            errors += 1;
        }
        if start.elapsed() >= next_sample {
            let (t, resident) = (start.elapsed().as_secs(), rss::rss_bytes());
            println!(
                "t={t:>4}s rounds={rounds:>5} tasks={total:>11} rss={:.1} MiB",
                resident as f64 / 1048576.0
            );
            samples.push((t, resident));
            next_sample += std::time::Duration::from_secs(10);
        }
    }
    let warm: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= 60)
        .map(|(_, r)| *r)
        .collect();
    if let (Some(first), Some(last), Some(max)) = (warm.first(), warm.last(), warm.iter().max()) {
        let mib = |b: u64| b as f64 / 1048576.0;
        let growth = |b: u64| (b as f64 / *first as f64 - 1.0) * 100.0;
        println!(
            "soak: {rounds} rounds, {total} tasks, {errors} errors; resident set after the \
             1-minute warm-up {:.1} MiB, at the end {:.1} MiB ({:+.1}%), highest sample {:.1} MiB ({:+.1}%)",
            mib(*first),
            mib(*last),
            growth(*last),
            mib(*max),
            growth(*max)
        );
    }
    if errors > 0 {
        std::process::exit(1);
    }
}

#[allow(dead_code)] // unused when the test suite includes this file as a module
fn main() {
    let arg = |i: usize, default: u64| -> u64 {
        match std::env::args().nth(i) {
            None => default,
            Some(text) => text.parse().unwrap_or_else(|_| {
                eprintln!("stress: argument {i} must be a whole number, got {text:?}");
                std::process::exit(2)
            }),
        }
    };
    let (tasks, seed) = (arg(1, 1_000_000).max(1), arg(2, 1));
    let (p, e) = (arg(3, 2) as usize, arg(4, 2) as usize);
    let soak = arg(5, 0);
    let rt = two_class_runtime(p, e);
    if soak > 0 {
        soak_for(&rt, tasks, seed, std::time::Duration::from_secs(soak));
        return;
    }
    let report = run(&rt, tasks, seed, 2);
    drop(rt);
    let c = &report.counters;
    println!(
        "tasks {} (leaves {}), returned {} / panicked {} / cancelled {}; foreign wakes {}, \
         foreign aborts {}, yields {}; futures dropped {}",
        c.spawned.load(SeqCst),
        c.leaves.load(SeqCst),
        c.leaves_ok.load(SeqCst),
        c.panics_seen.load(SeqCst),
        c.cancelled_seen.load(SeqCst),
        c.foreign_wakes.load(SeqCst),
        c.foreign_aborts.load(SeqCst),
        c.yields.load(SeqCst),
        c.futures_dropped.load(SeqCst),
    );
    let problems = report.problems();
    if problems.is_empty() {
        println!("stress: all checks held");
    } else {
        for p in &problems {
            eprintln!("stress: FAILED: {p}");
        }
        std::process::exit(1);
    }
}
