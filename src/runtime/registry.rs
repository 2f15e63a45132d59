//! The runtime's book of *waiting* tasks: a waker for every task that has returned
//! `Pending` at least once and whose future has not been dropped yet, so that shutdown can
//! reach tasks that sit waiting on a waker nobody will fire.
//!
//! A task is entered at its first `Pending` (by the worker polling it, inside the poll),
//! not at spawn: a task that finishes in its first poll — most spawned jobs — never takes a
//! lock here. Shutdown still reaches every future, because a task that never returned
//! `Pending` is always in one of three places, each of which shutdown drains: a queue (an
//! injector, a worker's own queue or LIFO slot), a worker's poll (the worker finishes it
//! before it exits), or in transit to an injector (`Shared::inject` re-checks shutdown after
//! its push). Its entry goes when the future is dropped (completed, panicked, aborted, or
//! dropped by shutdown). Model: `loom-tests/tests/shutdown.rs`, planted bug
//! `no_register_on_pending`.
//!
//! Sharded (each shard a small mutex-protected slab), so workers entering and removing
//! tasks do not contend: a task is entered in the shard of the worker that polled it.

use crate::loom::sync::Mutex;
use crossbeam_utils::CachePadded;
use slab::Slab;
use std::task::Waker;

pub(crate) struct Registry {
    shards: Box<[CachePadded<Mutex<Slab<Waker>>>]>,
}

impl Registry {
    pub(crate) fn new(shards: usize) -> Registry {
        let shards = shards.max(1).next_power_of_two();
        Registry {
            shards: (0..shards)
                .map(|_| CachePadded::new(Mutex::new(Slab::new())))
                .collect(),
        }
    }

    /// Enter a waiting task, in shard `shard_hint`; returns its key.
    pub(crate) fn register(&self, shard_hint: usize, waker: Waker) -> usize {
        let n = self.shards.len();
        let shard_index = shard_hint % n;
        let slot = self.shards[shard_index].lock().insert(waker);
        slot * n + shard_index
    }

    /// The task's future was dropped: forget it.
    pub(crate) fn unregister(&self, key: usize) {
        let n = self.shards.len();
        let waker = self.shards[key % n].lock().try_remove(key / n);
        // Dropped outside the lock: dropping a waker can free a task, whose drop may
        // unregister another.
        drop(waker);
    }

    /// Wake every waiting task (shutdown: a woken task is dropped by the scheduler). Wakers
    /// are collected first and woken outside the locks, because a woken task is dropped at
    /// once and unregisters itself.
    pub(crate) fn wake_all(&self) {
        for shard in self.shards.iter() {
            let wakers: Vec<Waker> = shard.lock().iter().map(|(_, w)| w.clone()).collect();
            for waker in wakers {
                waker.wake();
            }
        }
    }

    /// Tasks entered now (for tests).
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}
