//! Model 8: stuck-poll reports, once per task (`src/runtime/stuck.rs`). The watchdog calls
//! the hook for a poll only after claiming it while it still runs; the worker, ending that
//! poll, must then see the claim and mark the task, or the task's next long poll would be
//! reported again.
#![cfg(loom)]

use hetsched::runtime::__loom::PollRecord;
use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use loom_tests::model;

#[test]
fn a_reported_poll_always_marks_its_task() {
    model(|| {
        let record = Arc::new(PollRecord::default());
        record.begin();
        let hooked = Arc::new(AtomicBool::new(false));
        let watchdog = {
            let (record, hooked) = (record.clone(), hooked.clone());
            thread::spawn(move || {
                if let Some(poll) = record.sample() {
                    if record.claim(poll) {
                        hooked.store(true, SeqCst);
                    }
                }
            })
        };
        let marked = record.end();
        watchdog.join().unwrap();
        assert!(
            !hooked.load(SeqCst) || marked,
            "the hook reported a poll whose task was never marked"
        );
    });
}
