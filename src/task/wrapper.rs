//! The future the runtime really runs: the user's future plus abort and panic handling.

use crate::task::{JoinError, TaskHeader};
use std::any::Any;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Wraps a task's future: returns a cancelled `JoinError` once aborted, turns a panic —
/// in `poll` *or in the future's destructor* — into a `JoinError` (the worker lives on),
/// and drops `guard` together with the future (the runtime uses it to unregister the task).
///
/// The inner future is dropped by this wrapper, under `catch_unwind`, as soon as it is
/// done: async-task drops futures inside an abort-on-panic guard, so a destructor panic
/// that reached it would abort the process.
pub(crate) struct TaskFuture<'a, F, G> {
    inner: ManuallyDrop<F>,
    /// False once `inner` has been dropped (set *before* dropping, so a destructor that
    /// panics half-way is never run twice).
    inner_live: bool,
    header: &'a TaskHeader,
    #[allow(dead_code)] // held only to be dropped after `inner`
    guard: G,
}

impl<'a, F, G> TaskFuture<'a, F, G> {
    pub(crate) fn new(inner: F, header: &'a TaskHeader, guard: G) -> Self {
        TaskFuture {
            inner: ManuallyDrop::new(inner),
            inner_live: true,
            header,
            guard,
        }
    }

    /// Drop the inner future in place, once; returns the panic payload if its destructor
    /// panicked.
    fn drop_inner(&mut self) -> Option<Box<dyn Any + Send>> {
        if !std::mem::replace(&mut self.inner_live, false) {
            return None;
        }
        // SAFETY: `inner` is live (checked and cleared above, so this runs at most once)
        // and is dropped in place, never moved: this upholds the pinning guarantee for a
        // pinned `TaskFuture`, and nothing touches `inner` afterwards (`inner_live` is false).
        catch_unwind(AssertUnwindSafe(|| unsafe {
            ManuallyDrop::drop(&mut self.inner)
        }))
        .err()
    }
}

impl<F: Future, G> Future for TaskFuture<'_, F, G> {
    type Output = Result<F::Output, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: we never move out of the pinned wrapper: `inner` is only pinned again
        // below or dropped in place by `drop_inner`; the other fields are plain data.
        let this = unsafe { self.get_unchecked_mut() };
        if !this.inner_live {
            // Only reachable if polled after completion, which async-task never does.
            return Poll::Ready(Err(JoinError::cancelled()));
        }
        if this.header.is_aborted() {
            this.drop_inner();
            return Poll::Ready(Err(JoinError::cancelled()));
        }
        // SAFETY: `inner` lives inside the pinned wrapper and is never moved (see above),
        // so it is pinned too; it is live (checked above).
        let inner = unsafe { Pin::new_unchecked(&mut *this.inner) };
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => match this.drop_inner() {
                None => Poll::Ready(Ok(value)),
                // The future finished but its destructor panicked: report the panic.
                Some(payload) => Poll::Ready(Err(JoinError::panic(payload))),
            },
            Err(payload) => {
                // A second panic from the destructor is dropped; the first one is reported.
                this.drop_inner();
                Poll::Ready(Err(JoinError::panic(payload)))
            }
        }
    }
}

impl<F, G> Drop for TaskFuture<'_, F, G> {
    fn drop(&mut self) {
        // Dropped by async-task (abort before a poll, or shutdown): swallow a destructor
        // panic here, it has nowhere to go and must not abort the process.
        self.drop_inner();
    }
}
