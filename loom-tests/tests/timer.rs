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
