//! What the runtime keeps next to every task (async-task's metadata slot).

// Both untracked by loom: see `crate::loom::untracked`.
use crate::loom::untracked::{AtomicBool, AtomicU64};
use crate::task::Qos;
use std::sync::atomic::Ordering;

/// Per-task scheduling state, stored in the task's single allocation.
#[derive(Debug)]
pub(crate) struct TaskHeader {
    /// The task's Qos, fixed at spawn: a woken task keeps its lane (invariant 5).
    pub(crate) qos: Qos,
    /// Set by `JoinHandle::abort`; checked by the task wrapper before every poll.
    aborted: AtomicBool,
    /// When the task was last put in a queue, in nanoseconds since the runtime started,
    /// plus one (0 = this scheduling was not sampled for the latency histogram).
    scheduled_at: AtomicU64,
    /// A poll of this task was reported as stuck (`runtime/stuck.rs`): report it no more.
    long_poll_reported: AtomicBool,
}

impl TaskHeader {
    pub(crate) fn new(qos: Qos) -> TaskHeader {
        TaskHeader {
            qos,
            aborted: AtomicBool::new(false),
            scheduled_at: AtomicU64::new(0),
            long_poll_reported: AtomicBool::new(false),
        }
    }

    pub(crate) fn abort(&self) {
        self.aborted.store(true, Ordering::Release);
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    /// A poll of this task was reported as stuck (written only while the task is polled).
    pub(crate) fn mark_long_poll_reported(&self) {
        self.long_poll_reported.store(true, Ordering::Relaxed);
    }

    /// Was a poll of this task reported as stuck?
    pub(crate) fn long_poll_reported(&self) -> bool {
        self.long_poll_reported.load(Ordering::Relaxed)
    }

    /// Record that the task was queued at `nanos` (since the runtime's epoch).
    pub(crate) fn mark_scheduled(&self, nanos: u64) {
        self.scheduled_at
            .store(nanos.saturating_add(1), Ordering::Relaxed);
    }

    /// Take the queued-at stamp, if this scheduling was sampled.
    pub(crate) fn take_scheduled(&self) -> Option<u64> {
        match self.scheduled_at.swap(0, Ordering::Relaxed) {
            0 => None,
            stamp => Some(stamp - 1),
        }
    }
}
