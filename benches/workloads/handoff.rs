//! The hand-off bound for `closure_spawn_many`: the fastest way this machine can hand jobs,
//! one at a time, from one thread to another, with nothing of a scheduler around it.
//!
//! The submitting thread pushes each job into a bounded single-producer single-consumer ring
//! ([`rtrb`], which caches the other side's index, so a push writes the slot and publishes
//! its own index and nothing else); one thread spins on the other end and runs every job it
//! finds, publishing its progress once per batch. No allocation, no wake-up protocol, no
//! second consumer, a core kept busy for nothing: what no runtime can afford, and so a
//! bound for the one-by-one workloads. The job is the workload's own (it counts down the
//! run's shared [`Latch`]), because on two cores that one shared line, written by the
//! submitter's clone and by the job, sets the pace of every runtime (BENCHMARKS.md, "The
//! hand-off bound").

use super::exec::Latch;
use rtrb::{Consumer, Producer, PushError, RingBuffer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Ring slots: more than the largest run submits, so the submitter never waits for room
/// unless the consumer has fallen a whole ring behind.
pub const RING_SLOTS: usize = 1 << 16;

/// A job: the workload's closure (`move || latch.count_down()`) without the closure.
type Job = Arc<Latch>;

/// A running hand-off: the ring's producer end and the thread spinning on the other.
pub struct HandOff {
    jobs: Producer<Job>,
    stop: Arc<AtomicBool>,
    runner: Option<JoinHandle<()>>,
}

impl HandOff {
    /// Start the consuming thread (an OS error from spawning it is returned).
    pub fn start() -> std::io::Result<HandOff> {
        let (jobs, ring_end) = RingBuffer::new(RING_SLOTS);
        let stop = Arc::new(AtomicBool::new(false));
        let runner = std::thread::Builder::new()
            .name("handoff-bound".into())
            .spawn({
                let stop = stop.clone();
                move || run_jobs(ring_end, &stop)
            })?;
        Ok(HandOff {
            jobs,
            stop,
            runner: Some(runner),
        })
    }

    /// `closure_spawn_many` over the ring: `n` jobs submitted one by one, timed until the
    /// last has run.
    pub fn spawn_many(&mut self, n: usize) -> Duration {
        let latch = Latch::new(n);
        let start = Instant::now();
        for _ in 0..n {
            self.submit(latch.clone());
        }
        latch.wait();
        start.elapsed()
    }

    /// Put `job` in the ring, waiting for room if the consumer is a whole ring behind.
    pub fn submit(&mut self, job: Job) {
        let mut job = job;
        loop {
            match self.jobs.push(job) {
                Ok(()) => return,
                Err(PushError::Full(back)) => {
                    job = back;
                    std::hint::spin_loop();
                }
            }
        }
    }
}

/// Run every job that reaches the ring, a batch at a time, until told to stop.
fn run_jobs(mut ring_end: Consumer<Job>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let ready = ring_end.slots();
        if ready == 0 {
            std::hint::spin_loop();
            continue;
        }
        // Cannot fail: `ready` slots were just counted, and only this thread takes them.
        if let Ok(batch) = ring_end.read_chunk(ready) {
            for latch in batch {
                latch.count_down();
            }
        }
    }
}

impl Drop for HandOff {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(runner) = self.runner.take() {
            let _ = runner.join();
        }
    }
}
