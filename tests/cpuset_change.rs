//! A cgroup cpuset that shrinks and grows again under a running runtime
//! (`runtime/cpu_watch.rs`): every task keeps running, the runtime notices, each worker
//! re-places itself on what is allowed (its class's CPUs when any are left) and gets its
//! placement back when the CPUs return; metrics say where every worker runs, and say it
//! truly (each worker thread's affinity, read from `/proc`, matches).
//!
//! Needs Linux, root, a cgroup v1 cpuset hierarchy at `/sys/fs/cgroup/cpuset` and two
//! online CPUs. Elsewhere it says why on stderr and checks nothing, unless
//! `HETSCHED_REQUIRE_CPUSET=1` (set by `.ci/run`, whose machine has all of it): then a
//! missing piece fails the test, so CI cannot pass without running it. The test works
//! under any CPU mask: with one allowed CPU the E worker is declared on an online CPU
//! outside the mask (as a declared topology may be placed).
//!
//! The process moves into a cgroup of its own for the test and back out when it ends,
//! also on failure; this file holds this one test so that nothing else runs meanwhile.

mod common;

use hetsched::{Builder, CoreClass, CpuSet, Pin, Qos, Runtime, RuntimeMetrics, Topology};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROOT: &str = "/sys/fs/cgroup/cpuset";

/// The test's own cpuset cgroup; dropping it moves the process back and removes it.
struct Cgroup {
    dir: PathBuf,
}

impl Cgroup {
    fn create(cpus: &CpuSet) -> Result<Cgroup, String> {
        let dir = Path::new(ROOT).join(format!("hetsched-test-{}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let group = Cgroup { dir };
        let mems = std::fs::read_to_string(Path::new(ROOT).join("cpuset.mems"))
            .map_err(|e| format!("read {ROOT}/cpuset.mems: {e}"))?;
        group.write("cpuset.mems", mems.trim())?;
        group.set_cpus(cpus)?;
        group.write("cgroup.procs", &std::process::id().to_string())?;
        Ok(group)
    }

    fn write(&self, file: &str, value: &str) -> Result<(), String> {
        let path = self.dir.join(file);
        std::fs::write(&path, value)
            .map_err(|e| format!("write {value:?} to {}: {e}", path.display()))
    }

    fn set_cpus(&self, cpus: &CpuSet) -> Result<(), String> {
        self.write("cpuset.cpus", &cpus.to_string())
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(
            Path::new(ROOT).join("cgroup.procs"),
            std::process::id().to_string(),
        );
        // The threads that moved back are gone from the group: it can be removed.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Why this machine cannot run the test, if it cannot.
fn unsupported() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("not Linux".into());
    }
    if !Path::new(ROOT).join("cgroup.procs").exists() {
        return Some(format!("no cgroup v1 cpuset hierarchy at {ROOT}"));
    }
    if effective_uid() != Some(0) {
        return Some("not root (a cpuset cgroup needs it)".into());
    }
    if online().len() < 2 {
        return Some("fewer than two online CPUs".into());
    }
    None
}

/// The effective user id, from `/proc/self/status` ("Uid: real effective saved fs").
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

fn online() -> CpuSet {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or_default()
}

/// The affinity of this process's thread named `name`, from `/proc/self/task`.
fn thread_affinity(name: &str) -> Option<CpuSet> {
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).ok()?;
        let list = status
            .lines()
            .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))?;
        return list.trim().parse().ok();
    }
    None
}

/// Wait (up to 10 s) until `ok` holds for the runtime's metrics; fail with them if not.
fn wait_for(rt: &Runtime, what: &str, ok: impl Fn(&RuntimeMetrics) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = rt.metrics();
        if ok(&metrics) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within 10 s: {metrics:#?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn worker(metrics: &RuntimeMetrics, class: CoreClass) -> &hetsched::WorkerMetrics {
    metrics.workers.iter().find(|w| w.class == class).unwrap()
}

/// Every lane still runs, on the class it must: 200 tasks of each Qos, each recording
/// the class that polled it.
fn every_lane_runs(rt: &Runtime, phase: &str) {
    let handles: Vec<_> = Qos::ALL
        .into_iter()
        .cycle()
        .take(200 * Qos::ALL.len())
        .map(|qos| (qos, rt.spawn_with(qos, async { hetsched::current_class() })))
        .collect();
    for (qos, handle) in handles {
        let class = rt.block_on(handle).unwrap();
        match qos {
            Qos::Interactive | Qos::UserInitiated => {
                assert_eq!(class, Some(CoreClass::Performance), "{phase}: {qos:?}")
            }
            Qos::Background => assert_eq!(class, Some(CoreClass::Efficiency), "{phase}: {qos:?}"),
            _ => assert!(class.is_some(), "{phase}: {qos:?}"),
        }
    }
}

/// Each worker's thread really is where metrics say.
fn metrics_tell_the_truth(rt: &Runtime, phase: &str) {
    for w in &rt.metrics().workers {
        let real =
            thread_affinity(&w.name).unwrap_or_else(|| panic!("{phase}: no thread {}", w.name));
        assert_eq!(real.to_string(), w.cpus_now, "{phase}: {} ({w:?})", w.name);
    }
}

/// The idle spin a runtime with no `idle_spin` set uses where the process may use `cpus`.
fn default_spin_for(cpus: usize) -> Duration {
    if cpus > 1 {
        hetsched::runtime::DEFAULT_IDLE_SPIN
    } else {
        Duration::ZERO
    }
}

/// The default idle spin follows the allowed CPUs, capped by any CPU quota (which this
/// thread's `available_parallelism` also reads: the kernel narrows its affinity with the
/// cpuset): none while only one is left (on a two-CPU machine, the shrink leaves one).
fn default_spin_follows(rt: &Runtime, phase: &str) {
    let m = rt.metrics();
    let allowed: CpuSet = m.allowed_cpus.as_deref().unwrap().parse().unwrap();
    let here = std::thread::available_parallelism().map_or(allowed.len(), usize::from);
    assert_eq!(
        m.idle_spin,
        default_spin_for(allowed.len().min(here)),
        "{phase}: {m:?}"
    );
}

#[test]
fn workers_follow_a_cpuset_that_shrinks_and_grows_back() {
    if let Some(why) = unsupported() {
        let required = std::env::var("HETSCHED_REQUIRE_CPUSET").is_ok_and(|v| v == "1");
        assert!(!required, "HETSCHED_REQUIRE_CPUSET=1 but: {why}");
        eprintln!("cpuset_change: not run here: {why}");
        return;
    }
    let online = online();
    let allowed = common::allowed_cpus();
    let p = allowed[0];
    // A second allowed CPU for E, else another online one (outside the mask).
    let e = allowed
        .get(1)
        .copied()
        .unwrap_or_else(|| online.iter().find(|&c| c != p).unwrap());
    let group = Cgroup::create(&online).unwrap();
    let topology = Topology::with_classes(CpuSet::from_iter([p]), CpuSet::from_iter([e])).unwrap();
    let rt = Builder::new()
        .topology(topology)
        .workers(CoreClass::Performance, 1)
        .workers(CoreClass::Efficiency, 1)
        .pin(Pin::Class)
        .thread_name("cs")
        .cpu_check_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    wait_for(&rt, "the first look", |m| m.allowed_cpus.is_some());
    every_lane_runs(&rt, "start");
    metrics_tell_the_truth(&rt, "start");
    assert_eq!(rt.metrics().cpu_set_changes, 0);
    let here = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(rt.metrics().idle_spin, default_spin_for(here), "start");

    // The P worker's CPU goes away: it keeps running, displaced to what is left.
    let without_p = CpuSet::from_iter(online.iter().filter(|&c| c != p));
    group.set_cpus(&without_p).unwrap();
    wait_for(&rt, "re-placement after the shrink", |m| {
        m.cpu_set_changes >= 1 && m.workers.iter().all(|w| w.repins >= 1)
    });
    let m = rt.metrics();
    let pw = worker(&m, CoreClass::Performance);
    assert!(pw.displaced, "{pw:?}");
    assert!(
        !pw.cpus_now.parse::<CpuSet>().unwrap().contains(p),
        "{pw:?}"
    );
    assert!(
        !m.allowed_cpus
            .as_deref()
            .unwrap()
            .parse::<CpuSet>()
            .unwrap()
            .contains(p),
        "{m:?}"
    );
    every_lane_runs(&rt, "shrunk");
    metrics_tell_the_truth(&rt, "shrunk");
    default_spin_follows(&rt, "shrunk");

    // Back: the P worker is on its own CPU again.
    group.set_cpus(&online).unwrap();
    wait_for(&rt, "re-placement after the regrow", |m| {
        m.cpu_set_changes >= 2 && m.workers.iter().all(|w| w.repins >= 2)
    });
    let m = rt.metrics();
    let pw = worker(&m, CoreClass::Performance);
    assert!(!pw.displaced, "{pw:?}");
    assert_eq!(pw.cpus_now, p.to_string(), "{pw:?}");
    every_lane_runs(&rt, "grown back");
    metrics_tell_the_truth(&rt, "grown back");
    default_spin_follows(&rt, "grown back");
    drop(rt);
    drop(group);
}
