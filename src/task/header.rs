//! What the runtime keeps next to every task (in the raw task's header, `task/raw.rs`).

// All untracked by loom: see `crate::loom::untracked`.
use crate::loom::sync::Arc;
use crate::loom::untracked::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize};
use crate::runtime::policy::{self, Lane};
use crate::runtime::OwnerRef;
use crate::runtime::Shared;
use crate::task::Qos;
use std::sync::atomic::Ordering;

// `TaskHeader::qos`, one byte: the effective Qos's urgency (bits 0-2), the lane it puts the
// task in (bits 3-4: `Lane::index`, kept next to the Qos so that the lane, read at every
// scheduling, is one shift and mask away), and the `DEMOTED` bit.
const URGENCY_MASK: u8 = 0b111;
const LANE_SHIFT: u32 = 3;
/// The bit of a demoted task (`policy::demotes`).
const DEMOTED: u8 = 0x80;

/// The state word of a task whose effective Qos is `qos`: a demoted task never returns to
/// the Critical lane.
#[inline]
fn encode(qos: Qos, demoted: bool) -> u8 {
    let lane = match Lane::of(qos) {
        Lane::Critical if demoted => Lane::Default,
        lane => lane,
    };
    qos.urgency() | ((lane.index() as u8) << LANE_SHIFT) | if demoted { DEMOTED } else { 0 }
}

/// The effective Qos in a state word.
#[inline]
fn qos_of(state: u8) -> Qos {
    Qos::from_urgency(state & URGENCY_MASK)
}

/// The lane of a task whose state word is `state`.
#[inline]
fn lane_of(state: u8) -> Lane {
    Lane::from_low_bits(usize::from(state >> LANE_SHIFT))
}

/// `TaskHeader::registry_key` of a task that is not in its runtime's registry (no real key:
/// keys are slab slots times the shard count).
const NOT_REGISTERED: usize = usize::MAX;

/// Per-task scheduling state, stored in the task's single allocation.
pub(crate) struct TaskHeader {
    /// The runtime the task belongs to (`None` only for tasks built by unit tests). Held
    /// here, once per task: the schedule function is a plain `fn` that finds the runtime
    /// through this header, and so does the task's future, to count the end of a future
    /// dropped unpolled and to leave the registry (`runtime::task_ended`,
    /// `runtime::leave_registry`).
    owner: Option<OwnerRef<Shared>>,
    /// The lane the task was spawned in, where its spawned and completed counts are kept
    /// (`Lane::index` + 1), or 0: a job that is neither counted nor entered in the registry
    /// (the blocking pool's, and a batch's carrier task, whose futures are counted as
    /// tasks of their own). Never changes.
    counted_in: u8,
    /// The task's key in its runtime's registry from its first `Pending` on
    /// (`NOT_REGISTERED` before, and again once its future is gone). Written by the worker
    /// that polled it (`WorkerCore::poll_ended`) and taken by whoever drops the future
    /// (`TaskFuture`): both hold the task's stage then, and the state word orders them.
    registry_key: AtomicUsize,
    /// `owner` was taken on a thread that is not one of the runtime's workers: give it
    /// back in a worker's batch (`runtime::release_owner`) rather than at once, which would
    /// move the count's cache line (`runtime/task_refs.rs`) to the freeing worker at every
    /// such task. A
    /// worker's own spawns drop theirs at once (cheaper: no look-up, and no line moves).
    release_in_batch: bool,
    /// The task's effective Qos (its urgency, `Qos::urgency`) and lane, plus the `DEMOTED`
    /// bit (see `encode`).
    /// Spawned with the task's Qos, which only escalation changes, and only upwards
    /// (invariant 11); a task keeps its lane from one scheduling to the next otherwise
    /// (invariant 5). Read at every scheduling and every poll, so a change applies from the
    /// next one on.
    qos: AtomicU8,
    /// Between a scheduling and the take it leads to (set by `Shared::schedule`, cleared
    /// when a worker takes the task to poll or hand it on): the lane it was queued in, plus
    /// one (0: not queued). An escalation then looks for the task in the queues of its old
    /// lane (`runtime/escalate.rs`); the take is counted in that lane, so that a lane's
    /// queued count (scheduled less taken) stays exact when a task changes lanes in a queue.
    queued_in: AtomicU8,
    /// Set by `JoinHandle::abort`; checked by the task wrapper before every poll.
    aborted: AtomicBool,
    /// When the task was last put in a queue, in nanoseconds since the runtime started,
    /// plus one (0 = this scheduling was not sampled for the latency histogram).
    scheduled_at: AtomicU64,
    /// A poll of this task was reported as stuck (`runtime/stuck.rs`): report it no more.
    long_poll_reported: AtomicBool,
}

impl Drop for TaskHeader {
    #[inline]
    fn drop(&mut self) {
        if self.release_in_batch {
            if let Some(owner) = self.owner.take() {
                crate::runtime::release_owner(owner);
            }
        }
    }
}

impl TaskHeader {
    /// Was the task spawned by a thread that is not one of its runtime's workers? (A
    /// blocking job says no wherever it was spawned from: it is run and freed on a blocking
    /// thread, with no worker batch to give its reference to; see `release_in_batch`.)
    #[inline]
    pub(crate) fn spawned_from_outside(&self) -> bool {
        self.release_in_batch
    }

    /// The header of a task of `owner`, spawned at `qos`; `from_outside`: by a thread that
    /// is not one of `owner`'s workers (see `release_in_batch`).
    /// `counted_in`: the lane whose spawned and completed counts the task is kept in, and
    /// whether it is entered in the runtime's registry once it waits (`None`: a blocking
    /// job or a batch's carrier, which never wait and are not counted as tasks).
    #[inline]
    pub(crate) fn owned(
        qos: Qos,
        owner: &Arc<Shared>,
        from_outside: bool,
        counted_in: Option<Lane>,
    ) -> TaskHeader {
        TaskHeader::with_owner(qos, Some(OwnerRef::new(owner)), from_outside, counted_in)
    }

    /// A header that belongs to no runtime (unit tests, loom's raw-task models).
    #[cfg(any(test, loom))]
    pub(crate) fn new(qos: Qos) -> TaskHeader {
        TaskHeader::with_owner(qos, None, false, None)
    }

    #[inline]
    fn with_owner(
        qos: Qos,
        owner: Option<OwnerRef<Shared>>,
        release_in_batch: bool,
        counted_in: Option<Lane>,
    ) -> TaskHeader {
        TaskHeader {
            owner,
            counted_in: counted_in.map_or(0, |lane| lane.index() as u8 + 1),
            registry_key: AtomicUsize::new(NOT_REGISTERED),
            release_in_batch,
            qos: AtomicU8::new(encode(qos, false)),
            queued_in: AtomicU8::new(0),
            aborted: AtomicBool::new(false),
            scheduled_at: AtomicU64::new(0),
            long_poll_reported: AtomicBool::new(false),
        }
    }

    /// The runtime the task belongs to.
    #[inline]
    pub(crate) fn owner(&self) -> Option<&Shared> {
        self.owner.as_ref().map(OwnerRef::get)
    }

    /// A strong reference to the runtime the task belongs to, for work that may outlive
    /// the task (scheduling it from outside the runtime: a worker may free it meanwhile).
    #[inline]
    pub(crate) fn owner_arc(&self) -> Option<Arc<Shared>> {
        self.owner.as_ref().map(OwnerRef::to_arc)
    }

    /// The lane the task's spawned and completed counts are kept in (`None`: a blocking
    /// job or a batch's carrier, neither counted nor ever in the registry).
    #[inline]
    pub(crate) fn counted_in(&self) -> Option<Lane> {
        // Written once, by `with_owner`: 0 or a lane's index plus one.
        let index = usize::from(self.counted_in).checked_sub(1)?;
        Some(Lane::from_low_bits(index))
    }

    /// Has the task been entered in its runtime's registry (it waited, and its future is
    /// not gone yet)?
    #[inline]
    pub(crate) fn is_registered(&self) -> bool {
        self.registry_key.load(Ordering::Relaxed) != NOT_REGISTERED
    }

    /// The task was entered in its runtime's registry under `key` (by its poller).
    #[inline]
    pub(crate) fn set_registry_key(&self, key: usize) {
        self.registry_key.store(key, Ordering::Relaxed);
    }

    /// The task's registry key, if it is registered; it is not afterwards (its future is
    /// being dropped).
    #[inline]
    pub(crate) fn take_registry_key(&self) -> Option<usize> {
        // A load first: most tasks never wait, and a swap is a locked instruction.
        if !self.is_registered() {
            return None;
        }
        match self.registry_key.swap(NOT_REGISTERED, Ordering::Relaxed) {
            NOT_REGISTERED => None,
            key => Some(key),
        }
    }

    /// The task's effective Qos: its spawn Qos, or the Qos it was escalated to.
    #[inline]
    pub(crate) fn qos(&self) -> Qos {
        qos_of(self.qos.load(Ordering::Acquire))
    }

    /// The lane the task is scheduled and polled in now: its effective Qos's, except that a
    /// demoted task never returns to the Critical lane.
    #[inline]
    pub(crate) fn lane(&self) -> Lane {
        lane_of(self.qos.load(Ordering::Acquire))
    }

    /// [`qos`](Self::qos) and [`lane`](Self::lane) from one read: a worker decides whether
    /// it may poll a task and sets the poll's `current_qos` from the same state, so an
    /// escalation landing in between cannot make a poll run at a Qos its worker may not
    /// run (the raise takes effect from the next scheduling, as `escalate` promises).
    #[inline]
    pub(crate) fn qos_and_lane(&self) -> (Qos, Lane) {
        let state = self.qos.load(Ordering::Acquire);
        (qos_of(state), lane_of(state))
    }

    /// A task of `waiter` Qos waits for this one: raise its effective Qos to `waiter`'s if
    /// that is more urgent (`policy::escalated`). Returns the lane it had before, if raised.
    pub(crate) fn escalate(&self, waiter: Qos) -> Option<Lane> {
        self.qos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                let raised = policy::escalated(qos_of(state), waiter)?;
                Some(encode(raised, state & DEMOTED != 0))
            })
            .ok()
            .map(lane_of)
    }

    /// A Critical poll ran too long on a critical worker (`policy::demotes`): the task runs
    /// in the Default lane from its next scheduling on, for good.
    pub(crate) fn demote(&self) {
        // Always `Some`: the update cannot fail.
        let _ = self
            .qos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                Some(encode(qos_of(state), true))
            });
    }

    /// Was the task demoted?
    #[cfg(test)]
    pub(crate) fn is_demoted(&self) -> bool {
        self.qos.load(Ordering::Acquire) & DEMOTED != 0
    }

    /// The task was put in a queue of `lane`.
    #[inline]
    pub(crate) fn set_queued_in(&self, lane: Lane) {
        self.queued_in
            .store(lane.index() as u8 + 1, Ordering::Release);
    }

    /// The task was taken out of its queue (by the one worker that now holds it): the lane
    /// it was queued in, if it was queued.
    #[inline]
    pub(crate) fn take_queued_lane(&self) -> Option<Lane> {
        match self.queued_in.load(Ordering::Acquire) {
            0 => None,
            lane => {
                self.queued_in.store(0, Ordering::Release);
                // Only `set_queued_in` writes it: a lane's index plus one.
                Some(Lane::from_low_bits(usize::from(lane) - 1))
            }
        }
    }

    /// Is the task in a queue now (scheduled and not yet taken)?
    pub(crate) fn is_queued(&self) -> bool {
        self.queued_in.load(Ordering::Acquire) != 0
    }

    pub(crate) fn abort(&self) {
        self.aborted.store(true, Ordering::Release);
    }

    #[inline]
    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    /// A poll of this task was reported as stuck (written only while the task is polled).
    pub(crate) fn mark_long_poll_reported(&self) {
        self.long_poll_reported.store(true, Ordering::Relaxed);
    }

    /// Was a poll of this task reported as stuck?
    #[inline]
    pub(crate) fn long_poll_reported(&self) -> bool {
        self.long_poll_reported.load(Ordering::Relaxed)
    }

    /// Record that the task was queued at `nanos` (since the runtime's epoch).
    #[inline]
    pub(crate) fn mark_scheduled(&self, nanos: u64) {
        self.scheduled_at
            .store(nanos.saturating_add(1), Ordering::Relaxed);
    }

    /// Take the queued-at stamp, if this scheduling was sampled.
    #[inline]
    pub(crate) fn take_scheduled(&self) -> Option<u64> {
        // A plain load first: most schedulings are not sampled, and a swap is a locked
        // instruction at every poll. (A stamp written after this load belongs to a later
        // scheduling, which its own poll takes.)
        if self.scheduled_at.load(Ordering::Relaxed) == 0 {
            return None;
        }
        match self.scheduled_at.swap(0, Ordering::Relaxed) {
            0 => None,
            stamp => Some(stamp - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_word_holds_every_qos_and_its_lane() {
        for qos in Qos::ALL {
            for demoted in [false, true] {
                let state = encode(qos, demoted);
                assert_eq!(qos_of(state), qos);
                let lane = match Lane::of(qos) {
                    Lane::Critical if demoted => Lane::Default,
                    lane => lane,
                };
                assert_eq!(lane_of(state), lane, "{qos:?} demoted: {demoted}");
                assert_eq!(state & DEMOTED != 0, demoted);
            }
        }
    }

    #[test]
    fn escalation_only_raises_and_reports_the_old_lane() {
        let header = TaskHeader::new(Qos::Background);
        assert_eq!(header.escalate(Qos::Background), None);
        assert_eq!(header.escalate(Qos::Utility), Some(Lane::Background));
        assert_eq!(header.escalate(Qos::Interactive), Some(Lane::Utility));
        assert_eq!(
            (header.qos(), header.lane()),
            (Qos::Interactive, Lane::Critical)
        );
        // Never lowered.
        assert_eq!(header.escalate(Qos::Default), None);
        assert_eq!(header.escalate(Qos::UserInitiated), None);
        assert_eq!(header.qos(), Qos::Interactive);
    }

    #[test]
    fn a_demoted_task_stays_out_of_the_critical_lane() {
        let header = TaskHeader::new(Qos::UserInitiated);
        header.demote();
        assert!(header.is_demoted());
        assert_eq!(
            (header.qos(), header.lane()),
            (Qos::UserInitiated, Lane::Default)
        );
        // Escalated afterwards: its Qos rises, its lane stays out of Critical.
        assert_eq!(header.escalate(Qos::Interactive), Some(Lane::Default));
        assert_eq!(
            (header.qos(), header.lane()),
            (Qos::Interactive, Lane::Default)
        );
        // Demotion does not touch a task that is not latency-critical.
        let batch = TaskHeader::new(Qos::Utility);
        batch.demote();
        assert_eq!(batch.lane(), Lane::Utility);
    }
}
