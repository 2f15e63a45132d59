//! Priority latency under load: a probe task woken about 1,000 times per second from a
//! timer thread does about 20 µs of work; we record wake → first poll and wake → done
//! (HdrHistogram) while batch tasks (CPU chunks of about 1 ms with a yield between) keep
//! the workers busy, and the batch throughput with and without the probe.
//!
//! Scenario A: declared classes (P = first allowed CPU, E = the rest), batch at
//! `Background` (so it may run only on efficiency workers). Scenario B: the machine's
//! defaults (here: two performance workers), batch at `Default`; a cooperative runtime
//! cannot preempt a running chunk, so the chunk bounds the wait.
//! Scenario `B_critical`: B's load on B's runtime plus one critical worker
//! (`Builder::critical_workers`), which takes only the Critical lane at a raised OS priority,
//! so the kernel preempts a batch chunk for the probe. Scenario `inversion`: A's classes and
//! batch; the Interactive probe does its work in a Background task it spawns and awaits (a
//! request path waiting on a lower-Qos computation), with Qos escalation on (`hetsched`)
//! and off (`hetsched_no_escalation`).
//! tokio runs the same load on one runtime with the same number of workers (`tokio`). In
//! scenario A it also runs it the way a tokio user would isolate the probe (`tokio_isolated`):
//! the batch load on a multi-thread runtime with one worker fewer (as many as hetsched has
//! efficiency workers), the probe alone on a separate one-thread runtime — the same number of
//! threads as hetsched's scenario-A runtime, unpinned.

use futures::task::AtomicWaker;
use hdrhistogram::Histogram;
use hetsched::{Builder, CoreClass, CpuSet, Qos, Topology};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::exec::Latch;
use super::spin_for;

/// The latency scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Declared P/E classes, batch at Background.
    A,
    /// Defaults (every worker a P worker here), batch at Default.
    B,
    /// B plus one critical worker (hetsched); tokio runs B's load again.
    BCritical,
    /// A's classes and batch; the probe awaits a Background task that does its work.
    Inversion,
}

impl Scenario {
    /// "A", "B", "B_critical" or "inversion" (the JSON contract).
    pub fn name(self) -> &'static str {
        match self {
            Scenario::A => "A",
            Scenario::B => "B",
            Scenario::BCritical => "B_critical",
            Scenario::Inversion => "inversion",
        }
    }

    /// The Qos hetsched's batch tasks get.
    pub fn batch_qos(self) -> Qos {
        match self {
            Scenario::A | Scenario::Inversion => Qos::Background,
            Scenario::B | Scenario::BCritical => Qos::Default,
        }
    }
}

/// Where the probe does its work on each wake.
#[derive(Clone, Copy)]
pub enum ProbeWork {
    /// In its own poll.
    Inline,
    /// In a task it spawns (at Background, on hetsched) and awaits: given the work, the
    /// function spawns it and returns the wait for its end.
    Awaited(fn(BoxFuture) -> BoxFuture),
}

/// Knobs of one latency run.
#[derive(Clone, Debug)]
pub struct LatencyConfig {
    /// How long the probe is measured (and the batch throughput).
    pub duration: Duration,
    /// Settling time before measuring.
    pub warm_up: Duration,
    /// Timer period (1 ms: about 1,000 wakes per second).
    pub probe_period: Duration,
    /// CPU work per probe wake.
    pub probe_work: Duration,
    /// CPU chunk of a batch task between yields.
    pub chunk: Duration,
    /// Batch tasks per worker (more than one, so queues are never empty).
    pub batch_tasks_per_worker: usize,
}

impl LatencyConfig {
    /// The parameters, measured for `duration`.
    pub fn new(duration: Duration) -> LatencyConfig {
        LatencyConfig {
            duration,
            warm_up: Duration::from_millis(100),
            probe_period: Duration::from_millis(1),
            probe_work: Duration::from_micros(20),
            chunk: Duration::from_millis(1),
            batch_tasks_per_worker: 4,
        }
    }
}

/// What one run measured.
pub struct LatencyRun {
    /// Runtime name (`hetsched`, `tokio` or `tokio_isolated`).
    pub runtime: &'static str,
    /// Scenario.
    pub scenario: Scenario,
    /// Probe Qos (`interactive`, `default`; tokio has none: `none`).
    pub probe_qos: &'static str,
    /// Wake → first poll, nanoseconds.
    pub first_poll: Histogram<u64>,
    /// Wake → done (after the probe's work), nanoseconds.
    pub done: Histogram<u64>,
    /// Timer ticks skipped because the probe had not finished the previous wake.
    pub skipped: u64,
    /// Batch chunks per second while the probe ran.
    pub background_ops_per_sec: f64,
    /// Share of hetsched polls on efficiency workers during the run (None for tokio).
    pub efficiency_poll_share: Option<f64>,
    /// CPU time the critical workers used during the measured window (None without them).
    pub critical_cpu: Option<Duration>,
}

impl LatencyRun {
    /// A quantile of wake → first poll, in µs.
    pub fn first_poll_us(&self, q: f64) -> f64 {
        self.first_poll.value_at_quantile(q) as f64 / 1_000.0
    }
    /// A quantile of wake → done, in µs.
    pub fn done_us(&self, q: f64) -> f64 {
        self.done.value_at_quantile(q) as f64 / 1_000.0
    }
}

/// A spawned future, boxed so every runtime takes the same type.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// How to put the probe and batch tasks on a runtime.
pub struct Target<'a> {
    /// Name for the result.
    pub runtime: &'static str,
    /// Probe Qos label for the result.
    pub probe_qos: &'static str,
    /// Number of workers (for the batch task count).
    pub workers: usize,
    /// Spawn a batch task (from this, a foreign, thread).
    pub spawn_batch: &'a dyn Fn(BoxFuture),
    /// Spawn the probe (from this thread).
    pub spawn_probe: &'a dyn Fn(BoxFuture),
    /// Polls per class so far (hetsched only), as (performance, efficiency).
    pub polls: Option<&'a dyn Fn() -> (u64, u64)>,
    /// Where the probe's work runs.
    pub probe_work: ProbeWork,
    /// CPU time used so far by the runtime's critical workers (hetsched with critical
    /// workers only).
    pub critical_cpu: Option<&'a dyn Fn() -> Duration>,
}

/// The timer → probe signal: a sequence number, the wake time, and the probe's waker
/// (shared with the unequal-cores probe in `hetero.rs`).
pub struct Signal {
    /// Origin of `wake_ns` and `now_ns`.
    pub epoch: Instant,
    /// Bumped by the timer on every wake.
    pub seq: AtomicU64,
    /// When the timer last woke the probe, ns since `epoch`.
    pub wake_ns: AtomicU64,
    /// The probe's waker.
    pub waker: AtomicWaker,
    /// The probe has not finished the previous wake (the timer skips a tick).
    pub busy: AtomicBool,
    /// The probe should exit at its next wake.
    pub stop: AtomicBool,
}

impl Signal {
    /// A fresh signal; its epoch is now.
    pub fn new() -> Signal {
        Signal {
            epoch: Instant::now(),
            seq: AtomicU64::new(0),
            wake_ns: AtomicU64::new(0),
            waker: AtomicWaker::new(),
            busy: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        }
    }

    /// Nanoseconds since the epoch.
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// Resolves once the signal's sequence number passes `seen`.
pub struct NextWake<'a> {
    /// The signal waited on.
    pub signal: &'a Signal,
    /// The last sequence number the probe saw.
    pub seen: u64,
}

impl Future for NextWake<'_> {
    type Output = u64;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let seq = self.signal.seq.load(Ordering::Acquire);
        if seq > self.seen {
            return Poll::Ready(seq);
        }
        self.signal.waker.register(cx.waker());
        // Check again: a wake between the load and the registration would be lost.
        let seq = self.signal.seq.load(Ordering::Acquire);
        if seq > self.seen {
            Poll::Ready(seq)
        } else {
            Poll::Pending
        }
    }
}

fn histogram() -> Histogram<u64> {
    // 1 ns .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Run the load (and the probe, if `probe`) on `target`. Returns the run, or only the
/// batch throughput when `probe` is false (the histograms are then empty).
pub fn run(
    target: &Target<'_>,
    scenario: Scenario,
    probe: bool,
    cfg: &LatencyConfig,
) -> LatencyRun {
    let stop_batch = Arc::new(AtomicBool::new(false));
    let chunks = Arc::new(AtomicU64::new(0));
    let batch_tasks = target.workers * cfg.batch_tasks_per_worker;
    let batch_done = Latch::new(batch_tasks);
    for _ in 0..batch_tasks {
        let (stop, chunks, done, chunk) = (
            stop_batch.clone(),
            chunks.clone(),
            batch_done.clone(),
            cfg.chunk,
        );
        (target.spawn_batch)(Box::pin(async move {
            while !stop.load(Ordering::Relaxed) {
                spin_for(chunk);
                chunks.fetch_add(1, Ordering::Relaxed);
                YieldOnce(false).await;
            }
            done.count_down();
        }));
    }
    std::thread::sleep(cfg.warm_up);

    let signal = Arc::new(Signal::new());
    let samples = Arc::new(Mutex::new(Vec::<(u64, u64)>::with_capacity(
        (cfg.duration.as_millis() as usize + 16) * 2,
    )));
    let probe_done = Latch::new(usize::from(probe));
    if probe {
        let (sig, samples, done, work, where_) = (
            signal.clone(),
            samples.clone(),
            probe_done.clone(),
            cfg.probe_work,
            target.probe_work,
        );
        (target.spawn_probe)(Box::pin(async move {
            let mut seen = 0;
            loop {
                seen = NextWake { signal: &sig, seen }.await;
                let first = sig.now_ns();
                if sig.stop.load(Ordering::Acquire) {
                    break;
                }
                let woke = sig.wake_ns.load(Ordering::Acquire);
                match where_ {
                    ProbeWork::Inline => spin_for(work),
                    ProbeWork::Awaited(spawn) => {
                        spawn(Box::pin(async move { spin_for(work) })).await
                    }
                }
                let finished = sig.now_ns();
                if let Ok(mut s) = samples.lock() {
                    s.push((first.saturating_sub(woke), finished.saturating_sub(woke)));
                }
                sig.busy.store(false, Ordering::Release);
            }
            done.count_down();
        }));
    }

    let polls_before = target.polls.map(|f| f());
    let critical_before = target.critical_cpu.map(|f| f());
    let chunks_before = chunks.load(Ordering::Relaxed);
    let started = Instant::now();
    let mut skipped = 0;
    if probe {
        let mut next = Instant::now();
        let end = next + cfg.duration;
        while next < end {
            next += cfg.probe_period;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now; // overslept: do not burst to catch up
            }
            if signal.busy.load(Ordering::Acquire) {
                skipped += 1;
                continue;
            }
            signal.busy.store(true, Ordering::Relaxed);
            signal.wake_ns.store(signal.now_ns(), Ordering::Release);
            signal.seq.fetch_add(1, Ordering::AcqRel);
            signal.waker.wake();
        }
    } else {
        std::thread::sleep(cfg.duration);
    }
    let elapsed = started.elapsed();
    let chunks_done = chunks.load(Ordering::Relaxed) - chunks_before;
    let polls_after = target.polls.map(|f| f());
    let critical_cpu = target
        .critical_cpu
        .zip(critical_before)
        .map(|(f, before)| f().saturating_sub(before));

    signal.stop.store(true, Ordering::Release);
    signal.seq.fetch_add(1, Ordering::AcqRel);
    signal.waker.wake();
    probe_done.wait();
    stop_batch.store(true, Ordering::Relaxed);
    batch_done.wait();

    let mut first_poll = histogram();
    let mut done = histogram();
    for &(f, d) in samples.lock().map(|s| s.clone()).unwrap_or_default().iter() {
        first_poll.saturating_record(f.max(1));
        done.saturating_record(d.max(1));
    }
    let efficiency_poll_share = match (polls_before, polls_after) {
        (Some((p0, e0)), Some((p1, e1))) => {
            let (p, e) = (p1 - p0, e1 - e0);
            Some(if p + e == 0 {
                0.0
            } else {
                e as f64 / (p + e) as f64
            })
        }
        _ => None,
    };
    LatencyRun {
        runtime: target.runtime,
        scenario,
        probe_qos: target.probe_qos,
        first_poll,
        done,
        skipped,
        background_ops_per_sec: chunks_done as f64 / elapsed.as_secs_f64(),
        efficiency_poll_share,
        critical_cpu,
    }
}

/// A runtime-neutral yield: wake self, return Pending once. (Each runtime queues a
/// self-woken task behind the others of its lane; the batch tasks use the same yield on
/// both runtimes.)
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The scenario-A hetsched runtime: P = the first allowed CPU, E = the others, whatever
/// the environment says. Errors when fewer than two CPUs are allowed.
pub fn scenario_a_hetsched() -> io::Result<hetsched::Runtime> {
    scenario_a_builder()?.build()
}

/// Scenario A's runtime with its performance worker at nice -10 (experiment `A*`: what
/// an OS-priority fallback for the unavailable uclamp hint would buy).
pub fn scenario_a_niced_hetsched() -> io::Result<hetsched::Runtime> {
    scenario_a_builder()?
        .thread_name("prio")
        .on_thread_start(nice_critical_workers)
        .build()
}

/// `on_thread_start` hook of the experiments: the performance workers of a runtime named
/// `prio` ask for nice -10 (best effort: without CAP_SYS_NICE it fails, nothing else).
fn nice_critical_workers() {
    let critical = std::thread::current()
        .name()
        .is_some_and(|n| n.starts_with("prio-p-"));
    if critical {
        let _ = hetsched::sys::set_current_thread_nice(-10);
    }
}

fn scenario_a_builder() -> io::Result<Builder> {
    let allowed: Vec<usize> = Topology::detect().allowed().iter().collect();
    if allowed.len() < 2 {
        return Err(io::Error::other(format!(
            "scenario A needs at least 2 allowed CPUs to declare one P and one E class, found {}",
            allowed.len()
        )));
    }
    let p = CpuSet::from_cpus([allowed[0]]).map_err(io::Error::other)?;
    let e = CpuSet::from_cpus(allowed[1..].iter().copied()).map_err(io::Error::other)?;
    let topology = Topology::with_classes(p, e).map_err(io::Error::other)?;
    Ok(Builder::new().topology(topology))
}

/// The scenario-B hetsched runtime: the machine's defaults (detected, environment ignored).
pub fn scenario_b_hetsched() -> io::Result<hetsched::Runtime> {
    Builder::new().build()
}

/// Thread-name prefix of the `B_critical` runtime (its critical workers are `crit-c-N`).
const CRITICAL_PREFIX: &str = "crit";

/// The `B_critical` hetsched runtime: scenario B's (the machine's defaults) plus one
/// critical worker. One is enough for one probe task; more would sleep.
pub fn scenario_b_critical_hetsched() -> io::Result<hetsched::Runtime> {
    Builder::new()
        .critical_workers(1)
        .thread_name(CRITICAL_PREFIX)
        .build()
}

/// The `inversion` hetsched runtime: scenario A's classes, escalation on or off.
pub fn inversion_hetsched(escalation: bool) -> io::Result<hetsched::Runtime> {
    scenario_a_builder()?.qos_escalation(escalation).build()
}

/// A tokio multi-thread runtime with `workers` workers.
pub fn tokio_runtime(workers: usize) -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
}

/// The inversion probe's computation on hetsched: a Background task the probe awaits.
fn hetsched_background_computation(work: BoxFuture) -> BoxFuture {
    let handle = hetsched::spawn_with(Qos::Background, work);
    Box::pin(async move {
        let _ = handle.await;
    })
}

/// The inversion probe's computation on tokio: a spawned task the probe awaits.
fn tokio_computation(work: BoxFuture) -> BoxFuture {
    let handle = tokio::spawn(work);
    Box::pin(async move {
        let _ = handle.await;
    })
}

/// Where the probe's work runs in `scenario`: inline, or in an awaited task spawned by
/// `spawn`.
fn probe_work(scenario: Scenario, spawn: fn(BoxFuture) -> BoxFuture) -> ProbeWork {
    match scenario {
        Scenario::Inversion => ProbeWork::Awaited(spawn),
        _ => ProbeWork::Inline,
    }
}

/// Run `target` without the probe (the baseline throughput), then with it.
fn measure_row(target: &Target<'_>, scenario: Scenario, cfg: &LatencyConfig) -> LatencyRow {
    let baseline = run(target, scenario, false, cfg);
    LatencyRow {
        run: run(target, scenario, true, cfg),
        baseline_ops_per_sec: baseline.background_ops_per_sec,
        baseline_critical_cpu: baseline.critical_cpu,
        critical_priority: None,
        experiment: false,
    }
}

/// Run `scenario` on hetsched with the probe at `probe_qos` (and once without the probe
/// for the baseline throughput), reported as `runtime`.
pub fn run_hetsched(
    rt: &hetsched::Runtime,
    runtime: &'static str,
    scenario: Scenario,
    probe_qos: Qos,
    cfg: &LatencyConfig,
) -> LatencyRow {
    let batch_qos = scenario.batch_qos();
    let spawn_batch = |f: BoxFuture| drop(rt.spawn_with(batch_qos, f));
    let spawn_probe = |f: BoxFuture| drop(rt.spawn_with(probe_qos, f));
    let polls = || {
        let m = rt.metrics();
        (
            m.polls_by_class(CoreClass::Performance),
            m.polls_by_class(CoreClass::Efficiency),
        )
    };
    let workers = row_workers(rt);
    let has_critical = workers < rt.metrics().workers.len();
    let critical_cpu = || thread_cpu_time(&format!("{CRITICAL_PREFIX}-c-"));
    let target = Target {
        runtime,
        probe_qos: probe_qos.as_str(),
        workers,
        spawn_batch: &spawn_batch,
        spawn_probe: &spawn_probe,
        polls: Some(&polls),
        probe_work: probe_work(scenario, hetsched_background_computation),
        critical_cpu: has_critical.then_some(&critical_cpu as &dyn Fn() -> Duration),
    };
    let mut row = measure_row(&target, scenario, cfg);
    row.critical_priority = rt
        .metrics()
        .workers_with_role(hetsched::WorkerRole::Critical)
        .find_map(|w| w.hints.as_ref().map(|h| h.priority.clone()));
    row
}

/// Run `scenario`'s load on tokio (no lanes: one priority).
pub fn run_tokio(
    rt: &tokio::runtime::Runtime,
    workers: usize,
    scenario: Scenario,
    cfg: &LatencyConfig,
) -> LatencyRow {
    let spawn = |f: BoxFuture| drop(rt.spawn(f));
    let target = Target {
        runtime: "tokio",
        probe_qos: "none",
        workers,
        spawn_batch: &spawn,
        spawn_probe: &spawn,
        polls: None,
        probe_work: probe_work(scenario, tokio_computation),
        critical_cpu: None,
    };
    measure_row(&target, scenario, cfg)
}

/// The runtimes of the `tokio_isolated` row for a hetsched runtime of `workers` workers:
/// (batch: multi-thread, `workers - 1` workers (at least 1); probe: multi-thread with a
/// single worker — a one-thread runtime that the harness thread can spawn onto).
pub fn tokio_isolated_runtimes(
    workers: usize,
) -> io::Result<(tokio::runtime::Runtime, tokio::runtime::Runtime)> {
    let batch = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.saturating_sub(1).max(1))
        .thread_name("tokio-batch")
        .enable_time()
        .build()?;
    let probe = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("tokio-probe")
        .enable_time()
        .build()?;
    Ok((batch, probe))
}

/// Run `scenario`'s load on tokio with the probe isolated on its own runtime (see
/// [`tokio_isolated_runtimes`]); `workers` sets the batch task count, as for the other rows.
pub fn run_tokio_isolated(
    batch: &tokio::runtime::Runtime,
    probe: &tokio::runtime::Runtime,
    workers: usize,
    scenario: Scenario,
    cfg: &LatencyConfig,
) -> LatencyRow {
    let spawn_batch = |f: BoxFuture| drop(batch.spawn(f));
    let spawn_probe = |f: BoxFuture| drop(probe.spawn(f));
    let target = Target {
        runtime: "tokio_isolated",
        probe_qos: "none",
        workers,
        spawn_batch: &spawn_batch,
        spawn_probe: &spawn_probe,
        polls: None,
        probe_work: probe_work(scenario, tokio_computation),
        critical_cpu: None,
    };
    measure_row(&target, scenario, cfg)
}

/// One row of the latency table: a run with the probe and the batch throughput without it.
pub struct LatencyRow {
    /// The run with the probe.
    pub run: LatencyRun,
    /// Batch chunks/s on the same runtime and load without the probe.
    pub baseline_ops_per_sec: f64,
    /// CPU time of the critical workers during the run without the probe (they had
    /// nothing to do: it should be about zero). None without critical workers.
    pub baseline_critical_cpu: Option<Duration>,
    /// The outcome of the critical workers' OS priority request (None without them).
    pub critical_priority: Option<hetsched::sys::HintOutcome>,
    /// An experiment beyond the scenarios (printed as `A*`, not in the JSON).
    pub experiment: bool,
}

/// CPU time of this process's threads whose name starts with `prefix`, summed (see
/// [`thread_cpu_times`]).
pub fn thread_cpu_time(prefix: &str) -> Duration {
    thread_cpu_times(prefix).iter().map(|(_, t)| *t).sum()
}

/// CPU time of each of this process's threads whose name starts with `prefix`, from
/// /proc/self/task/*/schedstat (nanoseconds on CPU) or, where the kernel has no schedstat,
/// from the utime + stime clock ticks of /proc/self/task/*/stat (assumed 100 per second).
/// Empty where there is no /proc (not Linux).
pub fn thread_cpu_times(prefix: &str) -> Vec<(String, Duration)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        let dir = task.path();
        let Ok(name) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        let name = name.trim_end().to_owned();
        if !name.starts_with(prefix) {
            continue;
        }
        let from_schedstat = std::fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .map(Duration::from_nanos);
        let time = from_schedstat.unwrap_or_else(|| {
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
            // After the parenthesised name: state is field 3, utime 14, stime 15.
            let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let ticks: u64 = rest
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|field| field.parse::<u64>().ok())
                .sum();
            Duration::from_millis(ticks * 10)
        });
        out.push((name, time));
    }
    out
}

/// Every scenario, one runtime at a time: A (hetsched with the probe Interactive, tokio,
/// `tokio_isolated`), B (hetsched with the probe Interactive and Default, tokio),
/// `B_critical` (hetsched with a critical worker, tokio), `inversion` (hetsched with and
/// without escalation, tokio), and the experiment `A*`. A scenario whose runtime cannot be
/// built is reported on stderr and skipped.
pub fn run_all(cfg: &LatencyConfig) -> Vec<LatencyRow> {
    let mut rows = Vec::new();
    let scenarios = [
        Scenario::A,
        Scenario::B,
        Scenario::BCritical,
        Scenario::Inversion,
    ];
    for scenario in scenarios {
        let built: Vec<(&'static str, io::Result<hetsched::Runtime>)> = match scenario {
            Scenario::A => vec![("hetsched", scenario_a_hetsched())],
            Scenario::B => vec![("hetsched", scenario_b_hetsched())],
            Scenario::BCritical => vec![("hetsched", scenario_b_critical_hetsched())],
            Scenario::Inversion => vec![
                ("hetsched", inversion_hetsched(true)),
                ("hetsched_no_escalation", inversion_hetsched(false)),
            ],
        };
        let mut workers = None;
        for (name, rt) in built {
            let rt = match rt {
                Ok(rt) => rt,
                Err(err) => {
                    eprintln!(
                        "latency scenario {}: {name} skipped: {err}",
                        scenario.name()
                    );
                    continue;
                }
            };
            let probes: &[Qos] = match scenario {
                Scenario::B => &[Qos::Interactive, Qos::Default],
                _ => &[Qos::Interactive],
            };
            for &qos in probes {
                let row = run_hetsched(&rt, name, scenario, qos, cfg);
                workers = Some(row_workers(&rt));
                rows.push(row);
            }
        }
        // tokio gets as many workers as hetsched has ordinary workers.
        let Some(workers) = workers else { continue };
        match tokio_runtime(workers) {
            Ok(tokio) => rows.push(run_tokio(&tokio, workers, scenario, cfg)),
            Err(err) => eprintln!("latency scenario {}: tokio skipped: {err}", scenario.name()),
        }
        if scenario == Scenario::A {
            match tokio_isolated_runtimes(workers) {
                Ok((batch, probe)) => {
                    rows.push(run_tokio_isolated(&batch, &probe, workers, scenario, cfg))
                }
                Err(err) => eprintln!("latency scenario A: tokio_isolated skipped: {err}"),
            }
        }
    }
    match scenario_a_niced_hetsched() {
        Ok(rt) => {
            let mut row = run_hetsched(&rt, "hetsched", Scenario::A, Qos::Interactive, cfg);
            row.experiment = true;
            rows.push(row);
        }
        Err(err) => eprintln!("latency priority experiment skipped: {err}"),
    }
    rows
}

/// The ordinary (non-critical) workers of `rt`: the batch's workers, and tokio's count.
fn row_workers(rt: &hetsched::Runtime) -> usize {
    let m = rt.metrics();
    m.workers.len() - m.workers_with_role(hetsched::WorkerRole::Critical).count()
}

/// A row of the `latency` array of the harness's JSON (experiments are not written).
pub fn json_row(row: &LatencyRow) -> serde_json::Value {
    let r = &row.run;
    let mut json = serde_json::json!({
        "runtime": r.runtime,
        "scenario": r.scenario.name(),
        "probe_qos": r.probe_qos,
        // wake → first poll (the scheduler's part) ...
        "p50_us": r.first_poll_us(0.5),
        "p99_us": r.first_poll_us(0.99),
        "p999_us": r.first_poll_us(0.999),
        // ... and wake → done (the request's latency; in `inversion`, with the awaited task).
        "done_p50_us": r.done_us(0.5),
        "done_p99_us": r.done_us(0.99),
        "done_p999_us": r.done_us(0.999),
        "background_ops_per_sec": r.background_ops_per_sec,
        "baseline_ops_per_sec": row.baseline_ops_per_sec,
    });
    if let Some(cpu) = row.baseline_critical_cpu {
        json["idle_critical_cpu_ms"] = serde_json::json!(cpu.as_secs_f64() * 1e3);
    }
    json
}

/// The latency table as text.
pub fn format_table(rows: &[LatencyRow], cfg: &LatencyConfig) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "probe: {} µs of work every {} µs; batch chunk {} µs; latencies in µs",
        cfg.probe_work.as_micros(),
        cfg.probe_period.as_micros(),
        cfg.chunk.as_micros()
    );
    let _ = writeln!(
        out,
        "{:<10} {:<22} {:<11} | {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} | {:>6} {:>7} | {:>10} {:>10} {:>7} {:>6}",
        "scenario", "runtime", "probe_qos", "poll p50", "p99", "p99.9", "done p50", "p99", "p99.9",
        "wakes", "skipped", "batch/s", "no probe", "ratio", "E poll"
    );
    for row in rows {
        let r = &row.run;
        let share = r
            .efficiency_poll_share
            .map(|s| format!("{:.0}%", s * 100.0))
            .unwrap_or_else(|| "-".into());
        let scenario = if row.experiment {
            format!("{}*", r.scenario.name())
        } else {
            r.scenario.name().to_string()
        };
        let _ = writeln!(
            out,
            "{:<10} {:<22} {:<11} | {:>8.1} {:>8.1} {:>8.1} | {:>8.1} {:>8.1} {:>8.1} | {:>6} {:>7} | {:>10.0} {:>10.0} {:>7.3} {:>6}",
            scenario,
            r.runtime,
            r.probe_qos,
            r.first_poll_us(0.5),
            r.first_poll_us(0.99),
            r.first_poll_us(0.999),
            r.done_us(0.5),
            r.done_us(0.99),
            r.done_us(0.999),
            r.first_poll.len(),
            r.skipped,
            r.background_ops_per_sec,
            row.baseline_ops_per_sec,
            r.background_ops_per_sec / row.baseline_ops_per_sec.max(f64::MIN_POSITIVE),
            share,
        );
    }
    for line in comparisons(rows) {
        let _ = writeln!(out, "{line}");
    }
    if rows.iter().any(|r| r.experiment) {
        let _ = writeln!(
            out,
            "experiment, not in the JSON: A*: scenario A's runtime with its P worker at nice -10"
        );
    }
    out
}

fn ms(cpu: Option<Duration>) -> String {
    cpu.map_or("-".to_string(), |cpu| {
        format!("{:.2} ms", cpu.as_secs_f64() * 1e3)
    })
}

/// The ratios the critical-worker and inversion scenarios are judged by, as text lines.
fn comparisons(rows: &[LatencyRow]) -> Vec<String> {
    let find = |scenario: Scenario, runtime: &str| {
        rows.iter()
            .find(|r| !r.experiment && r.run.scenario == scenario && r.run.runtime == runtime)
    };
    let mut lines = Vec::new();
    if let (Some(h), Some(t)) = (
        find(Scenario::BCritical, "hetsched"),
        find(Scenario::BCritical, "tokio"),
    ) {
        let (hp, tp) = (h.run.first_poll_us(0.99), t.run.first_poll_us(0.99));
        lines.push(format!(
            "B_critical: wake → poll p99 {hp:.1} µs vs tokio {tp:.1} µs ({:.1}x better); batch with probe {:.3} of without; critical worker CPU {} idle, {} serving the probe; its raised priority: {}",
            tp / hp.max(f64::MIN_POSITIVE),
            h.run.background_ops_per_sec / h.baseline_ops_per_sec.max(f64::MIN_POSITIVE),
            ms(h.baseline_critical_cpu),
            ms(h.run.critical_cpu),
            h.critical_priority
                .as_ref()
                .map_or("-".to_string(), |p| p.to_string()),
        ));
    }
    if let (Some(on), Some(off)) = (
        find(Scenario::Inversion, "hetsched"),
        find(Scenario::Inversion, "hetsched_no_escalation"),
    ) {
        let (a, b) = (on.run.done_us(0.99), off.run.done_us(0.99));
        let tokio = find(Scenario::Inversion, "tokio").map_or("-".to_string(), |t| {
            format!("{:.1} µs", t.run.done_us(0.99))
        });
        lines.push(format!(
            "inversion: request (wake → done) p99 {a:.1} µs with escalation vs {b:.1} µs without ({:.1}x better); tokio {tokio}",
            b / a.max(f64::MIN_POSITIVE),
        ));
    }
    lines
}
