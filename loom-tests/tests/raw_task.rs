//! Model 13: the raw task's state word (`src/task/raw.rs`) — a wake during the poll, the
//! join handle against completion, detach against completion, and an unpolled runnable
//! dropped (cancelled) against the handle. Tasks here have no runtime: their schedule
//! function queues them for the model's threads (`__loom::raw_task`). Every model checks
//! that the future and the output are dropped exactly once and that the task's memory is
//! freed.
#![cfg(loom)]

use hetsched::runtime::__loom::raw_task;
use loom::future::block_on;
use loom::thread;
use loom_tests::{after, model, DropCount, DropToken, Probe, Signal};
use std::future::Future;
use std::sync::Arc as StdArc;
use std::task::{Context, Wake, Waker};

/// Output type that counts its drops.
struct Output(#[allow(dead_code)] DropToken);

/// What a raw-task model checks at its end: the future (wrapped by `probe`) and the output
/// (counted by `outputs`) dropped exactly once, and the task blocks back to `live`, the
/// count when the model began.
struct Watch {
    probe: Probe,
    outputs: DropCount,
    live: isize,
}

impl Watch {
    /// Begin a model: its tasks track their state word with loom
    /// (`raw_task::track_state`), and the task blocks alive now are noted.
    fn begin() -> Watch {
        raw_task::track_state();
        Watch {
            probe: Probe::new(),
            outputs: DropCount::new(),
            live: raw_task::live_tasks(),
        }
    }

    /// Every task's memory was freed.
    fn assert_freed(&self) {
        assert_eq!(raw_task::live_tasks(), self.live, "task memory leaked");
    }

    /// The future and the output were each dropped exactly once, and the memory freed.
    fn assert_dropped_once_and_freed(&self) {
        assert_eq!(self.probe.drops(), 1, "future dropped exactly once");
        assert_eq!(self.outputs.get(), 1, "output dropped exactly once");
        self.assert_freed();
    }
}

/// A foreign thread wakes the task while a worker may be polling it: a wake during the
/// poll must make the poll's end schedule the task again.
///
/// Planted bug `raw_task_drops_wake_while_running` (the poll's end ignores `SCHEDULED`):
/// the task waits forever and loom reports a deadlock.
#[test]
fn a_wake_during_the_poll_schedules_the_task_again() {
    model(|| {
        let watch = Watch::begin();
        let signal = Signal::new();
        let token = watch.outputs.token();
        let handle = raw_task::spawn(watch.probe.wrap(after(signal.clone(), Output(token))));
        let worker = thread::spawn(raw_task::run_until_stopped);
        let waker = thread::spawn(move || signal.fire());
        let output = block_on(handle).expect("the task's output");
        drop(output);
        raw_task::stop();
        worker.join().unwrap();
        waker.join().unwrap();
        watch.assert_dropped_once_and_freed();
    });
}

/// The task completes on a worker while the handle is polled on the main thread, first
/// with one waker and then with another (so the handle takes its published waker back to
/// change it): the handle gets the output whichever comes first.
///
/// Planted bugs `raw_task_no_join_wake` (completion does not wake the handle) and
/// `raw_task_waker_after_complete` (the handle publishes its waker without looking for a
/// completion that came first): the handle waits forever, a deadlock.
/// `raw_task_rewrites_a_published_waker` (the handle overwrites its waker without taking the
/// slot back first): loom sees the handle write the slot while the completer reads it.
#[test]
fn the_join_handle_gets_the_output_whatever_the_order() {
    model(|| {
        let watch = Watch::begin();
        let token = watch.outputs.token();
        let mut handle = raw_task::spawn(watch.probe.wrap(async move { Output(token) }));
        let first = Waker::from(StdArc::new(NoopWaker));
        let pending = std::pin::Pin::new(&mut handle)
            .poll(&mut Context::from_waker(&first))
            .is_pending();
        assert!(pending, "nothing has run the task yet");
        let worker = thread::spawn(raw_task::run_until_stopped);
        drop(block_on(handle).expect("the task's output"));
        raw_task::stop();
        worker.join().unwrap();
        watch.assert_dropped_once_and_freed();
    });
}

/// The handle is dropped (detached) while the task completes: the output is dropped by
/// whichever side comes second, once, and the memory by the last reference.
///
/// Planted bug `raw_task_detach_keeps_ref` (a handle detaching from a complete task keeps
/// its reference): the memory is never freed.
#[test]
fn detach_races_completion() {
    model(|| {
        let watch = Watch::begin();
        let token = watch.outputs.token();
        let handle = raw_task::spawn(watch.probe.wrap(async move { Output(token) }));
        let worker = thread::spawn(raw_task::run_until_stopped);
        drop(handle);
        raw_task::stop();
        worker.join().unwrap();
        watch.assert_dropped_once_and_freed();
    });
}

/// A queued task is dropped unpolled (as shutdown drops its queues) while the handle
/// waits: the future is dropped once and the handle resolves to a cancelled error. A
/// detached task beside it is dropped the same way and freed.
#[test]
fn an_unpolled_task_dropped_cancels_its_handle() {
    model(|| {
        let watch = Watch::begin();
        let handle = raw_task::spawn(watch.probe.wrap(async { 7 }));
        let dropper = thread::spawn(raw_task::drop_next);
        let err = block_on(handle).expect_err("cancelled");
        assert!(err.is_cancelled(), "unexpected {err:?}");
        dropper.join().unwrap();
        let detached = Probe::new();
        raw_task::spawn_detached(detached.wrap(async {}));
        raw_task::drop_next();
        assert_eq!(watch.probe.drops(), 1, "future dropped exactly once");
        assert_eq!(detached.drops(), 1, "detached future dropped exactly once");
        watch.assert_freed();
    });
}

/// A foreign thread aborts the task while a worker may be about to poll it or polling it:
/// the abort's wake must not trust a `SCHEDULED` it merely loaded (the poll it stands for
/// may have read the abort flag already), so the task is polled again and cancelled.
///
/// Planted bug `raw_task_wake_trusts_a_load` (a wake returns on a loaded `SCHEDULED`): the
/// task is never polled after the abort, and the handle waits forever (deadlock).
#[test]
fn an_abort_racing_the_polls_start_cancels_the_task() {
    model(|| {
        let watch = Watch::begin();
        let never = Signal::new();
        let handle = raw_task::spawn(watch.probe.wrap(after(never.clone(), ())));
        let worker = thread::spawn(raw_task::run_until_stopped);
        let joiner = thread::spawn(move || {
            handle.abort();
            let err = block_on(handle).expect_err("cancelled");
            assert!(err.is_cancelled(), "unexpected {err:?}");
        });
        joiner.join().unwrap();
        raw_task::stop();
        worker.join().unwrap();
        never.clear();
        assert_eq!(watch.probe.drops(), 1, "future dropped exactly once");
        watch.assert_freed();
    });
}

/// A join waker counted through its `Arc` (std's: loom does not need to see it).
struct NoopWaker;

impl Wake for NoopWaker {
    fn wake(self: StdArc<Self>) {}
}

/// The handle registers its waker, then detaches while a worker completes the task: once
/// both are done the join waker is let go, although the task itself lives on (a waker of it
/// is kept), whichever side came second.
///
/// Planted bug `raw_task_keeps_join_waker` (neither side drops the slot's waker): the join
/// waker, and whatever it keeps alive, lives as long as the task.
#[test]
fn the_join_waker_is_let_go_when_the_handle_detaches() {
    model(|| {
        let watch = Watch::begin();
        let signal = Signal::new();
        let mut handle = raw_task::spawn(after(signal.clone(), ()));
        let counted = StdArc::new(NoopWaker);
        let join_waker = Waker::from(counted.clone());
        let pending = std::pin::Pin::new(&mut handle)
            .poll(&mut Context::from_waker(&join_waker))
            .is_pending();
        assert!(pending, "nothing has run the task yet");
        drop(join_waker);
        let worker = thread::spawn(raw_task::run_until_stopped);
        let firer = {
            let signal = signal.clone();
            thread::spawn(move || signal.fire())
        };
        drop(handle);
        firer.join().unwrap();
        raw_task::stop();
        worker.join().unwrap();
        assert_eq!(StdArc::strong_count(&counted), 1, "join waker kept alive");
        signal.clear();
        watch.assert_freed();
    });
}

/// The task yields without waking itself (as `yield_now` does on its own worker, where the
/// poll's end schedules it again) while a foreign thread wakes it through the waker it
/// registered in that same poll: whatever the order, exactly one `Runnable` exists at a
/// time, the task is polled again and finishes.
///
/// Planted bug `raw_task_yield_forgets_scheduled` (the yield's transition keeps the
/// runnable reference but does not set `SCHEDULED`): the queued `Runnable` stands for a
/// `SCHEDULED` that is not there (its poll's start corrupts the word), or the foreign wake
/// finds the task idle and makes a second one; the handle waits forever (deadlock).
#[test]
fn a_yield_without_a_wake_is_scheduled_again_once() {
    model(|| {
        let watch = Watch::begin();
        let token = watch.outputs.token();
        let signal = Signal::new();
        let waiting = signal.clone();
        let mut first = true;
        let mut token = Some(token);
        let future = std::future::poll_fn(move |cx| {
            let fired = waiting.poll_fired(cx).is_ready();
            if std::mem::take(&mut first) {
                raw_task::skip_wake();
                return std::task::Poll::Pending;
            }
            if fired {
                std::task::Poll::Ready(Output(token.take().expect("polled after completion")))
            } else {
                std::task::Poll::Pending
            }
        });
        let handle = raw_task::spawn(watch.probe.wrap(future));
        let worker = thread::spawn(raw_task::run_until_stopped);
        let waker = thread::spawn(move || signal.fire());
        drop(block_on(handle).expect("the task's output"));
        raw_task::stop();
        worker.join().unwrap();
        waker.join().unwrap();
        watch.assert_dropped_once_and_freed();
    });
}
