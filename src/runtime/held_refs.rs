//! References to a worker's runtime that tasks gave up on that worker, given back in
//! batches.
//!
//! Every spawn from a thread that is not one of the runtime's workers counts a task
//! reference to the runtime (`runtime/task_refs.rs`), and the task's end on a worker would
//! give it back: one locked update of that count's cache line per task on each side, which
//! pulls the line over to the worker once per task (perf: the spawning thread's largest
//! cost, BENCHMARKS.md "Per-task cost"). A worker keeps the references instead and gives
//! them back [`RELEASE_BATCH`] at a time, in one update, so the line moves once per batch.
//! Kept as a count, not as the references themselves: all of them are to the one runtime
//! the worker belongs to.

use super::task_refs::{self, OwnerRef, TaskOwner};
use crate::loom::sync::Arc;
use std::cell::Cell;

/// How many ended tasks' references to the runtime a worker gives back at a time.
pub(crate) const RELEASE_BATCH: usize = 64;

/// Task references to one runtime (`T`: the runtime's shared state), held by its worker
/// until given back.
pub(crate) struct HeldRefs<T: TaskOwner> {
    /// The runtime: every reference counted here is an `OwnerRef<T>` to it, turned into
    /// this pointer by `OwnerRef::into_counted`.
    runtime: *const T,
    /// How many references this worker holds on behalf of ended tasks.
    count: Cell<usize>,
}

impl<T: TaskOwner> HeldRefs<T> {
    /// None held yet, for the runtime `runtime` (the worker's own `Arc`, which outlives
    /// every batch: see [`hold`](Self::hold)).
    pub(crate) fn new(runtime: &Arc<T>) -> HeldRefs<T> {
        HeldRefs {
            runtime: Arc::as_ptr(runtime),
            count: Cell::new(0),
        }
    }

    /// Hold `owner`, a reference to this runtime that an ended task gave up; give a batch
    /// back once [`RELEASE_BATCH`] are held. The caller checked that `owner` is this
    /// runtime (`Shared::own`).
    #[inline]
    pub(crate) fn hold(&self, owner: OwnerRef<T>) {
        let raw = owner.into_counted();
        debug_assert_eq!(raw, self.runtime, "a reference to another runtime");
        if crate::loom::mutation!("release_batch_forgets") {
            return; // planted bug: the reference is never given back
        }
        let held = self.count.get() + 1;
        if held >= RELEASE_BATCH {
            self.give_back(held);
            self.count.set(0);
        } else {
            self.count.set(held);
        }
    }

    /// Give `n` held references back.
    #[cold]
    fn give_back(&self, n: usize) {
        if n == 0 {
            return;
        }
        // SAFETY: each of the `n` references is an `OwnerRef` to this very runtime turned
        // into `self.runtime` by `hold` and given back once, here. While the worker runs,
        // its own `Arc` keeps the runtime alive whatever the count does; at the worker's
        // end this may free it, as dropping an `Arc` would.
        unsafe { task_refs::release(self.runtime, n) };
    }
}

impl<T: TaskOwner> Drop for HeldRefs<T> {
    fn drop(&mut self) {
        self.give_back(self.count.get());
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::task_refs::test_owner::owner;
    use super::*;

    #[test]
    fn references_go_back_a_batch_at_a_time_and_the_rest_with_the_holder() {
        let (runtime, drops) = owner();
        let held = HeldRefs::new(&runtime);
        let counted = || runtime.refs.count();
        for n in 1..RELEASE_BATCH {
            held.hold(OwnerRef::new(&runtime));
            assert_eq!(counted(), n, "held, not given back");
            assert_eq!(Arc::strong_count(&runtime), 2, "the tasks' one reference");
        }
        held.hold(OwnerRef::new(&runtime));
        assert_eq!(counted(), 0, "a full batch went back");
        assert_eq!(Arc::strong_count(&runtime), 1);
        for _ in 0..3 {
            held.hold(OwnerRef::new(&runtime));
        }
        assert_eq!(counted(), 3);
        drop(held);
        assert_eq!(counted(), 0, "the rest went back with the holder");
        assert_eq!(Arc::strong_count(&runtime), 1);
        drop(runtime);
        assert_eq!(drops(), 1);
    }

    #[test]
    fn the_last_reference_may_go_back_with_the_holder() {
        let (runtime, drops) = owner();
        let held = HeldRefs::new(&runtime);
        held.hold(OwnerRef::new(&runtime));
        drop(runtime);
        // The holder's reference is now the only one: giving it back frees the value
        // (Miri checks the free happens once, and after the last use).
        assert_eq!(drops(), 0);
        drop(held);
        assert_eq!(drops(), 1);
    }
}
