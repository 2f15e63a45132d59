//! A worker's bed: `park` sleeps until `unpark` (a token, so an early unpark is not lost).
//!
//! With the `async-io` feature (not under loom or Miri, which have no OS reactor), a
//! worker that may drive the reactor
//! ([`policy::drives_reactor`](super::policy::drives_reactor)) sleeps inside
//! `async_io::block_on` instead of on the condvar: while it is idle it waits in the
//! reactor's `epoll_wait` (or kqueue) itself, if no other thread does, so a socket that
//! becomes ready wakes its task on this thread, with no hop through async-io's own
//! thread. `unpark` then wakes it through a waker (async-io interrupts the reactor for
//! it). The worker leaves its worker context while it drives the reactor (see
//! `WorkerCore::park_thread`): a task woken there is scheduled as if from outside (its
//! lane's injector and a wake-up, possibly of this very worker), never into the local
//! queues of a worker that is asleep.

use crate::loom::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct State {
    notified: bool,
    /// The waker of a park that drives a reactor (async-io's or tokio's), while it waits.
    #[cfg(all(any(feature = "async-io", feature = "tokio"), not(loom), not(miri)))]
    waker: Option<std::task::Waker>,
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct Parker {
    state: Mutex<State>,
    condvar: Condvar,
}

impl Parker {
    pub(crate) fn park(&self) {
        let mut state = self.state.lock();
        while !state.notified {
            state = self.condvar.wait(state);
        }
        state.notified = false;
    }

    /// [`park`](Self::park), but for at most `timeout`. True if it was unparked (the token
    /// is consumed), false if the time ran out first.
    pub(crate) fn park_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock();
        // A loop to the deadline: a spurious wake-up must not look like the time ran out
        // (the lending rule reads "timed out" as "LEND_AFTER has passed").
        while !state.notified {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self.condvar.wait_timeout(state, deadline - now).0;
        }
        std::mem::replace(&mut state.notified, false)
    }

    /// [`park`](Self::park) (`timeout` None) or [`park_timeout`](Self::park_timeout),
    /// processing I/O events while asleep (see the module docs).
    #[cfg(all(feature = "async-io", not(loom), not(miri)))]
    pub(crate) fn park_driving_io(&self, timeout: Option<Duration>) -> bool {
        let mut timer = timeout.map(async_io::Timer::after);
        async_io::block_on(std::future::poll_fn(|cx| {
            self.poll_unparked(cx, timer.as_mut())
        }))
    }

    /// [`park_driving_io`](Self::park_driving_io) in tokio's drivers: `block_on` on the
    /// tokio context's current-thread runtime drives its I/O and timers while it waits, if
    /// no other thread holds them (see `runtime/tokio_context.rs`).
    #[cfg(all(feature = "tokio", not(loom), not(miri)))]
    pub(crate) fn park_driving_tokio(
        &self,
        runtime: &tokio::runtime::Runtime,
        timeout: Option<Duration>,
    ) -> bool {
        runtime.block_on(async {
            let mut timer = timeout.map(|t| Box::pin(tokio::time::sleep(t)));
            std::future::poll_fn(|cx| self.poll_unparked(cx, timer.as_mut())).await
        })
    }

    /// A park inside a reactor's `block_on`: ready (true) once unparked, (false) once
    /// `timer` fires; else the waker is kept for `unpark`.
    #[cfg(all(any(feature = "async-io", feature = "tokio"), not(loom), not(miri)))]
    fn poll_unparked<T: std::future::Future + Unpin>(
        &self,
        cx: &mut std::task::Context<'_>,
        timer: Option<&mut T>,
    ) -> std::task::Poll<bool> {
        let mut state = self.state.lock();
        if std::mem::replace(&mut state.notified, false) {
            state.waker = None;
            return std::task::Poll::Ready(true);
        }
        if let Some(timer) = timer {
            if std::pin::Pin::new(timer).poll(cx).is_ready() {
                state.waker = None;
                return std::task::Poll::Ready(false);
            }
        }
        // Stored under the same lock `unpark` sets the token under: an unpark after the
        // look above finds this waker.
        state.waker = Some(cx.waker().clone());
        std::task::Poll::Pending
    }

    pub(crate) fn unpark(&self) {
        let mut state = self.state.lock();
        state.notified = true;
        #[cfg(all(any(feature = "async-io", feature = "tokio"), not(loom), not(miri)))]
        let waker = state.waker.take();
        drop(state);
        self.condvar.notify_one();
        #[cfg(all(any(feature = "async-io", feature = "tokio"), not(loom), not(miri)))]
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parker_keeps_an_early_token() {
        // Park on another thread, so that a lost token fails this test (after a bound)
        // instead of hanging the test binary.
        let parker = std::sync::Arc::new(Parker::default());
        parker.unpark();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let sleeper = {
            let parker = parker.clone();
            std::thread::spawn(move || {
                parker.park(); // returns at once: the token was left before
                let _ = done_tx.send(());
            })
        };
        let woke = done_rx.recv_timeout(std::time::Duration::from_secs(10));
        // On failure the sleeper is left parked (a broken `unpark` could not free it); the
        // test process ends without it.
        assert!(
            woke.is_ok(),
            "park() lost the early unpark token: still asleep after 10 s"
        );
        sleeper.join().unwrap();
    }

    #[test]
    fn timed_park_consumes_a_token_or_times_out() {
        let parker = Parker::default();
        // No token: the time runs out.
        assert!(!parker.park_timeout(std::time::Duration::from_millis(1)));
        // An early token: returned at once, and consumed.
        parker.unpark();
        assert!(parker.park_timeout(std::time::Duration::from_secs(10)));
        assert!(!parker.park_timeout(std::time::Duration::ZERO));
    }

    #[cfg(all(feature = "async-io", not(loom), not(miri)))]
    #[test]
    fn a_park_driving_io_keeps_tokens_times_out_and_is_woken() {
        let parker = std::sync::Arc::new(Parker::default());
        assert!(!parker.park_driving_io(Some(Duration::from_millis(1))));
        parker.unpark();
        assert!(parker.park_driving_io(Some(Duration::from_secs(10))));
        // Woken from another thread while it waits in the reactor.
        let waker = {
            let parker = parker.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                parker.unpark();
            })
        };
        assert!(parker.park_driving_io(Some(Duration::from_secs(20))));
        waker.join().unwrap();
    }
}
