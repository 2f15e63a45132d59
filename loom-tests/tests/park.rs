//! Model 2: park / notify. Work pushed while the last worker is going to sleep is always
//! picked up; an idle runtime wakes one worker per push in the quiet case.
#![cfg(loom)]

use hetsched::runtime::__loom;
use hetsched::Qos;
use loom_tests::{after, model, runtime, runtime_with, spin_until, Signal};

/// Two tasks pushed one after the other from outside while the only worker goes to sleep,
/// wakes, runs the first, and goes back to sleep. The first push can land anywhere in the
/// worker's `prepare_sleep` → recheck → `cancel_sleep` / park sequence, including after a
/// notifier popped the worker off the sleeper list but before the worker cancelled its
/// sleep (it then keeps a stale unpark token).
///
/// Planted bugs:
/// - `drop_recheck` (the stale-token bug fixed in 33e7ce5: a woken worker does not check
///   it was taken off the sleeper list) — the stale token makes the worker count itself as
///   a searcher nobody counted; the searching count wraps and the second push wakes nobody:
///   loom reports a deadlock.
/// - `skip_sleep_recheck` (no look at the queues after registering as a sleeper) — a push
///   that saw no sleeper yet is never picked up: deadlock.
/// - `spin_leaves_a_searcher` (a worker that looked for work a little longer before
///   sleeping, `Builder::idle_spin`, as a searcher, goes to sleep still counted as one) —
///   the next push takes the work for found by that searcher and wakes nobody: deadlock.
///   (Under loom the spin is one look: the protocol is the same for any length.)
#[test]
fn work_pushed_while_the_last_worker_falls_asleep_is_picked_up() {
    model(|| {
        let rt = runtime(1, 0);
        let first = rt.spawn_with(Qos::Default, async { 1 });
        assert_eq!(rt.block_on(first).unwrap(), 1);
        let second = rt.spawn_with(Qos::Default, async { 2 });
        assert_eq!(rt.block_on(second).unwrap(), 2);
    });
}

/// The same with no look before sleeping (`Builder::idle_spin(ZERO)`, a supported setting):
/// a worker out of work goes to sleep at once, not counted as a searcher.
///
/// Planted bug `skip_sleep_recheck` is caught here too (`mutants.sh` runs it on the model
/// above).
#[test]
fn work_pushed_while_the_last_worker_falls_asleep_at_once_is_picked_up() {
    model(|| {
        let rt = runtime_with(1, 0, |b| b.idle_spin(std::time::Duration::ZERO));
        let first = rt.spawn_with(Qos::Default, async { 1 });
        assert_eq!(rt.block_on(first).unwrap(), 1);
        let second = rt.spawn_with(Qos::Default, async { 2 });
        assert_eq!(rt.block_on(second).unwrap(), 2);
    });
}

/// The same race with two worker classes: a push from a foreign thread of utility work
/// (E workers preferred, P workers allowed) and a push of latency-critical work from the
/// main thread (P workers only), while both workers fall asleep.
#[test]
fn pushes_for_both_classes_while_both_workers_fall_asleep_are_picked_up() {
    model(|| {
        let rt = runtime(1, 1);
        let handle = rt.handle();
        let foreign = loom::thread::spawn(move || handle.spawn_with(Qos::Utility, async { 3 }));
        let critical = rt.spawn_with(Qos::Interactive, async { 4 });
        assert_eq!(rt.block_on(critical).unwrap(), 4);
        let utility = foreign.join().unwrap();
        assert_eq!(rt.block_on(utility).unwrap(), 3);
    });
}

/// Quiet case: both workers are asleep, one task is pushed: exactly one worker is woken.
///
/// Planted bug `notify_unconditionally` (the searcher that finds work always wakes another
/// worker, even with nothing left to do): some interleaving shows 2 unparks.
#[test]
fn an_idle_runtime_wakes_one_worker_per_push() {
    model(|| {
        let rt = runtime(2, 0);
        // Wait until both workers committed to sleep (nothing to do, nothing pushed).
        spin_until(|| __loom::parks(&rt) == 2);
        let task = rt.spawn_with(Qos::Default, async { 5 });
        assert_eq!(rt.block_on(task).unwrap(), 5);
        assert_eq!(
            __loom::unparks(&rt),
            1,
            "one push into a quiet runtime must wake exactly one worker"
        );
    });
}

/// A lone task that yields on a quiet runtime: its worker runs it again at once, and the
/// other worker, asleep, is never woken for it (`policy::wakes_a_peer`): the push of the
/// task wakes one worker, the yields none.
///
/// Planted bug `lone_yield_wakes_a_peer` (every yield wakes a sleeping peer): some
/// interleaving shows 2 unparks.
#[test]
fn a_lone_yielding_task_wakes_no_peer() {
    model(|| {
        let rt = runtime(2, 0);
        spin_until(|| __loom::parks(&rt) == 2);
        let task = rt.spawn_with(Qos::Default, async {
            hetsched::yield_now().await;
            6
        });
        assert_eq!(rt.block_on(task).unwrap(), 6);
        // Both back on their sleeper lists: every wake-up is counted by now.
        spin_until(|| __loom::listed_sleepers(&rt) == 2);
        assert_eq!(
            __loom::unparks(&rt),
            1,
            "a lone yield woke a peer (one unpark is the push's)"
        );
    });
}

/// The other half of the lone-yield rule: a Default task that yields on the E worker (it was
/// woken there, into the E worker's LIFO slot, with no wake-up for anyone) wakes the
/// sleeping P worker, the lane's first choice, which may take it onto its faster core.
/// Counted wake-ups: the P worker for the task's spawn, the E worker for the Background
/// task that wakes it, the P worker again for the yield.
///
/// Planted bug `lone_yield_ignores_the_first_choice` (a lone yield wakes nobody on any
/// worker): the P worker sleeps through the yield, 2 unparks.
#[test]
fn a_lone_yield_off_the_first_choice_wakes_it() {
    model(|| {
        let rt = runtime(1, 1);
        spin_until(|| __loom::parks(&rt) == 2);
        let signal = Signal::new();
        let waited = signal.clone();
        let task = rt.spawn_with(Qos::Default, async move {
            after(waited, ()).await;
            hetsched::yield_now().await;
            7
        });
        // The P worker ran the task until it waited, and sleeps again.
        spin_until(|| __loom::parks(&rt) == 3);
        drop(rt.spawn_with(Qos::Background, async move { signal.fire() }));
        assert_eq!(rt.block_on(task).unwrap(), 7);
        // Both back on their sleeper lists: every wake-up is counted by now.
        spin_until(|| __loom::listed_sleepers(&rt) == 2);
        assert_eq!(
            __loom::unparks(&rt),
            3,
            "the yield on the E worker did not wake the P worker"
        );
    });
}
