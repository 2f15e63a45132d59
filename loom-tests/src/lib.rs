//! Loom models of hetsched's concurrency protocols, and the small futures they drive.
//!
//! Everything here is compiled only with `RUSTFLAGS="--cfg loom"`; see `README.md` for the
//! models, the commands, and the planted bugs each model catches. The models build a real
//! [`hetsched::Runtime`] (the real `Builder`, worker loop, idle protocol, queues, registry and
//! task handles); under `cfg(loom)` its worker threads are loom threads and its locks,
//! condvars and protocol atomics are loom's, so loom explores their interleavings.
#![cfg(loom)]

use hetsched::{Builder, CoreClass, Lane, Pin, Runtime, Topology, WorkerRole};
use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::{Arc, Mutex};
use std::future::Future;
use std::pin::Pin as StdPin;
use std::sync::atomic::Ordering::SeqCst;
use std::task::{Context, Poll, Waker};

/// A runtime with `p` performance and `e` efficiency workers: no pinning, no OS hints, so
/// the worker threads make no system calls and are plain loom threads.
pub fn runtime(p: usize, e: usize) -> Runtime {
    // CPU ids only label the classes; nothing is pinned.
    let topology =
        Topology::with_classes("0".parse().expect("cpulist"), "1".parse().expect("cpulist"))
            .expect("a two-class topology");
    build(topology, p, e, Pin::Off)
}

/// [`runtime`], with `configure` applied to its builder (a setting a model runs both ways).
pub fn runtime_with(p: usize, e: usize, configure: impl FnOnce(Builder) -> Builder) -> Runtime {
    let topology =
        Topology::with_classes("0".parse().expect("cpulist"), "1".parse().expect("cpulist"))
            .expect("a two-class topology");
    configure(builder(topology, p, e, Pin::Off))
        .build()
        .expect("runtime")
}

/// A runtime placed as under the default `Pin::Spill` (1 E CPU, so one efficiency slot)
/// with `p` performance and `e` efficiency workers. The topology's CPU ids are unknown,
/// so nothing is pinned; under loom no OS priority is asked for either.
pub fn spill_runtime(p: usize, e: usize) -> Runtime {
    let topology = Topology::from_sysctl_dump(
        "hw.ncpu: 2\nhw.nperflevels: 2\nhw.perflevel0.logicalcpu: 1\nhw.perflevel1.logicalcpu: 1\n",
    )
    .expect("a two-class topology");
    assert_eq!(topology.count(CoreClass::Efficiency), 1);
    build(topology, p, e, Pin::Spill)
}

/// [`runtime`] with `p` performance and `c` critical workers (no efficiency worker):
/// the critical workers' own idle list next to the P workers' one.
pub fn critical_runtime(p: usize, c: usize) -> Runtime {
    let topology =
        Topology::with_classes("0".parse().expect("cpulist"), "1".parse().expect("cpulist"))
            .expect("a two-class topology");
    builder(topology, p, 0, Pin::Off)
        .critical_workers(c)
        .build()
        .expect("runtime")
}

/// The polls of `lane` by workers of `role`, and the times those workers were woken.
pub fn role_counts(rt: &Runtime, role: WorkerRole, lane: Lane) -> (u64, u64) {
    let metrics = rt.metrics();
    metrics
        .workers_with_role(role)
        .fold((0, 0), |(polls, unparks), w| {
            (polls + w.polls_by_lane[lane.index()], unparks + w.unparks)
        })
}

/// A runtime on `topology` with `p` P and `e` E workers placed by `pin`, without OS hints.
fn build(topology: Topology, p: usize, e: usize, pin: Pin) -> Runtime {
    builder(topology, p, e, pin).build().expect("runtime")
}

fn builder(topology: Topology, p: usize, e: usize, pin: Pin) -> Builder {
    Builder::new()
        .topology(topology)
        .workers(CoreClass::Performance, p)
        .workers(CoreClass::Efficiency, e)
        .pin(pin)
        .qos_hints(false)
        .thread_name("loom")
}

/// Run `f` under loom with the preemption bound from `LOOM_MAX_PREEMPTIONS` (default 2,
/// what CI uses), printing how many interleavings were explored.
pub fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    model_bounded(2, f)
}

/// [`model`] for models with four or more threads, whose state space at bound 2 takes
/// many minutes: at most `max_bound` preemptions, even if `LOOM_MAX_PREEMPTIONS` says more.
pub fn model_bounded<F: Fn() + Sync + Send + 'static>(max_bound: usize, f: F) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.unwrap_or(2).min(max_bound));
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = runs.clone();
    builder.check(move || {
        counted.fetch_add(1, SeqCst);
        f();
    });
    eprintln!(
        "loom: {} interleavings explored (preemption bound {:?})",
        runs.load(SeqCst),
        builder.preemption_bound
    );
}

/// A one-shot event a task can wait on: `wait()` is pending until `fire()`. The last
/// registered waker is kept, so `fire` can be called again to wake the task once more
/// (a stale wake: the task may be queued, running or finished by then).
#[derive(Clone, Default)]
pub struct Signal(Arc<Mutex<SignalState>>);

#[derive(Default)]
struct SignalState {
    fired: bool,
    waker: Option<Waker>,
}

impl Signal {
    /// A new, unfired signal.
    pub fn new() -> Signal {
        Signal::default()
    }

    /// Set the signal and wake the waiting task (if it registered yet).
    pub fn fire(&self) {
        let waker = {
            let mut state = self.0.lock().unwrap();
            state.fired = true;
            state.waker.clone()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// True once the waiting task registered its waker (it was polled and is pending).
    pub fn has_waiter(&self) -> bool {
        self.0.lock().unwrap().waker.is_some()
    }

    /// Forget the kept waker (so the task's allocation is not kept alive by the signal).
    pub fn clear(&self) {
        drop(self.0.lock().unwrap().waker.take());
    }

    /// Poll-side check: ready if fired, else registers `cx`'s waker.
    pub fn poll_fired(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.0.lock().unwrap();
        if state.fired {
            Poll::Ready(())
        } else {
            state.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// Counts drops of the values it hands out: each must be dropped exactly once.
#[derive(Clone, Default)]
pub struct DropCount(Arc<AtomicUsize>);

impl DropCount {
    /// A counter at zero.
    pub fn new() -> DropCount {
        DropCount::default()
    }

    /// A token that bumps the counter when dropped.
    pub fn token(&self) -> DropToken {
        DropToken(self.0.clone())
    }

    /// Drops so far.
    pub fn get(&self) -> usize {
        self.0.load(SeqCst)
    }
}

/// Bumps its [`DropCount`] when dropped.
pub struct DropToken(Arc<AtomicUsize>);

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// What a [`Probed`] future saw: polls, concurrent polls, polls after it finished.
#[derive(Clone, Default)]
pub struct Probe {
    in_poll: Arc<AtomicBool>,
    finished: Arc<AtomicBool>,
    polls: Arc<AtomicUsize>,
    drops: DropCount,
}

impl Probe {
    /// A fresh probe.
    pub fn new() -> Probe {
        Probe::default()
    }

    /// Wrap `inner` so that every poll is checked against this probe.
    pub fn wrap<F: Future>(&self, inner: F) -> Probed<F> {
        Probed {
            inner: Box::pin(inner),
            probe: self.clone(),
            _token: self.drops.token(),
        }
    }

    /// Polls so far.
    pub fn polls(&self) -> usize {
        self.polls.load(SeqCst)
    }

    /// Times the wrapped future was dropped (must end at exactly 1).
    pub fn drops(&self) -> usize {
        self.drops.get()
    }
}

/// A future that asserts it is never polled on two threads at once and never polled after
/// it returned `Ready`, and counts its polls and drops.
pub struct Probed<F> {
    inner: StdPin<Box<F>>,
    probe: Probe,
    _token: DropToken,
}

impl<F: Future> Future for Probed<F> {
    type Output = F::Output;

    fn poll(mut self: StdPin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let probe = &this.probe;
        assert!(
            !probe.in_poll.swap(true, SeqCst),
            "task polled on two threads at once"
        );
        assert!(
            !probe.finished.load(SeqCst),
            "task polled after it returned Ready"
        );
        probe.polls.fetch_add(1, SeqCst);
        let result = this.inner.as_mut().poll(cx);
        if result.is_ready() {
            probe.finished.store(true, SeqCst);
        }
        probe.in_poll.store(false, SeqCst);
        result
    }
}

/// A future that waits for `signal`, then returns `output`.
pub async fn after<T>(signal: Signal, output: T) -> T {
    std::future::poll_fn(|cx| signal.poll_fired(cx)).await;
    output
}

/// Spin (loom-politely) until `done()`.
pub fn spin_until(mut done: impl FnMut() -> bool) {
    while !done() {
        loom::thread::yield_now();
    }
}
