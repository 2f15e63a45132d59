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
    let builder = async_task::Builder::new().metadata(header);
    // SAFETY (spawn_unchecked's contract, see async-task docs):
    // - the future is `Send` (F is Send, the header reference is Sync), so the runnable may
    //   be run and dropped on any thread;
    // - the future borrows nothing but the task's own metadata, which async-task keeps
    //   alive until after the future is dropped;
    // - `schedule` is `Send + Sync + 'static`, so wakers may be used from any thread.
    let (runnable, task) = unsafe {
        builder.spawn_unchecked(
            move |header: &TaskHeader| TaskFuture::new(future, header, lane),
            async_task::WithInfo(schedule),
        )
    };
    let waker = runnable.waker();
    (runnable, JoinHandle::new(task, waker))
}
