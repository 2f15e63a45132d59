//! Task handles: [`JoinHandle`], [`JoinError`], abort, and the per-task [`Qos`].
//!
//! Tasks are our own raw tasks (`raw`: one allocation each, from recycled memory,
//! `memory`); the runtime's per-task state, `TaskHeader`, lives in each task's header.

mod error;
mod header;
mod join;
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_hooks;
mod memory;
mod qos;
mod raw;
mod wrapper;

pub use error::JoinError;
pub use join::JoinHandle;
pub use qos::{ParseQosError, Qos};

pub(crate) use header::TaskHeader;
pub(crate) use raw::{is_waker_of, PollEnd, Runnable, Schedule, ScheduleInfo, TaskId};
pub(crate) use wrapper::TaskFuture;

use raw::RawJoin;
use std::future::Future;

/// Create a task (not yet scheduled): returns the runnable to schedule and the handle.
pub(crate) fn spawn_raw<F>(
    header: TaskHeader,
    future: F,
    schedule: Schedule,
) -> (Runnable, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = allocate(header, future, schedule, true);
    // SAFETY: a task made joinable just now: its runnable and handle references are each
    // claimed once, here.
    let (runnable, join) = unsafe { (Runnable::from_new(task), RawJoin::from_new(task)) };
    (runnable, JoinHandle::new(join))
}

/// Create a task with no `JoinHandle` (fire and forget; not yet scheduled): returns the
/// runnable to schedule. No waker is made for a handle, and
/// the output is dropped as soon as the task finishes (inside a `TaskOutput`, whose drop
/// cannot unwind).
pub(crate) fn spawn_raw_detached<F>(header: TaskHeader, future: F, schedule: Schedule) -> Runnable
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = allocate(header, future, schedule, false);
    // SAFETY: a task made just now without a handle: its runnable reference is claimed
    // once, here.
    unsafe { Runnable::from_new(task) }
}

/// The raw task behind [`spawn_raw`] and [`spawn_raw_detached`]: `future` wrapped in a
/// [`TaskFuture`].
fn allocate<F>(
    header: TaskHeader,
    future: F,
    schedule: Schedule,
    joinable: bool,
) -> std::ptr::NonNull<()>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // SAFETY: `TaskFuture` uses the header only while it lives and its output
    // (`TaskOutput<F::Output>`) cannot hold it; both catch their destructors' panics.
    unsafe {
        raw::allocate(
            header,
            move |header| TaskFuture::new(future, header),
            schedule,
            joinable,
        )
    }
}
