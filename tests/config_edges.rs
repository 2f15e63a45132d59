//! Configuration edges: zero performance workers, worker counts far above the CPU count
//! or above the limit, efficiency workers on a homogeneous machine, and CPUs that are not
//! there (pinning fails with EINVAL) — each a clear error or a reported fallback, and a
//! runtime that still runs every lane. Never a hang.

mod common;

use hetsched::runtime::MAX_WORKERS_PER_CLASS;
use hetsched::sys::HintOutcome;
use hetsched::{Builder, CoreClass, Lane, Pin, Qos, Runtime, Topology};
use std::ffi::OsString;
use std::io::ErrorKind;

/// Every Qos runs to completion on `rt`, and each lane lands on a class the policy allows.
fn runs_every_lane(rt: &Runtime) {
    let has_e = rt
        .metrics()
        .workers
        .iter()
        .any(|w| w.class == CoreClass::Efficiency);
    for qos in Qos::ALL {
        for _ in 0..20 {
            let class = rt
                .block_on(rt.spawn_with(qos, async {
                    hetsched::yield_now().await;
                    hetsched::current_class()
                }))
                .unwrap();
            match Lane::of(qos) {
                Lane::Critical => assert_eq!(class, Some(CoreClass::Performance), "{qos:?}"),
                Lane::Background if has_e => {
                    assert_eq!(class, Some(CoreClass::Efficiency), "{qos:?}")
                }
                _ => assert!(class.is_some()),
            }
        }
    }
}

fn pin_outcomes(rt: &Runtime) -> Vec<(CoreClass, String, HintOutcome)> {
    common::started_workers(rt)
        .into_iter()
        .map(|w| (w.class, w.cpus, w.hints.unwrap().pin))
        .collect()
}

#[test]
fn zero_performance_workers_is_an_invalid_input_error_from_code_and_from_env() {
    for e in [0, 2] {
        let err = Builder::new()
            .topology(common::two_class_topology())
            .workers(CoreClass::Performance, 0)
            .workers(CoreClass::Efficiency, e)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let msg = err.to_string();
        assert!(
            msg.contains("workers(Performance)") && msg.contains("\"0\""),
            "{msg}"
        );
    }
    // From the environment: accepted by from_env (documented: "0 is refused at build"),
    // refused by build. The P CPU is one this process may use, whatever its mask.
    let p_cpu = common::allowed_cpus()[0].to_string();
    let builder = Builder::from_env_with(|name| match name {
        "HETSCHED_P_WORKERS" => Some(OsString::from("0")),
        "HETSCHED_P_CPUS" => Some(OsString::from(&p_cpu)),
        _ => None,
    })
    .unwrap();
    let err = builder.build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("at least 1"), "{err}");
}

#[test]
fn worker_counts_above_the_limit_are_refused_before_any_thread_starts() {
    let started = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for class in CoreClass::ALL {
        let s = started.clone();
        let err = Builder::new()
            .topology(common::two_class_topology())
            .workers(class, MAX_WORKERS_PER_CLASS + 1)
            .on_thread_start(move || {
                s.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("workers({class:?})")) && msg.contains("1025"),
            "{msg}"
        );
        assert!(msg.contains("at most 1024"), "{msg}");
    }
    assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn many_more_workers_than_cpus_with_core_pinning_wrap_around() {
    // 6 P workers on 1 P CPU and 5 E workers on 1 E CPU, one core each: they share.
    // (With one allowed CPU the E class has none: its workers report Unsupported.)
    let topology = common::two_class_topology();
    let rt = Builder::new()
        .topology(topology.clone())
        .workers(CoreClass::Performance, 6)
        .workers(CoreClass::Efficiency, 5)
        .pin(Pin::Core)
        .build()
        .unwrap();
    runs_every_lane(&rt);
    let outcomes = pin_outcomes(&rt);
    assert_eq!(outcomes.len(), 11);
    for (class, cpus, pin) in outcomes {
        assert_eq!(cpus, topology.cpus(class).to_string());
        if cfg!(target_os = "linux") {
            assert_eq!(pin, common::expected_pin(&topology, class), "{class:?}");
        }
    }
    // And on a homogeneous machine of 2 CPUs (the first two allowed), 5 workers pinned
    // per core: a,b,a,b,a (a,a,a,a,a with one allowed CPU).
    let topology = common::homogeneous_topology(2);
    let rt = Builder::new()
        .topology(topology.clone())
        .workers(CoreClass::Performance, 5)
        .pin(Pin::Core)
        .build()
        .unwrap();
    runs_every_lane(&rt);
    let class_cpus: Vec<usize> = topology.cpus(CoreClass::Performance).iter().collect();
    let want: Vec<String> = (0..5)
        .map(|i| class_cpus[i % class_cpus.len()].to_string())
        .collect();
    let outcomes = pin_outcomes(&rt);
    let cpus: Vec<String> = outcomes.iter().map(|(_, c, _)| c.clone()).collect();
    assert_eq!(cpus, want);
    if cfg!(target_os = "linux") {
        assert!(outcomes
            .iter()
            .all(|(_, _, pin)| *pin == HintOutcome::Applied));
    }
}

#[test]
fn efficiency_workers_on_a_homogeneous_machine_with_core_pinning() {
    // No E CPUs to pin to: reported as Unsupported, and Background runs on them.
    let rt = Builder::new()
        .topology(common::homogeneous_topology(2))
        .workers(CoreClass::Efficiency, 2)
        .pin(Pin::Core)
        .build()
        .unwrap();
    runs_every_lane(&rt);
    for (class, cpus, pin) in pin_outcomes(&rt) {
        if class == CoreClass::Efficiency {
            assert_eq!((cpus.as_str(), pin), ("", HintOutcome::Unsupported));
        }
    }
}

/// Every CPU the topology names is missing on this host (a topology captured elsewhere,
/// or CPUs unplugged since detection): every pin fails with EINVAL, every worker runs
/// unpinned and says so, and every lane still runs. "Missing" means not online: a CPU
/// that is online but outside this process's `taskset` mask is one the kernel lets a
/// thread pin to.
#[cfg(target_os = "linux")]
#[test]
fn cpus_that_are_not_there_are_a_reported_fallback_for_every_worker() {
    let ids = common::absent_cpus(3);
    let p: hetsched::CpuSet = ids[..2]
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
        .parse()
        .unwrap();
    let e: hetsched::CpuSet = ids[2].to_string().parse().unwrap();
    for pin in [Pin::Class, Pin::Core] {
        let rt = Builder::new()
            .topology(Topology::with_classes(p.clone(), e.clone()).unwrap())
            .pin(pin)
            .build()
            .unwrap();
        runs_every_lane(&rt);
        let outcomes = pin_outcomes(&rt);
        assert_eq!(outcomes.len(), 3);
        for (_, _, outcome) in outcomes {
            assert_eq!(
                outcome,
                HintOutcome::Failed {
                    errno: libc::EINVAL
                },
                "{pin}"
            );
        }
    }
    // A CPU id past glibc's 1024-bit cpu_set_t (pin masks hold MAX_CPUS = 4096 ids, like
    // CpuSet): the request reaches the kernel, which refuses a set with no CPU it has.
    let far = Topology::with_classes(
        hetsched::CpuSet::from_iter([common::allowed_cpus()[0]]),
        "2000".parse().unwrap(),
    )
    .unwrap();
    // Class pinning: under `Pin::Spill` the E worker's set would also hold the P CPU.
    let rt = Builder::new()
        .topology(far)
        .pin(Pin::Class)
        .build()
        .unwrap();
    runs_every_lane(&rt);
    let e = pin_outcomes(&rt)
        .into_iter()
        .find(|(c, _, _)| *c == CoreClass::Efficiency)
        .unwrap();
    assert_eq!(
        e.2,
        HintOutcome::Failed {
            errno: libc::EINVAL
        }
    );
}

/// A captured machine (HETSCHED_SYSFS_ROOT) that is not this host: 8 CPUs in two classes
/// on a 2-CPU box. The runtime starts the captured machine's worker counts, pins what
/// exists, reports the rest, and runs. A class with a CPU in this process's mask is
/// pinned; one with no online CPU fails with EINVAL; one whose CPUs are online but only
/// outside the mask (`taskset -c N` on a bigger box) is either, as the kernel's cpuset
/// decides.
#[cfg(target_os = "linux")]
#[test]
fn a_captured_topology_from_a_bigger_machine_runs_here() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/platform/rockchip-rk3588");
    let builder = Builder::from_env_with(|name| {
        (name == "HETSCHED_SYSFS_ROOT").then(|| OsString::from(root))
    })
    .unwrap();
    let rt = builder.build().unwrap();
    runs_every_lane(&rt);
    let outcomes = pin_outcomes(&rt);
    // 4 P workers, and under the default `Pin::Spill` one E worker per CPU of either class.
    assert_eq!(outcomes.len(), 4 + 8);
    let host = hetsched::sys::current_thread_affinity().unwrap();
    let online = Topology::from_sysfs("/").unwrap().allowed().clone();
    let einval = HintOutcome::Failed {
        errno: libc::EINVAL,
    };
    for (class, cpus, outcome) in outcomes {
        let cpus: hetsched::CpuSet = cpus.parse().unwrap();
        if cpus.iter().any(|c| host.contains(&c)) {
            assert_eq!(outcome, HintOutcome::Applied, "{class:?} {cpus}");
        } else if cpus.is_disjoint(&online) {
            assert_eq!(outcome, einval, "{class:?} {cpus}");
        } else {
            assert!(
                outcome == HintOutcome::Applied || outcome == einval,
                "{class:?} {cpus} {outcome}"
            );
        }
    }
}

/// Pinning and QoS hints off: the runtime does not touch the OS for placement.
#[test]
fn pinning_and_hints_off_are_reported_as_disabled() {
    let rt = common::two_class_builder()
        .pin(Pin::Off)
        .qos_hints(false)
        .build()
        .unwrap();
    runs_every_lane(&rt);
    for w in rt.metrics().workers {
        let hints = w.hints.unwrap();
        assert_eq!(
            (hints.pin, hints.qos),
            (HintOutcome::Disabled, HintOutcome::Disabled)
        );
    }
}
