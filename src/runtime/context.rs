//! Thread-local context: which runtime this thread is in, which worker it is (if any),
//! and the Qos of the task being polled (for Qos inheritance, invariant 8).

use super::shared::Shared;
use super::worker::WorkerCore;
use crate::loom::sync::Arc;
use crate::task::{Qos, TaskId};
use std::cell::{Cell, RefCell};
use std::ptr;

crate::loom::thread_local! {
    /// The worker core running on this thread and the task it polls, in one thread-local:
    /// a spawn reads both, and outside this crate (where a generic spawn is instantiated)
    /// every thread-local read is a call.
    static HERE: Here = const {
        Here {
            worker: Cell::new(ptr::null()),
            polling: Cell::new(Polling::NOTHING),
        }
    };
    /// The runtime this thread has entered (a worker's own, or one in `block_on`).
    static RUNTIME: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
    /// Per-thread sample counter for wake-to-poll latency.
    static SAMPLE: Cell<u32> = const { Cell::new(0) };
    /// The task being polled on this thread called `yield_now`, and how it asked.
    static YIELD_REQUESTED: Cell<YieldRequest> = const { Cell::new(YieldRequest::None) };
    /// The worker asleep on this thread while it drives a reactor (`outside_worker`).
    static DRIVING: Cell<*const WorkerCore> = const { Cell::new(ptr::null()) };
}

/// This thread's worker and what it is polling (see `HERE`).
struct Here {
    /// The worker core running on this thread, while its loop runs.
    worker: Cell<*const WorkerCore>,
    /// The task this thread is polling right now, and its Qos.
    polling: Cell<Polling>,
}

/// What this thread is polling (set by [`PollGuard`]).
#[derive(Clone, Copy)]
struct Polling {
    qos: Option<Qos>,
    /// The task, when a worker polls it (`TaskId::NONE` elsewhere).
    task: TaskId,
}

impl Polling {
    const NOTHING: Polling = Polling {
        qos: None,
        task: TaskId::NONE,
    };
}

/// How the task being polled asked to yield (ordered: a later request never lowers an
/// earlier one's).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum YieldRequest {
    None,
    /// `yield_now` woke the task itself (its waker was not the task's own: a combinator
    /// such as `FuturesUnordered` polled it, or no worker is polling a task).
    Woke,
    /// `yield_now` was polled with its task's own waker on the worker polling that task,
    /// and did not wake it: the worker's poll schedules it again (`Runnable::run_with`).
    Skipped,
}

/// `yield_now` wants its task polled again after the others: its reschedule is a real
/// yield, not a wake by someone else that happened during the poll (a channel, a timer).
/// Returns true if the caller need not wake `waker`: it is the waker of the task this
/// worker is polling, which the worker schedules again when the poll ends (one state
/// transition where a wake and the poll's end would take two).
#[inline]
pub(crate) fn request_yield(waker: &std::task::Waker) -> bool {
    let task = HERE.with(|h| h.polling.get().task);
    let own = crate::task::is_waker_of(waker, task);
    let request = if own {
        YieldRequest::Skipped
    } else {
        YieldRequest::Woke
    };
    // Never lowered: a skipped wake must still be made up for if a second `yield_now` in the
    // same poll (under a combinator with its own waker) asks the other way.
    YIELD_REQUESTED.with(|y| y.set(y.get().max(request)));
    own
}

/// Did the task just polled on this thread yield? Clears the answer. A task woken while
/// running is rescheduled on the thread that polled it, right after its poll, so the
/// answer is about that task (and the worker clears it after every poll, so a yield whose
/// wake-up never came cannot leak into the next task).
#[inline]
pub(crate) fn take_yield_request() -> bool {
    YIELD_REQUESTED.with(|y| y.replace(YieldRequest::None)) != YieldRequest::None
}

/// Did the task just polled on this thread yield without waking itself (see
/// [`request_yield`])? Then the poll's end must schedule it again. Leaves the answer for
/// [`take_yield_request`].
#[inline]
pub(crate) fn yield_skipped_wake() -> bool {
    YIELD_REQUESTED.with(|y| y.get()) == YieldRequest::Skipped
}

/// Run `f` with the worker core of this thread, if this thread is a worker.
#[inline]
pub(crate) fn with_worker<R>(f: impl FnOnce(Option<&WorkerCore>) -> R) -> R {
    // The pointer is read by a closure small enough to be inlined (a thread-local read is
    // then one instruction); `f`, often large, runs outside `LocalKey::with`, which would
    // otherwise stay a call, with the thread-local's accessor called through a pointer.
    let core = HERE.with(|h| h.worker.get());
    // SAFETY: `HERE.worker` is non-null only between `WorkerGuard::set` and the guard's drop,
    // both on this thread, while the `WorkerCore` it points to lives on this thread's stack
    // frame that outlives the guard (and `f` runs inside this call, on this thread).
    // `WorkerCore` is only used through `&`.
    let core = unsafe { core.as_ref() };
    f(core)
}

/// Run `f` with the Qos a plain `spawn` from this thread gets ([`inherited_qos`]) and
/// this thread's worker core, if any ([`with_worker`]): one thread-local read for both.
#[inline]
pub(crate) fn with_spawn_site<R>(f: impl FnOnce(Qos, Option<&WorkerCore>) -> R) -> R {
    let (polling, core) = HERE.with(|h| (h.polling.get(), h.worker.get()));
    // SAFETY: as in `with_worker`.
    let core = unsafe { core.as_ref() };
    f(polling.qos.unwrap_or_default(), core)
}

/// Marks this thread as running `core` until dropped.
pub(crate) struct WorkerGuard(());

impl WorkerGuard {
    pub(crate) fn set(core: &WorkerCore) -> WorkerGuard {
        HERE.with(|h| h.worker.set(core as *const WorkerCore));
        WorkerGuard(())
    }
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        HERE.with(|h| h.worker.set(ptr::null()));
    }
}

/// Run `f` with this thread's worker context hidden: while a parked worker drives the
/// I/O reactor, the tasks it wakes are scheduled as if woken from outside the runtime
/// (injector and a wake-up), not into the queues of a worker that is asleep.
///
/// The hidden worker is remembered as the one *driving* on this thread
/// ([`with_driving_worker`]): a task its reactor wakes should wake this very worker, which is
/// awake right after the reactor returns, rather than another sleeper (a second hop).
#[cfg(all(any(feature = "async-io", feature = "tokio"), not(loom), not(miri)))]
pub(crate) fn outside_worker<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(*const WorkerCore);
    impl Drop for Restore {
        fn drop(&mut self) {
            DRIVING.with(|cell| cell.set(ptr::null()));
            HERE.with(|h| h.worker.set(self.0));
        }
    }
    let core = HERE.with(|h| h.worker.replace(ptr::null()));
    DRIVING.with(|cell| cell.set(core));
    let _restore = Restore(core);
    f()
}

/// Run `f` with the worker asleep on this thread while it drives a reactor, if any.
pub(crate) fn with_driving_worker<R>(f: impl FnOnce(Option<&WorkerCore>) -> R) -> R {
    // Read outside `f`, as in `with_worker`.
    let core = DRIVING.with(Cell::get);
    // SAFETY: as for `HERE.worker` (see `with_worker`): set by `outside_worker` from the worker
    // pointer of this thread, which outlives the call it wraps, and cleared when that call
    // returns; only used through `&`.
    let core = unsafe { core.as_ref() };
    f(core)
}

/// The Qos a plain `spawn` from this thread should get: the polled task's, or `Default`.
#[inline]
pub(crate) fn inherited_qos() -> Qos {
    current_task_qos().unwrap_or_default()
}

/// Marks this thread as polling a task of `qos` until dropped (restores what it polled
/// before): `task` is the task when a worker polls it (its own `yield_now` then skips the
/// wake, see [`request_yield`]), `TaskId::NONE` where the poll's end would not schedule a
/// yielding task again (the blocking pool).
pub(crate) struct PollGuard(Polling);

impl PollGuard {
    #[inline]
    pub(crate) fn enter(qos: Qos, task: TaskId) -> PollGuard {
        let now = Polling {
            qos: Some(qos),
            task,
        };
        PollGuard(HERE.with(|h| h.polling.replace(now)))
    }
}

impl Drop for PollGuard {
    #[inline]
    fn drop(&mut self) {
        HERE.with(|h| h.polling.set(self.0));
    }
}

/// The runtime this thread is in, if any.
pub(crate) fn current_runtime() -> Option<Arc<Shared>> {
    RUNTIME.with(|r| r.borrow().clone())
}

/// Enters `shared` on this thread until dropped (restores what was entered before).
pub(crate) struct EnterGuard(Option<Arc<Shared>>);

impl EnterGuard {
    pub(crate) fn enter(shared: Arc<Shared>) -> EnterGuard {
        EnterGuard(RUNTIME.with(|r| r.replace(Some(shared))))
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        // Replace, then drop the old value outside the borrow (it may be the last Arc).
        let entered = RUNTIME.with(|r| r.replace(previous));
        drop(entered);
    }
}

/// True if the thread's next scheduling should be timed for the latency histogram.
#[inline]
pub(crate) fn sample_latency(critical: bool) -> bool {
    if critical {
        return true;
    }
    SAMPLE.with(|s| {
        let n = s.get().wrapping_add(1);
        s.set(n);
        n % crate::runtime::metrics::LATENCY_SAMPLE_EVERY == 0
    })
}

/// The Qos of the task being polled on this thread, if any.
#[inline]
pub(crate) fn current_task_qos() -> Option<Qos> {
    HERE.with(|h| h.polling.get().qos)
}
