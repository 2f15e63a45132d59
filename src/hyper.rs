//! hyper 1.x on hetsched (cargo feature `hyper`): what a server or client built on hyper's
//! runtime-agnostic `rt` traits needs from its runtime.
//!
//! - [`HyperExecutor`]: hyper's [`Executor`](hyper::rt::Executor) (HTTP/2 spawns a task
//!   per stream and per connection with it), spawning at a chosen [`Qos`] on a chosen
//!   runtime;
//! - [`HyperTimer`]: hyper's [`Timer`](hyper::rt::Timer) on [`crate::time`] (without a
//!   timer hyper warns and enforces no header-read timeout);
//! - [`HyperIo`]: a futures-io socket (`async_net::TcpStream`, anything `AsyncRead +
//!   AsyncWrite`) as hyper's [`Read`](hyper::rt::Read) / [`Write`](hyper::rt::Write). This is
//!   smol-hyper's `FuturesIo`, re-exported rather than rewritten: the adapter is small, but
//!   it is the one the smol ecosystem maintains.
//!
//! Sockets come from the smol stack (`async-net` on `async-io`'s reactor thread), which
//! needs nothing from the runtime but wakers: a connection task woken by the reactor is
//! scheduled in its own lane like any other task.
//!
//! ```
//! use hetsched::hyper::{HyperExecutor, HyperIo, HyperTimer};
//! use hetsched::Qos;
//! use http_body_util::Full;
//! use hyper::body::Bytes;
//!
//! let rt = hetsched::Runtime::new()?;
//! rt.block_on(async {
//!     let listener = async_net::TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     // Server: one Interactive task per connection, hyper's timer on hetsched's.
//!     hetsched::spawn_with(Qos::Interactive, async move {
//!         let (stream, _) = listener.accept().await?;
//!         let hello = hyper::service::service_fn(|_req| async {
//!             Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("hello"))))
//!         });
//!         hyper::server::conn::http1::Builder::new()
//!             .timer(HyperTimer::new())
//!             .serve_connection(HyperIo::new(stream), hello)
//!             .await
//!             .map_err(std::io::Error::other)
//!     });
//!     // Client: the connection driven by its own task.
//!     let stream = async_net::TcpStream::connect(addr).await?;
//!     let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream))
//!         .await
//!         .map_err(std::io::Error::other)?;
//!     HyperExecutor::current(Qos::Interactive).spawn(conn);
//!     let request = hyper::Request::get("/").body(Full::new(Bytes::new())).unwrap();
//!     let response = sender.send_request(request).await.map_err(std::io::Error::other)?;
//!     assert_eq!(response.status(), 200);
//!     Ok::<_, std::io::Error>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::runtime::{Handle, NoRuntime};
use crate::task::Qos;
use crate::time;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A futures-io stream as hyper's I/O (smol-hyper's `FuturesIo`).
///
/// Its `poll_read` zero-fills hyper's read buffer before each read (hyper hands it
/// uninitialised memory and futures-io takes `&mut [u8]`); BENCHMARKS.md, "Serving HTTP",
/// measures what that costs.
pub type HyperIo<T> = smol_hyper::rt::FuturesIo<T>;

/// hyper's [`Executor`](hyper::rt::Executor) on a hetsched runtime: every future hyper
/// hands it becomes a detached task at the executor's [`Qos`].
///
/// ```
/// use hetsched::hyper::HyperExecutor;
/// use hetsched::Qos;
///
/// let rt = hetsched::Runtime::new()?;
/// let executor = HyperExecutor::new(rt.handle(), Qos::Interactive);
/// assert_eq!(executor.qos(), Qos::Interactive);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct HyperExecutor {
    handle: Handle,
    qos: Qos,
}

impl HyperExecutor {
    /// Spawn on `handle`'s runtime at `qos`.
    pub fn new(handle: Handle, qos: Qos) -> HyperExecutor {
        HyperExecutor { handle, qos }
    }

    /// Spawn on the runtime of the calling task at `qos`.
    ///
    /// # Panics
    ///
    /// Outside a hetsched runtime (use [`HyperExecutor::try_current`] or
    /// [`HyperExecutor::new`] there).
    pub fn current(qos: Qos) -> HyperExecutor {
        HyperExecutor::new(Handle::current(), qos)
    }

    /// Spawn on the runtime of the calling task at `qos`, or an error outside any runtime.
    pub fn try_current(qos: Qos) -> Result<HyperExecutor, NoRuntime> {
        Handle::try_current().map(|handle| HyperExecutor::new(handle, qos))
    }

    /// The Qos its tasks get.
    pub fn qos(&self) -> Qos {
        self.qos
    }

    /// Spawn `future` as a detached task (what hyper's `execute` does).
    pub fn spawn<F>(&self, future: F)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        drop(self.handle.spawn_with(self.qos, future));
    }
}

impl<F> hyper::rt::Executor<F> for HyperExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        self.spawn(future);
    }
}

/// hyper's [`Timer`](hyper::rt::Timer) on [`crate::time`]: header-read timeouts, HTTP/2
/// keep-alive pings and the client pool's idle timeout fire from hetsched's timer thread.
///
/// ```
/// use hetsched::hyper::HyperTimer;
///
/// let server = hyper::server::conn::http1::Builder::new()
///     .timer(HyperTimer::new())
///     .header_read_timeout(std::time::Duration::from_secs(5))
///     .clone();
/// # drop(server);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperTimer(());

impl HyperTimer {
    /// The timer (all instances share the process-wide timer thread).
    pub fn new() -> HyperTimer {
        HyperTimer(())
    }
}

impl hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep(time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep(time::sleep_until(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        // One of ours: move its deadline (keeps the timer registration). Another timer's
        // sleep (hyper only calls this with the timer's own, but the trait allows any):
        // replace it.
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(ours) => ours.get_mut().0.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A [`time::Sleep`] as hyper's [`Sleep`](hyper::rt::Sleep).
struct HyperSleep(time::Sleep);

impl Future for HyperSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl hyper::rt::Sleep for HyperSleep {}
