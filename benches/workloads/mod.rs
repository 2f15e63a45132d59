//! The benchmark workloads, written once and shared by the criterion benches
//! (`benches/runtimes.rs`, `benches/latency.rs`) and the ops/s harness
//! (`examples/bench.rs`, which includes this file with `#[path]`).
//!
//! Every workload is timed from its first spawn to the moment a shared [`exec::Latch`]
//! reaches zero, the same way on every runtime; setup (busy background tasks) is outside
//! the timed span.

#![allow(dead_code)] // each includer uses a different subset

pub mod emulate;
pub mod exec;
pub mod handoff;
pub mod hetero;
pub mod hetero_jobs;
pub mod latency;
pub mod plain_pool;

use exec::{AsyncRt, ClosurePool, Kind, Latch, Runtimes};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Spawns in the spawn_many workloads.
pub const SPAWN_MANY: usize = 10_000;
/// Tasks in yield_many.
pub const YIELD_TASKS: usize = 200;
/// Yields per task in yield_many.
pub const YIELDS_PER_TASK: usize = 1_000;
/// Pairs in ping_pong.
pub const PING_PONG_PAIRS: usize = 1_000;
/// Length of chained_spawn.
pub const CHAIN_LEN: usize = 1_000;
/// Tasks spawned and awaited one after another in spawn_await_outside.
pub const SPAWN_AWAIT: usize = 2_000;
/// Job counts of closure spawn_many.
pub const CLOSURE_JOBS: [usize; 3] = [1_024, 4_096, 16_384];
/// Tasks in "10k concurrent".
pub const CONCURRENT_TASKS: usize = 10_000;
/// Rounds of (CPU chunk, yield) per task in "10k concurrent".
pub const CONCURRENT_ROUNDS: usize = 10;
/// Iterations of [`cpu_chunk`] per round in "10k concurrent" (about 1 µs here).
pub const CONCURRENT_CHUNK_ITERS: u32 = 256;
/// Spin of each busy task in spawn_many_remote_busy.
pub const BUSY_SPIN: Duration = Duration::from_micros(10);

/// A small, fixed amount of CPU work the optimiser cannot remove.
#[inline(never)]
pub fn cpu_chunk(iters: u32) -> u64 {
    let mut x = black_box(0x2545_F491_4F6C_DD1Du64);
    for _ in 0..iters {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    black_box(x)
}

/// Busy-wait for `d` (a CPU-bound chunk of known length).
#[inline(never)]
pub fn spin_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// The throughput workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// 10,000 no-op spawns from inside a task.
    SpawnManyLocal,
    /// 10,000 no-op spawns from a thread outside the runtime, workers idle.
    SpawnManyRemoteIdle,
    /// The same while every worker runs yield + 10 µs-spin tasks.
    SpawnManyRemoteBusy,
    /// 200 tasks x 1,000 yields.
    YieldMany,
    /// 1,000 pairs of tasks exchanging two one-shot messages.
    PingPong,
    /// Each task spawns the next, 1,000 long.
    ChainedSpawn,
    /// `block_on` on a thread outside the runtime spawning 2,000 tasks one after another,
    /// awaiting each before the next: a hand-off to a worker and back per task.
    SpawnAwaitOutside,
    /// N no-op closure jobs from outside (on async runtimes: `async move { job() }`).
    ClosureSpawnMany(usize),
    /// The same N jobs submitted the best way each runtime has for many jobs at once:
    /// hetsched's `spawn_batch_detached`; the others have no batch API and submit one by
    /// one, exactly as in closure_spawn_many.
    ClosureSpawnBatch(usize),
    /// 10,000 tasks, each 10 rounds of (about 1 µs of CPU, yield).
    Concurrent10k,
}

impl Workload {
    /// Every workload, in table order.
    pub fn all() -> Vec<Workload> {
        let mut all = vec![
            Workload::SpawnManyLocal,
            Workload::SpawnManyRemoteIdle,
            Workload::SpawnManyRemoteBusy,
            Workload::YieldMany,
            Workload::PingPong,
            Workload::ChainedSpawn,
            Workload::SpawnAwaitOutside,
        ];
        all.extend(CLOSURE_JOBS.map(Workload::ClosureSpawnMany));
        all.extend(CLOSURE_JOBS.map(Workload::ClosureSpawnBatch));
        all.push(Workload::Concurrent10k);
        all
    }

    /// Name in tables, JSON and criterion ids.
    pub fn name(self) -> String {
        match self {
            Workload::SpawnManyLocal => "spawn_many_local".into(),
            Workload::SpawnManyRemoteIdle => "spawn_many_remote_idle".into(),
            Workload::SpawnManyRemoteBusy => "spawn_many_remote_busy".into(),
            Workload::YieldMany => "yield_many".into(),
            Workload::PingPong => "ping_pong".into(),
            Workload::ChainedSpawn => "chained_spawn".into(),
            Workload::SpawnAwaitOutside => "spawn_await_outside".into(),
            Workload::ClosureSpawnMany(n) => format!("closure_spawn_many_{n}"),
            Workload::ClosureSpawnBatch(n) => format!("closure_spawn_batch_{n}"),
            Workload::Concurrent10k => "concurrent_10k".into(),
        }
    }

    /// Operations one run does (the unit of ops/s): spawns, yields, pairs, or chunks.
    pub fn ops(self) -> u64 {
        (match self {
            Workload::SpawnManyLocal
            | Workload::SpawnManyRemoteIdle
            | Workload::SpawnManyRemoteBusy => SPAWN_MANY,
            Workload::YieldMany => YIELD_TASKS * YIELDS_PER_TASK,
            Workload::PingPong => PING_PONG_PAIRS,
            Workload::ChainedSpawn => CHAIN_LEN,
            Workload::SpawnAwaitOutside => SPAWN_AWAIT,
            Workload::ClosureSpawnMany(n) | Workload::ClosureSpawnBatch(n) => n,
            Workload::Concurrent10k => CONCURRENT_TASKS * CONCURRENT_ROUNDS,
        }) as u64
    }

    /// The runtimes this workload fits. Yielding and one-shot messages are async ideas:
    /// closure pools have no way to express them, so those run on hetsched and tokio only.
    /// (In the other CPU + yield workloads a closure pool "yields" by resubmitting the
    /// rest of the job, which is what code on such a pool does.) rayon is left out of
    /// spawn_many_remote_busy: a job spawned from a rayon worker goes to that worker's own
    /// deque, and a worker looks at the pool's injector only when its deque is empty, so
    /// endlessly resubmitting busy jobs starve the remote spawns forever (measured: the
    /// run never finishes).
    pub fn runtimes(self) -> &'static [Kind] {
        match self {
            Workload::YieldMany | Workload::PingPong | Workload::SpawnAwaitOutside => {
                &[Kind::Hetsched, Kind::Tokio]
            }
            Workload::SpawnManyRemoteBusy => &[
                Kind::Hetsched,
                Kind::PlainPool,
                Kind::ThreadPool,
                Kind::Tokio,
            ],
            _ => &Kind::ALL,
        }
    }

    /// Run once on `kind`; returns the timed span.
    pub fn run(self, rts: &Runtimes, kind: Kind) -> Duration {
        match kind {
            Kind::Hetsched => self.run_async(&rts.hetsched, rts.workers),
            Kind::Tokio => self.run_async(&rts.tokio, rts.workers),
            Kind::PlainPool => self.run_closure(rts.plain.handle(), rts.workers),
            Kind::ThreadPool => self.run_closure(&rts.threadpool, rts.workers),
            Kind::Rayon => self.run_closure(&rts.rayon, rts.workers),
        }
    }

    fn run_async<R: AsyncRt>(self, rt: &R, workers: usize) -> Duration {
        match self {
            Workload::SpawnManyLocal => async_spawn_many_local(rt),
            Workload::SpawnManyRemoteIdle => async_spawn_many_remote(rt, SPAWN_MANY),
            Workload::SpawnManyRemoteBusy => {
                let busy = AsyncBusy::start(rt, workers);
                let took = async_spawn_many_remote(rt, SPAWN_MANY);
                busy.stop();
                took
            }
            Workload::YieldMany => async_yield_many(rt),
            Workload::PingPong => async_ping_pong(rt),
            Workload::ChainedSpawn => async_chained_spawn(rt),
            Workload::SpawnAwaitOutside => {
                let start = Instant::now();
                rt.spawn_and_await_from_block_on(SPAWN_AWAIT);
                start.elapsed()
            }
            Workload::ClosureSpawnMany(n) => async_closure_spawn_many(rt, n),
            Workload::ClosureSpawnBatch(n) => async_closure_spawn_batch(rt, n),
            Workload::Concurrent10k => async_concurrent(rt),
        }
    }

    fn run_closure<P: ClosurePool>(self, pool: &P, workers: usize) -> Duration {
        match self {
            Workload::SpawnManyLocal => closure_spawn_many_local(pool),
            Workload::SpawnManyRemoteIdle
            | Workload::ClosureSpawnMany(_)
            | Workload::ClosureSpawnBatch(_) => {
                closure_spawn_many_remote(pool, self.ops() as usize)
            }
            Workload::SpawnManyRemoteBusy => {
                let busy = ClosureBusy::start(pool, workers);
                let took = closure_spawn_many_remote(pool, SPAWN_MANY);
                busy.stop();
                took
            }
            Workload::ChainedSpawn => closure_chained_spawn(pool),
            Workload::Concurrent10k => closure_concurrent(pool),
            Workload::YieldMany | Workload::PingPong | Workload::SpawnAwaitOutside => {
                unreachable!("{} does not fit a closure pool", self.name())
            }
        }
    }
}

// ---- async runtimes -------------------------------------------------------------------

fn async_spawn_many_local<R: AsyncRt>(rt: &R) -> Duration {
    let latch = Latch::new(SPAWN_MANY);
    let start = Instant::now();
    let l = latch.clone();
    rt.spawn_outside(async move {
        for _ in 0..SPAWN_MANY {
            let l = l.clone();
            R::spawn_inside(async move { l.count_down() });
        }
    });
    latch.wait();
    start.elapsed()
}

fn async_spawn_many_remote<R: AsyncRt>(rt: &R, n: usize) -> Duration {
    let latch = Latch::new(n);
    let start = Instant::now();
    for _ in 0..n {
        let l = latch.clone();
        rt.spawn_outside(async move { l.count_down() });
    }
    latch.wait();
    start.elapsed()
}

fn async_closure_spawn_many<R: AsyncRt>(rt: &R, n: usize) -> Duration {
    let latch = Latch::new(n);
    let start = Instant::now();
    for _ in 0..n {
        let l = latch.clone();
        let job = move || l.count_down();
        // No closure-spawn API: a future with no await point runs the job in one poll,
        // submitted the runtime's fire-and-forget way (no handle, as a pool's `execute`).
        rt.spawn_job_outside(async move { job() });
    }
    latch.wait();
    start.elapsed()
}

fn async_closure_spawn_batch<R: AsyncRt>(rt: &R, n: usize) -> Duration {
    let latch = Latch::new(n);
    let start = Instant::now();
    let l = latch.clone();
    rt.spawn_jobs_outside((0..n).map(move |_| {
        let l = l.clone();
        let job = move || l.count_down();
        async move { job() }
    }));
    latch.wait();
    start.elapsed()
}

fn async_yield_many<R: AsyncRt>(rt: &R) -> Duration {
    let latch = Latch::new(YIELD_TASKS);
    let start = Instant::now();
    for _ in 0..YIELD_TASKS {
        let l = latch.clone();
        rt.spawn_outside(async move {
            for _ in 0..YIELDS_PER_TASK {
                R::yield_now().await;
            }
            l.count_down();
        });
    }
    latch.wait();
    start.elapsed()
}

fn async_ping_pong<R: AsyncRt>(rt: &R) -> Duration {
    use futures::channel::oneshot;
    let latch = Latch::new(PING_PONG_PAIRS);
    let start = Instant::now();
    let l = latch.clone();
    rt.spawn_outside(async move {
        for _ in 0..PING_PONG_PAIRS {
            let l = l.clone();
            R::spawn_inside(async move {
                let (tx1, rx1) = oneshot::channel::<()>();
                let (tx2, rx2) = oneshot::channel::<()>();
                R::spawn_inside(async move {
                    if rx1.await.is_ok() {
                        let _ = tx2.send(());
                    }
                });
                let _ = tx1.send(());
                let _ = rx2.await;
                l.count_down();
            });
        }
    });
    latch.wait();
    start.elapsed()
}

fn async_chain_link<R: AsyncRt>(left: usize, latch: Arc<Latch>) {
    R::spawn_inside(async move {
        if left == 0 {
            latch.count_down();
        } else {
            async_chain_link::<R>(left - 1, latch);
        }
    });
}

fn async_chained_spawn<R: AsyncRt>(rt: &R) -> Duration {
    let latch = Latch::new(1);
    let start = Instant::now();
    let l = latch.clone();
    rt.spawn_outside(async move { async_chain_link::<R>(CHAIN_LEN - 1, l) });
    latch.wait();
    start.elapsed()
}

fn async_concurrent<R: AsyncRt>(rt: &R) -> Duration {
    let latch = Latch::new(CONCURRENT_TASKS);
    let start = Instant::now();
    for _ in 0..CONCURRENT_TASKS {
        let l = latch.clone();
        rt.spawn_outside(async move {
            for _ in 0..CONCURRENT_ROUNDS {
                cpu_chunk(CONCURRENT_CHUNK_ITERS);
                R::yield_now().await;
            }
            l.count_down();
        });
    }
    latch.wait();
    start.elapsed()
}

/// The bound no runtime can beat on concurrent_10k: its 100,000 CPU chunks alone, split
/// evenly over `workers` plain threads, with no scheduling at all. Returns chunks/s (the
/// workload's ops/s unit); a runtime's gap to it is its scheduling cost per chunk.
pub fn concurrent_chunks_only(workers: usize) -> f64 {
    let workers = workers.max(1);
    let chunks = CONCURRENT_TASKS * CONCURRENT_ROUNDS;
    let start = Instant::now();
    std::thread::scope(|scope| {
        for w in 0..workers {
            let share = chunks / workers + usize::from(w < chunks % workers);
            scope.spawn(move || {
                for _ in 0..share {
                    cpu_chunk(CONCURRENT_CHUNK_ITERS);
                }
            });
        }
    });
    chunks as f64 / start.elapsed().as_secs_f64().max(1e-9)
}

/// One busy task per worker: 10 µs spin, yield, until stopped.
struct AsyncBusy {
    stop: Arc<AtomicBool>,
    done: Arc<Latch>,
}

impl AsyncBusy {
    fn start<R: AsyncRt>(rt: &R, workers: usize) -> AsyncBusy {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicUsize::new(0));
        let done = Latch::new(workers);
        for _ in 0..workers {
            let (stop, started, done) = (stop.clone(), started.clone(), done.clone());
            rt.spawn_outside(async move {
                started.fetch_add(1, Ordering::Relaxed);
                while !stop.load(Ordering::Relaxed) {
                    spin_for(BUSY_SPIN);
                    R::yield_now().await;
                }
                done.count_down();
            });
        }
        wait_started(&started, workers);
        AsyncBusy { stop, done }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.done.wait();
    }
}

/// Wait (briefly) until `n` busy tasks have started, so the timed span sees busy workers.
fn wait_started(started: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while started.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        std::thread::yield_now();
    }
}

// ---- closure pools --------------------------------------------------------------------

fn closure_spawn_many_local<P: ClosurePool>(pool: &P) -> Duration {
    let latch = Latch::new(SPAWN_MANY);
    let start = Instant::now();
    let (l, p) = (latch.clone(), pool.clone());
    pool.execute(move || {
        for _ in 0..SPAWN_MANY {
            let l = l.clone();
            p.execute(move || l.count_down());
        }
    });
    latch.wait();
    start.elapsed()
}

fn closure_spawn_many_remote<P: ClosurePool>(pool: &P, n: usize) -> Duration {
    let latch = Latch::new(n);
    let start = Instant::now();
    for _ in 0..n {
        let l = latch.clone();
        pool.execute(move || l.count_down());
    }
    latch.wait();
    start.elapsed()
}

fn closure_chain_link<P: ClosurePool>(pool: P, left: usize, latch: Arc<Latch>) {
    let p = pool.clone();
    pool.execute(move || {
        if left == 0 {
            latch.count_down();
        } else {
            closure_chain_link(p, left - 1, latch);
        }
    });
}

fn closure_chained_spawn<P: ClosurePool>(pool: &P) -> Duration {
    let latch = Latch::new(1);
    let start = Instant::now();
    closure_chain_link(pool.clone(), CHAIN_LEN - 1, latch.clone());
    latch.wait();
    start.elapsed()
}

/// A closure pool's "yield": run one round, then resubmit the rest of the job.
fn closure_concurrent_round<P: ClosurePool>(pool: P, left: usize, latch: Arc<Latch>) {
    cpu_chunk(CONCURRENT_CHUNK_ITERS);
    if left == 1 {
        latch.count_down();
    } else {
        let p = pool.clone();
        pool.execute(move || closure_concurrent_round(p, left - 1, latch));
    }
}

fn closure_concurrent<P: ClosurePool>(pool: &P) -> Duration {
    let latch = Latch::new(CONCURRENT_TASKS);
    let start = Instant::now();
    for _ in 0..CONCURRENT_TASKS {
        let (p, l) = (pool.clone(), latch.clone());
        pool.execute(move || closure_concurrent_round(p, CONCURRENT_ROUNDS, l));
    }
    latch.wait();
    start.elapsed()
}

struct ClosureBusy {
    stop: Arc<AtomicBool>,
    done: Arc<Latch>,
}

fn closure_busy_round<P: ClosurePool>(pool: P, stop: Arc<AtomicBool>, done: Arc<Latch>) {
    if stop.load(Ordering::Relaxed) {
        done.count_down();
        return;
    }
    spin_for(BUSY_SPIN);
    let p = pool.clone();
    pool.execute(move || closure_busy_round(p, stop, done));
}

impl ClosureBusy {
    fn start<P: ClosurePool>(pool: &P, workers: usize) -> ClosureBusy {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicUsize::new(0));
        let done = Latch::new(workers);
        for _ in 0..workers {
            let (p, stop, started, done) =
                (pool.clone(), stop.clone(), started.clone(), done.clone());
            pool.execute(move || {
                started.fetch_add(1, Ordering::Relaxed);
                closure_busy_round(p, stop, done);
            });
        }
        wait_started(&started, workers);
        ClosureBusy { stop, done }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.done.wait();
    }
}
