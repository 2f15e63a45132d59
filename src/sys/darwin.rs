//! macOS / iOS backend: pthread QoS classes are the only lever.
//!
//! Darwin has no CPU-set affinity API, and its Mach affinity-tag policy
//! (`thread_policy_set(THREAD_AFFINITY_POLICY)`) is rejected on Apple Silicon, so pinning
//! is `Unsupported`; the kernel places threads by their QoS class instead, running
//! `USER_INTERACTIVE` work on performance cores and `UTILITY` / `BACKGROUND` work
//! preferably on efficiency cores. `setpriority` on Darwin
//! applies to the whole process, so per-thread nice is `Unsupported` too.

use super::{HintOutcome, OsThread, ThreadQos};

/// `qos_class_t` values from Apple's `<sys/qos.h>` (libpthread). The type is a C enum of
/// `unsigned int`, so a `u32` has the same ABI. Declared here rather than taken from
/// `libc` so the build does not depend on how recent the resolved `libc` 0.2 release is.
#[allow(dead_code)] // The full ladder is listed for reference; two classes are used.
mod qos_class {
    pub(super) const USER_INTERACTIVE: u32 = 0x21;
    pub(super) const USER_INITIATED: u32 = 0x19;
    pub(super) const DEFAULT: u32 = 0x15;
    pub(super) const UTILITY: u32 = 0x11;
    pub(super) const BACKGROUND: u32 = 0x09;
}

extern "C" {
    /// `int pthread_set_qos_class_self_np(qos_class_t qos_class, int relative_priority)`
    /// from `<pthread/qos.h>`: returns 0 or an error number (it does not set `errno`).
    fn pthread_set_qos_class_self_np(qos_class: u32, relative_priority: libc::c_int)
        -> libc::c_int;
}

/// The QoS class each worker class asks for.
fn qos_class_for(qos: ThreadQos) -> u32 {
    match qos {
        // Latency-critical lane: the class the kernel keeps on performance cores.
        ThreadQos::Performance => qos_class::USER_INTERACTIVE,
        // Throughput / background work that should prefer efficiency cores but still
        // make steady progress (BACKGROUND can be starved for long stretches).
        ThreadQos::Efficiency => qos_class::UTILITY,
    }
}

pub(super) fn pin_current_thread(_cpus: &[usize]) -> HintOutcome {
    HintOutcome::Unsupported
}

pub(super) fn current_thread_affinity() -> Result<Vec<usize>, HintOutcome> {
    Err(HintOutcome::Unsupported)
}

pub(super) fn current_os_thread() -> Option<OsThread> {
    None
}

pub(super) fn pin_thread(_thread: OsThread, _cpus: &[usize]) -> HintOutcome {
    HintOutcome::Unsupported
}

pub(super) fn current_cpu() -> Option<usize> {
    None
}

pub(super) fn apply_thread_qos(qos: ThreadQos) -> HintOutcome {
    // SAFETY: the function takes two integers, acts on the calling thread only and
    // touches no memory of ours; the class is one of Apple's defined values and the
    // relative priority 0 is always in range.
    let rc = unsafe { pthread_set_qos_class_self_np(qos_class_for(qos), 0) };
    if rc == 0 {
        HintOutcome::Applied
    } else {
        HintOutcome::Failed { errno: rc }
    }
}

pub(super) fn raise_current_thread_priority() -> HintOutcome {
    apply_thread_qos(ThreadQos::Performance)
}

pub(super) fn set_current_thread_nice(_nice: i32) -> HintOutcome {
    HintOutcome::Unsupported
}

pub(super) fn current_thread_nice() -> Result<i32, HintOutcome> {
    Err(HintOutcome::Unsupported)
}

/// Nothing to capture: pinning and per-thread nice are unsupported here, and a new thread
/// is reset only when the spawner thread cannot create it (see `sys::plain_thread`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Baseline;

pub(super) fn capture_baseline() -> Baseline {
    Baseline
}

pub(super) fn reset_to_baseline(_baseline: &Baseline) -> [HintOutcome; 4] {
    std::array::from_fn(|_| HintOutcome::Unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_match_apple_header() {
        assert_eq!(qos_class_for(ThreadQos::Performance), 0x21);
        assert_eq!(qos_class_for(ThreadQos::Efficiency), 0x11);
    }
}

pub(super) fn set_current_thread_idle_priority() -> HintOutcome {
    // The QoS class is the lever here; there is no separate idle policy to ask for.
    HintOutcome::Unsupported
}
