//! Raw-task hooks for the loom models (`loom-tests/tests/raw_task.rs`; built only with
//! `--cfg loom`): tasks with no runtime, whose schedule function puts them in one queue
//! that the model's threads run or drop by hand.

use super::{spawn_raw, spawn_raw_detached, JoinHandle, Qos, Runnable, ScheduleInfo, TaskHeader};
use loom::sync::{Condvar, Mutex};
use std::collections::VecDeque;
use std::future::Future;

#[derive(Default)]
struct Ready {
    queue: Mutex<(VecDeque<Runnable>, bool)>,
    more: Condvar,
}

loom::lazy_static! {
    // Reset by loom for every execution.
    static ref READY: Ready = Ready::default();
}

fn schedule(task: Runnable, _: ScheduleInfo) {
    READY.queue.lock().unwrap().0.push_back(task);
    READY.more.notify_all();
}

/// Make the tasks this thread spawns from now on track their state word with loom (see
/// `crate::loom::task_state`); every raw-task model starts with it.
pub fn track_state() {
    crate::loom::task_state::track(true);
}

/// Spawn `future` as a raw task (scheduled at once) and return its handle.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (runnable, handle) = spawn_raw(TaskHeader::new(Qos::Default), future, schedule);
    runnable.schedule();
    handle
}

/// Spawn `future` with no handle (scheduled at once).
pub fn spawn_detached<F>(future: F)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_raw_detached(TaskHeader::new(Qos::Default), future, schedule).schedule();
}

/// The next queued task, waiting for one; `None` once [`stop`] was called and the queue
/// is empty.
fn next() -> Option<Runnable> {
    let mut queue = READY.queue.lock().unwrap();
    loop {
        if let Some(task) = queue.0.pop_front() {
            return Some(task);
        }
        if queue.1 {
            return None;
        }
        queue = READY.more.wait(queue).unwrap();
    }
}

crate::loom::thread_local! {
    /// The task this thread is polling asked to be polled again without waking itself
    /// ([`skip_wake`]).
    static SKIPPED_WAKE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Called from a task's poll on a [`run_until_stopped`] thread: the task returns `Pending`
/// without waking itself and the poll's end schedules it again, as `yield_now` does on its
/// own worker (`Runnable::run_with`).
pub fn skip_wake() {
    SKIPPED_WAKE.with(|skipped| skipped.set(true));
}

/// Poll queued tasks as they come, until [`stop`].
pub fn run_until_stopped() {
    while let Some(task) = next() {
        task.run_with(|_| SKIPPED_WAKE.with(|skipped| skipped.get()));
        SKIPPED_WAKE.with(|skipped| skipped.set(false));
    }
}

/// Drop the next queued task unpolled (as shutdown does), waiting for one.
pub fn drop_next() {
    drop(next());
}

/// Let [`run_until_stopped`] return once the queue is empty.
pub fn stop() {
    READY.queue.lock().unwrap().1 = true;
    READY.more.notify_all();
}

/// Task blocks allocated and not yet freed by this thread's models (see
/// `task::memory`): a model checks it returns to where it started.
pub fn live_tasks() -> isize {
    super::memory::live_blocks()
}
