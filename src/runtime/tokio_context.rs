//! A tokio context for hetsched's threads (feature `tokio`, `Builder::tokio_context`): for
//! libraries that insist on tokio (reqwest, tower's timeout and buffer, tokio's own
//! sockets and timers) inside hetsched tasks.
//!
//! A tokio runtime with one worker thread (`{prefix}-tokio`) is started with the hetsched
//! runtime and does nothing but drive tokio's I/O and timer drivers (its worker parks in
//! them when idle, which is what drives them). Every hetsched worker and every
//! `Runtime::block_on` caller enters its handle, so `tokio::time::sleep`,
//! `tokio::net::TcpStream` and `tokio::spawn` (a task on that one tokio thread, outside
//! hetsched's lanes) find a runtime. async-global-executor gives async-std's threads a
//! tokio context the same way. The cost is one thread hop per tokio event (the tokio
//! thread wakes the hetsched task), measured in BENCHMARKS.md, "Serving HTTP".

use std::io;

/// The tokio runtime behind the context; shut down (without waiting) when dropped.
pub(crate) struct TokioContext {
    runtime: Option<tokio::runtime::Runtime>,
}

impl TokioContext {
    /// Start the tokio runtime; its thread is named `{prefix}-tokio`.
    pub(crate) fn start(prefix: &str) -> io::Result<TokioContext> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("{prefix}-tokio"))
            .enable_all()
            .build()?;
        Ok(TokioContext {
            runtime: Some(runtime),
        })
    }

    /// Enter the tokio context on this thread until the guard is dropped.
    pub(crate) fn enter(&self) -> Option<tokio::runtime::EnterGuard<'_>> {
        self.runtime.as_ref().map(|rt| rt.enter())
    }
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
