//! Model 6: efficiency slots. Under `Pin::Spill` there are more E workers than E CPUs, and
//! at most one E worker per E CPU may poll Default or Utility work at a time (the others
//! take only Background work), so a spilling E worker preempted on a P core never holds
//! shared-lane work hostage. The model checks the bound, and that no work is stranded: an
//! E worker that may not take queued Default work sleeps, and the work still completes.
#![cfg(loom)]

use hetsched::{CoreClass, Qos};
use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom_tests::{model_bounded, spill_runtime};
use std::sync::atomic::Ordering::SeqCst;

/// Counts E workers inside a Default poll; fails if two ever overlap.
async fn default_work(inside: Arc<AtomicUsize>) {
    if hetsched::current_class() == Some(CoreClass::Efficiency) {
        let before = inside.fetch_add(1, SeqCst);
        assert_eq!(before, 0, "two E workers polled Default work at once");
        loom::thread::yield_now();
        inside.fetch_sub(1, SeqCst);
    }
}

/// Two Default tasks on 1 P + 2 E workers with one slot: both complete, and never do two
/// E workers poll Default work at the same time. Four threads: bound 1 (bound 2 takes
/// more than 10 minutes).
///
/// Planted bug `slots_unlimited` (every E worker gets a slot): both E workers take a
/// Default task and the assertion fails.
#[test]
fn at_most_one_e_worker_per_e_cpu_polls_shared_lane_work() {
    model_bounded(1, || {
        let rt = spill_runtime(1, 2);
        let inside = Arc::new(AtomicUsize::new(0));
        let a = rt.spawn_with(Qos::Default, default_work(inside.clone()));
        let b = rt.spawn_with(Qos::Default, default_work(inside.clone()));
        rt.block_on(a).unwrap();
        rt.block_on(b).unwrap();
    });
}
