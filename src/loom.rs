//! Synchronisation shim: std / parking_lot / crossbeam types normally, loom types under
//! `cfg(loom)`, so that the loom models in `loom-tests/` check the real runtime code
//! rather than a copy (the same approach as tokio's `src/loom/`).
//!
//! Everything in the runtime that takes part in a concurrency protocol (task state, wake and
//! park, shutdown) must come from here, never straight from `std::sync`.

#[cfg(not(loom))]
mod imp {
    pub(crate) mod sync {
        pub(crate) use std::sync::Arc;

        pub(crate) mod atomic {
            pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};
        }

        #[cfg(not(miri))]
        pub(crate) use super::parking::{Condvar, Mutex};
        #[cfg(miri)]
        pub(crate) use super::std_locks::{Condvar, Mutex};
    }

    /// parking_lot's locks (the normal build).
    #[cfg(not(miri))]
    mod parking {
        /// A mutex without poisoning: a panicking task must not wedge the scheduler.
        pub(crate) type Mutex<T> = parking_lot::Mutex<T>;
        pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

        /// Condition variable paired with [`Mutex`].
        #[derive(Default)]
        pub(crate) struct Condvar(parking_lot::Condvar);

        impl Condvar {
            pub(crate) fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
                self.0.wait(&mut guard);
                guard
            }
            /// Wait at most `timeout`; the flag is true if it timed out.
            pub(crate) fn wait_timeout<'a, T>(
                &self,
                mut guard: MutexGuard<'a, T>,
                timeout: std::time::Duration,
            ) -> (MutexGuard<'a, T>, bool) {
                let timed_out = self.0.wait_for(&mut guard, timeout).timed_out();
                (guard, timed_out)
            }
            pub(crate) fn notify_one(&self) {
                self.0.notify_one();
            }
            pub(crate) fn notify_all(&self) {
                self.0.notify_all();
            }
        }
    }

    /// std's locks with the same (non-poisoning) API, for Miri: parking_lot_core's raw
    /// futex syscall trips current Miri (see RELIABILITY.md).
    #[cfg(miri)]
    mod std_locks {
        #[derive(Debug, Default)]
        pub(crate) struct Mutex<T>(std::sync::Mutex<T>);
        pub(crate) type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;

        impl<T> Mutex<T> {
            pub(crate) fn new(value: T) -> Self {
                Mutex(std::sync::Mutex::new(value))
            }
            pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
                self.0.lock().unwrap_or_else(|p| p.into_inner())
            }
        }

        #[derive(Debug, Default)]
        pub(crate) struct Condvar(std::sync::Condvar);

        impl Condvar {
            pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
                self.0.wait(guard).unwrap_or_else(|p| p.into_inner())
            }
            /// Wait at most `timeout`; the flag is true if it timed out.
            pub(crate) fn wait_timeout<'a, T>(
                &self,
                guard: MutexGuard<'a, T>,
                timeout: std::time::Duration,
            ) -> (MutexGuard<'a, T>, bool) {
                let (guard, result) = self
                    .0
                    .wait_timeout(guard, timeout)
                    .unwrap_or_else(|p| p.into_inner());
                (guard, result.timed_out())
            }
            pub(crate) fn notify_one(&self) {
                self.0.notify_one();
            }
            pub(crate) fn notify_all(&self) {
                self.0.notify_all();
            }
        }
    }

    pub(crate) mod deque {
        pub(crate) use crossbeam_deque::{Injector, Steal, Stealer, Worker};
    }

    pub(crate) mod thread {
        pub(crate) use std::thread::{current, park, Builder, JoinHandle, Thread};
    }

    macro_rules! loom_thread_local {
        ($($tt:tt)*) => { std::thread_local! { $($tt)* } };
    }
    pub(crate) use loom_thread_local as thread_local;
}

#[cfg(loom)]
mod imp {
    pub(crate) mod sync {
        pub(crate) use loom::sync::Arc;

        pub(crate) mod atomic {
            pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};
        }

        /// loom's mutex, with the parking_lot-style (non-poisoning) API the runtime uses.
        #[derive(Debug, Default)]
        pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
        pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

        impl<T> Mutex<T> {
            pub(crate) fn new(value: T) -> Self {
                Mutex(loom::sync::Mutex::new(value))
            }
            pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
                self.0
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
            }
        }

        /// loom's condition variable with the parking_lot-style API.
        #[derive(Debug, Default)]
        pub(crate) struct Condvar(loom::sync::Condvar);

        impl Condvar {
            pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
                self.0.wait(guard).unwrap_or_else(|p| p.into_inner())
            }
            /// Wait at most `timeout`; the flag is true if it timed out.
            pub(crate) fn wait_timeout<'a, T>(
                &self,
                guard: MutexGuard<'a, T>,
                timeout: std::time::Duration,
            ) -> (MutexGuard<'a, T>, bool) {
                let (guard, result) = self
                    .0
                    .wait_timeout(guard, timeout)
                    .unwrap_or_else(|p| p.into_inner());
                (guard, result.timed_out())
            }
            pub(crate) fn notify_one(&self) {
                self.0.notify_one();
            }
            pub(crate) fn notify_all(&self) {
                self.0.notify_all();
            }
        }
    }

    /// Mutex-backed stand-ins for crossbeam's deques with the same API (the subset the
    /// runtime uses): loom cannot see crossbeam's own atomics, so the models check our
    /// protocols around the queues. Never two queue locks at once: two workers stealing
    /// from each other must not deadlock where crossbeam's lock-free deques cannot.
    pub(crate) mod deque {
        use super::sync::{Arc, Mutex};
        use std::collections::VecDeque;

        /// Result of a steal, as in crossbeam.
        pub(crate) enum Steal<T> {
            Empty,
            Success(T),
            #[allow(dead_code)] // crossbeam's lock-free steal may ask for a retry; ours never does
            Retry,
        }

        pub(crate) struct Worker<T>(Arc<Mutex<VecDeque<T>>>);
        pub(crate) struct Stealer<T>(Arc<Mutex<VecDeque<T>>>);
        pub(crate) struct Injector<T>(Mutex<VecDeque<T>>);

        /// Take the head of `src` plus up to `extra(len)` more; the extra tasks go to
        /// `dest`'s queue after `src` is unlocked.
        fn steal_batch<T>(
            src: &Mutex<VecDeque<T>>,
            dest: &Worker<T>,
            extra: impl Fn(usize) -> usize,
        ) -> Steal<T> {
            let (first, batch) = {
                let mut src = src.lock();
                let Some(first) = src.pop_front() else {
                    return Steal::Empty;
                };
                let n = extra(src.len());
                (first, src.drain(..n).collect::<Vec<T>>())
            };
            if !batch.is_empty() {
                dest.0.lock().extend(batch);
            }
            Steal::Success(first)
        }

        impl<T> Worker<T> {
            pub(crate) fn new_fifo() -> Self {
                Worker(Arc::new(Mutex::new(VecDeque::new())))
            }
            pub(crate) fn stealer(&self) -> Stealer<T> {
                Stealer(self.0.clone())
            }
            pub(crate) fn push(&self, task: T) {
                self.0.lock().push_back(task);
            }
            pub(crate) fn pop(&self) -> Option<T> {
                self.0.lock().pop_front()
            }
            pub(crate) fn is_empty(&self) -> bool {
                self.0.lock().is_empty()
            }
        }

        impl<T> Stealer<T> {
            pub(crate) fn is_empty(&self) -> bool {
                self.0.lock().is_empty()
            }
            /// Take the oldest task, as crossbeam's `Stealer::steal` does.
            pub(crate) fn steal(&self) -> Steal<T> {
                match self.0.lock().pop_front() {
                    Some(t) => Steal::Success(t),
                    None => Steal::Empty,
                }
            }
            /// Steal half (rounded up) of the queue, as crossbeam does.
            pub(crate) fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
                steal_batch(&self.0, dest, |rest| rest / 2)
            }
        }

        impl<T> Injector<T> {
            pub(crate) fn new() -> Self {
                Injector(Mutex::new(VecDeque::new()))
            }
            pub(crate) fn push(&self, task: T) {
                self.0.lock().push_back(task);
            }
            pub(crate) fn steal(&self) -> Steal<T> {
                match self.0.lock().pop_front() {
                    Some(t) => Steal::Success(t),
                    None => Steal::Empty,
                }
            }
            pub(crate) fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
                steal_batch(&self.0, dest, |rest| (rest / 2).min(16))
            }
            pub(crate) fn is_empty(&self) -> bool {
                self.0.lock().is_empty()
            }
        }
    }

    /// Worker threads are loom threads, so that loom schedules them.
    pub(crate) mod thread {
        pub(crate) use loom::thread::{current, park, Builder, JoinHandle, Thread};
    }

    /// loom's `thread_local!` takes no `const { .. }` initialisers: strip them (loom
    /// thread-locals are lazily initialised per loom thread either way).
    macro_rules! loom_thread_local {
        () => {};
        ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = const { $init:expr }; $($rest:tt)*) => {
            loom::thread_local! { $(#[$attr])* $vis static $name: $t = $init; }
            $crate::loom::thread_local! { $($rest)* }
        };
        ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
            loom::thread_local! { $(#[$attr])* $vis static $name: $t = $init; }
            $crate::loom::thread_local! { $($rest)* }
        };
    }
    pub(crate) use loom_thread_local as thread_local;
}

/// Atomics loom does not model: std atomics even under loom. Two kinds belong here:
/// - statistics (metrics counters, latency stamps), which take part in no protocol; keeping
///   them out of loom's view keeps the models' state space small;
/// - flags whose happens-before edge comes from the task's state word, which the runtime
///   models do not track (see `task_state`; a task's abort flag: set before `wake`, read by
///   the poll that wake causes). As a loom atomic, loom would let that poll read a stale
///   value no real execution can. loom
///   runs its threads one at a time, so a std atomic reads the latest store, and loom still
///   explores both orders of a store and a load that race for real. A task's effective Qos
///   is the same kind: raised before the awaiting task's poll ends, read by schedulings and
///   polls that the task's state word orders after it (or that race with it for real, and
///   then may see either value: see `task/header.rs`).
pub(crate) mod untracked {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize};
}

/// The raw task's state word and cells (`task/raw.rs`). Under loom they are loom's atomic
/// and `UnsafeCell`s only in tasks made by the raw-task models
/// (`loom-tests/tests/raw_task.rs`, which switch tracking on for their thread with
/// [`task_state::track`]); in the runtime models it is a std atomic,
/// a sequentially consistent step between loom's scheduling points, as async-task's state
/// was before we owned the task: tracking it there multiplies the runtime models'
/// interleavings (the CI loom step went from about 1 to 16 minutes) without exercising the
/// task's races any better than the dedicated models do.
pub(crate) mod task_state {
    #[cfg(not(loom))]
    pub(crate) use std::sync::atomic::AtomicUsize;

    #[cfg(loom)]
    pub(crate) use switchable::{track, AtomicUsize, Slot};

    /// The task's cells (its stage, its join waker): a std `UnsafeCell` with loom's
    /// closure API, so that the raw task's code is the same in every build.
    #[cfg(not(loom))]
    pub(crate) struct Slot<T>(std::cell::UnsafeCell<T>);

    #[cfg(not(loom))]
    impl<T> Slot<T> {
        pub(crate) fn new(value: T) -> Self {
            Slot(std::cell::UnsafeCell::new(value))
        }
        /// Read through the pointer `f` is given (while `f` runs).
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }
        /// Write through the pointer `f` is given (while `f` runs).
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    #[cfg(loom)]
    mod switchable {
        use std::sync::atomic::Ordering;

        std::thread_local! {
            static TRACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }

        /// Make the state words of tasks created on this thread from now on loom atomics
        /// (`on`) or std ones.
        pub(crate) fn track(on: bool) {
            TRACK.with(|track| track.set(on));
        }

        /// A loom or a std `UnsafeCell`, picked when the task is made: in the raw-task
        /// models loom checks that no two threads touch a task's stage or join waker at
        /// once.
        pub(crate) enum Slot<T> {
            Tracked(loom::cell::UnsafeCell<T>),
            Untracked(std::cell::UnsafeCell<T>),
        }

        impl<T> Slot<T> {
            pub(crate) fn new(value: T) -> Self {
                if TRACK.with(|track| track.get()) {
                    Slot::Tracked(loom::cell::UnsafeCell::new(value))
                } else {
                    Slot::Untracked(std::cell::UnsafeCell::new(value))
                }
            }
            pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
                match self {
                    Slot::Tracked(cell) => cell.with(f),
                    Slot::Untracked(cell) => f(cell.get()),
                }
            }
            pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
                match self {
                    Slot::Tracked(cell) => cell.with_mut(f),
                    Slot::Untracked(cell) => f(cell.get()),
                }
            }
        }

        /// A loom or a std atomic, picked when the task is made.
        pub(crate) enum AtomicUsize {
            Tracked(loom::sync::atomic::AtomicUsize),
            Untracked(std::sync::atomic::AtomicUsize),
        }

        macro_rules! either {
            ($self:ident, $atomic:ident => $body:expr) => {
                match $self {
                    AtomicUsize::Tracked($atomic) => $body,
                    AtomicUsize::Untracked($atomic) => $body,
                }
            };
        }

        impl AtomicUsize {
            pub(crate) fn new(value: usize) -> Self {
                if TRACK.with(|track| track.get()) {
                    AtomicUsize::Tracked(loom::sync::atomic::AtomicUsize::new(value))
                } else {
                    AtomicUsize::Untracked(std::sync::atomic::AtomicUsize::new(value))
                }
            }
            pub(crate) fn load(&self, order: Ordering) -> usize {
                either!(self, a => a.load(order))
            }
            pub(crate) fn store(&self, value: usize, order: Ordering) {
                either!(self, a => a.store(value, order))
            }
            pub(crate) fn fetch_add(&self, value: usize, order: Ordering) -> usize {
                either!(self, a => a.fetch_add(value, order))
            }
            pub(crate) fn fetch_sub(&self, value: usize, order: Ordering) -> usize {
                either!(self, a => a.fetch_sub(value, order))
            }
            pub(crate) fn fetch_or(&self, value: usize, order: Ordering) -> usize {
                either!(self, a => a.fetch_or(value, order))
            }
            pub(crate) fn fetch_and(&self, value: usize, order: Ordering) -> usize {
                either!(self, a => a.fetch_and(value, order))
            }
            pub(crate) fn compare_exchange_weak(
                &self,
                current: usize,
                new: usize,
                success: Ordering,
                failure: Ordering,
            ) -> Result<usize, usize> {
                either!(self, a => a.compare_exchange_weak(current, new, success, failure))
            }
            pub(crate) fn fetch_update<F>(
                &self,
                set: Ordering,
                fetch: Ordering,
                f: F,
            ) -> Result<usize, usize>
            where
                F: FnMut(usize) -> Option<usize>,
            {
                either!(self, a => a.fetch_update(set, fetch, f))
            }
        }
    }
}

pub(crate) use imp::*;

/// True when a loom model runs with the named bug planted: only in `--cfg loom` builds, and
/// only when `HETSCHED_LOOM_MUTATION` names it (see loom-tests/README.md for the list). A
/// constant `false` in every other build, so the check compiles away.
macro_rules! mutation {
    ($name:literal) => {{
        #[cfg(loom)]
        let planted = $crate::loom::planted_mutation() == Some($name);
        #[cfg(not(loom))]
        let planted = false;
        planted
    }};
}
pub(crate) use mutation;

/// The bug planted for this process (`HETSCHED_LOOM_MUTATION`), read once. An environment
/// switch rather than a cfg, so one loom build serves every planted-bug run.
#[cfg(loom)]
pub(crate) fn planted_mutation() -> Option<&'static str> {
    static PLANTED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    PLANTED
        .get_or_init(|| std::env::var("HETSCHED_LOOM_MUTATION").ok())
        .as_deref()
}
