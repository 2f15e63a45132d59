//! The timer driver: one process-wide thread (`hetsched-timer`) that sleeps until the next
//! deadline and wakes the tasks whose timers fired.
//!
//! Why one thread and not idle workers: workers park on a condvar with no timeout, so an
//! idle runtime burns no CPU and a sleeping worker never has to be woken just to fire a
//! timer; a fired timer wakes its task through its waker, and the scheduler puts the task
//! back in *its own* lane (an Interactive task woken by its timer runs on a P worker). The
//! thread starts on first use and blocks while no timer is due. It is not pinned and gets
//! no class hint: it starts with the process's own placement, even when the first timer is
//! polled on an efficiency worker (see `sys::plain_thread`).
//!
//! **Shards.** Timers live in [`SHARDS`] maps, each behind its own lock; a thread sets its
//! timers in the shard it was given on first use (round robin). Servers set and cancel a
//! timer per request (hyper's header-read timeout: set when it starts reading a head,
//! cancelled when the head is in), from every worker at once: with one lock and one map for
//! all of them, that cost 0.9 µs of server CPU per request at full speed on the 2-CPU test
//! machine, a sixth of the whole request (BENCHMARKS.md, "Serving HTTP"); with a shard per
//! thread the lock is uncontended and the map stays in that thread's cache.
//!
//! **The driver's sleep** (loom models: `loom-tests/tests/timer.rs`, one for each half of
//! the argument below; under loom the driver reads a model clock that the models move). The driver publishes
//! in `armed` the deadline it sleeps until ([`IDLE`]: no timer at all; [`LOOKING`]: it is
//! looking at the shards). A turn of the driver: store `LOOKING`, fence, take what is due
//! from every shard and note the earliest deadline left; then, under the `signal` lock, look
//! again if a registration asked to (`rescan`), else store the earliest deadline in `armed`
//! and wait on the condvar until then. A registration inserts into its shard, fences, and
//! reads `armed`: if the driver is looking, or sleeps past the new deadline, it sets
//! `rescan` and signals, under the same lock. So either the driver's look finds the new
//! timer (it locked the shard after the insert), or the registration reads `LOOKING` or the
//! deadline the driver sleeps until (both fences order the insert before the read, and the
//! driver's `LOOKING` before its look) and wakes it if that is too late.

use crate::loom::sync::atomic::{fence, AtomicBool, AtomicU64};
use crate::loom::sync::{Condvar, Mutex};
use crossbeam_utils::CachePadded;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::OnceLock;
use std::task::Waker;
use std::time::Instant;

/// How many shards the timers are spread over: enough for the workers of a typical
/// machine to each have their own.
#[cfg(not(loom))]
const SHARDS: usize = 16;
/// Two in the loom model: a scan of every shard is that many more steps to explore.
#[cfg(loom)]
const SHARDS: usize = 2;

/// `armed` while the driver looks at the shards: a registration then always signals.
const LOOKING: u64 = 0;
/// `armed` while no timer is set: the driver sleeps until signalled.
const IDLE: u64 = u64::MAX;

/// Identifies one registration: its shard, and its place in that shard's map (deadline
/// first, so each map is ordered by deadline; then a number unique in the shard).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    shard: usize,
    at: (Instant, u64),
}

#[derive(Default)]
struct Shard {
    timers: BTreeMap<(Instant, u64), Waker>,
    next_id: u64,
}

pub(crate) struct Driver {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
    /// Deadlines are stored in `armed` as nanoseconds since this instant.
    base: Instant,
    /// The deadline the driver sleeps until, or [`LOOKING`] / [`IDLE`] (see the module).
    armed: AtomicU64,
    /// A registration asked the driver to look again (`rescan`); read and cleared under
    /// this lock, which the driver holds from deciding to sleep until it waits.
    signal: Mutex<bool>,
    earlier: Condvar,
    /// The driver thread should end (loom models only; the process-wide driver runs for
    /// the life of the process).
    stop: AtomicBool,
    /// The model's clock, in nanoseconds since `base` (loom only): loom never lets a timed
    /// wait expire, so a model moves time itself ([`Driver::advance`]).
    #[cfg(loom)]
    clock: AtomicU64,
}

/// The shard the calling thread sets its timers in.
fn own_shard() -> usize {
    // Which shard a thread uses matters only for contention, never for correctness: a
    // plain counter and thread-local, outside loom's view.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    std::thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Relaxed) % SHARDS;
    }
    SHARD.try_with(|s| *s).unwrap_or(0)
}

impl Driver {
    /// A driver whose thread is not started (the caller runs [`Driver::run`]).
    pub(crate) fn new() -> Driver {
        Driver {
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(Mutex::new(Shard::default())))
                .collect(),
            base: Instant::now(),
            armed: AtomicU64::new(IDLE),
            signal: Mutex::new(false),
            earlier: Condvar::default(),
            stop: AtomicBool::new(false),
            #[cfg(loom)]
            clock: AtomicU64::new(0),
        }
    }

    /// The time the driver goes by: the real clock, or the model's under loom.
    fn now(&self) -> Instant {
        #[cfg(loom)]
        return self.base + std::time::Duration::from_nanos(self.clock.load(SeqCst));
        #[cfg(not(loom))]
        Instant::now()
    }

    /// `nanos` after the driver's start, as an instant (loom models set deadlines with it).
    #[cfg(loom)]
    pub(crate) fn at(&self, nanos: u64) -> Instant {
        self.base + std::time::Duration::from_nanos(nanos)
    }

    /// Move the model's clock to `nanos` (loom models): if the driver sleeps until then or
    /// earlier, its timed wait expires (a wake-up, and nothing more: the driver's next turn
    /// looks at every shard anyway). A driver that has not begun that wait yet reads the new
    /// time after publishing its deadline and does not begin it (`turn`): with the fences
    /// on both sides, one of the two sees the other, as a real expiry would.
    #[cfg(loom)]
    pub(crate) fn advance(&self, nanos: u64) {
        self.clock.store(nanos, SeqCst);
        fence(SeqCst);
        let armed = self.armed.load(SeqCst);
        if armed != LOOKING && armed <= nanos {
            let _signal = self.signal.lock();
            self.earlier.notify_one();
        }
    }

    /// Under loom: has the model's clock already reached the deadline the driver just
    /// published (so that its timed wait would expire at once)? Never, otherwise.
    fn already_expired(&self, armed: u64) -> bool {
        #[cfg(loom)]
        {
            fence(SeqCst);
            self.clock.load(SeqCst) >= armed
        }
        #[cfg(not(loom))]
        {
            let _ = armed;
            false
        }
    }

    /// The process-wide driver, started on first use.
    pub(crate) fn get() -> &'static Driver {
        static DRIVER: OnceLock<&'static Driver> = OnceLock::new();
        DRIVER.get_or_init(|| {
            let driver: &'static Driver = Box::leak(Box::new(Driver::new()));
            // Not spawned from here: the caller may be a worker, whose placement a new
            // thread would inherit (see `sys::plain_thread`).
            crate::sys::spawn_plain_thread("hetsched-timer".to_string(), move || driver.run())
                .expect("hetsched: cannot start the timer thread");
            driver
        })
    }

    /// `deadline` as nanoseconds since `base`, for `armed` (never [`LOOKING`] nor [`IDLE`]).
    fn nanos(&self, deadline: Instant) -> u64 {
        let nanos = deadline.saturating_duration_since(self.base).as_nanos();
        u64::try_from(nanos).unwrap_or(IDLE - 1).clamp(1, IDLE - 1)
    }

    /// Register `waker` to be woken at `deadline`; returns the key to update or cancel it.
    pub(crate) fn register(&self, deadline: Instant, waker: Waker) -> TimerKey {
        let armed_before = if crate::loom::mutation!("timer_reads_armed_first") {
            self.armed.load(SeqCst)
        } else {
            0
        };
        let shard = own_shard();
        let key = {
            let mut timers = self.shards[shard].lock();
            let key = TimerKey {
                shard,
                at: (deadline, timers.next_id),
            };
            timers.next_id += 1;
            timers.timers.insert(key.at, waker);
            key
        };
        // The registration's half of the sleep protocol (module docs): insert, fence, read.
        fence(SeqCst);
        let armed = if crate::loom::mutation!("timer_reads_armed_first") {
            // Planted bug (loom only): the value read before the insert.
            armed_before
        } else {
            self.armed.load(SeqCst)
        };
        let looking = armed == LOOKING && !crate::loom::mutation!("timer_ignores_looking");
        if looking || self.nanos(deadline) < armed {
            *self.signal.lock() = true;
            self.earlier.notify_one();
        }
        key
    }

    /// Replace the waker of a registration. False if it already fired (or was cancelled).
    pub(crate) fn update(&self, key: TimerKey, waker: &Waker) -> bool {
        let mut timers = self.shards[key.shard].lock();
        let replaced = match timers.timers.get_mut(&key.at) {
            Some(stored) if stored.will_wake(waker) => None,
            Some(stored) => Some(std::mem::replace(stored, waker.clone())),
            None => return false,
        };
        drop(timers);
        drop(replaced); // outside the lock: dropping a waker may free a task
        true
    }

    /// Move a registration to a new deadline, keeping its waker (a reset of a pending
    /// sleep still wakes its task). `None` if it already fired or was cancelled.
    pub(crate) fn reschedule(&self, key: TimerKey, deadline: Instant) -> Option<TimerKey> {
        let waker = self.shards[key.shard].lock().timers.remove(&key.at)?;
        Some(self.register(deadline, waker))
    }

    /// Cancel a registration (a dropped or reset timer).
    pub(crate) fn cancel(&self, key: TimerKey) {
        let removed = self.shards[key.shard].lock().timers.remove(&key.at);
        drop(removed); // outside the lock: dropping a waker may free a task
    }

    /// Timers registered and not yet fired (for metrics and tests).
    pub(crate) fn pending(&self) -> usize {
        self.shards.iter().map(|s| s.lock().timers.len()).sum()
    }

    /// The driver thread's body: turns until [`Driver::stop`] (never, for the process-wide
    /// driver).
    pub(crate) fn run(&self) {
        lower_timer_slack();
        while !self.stop.load(SeqCst) {
            self.turn();
        }
    }

    /// End [`Driver::run`] (loom models and tests).
    #[cfg(any(loom, test))]
    pub(crate) fn stop(&self) {
        self.stop.store(true, SeqCst);
        *self.signal.lock() = true;
        self.earlier.notify_one();
    }

    /// One look at every shard, then, if nothing was due, one sleep until the earliest
    /// deadline left or a signal.
    fn turn(&self) {
        self.armed.store(LOOKING, SeqCst);
        fence(SeqCst);
        let now = self.now();
        let mut due = Vec::new();
        let mut earliest: Option<Instant> = None;
        for shard in self.shards.iter() {
            let mut timers = shard.lock();
            while let Some(entry) = timers.timers.first_entry() {
                if entry.key().0 > now {
                    earliest = Some(earliest.map_or(entry.key().0, |e| e.min(entry.key().0)));
                    break;
                }
                due.push(entry.remove());
            }
        }
        if !due.is_empty() {
            // Outside every lock: a wake schedules a task, which may take a while.
            for waker in due {
                waker.wake();
            }
            return;
        }
        let mut rescan = self.signal.lock();
        if std::mem::take(&mut *rescan) && !crate::loom::mutation!("timer_no_rescan") {
            return;
        }
        if self.stop.load(SeqCst) {
            return;
        }
        match earliest {
            None => {
                self.armed.store(IDLE, SeqCst);
                rescan = self.earlier.wait(rescan);
            }
            Some(deadline) => {
                let armed = self.nanos(deadline);
                self.armed.store(armed, SeqCst);
                if self.already_expired(armed) {
                    return;
                }
                let timeout = deadline.saturating_duration_since(now);
                rescan = self.earlier.wait_timeout(rescan, timeout).0;
            }
        }
        // Whatever woke us, the next turn looks at every shard.
        *rescan = false;
    }
}

/// Ask Linux for 1 µs of timer slack on this thread (the default is 50 µs): the driver's
/// sleeps then end close to the deadline. Best-effort; other systems keep their default.
fn lower_timer_slack() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only affects this thread;
    // no pointers are passed.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::task::Wake;
    use std::time::Duration;

    struct Record(usize, Arc<Mutex<Vec<usize>>>);

    impl Wake for Record {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    /// Timers set on eight threads land in several shards and all fire; one is cancelled
    /// from another thread than the one that set it (its key names its shard).
    #[test]
    fn timers_set_on_many_threads_fire_and_cancel_from_anywhere() {
        let driver = Arc::new(Driver::new());
        let runner = {
            let driver = driver.clone();
            std::thread::spawn(move || driver.run())
        };
        let fired = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        let keys: Vec<TimerKey> = (0..8)
            .map(|i| {
                let (driver, fired) = (driver.clone(), fired.clone());
                std::thread::spawn(move || {
                    let deadline = start + Duration::from_millis(20 + 5 * i as u64);
                    driver.register(deadline, Arc::new(Record(i, fired)).into())
                })
                .join()
                .unwrap()
            })
            .collect();
        let shards: std::collections::BTreeSet<usize> = keys.iter().map(|k| k.shard).collect();
        assert!(shards.len() > 1, "eight threads, one shard: {shards:?}");
        driver.cancel(keys[3]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while fired.lock().unwrap().len() < 7 {
            assert!(
                Instant::now() < deadline,
                "fired only {:?}",
                fired.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut ids = fired.lock().unwrap().clone();
        ids.sort_unstable();
        assert_eq!(ids, [0, 1, 2, 4, 5, 6, 7]);
        assert_eq!(driver.pending(), 0);
        driver.stop();
        runner.join().unwrap();
    }
}
