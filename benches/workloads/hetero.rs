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

pub use super::hetero_jobs::*;

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
                next += Duration::from_secs_f64(PROBE_PERIOD_MS / 1e3);
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
