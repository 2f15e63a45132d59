//! Model: the timer driver's sleep (`src/time/driver.rs`). A timer set while the driver
//! looks at its shards, or while it sleeps until a later deadline, must still fire: either
//! the driver's look finds it, or the registration sees the driver looking or sleeping past
//! it and signals. loom never times a condvar wait out, so a lost signal is a deadlock.
#![cfg(loom)]

use hetsched::runtime::__loom::TimerDriver;
use loom::sync::{Condvar, Mutex};
use loom_tests::model;
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

/// A waker that records its wake (loom's lock and condvar, so that waiting for it is a
/// blocked thread to loom).
#[derive(Default)]
struct Fired(Mutex<bool>, Condvar);

impl Fired {
    fn wait(&self) {
        let mut fired = self.0.lock().unwrap();
        while !*fired {
            fired = self.1.wait(fired).unwrap();
        }
    }
}

impl Wake for Fired {
    fn wake(self: Arc<Self>) {
        *self.0.lock().unwrap() = true;
        self.1.notify_all();
    }
}

/// A deadline already past: due at any look of the driver.
fn past() -> Instant {
    let now = Instant::now();
    now.checked_sub(Duration::from_secs(1)).unwrap_or(now)
}

/// Planted bugs `timer_ignores_looking` (a registration that finds the driver looking
/// does not signal: the look already passed its shard, and the driver sleeps until the far
/// deadline) and `timer_no_rescan` (the driver drops a signal that came before it slept):
/// loom reports a deadlock.
#[test]
fn a_timer_set_while_the_driver_looks_or_sleeps_fires() {
    model(|| {
        let driver = Arc::new(TimerDriver::default());
        // A far timer: the driver, once it has looked, sleeps until then (for ever here).
        let far = Arc::new(Fired::default());
        driver.register(Instant::now() + Duration::from_secs(3600), Waker::from(far));
        let thread = {
            let driver = driver.clone();
            loom::thread::spawn(move || driver.run())
        };
        let due = Arc::new(Fired::default());
        driver.register(past(), Waker::from(due.clone()));
        due.wait();
        assert_eq!(driver.pending(), 1, "only the far timer is left");
        driver.stop();
        thread.join().unwrap();
    });
}

/// The other half: a timer set for *after* the deadline the driver sleeps until must not
/// need a signal, so the driver's own timed wake (the model moves the clock: loom never lets
/// a wait expire) and its next look must find it. A far timer at 10, a second timer at 20
/// set from another thread while the clock moves to 10 and then to 20: the second fires.
///
/// Planted bug `timer_reads_armed_first` (the registration reads the driver's deadline
/// before its insert: it may see 10, skip the signal, and the driver, waking at 10, look at
/// the shard before the insert and sleep with no deadline): loom reports a deadlock.
#[test]
fn a_timer_later_than_the_drivers_deadline_fires_after_the_timed_wake() {
    model(|| {
        let driver = Arc::new(TimerDriver::default());
        let first = Arc::new(Fired::default());
        driver.register(driver.at(10), Waker::from(first.clone()));
        let thread = {
            let driver = driver.clone();
            loom::thread::spawn(move || driver.run())
        };
        let second = Arc::new(Fired::default());
        let setter = {
            let (driver, second) = (driver.clone(), second.clone());
            loom::thread::spawn(move || driver.register(driver.at(20), Waker::from(second)))
        };
        driver.advance(10);
        first.wait();
        setter.join().unwrap();
        driver.advance(20);
        second.wait();
        assert_eq!(driver.pending(), 0);
        driver.stop();
        thread.join().unwrap();
    });
}
