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

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::task::Waker;
use std::time::Instant;

/// Identifies one registration: deadline first, so the map is ordered by deadline.
pub(crate) type TimerKey = (Instant, u64);

struct State {
    timers: BTreeMap<TimerKey, Waker>,
    next_id: u64,
}

pub(crate) struct Driver {
    state: Mutex<State>,
    /// Signalled when a timer earlier than every other is registered.
    earlier: Condvar,
}

impl Driver {
    /// The process-wide driver, started on first use.
    pub(crate) fn get() -> &'static Driver {
        static DRIVER: OnceLock<&'static Driver> = OnceLock::new();
        DRIVER.get_or_init(|| {
            let driver: &'static Driver = Box::leak(Box::new(Driver {
                state: Mutex::new(State {
                    timers: BTreeMap::new(),
                    next_id: 0,
                }),
                earlier: Condvar::new(),
            }));
            // Not spawned from here: the caller may be a worker, whose placement a new
            // thread would inherit (see `sys::plain_thread`).
            crate::sys::spawn_plain_thread("hetsched-timer".to_string(), move || driver.run())
                .expect("hetsched: cannot start the timer thread");
            driver
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing here panics while holding the lock; recover anyway rather than cascade.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register `waker` to be woken at `deadline`; returns the key to update or cancel it.
    pub(crate) fn register(&self, deadline: Instant, waker: Waker) -> TimerKey {
        let mut state = self.lock();
        let key = (deadline, state.next_id);
        state.next_id += 1;
        let is_earliest = state
            .timers
            .first_key_value()
            .map_or(true, |(first, _)| key < *first);
        state.timers.insert(key, waker);
        drop(state);
        if is_earliest {
            self.earlier.notify_one();
        }
        key
    }

    /// Replace the waker of a registration. False if it already fired (or was cancelled).
    pub(crate) fn update(&self, key: TimerKey, waker: &Waker) -> bool {
        let mut state = self.lock();
        let replaced = match state.timers.get_mut(&key) {
            Some(stored) if stored.will_wake(waker) => None,
            Some(stored) => Some(std::mem::replace(stored, waker.clone())),
            None => return false,
        };
        drop(state);
        drop(replaced); // outside the lock: dropping a waker may free a task
        true
    }

    /// Move a registration to a new deadline, keeping its waker (a reset of a pending
    /// sleep still wakes its task). `None` if it already fired or was cancelled.
    pub(crate) fn reschedule(&self, key: TimerKey, deadline: Instant) -> Option<TimerKey> {
        let mut state = self.lock();
        let waker = state.timers.remove(&key)?;
        drop(state);
        Some(self.register(deadline, waker))
    }

    /// Cancel a registration (a dropped or reset timer).
    pub(crate) fn cancel(&self, key: TimerKey) {
        let removed = self.lock().timers.remove(&key);
        drop(removed); // outside the lock: dropping a waker may free a task
    }

    /// Timers registered and not yet fired (for metrics and tests).
    pub(crate) fn pending(&self) -> usize {
        self.lock().timers.len()
    }

    fn run(&self) {
        lower_timer_slack();
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            while let Some(entry) = state.timers.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
            if !due.is_empty() {
                drop(state);
                for waker in due {
                    waker.wake();
                }
                state = self.lock();
                continue;
            }
            state = match state.timers.first_key_value().map(|(key, _)| key.0) {
                None => self.earlier.wait(state).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let timeout = deadline.saturating_duration_since(now);
                    self.earlier
                        .wait_timeout(state, timeout)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
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
