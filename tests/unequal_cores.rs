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
    let (cpus, policy, class, _) = who_ran(rt, qos);
    (cpus, policy, class)
}

/// [`where_it_ran`], plus the kernel thread id of the worker.
fn who_ran(rt: &Runtime, qos: Qos) -> (Vec<usize>, i32, Option<CoreClass>, i32) {
    rt.block_on(rt.spawn_with(qos, async {
        // SAFETY: pid 0 is the calling thread; the call reads nothing of ours.
        let policy = unsafe { libc::sched_getscheduler(0) };
        (
            hetsched::sys::current_thread_affinity().unwrap(),
            policy,
            hetsched::current_class(),
            current_tid(),
        )
    }))
    .unwrap()
}

/// The calling thread's kernel thread id.
fn current_tid() -> i32 {
    // SAFETY: gettid takes no arguments and touches no memory of ours.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// Where a spilling E worker may run: every allowed CPU of either class, ascending.
fn spill_set(d: &Declared) -> Vec<usize> {
    let mut spill: Vec<usize> = d.p.iter().chain(&d.e).copied().collect();
    spill.retain(|c| d.allowed.contains(c));
    spill.sort_unstable();
    spill
}

/// The CPUs thread `tid` of this process may run on (its `Cpus_allowed_list`).
fn affinity_of(tid: i32) -> Vec<usize> {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    let list = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .unwrap();
    list.trim().parse::<CpuSet>().unwrap().iter().collect()
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

    let (_, e_policy, e_class, e_tid) = who_ran(&rt, Qos::Background);
    assert_eq!(e_class, Some(CoreClass::Efficiency), "invariant 2 holds");
    // Read once its poll is over: a poll descheduled for 1 ms on a loaded machine may be
    // lent the P CPUs (CPU lending), and the loan ends with the poll.
    let spill = spill_set(&d);
    common::wait_until("E workers may use every allowed CPU of the runtime", || {
        affinity_of(e_tid) == spill
    });
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

/// One P and one E worker, spilling: the E worker may be lent the P worker's CPUs. Also
/// returns the E worker's own CPU set, once every worker has started.
fn lending_runtime(d: &Declared) -> (Runtime, Vec<usize>) {
    let rt = Builder::new()
        .topology(d.topology.clone())
        .workers(CoreClass::Performance, 1)
        .workers(CoreClass::Efficiency, 1)
        .build()
        .unwrap();
    common::started_workers(&rt);
    (rt, spill_set(d))
}

/// Spawn a Background task (the E worker) that publishes its thread id and spins in one
/// poll until `release`; returns its handle and the id once it runs. Its result: the class
/// that polled it.
fn long_e_poll(
    rt: &Runtime,
    release: &Arc<AtomicBool>,
) -> (hetsched::JoinHandle<Option<CoreClass>>, i32) {
    let tid = Arc::new(std::sync::atomic::AtomicI32::new(0));
    let spinner = rt.spawn_with(Qos::Background, {
        let (tid, release) = (tid.clone(), release.clone());
        async move {
            tid.store(current_tid(), SeqCst);
            common::spin_until(&release);
            hetsched::current_class()
        }
    });
    common::wait_until("the long E poll runs", || tid.load(SeqCst) != 0);
    (spinner, tid.load(SeqCst))
}

#[test]
fn an_idle_p_worker_lends_its_cpus_to_a_long_e_poll_until_the_poll_ends() {
    let d = declared();
    let (rt, wide) = lending_runtime(&d);
    let before = loans(&rt);
    let release = Arc::new(AtomicBool::new(false));
    let _release = common::ReleaseOnDrop(release.clone());
    // A long poll on the E worker while the P worker has nothing to do: the P worker moves
    // the E thread onto the P CPUs, and counts the loan.
    let (spinner, tid) = long_e_poll(&rt, &release);
    common::wait_until("the E thread runs on the lender's CPUs", || {
        affinity_of(tid) == d.p
    });
    common::wait_until("the loan is counted", || loans(&rt) > before);
    let lender = rt
        .metrics()
        .workers
        .into_iter()
        .find(|w| w.cpu_loans > 0)
        .unwrap();
    assert_eq!(lender.class, CoreClass::Performance);
    release.store(true, SeqCst);
    let class = rt.block_on(spinner).unwrap();
    assert_eq!(class, Some(CoreClass::Efficiency), "invariant 2 holds");
    // The poll ended: the E thread has its own set back (the E worker restores it at the
    // poll's end, which may come just after the task's output reached us).
    common::wait_until("the loan ends with the poll", || affinity_of(tid) == wide);
}

#[test]
fn a_lender_that_wakes_takes_its_cpus_back_at_once() {
    let d = declared();
    let (rt, wide) = lending_runtime(&d);
    if wide == d.p {
        // One usable CPU and the E worker's set is that CPU alone: a loan changes
        // nothing visible (the first test still shows the loan is counted).
        return;
    }
    let release = Arc::new(AtomicBool::new(false));
    let _release = common::ReleaseOnDrop(release.clone());
    let (spinner, tid) = long_e_poll(&rt, &release);
    common::wait_until("the E worker is lent the P CPUs", || {
        affinity_of(tid) == d.p
    });
    // Work for the P worker: it wakes, and gives the E thread its own set back before it
    // polls anything, while the E poll still runs. Read from inside that poll: the P
    // worker cannot lend again while it is busy.
    let back = rt.block_on(rt.spawn_with(Qos::Interactive, async move {
        (hetsched::current_class(), affinity_of(tid))
    }));
    release.store(true, SeqCst);
    rt.block_on(spinner).unwrap();
    let (class, back) = back.unwrap();
    assert_eq!(class, Some(CoreClass::Performance));
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
