//! `JoinHandle`: the spawner's side of a task.

use crate::task::raw::RawJoin;
use crate::task::wrapper::TaskOutput;
use crate::task::{JoinError, Qos};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// An owned permission to await a spawned task's output.
///
/// It is a future of `Result<T, JoinError>`: `Ok` with the task's output, or a
/// [`JoinError`] if the task panicked or was cancelled. Dropping it *detaches* the task: it
/// keeps running and its output is dropped when it finishes.
///
/// A `JoinHandle` outlives its runtime: after shutdown, a finished task's output can still
/// be awaited (from any executor or thread), and an unfinished task resolves to a cancelled
/// `JoinError`.
///
/// **Qos escalation.** A task that awaits the handle of a task with a lower [`Qos`] raises
/// that task to its own Qos (never lowers it), from the awaited task's next scheduling on,
/// also when it is queued in a lower lane at that moment (it is moved out of the lower
/// lane's queues). [`JoinHandle::qos`] reports the effective Qos. Only a `JoinHandle` has an
/// owner to raise: waiting on a channel, a mutex or a notification raises nobody.
///
/// ```
/// let rt = hetsched::Builder::new().build().unwrap();
/// let handle = rt.spawn(async { 6 * 7 });
/// assert_eq!(rt.block_on(handle).unwrap(), 42);
///
/// let sleeper = rt.spawn(std::future::pending::<()>());
/// sleeper.abort();
/// assert!(rt.block_on(sleeper).unwrap_err().is_cancelled());
/// ```
pub struct JoinHandle<T> {
    // `None` only for a task refused because its runtime had shut down.
    task: Option<Attached<T>>,
    // The Qos it was spawned with, reported by `qos()` for a refused task.
    refused_qos: Qos,
}

struct Attached<T> {
    // The output sits in a `TaskOutput`, whose destructor cannot unwind: the runtime drops
    // a detached task's output itself, on a worker, where a panic has nowhere to go.
    task: RawJoin<TaskOutput<T>>,
    done: bool,
}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    pub(crate) fn new(task: RawJoin<TaskOutput<T>>) -> Self {
        JoinHandle {
            task: Some(Attached { task, done: false }),
            refused_qos: Qos::Default,
        }
    }

    /// A handle for a task of `qos` that never ran: the runtime had already shut down.
    pub(crate) fn refused(qos: Qos) -> Self {
        JoinHandle {
            task: None,
            refused_qos: qos,
        }
    }

    /// The task's effective Qos: the one it was spawned with, or the higher one it was
    /// escalated to because a more urgent task awaited this handle (see the type's docs).
    ///
    /// ```
    /// use hetsched::Qos;
    /// use std::future::{poll_fn, Future};
    /// use std::task::Poll;
    ///
    /// let rt = hetsched::Builder::new().build().unwrap();
    /// let seen = rt.block_on(rt.spawn_with(Qos::Interactive, async {
    ///     let mut batch = hetsched::spawn_with(Qos::Background, async { 6 * 7 });
    ///     let before = batch.qos();
    ///     // One poll of the handle from this Interactive task raises the awaited task.
    ///     let early = poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut batch).poll(cx))).await;
    ///     let after = batch.qos();
    ///     let out = match early {
    ///         Poll::Ready(out) => out,
    ///         Poll::Pending => batch.await,
    ///     };
    ///     (before, after, out.unwrap())
    /// }));
    /// assert_eq!(seen.unwrap(), (Qos::Background, Qos::Interactive, 42));
    /// ```
    pub fn qos(&self) -> Qos {
        match &self.task {
            Some(attached) => attached.task.metadata().qos(),
            None => self.refused_qos,
        }
    }

    /// Ask the task to stop. If it has not finished, it is cancelled before its next poll
    /// (a poll already under way completes first), its future is dropped, and awaiting this
    /// handle gives a cancelled [`JoinError`]. Aborting a finished task does nothing: its
    /// output can still be awaited.
    pub fn abort(&self) {
        if let Some(attached) = &self.task {
            attached.task.metadata().abort();
            // Woken so that it notices: through the handle's own reference to the task
            // (no waker kept for it, which would cost every spawn a reference-count
            // increment and every handle's drop a decrement).
            if !crate::loom::mutation!("abort_no_wake") {
                attached.task.wake();
            }
        }
    }

    /// True once the task has finished (completed, panicked or been cancelled); awaiting
    /// the handle then does not wait.
    pub fn is_finished(&self) -> bool {
        match &self.task {
            Some(attached) => attached.done || attached.task.is_finished(),
            None => true,
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let attached = match &mut self.task {
            Some(attached) => attached,
            None => return Poll::Ready(Err(JoinError::cancelled())),
        };
        if attached.done {
            panic!("JoinHandle polled after it returned Ready");
        }
        // Awaited by a task: raise the awaited task to the waiter's Qos if that is higher.
        crate::runtime::awaited(attached.task.metadata());
        match attached.task.poll(cx) {
            Poll::Ready(output) => {
                attached.done = true;
                // `None`: the runtime dropped the task (shutdown) before it finished.
                Poll::Ready(
                    output.map_or_else(|| Err(JoinError::cancelled()), TaskOutput::into_inner),
                )
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
