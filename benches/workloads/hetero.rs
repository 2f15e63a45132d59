//! Heterogeneous workloads: CPU jobs of a fixed number of iterations (never "spin for N µs",
//! which would make a slow core look fast), timed from the first submission to the last
//! completion (the makespan), next to the fluid lower bound of the machine they ran on.
//!
//! Every runtime gets the jobs the same way: a boxed closure from a thread outside the
//! runtime (on async runtimes `async move { job() }`, one poll per job).

use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::emulate::work;
use super::exec::Latch;
use super::latency::{NextWake, Signal};

/// A job as every runtime receives it.
pub type Job = Box<dyn FnOnce() + Send + 'static>;
pub use super::latency::BoxFuture;

/// Length of one long job in "few long jobs", in milliseconds on a fast CPU.
pub const LONG_JOB_MS: f64 = 30.0;
/// Jobs in "many": 10,000 of [`MANY_JOB_US`].
pub const MANY_JOBS: usize = 10_000;
/// Length of one job in "many", µs on a fast CPU.
pub const MANY_JOB_US: f64 = 200.0;
/// The skewed mix: [`SKEW_LONG`] jobs of [`SKEW_LONG_MS`] spread evenly among
/// [`SKEW_SHORT`] jobs of [`SKEW_SHORT_US`].
pub const SKEW_LONG: usize = 4;
/// See [`SKEW_LONG`].
pub const SKEW_LONG_MS: f64 = 40.0;
/// See [`SKEW_LONG`].
pub const SKEW_SHORT: usize = 4_000;
/// See [`SKEW_LONG`].
pub const SKEW_SHORT_US: f64 = 100.0;

/// The heterogeneous workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeteroWorkload {
    /// `k` jobs of [`LONG_JOB_MS`] per CPU of the runtimes (per worker of a pool with one
    /// worker per CPU; every runtime gets the same jobs): the straggler problem.
    FewLong(usize),
    /// [`MANY_JOBS`] jobs of [`MANY_JOB_US`].
    Many,
    /// A few long jobs among many short ones.
    Skewed,
    /// [`HeteroWorkload::Many`] as a background batch while an Interactive probe is woken
    /// every millisecond (its wake-to-poll latency is reported with the makespan).
    LatencyUnderBatch,
}

impl HeteroWorkload {
    /// Every workload, in table order.
    pub const ALL: [HeteroWorkload; 6] = [
        HeteroWorkload::FewLong(1),
        HeteroWorkload::FewLong(2),
        HeteroWorkload::FewLong(3),
        HeteroWorkload::Many,
        HeteroWorkload::Skewed,
        HeteroWorkload::LatencyUnderBatch,
    ];

    /// The name in tables and JSON.
    pub fn name(self) -> String {
        match self {
            HeteroWorkload::FewLong(k) => format!("few_long_k{k}"),
            HeteroWorkload::Many => format!("many_{MANY_JOBS}x{MANY_JOB_US}us"),
            HeteroWorkload::Skewed => "skewed_mix".into(),
            HeteroWorkload::LatencyUnderBatch => "latency_under_batch".into(),
        }
    }

    /// Iterations of every job, in submission order, on a machine of `cpus` CPUs whose fast
    /// CPU does `iters_per_ms` iterations per millisecond.
    pub fn jobs(self, cpus: usize, iters_per_ms: f64) -> Vec<u64> {
        let iters = |ms: f64| (ms * iters_per_ms).round().max(1.0) as u64;
        match self {
            HeteroWorkload::FewLong(k) => vec![iters(LONG_JOB_MS); k * cpus.max(1)],
            HeteroWorkload::Many | HeteroWorkload::LatencyUnderBatch => {
                vec![iters(MANY_JOB_US / 1e3); MANY_JOBS]
            }
            HeteroWorkload::Skewed => {
                let mut jobs = vec![iters(SKEW_SHORT_US / 1e3); SKEW_SHORT];
                for i in 0..SKEW_LONG {
                    jobs.insert(i * (SKEW_SHORT / SKEW_LONG + 1), iters(SKEW_LONG_MS));
                }
                jobs
            }
        }
    }
}

/// The fluid lower bound, ms: total work over total capacity, or the longest job on the
/// fastest CPU, whichever is larger. `speeds`: every CPU's speed (fast = 1.0).
pub fn bound_ms(jobs: &[u64], iters_per_ms: f64, speeds: &[f64]) -> f64 {
    let total = jobs.iter().sum::<u64>() as f64 / iters_per_ms;
    let capacity: f64 = speeds.iter().sum();
    let fastest = speeds.iter().copied().fold(0.0, f64::max);
    let longest = jobs.iter().copied().max().unwrap_or(0) as f64 / iters_per_ms;
    (total / capacity.max(1e-9)).max(longest / fastest.max(1e-9))
}

/// Submit every job through `submit` and wait for the last one; the makespan.
pub fn makespan(submit: &dyn Fn(Job), jobs: &[u64]) -> Duration {
    let latch = Latch::new(jobs.len());
    let start = Instant::now();
    for &iters in jobs {
        let latch = latch.clone();
        submit(Box::new(move || {
            work(iters);
            latch.count_down();
        }));
    }
    latch.wait();
    start.elapsed()
}

/// What a latency-under-batch run measured.
pub struct UnderBatch {
    /// The batch's makespan.
    pub makespan: Duration,
    /// The probe's wake → first poll, ns.
    pub first_poll: Histogram<u64>,
}

/// Run `jobs` through `submit` while a probe spawned with `spawn_probe` is woken every
/// millisecond from a timer thread and does `probe_iters` iterations per wake.
pub fn under_batch(
    submit: &dyn Fn(Job),
    spawn_probe: &dyn Fn(BoxFuture),
    jobs: &[u64],
    probe_iters: u64,
) -> UnderBatch {
    let signal = Arc::new(Signal::new());
    let samples = Arc::new(Mutex::new(Vec::<u64>::with_capacity(4_096)));
    let probe_done = Latch::new(1);
    {
        let (signal, samples, done) = (signal.clone(), samples.clone(), probe_done.clone());
        spawn_probe(Box::pin(async move {
            let mut seen = 0;
            loop {
                seen = NextWake {
                    signal: &signal,
                    seen,
                }
                .await;
                let polled = signal.now_ns();
                if signal.stop.load(Ordering::Acquire) {
                    break;
                }
                let woke = signal.wake_ns.load(Ordering::Acquire);
                work(probe_iters);
                if let Ok(mut s) = samples.lock() {
                    s.push(polled.saturating_sub(woke));
                }
                signal.busy.store(false, Ordering::Release);
            }
            done.count_down();
        }));
    }
    let batch_done = Arc::new(AtomicBool::new(false));
    let timer = {
        let (signal, batch_done) = (signal.clone(), batch_done.clone());
        std::thread::spawn(move || {
            let mut next = Instant::now();
            while !batch_done.load(Ordering::Acquire) {
                next += Duration::from_millis(1);
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
                // A wake still outstanding (the probe not yet polled) is not re-stamped:
                // overwriting its time would cap every measured wait at one period and
                // hide a probe stuck behind the batch (as the latency scenarios do).
                if signal.busy.load(Ordering::Acquire) {
                    continue;
                }
                signal.busy.store(true, Ordering::Relaxed);
                signal.wake_ns.store(signal.now_ns(), Ordering::Release);
                signal.seq.fetch_add(1, Ordering::AcqRel);
                signal.waker.wake();
            }
            signal.stop.store(true, Ordering::Release);
            signal.seq.fetch_add(1, Ordering::AcqRel);
            signal.waker.wake();
        })
    };
    // Let the probe settle into its loop before the batch starts.
    std::thread::sleep(Duration::from_millis(20));
    let makespan = makespan(submit, jobs);
    batch_done.store(true, Ordering::Release);
    let _ = timer.join();
    probe_done.wait();
    let mut first_poll =
        Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds");
    for &ns in samples.lock().map(|s| s.clone()).unwrap_or_default().iter() {
        first_poll.saturating_record(ns.max(1));
    }
    UnderBatch {
        makespan,
        first_poll,
    }
}
