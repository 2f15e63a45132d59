//! Model 3: shutdown racing with a spawn and with a wake from a foreign thread: every
//! future is dropped exactly once, the runtime's shared state is freed (loom checks every
//! loom `Arc` is released at the end of each interleaving), and nothing hangs.
#![cfg(loom)]

use hetsched::Qos;
use loom_tests::{after, model, runtime, DropCount, Probe, Signal};

/// A foreign thread spawns through a `Handle` while the main thread drops the runtime.
/// The spawn may be refused (shutdown already began), run, be dropped from the injector by
/// the spawner itself (its push raced shutdown), or be dropped by the last worker out.
///
/// Planted bug `no_inject_recheck` (a push does not re-check the shutdown flag after its
/// fence): a task pushed after the last worker drained the injectors stays there forever;
/// awaiting its handle hangs and loom reports a deadlock.
#[test]
fn shutdown_races_a_spawn_from_a_foreign_thread() {
    model(|| {
        let rt = runtime(1, 0);
        let drops = DropCount::new();
        let handle = rt.handle();
        let token = drops.token();
        let spawner = loom::thread::spawn(move || {
            let task = handle.spawn_with(Qos::Default, async move {
                drop(token);
                8
            });
            drop(handle);
            // The handle outlives the runtime: it resolves either way.
            match loom::future::block_on(task) {
                Ok(value) => assert_eq!(value, 8),
                Err(err) => assert!(err.is_cancelled(), "unexpected {err:?}"),
            }
        });
        drop(rt);
        spawner.join().unwrap();
        assert_eq!(drops.get(), 1, "the future must be dropped exactly once");
    });
}

/// A task waits on a signal; a foreign thread fires it while the main thread drops the
/// runtime. The wake can come before, during or after shutdown (after the last worker
/// exited, too): the task runs or is dropped by shutdown, exactly once, and its handle
/// resolves.
///
/// A second task waits on a waker nobody fires: shutdown itself must reach and drop it.
///
/// Planted bug `no_wake_all` (shutdown does not reach tasks waiting on a waker): the second
/// task is never dropped and awaiting its handle hangs: loom reports a deadlock.
///
/// Planted bug `no_register_on_pending` (a task that waits is never entered in the registry,
/// which since the per-task-cost work holds only tasks that returned `Pending`): shutdown
/// cannot reach the second task either: a deadlock.
#[test]
fn shutdown_races_a_wake_from_a_foreign_thread() {
    model(|| {
        let rt = runtime(1, 0);
        let probe = Probe::new();
        let signal = Signal::new();
        let task = rt.spawn_with(Qos::Default, probe.wrap(after(signal.clone(), 9)));
        let forgotten = Probe::new();
        let never = Signal::new();
        let idle = rt.spawn_with(Qos::Default, forgotten.wrap(after(never.clone(), ())));
        let waker = {
            let signal = signal.clone();
            loom::thread::spawn(move || signal.fire())
        };
        drop(rt);
        waker.join().unwrap();
        match loom::future::block_on(task) {
            Ok(value) => assert_eq!(value, 9),
            Err(err) => assert!(err.is_cancelled(), "unexpected {err:?}"),
        }
        let err = loom::future::block_on(idle).unwrap_err();
        assert!(err.is_cancelled(), "unexpected {err:?}");
        signal.clear();
        never.clear();
        assert_eq!(probe.drops(), 1, "the future must be dropped exactly once");
        assert_eq!(
            forgotten.drops(),
            1,
            "shutdown must drop a waiting task once"
        );
    });
}

/// A foreign thread spawns a batch of two tasks (one wake-up for both: several injector
/// pushes, one fence, one shutdown re-check) while the main thread drops the runtime:
/// every future is dropped exactly once and every handle resolves.
///
/// Planted bug `no_inject_recheck`: a batch pushed after the last worker drained the
/// injectors stays there; awaiting a handle hangs: a deadlock.
#[test]
fn shutdown_races_a_batch_spawn_from_a_foreign_thread() {
    model(|| {
        let rt = runtime(1, 0);
        let drops = DropCount::new();
        let handle = rt.handle();
        let tokens = [drops.token(), drops.token()];
        let spawner = loom::thread::spawn(move || {
            let mut handles = Vec::new();
            let futures = tokens.into_iter().map(|token| async move {
                drop(token);
                3
            });
            handle.spawn_batch(Qos::Default, futures, &mut handles);
            drop(handle);
            for task in handles {
                match loom::future::block_on(task) {
                    Ok(value) => assert_eq!(value, 3),
                    Err(err) => assert!(err.is_cancelled(), "unexpected {err:?}"),
                }
            }
        });
        drop(rt);
        spawner.join().unwrap();
        assert_eq!(drops.get(), 2, "every future must be dropped exactly once");
    });
}

/// A foreign thread spawns a detached batch (carried to the worker in one carrier task,
/// which spawns it from there) and a detached task while the main thread drops the
/// runtime: each future is dropped exactly once, whether it ran, was dropped in its
/// carrier, or was refused.
#[test]
fn shutdown_races_detached_spawns_from_a_foreign_thread() {
    model(|| {
        let rt = runtime(1, 0);
        let drops = DropCount::new();
        let handle = rt.handle();
        let (batch, single) = (drops.token(), drops.token());
        let spawner = loom::thread::spawn(move || {
            handle.spawn_batch_detached(Qos::Default, [async move { drop(batch) }]);
            handle.spawn_detached(async move { drop(single) });
        });
        drop(rt);
        spawner.join().unwrap();
        // The runtime is gone and the spawner is done: nothing may still hold a future.
        assert_eq!(drops.get(), 2, "every future must be dropped exactly once");
    });
}
