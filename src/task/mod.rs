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

use async_task::{Runnable, ScheduleInfo};
use std::future::Future;

/// Create a task (not yet scheduled): returns the runnable to schedule and the handle.
///
/// `guard` is dropped together with the task's future, wherever that happens.
pub(crate) fn spawn_raw<F, G, S>(
    qos: Qos,
    future: F,
    guard: G,
    schedule: S,
) -> (Runnable<TaskHeader>, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    G: Send + 'static,
    S: Fn(Runnable<TaskHeader>, ScheduleInfo) + Send + Sync + 'static,
{
    let builder = async_task::Builder::new().metadata(TaskHeader::new(qos));
    // SAFETY (spawn_unchecked's contract, see async-task docs):
    // - the future is `Send` (F and G are Send, the header reference is Sync), so the
    //   runnable may be run and dropped on any thread;
    // - the future borrows nothing but the task's own metadata, which async-task keeps
    //   alive until after the future is dropped;
    // - `schedule` is `Send + Sync + 'static`, so wakers may be used from any thread.
    let (runnable, task) = unsafe {
        builder.spawn_unchecked(
            move |header: &TaskHeader| TaskFuture::new(future, header, guard),
            async_task::WithInfo(schedule),
        )
    };
    let waker = runnable.waker();
    (runnable, JoinHandle::new(task, waker))
}
