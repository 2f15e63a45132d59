//! A tokio context for hetsched's threads (feature `tokio`, `Builder::tokio_context`): for
//! libraries that insist on tokio (reqwest, tower's timeout and buffer, tokio's own
//! sockets and timers) inside hetsched tasks.
//!
//! Every hetsched worker and every `Runtime::block_on` caller enters a tokio runtime's
//! handle, so `tokio::time::sleep`, `tokio::net::TcpStream` and `tokio::spawn` find a
//! runtime (async-global-executor gives async-std's threads a tokio context the same way).
//! Who drives tokio's I/O and timer drivers depends on [`Builder::drive_io`]:
//!
//! - **on (the default): hetsched's workers.** The runtime is tokio's current-thread kind,
//!   with no thread of its own. A worker that goes to sleep sleeps inside its `block_on`,
//!   so it waits in tokio's `epoll_wait` itself if no other worker does (the others sleep
//!   as usual, to take over when it wakes); a busy worker runs the drivers once, without
//!   waiting, at every fair turn (`policy::FAIR_INTERVAL` polls), as tokio's own workers
//!   do between tasks. A ready socket then wakes its task on a worker, with no hop through
//!   another thread (measured: BENCHMARKS.md, "Serving HTTP"). Tasks that `tokio::spawn`
//!   starts run there too, on the driving worker, outside hetsched's lanes. Workers at the
//!   idle OS priority never drive ([`policy::drives_reactor`]); a runtime with no worker
//!   that may drive gets the thread below instead.
//! - **off: a thread of its own,** `{prefix}-tokio` (a one-worker tokio runtime), which
//!   drives tokio's I/O and timers and runs `tokio::spawn`ed tasks; each tokio event then
//!   reaches its hetsched task through that thread.
//!
//! [`Builder::drive_io`]: super::Builder::drive_io
//! [`policy::drives_reactor`]: super::policy::drives_reactor

use std::io;

/// The tokio runtime behind the context; shut down (without waiting) when dropped.
pub(crate) struct TokioContext {
    runtime: Option<tokio::runtime::Runtime>,
    /// The workers drive it (a current-thread runtime), rather than a thread of its own.
    driven_by_workers: bool,
}

impl TokioContext {
    /// The tokio runtime: current-thread, driven by the workers (`driven_by_workers`), or
    /// one worker thread of its own named `{prefix}-tokio`.
    pub(crate) fn start(prefix: &str, driven_by_workers: bool) -> io::Result<TokioContext> {
        let runtime = if driven_by_workers {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name(format!("{prefix}-tokio"))
                .enable_all()
                .build()?
        };
        Ok(TokioContext {
            runtime: Some(runtime),
            driven_by_workers,
        })
    }

    /// Enter the tokio context on this thread until the guard is dropped.
    pub(crate) fn enter(&self) -> Option<tokio::runtime::EnterGuard<'_>> {
        self.runtime.as_ref().map(|rt| rt.enter())
    }

    /// The runtime whose drivers the workers run, if they do.
    pub(crate) fn driven_by_workers(&self) -> Option<&tokio::runtime::Runtime> {
        self.runtime.as_ref().filter(|_| self.driven_by_workers)
    }
}

/// Run the drivers of `runtime` (a context the workers drive) once without waiting (a busy
/// worker, between polls): ready sockets and due timers wake their tasks now, and tasks
/// `tokio::spawn` started run. tokio's `yield_now` is made for this: inside `block_on` its
/// wake-up is deferred until the current-thread scheduler has run the drivers with a zero
/// timeout. If another worker holds the drivers (it sleeps in them), this returns at once.
pub(crate) fn drive_now(runtime: &tokio::runtime::Runtime) {
    runtime.block_on(tokio::task::yield_now());
}

impl Drop for TokioContext {
    fn drop(&mut self) {
        // Not a blocking shutdown: the last reference to the hetsched runtime may be
        // dropped on one of its own threads, inside the tokio context.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
