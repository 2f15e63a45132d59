//! The blocking pool: an elastic set of plain threads for calls that block (file I/O,
//! DNS, compression, FFI) so they never hold up a worker.
//!
//! Threads are not pinned and get no class QoS hint (they serve whatever called them): they
//! start with the process's own placement even when started from a worker (see
//! `sys::plain_thread`). They are capped at `max_threads`, start on demand, and exit after
//! `keep_alive` idle. Jobs are raw tasks like any other, so `spawn_blocking` returns
//! the same [`JoinHandle`](crate::JoinHandle): abort before start cancels, a panic becomes a
//! `JoinError`. At shutdown queued jobs are dropped, and `Runtime`'s drop waits for the
//! running ones (`wait_for_threads`).

use super::context;
use super::shared::{Shared, Task};
use crate::loom::sync::Arc;
// The pool is plain threads handing jobs over under one lock, outside the scheduler's
// protocols that the loom models check (it needs a timed wait, which loom cannot model
// meaningfully), so it uses std's lock and condvar directly, as Miri runs them too.
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

thread_local! {
    /// The pool (its address) whose thread this is; 0 on every other thread.
    static IN_POOL: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

pub(crate) struct BlockingPool {
    state: Mutex<State>,
    work: Condvar,
    /// Signalled whenever a pool thread exits (for `wait_for_threads`).
    exited: Condvar,
    max_threads: usize,
    keep_alive: Duration,
    name: String,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Task>,
    threads: usize,
    idle: usize,
    /// Wake-ups handed to idle threads and not yet taken.
    notified: usize,
    shutdown: bool,
    next_id: usize,
}

/// Blocking pool counters for metrics.
pub(crate) struct BlockingStats {
    pub(crate) threads: usize,
    pub(crate) idle: usize,
    pub(crate) queued: usize,
}

impl BlockingPool {
    pub(crate) fn new(max_threads: usize, keep_alive: Duration, name: String) -> Self {
        BlockingPool {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            exited: Condvar::new(),
            max_threads: max_threads.max(1),
            keep_alive,
            name,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock; a poisoned lock only means a bookkeeping panic
        // elsewhere, and the state is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue a blocking job; start a thread if none is idle and the cap allows.
    pub(crate) fn schedule(&self, shared: &Arc<Shared>, task: Task) {
        let mut state = self.lock();
        if state.shutdown {
            drop(state);
            drop(task); // the JoinHandle resolves to a cancelled JoinError
            return;
        }
        state.queue.push_back(task);
        if state.idle > state.notified {
            state.notified += 1;
            drop(state);
            self.work.notify_one();
        } else if state.threads < self.max_threads {
            state.threads += 1;
            let id = state.next_id;
            state.next_id += 1;
            drop(state);
            self.start_thread(shared, id);
        }
        // Else: at the cap; a running thread takes the job when it is done.
    }

    fn start_thread(&self, shared: &Arc<Shared>, id: usize) {
        let shared = shared.clone();
        // Not spawned from here: the caller is often a worker, whose placement (pinning,
        // class hint, OS priority) a new thread would inherit (see `sys::plain_thread`).
        let spawned =
            crate::sys::spawn_plain_thread(format!("{}-blocking-{id}", self.name), move || {
                let _enter = context::EnterGuard::enter(shared.clone());
                shared.blocking.thread_main();
            });
        if spawned.is_err() {
            // The OS refused a thread: the job waits for an existing one, or (with none)
            // is dropped below so its JoinHandle resolves instead of hanging.
            let mut state = self.lock();
            state.threads -= 1;
            self.exited.notify_all();
            if state.threads == 0 {
                let orphans: Vec<Task> = state.queue.drain(..).collect();
                drop(state);
                drop(orphans);
            }
        }
    }

    fn thread_main(&self) {
        IN_POOL.with(|pool| pool.set(self as *const BlockingPool as usize));
        let mut state = self.lock();
        loop {
            if let Some(task) = state.queue.pop_front() {
                drop(state);
                // Panics are caught by the task wrapper; a panic while dropping the
                // future must not take the pool's bookkeeping down with it.
                // The caller's Qos, so a plain `spawn` inside the job inherits it (invariant 8).
                let _polling =
                    context::PollGuard::enter(task.metadata().qos(), crate::task::TaskId::NONE);
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.run()));
                state = self.lock();
                continue;
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            let (next, timed_out) = self.wait(state);
            state = next;
            state.idle -= 1;
            if state.notified > 0 {
                state.notified -= 1;
            } else if timed_out && state.queue.is_empty() {
                break; // idle for keep_alive: shrink
            }
        }
        state.threads -= 1;
        self.exited.notify_all();
    }

    /// Wait for work up to `keep_alive`; returns the guard and whether it timed out.
    fn wait<'a>(&self, state: MutexGuard<'a, State>) -> (MutexGuard<'a, State>, bool) {
        let deadline = Instant::now() + self.keep_alive;
        let mut state = state;
        loop {
            let now = Instant::now();
            if state.notified > 0 || state.shutdown {
                return (state, false);
            }
            if now >= deadline {
                return (state, true);
            }
            state = self
                .work
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Wait until every pool thread has exited — but the calling thread, if it is one of
    /// them (the runtime dropped from inside a blocking job) — or until `deadline`. True
    /// if they all did. Call after [`BlockingPool::shutdown`], which makes idle threads
    /// exit at once: what is left to wait for is the running jobs.
    pub(crate) fn wait_for_threads(&self, deadline: Option<Instant>) -> bool {
        let own = IN_POOL.with(|pool| pool.get() == self as *const BlockingPool as usize);
        let mut state = self.lock();
        while state.threads > usize::from(own) {
            state = match deadline {
                None => self.exited.wait(state).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    self.exited
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
        true
    }

    /// Stop accepting jobs, drop the queued ones, let idle threads exit. Running jobs
    /// finish on their threads (a blocking call cannot be interrupted);
    /// [`BlockingPool::wait_for_threads`] waits for them.
    pub(crate) fn shutdown(&self) {
        let queued: Vec<Task> = {
            let mut state = self.lock();
            state.shutdown = true;
            state.queue.drain(..).collect()
        };
        self.work.notify_all();
        drop(queued);
    }

    pub(crate) fn stats(&self) -> BlockingStats {
        let state = self.lock();
        BlockingStats {
            threads: state.threads,
            idle: state.idle,
            queued: state.queue.len(),
        }
    }
}
