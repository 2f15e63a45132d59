//! Linux / Android backend: `sched_setaffinity`, `sched_setattr` utilization clamps and
//! per-thread `setpriority`.
//!
//! The pure parts (building a CPU mask, reading one back, laying out `sched_attr`) are
//! plain functions so they can be tested without calling the kernel, also under Miri.

use super::{HintOutcome, OsThread, ThreadQos, MAX_NICE, MIN_NICE};
use std::mem::size_of;

/// Bits in one word of a kernel CPU mask (`unsigned long`).
const WORD_BITS: usize = libc::c_ulong::BITS as usize;

/// How many CPU ids a pin request can name: the crate's one CPU-id limit, the same as
/// [`CpuSet`](crate::CpuSet)'s ([`MAX_CPUS`](crate::topology::MAX_CPUS), 4096), so that
/// every CPU detection can report can also be pinned to. glibc's fixed `cpu_set_t`
/// (`CPU_SETSIZE`, 1024) is too small for that, so the masks here are word vectors: the
/// kernel takes any buffer that is a multiple of `sizeof(unsigned long)`.
pub(crate) const CPU_MASK_BITS: usize = crate::topology::MAX_CPUS;
const _: () = assert!(CPU_MASK_BITS % WORD_BITS == 0);

/// Largest mask `sched_getaffinity` is tried with (bits): the kernel refuses a buffer
/// smaller than its `nr_cpu_ids`, so a bigger machine gets a bigger buffer, up to this.
const MAX_QUERY_BITS: usize = 1 << 20;

/// `struct sched_attr` as of Linux 5.3, `SCHED_ATTR_SIZE_VER1` (56 bytes), from
/// `include/uapi/linux/sched/types.h`. The `libc` crate's `sched_attr` is the 48-byte
/// `SCHED_ATTR_SIZE_VER0` layout without the utilization-clamp fields, hence our own.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SchedAttr {
    /// Size of this struct in bytes: tells the kernel which layout version we speak.
    pub(crate) size: u32,
    /// Scheduling policy; ignored with `SCHED_FLAG_KEEP_POLICY`.
    pub(crate) sched_policy: u32,
    /// `SCHED_FLAG_*` bits.
    pub(crate) sched_flags: u64,
    /// Nice value (SCHED_NORMAL / SCHED_BATCH).
    pub(crate) sched_nice: i32,
    /// Static priority (SCHED_FIFO / SCHED_RR).
    pub(crate) sched_priority: u32,
    /// SCHED_DEADLINE runtime, ns.
    pub(crate) sched_runtime: u64,
    /// SCHED_DEADLINE deadline, ns.
    pub(crate) sched_deadline: u64,
    /// SCHED_DEADLINE period, ns.
    pub(crate) sched_period: u64,
    /// Utilization clamp minimum, 0..=1024.
    pub(crate) sched_util_min: u32,
    /// Utilization clamp maximum, 0..=1024.
    pub(crate) sched_util_max: u32,
}

/// `SCHED_ATTR_SIZE_VER1` in `include/uapi/linux/sched/types.h`.
pub(crate) const SCHED_ATTR_SIZE_VER1: usize = 56;
const _: () = assert!(size_of::<SchedAttr>() == SCHED_ATTR_SIZE_VER1);

// Flag bits from `include/uapi/linux/sched.h`.
/// Keep the thread's current scheduling policy.
pub(crate) const SCHED_FLAG_KEEP_POLICY: u64 = 0x08;
/// Keep the thread's current nice value / priority.
pub(crate) const SCHED_FLAG_KEEP_PARAMS: u64 = 0x10;
/// Both of the above: change nothing but what the other flags name.
pub(crate) const SCHED_FLAG_KEEP_ALL: u64 = SCHED_FLAG_KEEP_POLICY | SCHED_FLAG_KEEP_PARAMS;
/// Set `sched_util_min`.
pub(crate) const SCHED_FLAG_UTIL_CLAMP_MIN: u64 = 0x20;
/// Set `sched_util_max`.
pub(crate) const SCHED_FLAG_UTIL_CLAMP_MAX: u64 = 0x40;

/// Full CPU capacity in utilization-clamp units (`SCHED_CAPACITY_SCALE`).
pub(crate) const UCLAMP_SCALE: u32 = 1024;

/// Clamp minimum for performance workers: 75 % of the biggest CPU.
///
/// Per `Documentation/scheduler/sched-util-clamp.rst`, `util_min` makes the scheduler treat
/// the task as at least this busy: energy-aware placement then only fits it on CPUs whose
/// capacity is above that (the big cores; little cores are typically well below 768), and
/// schedutil asks for a frequency of at least ~75 % of maximum while it runs. 1024 would
/// also demand the top frequency (or the single biggest core) at all times, which costs
/// power and thermal headroom for little latency gain.
pub(crate) const PERFORMANCE_UTIL_MIN: u32 = 768;

/// Clamp maximum for efficiency workers: half of the biggest CPU.
///
/// `util_max` caps how busy the task can look, so however long it runs it fits on the
/// mid / little cores and never drives the frequency above ~50 % on its own — background
/// throughput work stays frugal.
pub(crate) const EFFICIENCY_UTIL_MAX: u32 = 512;

/// Builds the kernel CPU mask (`CPU_MASK_BITS` bits) holding exactly `cpus`.
///
/// Errors with `EINVAL` for an empty list or an id the mask cannot hold, so nothing
/// truncated ever reaches the kernel.
pub(crate) fn cpu_mask_from_ids(cpus: &[usize]) -> Result<Vec<libc::c_ulong>, i32> {
    if cpus.is_empty() || cpus.iter().any(|&cpu| cpu >= CPU_MASK_BITS) {
        return Err(libc::EINVAL);
    }
    let mut mask: Vec<libc::c_ulong> = vec![0; CPU_MASK_BITS / WORD_BITS];
    for &cpu in cpus {
        mask[cpu / WORD_BITS] |= 1 << (cpu % WORD_BITS);
    }
    Ok(mask)
}

/// The ids in a kernel CPU mask below `CPU_MASK_BITS`, ascending (higher ids are beyond
/// what the crate can name, and dropped).
pub(crate) fn ids_from_cpu_mask(mask: &[libc::c_ulong]) -> Vec<usize> {
    let mut ids = Vec::new();
    for (i, &word) in mask.iter().enumerate() {
        for bit in 0..WORD_BITS {
            let cpu = i * WORD_BITS + bit;
            if cpu >= CPU_MASK_BITS {
                return ids;
            }
            if word & (1 << bit) != 0 {
                ids.push(cpu);
            }
        }
    }
    ids
}

/// The `sched_attr` asking for `qos`'s utilization clamps and nothing else.
///
/// Both bounds are always set, so the request is a complete state: a thread can switch
/// class without the kernel rejecting a leftover `util_min` above the new `util_max`
/// (`uclamp_validate` answers `EINVAL` to min > max). `nice` and `priority` carry the
/// thread's current values; with `SCHED_FLAG_KEEP_PARAMS` the kernel keeps them anyway,
/// passing them too means a kernel that validates the fields before honouring the flag
/// sees no change (and no privilege check for a "raise" to nice 0).
pub(crate) fn qos_sched_attr(qos: ThreadQos, nice: i32, priority: u32) -> SchedAttr {
    let (util_min, util_max) = match qos {
        ThreadQos::Performance => (PERFORMANCE_UTIL_MIN, UCLAMP_SCALE),
        ThreadQos::Efficiency => (0, EFFICIENCY_UTIL_MAX),
    };
    clamp_sched_attr(util_min, util_max, nice, priority)
}

/// `sched_util_min` / `sched_util_max` value meaning "back to the system default"
/// (Linux 5.11+; older kernels answer `EINVAL`).
pub(crate) const UCLAMP_RESET: u32 = u32::MAX;

/// The `sched_attr` setting both utilization clamps and nothing else (see
/// [`qos_sched_attr`] for `nice` and `priority`).
pub(crate) fn clamp_sched_attr(
    util_min: u32,
    util_max: u32,
    nice: i32,
    priority: u32,
) -> SchedAttr {
    SchedAttr {
        size: SCHED_ATTR_SIZE_VER1 as u32,
        sched_policy: 0,
        sched_flags: SCHED_FLAG_KEEP_ALL | SCHED_FLAG_UTIL_CLAMP_MIN | SCHED_FLAG_UTIL_CLAMP_MAX,
        sched_nice: nice,
        sched_priority: priority,
        sched_runtime: 0,
        sched_deadline: 0,
        sched_period: 0,
        sched_util_min: util_min,
        sched_util_max: util_max,
    }
}

/// Converts the raw `getpriority` system call result to a nice value.
///
/// The raw syscall returns `20 - nice` (1..=40) so that success is never negative
/// (man 2 getpriority, "C library/kernel differences").
pub(crate) fn nice_from_raw_getpriority(raw: libc::c_long) -> i32 {
    20 - raw as i32
}

/// The errno of the last failed libc call on this thread.
fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EINVAL)
}

/// The calling thread's kernel thread id (what `PRIO_PROCESS` means per thread on Linux).
fn current_tid() -> libc::pid_t {
    // SAFETY: gettid takes no arguments, cannot fail and touches no memory of ours.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::pid_t }
}

pub(super) fn pin_current_thread(cpus: &[usize]) -> HintOutcome {
    // tid 0 means the calling thread.
    pin_thread_id(0, cpus)
}

pub(super) fn current_os_thread() -> Option<OsThread> {
    Some(OsThread(current_tid()))
}

pub(super) fn pin_thread(thread: OsThread, cpus: &[usize]) -> HintOutcome {
    pin_thread_id(thread.0, cpus)
}

/// `sched_setaffinity` for the kernel thread `tid` (0: the calling thread).
fn pin_thread_id(tid: libc::pid_t, cpus: &[usize]) -> HintOutcome {
    let mask = match cpu_mask_from_ids(cpus) {
        Ok(mask) => mask,
        Err(errno) => return HintOutcome::Failed { errno },
    };
    let bytes = mask.len() * size_of::<libc::c_ulong>();
    // SAFETY: `mask` is a live, initialised buffer of exactly `bytes` bytes; the kernel
    // only reads it. The pointer cast only changes the pointee type the FFI declaration
    // names (the kernel treats the buffer as an array of unsigned long, which it is); Rust
    // never reads it as a `cpu_set_t`. The caller guarantees `tid` is a live thread of
    // this process (Linux reuses ids: see `runtime/lend.rs`, `LoanState::exited`).
    let rc = unsafe { libc::sched_setaffinity(tid, bytes, mask.as_ptr().cast()) };
    if rc == 0 {
        HintOutcome::Applied
    } else {
        HintOutcome::Failed {
            errno: last_errno(),
        }
    }
}

pub(super) fn current_thread_affinity() -> Result<Vec<usize>, HintOutcome> {
    let mut bits = CPU_MASK_BITS;
    loop {
        let mut mask: Vec<libc::c_ulong> = vec![0; bits / WORD_BITS];
        let bytes = mask.len() * size_of::<libc::c_ulong>();
        // SAFETY: `mask` is a live, writable buffer of exactly `bytes` bytes; the kernel
        // writes at most `bytes` bytes into it and reads nothing from it. The pointer cast
        // only changes the pointee type the FFI declaration names (see
        // `pin_current_thread`). pid 0 means the calling thread.
        let rc = unsafe { libc::sched_getaffinity(0, bytes, mask.as_mut_ptr().cast()) };
        if rc == 0 {
            return Ok(ids_from_cpu_mask(&mask));
        }
        let errno = last_errno();
        // EINVAL: the buffer is smaller than the kernel's CPU mask; try a bigger one.
        if errno == libc::EINVAL && bits < MAX_QUERY_BITS {
            bits *= 2;
            continue;
        }
        return Err(HintOutcome::Failed { errno });
    }
}

pub(super) fn current_cpu() -> Option<usize> {
    // SAFETY: sched_getcpu takes no arguments and touches no memory of ours.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).ok()
}

/// The calling thread's static (real-time) priority, 0 for normal threads or if unknown.
fn current_rt_priority() -> u32 {
    // SAFETY: all-zero bytes is a valid sched_param (a struct of integers).
    let mut param: libc::sched_param = unsafe { std::mem::zeroed() };
    // SAFETY: `param` is a writable sched_param; pid 0 means the calling thread.
    let rc = unsafe { libc::sched_getparam(0, &mut param) };
    if rc == 0 {
        u32::try_from(param.sched_priority).unwrap_or(0)
    } else {
        0
    }
}

pub(super) fn apply_thread_qos(qos: ThreadQos) -> HintOutcome {
    let nice = current_thread_nice().unwrap_or(0);
    set_sched_attr(&qos_sched_attr(qos, nice, current_rt_priority()))
}

/// `sched_setattr` on the calling thread.
fn set_sched_attr(attr: &SchedAttr) -> HintOutcome {
    // SAFETY: sched_setattr(pid, attr, flags) reads `attr.size` (56) bytes from a valid,
    // initialised #[repr(C)] struct of exactly that size; pid 0 is the calling thread and
    // the syscall's own flags argument must be 0.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0 as libc::pid_t,
            attr as *const SchedAttr,
            0 as libc::c_uint,
        )
    };
    if rc == 0 {
        HintOutcome::Applied
    } else {
        HintOutcome::Failed {
            errno: last_errno(),
        }
    }
}

pub(super) fn raise_current_thread_priority() -> HintOutcome {
    set_current_thread_nice(super::CRITICAL_NICE)
}

pub(super) fn set_current_thread_nice(nice: i32) -> HintOutcome {
    if !(MIN_NICE..=MAX_NICE).contains(&nice) {
        return HintOutcome::Failed {
            errno: libc::EINVAL,
        };
    }
    // PRIO_PROCESS with a thread id changes only that thread on Linux (man 2 setpriority,
    // BUGS: "threads do not share a common nice value").
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, current_tid() as libc::id_t, nice) };
    if rc == 0 {
        HintOutcome::Applied
    } else {
        HintOutcome::Failed {
            errno: last_errno(),
        }
    }
}

pub(super) fn set_current_thread_idle_priority() -> HintOutcome {
    // SCHED_IDLE takes static priority 0.
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param the kernel only reads; pid 0 is the calling
    // thread.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if rc == 0 {
        HintOutcome::Applied
    } else {
        HintOutcome::Failed {
            errno: last_errno(),
        }
    }
}

pub(super) fn current_thread_nice() -> Result<i32, HintOutcome> {
    // The raw syscall, unlike the libc wrapper, never returns a valid value of -1, so no
    // errno juggling is needed to tell nice -1 from an error.
    // SAFETY: getpriority takes plain integers and touches no memory of ours.
    let raw = unsafe {
        libc::syscall(
            libc::SYS_getpriority,
            libc::PRIO_PROCESS as libc::c_int,
            current_tid() as libc::id_t,
        )
    };
    if raw < 0 {
        Err(HintOutcome::Failed {
            errno: last_errno(),
        })
    } else {
        Ok(nice_from_raw_getpriority(raw))
    }
}

/// What a thread of this process looked like before hetsched placed any of its own: the
/// placement the timer and blocking threads are reset to when they cannot be started by
/// the clean spawner thread (see `sys::plain_thread`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Baseline {
    /// CPUs it may run on.
    pub(crate) affinity: Option<Vec<usize>>,
    /// Scheduling policy (`SCHED_OTHER`, ...; without `SCHED_RESET_ON_FORK`) and its static
    /// priority.
    pub(crate) policy: Option<(libc::c_int, libc::c_int)>,
    /// Nice value.
    pub(crate) nice: Option<i32>,
    /// Reset utilization clamps to the system default (no clamp of our own).
    pub(crate) reset_clamps: bool,
}

/// The calling thread's placement. Under Miri, which cannot make these calls, nothing is
/// captured (and so nothing is reset).
pub(super) fn capture_baseline() -> Baseline {
    if cfg!(miri) {
        return Baseline::default();
    }
    Baseline {
        affinity: current_thread_affinity().ok(),
        policy: current_policy(),
        nice: current_thread_nice().ok(),
        reset_clamps: true,
    }
}

/// The calling thread's scheduling policy and static priority.
fn current_policy() -> Option<(libc::c_int, libc::c_int)> {
    // SAFETY: sched_getscheduler takes a plain integer (0: the calling thread) and touches
    // no memory of ours.
    let policy = unsafe { libc::sched_getscheduler(0) };
    if policy < 0 {
        return None;
    }
    let priority = libc::c_int::try_from(current_rt_priority()).unwrap_or(0);
    Some((policy & !libc::SCHED_RESET_ON_FORK, priority))
}

/// Puts the calling thread back to `baseline`, each part best-effort and in an order that
/// needs no privilege where the OS allows it at all: affinity (always allowed on one's
/// own thread), policy (leaving `SCHED_IDLE` needs `CAP_SYS_NICE` or an `RLIMIT_NICE`
/// that allows the current nice value), nice (lowering it needs the same), clamps.
/// Returns the outcome of each step, for tests.
pub(super) fn reset_to_baseline(baseline: &Baseline) -> [HintOutcome; 4] {
    let affinity = match &baseline.affinity {
        Some(cpus) => pin_current_thread(cpus),
        None => HintOutcome::Disabled,
    };
    let policy = match baseline.policy {
        Some((policy, priority)) => set_policy(policy, priority),
        None => HintOutcome::Disabled,
    };
    let nice = match baseline.nice {
        Some(nice) if current_thread_nice().ok() != Some(nice) => set_current_thread_nice(nice),
        Some(_) => HintOutcome::Applied,
        None => HintOutcome::Disabled,
    };
    let clamps = if baseline.reset_clamps {
        reset_clamps()
    } else {
        HintOutcome::Disabled
    };
    [affinity, policy, nice, clamps]
}

fn set_policy(policy: libc::c_int, priority: libc::c_int) -> HintOutcome {
    // SAFETY: all-zero bytes is a valid sched_param (a struct of integers).
    let mut param: libc::sched_param = unsafe { std::mem::zeroed() };
    param.sched_priority = priority;
    // SAFETY: `param` is a valid, initialised sched_param that the kernel only reads; pid 0
    // means the calling thread (Linux applies the policy per thread).
    let rc = unsafe { libc::sched_setscheduler(0, policy, &param) };
    if rc == 0 {
        HintOutcome::Applied
    } else {
        HintOutcome::Failed {
            errno: last_errno(),
        }
    }
}

/// Utilization clamps back to the system default: "reset" (-1) where the kernel knows it,
/// else the widest clamps (0, 1024), which clamp nothing.
fn reset_clamps() -> HintOutcome {
    let nice = current_thread_nice().unwrap_or(0);
    let priority = current_rt_priority();
    match set_sched_attr(&clamp_sched_attr(
        UCLAMP_RESET,
        UCLAMP_RESET,
        nice,
        priority,
    )) {
        HintOutcome::Failed { errno } if errno == libc::EINVAL => {
            set_sched_attr(&clamp_sched_attr(0, UCLAMP_SCALE, nice, priority))
        }
        outcome => outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn sched_attr_matches_uapi_layout() {
        assert_eq!(size_of::<SchedAttr>(), 56);
        assert_eq!(offset_of!(SchedAttr, size), 0);
        assert_eq!(offset_of!(SchedAttr, sched_policy), 4);
        assert_eq!(offset_of!(SchedAttr, sched_flags), 8);
        assert_eq!(offset_of!(SchedAttr, sched_nice), 16);
        assert_eq!(offset_of!(SchedAttr, sched_priority), 20);
        assert_eq!(offset_of!(SchedAttr, sched_runtime), 24);
        assert_eq!(offset_of!(SchedAttr, sched_deadline), 32);
        assert_eq!(offset_of!(SchedAttr, sched_period), 40);
        assert_eq!(offset_of!(SchedAttr, sched_util_min), 48);
        assert_eq!(offset_of!(SchedAttr, sched_util_max), 52);
    }

    #[test]
    fn flag_values_match_uapi() {
        assert_eq!(SCHED_FLAG_KEEP_ALL, 0x18);
        assert_eq!(SCHED_FLAG_UTIL_CLAMP_MIN, 0x20);
        assert_eq!(SCHED_FLAG_UTIL_CLAMP_MAX, 0x40);
    }

    #[test]
    fn performance_attr_raises_floor_and_keeps_everything_else() {
        let attr = qos_sched_attr(ThreadQos::Performance, 3, 0);
        assert_eq!(attr.size, 56);
        assert_eq!(attr.sched_flags, 0x18 | 0x20 | 0x40);
        assert_eq!(attr.sched_util_min, 768);
        assert_eq!(attr.sched_util_max, 1024);
        assert_eq!(attr.sched_nice, 3);
        assert_eq!(attr.sched_priority, 0);
    }

    #[test]
    fn efficiency_attr_lowers_ceiling() {
        let attr = qos_sched_attr(ThreadQos::Efficiency, -2, 5);
        assert_eq!(attr.sched_flags, 0x18 | 0x20 | 0x40);
        assert_eq!(attr.sched_util_min, 0);
        assert_eq!(attr.sched_util_max, 512);
        assert_eq!(attr.sched_nice, -2);
        assert_eq!(attr.sched_priority, 5);
    }

    #[test]
    fn reset_clamp_attr_asks_for_the_default_and_keeps_everything_else() {
        let attr = clamp_sched_attr(UCLAMP_RESET, UCLAMP_RESET, 4, 0);
        assert_eq!(attr.sched_flags, 0x18 | 0x20 | 0x40);
        // -1 as the kernel's __u32 field: "reset to the system default".
        assert_eq!(attr.sched_util_min, u32::MAX);
        assert_eq!(attr.sched_util_max, u32::MAX);
        assert_eq!(attr.sched_nice, 4);
    }

    #[test]
    fn clamps_are_valid_for_every_class() {
        for qos in [ThreadQos::Performance, ThreadQos::Efficiency] {
            let attr = qos_sched_attr(qos, 0, 0);
            assert!(attr.sched_util_min <= attr.sched_util_max, "{qos}");
            assert!(attr.sched_util_max <= UCLAMP_SCALE, "{qos}");
        }
    }

    #[test]
    fn cpu_mask_round_trips_sorted_and_deduplicated() {
        let mask = cpu_mask_from_ids(&[7, 0, 3, 7, 1023, 64, 63]).expect("ids fit");
        assert_eq!(ids_from_cpu_mask(&mask), vec![0, 3, 7, 63, 64, 1023]);
    }

    #[test]
    fn cpu_mask_single_id() {
        let mask = cpu_mask_from_ids(&[0]).expect("0 fits");
        assert_eq!(ids_from_cpu_mask(&mask), vec![0]);
    }

    #[test]
    fn cpu_mask_rejects_empty_list() {
        assert_eq!(cpu_mask_from_ids(&[]).err(), Some(libc::EINVAL));
    }

    /// One CPU-id limit in the crate: what a `CpuSet` (and so detection) can hold, a pin
    /// request can name. (glibc's `cpu_set_t` stops at 1024.)
    #[test]
    fn pin_masks_hold_every_id_a_cpuset_can() {
        assert_eq!(CPU_MASK_BITS, crate::topology::MAX_CPUS);
        let top = crate::topology::MAX_CPUS - 1;
        let mask = cpu_mask_from_ids(&[0, 1024, 2048, top]).expect("ids below MAX_CPUS fit");
        assert_eq!(ids_from_cpu_mask(&mask), vec![0, 1024, 2048, top]);
    }

    #[test]
    fn cpu_mask_rejects_id_past_capacity() {
        let limit = crate::topology::MAX_CPUS;
        assert_eq!(cpu_mask_from_ids(&[0, limit]).err(), Some(libc::EINVAL));
        assert_eq!(cpu_mask_from_ids(&[5000]).err(), Some(libc::EINVAL));
        assert_eq!(cpu_mask_from_ids(&[usize::MAX]).err(), Some(libc::EINVAL));
    }

    #[test]
    fn ids_past_the_limit_in_a_kernel_mask_are_dropped() {
        // A kernel mask bigger than ours (a machine with more CPUs): ids >= the limit are
        // beyond what the crate can name.
        let mut mask: Vec<libc::c_ulong> = vec![0; 2 * CPU_MASK_BITS / WORD_BITS];
        mask[0] = 0b101;
        mask[CPU_MASK_BITS / WORD_BITS] = 1; // id == CPU_MASK_BITS
        assert_eq!(ids_from_cpu_mask(&mask), vec![0, 2]);
    }

    #[test]
    fn raw_getpriority_converts_to_nice() {
        assert_eq!(nice_from_raw_getpriority(20), 0);
        assert_eq!(nice_from_raw_getpriority(40), -20);
        assert_eq!(nice_from_raw_getpriority(1), 19);
        assert_eq!(nice_from_raw_getpriority(21), -1);
    }
}
