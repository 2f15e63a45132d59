//! Faults, aborts, shutdown, JoinHandles that outlive their runtime, metrics, placement.

mod common;

use common::{runtime, spin_until, wait_until, DropCounter, ReleaseOnDrop};
use futures::channel::oneshot;
use hetsched::sys::HintOutcome;
use hetsched::{Builder, CoreClass, Handle, Lane, Pin, Qos, Topology};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn a_million_task_spawn_tree_gives_the_right_answer() {
    // Fan-out 10, depth 6: 1 + 10 + ... + 10^6 = 1,111,111 tasks; every Qos is used.
    fn node(depth: u32) -> std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send>> {
        Box::pin(async move {
            if depth == 0 {
                return 1;
            }
            let children: Vec<_> = (0..10)
                .map(|i| hetsched::spawn_with(Qos::ALL[(i + depth as usize) % 5], node(depth - 1)))
                .collect();
            let mut leaves = 0;
            for child in children {
                leaves += child.await.unwrap();
            }
            leaves
        })
    }
    let rt = runtime(2, 2);
    assert_eq!(rt.block_on(rt.spawn(node(6))).unwrap(), 1_000_000);
    let m = rt.metrics();
    let spawned: u64 = m.lanes.iter().map(|l| l.spawned).sum();
    assert_eq!(spawned, 1_111_111);
}

#[test]
fn a_panicking_task_becomes_a_join_error_and_the_worker_lives_on() {
    let rt = common::one_worker_runtime();
    for i in 0..50 {
        let err = rt
            .block_on(rt.spawn(async move { panic!("task {i} failed") }))
            .unwrap_err();
        assert!(err.is_panic());
        assert_eq!(
            err.to_string(),
            format!("task {i} failed").replace("task", "task panicked: task")
        );
        // The single worker survived and still runs tasks.
        assert_eq!(rt.block_on(rt.spawn(async move { i * 2 })).unwrap(), i * 2);
    }
}

#[test]
fn a_panic_in_block_on_reaches_its_caller() {
    let rt = runtime(1, 1);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { panic!("from block_on") })
    }));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"from block_on"));
    // The runtime is still usable.
    assert_eq!(rt.block_on(rt.spawn(async { 5 })).unwrap(), 5);
}

#[test]
fn block_on_on_a_worker_thread_panics_with_a_clear_message() {
    let rt = runtime(1, 1);
    let err = rt
        .block_on(rt.spawn(async { Handle::current().block_on(async { 1 }) }))
        .unwrap_err();
    assert!(err.is_panic());
    assert!(
        err.to_string()
            .contains("block_on called on a runtime worker thread"),
        "{err}"
    );
}

#[test]
fn abort_cancels_pending_tasks_and_keeps_finished_output() {
    let rt = runtime(1, 1);
    let drops = DropCounter::default();
    let token = drops.token();
    let pending = rt.spawn(async move {
        let _token = token;
        std::future::pending::<()>().await
    });
    pending.abort();
    assert!(rt.block_on(pending).unwrap_err().is_cancelled());
    assert_eq!(drops.get(), 1);

    let done = rt.spawn(async { "kept" });
    wait_until("the task finished", || done.is_finished());
    done.abort();
    assert_eq!(rt.block_on(done).unwrap(), "kept");
}

#[test]
fn abort_racing_with_completion_drops_every_future_once() {
    let rt = runtime(2, 2);
    let drops = DropCounter::default();
    let outcomes = Arc::new(Mutex::new((0usize, 0usize)));
    let n = 2000;
    for i in 0..n {
        let token = drops.token();
        let qos = Qos::ALL[i % 5];
        let handle = Arc::new(rt.spawn_with(qos, async move {
            let _token = token;
            for _ in 0..(i % 3) {
                hetsched::yield_now().await;
            }
            i
        }));
        let aborter = {
            let handle = handle.clone();
            std::thread::spawn(move || handle.abort())
        };
        aborter.join().unwrap();
        let handle = Arc::try_unwrap(handle).unwrap();
        match rt.block_on(handle) {
            Ok(v) => {
                assert_eq!(v, i);
                outcomes.lock().unwrap().0 += 1;
            }
            Err(e) => {
                assert!(e.is_cancelled());
                outcomes.lock().unwrap().1 += 1;
            }
        }
    }
    assert_eq!(drops.get(), n, "every future dropped exactly once");
    let (ok, cancelled) = *outcomes.lock().unwrap();
    assert_eq!(ok + cancelled, n);
    assert!(cancelled > 0, "aborts took effect");
}

/// Shutdown with tasks in every state: running, queued, waiting on a waker nobody fires,
/// finished and awaited later, finished and detached. Every future and every output is
/// dropped exactly once; JoinHandles outlive the runtime.
#[test]
fn shutdown_drops_every_future_once_wherever_it_is() {
    let stops = Arc::new(AtomicUsize::new(0));
    let rt = common::two_class_builder()
        .on_thread_stop({
            let stops = stops.clone();
            move || {
                stops.fetch_add(1, SeqCst);
            }
        })
        .build()
        .unwrap();
    let workers = rt.metrics().workers.len();
    let futures_dropped = DropCounter::default();
    let outputs_dropped = DropCounter::default();
    let mut spawned = 0;

    // Finished, output awaited after shutdown; and finished, detached.
    let mut finished = Vec::new();
    for _ in 0..10 {
        let (f, o) = (futures_dropped.token(), outputs_dropped.clone());
        finished.push(rt.spawn(async move {
            let _f = f;
            o.token()
        }));
        let (f, o) = (futures_dropped.token(), outputs_dropped.clone());
        drop(rt.spawn(async move {
            let _f = f;
            o.token()
        }));
        spawned += 2;
    }
    wait_until("finished tasks finish", || {
        finished.iter().all(|h| h.is_finished())
    });

    // Running: holds the only P worker, then waits forever.
    let release = Arc::new(AtomicBool::new(false));
    let _release = common::ReleaseOnDrop(release.clone());
    let running_started = Arc::new(AtomicBool::new(false));
    let running = {
        let (f, release, started) = (
            futures_dropped.token(),
            release.clone(),
            running_started.clone(),
        );
        rt.spawn_with(Qos::Interactive, async move {
            let _f = f;
            started.store(true, SeqCst);
            spin_until(&release);
            std::future::pending::<()>().await
        })
    };
    spawned += 1;
    wait_until("the P worker is busy", || running_started.load(SeqCst));

    // Queued behind it: only the P worker may run them.
    let queued: Vec<_> = (0..100)
        .map(|_| {
            let f = futures_dropped.token();
            rt.spawn_with(Qos::UserInitiated, async move {
                let _f = f;
            })
        })
        .collect();
    spawned += 100;

    // Waiting on wakers nobody fires (the senders stay alive in this test).
    let mut senders = Vec::new();
    let waiting: Vec<_> = (0..100)
        .map(|_| {
            let (tx, rx) = oneshot::channel::<()>();
            senders.push(tx);
            let f = futures_dropped.token();
            rt.spawn_with(Qos::Background, async move {
                let _f = f;
                let _ = rx.await;
            })
        })
        .collect();
    spawned += 100;
    wait_until("waiting tasks are parked on their wakers", || {
        rt.metrics().lane(Lane::Background).queued == 0
    });

    let releaser = {
        let release = release.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            release.store(true, SeqCst);
        })
    };
    // Bounded: the running task keeps the P worker past the timeout.
    let handle = rt.handle();
    rt.shutdown_timeout(Duration::from_millis(10));
    releaser.join().unwrap();
    wait_until("every worker exited", || stops.load(SeqCst) == workers);

    assert_eq!(
        futures_dropped.get(),
        spawned,
        "every future dropped exactly once"
    );
    // Outputs: the detached ten were dropped when they finished; the awaited ten not yet.
    assert_eq!(outputs_dropped.get(), 10);
    let awaited = std::thread::spawn(move || {
        finished
            .into_iter()
            .map(|h| futures::executor::block_on(h).unwrap())
            .collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    assert_eq!(awaited.len(), 10);
    drop(awaited);
    assert_eq!(
        outputs_dropped.get(),
        20,
        "every output dropped exactly once"
    );

    for h in queued.into_iter().chain(waiting) {
        assert!(futures::executor::block_on(h).unwrap_err().is_cancelled());
    }
    assert!(futures::executor::block_on(running)
        .unwrap_err()
        .is_cancelled());
    drop(senders);
    assert_eq!(futures_dropped.get(), spawned);
    // The 100 tasks dropped unrun left the queued count with the rest.
    for lane in handle.metrics().lanes {
        assert_eq!(lane.queued, 0, "{:?}", lane.lane);
    }
}

#[test]
fn spawning_onto_a_shut_down_runtime_gives_a_cancelled_handle() {
    let rt = runtime(1, 1);
    let handle = rt.handle();
    drop(rt);
    let drops = DropCounter::default();
    let token = drops.token();
    let task = handle.spawn(async move {
        let _token = token;
        1
    });
    assert_eq!(drops.get(), 1, "the future was dropped, not leaked");
    assert!(task.is_finished());
    assert!(futures::executor::block_on(task)
        .unwrap_err()
        .is_cancelled());
}

#[test]
fn dropping_the_runtime_from_one_of_its_own_tasks_does_not_deadlock() {
    let stops = Arc::new(AtomicUsize::new(0));
    let rt = common::two_class_builder()
        .on_thread_stop({
            let stops = stops.clone();
            move || {
                stops.fetch_add(1, SeqCst);
            }
        })
        .build()
        .unwrap();
    let workers = rt.metrics().workers.len();
    let slot = Arc::new(Mutex::new(None));
    let drops = DropCounter::default();
    let token = drops.token();
    let (tx, rx) = std::sync::mpsc::channel();
    let inner_slot = slot.clone();
    *slot.lock().unwrap() = Some(rt);
    let rt_ref = slot.lock().unwrap();
    let handle = rt_ref.as_ref().unwrap().handle();
    drop(rt_ref);
    // A task that will never finish, to be dropped by the shutdown.
    drop(handle.spawn_with(Qos::Background, async move {
        let _token = token;
        std::future::pending::<()>().await
    }));
    drop(handle.spawn_with(Qos::Interactive, async move {
        let rt = inner_slot.lock().unwrap().take();
        drop(rt);
        tx.send(()).unwrap();
    }));
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the drop returned");
    wait_until("workers exited", || stops.load(SeqCst) == workers);
    wait_until("the pending task was dropped", || drops.get() == 1);
}

#[test]
fn handle_current_outside_a_runtime() {
    assert!(Handle::try_current().is_err());
    let payload = std::panic::catch_unwind(Handle::current).unwrap_err();
    let msg = payload.downcast_ref::<String>().unwrap();
    assert!(msg.contains("not inside a hetsched runtime"), "{msg}");
    let rt = runtime(1, 1);
    assert!(rt.block_on(async { Handle::try_current().is_ok() }));
    assert!(rt
        .block_on(rt.spawn(async { Handle::try_current().is_ok() }))
        .unwrap());
}

#[test]
fn metrics_count_spawns_polls_steals_and_hints() {
    let rt = runtime(1, 1);
    let release = Arc::new(AtomicBool::new(false));
    let _release = common::ReleaseOnDrop(release.clone());
    let started = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let blocker = {
        let (release, started, done) = (release.clone(), started.clone(), done.clone());
        rt.spawn_with(Qos::Interactive, async move {
            for _ in 0..20 {
                let done = done.clone();
                hetsched::spawn_with(Qos::Default, async move {
                    done.fetch_add(1, SeqCst);
                });
            }
            started.store(true, SeqCst);
            spin_until(&release);
        })
    };
    wait_until("E worker stole the default work", || {
        done.load(SeqCst) == 20
    });
    assert!(started.load(SeqCst));
    release.store(true, SeqCst);
    rt.block_on(blocker).unwrap();
    for _ in 0..30 {
        rt.block_on(rt.spawn_with(Qos::Background, async {}))
            .unwrap();
    }
    let m = rt.metrics();
    assert_eq!(m.lane(Lane::Critical).spawned, 1);
    assert_eq!(m.lane(Lane::Default).spawned, 20);
    assert_eq!(m.lane(Lane::Background).spawned, 30);
    for lane in &m.lanes {
        assert_eq!(lane.completed, lane.spawned, "{:?}", lane.lane);
        assert_eq!(lane.queued, 0);
    }
    assert_eq!(m.live_tasks, 0);
    let p = &m.workers[0];
    let e = &m.workers[1];
    assert_eq!(
        (p.name.as_str(), p.class),
        ("hetsched-p-0", CoreClass::Performance)
    );
    assert_eq!(
        (e.name.as_str(), e.class),
        ("hetsched-e-0", CoreClass::Efficiency)
    );
    assert_eq!(p.polls_by_lane[Lane::Critical.index()], 1);
    assert_eq!(p.polls_by_lane[Lane::Background.index()], 0);
    assert_eq!(e.polls_by_lane[Lane::Background.index()], 30);
    assert_eq!(e.polls_by_lane[Lane::Default.index()], 20);
    assert!(e.steals_from[0] >= 1, "E stole from the P worker: {e:?}");
    assert_eq!(m.polls_by_class(CoreClass::Efficiency), 50);
    // Latency samples: the critical lane is always sampled.
    assert_eq!(m.lane(Lane::Critical).wake_to_poll.count(), 1);
    let topology = common::two_class_topology();
    for w in &m.workers {
        let hints = w.hints.as_ref().expect("hints recorded");
        if cfg!(target_os = "linux") {
            // Default `Pin::Spill`: an E worker's set is P ∪ E, never empty.
            let want = match w.class {
                CoreClass::Efficiency => HintOutcome::Applied,
                class => common::expected_pin(&topology, class),
            };
            assert_eq!(hints.pin, want, "{w:?}");
        }
        assert!(
            hints.qos == HintOutcome::Applied || matches!(hints.qos, HintOutcome::Failed { .. }),
            "{w:?}"
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn workers_are_pinned_to_their_class_cpus() {
    // Each class's CPUs; with one allowed CPU the E class has none and its worker keeps
    // the process's mask (unpinned, reported Unsupported).
    let topology = common::two_class_topology();
    let class_cpus = |class| -> Vec<usize> {
        match topology.cpus(class).iter().collect::<Vec<_>>() {
            none if none.is_empty() => common::allowed_cpus(),
            cpus => cpus,
        }
    };
    let want = (
        Some(class_cpus(CoreClass::Performance)),
        Some(class_cpus(CoreClass::Efficiency)),
    );
    for pin in [Pin::Class, Pin::Core] {
        let rt = common::two_class_builder().pin(pin).build().unwrap();
        let p = rt
            .block_on(rt.spawn_with(Qos::Interactive, async {
                hetsched::sys::current_thread_affinity()
            }))
            .unwrap();
        let e = rt
            .block_on(rt.spawn_with(Qos::Background, async {
                hetsched::sys::current_thread_affinity()
            }))
            .unwrap();
        assert_eq!((p, e), want, "{pin}");
    }
    let rt = common::two_class_builder().pin(false).build().unwrap();
    let m = rt.metrics();
    wait_until("hints recorded", || {
        rt.metrics().workers.iter().all(|w| w.hints.is_some())
    });
    drop(m);
    for w in rt.metrics().workers {
        assert_eq!(w.hints.unwrap().pin, HintOutcome::Disabled);
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_cpu_that_does_not_exist_is_a_reported_fallback_not_a_failure() {
    // The E CPU is not online on this machine: pinning fails with EINVAL, the worker runs
    // unpinned and the outcome is in the metrics. P is the first allowed CPU. Class
    // pinning: under the default `Pin::Spill` the E worker's set also holds the P CPU.
    let p = hetsched::CpuSet::from_iter([common::allowed_cpus()[0]]);
    let e = hetsched::CpuSet::from_iter(common::absent_cpus(1));
    let topo = Topology::with_classes(p, e).unwrap();
    let rt = Builder::new()
        .topology(topo)
        .pin(Pin::Class)
        .build()
        .unwrap();
    assert_eq!(
        rt.block_on(rt.spawn_with(Qos::Background, async { 3 }))
            .unwrap(),
        3
    );
    let e = rt
        .metrics()
        .workers
        .into_iter()
        .find(|w| w.class == CoreClass::Efficiency)
        .unwrap();
    assert_eq!(
        e.hints.unwrap().pin,
        HintOutcome::Failed {
            errno: libc_einval()
        }
    );
}

fn libc_einval() -> i32 {
    22
}

#[test]
fn thread_names_and_hooks() {
    let starts = Arc::new(AtomicUsize::new(0));
    let rt = Builder::new()
        .topology(common::two_class_topology())
        .workers(CoreClass::Performance, 2)
        .workers(CoreClass::Efficiency, 3)
        .thread_name("svc")
        .on_thread_start({
            let starts = starts.clone();
            move || {
                starts.fetch_add(1, SeqCst);
            }
        })
        .build()
        .unwrap();
    let name = rt
        .block_on(rt.spawn_with(Qos::Background, async {
            std::thread::current().name().map(str::to_string)
        }))
        .unwrap()
        .unwrap();
    assert!(name.starts_with("svc-e-"), "{name}");
    wait_until("every worker started", || starts.load(SeqCst) == 5);
    let names: Vec<String> = rt.metrics().workers.into_iter().map(|w| w.name).collect();
    assert_eq!(
        names,
        ["svc-p-0", "svc-p-1", "svc-e-0", "svc-e-1", "svc-e-2"]
    );
}

#[test]
fn efficiency_workers_on_a_homogeneous_machine_run_background_work() {
    let rt = Builder::new()
        .topology(common::homogeneous_topology(2))
        .workers(CoreClass::Efficiency, 1)
        .pin(Pin::Class) // under `Pin::Spill` it would spill onto the P CPUs
        .build()
        .unwrap();
    let class = rt
        .block_on(rt.spawn_with(Qos::Background, async { hetsched::current_class() }))
        .unwrap();
    assert_eq!(class, Some(CoreClass::Efficiency));
    let e = rt
        .metrics()
        .workers
        .into_iter()
        .find(|w| w.class == CoreClass::Efficiency)
        .unwrap();
    // No efficiency CPUs to pin to: reported, not an error.
    assert_eq!(e.hints.unwrap().pin, HintOutcome::Unsupported);
}

/// `LaneMetrics::queued` counts every task waiting in a queue, however it got there: spawned
/// from outside one by one, in a batch or detached, or woken from outside (a spawn from
/// outside is counted once, as spawned, and the snapshot counts it as scheduled too).
#[test]
fn queued_counts_spawns_and_wakes_from_outside_while_the_worker_is_busy() {
    let rt = Builder::new()
        .topology(common::homogeneous_topology(1))
        .workers(CoreClass::Performance, 1)
        .build()
        .unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let waiter = rt.spawn(async move {
        let _ = rx.await;
    });
    wait_until("the waiter waits on its waker", || {
        let m = rt.metrics();
        m.lane(Lane::Default).queued == 0 && m.live_tasks == 1
    });
    let (started, release) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let _release_on_failure = ReleaseOnDrop(release.clone());
    let blocker = {
        let (started, release) = (started.clone(), release.clone());
        rt.spawn(async move {
            started.store(true, SeqCst);
            spin_until(&release);
        })
    };
    spin_until(&started);
    let mut handles: Vec<_> = (0..4).map(|_| rt.spawn(async {})).collect();
    rt.spawn_batch(Qos::Default, (0..3).map(|_| async {}), &mut handles);
    for _ in 0..2 {
        rt.spawn_detached(async {});
    }
    let background: Vec<_> = (0..2)
        .map(|_| rt.spawn_with(Qos::Background, async {}))
        .collect();
    tx.send(()).unwrap();
    let m = rt.metrics();
    assert_eq!(m.lane(Lane::Default).queued, 4 + 3 + 2 + 1, "{m:?}");
    assert_eq!(m.lane(Lane::Background).queued, 2, "{m:?}");
    assert_eq!(m.lane(Lane::Default).spawned, 2 + 4 + 3 + 2, "{m:?}");
    release.store(true, SeqCst);
    for h in handles
        .into_iter()
        .chain(background)
        .chain([waiter, blocker])
    {
        futures::executor::block_on(h).unwrap();
    }
    wait_until("every queue is empty", || {
        rt.metrics().lanes.iter().all(|l| l.queued == 0)
    });
}
