//! The timer thread and the blocking pool's threads start with the process's own
//! placement, not with the placement of the worker that needed them first (issue 16,
//! item 1): not pinned, no class hint, the process's scheduling policy and nice value.
//!
//! The efficiency worker of these runtimes is made to look like the one the issue worries
//! about: pinned to the efficiency CPUs (all allowed CPUs but the first), then, from
//! `on_thread_start`, at `SCHED_IDLE` with a higher nice value and without `CAP_SYS_NICE`
//! (so that, even when the tests run as root, a thread it creates could not undo that by
//! itself). Placement is read from `/proc/self/task/<tid>/{status,stat,sched}`.
//!
//! The timer thread is process-wide and starts once: only one test in this binary uses
//! timers, and it checks that the timer thread did not exist before it.
#![cfg(all(target_os = "linux", not(miri)))]

use hetsched::{Builder, CoreClass, CpuSet, Pin, Qos, Runtime, Topology};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the kernel says about one thread's placement.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Placement {
    /// `Cpus_allowed_list` (a cpulist).
    cpus: CpuSet,
    /// Scheduling policy (0 = SCHED_OTHER, 5 = SCHED_IDLE).
    policy: i32,
    /// Nice value.
    nice: i32,
    /// `uclamp.min` / `uclamp.max` (kernels with CONFIG_UCLAMP_TASK only).
    uclamp: Option<(String, String)>,
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The placement of the thread whose `/proc` directory is `task`.
fn placement(task: &Path) -> Placement {
    let status = read(&task.join("status"));
    let cpus = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list in status")
        .trim()
        .parse()
        .expect("a cpulist");
    // Fields after the command name (which may hold spaces or parentheses): the 3rd field
    // of stat (state) is index 0 here; nice is the 19th, policy the 41st.
    let stat = read(&task.join("stat"));
    let after_comm: Vec<&str> = stat[stat.rfind(')').expect("comm") + 1..]
        .split_whitespace()
        .collect();
    let field = |n: usize| -> i32 { after_comm[n - 3].parse().expect("a number") };
    let sched = read(&task.join("sched"));
    let clamp = |key: &str| {
        sched.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            (name.trim() == key).then(|| value.trim().to_string())
        })
    };
    Placement {
        cpus,
        policy: field(41),
        nice: field(19),
        uclamp: clamp("uclamp.min").zip(clamp("uclamp.max")),
    }
}

/// The calling thread's placement.
fn own_placement() -> Placement {
    placement(Path::new("/proc/thread-self"))
}

/// The `/proc` directory of this process's thread named `name`, if there is one.
fn thread_named(name: &str) -> Option<PathBuf> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|task| std::fs::read_to_string(task.join("comm")).is_ok_and(|c| c.trim() == name))
}

/// Linux capability ABI (`include/uapi/linux/capability.h`), version 3: two data words.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const CAP_SYS_NICE: u32 = 23;

/// Drop `CAP_SYS_NICE` from the calling thread (capabilities are per thread on Linux and
/// inherited by the threads it creates).
fn drop_cap_sys_nice() {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget(header, data) reads the header and writes two CapData (the v3 layout)
    // into `data`, which is exactly that big; pid 0 is the calling thread.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    assert_eq!(rc, 0, "capget: {}", std::io::Error::last_os_error());
    data[0].effective &= !(1 << CAP_SYS_NICE);
    data[0].permitted &= !(1 << CAP_SYS_NICE);
    // SAFETY: capset(header, data) reads the header and two CapData from valid memory;
    // pid 0 is the calling thread. Dropping a capability is always allowed.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    assert_eq!(rc, 0, "capset: {}", std::io::Error::last_os_error());
}

/// `on_thread_start` of the test runtimes: efficiency workers lower their OS priority.
fn lower_efficiency_workers() {
    let efficiency = std::thread::current()
        .name()
        .is_some_and(|n| n.starts_with("lowered-e-"));
    if !efficiency {
        return;
    }
    let nice = hetsched::sys::current_thread_nice().expect("nice readable");
    let _ = hetsched::sys::set_current_thread_nice((nice + 5).min(19));
    // SAFETY: all-zero bytes is a valid sched_param; the kernel only reads it; pid 0 is
    // the calling thread.
    let rc = unsafe {
        let param: libc::sched_param = std::mem::zeroed();
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param)
    };
    assert_eq!(rc, 0, "SCHED_IDLE: {}", std::io::Error::last_os_error());
    drop_cap_sys_nice();
}

/// One P worker on the first allowed CPU, one E worker pinned to the others (unpinned when
/// only one CPU is allowed) and lowered by `lower_efficiency_workers`.
fn lowered_runtime() -> Runtime {
    let allowed: Vec<usize> = Topology::detect().allowed().iter().collect();
    let p = CpuSet::from_cpus([allowed[0]]).unwrap();
    let e = CpuSet::from_cpus(allowed[1..].iter().copied()).unwrap();
    Builder::new()
        .topology(Topology::with_classes(p, e).unwrap())
        .workers(CoreClass::Performance, 1)
        .workers(CoreClass::Efficiency, 1)
        .pin(Pin::Class)
        .thread_name("lowered")
        .on_thread_start(lower_efficiency_workers)
        .build()
        .unwrap()
}

/// The E worker really is lowered (else these tests would prove nothing).
fn assert_lowered(worker: &Placement, baseline: &Placement) {
    assert_eq!(worker.policy, libc::SCHED_IDLE, "E worker {worker:?}");
    if baseline.cpus.len() >= 2 {
        assert!(
            worker.cpus.is_subset(&baseline.cpus) && worker.cpus != baseline.cpus,
            "E worker {worker:?} vs process {baseline:?}"
        );
    }
}

#[test]
fn the_timer_thread_started_from_a_lowered_efficiency_worker_has_the_process_placement() {
    assert!(
        thread_named("hetsched-timer").is_none(),
        "the timer thread already runs: this test must start it"
    );
    let baseline = own_placement();
    let rt = lowered_runtime();
    let (class, worker) = rt
        .block_on(rt.spawn_with(Qos::Background, async {
            let worker = own_placement();
            // The first timer of the process: starts the timer thread, from this worker.
            hetsched::time::sleep(Duration::from_millis(1)).await;
            (hetsched::current_class(), worker)
        }))
        .unwrap();
    assert_eq!(class, Some(CoreClass::Efficiency));
    assert_lowered(&worker, &baseline);
    let timer = thread_named("hetsched-timer").expect("a timer thread");
    assert_eq!(placement(&timer), baseline, "timer thread vs process");
    // And the helper that started it.
    // (Thread names are cut to 15 bytes in /proc: keep this one short.)
    let spawner = thread_named("hetsched-spawn").expect("the spawner thread");
    assert_eq!(placement(&spawner), baseline, "spawner thread vs process");
}

#[test]
fn blocking_threads_started_from_a_lowered_efficiency_worker_have_the_process_placement() {
    let baseline = own_placement();
    let rt = lowered_runtime();
    let (class, worker, (name, job)) = rt
        .block_on(rt.spawn_with(Qos::Background, async {
            let worker = own_placement();
            let job = hetsched::spawn_blocking(|| {
                let name = std::thread::current().name().map(str::to_string);
                (name, own_placement())
            })
            .await
            .unwrap();
            (hetsched::current_class(), worker, job)
        }))
        .unwrap();
    assert_eq!(class, Some(CoreClass::Efficiency));
    assert_lowered(&worker, &baseline);
    assert!(name.is_some_and(|n| n.starts_with("lowered-blocking-")));
    assert_eq!(job, baseline, "blocking thread vs process");
}
