//! Tasks' references to their runtime (`src/runtime/task_refs.rs`): a runtime's tasks
//! together hold one strong reference to it, taken by the first task reference and dropped
//! by the last one given back. The runtime must outlive every task reference and every use
//! made through one, and be freed once the last strong reference of any kind is gone,
//! whichever thread gives it up and however the count goes from zero to one and back
//! meanwhile.
#![cfg(loom)]

use hetsched::runtime::__loom::{TaskRef, TaskRefOwner};
use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use loom_tests::model;

/// A spawner on another thread takes a reference while a worker gives the first two back
/// in one batch (the count may go 1 → 0 → 1), lets go of its handle and later of its task's
/// reference; the model's thread drops the last handle meanwhile, so either thread may give
/// back the last reference and drop the owner. Every holder reads the owner's data before it
/// gives its reference back, and the owner's drop writes it: loom checks each read happens
/// before the drop. The owner is dropped exactly once (its `Drop` asserts), never while a
/// task reference lives, and is not leaked (loom checks every `Arc` is freed by the end).
///
/// Planted bugs: `last_task_ref_keeps_the_runtime` (the last reference never drops the
/// tasks' strong one: "did not free it") and `last_task_ref_skips_acquire` (the last
/// reference drops it without the acquire fence: the other thread's read races the drop,
/// "Causality violation").
#[test]
fn the_runtime_lives_exactly_as_long_as_its_last_reference() {
    model(|| {
        let dropped = Arc::new(AtomicBool::new(false));
        let owner = Arc::new(TaskRefOwner::new(dropped.clone()));
        let (first, second) = (TaskRef::new(&owner), TaskRef::new(&owner));
        let spawner = {
            let (handle, dropped) = (owner.clone(), dropped.clone());
            thread::spawn(move || {
                let task = TaskRef::new(&handle);
                drop(handle);
                assert!(!dropped.load(SeqCst), "freed under a live task reference");
                assert_eq!(task.owner().read(), 1);
                task.release_with(Vec::new());
            })
        };
        // A worker uses the runtime through the first task's reference, then gives the
        // first two tasks' references back in one batch while the spawner runs.
        let worker = thread::spawn(move || {
            assert_eq!(first.owner().read(), 1);
            first.release_with(vec![second]);
        });
        drop(owner);
        spawner.join().unwrap();
        worker.join().unwrap();
        assert!(dropped.load(SeqCst), "the last reference did not free it");
    });
}

/// A strong reference taken through a task's reference (`OwnerRef::to_arc`, as a wake from
/// outside the runtime takes one) keeps the owner alive after the task's reference and
/// every handle are gone, and is the one that frees it.
#[test]
fn a_strong_reference_taken_through_a_task_outlives_it() {
    model(|| {
        let dropped = Arc::new(AtomicBool::new(false));
        let owner = Arc::new(TaskRefOwner::new(dropped.clone()));
        let task = TaskRef::new(&owner);
        drop(owner);
        let waker = thread::spawn(move || {
            let strong = task.to_arc();
            drop(task);
            assert_eq!(strong.read(), 1);
            strong
        });
        let strong = waker.join().unwrap();
        assert!(!dropped.load(SeqCst), "freed under a strong reference");
        drop(strong);
        assert!(dropped.load(SeqCst), "the strong reference did not free it");
    });
}
