//! Linux behaviour of `hetsched::sys` against the real kernel.
//!
//! Every request is made on a freshly spawned thread so the test harness's threads keep
//! their settings. Miri cannot make these system calls, hence `not(miri)`.
#![cfg(all(target_os = "linux", not(miri)))]

use hetsched::sys::{
    apply_thread_qos, current_cpu, current_thread_affinity, current_thread_nice,
    pin_current_thread, probe_capabilities, set_current_thread_idle_priority,
    set_current_thread_nice, HintOutcome, ThreadQos,
};
use std::thread;

/// Runs `f` on a new thread and returns its result (a panic inside fails the test).
fn on_new_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    thread::spawn(f).join().expect("test thread panicked")
}

fn allowed_cpus() -> Vec<usize> {
    let cpus = current_thread_affinity().expect("sched_getaffinity works on Linux");
    assert!(!cpus.is_empty());
    cpus
}

/// The kernel's answers when it cannot apply utilization clamps: no CONFIG_UCLAMP_TASK
/// (EOPNOTSUPP), a pre-5.3 kernel that does not know the 56-byte struct (E2BIG) or the
/// clamp flags (EINVAL), no sched_setattr at all (ENOSYS), or a sandbox refusing it (EPERM).
const KNOWN_QOS_ERRNOS: [i32; 5] = [
    libc::EOPNOTSUPP,
    libc::E2BIG,
    libc::EINVAL,
    libc::ENOSYS,
    libc::EPERM,
];

#[test]
fn affinity_of_a_new_thread_is_sorted_and_nonempty() {
    let cpus = on_new_thread(allowed_cpus);
    assert!(cpus.windows(2).all(|w| w[0] < w[1]), "{cpus:?}");
    assert!(current_cpu().is_some_and(|cpu| cpus.contains(&cpu)));
}

#[test]
fn pinning_to_each_single_cpu_moves_the_thread_there() {
    for cpu in allowed_cpus() {
        let (outcome, affinity, now_on) = on_new_thread(move || {
            let outcome = pin_current_thread(&[cpu]);
            (outcome, current_thread_affinity(), current_cpu())
        });
        assert_eq!(outcome, HintOutcome::Applied, "pin to {{{cpu}}}");
        assert_eq!(affinity, Some(vec![cpu]));
        assert_eq!(now_on, Some(cpu));
    }
}

#[test]
fn pinning_to_the_lowest_allowed_cpu_alone() {
    // The lowest CPU this process may use: CPU 0 (bit 0 of the first mask word) on an
    // unrestricted machine, CPU N under `taskset -c N`.
    let lowest = allowed_cpus()[0];
    let (outcome, affinity, now_on) = on_new_thread(move || {
        let outcome = pin_current_thread(&[lowest]);
        (outcome, current_thread_affinity(), current_cpu())
    });
    assert_eq!(outcome, HintOutcome::Applied);
    assert_eq!(affinity, Some(vec![lowest]));
    assert_eq!(now_on, Some(lowest));
}

#[test]
fn pinning_to_a_set_allows_exactly_that_set() {
    // The first two allowed CPUs ({0, 1} on the 2-CPU development box; the one CPU
    // under a one-CPU mask).
    let pair: Vec<usize> = allowed_cpus().into_iter().take(2).collect();
    let request: Vec<usize> = pair.iter().rev().copied().collect(); // order must not matter
    let (outcome, affinity, now_on) = on_new_thread(move || {
        let outcome = pin_current_thread(&request);
        (outcome, current_thread_affinity(), current_cpu())
    });
    assert_eq!(outcome, HintOutcome::Applied);
    assert_eq!(affinity, Some(pair.clone()));
    assert!(now_on.is_some_and(|cpu| pair.contains(&cpu)), "{now_on:?}");
}

#[test]
fn narrowing_then_widening_restores_the_full_set() {
    let allowed = allowed_cpus();
    let expected = allowed.clone();
    let (narrow, wide, affinity) = on_new_thread(move || {
        let narrow = pin_current_thread(&allowed[..1]);
        let wide = pin_current_thread(&allowed);
        (narrow, wide, current_thread_affinity())
    });
    assert_eq!(narrow, HintOutcome::Applied);
    assert_eq!(wide, HintOutcome::Applied);
    assert_eq!(affinity, Some(expected));
}

#[test]
fn ids_beyond_the_cpu_limit_fail_with_einval_and_change_nothing() {
    let limit = hetsched::topology::MAX_CPUS;
    let good = allowed_cpus()[0];
    let (before, outcomes, after) = on_new_thread(move || {
        let before = current_thread_affinity();
        let outcomes = [
            pin_current_thread(&[5000]),
            pin_current_thread(&[limit]),
            pin_current_thread(&[good, limit]), // one good id does not save the request
            // Below the limit but not a CPU of this machine: refused by the kernel.
            pin_current_thread(&[limit - 1]),
        ];
        (before, outcomes, current_thread_affinity())
    });
    for outcome in &outcomes {
        assert_eq!(
            *outcome,
            HintOutcome::Failed {
                errno: libc::EINVAL
            }
        );
    }
    assert!(before.is_some());
    assert_eq!(before, after);
}

#[test]
fn a_cpu_that_does_not_exist_is_refused_by_the_kernel() {
    // The highest id that fits in a cpu_set_t (1023 unless the machine has that many
    // CPUs) and is not online, so this request reaches the kernel, which refuses a set
    // with no usable CPU in it. Not online, rather than outside this process's mask: the
    // kernel lets a thread pin to an online CPU that a `taskset` mask left out.
    let online = hetsched::Topology::from_sysfs("/")
        .expect("sysfs readable")
        .allowed()
        .clone();
    let allowed = allowed_cpus();
    let absent = (0..1024)
        .rev()
        .find(|&c| !online.contains(c) && !allowed.contains(&c))
        .expect("a CPU id below 1024 that is not online");
    let (before, outcome, after) = on_new_thread(move || {
        let before = current_thread_affinity();
        let outcome = pin_current_thread(&[absent]);
        (before, outcome, current_thread_affinity())
    });
    assert_eq!(
        outcome,
        HintOutcome::Failed {
            errno: libc::EINVAL
        }
    );
    assert_eq!(before, after);
}

/// Pinning names CPUs up to the same limit as `CpuSet` (4096), not glibc's 1024: an id
/// past 1024 reaches the kernel, which (like for any absent CPU) keeps the usable ones.
#[test]
fn ids_past_1024_reach_the_kernel() {
    let first = allowed_cpus()[0];
    assert!(!allowed_cpus().contains(&2000), "machine has CPU 2000");
    let (outcome, affinity) = on_new_thread(move || {
        let outcome = pin_current_thread(&[first, 2000]);
        (outcome, current_thread_affinity())
    });
    assert_eq!(outcome, HintOutcome::Applied);
    assert_eq!(affinity, Some(vec![first]));
}

#[test]
fn empty_set_fails_with_einval() {
    let (before, outcome, after) = on_new_thread(|| {
        let before = current_thread_affinity();
        (before, pin_current_thread(&[]), current_thread_affinity())
    });
    assert_eq!(
        outcome,
        HintOutcome::Failed {
            errno: libc::EINVAL
        }
    );
    assert_eq!(before, after);
}

#[test]
fn qos_hints_are_applied_or_refused_with_a_known_errno() {
    for qos in [ThreadQos::Performance, ThreadQos::Efficiency] {
        let outcome = on_new_thread(move || apply_thread_qos(qos));
        match outcome {
            HintOutcome::Applied => {}
            HintOutcome::Failed { errno } => assert!(
                KNOWN_QOS_ERRNOS.contains(&errno),
                "{qos}: unexpected {outcome}"
            ),
            other => panic!("{qos}: Linux must try sched_setattr, got {other}"),
        }
        eprintln!("QoS {qos}: {outcome}");
    }
}

#[test]
fn qos_hints_keep_nice_and_affinity() {
    let allowed = allowed_cpus();
    let first = allowed[0];
    let (nice_before, nice_after, affinity_after) = on_new_thread(move || {
        // Give the thread non-default settings that a careless sched_setattr would reset.
        assert_eq!(pin_current_thread(&[first]), HintOutcome::Applied);
        let nice_before = current_thread_nice().expect("nice readable");
        let target = (nice_before + 2).min(19);
        assert_eq!(set_current_thread_nice(target), HintOutcome::Applied);
        apply_thread_qos(ThreadQos::Performance);
        apply_thread_qos(ThreadQos::Efficiency);
        (target, current_thread_nice(), current_thread_affinity())
    });
    assert_eq!(nice_after, Some(nice_before));
    assert_eq!(affinity_after, Some(vec![first]));
}

/// The nice value of thread `tid` as `getpriority(2)` reports it.
fn getpriority_of(tid: libc::pid_t) -> i32 {
    // SAFETY: plain integer arguments; errno is not consulted because the expected
    // values in these tests are never -1.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) }
}

fn gettid() -> libc::pid_t {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::pid_t }
}

#[test]
fn nicer_by_one_applies_to_the_calling_thread_only() {
    let main_nice = current_thread_nice().expect("nice readable");
    let main_tid = gettid();
    let (before, outcome, after, seen_by_getpriority) = on_new_thread(|| {
        let before = current_thread_nice().expect("nice readable");
        let outcome = set_current_thread_nice((before + 1).min(19));
        (
            before,
            outcome,
            current_thread_nice(),
            getpriority_of(gettid()),
        )
    });
    assert_eq!(outcome, HintOutcome::Applied);
    let expected = (before + 1).min(19);
    assert_eq!(after, Some(expected));
    assert_eq!(seen_by_getpriority, expected);
    // Other threads keep theirs: nice is per thread on Linux.
    assert_eq!(current_thread_nice(), Some(main_nice));
    assert_eq!(getpriority_of(main_tid), main_nice);
}

#[test]
fn nice_outside_the_range_fails_with_einval() {
    let (outcomes, before, after) = on_new_thread(|| {
        let before = current_thread_nice();
        let outcomes = [
            set_current_thread_nice(20),
            set_current_thread_nice(-21),
            set_current_thread_nice(i32::MIN),
            set_current_thread_nice(i32::MAX),
        ];
        (outcomes, before, current_thread_nice())
    });
    for outcome in outcomes {
        assert_eq!(
            outcome,
            HintOutcome::Failed {
                errno: libc::EINVAL
            }
        );
    }
    assert_eq!(before, after);
}

#[test]
fn raising_priority_is_applied_or_refused_for_lack_of_privilege() {
    let (before, outcome, after) = on_new_thread(|| {
        let before = current_thread_nice().expect("nice readable");
        (before, set_current_thread_nice(-5), current_thread_nice())
    });
    match outcome {
        // root / CAP_SYS_NICE / RLIMIT_NICE allowing it
        HintOutcome::Applied => assert_eq!(after, Some(-5)),
        HintOutcome::Failed { errno } if errno == libc::EACCES || errno == libc::EPERM => {
            assert_eq!(after, Some(before))
        }
        other => panic!("unexpected outcome {other}"),
    }
}

#[test]
fn probe_reports_linux_capabilities_without_touching_the_caller() {
    let allowed = allowed_cpus();
    let first = allowed[0];
    let (caps, before, after) = on_new_thread(move || {
        // A caller with non-default settings, so that any leak would show.
        assert_eq!(pin_current_thread(&[first]), HintOutcome::Applied);
        let nice = current_thread_nice().expect("nice readable");
        assert_eq!(
            set_current_thread_nice((nice + 1).min(19)),
            HintOutcome::Applied
        );
        // SAFETY (both calls): pid 0 is the calling thread; nothing of ours is read.
        let policy = || unsafe { libc::sched_getscheduler(0) };
        let before = (current_thread_affinity(), current_thread_nice(), policy());
        let caps = probe_capabilities();
        (
            caps,
            before,
            (current_thread_affinity(), current_thread_nice(), policy()),
        )
    });
    assert_eq!(before, after);
    assert_eq!(before.0, Some(vec![first]));
    assert_eq!(caps.pin, HintOutcome::Applied);
    assert_eq!(caps.nice, HintOutcome::Applied);
    assert_eq!(caps.idle_priority, HintOutcome::Applied);
    assert_eq!(
        before.2,
        libc::SCHED_OTHER,
        "the probe's SCHED_IDLE stays on its thread"
    );
    for outcome in [&caps.qos_performance, &caps.qos_efficiency] {
        assert!(
            outcome.is_applied()
                || outcome
                    .errno()
                    .is_some_and(|e| KNOWN_QOS_ERRNOS.contains(&e)),
            "{outcome}"
        );
    }
    // Nice -10 needs CAP_SYS_NICE (or RLIMIT_NICE): applied, or refused with EACCES/EPERM.
    assert!(
        caps.raised_priority.is_applied()
            || matches!(
                caps.raised_priority.errno(),
                Some(libc::EACCES | libc::EPERM)
            ),
        "{}",
        caps.raised_priority
    );
    let text = caps.to_string();
    assert_eq!(text.lines().count(), 6, "{text}");
    assert!(text.contains(&caps.qos_performance.to_string()), "{text}");
    eprintln!("{text}");
}

#[cfg(target_env = "gnu")]
#[test]
fn failed_outcome_display_uses_the_os_message() {
    // glibc's strerror texts for the errnos this module reports most.
    let cases = [
        (
            libc::EOPNOTSUPP,
            "failed: Operation not supported (os error 95)",
        ),
        (libc::EINVAL, "failed: Invalid argument (os error 22)"),
        (libc::EPERM, "failed: Operation not permitted (os error 1)"),
    ];
    for (errno, text) in cases {
        assert_eq!(HintOutcome::Failed { errno }.to_string(), text);
    }
}

#[test]
fn idle_priority_is_applied_and_is_sched_idle() {
    let (outcome, policy) = on_new_thread(|| {
        let outcome = set_current_thread_idle_priority();
        // SAFETY: pid 0 is the calling thread; the call reads nothing of ours.
        let policy = unsafe { libc::sched_getscheduler(0) };
        (outcome, policy)
    });
    // Any thread may lower itself to SCHED_IDLE (no privilege needed).
    assert_eq!(outcome, HintOutcome::Applied);
    assert_eq!(policy, libc::SCHED_IDLE);
}
