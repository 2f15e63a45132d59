//! Runtime metrics: per worker (class, polls, steals by victim class, parks, unparks, the
//! outcome of every placement / QoS hint), per lane (spawned, completed, queued now), and a
//! wake-to-poll latency histogram per lane.
//!
//! Counters are written by one thread each (a worker's own block, or the shared block for
//! threads that are not workers), so the hot path is a plain load and store, no locked
//! instruction; [`RuntimeMetrics`] is a snapshot summed when asked for.

use super::cpu_watch::Placed;
use super::policy::{Lane, WorkerRole, LANES};
use super::stuck::LaneLongPolls;
use crate::loom::sync::Mutex;
use crate::loom::untracked::AtomicU64;
use crate::sys::HintOutcome;
use crate::topology::CoreClass;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// Buckets of the latency histogram: bucket `i` counts latencies in `[2^i, 2^(i+1))` ns
/// (bucket 0 also takes 0 ns); the last bucket takes everything above.
pub const LATENCY_BUCKETS: usize = 40;

/// A counter with a single writer: increments are a load and a store.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub(crate) fn bump(&self) {
        self.add(1);
    }
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A counter written by many threads (the block for threads that are not workers).
#[derive(Default)]
pub(crate) struct SharedCounter(AtomicU64);

impl SharedCounter {
    #[inline]
    pub(crate) fn bump(&self) {
        self.add(1);
    }
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Log2 latency histogram with single-writer buckets.
pub(crate) struct Histogram {
    buckets: [Counter; LATENCY_BUCKETS],
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| Counter::default()),
        }
    }
}

pub(crate) fn bucket_of(nanos: u64) -> usize {
    let bits = (u64::BITS - nanos.leading_zeros()) as usize; // 0 for 0, 1 for 1, 2 for 2..3
    bits.saturating_sub(1).min(LATENCY_BUCKETS - 1)
}

impl Histogram {
    pub(crate) fn record(&self, nanos: u64) {
        self.buckets[bucket_of(nanos)].bump();
    }
    fn add_into(&self, into: &mut [u64; LATENCY_BUCKETS]) {
        for (sum, bucket) in into.iter_mut().zip(&self.buckets) {
            *sum += bucket.get();
        }
    }
}

/// What one worker thread counts.
#[derive(Default)]
pub(crate) struct WorkerCounters {
    pub(crate) polls: [Counter; LANES],
    pub(crate) steals_from: [Counter; 2],
    pub(crate) parks: Counter,
    pub(crate) unparks: Counter,
    pub(crate) cpu_loans: Counter,
    /// Tasks this worker's polls raised to a higher Qos by awaiting their JoinHandle.
    pub(crate) escalations: Counter,
    /// Of those, tasks it found queued in their old lane and moved to the new one.
    pub(crate) rescues: Counter,
    /// Tasks it took from a queue but could not run (their lane changed) and handed on.
    pub(crate) reroutes: Counter,
    /// Critical polls it ran longer than the bound, demoting their task.
    pub(crate) demotions: Counter,
    /// Tasks it put in a queue (spawned, woken, handed on), by the lane queued in.
    pub(crate) scheduled: [Counter; LANES],
    /// Tasks it took out of a queue (to poll or hand on), by the lane they were queued in
    /// (`TaskHeader::take_queued_lane`): with `scheduled`, a lane's queued count.
    pub(crate) taken: [Counter; LANES],
    /// Tasks spawned from this worker's polls, by their spawn lane.
    pub(crate) spawned: [Counter; LANES],
    /// Tasks whose future ended on this worker, by their spawn lane.
    pub(crate) completed: [Counter; LANES],
    pub(crate) latency: [Histogram; LANES],
    pub(crate) hints: Mutex<Option<Hints>>,
}

/// What threads that are not workers count (spawns and wakes from outside).
#[derive(Default)]
pub(crate) struct ExternalCounters {
    /// Schedulings from outside, less the spawns counted in `spawned` (each of which is
    /// also one scheduling: `snapshot` adds them).
    pub(crate) scheduled: [SharedCounter; LANES],
    /// Tasks taken out of a queue by no worker's poll: dropped unrun by shutdown's drain of
    /// the injectors (`Shared::drain_injectors`), by the lane they were queued in.
    pub(crate) taken: [SharedCounter; LANES],
    pub(crate) spawned: [SharedCounter; LANES],
    pub(crate) completed: [SharedCounter; LANES],
}

/// Outcome of the OS requests made when a worker thread started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hints {
    /// Pinning to the worker's CPU set (or core).
    pub pin: HintOutcome,
    /// The class QoS hint (uclamp on Linux, pthread QoS on macOS).
    pub qos: HintOutcome,
    /// The OS priority request: the lowest priority for E workers under
    /// [`Pin::Spill`](crate::Pin::Spill), a raised one for critical workers
    /// ([`Builder::critical_workers`](crate::Builder::critical_workers): a negative nice on
    /// Linux, which needs `CAP_SYS_NICE`; `QOS_CLASS_USER_INTERACTIVE` on macOS);
    /// `disabled` for every other worker.
    pub priority: HintOutcome,
}

/// A snapshot of one worker's counters.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WorkerMetrics {
    /// Thread name, e.g. `hetsched-p-0`.
    pub name: String,
    /// The class of core this worker serves (critical workers serve performance cores).
    pub class: CoreClass,
    /// What it runs: its class's lanes, or only the Critical lane for a critical worker.
    pub role: WorkerRole,
    /// CPUs it was asked to run on (empty when not pinned or ids are unknown).
    pub cpus: String,
    /// Tasks polled, per lane (indexed by [`Lane::index`]).
    pub polls_by_lane: [u64; LANES],
    /// Successful steals, by the class of the victim worker: `[performance, efficiency]`.
    pub steals_from: [u64; 2],
    /// Times it went to sleep.
    pub parks: u64,
    /// Times it was woken from sleep.
    pub unparks: u64,
    /// Times this idle performance worker lent its CPUs to an efficiency worker stuck in a
    /// long poll (moved that thread onto its CPUs; see [`Pin::Spill`](crate::Pin::Spill)).
    pub cpu_loans: u64,
    /// Tasks its polls raised to a higher Qos by awaiting their
    /// [`JoinHandle`](crate::JoinHandle) (see [`JoinHandle::qos`](crate::JoinHandle::qos)).
    pub escalations: u64,
    /// Of those, tasks found queued in their old lane and moved to the new lane at once.
    pub rescues: u64,
    /// Tasks it took from a queue but could not run (their lane had changed) and handed to
    /// their lane's queue.
    pub reroutes: u64,
    /// Critical-lane polls it ran for longer than
    /// [`CRITICAL_POLL_LIMIT`](crate::runtime::CRITICAL_POLL_LIMIT): each demoted its task to the
    /// Default lane for the rest of its life.
    pub demotions: u64,
    /// Outcome of pinning and QoS hints (None until the thread has started).
    pub hints: Option<Hints>,
    /// CPUs it runs on now: `cpus`, unless the CPUs the process may use changed since the
    /// start and it re-placed itself (see [`RuntimeMetrics::allowed_cpus`]).
    pub cpus_now: String,
    /// At its last re-placement none of its class's CPUs was allowed: it runs on the other
    /// class's CPUs (its lanes are unchanged).
    pub displaced: bool,
    /// Times it re-placed itself after a change of the allowed CPUs.
    pub repins: u64,
    /// Outcome of its last re-placement (`None`: never re-placed).
    pub repin: Option<HintOutcome>,
}

impl WorkerMetrics {
    /// Total tasks polled.
    pub fn polls(&self) -> u64 {
        self.polls_by_lane.iter().sum()
    }
}

/// Wake-to-poll latency of one lane: time from a task being queued (spawned or woken) to
/// a worker starting to poll it. Sampled: every latency-critical scheduling, one in
/// [`LATENCY_SAMPLE_EVERY`] of the others per thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatencyHistogram {
    buckets: [u64; LATENCY_BUCKETS],
}

/// One in this many non-critical schedulings per thread is timed. Each sample reads the
/// clock twice (when queued, when polled): at one in 16 those reads were 8% of a worker's
/// time in `yield_many` (perf, BENCHMARKS.md "Per-task cost"), at one in 64 about 2%.
pub const LATENCY_SAMPLE_EVERY: u32 = 64;

impl LatencyHistogram {
    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Raw bucket counts: bucket `i` holds latencies in `[2^i, 2^(i+1))` nanoseconds.
    pub fn buckets(&self) -> &[u64; LATENCY_BUCKETS] {
        &self.buckets
    }

    /// Upper bound of the bucket holding the `q`-quantile (`q` in `0.0..=1.0`), or `None`
    /// with no samples. Log2 buckets: the true value is at most this, and above half of it.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Duration::from_nanos(1u64 << (i + 1).min(63)));
            }
        }
        None
    }
}

/// A snapshot of one lane's counters.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LaneMetrics {
    /// The lane.
    pub lane: Lane,
    /// Tasks spawned in this lane.
    pub spawned: u64,
    /// Tasks whose future is gone: completed, panicked, aborted or dropped at shutdown.
    pub completed: u64,
    /// Tasks queued right now (scheduled and not yet taken out of a queue to be polled).
    pub queued: u64,
    /// Wake-to-poll latency.
    pub wake_to_poll: LatencyHistogram,
    /// Polls of this lane that ran longer than
    /// [`Builder::long_poll_threshold`](crate::Builder::long_poll_threshold) (stuck: a task
    /// blocking its worker), counted when the watchdog finds them.
    pub long_polls: u64,
    /// Their summed running time, once ended (lower bounds: short by at most a quarter of
    /// the threshold each).
    pub long_poll_time: Duration,
    /// The longest of them, including one still running (a lower bound, as above).
    pub longest_poll: Duration,
}

/// A snapshot of a runtime's metrics; see [`Runtime::metrics`](crate::Runtime::metrics).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// One entry per worker thread: performance workers, efficiency workers, then critical
    /// workers.
    pub workers: Vec<WorkerMetrics>,
    /// One entry per lane, in [`Lane::ALL`] order.
    pub lanes: Vec<LaneMetrics>,
    /// Tasks whose futures are alive (queued, running or waiting on a waker).
    pub live_tasks: usize,
    /// The blocking pool.
    pub blocking: BlockingMetrics,
    /// Speed of the efficiency cores as a share of the performance cores' (`0 < s <= 1`), as
    /// the runtime's topology says ([`Topology::efficiency_speed`](crate::Topology::efficiency_speed):
    /// detection evidence or `HETSCHED_E_SPEED`); `None` when unknown or with one core kind.
    pub efficiency_speed: Option<f64>,
    /// How long a worker that runs out of work keeps looking for more before it sleeps,
    /// now: [`Builder::idle_spin`](crate::Builder::idle_spin) if set, else its default,
    /// which is zero while the process may use only one CPU.
    pub idle_spin: Duration,
    /// The CPUs this process may use, as the runtime's CPU watch last saw them (cpulist
    /// syntax); `None` when the watch does not run
    /// ([`Builder::cpu_check_interval`](crate::Builder::cpu_check_interval) zero, or an
    /// OS that does not say) or has not looked yet.
    pub allowed_cpus: Option<String>,
    /// Times the allowed CPUs changed while the runtime ran (a cgroup cpuset shrank or grew,
    /// a CPU went offline); the workers re-place themselves after each.
    pub cpu_set_changes: u64,
}

/// A snapshot of the blocking pool ([`spawn_blocking`](crate::spawn_blocking)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlockingMetrics {
    /// Threads alive (running a job or idle).
    pub threads: usize,
    /// Threads idle, waiting for a job.
    pub idle_threads: usize,
    /// Jobs waiting for a thread (the pool is at its cap).
    pub queued: usize,
}

impl RuntimeMetrics {
    /// Polls done by workers of `class`.
    pub fn polls_by_class(&self, class: CoreClass) -> u64 {
        self.workers
            .iter()
            .filter(|w| w.class == class)
            .map(WorkerMetrics::polls)
            .sum()
    }

    /// Qos escalations across all workers ([`WorkerMetrics::escalations`]).
    pub fn escalations(&self) -> u64 {
        self.workers.iter().map(|w| w.escalations).sum()
    }

    /// Demotions of hogging critical tasks across all workers ([`WorkerMetrics::demotions`]).
    pub fn demotions(&self) -> u64 {
        self.workers.iter().map(|w| w.demotions).sum()
    }

    /// The workers with `role`.
    pub fn workers_with_role(&self, role: WorkerRole) -> impl Iterator<Item = &WorkerMetrics> {
        self.workers.iter().filter(move |w| w.role == role)
    }

    /// The metrics of one lane.
    pub fn lane(&self, lane: Lane) -> &LaneMetrics {
        &self.lanes[lane.index()]
    }
}

pub(crate) struct WorkerInfo<'a> {
    pub(crate) name: &'a str,
    pub(crate) class: CoreClass,
    pub(crate) role: WorkerRole,
    pub(crate) cpus: &'a [usize],
    pub(crate) placed: Placed,
    pub(crate) counters: &'a WorkerCounters,
}

/// Runtime-wide values that are read, not summed, for a snapshot.
pub(crate) struct RuntimeInfo {
    pub(crate) blocking: BlockingMetrics,
    pub(crate) efficiency_speed: Option<f64>,
    pub(crate) idle_spin: Duration,
    /// The CPU watch's allowed set (`None`: it does not run, or has not looked yet).
    pub(crate) allowed_cpus: Option<Vec<usize>>,
    pub(crate) cpu_set_changes: u64,
}

/// `cpus` in cpulist syntax ("" for none).
fn cpulist(cpus: &[usize]) -> String {
    crate::topology::CpuSet::from_cpus(cpus.iter().copied())
        .map(|s| s.to_string())
        .unwrap_or_default()
}

pub(crate) fn snapshot<'a>(
    workers: impl Iterator<Item = WorkerInfo<'a>>,
    external: &ExternalCounters,
    long_polls: &[LaneLongPolls; LANES],
    info: RuntimeInfo,
) -> RuntimeMetrics {
    let mut scheduled = [0u64; LANES];
    let mut taken = [0u64; LANES];
    // Read completions before spawns (a task is counted as spawned before it can end), so
    // that a snapshot taken while tasks run never shows more tasks ended than spawned.
    let workers: Vec<WorkerInfo<'a>> = workers.collect();
    let mut completed: [u64; LANES] = std::array::from_fn(|l| external.completed[l].get());
    for worker in &workers {
        for (lane, sum) in completed.iter_mut().enumerate() {
            *sum += worker.counters.completed[lane].get();
        }
    }
    let mut spawned: [u64; LANES] = std::array::from_fn(|l| external.spawned[l].get());
    let mut latency = [[0u64; LATENCY_BUCKETS]; LANES];
    let mut out = Vec::new();
    for worker in workers {
        let c = worker.counters;
        for lane in 0..LANES {
            spawned[lane] += c.spawned[lane].get();
            scheduled[lane] += c.scheduled[lane].get();
            taken[lane] += c.taken[lane].get();
            c.latency[lane].add_into(&mut latency[lane]);
        }
        let placed = worker.placed;
        out.push(WorkerMetrics {
            name: worker.name.to_string(),
            class: worker.class,
            role: worker.role,
            cpus: cpulist(worker.cpus),
            cpus_now: cpulist(placed.cpus.as_deref().unwrap_or(worker.cpus)),
            displaced: placed.displaced,
            repins: placed.repins,
            repin: placed.outcome,
            polls_by_lane: std::array::from_fn(|l| c.polls[l].get()),
            steals_from: [c.steals_from[0].get(), c.steals_from[1].get()],
            parks: c.parks.get(),
            unparks: c.unparks.get(),
            cpu_loans: c.cpu_loans.get(),
            escalations: c.escalations.get(),
            rescues: c.rescues.get(),
            reroutes: c.reroutes.get(),
            demotions: c.demotions.get(),
            hints: c.hints.lock().clone(),
        });
    }
    for (lane, sum) in scheduled.iter_mut().enumerate() {
        // A counted spawn from outside a worker is scheduled once, in its lane, as it is
        // spawned, and counted only as spawned (`Shared::place`).
        *sum += external.scheduled[lane].get() + external.spawned[lane].get();
        taken[lane] += external.taken[lane].get();
    }
    let lanes = Lane::ALL
        .iter()
        .map(|&lane| {
            let l = lane.index();
            LaneMetrics {
                lane,
                spawned: spawned[l],
                completed: completed[l],
                queued: scheduled[l].saturating_sub(taken[l]),
                wake_to_poll: LatencyHistogram {
                    buckets: latency[l],
                },
                long_polls: long_polls[l].count.load(Relaxed),
                long_poll_time: Duration::from_nanos(long_polls[l].total_ns.load(Relaxed)),
                longest_poll: Duration::from_nanos(long_polls[l].max_ns.load(Relaxed)),
            }
        })
        .collect();
    RuntimeMetrics {
        workers: out,
        lanes,
        live_tasks: usize::try_from(
            spawned
                .iter()
                .zip(&completed)
                .map(|(s, c)| s.saturating_sub(*c))
                .sum::<u64>(),
        )
        .unwrap_or(usize::MAX),
        blocking: info.blocking,
        efficiency_speed: info.efficiency_speed,
        idle_spin: info.idle_spin,
        allowed_cpus: info.allowed_cpus.map(|cpus| cpulist(&cpus)),
        cpu_set_changes: info.cpu_set_changes,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_log2_of_nanoseconds() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(2), 1);
        assert_eq!(bucket_of(3), 1);
        assert_eq!(bucket_of(1024), 10);
        assert_eq!(bucket_of(u64::MAX), LATENCY_BUCKETS - 1);
    }

    #[test]
    fn quantiles_come_from_bucket_bounds() {
        let h = Histogram::default();
        for _ in 0..99 {
            h.record(1_000); // bucket 9: [512, 1024)
        }
        h.record(1_000_000); // bucket 19
        let mut buckets = [0; LATENCY_BUCKETS];
        h.add_into(&mut buckets);
        let hist = LatencyHistogram { buckets };
        assert_eq!(hist.count(), 100);
        assert_eq!(hist.quantile(0.5), Some(Duration::from_nanos(1024)));
        assert_eq!(hist.quantile(0.99), Some(Duration::from_nanos(1024)));
        assert_eq!(hist.quantile(1.0), Some(Duration::from_nanos(1 << 20)));
        let empty = LatencyHistogram {
            buckets: [0; LATENCY_BUCKETS],
        };
        assert_eq!(empty.quantile(0.5), None);
    }
}
