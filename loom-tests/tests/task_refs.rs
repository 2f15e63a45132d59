//! Tasks' references to their runtime (`src/runtime/task_refs.rs`): a runtime's tasks
//! together hold one strong reference to it, taken by the first task reference and dropped
//! by the last one given back. The runtime must outlive every task reference, and be
//! freed once the last strong reference of any kind is gone, whichever thread gives it up
//! and however the count goes from zero to one and back meanwhile.
#![cfg(loom)]

use hetsched::runtime::__loom::{TaskRef, TaskRefOwner};
use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use loom_tests::model;

/// A spawner on another thread takes a reference while the last one of an earlier task
/// goes back (the count may go 1 → 0 → 1), then lets go of its handle; the model's thread
/// drops the last handle while a worker still holds a batch. The owner is dropped exactly
/// once (its `Drop` asserts), never while a task reference lives, and is not leaked (loom
/// checks every `Arc` is freed by the end).
#[test]
fn the_runtime_lives_exactly_as_long_as_its_last_reference() {
    model(|| {
        let dropped = Arc::new(AtomicBool::new(false));
        let owner = Arc::new(TaskRefOwner::new(dropped.clone()));
        let (first, second) = (TaskRef::new(&owner), TaskRef::new(&owner));
        let spawner = {
            let handle = owner.clone();
            thread::spawn(move || {
                let task = TaskRef::new(&handle);
                drop(handle);
                assert!(!task.owner_dropped(), "freed under a live task reference");
                task
            })
        };
        // A worker gives the first two tasks' references back in one batch while the
        // spawner runs.
        let worker = thread::spawn(move || first.release_with(vec![second]));
        drop(owner);
        let task = spawner.join().unwrap();
        worker.join().unwrap();
        assert!(!task.owner_dropped(), "freed under a live task reference");
        drop(task);
        assert!(dropped.load(SeqCst), "the last reference did not free it");
    });
}
