//! Timers: [`sleep`], [`sleep_until`], [`timeout`], [`timeout_at`] and [`interval`].
//!
//! They work inside any hetsched task (and in any other executor: they only need a waker).
//! A process-wide timer thread fires them; pending timers cost no CPU, and typical lateness
//! is well under a millisecond on Linux (measured in `tests/time.rs`). A task woken by its
//! timer keeps its lane: an `Interactive` task that sleeps resumes on a performance worker.
//! Dropping a timer cancels it.
//!
//! ```
//! use std::time::Duration;
//! use hetsched::time;
//!
//! let rt = hetsched::Builder::new().build().unwrap();
//! rt.block_on(async {
//!     time::sleep(Duration::from_millis(5)).await;
//!     let slow = time::sleep(Duration::from_secs(60));
//!     let err = time::timeout(Duration::from_millis(5), slow).await.unwrap_err();
//!     assert_eq!(err.to_string(), "deadline has elapsed");
//! });
//! ```

pub(crate) mod driver;

pub use std::time::{Duration, Instant};

use driver::{Driver, TimerKey};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future that completes at a deadline; see [`sleep`] and [`sleep_until`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    registration: Option<TimerKey>,
}

/// Wait until `duration` has passed.
///
/// ```
/// # let rt = hetsched::Builder::new().build().unwrap();
/// # rt.block_on(async {
/// let start = std::time::Instant::now();
/// hetsched::time::sleep(std::time::Duration::from_millis(10)).await;
/// assert!(start.elapsed() >= std::time::Duration::from_millis(10));
/// # });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    // A duration too large to add is treated as "practically forever" (~30 years).
    let deadline = Instant::now()
        .checked_add(duration)
        .unwrap_or_else(far_future);
    sleep_until(deadline)
}

/// Wait until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        registration: None,
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

impl Sleep {
    /// When this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Move the deadline (earlier or later); the sleep can be awaited again. A pending
    /// sleep stays registered, so the task that polled it is woken at the new deadline
    /// even if it does not poll the sleep again first.
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        if let Some(key) = self.registration.take() {
            self.registration = Driver::get().reschedule(key, deadline);
        }
    }

    fn cancel(&mut self) {
        if let Some(key) = self.registration.take() {
            Driver::get().cancel(key);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            self.cancel();
            return Poll::Ready(());
        }
        let driver = Driver::get();
        match self.registration {
            Some(key) if driver.update(key, cx.waker()) => {}
            // Not registered yet, or it fired early (a wake that raced with a reset).
            _ => self.registration = Some(driver.register(self.deadline, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// The error of [`timeout`]: the deadline passed before the future completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(_: Elapsed) -> Self {
        std::io::ErrorKind::TimedOut.into()
    }
}

pin_project! {
    /// A future with a deadline; see [`timeout`].
    #[must_use = "futures do nothing unless awaited"]
    #[derive(Debug)]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
}

/// Run `future`, giving up after `duration` with [`Elapsed`]. The future is polled first,
/// so one that is ready at once succeeds even with a zero duration. On timeout the future
/// is dropped.
///
/// ```
/// # let rt = hetsched::Builder::new().build().unwrap();
/// # rt.block_on(async {
/// use std::time::Duration;
/// let fast = hetsched::time::timeout(Duration::from_secs(1), async { 7 }).await;
/// assert_eq!(fast, Ok(7));
/// # });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(duration),
    }
}

/// Run `future`, giving up at `deadline`; see [`timeout`].
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep_until(deadline),
    }
}

impl<F> Timeout<F> {
    /// The wrapped future.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What an [`Interval`] does when a tick is late (the task was busy past one or more
/// periods).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks at once, one after another, to catch up (the default, as in
    /// tokio).
    #[default]
    Burst,
    /// Start the schedule over from the late tick: the next tick is one period after it.
    Delay,
    /// Drop the missed ticks; the next tick is the next multiple of the period.
    Skip,
}

/// Ticks at a fixed period; see [`interval`].
#[derive(Debug)]
pub struct Interval {
    next: Instant,
    period: Duration,
    missed: MissedTickBehavior,
    sleep: Sleep,
}

/// A ticker whose first tick completes at once and then every `period`.
///
/// # Panics
///
/// If `period` is zero.
///
/// ```
/// # let rt = hetsched::Builder::new().build().unwrap();
/// # rt.block_on(async {
/// use std::time::Duration;
/// let mut every_5ms = hetsched::time::interval(Duration::from_millis(5));
/// let first = every_5ms.tick().await;
/// let second = every_5ms.tick().await;
/// assert!(second - first >= Duration::from_millis(5));
/// # });
/// ```
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// A ticker whose first tick completes at `start`, then every `period`.
///
/// # Panics
///
/// If `period` is zero.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "hetsched::time::interval: the period must be non-zero"
    );
    Interval {
        next: start,
        period,
        missed: MissedTickBehavior::Burst,
        sleep: sleep_until(start),
    }
}

impl Interval {
    /// Wait for the next tick; returns its scheduled time.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Poll for the next tick (for use in hand-written futures).
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let tick = self.next;
        let now = Instant::now();
        let next = tick + self.period;
        self.next = if next > now {
            next
        } else {
            match self.missed {
                MissedTickBehavior::Burst => next,
                MissedTickBehavior::Delay => now + self.period,
                MissedTickBehavior::Skip => {
                    let behind = now.duration_since(tick).as_nanos();
                    let periods = behind / self.period.as_nanos() + 1;
                    tick + self.period * u32::try_from(periods).unwrap_or(u32::MAX)
                }
            }
        };
        self.sleep.reset(self.next);
        Poll::Ready(tick)
    }

    /// Restart the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.next = Instant::now() + self.period;
        self.sleep.reset(self.next);
    }

    /// How late ticks are handled (default [`MissedTickBehavior::Burst`]).
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}

/// Timers registered with the driver and not yet fired or cancelled.
#[doc(hidden)]
pub fn pending_timers() -> usize {
    Driver::get().pending()
}
