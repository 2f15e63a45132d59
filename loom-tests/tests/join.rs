//! Model 4: `JoinHandle` — output taken vs completion vs abort vs drop. Whatever wins, the
//! handle resolves to the output or a cancelled error, and the future and the output are
//! each dropped exactly once.
#![cfg(loom)]

use hetsched::Qos;
use loom_tests::{after, model, runtime, DropCount, DropToken, Probe, Signal};

/// Output type that counts its drops.
struct Output(#[allow(dead_code)] DropToken);

/// Abort races completion: the main thread aborts while the worker polls the task (which
/// finishes on its first poll), then takes the result.
#[test]
fn abort_races_completion() {
    model(|| {
        let rt = runtime(1, 0);
        let probe = Probe::new();
        let outputs = DropCount::new();
        let token = outputs.token();
        let task = rt.spawn_with(Qos::Default, probe.wrap(async move { Output(token) }));
        task.abort();
        match rt.block_on(task) {
            Ok(output) => drop(output),
            Err(err) => assert!(err.is_cancelled(), "unexpected {err:?}"),
        }
        drop(rt);
        assert_eq!(probe.drops(), 1, "future dropped exactly once");
        assert_eq!(outputs.get(), 1, "output dropped exactly once");
    });
}

/// Dropping the handle (detach) races completion: the output is dropped by whoever comes
/// second, exactly once.
#[test]
fn detach_races_completion() {
    model(|| {
        let rt = runtime(1, 0);
        let probe = Probe::new();
        let outputs = DropCount::new();
        let token = outputs.token();
        let task = rt.spawn_with(Qos::Default, probe.wrap(async move { Output(token) }));
        drop(task);
        drop(rt);
        assert_eq!(probe.drops(), 1, "future dropped exactly once");
        assert_eq!(outputs.get(), 1, "output dropped exactly once");
    });
}

/// Aborting a task that waits on a waker nobody fires: the abort must wake it so that it is
/// cancelled, and the handle resolves to a cancelled error while the runtime still runs.
/// A foreign thread takes the result, racing the worker.
///
/// Planted bug `abort_no_wake` (abort only sets the flag): the task is never polled again,
/// the handle never resolves, and loom reports a deadlock.
#[test]
fn abort_wakes_a_waiting_task_and_a_foreign_thread_takes_the_result() {
    model(|| {
        let rt = runtime(1, 0);
        let probe = Probe::new();
        let never = Signal::new();
        let task = rt.spawn_with(Qos::Default, probe.wrap(after(never.clone(), ())));
        let joiner = loom::thread::spawn(move || {
            task.abort();
            let err = loom::future::block_on(task).unwrap_err();
            assert!(err.is_cancelled(), "unexpected {err:?}");
        });
        joiner.join().unwrap();
        never.clear();
        drop(rt);
        assert_eq!(probe.drops(), 1, "future dropped exactly once");
    });
}

/// The output is taken after the runtime shut down, racing the task's completion with the
/// shutdown: a finished task's output is still there; an unfinished one is cancelled.
#[test]
fn output_taken_after_shutdown_races_completion() {
    model(|| {
        let rt = runtime(1, 0);
        let outputs = DropCount::new();
        let token = outputs.token();
        let task = rt.spawn_with(Qos::Default, async move { Output(token) });
        drop(rt);
        match loom::future::block_on(task) {
            Ok(output) => drop(output),
            Err(err) => {
                assert!(err.is_cancelled(), "unexpected {err:?}");
                // Cancelled before it ran: the future (holding the token) was dropped.
            }
        }
        assert_eq!(
            outputs.get(),
            1,
            "output (or the future holding it) dropped once"
        );
    });
}
