//! The runtime under Miri: small workloads over the code paths with `unsafe` in them
//! (the task layer's `spawn_unchecked` and `JoinHandle` header pointer, also read by
//! `JoinHandle::qos` and by Qos escalation, the thread-local worker pointer in
//! `runtime/context.rs`) and the protocols around them (wake, abort, panic, shutdown,
//! handles that outlive the runtime, drop from inside a task, escalation's rescue, critical
//! workers, detached and batch spawns and a batch's carrier tasks, and the worker's cached
//! pointer to its own slot).
//!
//! ```text
//! cargo +nightly miri test --test miri_runtime        # (also in .ci/run)
//! ```
//!
//! Every runtime here is built with `Pin::Off` and `qos_hints(false)` on a declared
//! topology: that path makes no FFI call (no sched_setaffinity, no sched_setattr, no
//! sysfs), which Miri could not run. The same tests run natively in the normal suite.

mod common;

use common::DropCounter;
use futures::channel::oneshot;
use hetsched::{Builder, CoreClass, Pin, Qos, Runtime, Topology};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

/// P = CPU 0, E = CPU 1, no pinning, no QoS hints: no FFI at all. The CPU ids are only
/// labels (nothing is pinned), so they hold under any mask; and the topology is declared,
/// not derived from the allowed set, because detection reads sysfs and Miri's isolation
/// forbids that.
fn rt(p: usize, e: usize) -> Runtime {
    Builder::new()
        .topology(Topology::with_classes("0".parse().unwrap(), "1".parse().unwrap()).unwrap())
        .workers(CoreClass::Performance, p)
        .workers(CoreClass::Efficiency, e)
        .pin(Pin::Off)
        .qos_hints(false)
        .build()
        .unwrap()
}

#[test]
fn spawn_join_yield_and_inherit_on_every_lane() {
    let rt = rt(1, 1);
    let outputs: Vec<_> = Qos::ALL
        .into_iter()
        .map(|qos| {
            rt.spawn_with(qos, async move {
                hetsched::yield_now().await;
                let child = hetsched::spawn(async { hetsched::current_qos() });
                (qos, child.await.unwrap(), hetsched::current_class())
            })
        })
        .collect();
    for h in outputs {
        let (qos, inherited, class) = rt.block_on(h).unwrap();
        assert_eq!(inherited, Some(qos));
        if qos.is_latency_critical() {
            assert_eq!(class, Some(CoreClass::Performance));
        }
        if qos == Qos::Background {
            assert_eq!(class, Some(CoreClass::Efficiency));
        }
    }
}

#[test]
fn wakes_from_a_foreign_thread() {
    let rt = rt(1, 1);
    let (tx, rx) = oneshot::channel::<u32>();
    let task = rt.spawn_with(Qos::Interactive, async move { rx.await.unwrap() + 1 });
    let waker = std::thread::spawn(move || tx.send(41).unwrap());
    assert_eq!(rt.block_on(task).unwrap(), 42);
    waker.join().unwrap();
}

#[test]
fn abort_and_panic_become_join_errors_and_drop_the_future_once() {
    let rt = rt(1, 0);
    let drops = DropCounter::default();
    let token = drops.token();
    let pending = rt.spawn(async move {
        let _token = token;
        std::future::pending::<()>().await
    });
    pending.abort();
    assert!(rt.block_on(pending).unwrap_err().is_cancelled());
    assert_eq!(drops.get(), 1);
    let token = drops.token();
    let panics = rt.spawn(async move {
        let _token = token;
        panic!("miri panic");
    });
    let err = rt.block_on(panics).unwrap_err();
    assert_eq!(err.into_panic().downcast_ref::<&str>(), Some(&"miri panic"));
    assert_eq!(drops.get(), 2);
}

#[test]
fn shutdown_with_queued_waiting_and_finished_tasks() {
    let rt = rt(1, 1);
    let drops = DropCounter::default();
    let finished = rt.spawn(async { String::from("kept") });
    while !finished.is_finished() {
        std::thread::yield_now();
    }
    let (_keep_tx, rx) = oneshot::channel::<()>();
    let token = drops.token();
    let waiting = rt.spawn_with(Qos::Background, async move {
        let _token = token;
        let _ = rx.await;
    });
    let release = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let (r, s, token) = (release.clone(), started.clone(), drops.token());
    let busy = rt.spawn_with(Qos::Interactive, async move {
        let _token = token;
        s.store(true, SeqCst);
        while !r.load(SeqCst) {
            std::thread::yield_now();
        }
    });
    while !started.load(SeqCst) {
        std::thread::yield_now();
    }
    let queued: Vec<_> = (0..3)
        .map(|_| {
            let token = drops.token();
            rt.spawn_with(Qos::UserInitiated, async move {
                let _token = token;
            })
        })
        .collect();
    let releaser = std::thread::spawn(move || release.store(true, SeqCst));
    drop(rt);
    releaser.join().unwrap();
    assert_eq!(drops.get(), 5, "every future dropped exactly once");
    // Handles outlive the runtime.
    assert_eq!(futures::executor::block_on(finished).unwrap(), "kept");
    assert!(futures::executor::block_on(waiting)
        .unwrap_err()
        .is_cancelled());
    let _ = futures::executor::block_on(busy);
    for q in queued {
        let _ = futures::executor::block_on(q);
    }
}

#[test]
fn runtime_dropped_from_its_own_task_and_block_on_on_a_worker() {
    let rt = rt(1, 1);
    let err = rt
        .block_on(rt.spawn(async { hetsched::Handle::current().block_on(async { 1 }) }))
        .unwrap_err();
    assert!(err.is_panic());
    let handle = rt.handle();
    let slot = Arc::new(Mutex::new(Some(rt)));
    let (tx, rx) = std::sync::mpsc::channel();
    let s = slot.clone();
    drop(handle.spawn(async move {
        drop(s.lock().unwrap().take());
        tx.send(()).unwrap();
    }));
    rx.recv().unwrap();
    // Spawning now is refused with a cancelled handle, the future dropped at once.
    let drops = DropCounter::default();
    let token = drops.token();
    let refused = handle.spawn(async move {
        let _token = token;
    });
    assert_eq!(drops.get(), 1);
    assert!(futures::executor::block_on(refused)
        .unwrap_err()
        .is_cancelled());
}

#[test]
fn homogeneous_machine_small_tree() {
    fn tree(depth: u32) -> std::pin::Pin<Box<dyn std::future::Future<Output = u32> + Send>> {
        Box::pin(async move {
            if depth == 0 {
                return 1;
            }
            let a = hetsched::spawn(tree(depth - 1));
            let b = hetsched::spawn_with(Qos::ALL[depth as usize % 5], tree(depth - 1));
            a.await.unwrap() + b.await.unwrap()
        })
    }
    let rt = Builder::new()
        .topology(Topology::uniform(2))
        .pin(Pin::Off)
        .qos_hints(false)
        .build()
        .unwrap();
    let depth = if cfg!(miri) { 4 } else { 12 };
    assert_eq!(rt.block_on(rt.spawn(tree(depth))).unwrap(), 1 << depth);
}

#[test]
fn escalation_rescues_a_queued_task_and_critical_workers_take_critical_work() {
    let rt = Builder::new()
        .topology(Topology::with_classes("0".parse().unwrap(), "1".parse().unwrap()).unwrap())
        .workers(CoreClass::Performance, 1)
        .workers(CoreClass::Efficiency, 1)
        .critical_workers(1)
        .pin(Pin::Off)
        .qos_hints(false)
        .build()
        .unwrap();
    let drops = DropCounter::default();
    let (token_a, token_b) = (drops.token(), drops.token());
    let out = rt
        .block_on(rt.spawn_with(Qos::Interactive, async move {
            // Two Background tasks queued; awaiting the second raises it and may take the
            // queue apart to find it (the first is put back).
            let first = hetsched::spawn_with(Qos::Background, async move {
                let _token = token_a;
                hetsched::current_qos()
            });
            let second = hetsched::spawn_with(Qos::Background, async move {
                let _token = token_b;
                hetsched::current_qos()
            });
            let seen = second.qos();
            let raised = (seen, second.await.unwrap());
            (raised, first.await.unwrap())
        }))
        .unwrap();
    let ((before, second_ran_at), first_ran_at) = out;
    assert_eq!(before, Qos::Background);
    // Polled at Background if the E worker took it before the await, else raised.
    assert!(matches!(
        second_ran_at,
        Some(Qos::Background | Qos::Interactive)
    ));
    assert!(matches!(
        first_ran_at,
        Some(Qos::Background | Qos::Interactive)
    ));
    drop(rt);
    assert_eq!(drops.get(), 2);
}

#[test]
fn detached_and_batch_spawns_from_inside_and_outside_drop_every_future_once() {
    let rt = rt(1, 1);
    let drops = DropCounter::default();
    let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let job = |drops: &DropCounter, ran: &Arc<std::sync::atomic::AtomicUsize>| {
        let (token, ran) = (drops.token(), ran.clone());
        async move {
            let _token = token;
            ran.fetch_add(1, SeqCst);
        }
    };
    // From outside: a detached task, a batch with handles, a carried detached batch.
    rt.handle().spawn_detached(job(&drops, &ran));
    let mut handles = Vec::new();
    rt.handle().spawn_batch(
        Qos::Utility,
        (0..3).map(|_| job(&drops, &ran)),
        &mut handles,
    );
    rt.handle()
        .spawn_batch_detached(Qos::Background, (0..3).map(|_| job(&drops, &ran)));
    // From inside a task: the same, spawned from the worker.
    let (inner_drops, inner_ran) = (drops.clone(), ran.clone());
    rt.block_on(rt.spawn(async move {
        hetsched::spawn_detached(job(&inner_drops, &inner_ran));
        hetsched::Handle::current()
            .spawn_batch_detached(Qos::Default, (0..2).map(|_| job(&inner_drops, &inner_ran)));
    }))
    .unwrap();
    for handle in handles {
        rt.block_on(handle).unwrap();
    }
    while ran.load(SeqCst) < 10 {
        std::thread::yield_now();
    }
    drop(rt);
    assert_eq!(drops.get(), 10, "every future dropped exactly once");
}
