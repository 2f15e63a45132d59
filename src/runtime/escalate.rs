//! Qos escalation across `JoinHandle` waits: what the runtime does once a task was raised
//! to a higher Qos (`TaskHeader::escalate`, decided by `policy::escalated`).
//!
//! The raise itself is one atomic in the task's header: every later scheduling and poll
//! reads the new lane. What remains is a task that sits in a queue of its *old* lane at that
//! moment, behind a batch that lane's workers may take seconds to get through. Two rules
//! move it:
//!
//! - **rescue** (here, right away, on the thread of the waiter): the old lane's injector and
//!   every worker's queue for that lane are taken apart from the head until the task turns
//!   up; the task is scheduled in its new lane, the tasks passed on the way go to the back
//!   of the old lane's injector (their order among themselves is kept, their place relative
//!   to tasks queued since is not: a cost paid once per escalation of a queued task, at most
//!   four times in a task's life). At most [`RESCUE_LIMIT`] tasks are passed, the places a
//!   just-spawned task lands first;
//! - **re-route** (`worker.rs`, at every take): a worker that takes a task it may not poll
//!   now (its role may not run the new lane, or the lane needs an efficiency slot and none
//!   is free) hands it to that lane's injector instead of polling it; a task in a worker's
//!   LIFO slot whose new lane the policy would not put there is handed on the same way at
//!   the worker's next search, whatever lane it looks at (`WorkerCore::lifo_task_of`: an E
//!   worker never looks for Critical work, and looks for Default work only while it holds
//!   a slot), and a search that finds nothing ends with the slot's task whatever its lane
//!   (`WorkerCore::lifo_left_behind`: a task raised during the search to a lane it had
//!   already looked at). That covers what a rescue cannot reach: a task in some worker's
//!   LIFO slot, one being pushed at the instant of the rescue, one past the limit.
//!
//! Why take queues apart rather than leave a forwarding entry in the new lane: crossbeam's
//! deques can neither remove an entry from the middle nor hold a second entry for one task
//! (the entry *is* the task's only `Runnable`); one shared `Runnable` per task is what keeps
//! invariant 5 (never polled on two threads at once) free of any extra protocol.

use super::context;
use super::policy::{Lane, Readiness};
use super::shared::Task;
use super::worker::{count_take, WorkerCore};
use crate::loom::deque::Steal;
use crate::task::TaskHeader;

/// Most tasks a rescue takes out of the old lane's queues (and puts back) looking for the
/// escalated one: a bound on the waiter's cost (tens of nanoseconds per task, so about a
/// microsecond). Small on purpose: a program that escalates often (a spawn tree with mixed
/// Qos escalates about one await in two) would otherwise pay for every long queue it
/// escalates into, quadratically (a million-task stress tree: 6 s with no rescue, 92 s
/// with a limit of 4,096, in a debug build). A task spawned just before it is awaited, the
/// usual case, is among the few newest of its lane's injector or of the waiter's own
/// queue, which a rescue looks at first. Past the limit the task is left to the re-route
/// rule.
pub const RESCUE_LIMIT: usize = 32;

/// `header`'s task is being awaited (its `JoinHandle` polled) on this thread. If the
/// thread is polling a task of a runtime with escalation on
/// ([`Builder::qos_escalation`](crate::Builder::qos_escalation)) and that task's Qos is
/// higher, raise the awaited task (`policy::escalated`), count it, and rescue it if it is
/// queued in its old lane.
pub(crate) fn awaited(header: &TaskHeader) {
    let Some(waiter) = context::current_task_qos() else {
        return; // Not awaited by a task (block_on, another executor): nothing to raise.
    };
    context::with_worker(|worker| {
        let Some(core) = worker.filter(|core| core.shared().qos_escalation) else {
            return;
        };
        let Some(old_lane) = header.escalate(waiter) else {
            return;
        };
        core.counters().escalations.bump();
        let new_lane = header.lane();
        if new_lane == Lane::Critical {
            // Its own runtime's workers must search the Critical lane first from now on:
            // the task may sit in a LIFO slot and go on to a queue without passing
            // `Shared::place` (which sets this for every task placed in the lane).
            if let Some(owner) = header.owner() {
                owner.note_critical_lane_used();
            }
        }
        // A rescue searches this runtime's queues: a task of another runtime awaited from
        // here is not found (the search puts back what it passed) and is moved by the
        // re-route rule when its own runtime takes it.
        if new_lane != old_lane && header.is_queued() && rescue(core, header, old_lane) {
            core.counters().rescues.bump();
        }
    });
}

/// Take `target`'s task out of `lane`'s queues and schedule it in its new lane. False if
/// it was not found within [`RESCUE_LIMIT`] tasks.
fn rescue(core: &WorkerCore, target: &TaskHeader, lane: Lane) -> bool {
    let (shared, own_index) = (core.shared(), core.index);
    let mut passed: Vec<Task> = Vec::new();
    let mut found = None;
    let mut look = |steal: &dyn Fn() -> Steal<Task>| {
        while found.is_none() && passed.len() < RESCUE_LIMIT {
            match steal() {
                Steal::Success(task) if std::ptr::eq(task.metadata(), target) => found = Some(task),
                Steal::Success(task) => passed.push(task),
                Steal::Empty => return,
                Steal::Retry => continue,
            }
        }
    };
    // Where a task lands when it is spawned or woken on another worker's behalf first (the
    // injector), then the waiter's own queue (a task it spawned in a lane it may run), then
    // everyone else's.
    let l = lane.index();
    look(&|| shared.injectors[l].steal());
    let own = &shared.workers[own_index];
    let others = shared.workers.iter().filter(|w| !std::ptr::eq(*w, own));
    for worker in std::iter::once(own).chain(others) {
        if let Some(stealer) = &worker.stealers[l] {
            look(&|| stealer.steal());
        }
    }
    if crate::loom::mutation!("rescue_forgets_passed") {
        // Planted bug (loom only): the passed tasks are leaked, never run.
        std::mem::forget(passed);
        passed = Vec::new();
    }
    for task in passed {
        // `inject` rechecks shutdown (a task passed during shutdown is dropped, not
        // stranded) and wakes a worker for it.
        shared.inject(lane, task);
    }
    match found {
        Some(task) => {
            count_take(core.counters(), target);
            shared.schedule(task, Readiness::Rerouted);
            true
        }
        None => false,
    }
}
