//! `block_on`: run a future to completion on the calling thread.

use super::context;
use super::shared::Shared;
use crate::loom::sync::Arc;
use crate::loom::thread::{self, Thread};
use std::future::Future;
use std::pin::pin;
// A std atomic even under loom: a waker reaches its waking thread through the task's state
// word, which the runtime models do not track (`crate::loom::task_state`), so a loom atomic
// here would look unsynchronised to loom.
// The protocol loom checks is the park/unpark token (loom's, on a loom thread).
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

/// Wakes the thread blocked in `block_on`.
struct ThreadWaker {
    thread: Thread,
    notified: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        if !self.notified.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}

/// Drive `future` on this thread with the runtime entered (so `spawn` works inside).
///
/// Panics on a worker thread: blocking a worker on a future that may need that very
/// worker can deadlock the runtime.
pub(crate) fn block_on<F: Future>(shared: &Arc<Shared>, future: F) -> F::Output {
    if context::with_worker(|w| w.is_some()) {
        panic!(
            "hetsched: block_on called on a runtime worker thread; this would block the worker \
             (and can deadlock the runtime). Use `.await` inside tasks, or call block_on from a \
             thread that is not a worker."
        );
    }
    let _enter = context::EnterGuard::enter(shared.clone());
    #[cfg(feature = "tokio")]
    let _tokio = shared.tokio.as_ref().and_then(|t| t.enter());
    let state = std::sync::Arc::new(ThreadWaker {
        thread: thread::current(),
        notified: AtomicBool::new(false),
    });
    let waker = Waker::from(state.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        while !state.notified.swap(false, Ordering::Acquire) {
            thread::park();
        }
    }
}
