//! Task handles: [`JoinHandle`], [`JoinError`], abort, and the per-task [`Qos`].
//!
//! Tasks are async-task raw tasks (one allocation each); the runtime's per-task state
//! lives in their metadata slot.

mod error;
mod header;
mod join;
mod qos;
mod wrapper;

pub use error::JoinError;
pub use join::JoinHandle;
pub use qos::{ParseQosError, Qos};

pub(crate) use header::TaskHeader;
pub(crate) use wrapper::TaskFuture;

use crate::runtime::policy::Lane;
use async_task::{Runnable, ScheduleInfo};
use std::future::Future;

/// Create a task (not yet scheduled): returns the runnable to schedule and the handle.
///
/// `lane`: the lane whose spawned / completed counts the task is kept in, and whether it
/// is entered in the runtime's registry once it waits; `None` for jobs that never wait
/// (the blocking pool's). `schedule` should capture nothing (see `TaskHeader::owner`).
pub(crate) fn spawn_raw<F, S>(
    header: TaskHeader,
    future: F,
    lane: Option<Lane>,
    schedule: S,
) -> (Runnable<TaskHeader>, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Fn(Runnable<TaskHeader>, ScheduleInfo) + Send + Sync + 'static,
{
    let (runnable, task) = build(header, future, lane, schedule);
    let waker = runnable.waker();
    (runnable, JoinHandle::new(task, waker))
}

/// Create a task with no `JoinHandle` (fire and forget; not yet scheduled): returns the
/// runnable to schedule (`lane` as for [`spawn_raw`]). The task is detached at once, before anyone else can see it, so
/// detaching costs one uncontended compare-exchange and no waker is made for a handle; its
/// output is dropped when it finishes (inside a `TaskOutput`, whose drop cannot unwind).
pub(crate) fn spawn_raw_detached<F, S>(
    header: TaskHeader,
    future: F,
    lane: Option<Lane>,
    schedule: S,
) -> Runnable<TaskHeader>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Fn(Runnable<TaskHeader>, ScheduleInfo) + Send + Sync + 'static,
{
    let (runnable, task) = build(header, future, lane, schedule);
    task.detach();
    runnable
}

/// The raw task behind [`spawn_raw`] and [`spawn_raw_detached`].
fn build<F, S>(
    header: TaskHeader,
    future: F,
    lane: Option<Lane>,
    schedule: S,
) -> (
    Runnable<TaskHeader>,
    async_task::Task<wrapper::TaskOutput<F::Output>, TaskHeader>,
)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Fn(Runnable<TaskHeader>, ScheduleInfo) + Send + Sync + 'static,
{
    let builder = async_task::Builder::new().metadata(header);
    // SAFETY (spawn_unchecked's contract, see async-task docs):
    // - the future is `Send` (F is Send, the header reference is Sync), so the runnable may
    //   be run and dropped on any thread;
    // - the future borrows nothing but the task's own metadata, which async-task keeps
    //   alive until after the future is dropped;
    // - `schedule` is `Send + Sync + 'static`, so wakers may be used from any thread.
    unsafe {
        builder.spawn_unchecked(
            move |header: &TaskHeader| TaskFuture::new(future, header, lane),
            async_task::WithInfo(schedule),
        )
    }
}
