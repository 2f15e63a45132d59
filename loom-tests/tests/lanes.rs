//! Model 5: lane routing. A latency-critical task is polled only by a performance worker,
//! also when it is woken on an efficiency worker or from a foreign thread (invariant 1).
#![cfg(loom)]

use hetsched::{CoreClass, Qos};
use loom_tests::{model, runtime, Probe, Signal};

/// A latency-critical task that asserts, on every poll, that a P worker polls it.
async fn critical_waiting_for(signal: Signal) {
    std::future::poll_fn(|cx| {
        assert_eq!(
            hetsched::current_class(),
            Some(CoreClass::Performance),
            "a latency-critical task was polled off a performance worker"
        );
        signal.poll_fired(cx)
    })
    .await
}

/// The critical task is woken by a background task, which only an E worker may run; so
/// the wake happens on the E worker, which must hand the task to a P worker.
///
/// Planted bug `e_takes_critical` (E workers may take the critical lane): the E worker puts
/// the woken task in its own LIFO slot and polls it: the assertion fails.
#[test]
fn critical_task_woken_on_an_efficiency_worker_runs_on_a_performance_worker() {
    model(|| {
        let rt = runtime(1, 1);
        let probe = Probe::new();
        let signal = Signal::new();
        let critical = rt.spawn_with(
            Qos::Interactive,
            probe.wrap(critical_waiting_for(signal.clone())),
        );
        let waking = signal.clone();
        let background = rt.spawn_with(Qos::Background, async move {
            assert_eq!(hetsched::current_class(), Some(CoreClass::Efficiency));
            waking.fire();
        });
        rt.block_on(background).unwrap();
        rt.block_on(critical).unwrap();
        signal.clear();
        drop(rt);
        assert_eq!(probe.drops(), 1);
    });
}

/// The critical task is woken from a foreign thread while both workers may be asleep: only
/// the P worker may be woken for it, and it runs there.
///
/// Planted bug `e_takes_critical` also fails here: the E worker may take it from the
/// injector.
#[test]
fn critical_task_woken_from_a_foreign_thread_runs_on_a_performance_worker() {
    model(|| {
        let rt = runtime(1, 1);
        let signal = Signal::new();
        let critical = rt.spawn_with(Qos::UserInitiated, critical_waiting_for(signal.clone()));
        let waker = {
            let signal = signal.clone();
            loom::thread::spawn(move || signal.fire())
        };
        rt.block_on(critical).unwrap();
        waker.join().unwrap();
        signal.clear();
    });
}
