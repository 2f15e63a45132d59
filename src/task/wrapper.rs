//! The future the runtime really runs: the user's future plus abort and panic handling.

use crate::task::{JoinError, TaskHeader};
use pin_project_lite::pin_project;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project! {
    /// Wraps a task's future: returns a cancelled `JoinError` once aborted, turns a panic
    /// into a `JoinError` (the worker lives on), and drops `guard` together with the future
    /// (the runtime uses it to unregister the task).
    pub(crate) struct TaskFuture<'a, F, G> {
        #[pin]
        inner: F,
        header: &'a TaskHeader,
        guard: G,
    }
}

impl<'a, F, G> TaskFuture<'a, F, G> {
    pub(crate) fn new(inner: F, header: &'a TaskHeader, guard: G) -> Self {
        TaskFuture {
            inner,
            header,
            guard,
        }
    }
}

impl<F: Future, G> Future for TaskFuture<'_, F, G> {
    type Output = Result<F::Output, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.header.is_aborted() {
            // async-task drops the inner future right after we return Ready.
            return Poll::Ready(Err(JoinError::cancelled()));
        }
        match catch_unwind(AssertUnwindSafe(|| this.inner.poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(JoinError::panic(payload))),
        }
    }
}
