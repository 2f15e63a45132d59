//! Helpers shared by the runtime integration tests.
#![allow(dead_code)]

use hetsched::{Builder, CoreClass, Runtime, Topology};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// The machine as the tests declare it: P = CPU 0, E = CPU 1.
pub fn two_class_topology() -> Topology {
    Topology::with_classes("0".parse().unwrap(), "1".parse().unwrap()).unwrap()
}

/// A runtime on the declared two-class topology with `p` and `e` workers.
pub fn runtime(p: usize, e: usize) -> Runtime {
    Builder::new()
        .topology(two_class_topology())
        .workers(CoreClass::Performance, p)
        .workers(CoreClass::Efficiency, e)
        .build()
        .unwrap()
}

/// The worker shapes every invariant is checked on: one worker per declared core, and
/// more workers than this machine has cores.
pub const SHAPES: [(usize, usize); 2] = [(1, 1), (3, 3)];

/// Counts polls of a future by the class of the worker that did them.
#[derive(Default)]
pub struct ClassTally {
    pub performance: AtomicUsize,
    pub efficiency: AtomicUsize,
    pub outside: AtomicUsize,
}

impl ClassTally {
    pub fn record(&self) {
        let counter = match hetsched::current_class() {
            Some(CoreClass::Performance) => &self.performance,
            Some(CoreClass::Efficiency) => &self.efficiency,
            None => &self.outside,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
    pub fn get(&self) -> (usize, usize, usize) {
        (
            self.performance.load(Ordering::SeqCst),
            self.efficiency.load(Ordering::SeqCst),
            self.outside.load(Ordering::SeqCst),
        )
    }
}

/// Wraps a future and records the worker class of *every* poll, not just the first.
pub struct Tallied<F> {
    inner: Pin<Box<F>>,
    tally: Arc<ClassTally>,
}

pub fn tallied<F: Future>(tally: &Arc<ClassTally>, inner: F) -> Tallied<F> {
    Tallied {
        inner: Box::pin(inner),
        tally: tally.clone(),
    }
}

impl<F: Future> Future for Tallied<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.tally.record();
        self.inner.as_mut().poll(cx)
    }
}

/// Counts drops; clone it into a future to prove the future was dropped exactly once.
#[derive(Clone, Default)]
pub struct DropCounter(pub Arc<AtomicUsize>);

pub struct DropToken(Arc<AtomicUsize>);

impl DropCounter {
    pub fn token(&self) -> DropToken {
        DropToken(self.0.clone())
    }
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Spin on the CPU until `flag` is set (a task that keeps its worker busy).
pub fn spin_until(flag: &std::sync::atomic::AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        std::hint::spin_loop();
    }
}

/// Wait (bounded, 20 s) until `cond` holds; panics naming `what` if it never does. A
/// guard against hangs, not a timing assertion.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
