//! Detached spawns and batch spawns: the same invariants as `spawn` (lanes, Qos
//! inheritance, shutdown drops every future once), plus what they promise of their own:
//! batch handles in order, one batch spreading over every idle worker.

mod common;

use common::{runtime, tallied, ClassTally, DropCounter, SHAPES};
use hetsched::{Builder, CoreClass, Qos, Topology};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Wait (bounded) until `counter` reaches `n`.
fn wait_for(counter: &AtomicUsize, n: usize) {
    common::wait_until(&format!("{n} tasks ran"), || {
        counter.load(Ordering::SeqCst) >= n
    });
}

#[test]
fn detached_tasks_run_in_their_lane_and_drop_their_output() {
    for (p, e) in SHAPES {
        let rt = runtime(p, e);
        let critical = Arc::new(ClassTally::default());
        let background = Arc::new(ClassTally::default());
        let outputs = DropCounter::default();
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..50 {
            let (ran1, ran2) = (ran.clone(), ran.clone());
            let token = outputs.token();
            rt.handle().spawn_detached_with(
                Qos::Interactive,
                tallied(&critical, async move {
                    ran1.fetch_add(1, Ordering::SeqCst);
                    token // the output: dropped by the runtime, nobody joins
                }),
            );
            rt.handle().spawn_detached_with(
                Qos::Background,
                tallied(&background, async move {
                    ran2.fetch_add(1, Ordering::SeqCst);
                }),
            );
        }
        wait_for(&ran, 100);
        common::wait_until("every output dropped", || outputs.get() == 50);
        assert_eq!(critical.get(), (50, 0, 0), "Interactive ran off a P worker");
        assert_eq!(
            background.get(),
            (0, 50, 0),
            "Background ran off an E worker"
        );
    }
}

#[test]
fn a_detached_spawn_inside_a_task_inherits_its_qos() {
    let rt = runtime(1, 1);
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn_with(Qos::Utility, async move {
        hetsched::spawn_detached(async move {
            tx.send(hetsched::current_qos()).unwrap();
        });
    });
    let seen = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
    assert_eq!(seen, Some(Qos::Utility));
}

#[test]
fn a_detached_task_that_panics_is_dropped_and_the_worker_lives_on() {
    let rt = runtime(1, 0);
    let drops = DropCounter::default();
    let token = drops.token();
    rt.handle().spawn_detached(async move {
        let _token = token;
        panic!("detached task panics (expected in this test)");
    });
    common::wait_until("the panicking task was dropped", || drops.get() == 1);
    assert_eq!(rt.block_on(rt.spawn(async { 7 })).unwrap(), 7);
}

#[test]
fn batch_handles_come_back_in_order_at_the_batch_qos() {
    for (p, e) in SHAPES {
        let rt = runtime(p, e);
        let tally = Arc::new(ClassTally::default());
        let mut handles = Vec::new();
        rt.handle().spawn_batch(
            Qos::Background,
            (0..64u32).map(|i| tallied(&tally, async move { (i, hetsched::current_qos()) })),
            &mut handles,
        );
        assert_eq!(handles.len(), 64);
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.qos(), Qos::Background);
            let (n, qos) = rt.block_on(handle).unwrap();
            assert_eq!((n as usize, qos), (i, Some(Qos::Background)));
        }
        assert_eq!(
            tally.get(),
            (0, 64, 0),
            "a Background batch ran off E workers"
        );
    }
}

#[test]
fn a_batch_from_inside_a_task_runs_every_task() {
    let rt = runtime(2, 2);
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = ran.clone();
    rt.block_on(rt.spawn(async move {
        let jobs = (0..1_000).map(move |_| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        hetsched::Handle::current().spawn_batch_detached(Qos::Default, jobs);
    }))
    .unwrap();
    wait_for(&ran, 1_000);
}

/// A rendezvous of `n` tasks: each waits until all `n` are running at once (bounded: a
/// task that waits 20 s gives up and says so, so a test fails instead of hanging).
struct Rendezvous {
    arrived: AtomicUsize,
    n: usize,
}

impl Rendezvous {
    /// True if all `n` arrived.
    fn meet(&self) -> bool {
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while self.arrived.load(Ordering::SeqCst) < self.n {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::yield_now();
        }
        true
    }
}

/// One wake-up for a whole batch still reaches every idle worker: the tasks of this batch
/// each wait until all of them run at once, which needs every worker.
#[test]
fn one_batch_spreads_over_every_idle_worker() {
    const WORKERS: usize = 3;
    let rt = Builder::new()
        .topology(Topology::uniform(WORKERS))
        .workers(CoreClass::Performance, WORKERS)
        .pin(false)
        .build()
        .unwrap();
    for round in 0..20 {
        let meeting = Arc::new(Rendezvous {
            arrived: AtomicUsize::new(0),
            n: WORKERS,
        });
        let tasks = (0..WORKERS).map(|_| {
            let meeting = meeting.clone();
            async move { meeting.meet() }
        });
        // From outside (injector) and from inside a task (a worker's own queue).
        let mut handles = Vec::new();
        if round % 2 == 0 {
            rt.handle().spawn_batch(Qos::Default, tasks, &mut handles);
        } else {
            let tasks: Vec<_> = tasks.collect();
            handles = rt
                .block_on(rt.spawn(async move {
                    let mut handles = Vec::new();
                    hetsched::Handle::current().spawn_batch(Qos::Default, tasks, &mut handles);
                    handles
                }))
                .unwrap();
        }
        for handle in handles {
            assert!(
                rt.block_on(handle).unwrap(),
                "round {round}: the batch's tasks never ran on {WORKERS} workers at once"
            );
        }
    }
}

#[test]
fn batches_and_detached_spawns_after_shutdown_drop_every_future_once() {
    let rt = runtime(1, 1);
    let handle = rt.handle();
    drop(rt);
    let drops = DropCounter::default();
    let token = drops.token();
    handle.spawn_detached(async move { drop(token) });
    let mut handles = Vec::new();
    handle.spawn_batch(
        Qos::Utility,
        (0..10).map(|_| {
            let token = drops.token();
            async move { drop(token) }
        }),
        &mut handles,
    );
    handle.spawn_batch_detached(
        Qos::Background,
        (0..10).map(|_| {
            let token = drops.token();
            async move { drop(token) }
        }),
    );
    assert_eq!(drops.get(), 21, "every refused future is dropped at once");
    assert_eq!(handles.len(), 10);
    for join in handles {
        assert_eq!(join.qos(), Qos::Utility);
        assert!(futures::executor::block_on(join)
            .unwrap_err()
            .is_cancelled());
    }
}

#[test]
fn spawn_metrics_count_detached_and_batched_tasks() {
    let rt = runtime(1, 1);
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let ran = ran.clone();
        rt.handle().spawn_detached_with(Qos::Default, async move {
            ran.fetch_add(1, Ordering::SeqCst);
        });
    }
    let batch_ran = ran.clone();
    rt.handle().spawn_batch_detached(
        Qos::Default,
        (0..20).map(move |_| {
            let ran = batch_ran.clone();
            async move {
                ran.fetch_add(1, Ordering::SeqCst);
            }
        }),
    );
    wait_for(&ran, 30);
    common::wait_until("30 Default tasks counted as completed", || {
        let metrics = rt.metrics();
        let lane = metrics.lane(hetsched::Lane::Default);
        lane.spawned == 30 && lane.completed == 30
    });
}
