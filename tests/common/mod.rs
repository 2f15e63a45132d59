//! Helpers shared by the runtime integration tests.
#![allow(dead_code)]

use hetsched::sys::HintOutcome;
use hetsched::{Builder, CoreClass, CpuSet, Runtime, Topology};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// The CPUs this process may run on, ascending, as the runtime sees them
/// (`Topology::detect().allowed()`: online CPUs in the affinity mask). Every CPU a test
/// pins to comes from here, so the suite means the same under `taskset -c N cargo test` or
/// in a container with a narrow mask as on the whole machine. Where CPU ids are unknown
/// (macOS: pinning is unsupported there anyway), `0..available_parallelism` stand in.
pub fn allowed_cpus() -> Vec<usize> {
    let t = Topology::detect();
    if t.cpu_ids_known() && !t.allowed().is_empty() {
        return t.allowed().iter().collect();
    }
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    (0..n).collect()
}

/// The machine as the tests declare it, on CPUs this process may use: P = the first
/// allowed CPU, E = the second (CPUs 0 and 1 on an unrestricted box). With one allowed
/// CPU (`taskset -c N`) the E set is empty: efficiency workers, which the tests then ask
/// for with `workers(..)` (see [`two_class_builder`]), run unpinned on that CPU and
/// report `Unsupported`, the documented fallback for efficiency workers without
/// efficiency CPUs. Which worker class polls which lane is the same either way.
pub fn two_class_topology() -> Topology {
    let allowed = allowed_cpus();
    let p = CpuSet::from_iter(allowed.iter().copied().take(1));
    let e = CpuSet::from_iter(allowed.iter().copied().skip(1).take(1));
    Topology::with_classes(p, e).unwrap()
}

/// A builder on [`two_class_topology`] with one worker per class, whatever the mask
/// (the default counts, one per CPU of each class, would start no efficiency worker
/// on one allowed CPU).
pub fn two_class_builder() -> Builder {
    Builder::new()
        .topology(two_class_topology())
        .workers(CoreClass::Performance, 1)
        .workers(CoreClass::Efficiency, 1)
}

/// One class of `n` alike CPUs, the first `n` allowed ones (fewer when fewer are
/// allowed): `Topology::uniform(n)` on the CPUs this process has.
pub fn homogeneous_topology(n: usize) -> Topology {
    let p = CpuSet::from_iter(allowed_cpus().into_iter().take(n.max(1)));
    Topology::with_classes(p, CpuSet::new()).unwrap()
}

/// What a pinned worker of `class` reports on `topology` (Linux, `Pin::Class` or
/// `Pin::Core`, CPUs from [`allowed_cpus`]): `Applied` when the class has CPUs,
/// `Unsupported` when it has none to pin to.
pub fn expected_pin(topology: &Topology, class: CoreClass) -> HintOutcome {
    if topology.cpus(class).is_empty() {
        HintOutcome::Unsupported
    } else {
        HintOutcome::Applied
    }
}

/// CPU ids below 1024 (they fit a `cpu_set_t`, so a pin request reaches the kernel) that
/// are neither online nor in this process's mask: the kernel refuses a pin to only
/// these with EINVAL under any mask (a CPU merely outside a `taskset` mask is accepted).
pub fn absent_cpus(n: usize) -> Vec<usize> {
    let online = Topology::from_sysfs("/").map_or_else(|_| CpuSet::new(), |t| t.allowed().clone());
    let allowed = allowed_cpus();
    let absent: Vec<usize> = (0..1024)
        .filter(|&c| !online.contains(c) && !allowed.contains(&c))
        .take(n)
        .collect();
    assert_eq!(
        absent.len(),
        n,
        "fewer than {n} CPU ids below 1024 are offline"
    );
    absent
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

/// A runtime with a single performance worker on a one-CPU homogeneous topology: every
/// task runs on that one worker, so the order of its polls is the policy's order.
pub fn one_worker_runtime() -> Runtime {
    Builder::new()
        .topology(homogeneous_topology(1))
        .workers(CoreClass::Performance, 1)
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

/// Sets its flag when dropped: a task spinning on the flag is released however the test
/// ends, so a failing assertion fails the test instead of leaving a worker spinning and the
/// runtime's drop (which waits for its workers) hanging. Declare it after the runtime, so
/// that it is dropped first.
pub struct ReleaseOnDrop(pub std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Spin on the CPU until `flag` is set (a task that keeps its worker busy). Pair the flag
/// with a [`ReleaseOnDrop`].
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

/// Every worker's metrics once all of them have started and recorded their OS placement
/// outcome (workers record it as they start; an idle one may lag its first poll).
pub fn started_workers(rt: &Runtime) -> Vec<hetsched::WorkerMetrics> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let m = rt.metrics();
        if m.workers.iter().all(|w| w.hints.is_some()) {
            return m.workers;
        }
        assert!(std::time::Instant::now() < deadline, "hints never recorded");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Records the name of the thread that wakes the wrapped future's task.
pub struct Recording<F> {
    inner: Pin<Box<F>>,
    woken_on: Arc<Mutex<Vec<String>>>,
    /// The recording waker handed to `inner`, kept while the task's own waker stays the
    /// same: a new one at every poll would make a reactor wake the one it replaces, from
    /// the polling thread (a worker), which is not a readiness wake.
    waker: Option<(Waker, Waker)>,
}

struct RecordingWaker {
    inner: Waker,
    woken_on: Arc<Mutex<Vec<String>>>,
}

impl Wake for RecordingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        self.woken_on.lock().unwrap().push(name);
        self.inner.wake_by_ref();
    }
}

impl<F> Recording<F> {
    /// Wrap `inner`; the wakers' thread names go to `woken_on`.
    pub fn new(inner: F, woken_on: &Arc<Mutex<Vec<String>>>) -> Recording<F> {
        Recording {
            inner: Box::pin(inner),
            woken_on: woken_on.clone(),
            waker: None,
        }
    }
}

impl<F: Future> Future for Recording<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let reuse = matches!(&this.waker, Some((task, _)) if task.will_wake(cx.waker()));
        if !reuse {
            let recording = Waker::from(Arc::new(RecordingWaker {
                inner: cx.waker().clone(),
                woken_on: this.woken_on.clone(),
            }));
            this.waker = Some((cx.waker().clone(), recording));
        }
        let recording = this.waker.as_ref().map(|(_, w)| w.clone()).unwrap();
        this.inner
            .as_mut()
            .poll(&mut Context::from_waker(&recording))
    }
}

/// The names of the threads that woke a socket reader over `rounds` one-byte messages, each
/// sent 3 ms after the last (time for the runtime to fall asleep). `reader` gets the
/// listening socket and the list to record into, accepts one connection and reads `rounds`
/// bytes, each read wrapped in a [`Recording`]; it runs as an Interactive task on `rt`.
pub fn wakers_of_socket_reads<R, F>(rt: &Runtime, rounds: usize, reader: R) -> Vec<String>
where
    R: FnOnce(std::net::TcpListener, Arc<Mutex<Vec<String>>>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let woken_on = Arc::new(Mutex::new(Vec::new()));
    let reader = rt.spawn_with(
        hetsched::Qos::Interactive,
        reader(listener, woken_on.clone()),
    );
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    for _ in 0..rounds {
        std::thread::sleep(std::time::Duration::from_millis(3));
        client.write_all(b"x").unwrap();
    }
    rt.block_on(reader).unwrap();
    let names = woken_on.lock().unwrap().clone();
    names
}
