//! Thread placement on unequal cores (`Pin::Spill`, the default; `Pin::Class`): where each
//! class's workers may run, at what OS priority, and how many there are by default.
//!
//! Classes are declared on the CPUs this process may use (P = the first allowed CPU, E =
//! the rest), so the tests hold under any CPU mask. With one allowed CPU, E is declared on
//! a CPU id the process may not use: pinning an E worker to that alone fails (reported),
//! while a spilling E worker's set still holds the allowed P CPU.
#![cfg(all(target_os = "linux", not(miri)))]

mod common;

use hetsched::sys::HintOutcome;
use hetsched::{Builder, CoreClass, CpuSet, Pin, Qos, Runtime, Topology};

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
        vec![allowed[0] + 1]
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
