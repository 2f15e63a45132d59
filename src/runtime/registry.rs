//! The runtime's book of live tasks: a waker for every task whose future has not been
//! dropped yet, so shutdown can reach tasks that sit waiting on a waker nobody will fire,
//! plus per-lane spawned / finished counts for metrics.
//!
//! Sharded (each shard a small mutex-protected slab), so spawns on different workers do
//! not contend; an entry is added at spawn and removed when the task's future is dropped
//! (completed, panicked, aborted, or dropped by shutdown).

use super::policy::{Lane, LANES};
use crate::loom::sync::{Arc, Mutex};
use crossbeam_utils::CachePadded;
use slab::Slab;
use std::task::Waker;

struct Shard {
    wakers: Slab<Waker>,
    spawned: [u64; LANES],
    finished: [u64; LANES],
}

pub(crate) struct Registry {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
}

impl Registry {
    pub(crate) fn new(shards: usize) -> Registry {
        let shards = shards.max(1).next_power_of_two();
        Registry {
            shards: (0..shards)
                .map(|_| {
                    CachePadded::new(Mutex::new(Shard {
                        wakers: Slab::new(),
                        spawned: [0; LANES],
                        finished: [0; LANES],
                    }))
                })
                .collect(),
        }
    }

    fn split(&self, key: usize) -> (usize, usize) {
        let n = self.shards.len();
        (key % n, key / n)
    }

    /// Register a new task in shard `shard_hint`: `create` gets the task's registry key and
    /// returns what to hand back plus the task's waker (kept until the task unregisters).
    pub(crate) fn register<R>(
        &self,
        shard_hint: usize,
        lane: Lane,
        create: impl FnOnce(usize) -> (R, Waker),
    ) -> R {
        let n = self.shards.len();
        let shard_index = shard_hint % n;
        let mut shard = self.shards[shard_index].lock();
        let entry = shard.wakers.vacant_entry();
        let key = entry.key() * n + shard_index;
        let (made, waker) = create(key);
        entry.insert(waker);
        shard.spawned[lane.index()] += 1;
        made
    }

    /// The task's future was dropped: forget it.
    pub(crate) fn unregister(&self, key: usize, lane: Lane) {
        let (shard_index, slot) = self.split(key);
        let waker = {
            let mut shard = self.shards[shard_index].lock();
            shard.finished[lane.index()] += 1;
            shard.wakers.try_remove(slot)
        };
        // Dropped outside the lock: dropping a waker can free the task.
        drop(waker);
    }

    /// Wake every live task (shutdown: a woken task is dropped by the scheduler). Wakers
    /// are collected first and woken outside the locks, because a woken task is dropped at
    /// once and unregisters itself.
    pub(crate) fn wake_all(&self) {
        for shard in self.shards.iter() {
            let wakers: Vec<Waker> = shard.lock().wakers.iter().map(|(_, w)| w.clone()).collect();
            for waker in wakers {
                waker.wake();
            }
        }
    }

    /// Tasks whose futures are still alive.
    pub(crate) fn live(&self) -> usize {
        self.shards.iter().map(|s| s.lock().wakers.len()).sum()
    }

    /// (spawned, finished) per lane, summed over shards.
    pub(crate) fn lane_counts(&self) -> [(u64, u64); LANES] {
        let mut counts = [(0, 0); LANES];
        for shard in self.shards.iter() {
            let shard = shard.lock();
            for (lane, count) in counts.iter_mut().enumerate() {
                count.0 += shard.spawned[lane];
                count.1 += shard.finished[lane];
            }
        }
        counts
    }
}

/// Dropped together with a task's future: unregisters the task.
pub(crate) struct Registration {
    registry: Arc<Registry>,
    key: usize,
    lane: Lane,
}

impl Registration {
    pub(crate) fn new(registry: Arc<Registry>, key: usize, lane: Lane) -> Registration {
        Registration {
            registry,
            key,
            lane,
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.unregister(self.key, self.lane);
    }
}
