//! The honest baseline: the thread pool anyone would write first. One
//! `Mutex<VecDeque<Job>>` shared by every worker, one `Condvar` to sleep on, boxed
//! closures as jobs. The only refinement is counting sleepers so a submit does not make a
//! futex syscall when nobody waits (std's `notify_one` always does): without it the
//! baseline would be a straw man.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() + Send + 'static>;

struct State {
    jobs: VecDeque<Job>,
    sleepers: usize,
    shutdown: bool,
}

struct Inner {
    state: Mutex<State>,
    available: Condvar,
}

/// A cloneable handle to a running plain pool; jobs may submit more jobs through it.
#[derive(Clone)]
pub struct PlainPoolHandle {
    inner: Arc<Inner>,
}

impl PlainPoolHandle {
    /// Queue `job` at the back of the one shared queue.
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) {
        let mut state = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        state.jobs.push_back(Box::new(job));
        let wake = state.sleepers > 0;
        drop(state);
        if wake {
            self.inner.available.notify_one();
        }
    }
}

/// The pool: owns its worker threads and joins them on drop.
pub struct PlainPool {
    handle: PlainPoolHandle,
    threads: Vec<JoinHandle<()>>,
}

impl PlainPool {
    /// Start `workers` threads (an OS error from spawning one is returned).
    pub fn new(workers: usize) -> std::io::Result<PlainPool> {
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                sleepers: 0,
                shutdown: false,
            }),
            available: Condvar::new(),
        });
        // Built first, so a failed spawn shuts down (drops) the threads already started.
        let mut pool = PlainPool {
            handle: PlainPoolHandle { inner },
            threads: Vec::new(),
        };
        for i in 0..workers {
            let inner = pool.handle.inner.clone();
            let thread = std::thread::Builder::new()
                .name(format!("plain-pool-{i}"))
                .spawn(move || worker(&inner))?;
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    /// A handle for submitting jobs.
    pub fn handle(&self) -> &PlainPoolHandle {
        &self.handle
    }
}

fn worker(inner: &Inner) {
    loop {
        let job = {
            let mut state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(job) = state.jobs.pop_front() {
                    break job;
                }
                if state.shutdown {
                    return;
                }
                state.sleepers += 1;
                state = inner
                    .available
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner());
                state.sleepers -= 1;
            }
        };
        job();
    }
}

impl Drop for PlainPool {
    fn drop(&mut self) {
        {
            let mut state = self
                .handle
                .inner
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            state.shutdown = true;
        }
        self.handle.inner.available.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
