//! Model 9: the CPU watch (`src/runtime/cpu_watch.rs`). The monitor publishes two changes
//! of the allowed CPUs while a worker looks; once the monitor is done, the worker's next
//! look must leave it on the last set published, never on an older one it took for new.
#![cfg(loom)]

use hetsched::runtime::__loom::CpuWatch;
use loom::sync::Arc;
use loom::thread;
use loom_tests::model;
use std::cell::Cell;

#[test]
fn a_worker_always_settles_on_the_last_published_set() {
    model(|| {
        let watch = Arc::new(CpuWatch::default());
        // The monitor's first look: the starting set, not a change.
        assert!(!watch.publish(vec![0, 1]));
        let monitor = {
            let watch = watch.clone();
            thread::spawn(move || {
                assert!(watch.publish(vec![0]));
                assert!(watch.publish(vec![1]));
            })
        };
        let seen = Cell::new(0);
        let mut placed = vec![0, 1];
        if let Some(allowed) = watch.follow(&seen) {
            placed = allowed;
        }
        monitor.join().unwrap();
        if let Some(allowed) = watch.follow(&seen) {
            placed = allowed;
        }
        assert_eq!(placed, vec![1], "the worker settled on a stale CPU set");
    });
}
