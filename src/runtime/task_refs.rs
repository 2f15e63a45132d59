//! Tasks' references to their runtime: every task's header points at the runtime's shared
//! state, which must outlive the task (a waker can schedule the task long after the
//! `Runtime` was dropped). The tasks of a runtime do not hold one strong `Arc` reference
//! each; they are counted here, and together they hold **one**: the first task reference
//! (the count going from 0 to 1) takes it, the last one given back (1 to 0) drops it.
//!
//! Why: with an `Arc` per task, a spawn increments the runtime's reference count and the
//! task's end decrements it, one locked update each; a worker that gives back the
//! references of tasks spawned from outside in batches (`runtime/held_refs.rs`) still made
//! one locked decrement per task (perf on one CPU: 7.7% of a spawn from outside). Counted
//! here, a batch of `n` goes back in one `fetch_sub(n)`.
//!
//! Protocol (loom model `loom-tests/tests/task_refs.rs`, and every runtime model):
//! - Taking a reference needs a strong `Arc` in hand (a handle or a worker's), so the
//!   state is alive while the count goes from 0 to 1; that taker then takes the tasks'
//!   strong reference *before* the task exists anywhere else. No one else can bring the
//!   count back to 0 meanwhile: every reference counted is given back only after its task
//!   was published, after its taker's increment.
//! - Giving back `n` is a release `fetch_sub(n)`; whoever brings the count to 0 issues an
//!   acquire fence (so every earlier holder's use of the state happens before) and drops
//!   the tasks' strong reference, which may free the state. A taker racing with that (0 to
//!   1 again) takes a new strong reference of its own: the two are balanced, and the
//!   taker's own `Arc` keeps the count above zero in between.

use crate::loom::sync::atomic::{fence, AtomicUsize};
use crate::loom::sync::Arc;
use std::ptr::NonNull;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// A runtime whose tasks reference it through [`OwnerRef`]s counted in its [`TaskRefs`].
pub(crate) trait TaskOwner {
    /// The count of this owner's task references.
    fn task_refs(&self) -> &TaskRefs;
}

/// How many task references to one owner exist ([`OwnerRef`]s, plus those a worker holds
/// to give back in a batch).
#[derive(Default)]
pub(crate) struct TaskRefs {
    count: AtomicUsize,
}

impl TaskRefs {
    /// Task references alive now (for tests and metrics: a snapshot).
    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.count.load(Relaxed)
    }
}

/// One task's reference to its owner: keeps the owner alive until it is dropped (or
/// handed to [`release`] by way of [`into_counted`](OwnerRef::into_counted)).
pub(crate) struct OwnerRef<T: TaskOwner> {
    /// As `Arc::as_ptr` gives it: with the provenance of the whole allocation, counts
    /// included, which `release` and `to_arc` reach through it (a pointer made from
    /// `&*owner` would cover only the value). Non-null, so that an `Option<OwnerRef>`
    /// needs no tag of its own.
    owner: NonNull<T>,
}

// SAFETY: an `OwnerRef` is a shared reference to `T` kept alive by the counted strong
// reference, like an `Arc<T>`: sending or sharing one across threads is sound when `T`
// may be shared across threads, which is what `Arc<T>: Send + Sync` asks too.
unsafe impl<T: TaskOwner + Send + Sync> Send for OwnerRef<T> {}
// SAFETY: as above; `&OwnerRef` only gives `&T`.
unsafe impl<T: TaskOwner + Send + Sync> Sync for OwnerRef<T> {}

impl<T: TaskOwner> OwnerRef<T> {
    /// A new task reference to `owner`: the first one takes the tasks' strong reference.
    #[inline]
    pub(crate) fn new(owner: &Arc<T>) -> OwnerRef<T> {
        // Relaxed, as `Arc::clone`: the caller's `Arc` keeps `owner` alive, and the task
        // this reference goes with is published (with a release) after this.
        if owner.task_refs().count.fetch_add(1, Relaxed) == 0 {
            // SAFETY: `owner` is a live `Arc<T>`, so its pointer is one `Arc::into_raw`
            // would give and its count is at least one.
            unsafe { Arc::increment_strong_count(Arc::as_ptr(owner)) };
        }
        // SAFETY: a live `Arc`'s pointer is never null; the cast keeps its provenance.
        let owner = unsafe { NonNull::new_unchecked(Arc::as_ptr(owner).cast_mut()) };
        OwnerRef { owner }
    }

    /// The owner.
    #[inline]
    pub(crate) fn get(&self) -> &T {
        // SAFETY: the owner lives while this reference is counted (the tasks' strong
        // reference is dropped only once the count is back to zero).
        unsafe { self.owner.as_ref() }
    }

    /// A strong `Arc` to the owner, for work that may outlive this reference (scheduling
    /// the task whose reference this is: a worker may free the task meanwhile).
    #[inline]
    pub(crate) fn to_arc(&self) -> Arc<T> {
        // SAFETY: the owner is alive (see `get`) and the pointer is what `Arc::as_ptr`
        // gave in `new`, so its strong count may be incremented and that new reference
        // taken over by `from_raw`.
        unsafe {
            Arc::increment_strong_count(self.owner.as_ptr());
            Arc::from_raw(self.owner.as_ptr())
        }
    }

    /// Stop tracking this reference without giving it back: it stays counted, and the
    /// caller gives it back later with [`release`] on the pointer returned (a worker's
    /// batch, `runtime/held_refs.rs`).
    #[inline]
    pub(crate) fn into_counted(self) -> *const T {
        let ptr = self.owner.as_ptr().cast_const();
        std::mem::forget(self);
        ptr
    }
}

impl<T: TaskOwner> Drop for OwnerRef<T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: this reference is counted and is given back once, here.
        unsafe { release(self.owner.as_ptr().cast_const(), 1) }
    }
}

/// Give back `n` task references to `owner`; the last one drops the tasks' strong
/// reference, which may free `owner`.
///
/// # Safety
/// `owner` is an owner pointer from [`OwnerRef::into_counted`] (or an `OwnerRef` being
/// dropped), `n >= 1`, and the caller gives back at most as many references as it holds,
/// each once. (With `n == 0` on a count of zero the subtraction would "reach zero" and drop
/// the tasks' strong reference a second time.)
pub(crate) unsafe fn release<T: TaskOwner>(owner: *const T, n: usize) {
    debug_assert!(n > 0, "giving back no task reference");
    // SAFETY: the caller holds `n >= 1` counted references, so `owner` is alive here.
    let refs = unsafe { &(*owner).task_refs().count };
    if refs.fetch_sub(n, Release) != n {
        return;
    }
    if crate::loom::mutation!("last_task_ref_keeps_the_runtime") {
        return; // planted bug: the tasks' strong reference is never dropped
    }
    // Every holder's use of the owner happens before this (their releases, read by this
    // thread's decrement along the count's modification order), and so before the drop.
    if !crate::loom::mutation!("last_task_ref_skips_acquire") {
        fence(Acquire);
    }
    // SAFETY: the count went from `n` to zero: the tasks' strong reference, taken when it
    // went from zero to one (`OwnerRef::new`), is still held, and is dropped once, here.
    unsafe { Arc::decrement_strong_count(owner) };
}

/// An owner for unit tests (here and in `runtime/held_refs.rs`) that counts its drops.
#[cfg(all(test, not(loom)))]
pub(crate) mod test_owner {
    use super::*;
    use std::sync::atomic::{AtomicUsize as StdCount, Ordering::SeqCst};

    pub(crate) struct Owner {
        pub(crate) refs: TaskRefs,
        drops: std::sync::Arc<StdCount>,
    }

    impl TaskOwner for Owner {
        fn task_refs(&self) -> &TaskRefs {
            &self.refs
        }
    }

    impl Drop for Owner {
        fn drop(&mut self) {
            self.drops.fetch_add(1, SeqCst);
        }
    }

    /// A new owner, and a way to read how many times it was dropped.
    pub(crate) fn owner() -> (Arc<Owner>, impl Fn() -> usize) {
        let drops = std::sync::Arc::new(StdCount::new(0));
        let owner = Arc::new(Owner {
            refs: TaskRefs::default(),
            drops: drops.clone(),
        });
        (owner, move || drops.load(SeqCst))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::test_owner::{owner, Owner};
    use super::*;

    #[test]
    fn the_tasks_hold_one_strong_reference_while_any_is_counted() {
        let (owner, drops) = owner();
        let first = OwnerRef::new(&owner);
        assert_eq!(
            Arc::strong_count(&owner),
            2,
            "the first reference takes one"
        );
        let refs: Vec<_> = (0..5).map(|_| OwnerRef::new(&owner)).collect();
        assert_eq!(Arc::strong_count(&owner), 2, "the others take none");
        assert_eq!(owner.refs.count(), 6);
        assert!(std::ptr::eq(first.get(), &*owner));
        drop(refs);
        assert_eq!(Arc::strong_count(&owner), 2);
        drop(first);
        assert_eq!(Arc::strong_count(&owner), 1, "the last one gives it back");
        // And again from zero.
        let again = OwnerRef::new(&owner);
        assert_eq!(Arc::strong_count(&owner), 2);
        drop(again);
        assert_eq!(Arc::strong_count(&owner), 1);
        assert_eq!(drops(), 0);
        drop(owner);
        assert_eq!(drops(), 1);
    }

    #[test]
    fn the_last_task_reference_frees_an_owner_whose_handles_are_gone() {
        let (owner, drops) = owner();
        let task = OwnerRef::new(&owner);
        let arc = task.to_arc();
        assert_eq!(Arc::strong_count(&owner), 3);
        drop(arc);
        drop(owner);
        assert_eq!(drops(), 0, "a task still references it");
        assert_eq!(task.get().refs.count(), 1);
        drop(task);
        assert_eq!(drops(), 1);
    }

    #[test]
    fn counted_references_go_back_many_at_once() {
        let (owner, drops) = owner();
        let held: Vec<*const Owner> = (0..64)
            .map(|_| OwnerRef::new(&owner).into_counted())
            .collect();
        assert!(held.iter().all(|&p| std::ptr::eq(p, &*owner)));
        assert_eq!(owner.refs.count(), 64);
        let raw = held[0];
        // SAFETY: 40 of the 64 counted references, each given back once.
        unsafe { release(raw, 40) };
        assert_eq!(Arc::strong_count(&owner), 2);
        drop(owner);
        // SAFETY: the other 24.
        unsafe { release(raw, 24) };
        assert_eq!(drops(), 1, "the last batch freed it");
    }
}
