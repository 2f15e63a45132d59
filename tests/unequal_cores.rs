//! Thread placement on unequal cores (`Pin::Spill`, the default; `Pin::Class`): where each
//! class's workers may run, at what OS priority, and how many there are by default.
//!
//! Classes are declared on the CPUs this process may use (P = the first allowed CPU, E =
//! the rest), so the tests hold under any CPU mask. With one allowed CPU, E is declared on
//! an offline CPU id: pinning an E worker to that alone fails (reported), while a spilling
//! E worker's set still holds the allowed P CPU.
#![cfg(all(target_os = "linux", not(miri)))]

mod common;

use hetsched::sys::HintOutcome;
use hetsched::{Builder, CoreClass, CpuSet, Pin, Qos, Runtime, Topology};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

struct Declared {
    topology: Topology,
    p: Vec<usize>,
    e: Vec<usize>,
    allowed: Vec<usize>,
}

fn declared() -> Declared {
    let allowed: Vec<usize> = Topology::detect().allowed().iter().collect();
    let p = vec![allowed[0]];
    let e = if allowed.len() > 1 {
        allowed[1..].to_vec()
    } else {
        // An id that is offline, not merely outside our mask (the kernel accepts a pin to
        // a CPU outside a `taskset` mask).
        common::absent_cpus(1)
    };
    let set = |ids: &[usize]| CpuSet::from_cpus(ids.iter().copied()).unwrap();
    Declared {
        topology: Topology::with_classes(set(&p), set(&e)).unwrap(),
        p,
        e,
        allowed,
    }
}

/// (affinity, scheduling policy, class) of the worker that polls a task at `qos`.
fn where_it_ran(rt: &Runtime, qos: Qos) -> (Vec<usize>, i32, Option<CoreClass>) {
    rt.block_on(rt.spawn_with(qos, async {
        // SAFETY: pid 0 is the calling thread; the call reads nothing of ours.
        let policy = unsafe { libc::sched_getscheduler(0) };
        (
            hetsched::sys::current_thread_affinity().unwrap(),
            policy,
            hetsched::current_class(),
        )
    }))
    .unwrap()
}

fn wait_for_hints(rt: &Runtime) -> Vec<(CoreClass, hetsched::runtime::Hints)> {
    common::started_workers(rt)
        .into_iter()
        .map(|w| (w.class, w.hints.unwrap()))
        .collect()
}

#[test]
fn spill_is_the_default_p_pinned_e_everywhere_at_idle_priority() {
    let d = declared();
    let rt = Builder::new().topology(d.topology.clone()).build().unwrap();
    let m = rt.metrics();
    let count = |class| m.workers.iter().filter(|w| w.class == class).count();
    // One P worker per P CPU; one E worker per CPU of either class.
    assert_eq!(count(CoreClass::Performance), d.p.len());
    assert_eq!(count(CoreClass::Efficiency), d.p.len() + d.e.len());

    let (p_cpus, p_policy, p_class) = where_it_ran(&rt, Qos::Interactive);
    assert_eq!(p_class, Some(CoreClass::Performance));
    assert_eq!(p_cpus, d.p, "P workers stay on the P CPUs");
    assert_eq!(p_policy, libc::SCHED_OTHER);

    let (e_cpus, e_policy, e_class) = where_it_ran(&rt, Qos::Background);
    assert_eq!(e_class, Some(CoreClass::Efficiency), "invariant 2 holds");
    let mut spill: Vec<usize> = d.p.iter().chain(&d.e).copied().collect();
    spill.retain(|c| d.allowed.contains(c));
    spill.sort_unstable();
    assert_eq!(
        e_cpus, spill,
        "E workers may use every allowed CPU of the runtime"
    );
    assert_eq!(e_policy, libc::SCHED_IDLE);

    for (class, hints) in wait_for_hints(&rt) {
        assert_eq!(hints.pin, HintOutcome::Applied, "{class}");
        match class {
            CoreClass::Performance => assert_eq!(hints.priority, HintOutcome::Disabled),
            CoreClass::Efficiency => assert_eq!(hints.priority, HintOutcome::Applied),
        }
    }
}

#[test]
fn class_pinning_keeps_e_workers_on_e_cpus_at_normal_priority() {
    let d = declared();
    let rt = Builder::new()
        .topology(d.topology.clone())
        .pin(Pin::Class)
        .build()
        .unwrap();
    let m = rt.metrics();
    let e_workers = m
        .workers
        .iter()
        .filter(|w| w.class == CoreClass::Efficiency)
        .count();
    assert_eq!(e_workers, d.e.len(), "one E worker per E CPU");
    let (_, policy, class) = where_it_ran(&rt, Qos::Background);
    assert_eq!(class, Some(CoreClass::Efficiency));
    assert_eq!(policy, libc::SCHED_OTHER);
    for (class, hints) in wait_for_hints(&rt) {
        assert_eq!(hints.priority, HintOutcome::Disabled, "{class}");
        if class == CoreClass::Efficiency && d.allowed.len() == 1 {
            // The declared E CPU is not ours: pinning to it alone is refused, reported.
            assert_eq!(
                hints.pin,
                HintOutcome::Failed {
                    errno: libc::EINVAL
                }
            );
        }
    }
    if d.allowed.len() > 1 {
        let (cpus, _, _) = where_it_ran(&rt, Qos::Background);
        assert_eq!(cpus, d.e);
    }
}

#[test]
fn explicit_worker_counts_win_over_the_spill_default() {
    let d = declared();
    let rt = Builder::new()
        .topology(d.topology)
        .workers(CoreClass::Efficiency, 1)
        .build()
        .unwrap();
    let m = rt.metrics();
    assert_eq!(
        m.workers
            .iter()
            .filter(|w| w.class == CoreClass::Efficiency)
            .count(),
        1
    );
}

#[test]
fn a_one_kind_machine_gets_no_efficiency_workers_under_any_pin() {
    let allowed = Topology::detect().allowed().clone();
    for pin in [Pin::Spill, Pin::Class, Pin::Core, Pin::Off] {
        let rt = Builder::new()
            .topology(Topology::with_classes(allowed.clone(), CpuSet::new()).unwrap())
            .pin(pin)
            .build()
            .unwrap();
        let m = rt.metrics();
        assert!(
            m.workers.iter().all(|w| w.class == CoreClass::Performance),
            "{pin}"
        );
        assert_eq!(m.workers.len(), allowed.len(), "{pin}");
    }
}

fn loans(rt: &Runtime) -> u64 {
    rt.metrics().workers.iter().map(|w| w.cpu_loans).sum()
}

/// One P and one E worker, spilling: the E worker may be lent the P worker's CPUs.
fn lending_runtime(d: &Declared) -> Runtime {
    Builder::new()
        .topology(d.topology.clone())
        .workers(CoreClass::Performance, 1)
        .workers(CoreClass::Efficiency, 1)
        .build()
        .unwrap()
}

#[test]
fn an_idle_p_worker_lends_its_cpus_to_a_long_e_poll_until_the_poll_ends() {
    let d = declared();
    let rt = lending_runtime(&d);
    common::started_workers(&rt);
    let (wide, _, _) = where_it_ran(&rt, Qos::Background);
    assert_eq!(loans(&rt), 0, "short polls are never lent to");

    // A long poll on the E worker while the P worker has nothing to do: the P worker moves
    // the E thread onto its own CPUs. The task spins until the test has seen the loan
    // counted, then reports its affinity at that moment.
    let release = Arc::new(AtomicBool::new(false));
    let released = release.clone();
    let spinner = rt.spawn_with(Qos::Background, async move {
        common::spin_until(&released);
        (
            hetsched::sys::current_thread_affinity().unwrap(),
            hetsched::current_class(),
        )
    });
    common::wait_until("an idle P worker lends its CPUs", || loans(&rt) == 1);
    release.store(true, SeqCst);
    let (during, class) = rt.block_on(spinner).unwrap();
    assert_eq!(class, Some(CoreClass::Efficiency), "invariant 2 holds");
    assert_eq!(during, d.p, "the E thread runs on the lender's CPUs");
    let lender = rt
        .metrics()
        .workers
        .into_iter()
        .find(|w| w.cpu_loans > 0)
        .unwrap();
    assert_eq!(lender.class, CoreClass::Performance);

    // The poll ended: the E worker has its own set back for its next task.
    let (after, _, class) = where_it_ran(&rt, Qos::Background);
    assert_eq!(class, Some(CoreClass::Efficiency));
    assert_eq!(after, wide, "the loan ends with the poll");
    assert_eq!(loans(&rt), 1);
}

#[test]
fn a_lender_that_wakes_takes_its_cpus_back_at_once() {
    let d = declared();
    let rt = lending_runtime(&d);
    common::started_workers(&rt);
    let (wide, _, _) = where_it_ran(&rt, Qos::Background);
    if wide == d.p {
        // One usable CPU and the E worker's set is that CPU alone: a loan changes
        // nothing visible (the first test still shows the loan is counted).
        return;
    }
    let p = d.p.clone();
    let lent = Arc::new(AtomicBool::new(false));
    let seen = lent.clone();
    let spinner = rt.spawn_with(Qos::Background, async move {
        // Spin (one long poll) until lent, then until the lender has taken its CPUs back.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut was_lent = false;
        loop {
            let now = hetsched::sys::current_thread_affinity().unwrap();
            if now == p {
                was_lent = true;
                seen.store(true, SeqCst);
            } else if was_lent {
                return now;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no loan, or never back"
            );
            std::hint::spin_loop();
        }
    });
    common::wait_until("the E worker is lent the P CPUs", || lent.load(SeqCst));
    // Work for the P worker: it wakes, and the E thread gets its own set back while its
    // poll is still running.
    let class = rt.block_on(rt.spawn_with(Qos::Interactive, async { hetsched::current_class() }));
    assert_eq!(class.unwrap(), Some(CoreClass::Performance));
    let back = rt.block_on(spinner).unwrap();
    assert_eq!(back, wide);
}

#[test]
fn class_pinning_never_lends() {
    let d = declared();
    let rt = Builder::new()
        .topology(d.topology.clone())
        .workers(CoreClass::Performance, 1)
        .workers(CoreClass::Efficiency, 1)
        .pin(Pin::Class)
        .build()
        .unwrap();
    common::started_workers(&rt);
    // A poll 20x longer than the lending delay, with the P worker idle throughout.
    rt.block_on(rt.spawn_with(Qos::Background, async {
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(20) {
            std::hint::spin_loop();
        }
    }))
    .unwrap();
    assert_eq!(loans(&rt), 0);
}

#[test]
fn metrics_report_the_efficiency_speed_the_runtime_was_built_with() {
    let d = declared();
    // Declared classes carry no speed evidence: unknown until the operator says.
    let unknown = Builder::new().topology(d.topology.clone()).build().unwrap();
    assert_eq!(unknown.metrics().efficiency_speed, None);
    let rt = Builder::new()
        .topology(d.topology.clone().with_efficiency_speed(0.45).unwrap())
        .build()
        .unwrap();
    assert_eq!(rt.metrics().efficiency_speed, Some(0.45));
    // One core kind: no E speed at all.
    let allowed = Topology::detect().allowed().clone();
    let one_kind = Builder::new()
        .topology(Topology::with_classes(allowed, CpuSet::new()).unwrap())
        .build()
        .unwrap();
    assert_eq!(one_kind.metrics().efficiency_speed, None);
}
