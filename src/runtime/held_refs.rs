//! References to a worker's runtime that tasks gave up on that worker, given back in
//! batches.
//!
//! Every spawn from a thread that is not one of the runtime's workers increments the
//! runtime's reference count (the task's header holds the runtime), and the task's end on
//! a worker would decrement it: one locked update of that count's cache line per task on
//! each side, which pulls the line over to the worker once per task (perf: the spawning
//! thread's largest cost, BENCHMARKS.md "Per-task cost"). A worker keeps the references
//! instead and gives them back [`RELEASE_BATCH`] at a time, so the line moves once per
//! batch. Kept as a count, not as the references themselves: all of them are to the one
//! runtime the worker belongs to.

use crate::loom::sync::Arc;
use std::cell::Cell;

/// How many ended tasks' references to the runtime a worker gives back at a time.
pub(crate) const RELEASE_BATCH: usize = 64;

/// References to one runtime (`T`: the runtime's shared state), held by its worker until
/// given back.
pub(crate) struct HeldRefs<T> {
    /// The runtime, as `Arc::into_raw` gives it: every reference counted here is one
    /// `Arc<T>` turned into this pointer.
    runtime: *const T,
    /// How many references this worker holds on behalf of ended tasks.
    count: Cell<usize>,
}

impl<T> HeldRefs<T> {
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
    pub(crate) fn hold(&self, owner: Arc<T>) {
        let raw = Arc::into_raw(owner);
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
        for _ in 0..n {
            // SAFETY: each of the `n` references was an `Arc<T>` to this very runtime
            // turned into `self.runtime` by `hold` (`Arc::into_raw`) and is given back once,
            // here; the count it decrements is at least `n`. While the worker runs, its own
            // `Arc` keeps the count above them, so no decrement here drops the runtime (and
            // runs none of its code); at the worker's end one may, as dropping an `Arc` would.
            unsafe { Arc::decrement_strong_count(self.runtime) };
        }
    }
}

impl<T> Drop for HeldRefs<T> {
    fn drop(&mut self) {
        self.give_back(self.count.get());
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn references_go_back_a_batch_at_a_time_and_the_rest_with_the_holder() {
        let runtime = Arc::new(String::from("runtime"));
        let held = HeldRefs::new(&runtime);
        for n in 1..RELEASE_BATCH {
            held.hold(runtime.clone());
            assert_eq!(Arc::strong_count(&runtime), 1 + n, "held, not given back");
        }
        held.hold(runtime.clone());
        assert_eq!(Arc::strong_count(&runtime), 1, "a full batch went back");
        for _ in 0..3 {
            held.hold(runtime.clone());
        }
        assert_eq!(Arc::strong_count(&runtime), 4);
        drop(held);
        assert_eq!(
            Arc::strong_count(&runtime),
            1,
            "the rest went back with the holder"
        );
    }

    #[test]
    fn the_last_reference_may_go_back_with_the_holder() {
        let runtime = Arc::new(String::from("runtime"));
        let held = HeldRefs::new(&runtime);
        held.hold(runtime);
        // The holder's reference is now the only one: giving it back frees the value
        // (Miri checks the free happens once, and after the last use).
        drop(held);
    }
}
