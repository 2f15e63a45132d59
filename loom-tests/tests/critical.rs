//! Model: the critical workers' idle list. Critical workers sleep on a list of their own
//! that only Critical work reaches (`policy::wake_order`), take only the Critical lane
//! (`policy::lanes_for`), and are woken first for Critical work. One P worker and one
//! critical worker: three threads with the main one.
#![cfg(loom)]

use hetsched::runtime::__loom;
use hetsched::{Lane, Qos, WorkerRole};
use loom_tests::{critical_runtime, model, role_counts, spin_until};

/// Default work pushed from outside while both workers may be starting, searching or
/// asleep: it runs, on the P worker, and never wakes the critical worker.
///
/// Planted bugs:
/// - `critical_takes_default` (critical workers may take the Default lane): a searching
///   critical worker takes the task from the injector: `the critical worker polled Default
///   work`;
/// - `default_wakes_critical` (Default work wakes critical workers first): the push wakes
///   the critical worker, which may not run it, while the P worker sleeps on: loom reports
///   a deadlock, or, where the P worker was still searching, `Default work woke the
///   critical worker`.
#[test]
fn default_work_never_reaches_the_critical_worker() {
    model(|| {
        let rt = critical_runtime(1, 1);
        let task = rt.spawn_with(Qos::Default, async { 1 });
        assert_eq!(rt.block_on(task).unwrap(), 1);
        let (polls, unparks) = role_counts(&rt, WorkerRole::Critical, Lane::Default);
        assert_eq!(polls, 0, "the critical worker polled Default work");
        assert_eq!(unparks, 0, "Default work woke the critical worker");
    });
}

/// Both workers asleep, one Critical task pushed from outside: the critical worker is
/// woken for it and polls it; the P worker sleeps on (one wake per push).
///
/// Planted bug `critical_wakes_p_first` (Critical work wakes P workers first): the P worker
/// is woken and polls it: `the P worker was woken for Critical work`.
#[test]
fn critical_work_wakes_the_critical_worker_first() {
    model(|| {
        let rt = critical_runtime(1, 1);
        spin_until(|| __loom::parks(&rt) == 2);
        let task = rt.spawn_with(Qos::Interactive, async { 2 });
        assert_eq!(rt.block_on(task).unwrap(), 2);
        let (p_polls, p_unparks) = role_counts(&rt, WorkerRole::Performance, Lane::Critical);
        assert_eq!(
            (p_polls, p_unparks),
            (0, 0),
            "the P worker was woken for Critical work"
        );
        let (c_polls, c_unparks) = role_counts(&rt, WorkerRole::Critical, Lane::Critical);
        assert_eq!((c_polls, c_unparks), (1, 1));
    });
}
