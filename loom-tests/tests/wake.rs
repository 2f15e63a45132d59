//! Model 1: a task woken while running, while queued, and after completion is never lost
//! and never polled on two threads at once.
#![cfg(loom)]

use hetsched::Qos;
use loom_tests::{after, model, runtime, Probe, Signal};

/// A foreign thread fires the task's signal and then wakes it once more. Depending on the
/// interleaving the first wake lands before the first poll, while the task is being polled
/// (the raw task reschedules it after the poll), or while it waits; the second lands while
/// it is queued, running, or after it finished.
///
/// Planted bug `inject_no_notify` (a wake from outside the runtime pushes the task to the
/// injector without waking a sleeping worker): the task is lost and loom reports a deadlock.
#[test]
fn foreign_wakes_while_running_queued_and_after_completion() {
    model(|| {
        let rt = runtime(1, 0);
        let probe = Probe::new();
        let signal = Signal::new();
        let handle = rt.spawn_with(Qos::Default, probe.wrap(after(signal.clone(), 7)));
        let waker = {
            let signal = signal.clone();
            loom::thread::spawn(move || {
                signal.fire();
                signal.fire(); // a second, stale wake
            })
        };
        assert_eq!(
            rt.block_on(handle).unwrap(),
            7,
            "the woken task must finish"
        );
        waker.join().unwrap();
        signal.clear();
        drop(rt);
        assert!(
            probe.polls() <= 3,
            "polled {} times for 2 wakes",
            probe.polls()
        );
        assert_eq!(probe.drops(), 1, "the future must be dropped exactly once");
    });
}

/// A task on the runtime wakes another task (the LIFO-slot path), on a runtime with a P and
/// an E worker, while a foreign thread wakes it too: the waiting task can be in a worker's
/// LIFO slot, its local queue, the injector, or stolen by the other worker.
#[test]
fn task_and_foreign_thread_wake_the_same_task() {
    model(|| {
        let rt = runtime(1, 1);
        let probe = Probe::new();
        let signal = Signal::new();
        let waiter = rt.spawn_with(Qos::Default, probe.wrap(after(signal.clone(), 1)));
        let waking = signal.clone();
        let task_waker = rt.spawn_with(Qos::Default, async move { waking.fire() });
        let foreign = {
            let signal = signal.clone();
            loom::thread::spawn(move || signal.fire())
        };
        assert_eq!(rt.block_on(waiter).unwrap(), 1);
        rt.block_on(task_waker).unwrap();
        foreign.join().unwrap();
        signal.clear();
        drop(rt);
        assert!(
            probe.polls() <= 3,
            "polled {} times for 2 wakes",
            probe.polls()
        );
        assert_eq!(probe.drops(), 1);
    });
}
