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
            pub(crate) fn notify_one(&self) {
                self.0.notify_one();
            }
            pub(crate) fn notify_all(&self) {
                self.0.notify_all();
            }
        }
    }

    /// Mutex-backed stand-ins for crossbeam's deques with the same API: loom cannot see
    /// crossbeam's own atomics, so the models check our protocols around the queues.
    pub(crate) mod deque {
        use super::sync::{Arc, Mutex};
        use std::collections::VecDeque;

        /// Result of a steal, as in crossbeam.
        pub(crate) enum Steal<T> {
            Empty,
            Success(T),
            #[allow(dead_code)]
            Retry,
        }

        impl<T> Steal<T> {
            pub(crate) fn success(self) -> Option<T> {
                match self {
                    Steal::Success(t) => Some(t),
                    _ => None,
                }
            }
            pub(crate) fn is_retry(&self) -> bool {
                matches!(self, Steal::Retry)
            }
        }

        pub(crate) struct Worker<T>(Arc<Mutex<VecDeque<T>>>);
        pub(crate) struct Stealer<T>(Arc<Mutex<VecDeque<T>>>);
        pub(crate) struct Injector<T>(Mutex<VecDeque<T>>);

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
            pub(crate) fn len(&self) -> usize {
                self.0.lock().len()
            }
        }

        impl<T> Stealer<T> {
            pub(crate) fn is_empty(&self) -> bool {
                self.0.lock().is_empty()
            }
            pub(crate) fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
                let mut src = self.0.lock();
                let first = match src.pop_front() {
                    Some(t) => t,
                    None => return Steal::Empty,
                };
                let extra = src.len() / 2;
                let mut dst = dest.0.lock();
                for _ in 0..extra {
                    if let Some(t) = src.pop_front() {
                        dst.push_back(t);
                    }
                }
                Steal::Success(first)
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
                let mut src = self.0.lock();
                let first = match src.pop_front() {
                    Some(t) => t,
                    None => return Steal::Empty,
                };
                let extra = (src.len() / 2).min(16);
                let mut dst = dest.0.lock();
                for _ in 0..extra {
                    if let Some(t) = src.pop_front() {
                        dst.push_back(t);
                    }
                }
                Steal::Success(first)
            }
            pub(crate) fn is_empty(&self) -> bool {
                self.0.lock().is_empty()
            }
            pub(crate) fn len(&self) -> usize {
                self.0.lock().len()
            }
        }
    }

    macro_rules! loom_thread_local {
        ($($tt:tt)*) => { loom::thread_local! { $($tt)* } };
    }
    pub(crate) use loom_thread_local as thread_local;
}

pub(crate) use imp::*;
