//! CPU sets that change under a running runtime: an orchestrator shrinks (or grows) the
//! cgroup cpuset of a container, or a CPU goes offline.
//!
//! What the kernel already does: it never leaves a thread on a CPU it may not use. A
//! thread whose affinity shares CPUs with the new cpuset keeps that intersection; one
//! whose affinity shares none is moved to the whole cpuset. Since Linux 6.2 it remembers
//! the affinity the thread asked for and gives it back when the cpuset grows again; before
//! that, such a thread stays on the whole cpuset for good. So tasks keep running through
//! any change (no worker is stuck; nothing here is needed for that), but the placement
//! the runtime chose can be lost: a `Pin::Core` worker whose CPU went away lands on every
//! CPU, E CPUs included; after a shrink and a regrow an older kernel leaves P workers
//! spread over E CPUs; and nothing tells the operator.
//!
//! What the runtime adds:
//! - **Noticing**, by a periodic cheap check ([`Builder::cpu_check_interval`], default
//!   100 ms): the runtime's monitor thread (a plain thread started with the process's own
//!   placement, `sys::plain_thread`) reads its own affinity, one `sched_getaffinity` per
//!   check, which the kernel narrows along with the cpuset; [`policy::allowed_cpus`] turns
//!   that into the CPUs the process may use. A change is published here and every worker is
//!   woken.
//! - **Re-placing**: each worker, between polls (a busy one at its next fair turn, within
//!   61 polls; a sleeping one when woken), sees the new epoch, asks [`policy::repin`] where it belongs now (its own CPUs still allowed;
//!   else its class's; else anywhere allowed, *displaced*) and pins itself there. A worker
//!   moves only itself, so no thread id is ever used after its thread has gone.
//! - **Reporting**: [`RuntimeMetrics::allowed_cpus`], [`RuntimeMetrics::cpu_set_changes`],
//!   and per worker [`WorkerMetrics::cpus_now`], `displaced`, `repins` and the last
//!   re-pin's outcome; the topology tool prints them (`--watch`).
//!
//! Protocol (loom model `loom-tests/tests/cpu_watch.rs`): the monitor stores the new set
//! under the lock, then bumps `epoch`; a worker loads `epoch` first, then reads the set.
//! A worker that saw epoch `e` has read a set at least as new as the one published with
//! `e`, so it never settles on an older set than the last one published.
//!
//! [`Builder::cpu_check_interval`]: super::Builder::cpu_check_interval
//! [`policy::allowed_cpus`]: super::policy::allowed_cpus
//! [`policy::repin`]: super::policy::repin
//! [`RuntimeMetrics::allowed_cpus`]: super::RuntimeMetrics::allowed_cpus
//! [`RuntimeMetrics::cpu_set_changes`]: super::RuntimeMetrics::cpu_set_changes
//! [`WorkerMetrics::cpus_now`]: super::WorkerMetrics::cpus_now

use crate::loom::sync::atomic::AtomicUsize;
use crate::loom::sync::Mutex;
use crate::sys::HintOutcome;
use std::cell::Cell;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::time::Duration;

/// The default [`Builder::cpu_check_interval`](super::Builder::cpu_check_interval):
/// 100 ms. One `sched_getaffinity` call per check (about 1 µs of the monitor thread's
/// time), so a change is noticed within 100 ms for a cost nobody can measure.
pub const DEFAULT_CPU_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// The CPUs the process may use, as last seen, and how often that changed.
pub(crate) struct CpuWatch {
    /// How often the monitor looks.
    pub(crate) interval: Duration,
    /// The allowed CPUs last seen; empty until the first look.
    allowed: Mutex<Vec<usize>>,
    /// Bumped after every change of `allowed` (not for the first look).
    epoch: AtomicUsize,
}

impl CpuWatch {
    pub(crate) fn new(interval: Duration) -> CpuWatch {
        CpuWatch {
            interval,
            allowed: Mutex::new(Vec::new()),
            epoch: AtomicUsize::new(0),
        }
    }

    /// The monitor saw `allowed`: publish it if it differs from the last. True when it
    /// changed (the first look only records the starting set: nothing to re-place).
    pub(crate) fn publish(&self, allowed: Vec<usize>) -> bool {
        {
            let mut last = self.allowed.lock();
            if *last == allowed {
                return false;
            }
            let first = last.is_empty();
            *last = allowed;
            if first {
                return false;
            }
        }
        self.epoch.fetch_add(1, Release);
        true
    }

    /// Would publishing `allowed` be a change (not the first look, not the set last seen)?
    pub(crate) fn changes_from(&self, allowed: &[usize]) -> bool {
        let last = self.allowed.lock();
        !last.is_empty() && *last != allowed
    }

    /// Changes published so far.
    pub(crate) fn changes(&self) -> u64 {
        self.epoch.load(Acquire) as u64
    }

    /// The allowed CPUs last seen (empty before the first look).
    pub(crate) fn allowed(&self) -> Vec<usize> {
        self.allowed.lock().clone()
    }

    /// A cheap first look (one load, for the worker loop): has the set changed since the
    /// epoch `seen`? If so, [`follow`](Self::follow) does the real look.
    #[inline]
    pub(crate) fn changed_since(&self, seen: usize) -> bool {
        crate::loom::mutation!("cpu_watch_epoch_after_set") || self.epoch.load(Acquire) != seen
    }

    /// A worker's look: the allowed set, if it changed since the epoch in `seen` (which
    /// is then updated).
    pub(crate) fn follow(&self, seen: &Cell<usize>) -> Option<Vec<usize>> {
        if crate::loom::mutation!("cpu_watch_epoch_after_set") {
            // The planted bug: the set first, the epoch after. A change published between
            // the two is counted as seen but never applied.
            let allowed = self.allowed();
            let epoch = self.epoch.load(Acquire);
            if epoch == seen.get() {
                return None;
            }
            seen.set(epoch);
            return Some(allowed);
        }
        let epoch = self.epoch.load(Acquire);
        if epoch == seen.get() {
            return None;
        }
        seen.set(epoch);
        Some(self.allowed())
    }
}

/// Where a worker runs now, for metrics (written by the worker when it re-places itself).
#[derive(Clone, Debug, Default)]
pub(crate) struct Placed {
    /// The CPUs it pinned itself to last; `None` until the allowed set first changed
    /// (it is where it was placed at start).
    pub(crate) cpus: Option<Vec<usize>>,
    /// None of its class's CPUs was allowed then.
    pub(crate) displaced: bool,
    /// Times it re-placed itself.
    pub(crate) repins: u64,
    /// The outcome of the last re-pin.
    pub(crate) outcome: Option<HintOutcome>,
}
