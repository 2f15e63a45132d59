//! Model: Qos escalation's rescue (`src/runtime/escalate.rs`). An Interactive task awaits
//! the handle of a Background task queued behind another one, while the E worker (the
//! only one that runs Background) may be taking either from the same queue: the rescue
//! takes the queue apart, puts back what it passed, and schedules the escalated task in the
//! Critical lane. Every task runs exactly once, is never polled on two threads at once,
//! and the escalated one is never left to the E worker once raised.
#![cfg(loom)]

use hetsched::{CoreClass, Qos};
use loom_tests::{model, runtime, Probe, Signal};

/// Planted bug `rescue_forgets_passed` (the tasks a rescue passed on its way are not put
/// back): the first Background task never runs: loom reports a deadlock.
#[test]
fn a_rescue_races_the_efficiency_worker_and_loses_no_task() {
    model(|| {
        let rt = runtime(1, 1);
        let (first_probe, second_probe) = (Probe::new(), Probe::new());
        let first = rt.spawn_with(Qos::Background, first_probe.wrap(async { 1 }));
        let second = rt.spawn_with(
            Qos::Background,
            second_probe.wrap(async {
                // Raised before this poll: only the P worker may run it now.
                let qos = hetsched::current_qos().unwrap();
                let class = hetsched::current_class().unwrap();
                assert!(
                    qos == Qos::Background || class == CoreClass::Performance,
                    "an escalated task was polled by the E worker"
                );
                2
            }),
        );
        let waiter = rt.spawn_with(Qos::Interactive, async move { second.await.unwrap() });
        assert_eq!(rt.block_on(waiter).unwrap(), 2);
        assert_eq!(rt.block_on(first).unwrap(), 1);
        drop(rt);
        assert_eq!((first_probe.polls(), second_probe.polls()), (1, 1));
        assert_eq!((first_probe.drops(), second_probe.drops()), (1, 1));
    });
}

/// A task raised while it waits in a worker's LIFO slot, after that worker's search has
/// looked at the new lane and before the search ends (two P workers: a Default task woken
/// into one worker's slot is raised to Critical by an Interactive waiter on the other): the
/// search must still take it (`WorkerCore::lifo_left_behind`), or the worker sleeps with
/// it, since nobody else can reach the slot.
///
/// Planted bug `no_lifo_fallback` (the search ends without looking at the slot): loom
/// reports a deadlock.
#[test]
fn a_task_raised_in_a_lifo_slot_during_a_search_still_runs() {
    model(|| {
        let rt = runtime(2, 0);
        let signal = Signal::new();
        let waiting = signal.clone();
        let raised = rt.spawn_with(
            Qos::Default,
            std::future::poll_fn(move |cx| waiting.poll_fired(cx).map(|()| 7)),
        );
        // Woken from a Default task: into the waking worker's LIFO slot.
        let firing = signal.clone();
        let waker = rt.spawn_with(Qos::Default, async move { firing.fire() });
        let waiter = rt.spawn_with(Qos::Interactive, async move { raised.await.unwrap() });
        assert_eq!(rt.block_on(waiter).unwrap(), 7);
        rt.block_on(waker).unwrap();
        signal.clear();
    });
}
