//! The future the runtime really runs: the user's future plus abort and panic handling.

use crate::task::{JoinError, TaskHeader};
use std::any::Any;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Drops `payload` (a panic payload), swallowing a panic from its own destructor, and
/// from that panic's payload, and so on: a chain longer than a few links (a payload type
/// whose drop always panics with another such payload) is cut by leaking its last payload.
pub(super) fn drop_payload(payload: Box<dyn Any + Send>) {
    const MAX_CHAIN: usize = 8;
    let mut payload = payload;
    for _ in 0..MAX_CHAIN {
        match catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(next) => payload = next,
        }
    }
    std::mem::forget(payload);
}

/// Drops `value`, swallowing a panic from its destructor (and from that panic's payload).
fn drop_quietly<T>(value: T) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
        drop_payload(payload);
    }
}

/// What a task's future resolves to: the output or the `JoinError`, in a box whose
/// destructor cannot unwind.
///
/// The raw task drops the output of a finished task itself when nobody will take it (the
/// `JoinHandle` was dropped: a detached task), on a worker, where a panic has nowhere to
/// go (async-task, before it, did so inside an abort-on-panic guard: an output whose `Drop`
/// panicked, or a panic payload whose `Drop` panicked, aborted the process). Dropping a
/// `TaskOutput` catches that panic and swallows it (it has nowhere to go), as the future's
/// own destructor panics are.
/// [`JoinHandle`](crate::JoinHandle) takes the value out with [`TaskOutput::into_inner`];
/// from there it is the caller's to drop.
pub(crate) struct TaskOutput<T> {
    value: ManuallyDrop<Result<T, JoinError>>,
}

impl<T> TaskOutput<T> {
    fn new(value: Result<T, JoinError>) -> Self {
        TaskOutput {
            value: ManuallyDrop::new(value),
        }
    }

    /// The output or the error, to hand to the `JoinHandle`'s caller.
    pub(crate) fn into_inner(self) -> Result<T, JoinError> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used again and its destructor never runs (it is in a
        // ManuallyDrop), so the value is taken out exactly once and never dropped here.
        unsafe { ManuallyDrop::take(&mut this.value) }
    }
}

impl<T> Drop for TaskOutput<T> {
    // Always inlined: the no-op case is two compares, and the raw task's poll drops a
    // detached task's output through the drop glue, which is otherwise a call.
    #[inline(always)]
    fn drop(&mut self) {
        if !std::mem::needs_drop::<T>() && self.value.is_ok() {
            return; // nothing to drop, so nothing can panic (a detached no-op task's output)
        }
        // SAFETY: `drop` runs once, and `into_inner` (the only other taker) skips it.
        unsafe { self.drop_value() };
    }
}

impl<T> TaskOutput<T> {
    /// The drop of a value that may have a destructor (kept out of line: the common
    /// detached no-op task never gets here).
    ///
    /// # Safety
    /// Called at most once, and the value not taken before (`into_inner`) nor used after.
    #[inline(never)]
    unsafe fn drop_value(&mut self) {
        // SAFETY: the caller's contract: the value is live here, taken exactly once, and
        // nothing touches it afterwards.
        drop_quietly(unsafe { ManuallyDrop::take(&mut self.value) });
    }
}

/// Wraps a task's future: returns a cancelled `JoinError` once aborted, turns a panic —
/// in `poll` *or in the future's destructor* — into a `JoinError` (the worker lives on),
/// takes the task out of the runtime's registry when the future is gone, and counts the
/// end of a future dropped without a poll (`runtime::task_ended`: its `Runnable` dropped,
/// at shutdown). What the runtime learns at the end of a poll (a first wait, an end, a
/// long poll) the worker that polled it handles (`Runnable::run_with`,
/// `WorkerCore::poll_ended`): it has its own state at hand, where this wrapper would look
/// it up.
///
/// The inner future is dropped by this wrapper, under `catch_unwind`, as soon as it is
/// done: a destructor panic that escaped into the raw task would unwind through a worker
/// or a waker's drop (async-task, before it, aborted the process there). For the same
/// reason the output is a [`TaskOutput`].
pub(crate) struct TaskFuture<'a, F> {
    inner: ManuallyDrop<F>,
    /// False once `inner` has been dropped (set *before* dropping, so a destructor that
    /// panics half-way is never run twice).
    inner_live: bool,
    header: &'a TaskHeader,
}

impl<'a, F> TaskFuture<'a, F> {
    pub(crate) fn new(inner: F, header: &'a TaskHeader) -> Self {
        TaskFuture {
            inner: ManuallyDrop::new(inner),
            inner_live: true,
            header,
        }
    }

    /// Drop the inner future in place, once; returns the panic payload if its destructor
    /// panicked. A task entered in its runtime's registry leaves it here (its future is
    /// gone: shutdown has nothing left to reach). Counting the task's end is the caller's.
    fn drop_inner(&mut self) -> Option<Box<dyn Any + Send>> {
        if !std::mem::replace(&mut self.inner_live, false) {
            return None;
        }
        // SAFETY: `inner` is live (checked and cleared above, so this runs at most once)
        // and is dropped in place, never moved: this upholds the pinning guarantee for a
        // pinned `TaskFuture`, and nothing touches `inner` afterwards (`inner_live` is false).
        let panicked = catch_unwind(AssertUnwindSafe(|| unsafe {
            ManuallyDrop::drop(&mut self.inner)
        }))
        .err();
        if let Some(key) = self.header.take_registry_key() {
            crate::runtime::leave_registry(self.header, key);
        }
        panicked
    }
}

impl<F: Future> Future for TaskFuture<'_, F> {
    type Output = TaskOutput<F::Output>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: we never move out of the pinned wrapper: `poll_inner` only pins `inner`
        // again or drops it in place (`drop_inner`); the other fields are plain data.
        let this = unsafe { self.get_unchecked_mut() };
        this.poll_inner(cx).map(TaskOutput::new)
    }
}

impl<F: Future> TaskFuture<'_, F> {
    /// `poll`, on the unpinned wrapper: must never move `inner` (see `poll`).
    #[inline]
    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<F::Output, JoinError>> {
        if !self.inner_live {
            // Only reachable if polled after completion, which the raw task never does.
            return Poll::Ready(Err(JoinError::cancelled()));
        }
        if self.header.is_aborted() {
            if let Some(payload) = self.drop_inner() {
                drop_payload(payload);
            }
            Poll::Ready(Err(JoinError::cancelled()))
        } else {
            // SAFETY: `inner` lives inside the pinned wrapper and is never moved (see
            // `poll`), so it is pinned too; it is live (checked above).
            let inner = unsafe { Pin::new_unchecked(&mut *self.inner) };
            match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(value)) => match self.drop_inner() {
                    None => Poll::Ready(Ok(value)),
                    // The future finished but its destructor panicked: report the panic
                    // (the output goes unused; its own destructor must not unwind out of
                    // here).
                    Some(payload) => {
                        drop_quietly(value);
                        Poll::Ready(Err(JoinError::panic(payload)))
                    }
                },
                Err(payload) => {
                    // A second panic from the destructor is dropped; the first one is
                    // reported.
                    if let Some(second) = self.drop_inner() {
                        drop_payload(second);
                    }
                    Poll::Ready(Err(JoinError::panic(payload)))
                }
            }
        }
    }
}

impl<F> Drop for TaskFuture<'_, F> {
    #[inline]
    fn drop(&mut self) {
        // A future that finished was dropped by its last poll: nothing is left to do (the
        // way every task that completes goes, so kept apart from the rest).
        if self.inner_live {
            self.drop_unpolled();
        }
    }
}

impl<F> TaskFuture<'_, F> {
    /// Dropped by the raw task with the future still live, outside a poll (its `Runnable`
    /// dropped: shutdown; an aborted task is polled, and ends there): swallow a destructor
    /// panic here, it has nowhere to go and must not abort the process (nor may its
    /// payload's own destructor), and count the task's end.
    #[cold]
    fn drop_unpolled(&mut self) {
        if let Some(payload) = self.drop_inner() {
            drop_payload(payload);
        }
        if let Some(lane) = self.header.counted_in() {
            crate::runtime::task_ended(self.header, lane);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    /// Counts its drops, then panics (with a payload that panics on drop too, if asked).
    struct Bomb {
        drops: Arc<AtomicUsize>,
        nested: bool,
    }

    struct PayloadBomb;

    impl Drop for PayloadBomb {
        fn drop(&mut self) {
            panic!("payload drop");
        }
    }

    impl Drop for Bomb {
        fn drop(&mut self) {
            self.drops.fetch_add(1, SeqCst);
            if self.nested {
                std::panic::panic_any(PayloadBomb);
            }
            panic!("output drop");
        }
    }

    fn bomb(nested: bool) -> (Bomb, Arc<AtomicUsize>) {
        let drops = Arc::new(AtomicUsize::new(0));
        let bomb = Bomb {
            drops: drops.clone(),
            nested,
        };
        (bomb, drops)
    }

    #[test]
    fn dropping_an_output_swallows_its_destructor_panic() {
        for nested in [false, true] {
            let (value, drops) = bomb(nested);
            let output = TaskOutput::new(Ok::<_, JoinError>(value));
            // Must not unwind: the raw task drops unclaimed outputs on a worker.
            drop(output);
            assert_eq!(drops.load(SeqCst), 1);
        }
    }

    #[test]
    fn dropping_an_error_swallows_its_payload_destructor_panic() {
        let output = TaskOutput::<()>::new(Err(JoinError::panic(Box::new(PayloadBomb))));
        drop(output);
    }

    #[test]
    fn into_inner_hands_over_the_value_without_dropping_it() {
        let (value, drops) = bomb(false);
        let output = TaskOutput::new(Ok::<_, JoinError>(value));
        let Ok(value) = output.into_inner() else {
            panic!("expected the output")
        };
        assert_eq!(drops.load(SeqCst), 0);
        // The caller's drop is the caller's: it unwinds here, once.
        let unwound = catch_unwind(AssertUnwindSafe(|| drop(value)));
        assert!(unwound.is_err());
        assert_eq!(drops.load(SeqCst), 1);
    }
}
