//! What the OS lets a thread do: pinning and QoS hints, each best-effort with its outcome reported.
//!
//! Every function here is a *request* to the operating system. None of them panics or
//! aborts: each returns a [`HintOutcome`] (or an `Option`) that the runtime records in its
//! metrics and the operator tool prints. A kernel that refuses a request (for example a
//! Linux kernel built without `CONFIG_UCLAMP_TASK`, which answers `EOPNOTSUPP` to
//! utilization clamps) is an ordinary outcome, not an error path.
//!
//! | request | Linux / Android | macOS / iOS | others (Windows, ...) |
//! |---|---|---|---|
//! | [`pin_current_thread`] | `sched_setaffinity` | unsupported (Apple Silicon rejects affinity) | unsupported |
//! | [`current_thread_affinity`] | `sched_getaffinity` | unknown | unknown |
//! | [`current_cpu`] | `sched_getcpu` | unknown | unknown |
//! | [`apply_thread_qos`] | `sched_setattr` utilization clamps | `pthread_set_qos_class_self_np` | unsupported |
//! | [`set_current_thread_nice`] | per-thread `setpriority` | unsupported (would hit the whole process) | unsupported |
//! | [`current_thread_cpu_time`] | `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` | the same | none |
//! | [`set_current_thread_idle_priority`] | `sched_setscheduler(SCHED_IDLE)` | unsupported (the QoS hint is the lever) | unsupported |
//!
//! CPU ids are plain `usize` (the kernel's logical CPU numbers); this module knows nothing
//! about the machine's topology.

use std::fmt;

// One backend per OS family, all with the same crate-private functions; `imp` is the one
// this target uses.
#[cfg(any(target_os = "macos", target_os = "ios"))]
mod darwin;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux;
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios"
)))]
mod other;

mod plain_thread;
pub(crate) use plain_thread::{baseline_cpus, capture_baseline, spawn_plain_thread};

#[cfg(any(target_os = "macos", target_os = "ios"))]
use darwin as imp;
#[cfg(any(target_os = "linux", target_os = "android"))]
use linux as imp;
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios"
)))]
use other as imp;

/// Outcome of one best-effort OS request.
///
/// Its `Display` form is meant for operators: `"applied"`, `"disabled"`,
/// `"unsupported on this OS"` or `"failed: <strerror> (os error N)"`.
///
/// ```
/// use hetsched::sys::HintOutcome;
///
/// assert_eq!(HintOutcome::Applied.to_string(), "applied");
/// assert_eq!(HintOutcome::Unsupported.to_string(), "unsupported on this OS");
/// assert!(HintOutcome::Applied.is_applied());
/// assert!(!HintOutcome::Failed { errno: 1 }.is_applied());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HintOutcome {
    /// The OS accepted the request.
    Applied,
    /// The request was not made because configuration turned it off
    /// (e.g. `HETSCHED_PIN=off`); `sys` itself never returns this, the runtime does.
    Disabled,
    /// This OS offers no way to make the request.
    Unsupported,
    /// The OS refused the request with this error number (`errno` on Unix; on Windows the
    /// OS error code).
    Failed {
        /// The raw OS error number, e.g. `libc::EINVAL`.
        errno: i32,
    },
}

impl HintOutcome {
    /// `true` only for [`HintOutcome::Applied`].
    pub fn is_applied(&self) -> bool {
        matches!(self, HintOutcome::Applied)
    }

    /// The OS error number of a [`HintOutcome::Failed`] outcome, `None` otherwise.
    ///
    /// ```
    /// use hetsched::sys::HintOutcome;
    ///
    /// assert_eq!(HintOutcome::Failed { errno: 22 }.errno(), Some(22));
    /// assert_eq!(HintOutcome::Applied.errno(), None);
    /// ```
    pub fn errno(&self) -> Option<i32> {
        match self {
            HintOutcome::Failed { errno } => Some(*errno),
            _ => None,
        }
    }
}

impl fmt::Display for HintOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HintOutcome::Applied => f.write_str("applied"),
            HintOutcome::Disabled => f.write_str("disabled"),
            HintOutcome::Unsupported => f.write_str("unsupported on this OS"),
            // std formats a raw OS error as "<strerror> (os error N)".
            HintOutcome::Failed { errno } => {
                write!(f, "failed: {}", std::io::Error::from_raw_os_error(*errno))
            }
        }
    }
}

/// Which QoS hint a worker thread gets: the one for its core class.
///
/// ```
/// use hetsched::sys::ThreadQos;
///
/// assert_eq!(ThreadQos::Performance.to_string(), "performance");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThreadQos {
    /// Latency-critical worker: ask to run fast (on performance cores where the OS decides).
    Performance,
    /// Throughput / background worker: ask to run frugally (efficiency cores).
    Efficiency,
}

impl fmt::Display for ThreadQos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ThreadQos::Performance => "performance",
            ThreadQos::Efficiency => "efficiency",
        })
    }
}

/// Pins the calling thread to the given set of CPUs (any order, duplicates allowed).
///
/// * Linux / Android: `sched_setaffinity(0, ..)` with a CPU mask holding every id. An
///   empty set, or an id of [`MAX_CPUS`](crate::topology::MAX_CPUS) (4096, the limit of
///   [`CpuSet`](crate::CpuSet) too) or more, gives `Failed { errno: EINVAL }` without
///   calling the kernel; the kernel also answers `EINVAL` when none of the ids is an online
///   CPU the thread may use. On failure the thread's affinity is unchanged.
/// * macOS / iOS: `Unsupported` (Apple Silicon rejects affinity; QoS is the only lever).
/// * Other systems, including Windows: `Unsupported`.
///
/// ```
/// use hetsched::sys::{pin_current_thread, HintOutcome};
///
/// // An empty set is never a valid request, on any OS that supports pinning.
/// let outcome = pin_current_thread(&[]);
/// assert!(!outcome.is_applied());
/// ```
pub fn pin_current_thread(cpus: &[usize]) -> HintOutcome {
    imp::pin_current_thread(cpus)
}

/// A kernel thread that another thread can place (its thread id on Linux).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OsThread(
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    pub(crate)  i32,
);

/// The calling thread as a kernel thread others can place; `None` where the OS cannot move
/// another thread (everything but Linux / Android).
pub(crate) fn current_os_thread() -> Option<OsThread> {
    imp::current_os_thread()
}

/// Pins `thread` (another thread of this process) to `cpus`, as [`pin_current_thread`]
/// does for the calling thread; `Unsupported` where [`current_os_thread`] gives nothing.
pub(crate) fn pin_thread(thread: OsThread, cpus: &[usize]) -> HintOutcome {
    imp::pin_thread(thread, cpus)
}

/// The CPUs the calling thread may run on, ascending; `None` where the OS does not say
/// (macOS, Windows, or a failing `sched_getaffinity`). Ids of
/// [`MAX_CPUS`](crate::topology::MAX_CPUS) or more are left out (the same limit as
/// [`CpuSet`](crate::CpuSet) and [`pin_current_thread`]).
///
/// ```
/// if let Some(cpus) = hetsched::sys::current_thread_affinity() {
///     assert!(!cpus.is_empty());
///     assert!(cpus.windows(2).all(|w| w[0] < w[1]));
/// }
/// ```
pub fn current_thread_affinity() -> Option<Vec<usize>> {
    imp::current_thread_affinity().ok()
}

/// How many of `cpus` (the CPUs the process may use: its own placement, [`baseline_cpus`],
/// or the CPU watch's allowed set; `None`: the OS does not say) it may keep busy: their
/// number, capped by the cgroup CPU quota as [`std::thread::available_parallelism`] reads
/// it (it reads the calling thread's affinity too, so the cap is taken only on a thread
/// that may run on all of `cpus`). `None` when the OS says nothing. Under loom and Miri
/// always 2, so that a model explores the same runtime on every machine.
pub(crate) fn cpus_available(cpus: Option<&[usize]>) -> Option<usize> {
    if cfg!(any(loom, miri)) {
        return Some(2);
    }
    let capped = std::thread::available_parallelism().ok().map(usize::from);
    let Some(cpus) = cpus else {
        return capped;
    };
    let here = current_thread_affinity();
    let covers = here.is_some_and(|here| cpus.iter().all(|c| here.contains(c)));
    Some(match capped {
        Some(capped) if covers => capped.min(cpus.len()),
        _ => cpus.len(),
    })
}

/// The CPU the calling thread is running on right now (`sched_getcpu` on Linux);
/// `None` where the OS does not say. The answer can be stale as soon as it is returned
/// unless the thread is pinned to a single CPU.
pub fn current_cpu() -> Option<usize> {
    imp::current_cpu()
}

/// Applies the class QoS hint to the calling thread.
///
/// * macOS / iOS: `pthread_set_qos_class_self_np` with `QOS_CLASS_USER_INTERACTIVE`
///   (performance) or `QOS_CLASS_UTILITY` (efficiency).
/// * Linux / Android: `sched_setattr` utilization clamps, keeping the thread's policy,
///   priority and nice value. Performance asks for `util_min = 768, util_max = 1024`,
///   efficiency for `util_min = 0, util_max = 512` (out of 1024); see the Linux backend for
///   why. Kernels without `CONFIG_UCLAMP_TASK` answer `Failed { errno: EOPNOTSUPP }`.
/// * Others: `Unsupported`.
///
/// ```
/// use hetsched::sys::{apply_thread_qos, HintOutcome, ThreadQos};
///
/// let outcome = std::thread::spawn(|| apply_thread_qos(ThreadQos::Efficiency))
///     .join()
///     .unwrap();
/// println!("efficiency QoS hint: {outcome}");
/// ```
pub fn apply_thread_qos(qos: ThreadQos) -> HintOutcome {
    imp::apply_thread_qos(qos)
}

/// Sets the calling thread's nice value (`-20` most favoured ..= `19` least).
///
/// * Linux / Android: `setpriority(PRIO_PROCESS, gettid(), nice)`, which on Linux affects
///   only this thread. Lowering the nice value below the current one needs
///   `CAP_SYS_NICE` (or `RLIMIT_NICE`); a refusal comes back as `Failed` with `EACCES` or
///   `EPERM`. A value outside `-20..=19` gives `Failed { errno: EINVAL }` instead of being
///   clamped silently.
/// * macOS and others: `Unsupported` (there `setpriority` would change the whole process).
pub fn set_current_thread_nice(nice: i32) -> HintOutcome {
    imp::set_current_thread_nice(nice)
}

/// The calling thread's nice value; `None` where it is unknown or not per-thread
/// (everything but Linux / Android).
pub fn current_thread_nice() -> Option<i32> {
    imp::current_thread_nice().ok()
}

/// Puts the calling thread at the lowest OS priority: it runs only on CPU time no ordinary
/// thread wants, and any ordinary thread that wakes on its CPU preempts it at once.
///
/// What an efficiency worker that may also run on performance CPUs asks for (see
/// [`Pin::Spill`](crate::Pin::Spill)): it soaks up an idle P core, and the P worker that
/// wakes there takes the core back without waiting for a time slice to end.
///
/// * Linux / Android: `sched_setscheduler(0, SCHED_IDLE, 0)`. Any thread may lower itself
///   to `SCHED_IDLE`; the kernel's wake-up path preempts a `SCHED_IDLE` task for any
///   waking normal task (`check_preempt_wakeup_fair`), which a high nice value alone does
///   not guarantee under EEVDF's run-to-parity rule. Utilization clamps are kept. Going
///   back needs `CAP_SYS_NICE` or `RLIMIT_NICE`, so do this only on a thread that stays low.
/// * macOS and others: `Unsupported`.
///
/// ```
/// let outcome = std::thread::spawn(hetsched::sys::set_current_thread_idle_priority)
///     .join()
///     .unwrap();
/// println!("idle priority: {outcome}");
/// ```
pub fn set_current_thread_idle_priority() -> HintOutcome {
    imp::set_current_thread_idle_priority()
}

/// The nice value critical workers ask for on Linux ([`raise_current_thread_priority`]).
///
/// Why −10: CFS/EEVDF weights grow about 1.25x per step, so a nice −10 thread weighs about
/// 9.3x a nice-0 one (9,548 against 1,024 in the kernel's `sched_prio_to_weight`): on
/// wakeup it is placed well ahead of a nice-0 batch thread and preempts it, while a
/// runaway one still leaves that thread about a tenth of the CPU (and the runtime demotes
/// its task after one long poll). −20 would buy little more preemption and take 90x.
pub const CRITICAL_NICE: i32 = -10;

/// Raises the calling thread's OS priority for latency-critical work (what critical
/// workers ask for, [`Builder::critical_workers`](crate::Builder::critical_workers)).
///
/// * Linux / Android: nice [`CRITICAL_NICE`] (−10) for this thread. Needs `CAP_SYS_NICE`
///   or an `RLIMIT_NICE` of at least 30; without: `Failed { errno: EACCES }` and the thread
///   keeps its priority.
/// * macOS / iOS: `QOS_CLASS_USER_INTERACTIVE` (the performance QoS hint), which the
///   scheduler serves first and on P cores.
/// * Others: `Unsupported`.
///
/// ```
/// let outcome = std::thread::spawn(hetsched::sys::raise_current_thread_priority)
///     .join()
///     .unwrap();
/// println!("raised priority: {outcome}");
/// ```
pub fn raise_current_thread_priority() -> HintOutcome {
    imp::raise_current_thread_priority()
}

/// CPU time the calling thread has used so far (`CLOCK_THREAD_CPUTIME_ID`), or `None`
/// where the OS has no such clock (or under Miri, which does not model it). Critical
/// workers time their polls with it: a poll that was preempted is not a poll that hogged
/// the CPU (`policy::demotes`).
///
/// ```
/// if let Some(t) = hetsched::sys::current_thread_cpu_time() {
///     println!("this thread has run for {t:?}");
/// }
/// ```
pub fn current_thread_cpu_time() -> Option<std::time::Duration> {
    #[cfg(all(unix, not(miri)))]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec into `ts`, which lives for the call.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        if rc == 0 {
            let nanos = u32::try_from(ts.tv_nsec).ok()?;
            return Some(std::time::Duration::new(
                u64::try_from(ts.tv_sec).ok()?,
                nanos,
            ));
        }
    }
    None
}

/// What this OS lets a worker thread do, as found by [`probe_capabilities`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Pinning a thread to a CPU set (tried with the probe thread's own allowed set).
    pub pin: HintOutcome,
    /// The [`ThreadQos::Performance`] hint.
    pub qos_performance: HintOutcome,
    /// The [`ThreadQos::Efficiency`] hint.
    pub qos_efficiency: HintOutcome,
    /// Changing a thread's nice value (tried with one step nicer than the probe thread's own).
    pub nice: HintOutcome,
    /// The raised OS priority critical workers ask for
    /// ([`raise_current_thread_priority`]; on Linux nice −10, which needs `CAP_SYS_NICE`).
    pub raised_priority: HintOutcome,
    /// The lowest OS priority ([`set_current_thread_idle_priority`]), asked for by
    /// efficiency workers under [`Pin::Spill`](crate::Pin::Spill).
    pub idle_priority: HintOutcome,
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "pin thread to CPUs:     {}", self.pin)?;
        writeln!(f, "QoS hint (performance): {}", self.qos_performance)?;
        writeln!(f, "QoS hint (efficiency):  {}", self.qos_efficiency)?;
        writeln!(f, "per-thread nice value:  {}", self.nice)?;
        writeln!(
            f,
            "raised priority (critical workers): {}",
            self.raised_priority
        )?;
        write!(f, "idle priority (E spill): {}", self.idle_priority)
    }
}

/// Finds out what this OS lets a worker thread do, without changing the calling thread.
///
/// A short-lived thread is spawned and makes each request on itself: pinning to the CPUs
/// it is already allowed on, the performance then the efficiency QoS hint, a nice
/// value one step nicer than its own, the raised priority of critical workers, and last
/// the idle priority (it cannot be undone). The thread then exits, taking its settings
/// with it.
/// If the probe thread cannot be spawned, every field is `Failed` with the spawn error.
///
/// ```
/// let caps = hetsched::sys::probe_capabilities();
/// println!("{caps}");
/// ```
pub fn probe_capabilities() -> Capabilities {
    let probe = std::thread::Builder::new()
        .name("hetsched-sys-probe".into())
        .spawn(probe_on_this_thread);
    let failed_with = |err: std::io::Error| {
        // A spawn error is an OS error in practice (pthread_create / CreateThread); EAGAIN
        // stands in for the rare one without a number.
        let outcome = HintOutcome::Failed {
            errno: err.raw_os_error().unwrap_or(EAGAIN),
        };
        Capabilities {
            pin: outcome.clone(),
            qos_performance: outcome.clone(),
            qos_efficiency: outcome.clone(),
            nice: outcome.clone(),
            raised_priority: outcome.clone(),
            idle_priority: outcome,
        }
    };
    match probe {
        Ok(handle) => handle.join().unwrap_or_else(|_| {
            // The probe never panics; if it somehow did, report it as "try again".
            failed_with(std::io::Error::from_raw_os_error(EAGAIN))
        }),
        Err(err) => failed_with(err),
    }
}

/// `EAGAIN` ("resource temporarily unavailable"): 11 on Linux and Windows' CRT, 35 on Darwin.
#[cfg(unix)]
const EAGAIN: i32 = libc::EAGAIN;
#[cfg(not(unix))]
const EAGAIN: i32 = 11;

/// Makes every capability request on the calling thread (which must be a throwaway thread).
fn probe_on_this_thread() -> Capabilities {
    let pin = match imp::current_thread_affinity() {
        Ok(allowed) => imp::pin_current_thread(&allowed),
        Err(outcome) => outcome,
    };
    let qos_performance = imp::apply_thread_qos(ThreadQos::Performance);
    let qos_efficiency = imp::apply_thread_qos(ThreadQos::Efficiency);
    let nice = match imp::current_thread_nice() {
        // One step nicer is always allowed without privileges; 19 is already the nicest.
        Ok(current) => imp::set_current_thread_nice((current + 1).min(MAX_NICE)),
        Err(outcome) => outcome,
    };
    let raised_priority = imp::raise_current_thread_priority();
    let idle_priority = imp::set_current_thread_idle_priority();
    Capabilities {
        pin,
        qos_performance,
        qos_efficiency,
        nice,
        raised_priority,
        idle_priority,
    }
}

/// Most favoured nice value (the range Linux and the BSDs use).
#[cfg(any(target_os = "linux", target_os = "android"))]
const MIN_NICE: i32 = -20;
/// Least favoured nice value.
const MAX_NICE: i32 = 19;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_display_names_each_case() {
        assert_eq!(HintOutcome::Applied.to_string(), "applied");
        assert_eq!(HintOutcome::Disabled.to_string(), "disabled");
        assert_eq!(
            HintOutcome::Unsupported.to_string(),
            "unsupported on this OS"
        );
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn failed_display_has_strerror_and_number() {
        let text = HintOutcome::Failed {
            errno: libc::EOPNOTSUPP,
        }
        .to_string();
        assert!(text.starts_with("failed: "), "{text}");
        assert!(text.ends_with(" (os error 95)"), "{text}");
        // The strerror text sits in between and is not empty.
        assert!(text.len() > "failed:  (os error 95)".len(), "{text}");
    }

    #[test]
    fn only_applied_is_applied() {
        assert!(HintOutcome::Applied.is_applied());
        assert!(!HintOutcome::Disabled.is_applied());
        assert!(!HintOutcome::Unsupported.is_applied());
        assert!(!HintOutcome::Failed { errno: 22 }.is_applied());
    }

    #[test]
    fn errno_only_for_failed() {
        assert_eq!(HintOutcome::Failed { errno: 13 }.errno(), Some(13));
        assert_eq!(HintOutcome::Applied.errno(), None);
        assert_eq!(HintOutcome::Unsupported.errno(), None);
    }

    #[test]
    fn capabilities_display_has_one_line_per_request() {
        let caps = Capabilities {
            pin: HintOutcome::Applied,
            qos_performance: HintOutcome::Unsupported,
            qos_efficiency: HintOutcome::Disabled,
            nice: HintOutcome::Applied,
            raised_priority: HintOutcome::Failed { errno: 13 },
            idle_priority: HintOutcome::Failed { errno: 1 },
        };
        let text = caps.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert!(lines[0].starts_with("pin thread to CPUs:") && lines[0].ends_with(" applied"));
        assert!(lines[1].contains("performance") && lines[1].ends_with("unsupported on this OS"));
        assert!(lines[2].contains("efficiency") && lines[2].ends_with(" disabled"));
        assert!(lines[3].contains("nice") && lines[3].ends_with(" applied"));
        assert!(lines[4].contains("raised priority") && lines[4].contains("os error 13"));
        assert!(lines[5].contains("idle priority") && lines[5].contains("os error 1)"));
    }

    #[test]
    fn thread_qos_display() {
        assert_eq!(ThreadQos::Performance.to_string(), "performance");
        assert_eq!(ThreadQos::Efficiency.to_string(), "efficiency");
    }
}
