//! Fallback backend for systems without a supported thread-placement API (Windows
//! included): every request is `Unsupported` and every query unknown.
//!
//! Windows could pin with `SetThreadAffinityMask` (ids < 64) and hint efficiency with
//! `SetThreadInformation(ThreadPowerThrottling)`; both need the `windows-sys` dependency
//! and a Windows machine to test on, so they are left for later.

use super::{HintOutcome, OsThread, ThreadQos};

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

pub(super) fn apply_thread_qos(_qos: ThreadQos) -> HintOutcome {
    HintOutcome::Unsupported
}

pub(super) fn raise_current_thread_priority() -> HintOutcome {
    HintOutcome::Unsupported
}

pub(super) fn set_current_thread_nice(_nice: i32) -> HintOutcome {
    HintOutcome::Unsupported
}

pub(super) fn current_thread_nice() -> Result<i32, HintOutcome> {
    Err(HintOutcome::Unsupported)
}

pub(super) fn set_current_thread_idle_priority() -> HintOutcome {
    // The QoS class is the lever here; there is no separate idle policy to ask for.
    HintOutcome::Unsupported
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
