//! Stress: random spawn trees of 1,000,000 tasks across all five Qos levels, with yields,
//! wakes from foreign threads, aborts and panics mixed in (the workload is
//! `examples/stress.rs`). Every task must complete or be dropped exactly once, every
//! outcome must match the plan, every poll must respect the lane rules, and the sums must
//! add up — on four runtime shapes.
//!
//! Under Miri the trees shrink to a few dozen tasks (see tests/miri_runtime.rs for what
//! Miri runs); natively each test runs the full million.

#[path = "../examples/stress.rs"]
#[allow(dead_code)]
mod stress;

use hetsched::{Builder, CoreClass, Topology};

fn first_allowed_cpu() -> hetsched::CpuSet {
    Topology::detect().allowed().iter().take(1).collect()
}

fn tasks() -> u64 {
    if cfg!(miri) {
        40
    } else {
        1_000_000
    }
}

fn check(rt: hetsched::Runtime, seed: u64) {
    let report = stress::run(&rt, tasks(), seed, 2);
    drop(rt);
    let problems = report.problems();
    assert!(problems.is_empty(), "{problems:#?}\n{report:#?}");
    // The plan mixes every kind of leaf in; make sure the run really did.
    let c = &report.counters;
    for (what, n) in [
        ("foreign wakes", &c.foreign_wakes),
        ("foreign aborts", &c.foreign_aborts),
        ("panics", &c.panics_seen),
        ("cancellations", &c.cancelled_seen),
        ("yields", &c.yields),
    ] {
        let n = n.load(std::sync::atomic::Ordering::SeqCst);
        assert!(cfg!(miri) || n > 1000, "only {n} {what}: {report:#?}");
    }
    // Parents await children of every Qos: about one await in two raises the child.
    assert!(
        cfg!(miri) || report.escalations > 1000,
        "only {} escalations: {report:#?}",
        report.escalations
    );
}

/// Two P and two E workers on the declared two-class machine.
#[test]
fn million_task_tree_on_two_p_and_two_e_workers() {
    check(stress::two_class_runtime(2, 2), 1);
}

/// Sixteen workers (8 P, 8 E) on this 2-core box: more threads than cores.
#[test]
fn million_task_tree_on_sixteen_workers_over_two_cores() {
    check(stress::two_class_runtime(8, 8), 2);
}

/// One worker does everything (Background included: with no E workers it runs on P).
#[test]
fn million_task_tree_on_a_single_worker() {
    let rt = Builder::new()
        // One CPU this process may use (CPU 0 on an unrestricted box).
        .topology(Topology::with_classes(first_allowed_cpu(), hetsched::CpuSet::new()).unwrap())
        .workers(CoreClass::Performance, 1)
        .build()
        .unwrap();
    check(rt, 3);
}

/// Two P workers and no E workers on a two-class machine: Background runs on P.
#[test]
fn million_task_tree_without_efficiency_workers() {
    check(stress::two_class_runtime(2, 0), 4);
}
