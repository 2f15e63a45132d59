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
