//! Hostile user code: futures whose `Drop` panics, worker hooks that panic, runtimes
//! dropped and shut down under load, from inside their own tasks, and `block_on` on a
//! worker while the runtime is busy.
//!
//! A fault here can abort the process or hang it, and either would take the whole test
//! binary down with it. So each scenario that can do that runs in a child process (this
//! same test binary, re-run with `--exact <name>` and `HETSCHED_TEST_CHILD=<name>`),
//! and the parent checks how the child ended, within a bound.

mod common;

use common::{spin_until, DropCounter};
use hetsched::{Builder, CoreClass, Qos, Runtime};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "HETSCHED_TEST_CHILD";

/// Bound for a child scenario; generous, the box is shared and slow.
const CHILD_BOUND: Duration = Duration::from_secs(20);

/// How a child scenario ended.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// Exited with this code (0: the scenario passed).
    Exited(i32),
    /// Killed by this signal (6 = SIGABRT: the process aborted).
    Signal(i32),
    /// Still running after the bound: a hang. The child was killed.
    Hung,
}

/// In the child: true, and the caller runs the scenario. In the parent: runs this test
/// again in a child process and returns how it ended (with its stderr).
fn in_child(name: &str) -> Result<(), (Ending, String)> {
    if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
        return Ok(());
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("re-run the test binary");
    let deadline = Instant::now() + CHILD_BOUND;
    let ending = loop {
        if let Some(status) = child.try_wait().unwrap() {
            use std::os::unix::process::ExitStatusExt;
            break match (status.code(), status.signal()) {
                (Some(code), _) => Ending::Exited(code),
                (None, Some(sig)) => Ending::Signal(sig),
                (None, None) => Ending::Exited(-1),
            };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break Ending::Hung;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    Err((ending, stderr))
}

/// Runs `scenario` in a child process; the test passes only if the child passes.
macro_rules! child_scenario {
    ($name:ident, $body:block) => {
        #[test]
        fn $name() {
            match in_child(stringify!($name)) {
                Ok(()) => $body,
                Err((Ending::Exited(0), _)) => {}
                Err((ending, stderr)) => panic!(
                    "{} ended with {ending:?} (Signal(6) = the process aborted, Hung = a \
                     deadlock); child stderr:\n{}",
                    stringify!($name),
                    stderr.lines().take(40).collect::<Vec<_>>().join("\n")
                ),
            }
        }
    };
}

/// A value whose destructor panics (unless the thread is already unwinding).
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

fn small_runtime() -> Runtime {
    common::runtime(1, 1)
}

// BUG (reported): async-task drops a task's future inside `abort_on_panic`, so a future
// whose destructor panics aborts the whole process — when the task is aborted, when the
// runtime drops it at shutdown, and when it completes. The runtime's own comment
// (worker.rs `poll`: "this catches a panic from dropping a future, so that the worker
// lives on") does not hold. Expected: the panic is caught; the JoinHandle gives a
// JoinError (or, at shutdown, the panic is swallowed) and the process lives on.

child_scenario!(
    aborting_a_task_whose_future_panics_on_drop_does_not_abort_the_process,
    {
        let rt = small_runtime();
        let task = rt.spawn(async {
            let _bomb = PanicOnDrop("drop of an aborted future");
            std::future::pending::<()>().await;
        });
        std::thread::sleep(Duration::from_millis(50));
        task.abort();
        let err = rt.block_on(task).unwrap_err();
        assert!(err.is_cancelled() || err.is_panic(), "{err:?}");
        // The worker lives on.
        assert_eq!(rt.block_on(rt.spawn(async { 7 })).unwrap(), 7);
    }
);

child_scenario!(
    shutdown_dropping_a_future_that_panics_on_drop_does_not_abort_or_hang,
    {
        let rt = small_runtime();
        let (_tx, rx) = futures::channel::oneshot::channel::<()>();
        let task = rt.spawn(async move {
            let _bomb = PanicOnDrop("drop at shutdown");
            let _ = rx.await;
        });
        std::thread::sleep(Duration::from_millis(50));
        drop(rt);
        assert!(futures::executor::block_on(task)
            .unwrap_err()
            .is_cancelled());
    }
);

/// A future with a hand-written `Drop` that panics, finishing normally.
struct ReadyThenPanicOnDrop(#[allow(dead_code)] PanicOnDrop); // held only to be dropped

impl std::future::Future for ReadyThenPanicOnDrop {
    type Output = u32;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<u32> {
        std::task::Poll::Ready(5)
    }
}

child_scenario!(
    a_completed_future_that_panics_on_drop_does_not_abort_the_process,
    {
        let rt = small_runtime();
        let task = rt.spawn(ReadyThenPanicOnDrop(PanicOnDrop("drop after completion")));
        // Either the output or a panic JoinError is fine; aborting the process is not.
        let _ = rt.block_on(task);
        assert_eq!(rt.block_on(rt.spawn(async { 7 })).unwrap(), 7);
    }
);

/// A value whose destructor records that it ran, then panics.
struct FlagThenPanicOnDrop(Arc<AtomicBool>);

impl Drop for FlagThenPanicOnDrop {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
        if !std::thread::panicking() {
            panic!("drop of a task's output");
        }
    }
}

// BUG (issue 16, item 2): once the JoinHandle is gone, async-task drops a finished task's
// output itself, inside `abort_on_panic`: an output whose `Drop` panics aborted the
// process. Expected: the panic is swallowed like a future's destructor panic, and the
// runtime runs on.
child_scenario!(
    a_detached_task_whose_output_panics_on_drop_does_not_abort_the_process,
    {
        let rt = small_runtime();
        for qos in [Qos::Interactive, Qos::Background] {
            // Detached before it finishes: async-task drops the output on the worker.
            let dropped = Arc::new(AtomicBool::new(false));
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            let output = FlagThenPanicOnDrop(dropped.clone());
            drop(rt.spawn_with(qos, async move {
                let _ = rx.await;
                output
            }));
            tx.send(()).unwrap();
            common::wait_until("the detached task's output is dropped", || {
                dropped.load(SeqCst)
            });
        }
        // The same from the blocking pool.
        let dropped = Arc::new(AtomicBool::new(false));
        let gate = Arc::new(std::sync::Barrier::new(2));
        let output = FlagThenPanicOnDrop(dropped.clone());
        let job_gate = gate.clone();
        drop(rt.spawn_blocking(move || {
            job_gate.wait();
            output
        }));
        gate.wait();
        common::wait_until("the detached blocking job's output is dropped", || {
            dropped.load(SeqCst)
        });
        // Detached after it finished: the output is dropped by `JoinHandle::drop`, here.
        let dropped = Arc::new(AtomicBool::new(false));
        let output = FlagThenPanicOnDrop(dropped.clone());
        let task = rt.spawn(async move { output });
        common::wait_until("the task finishes", || task.is_finished());
        drop(task);
        assert!(dropped.load(SeqCst));
        // Every worker lives on.
        for qos in [Qos::Interactive, Qos::Background] {
            assert_eq!(rt.block_on(rt.spawn_with(qos, async { 7 })).unwrap(), 7);
        }
    }
);

// BUG (issue 16, item 2): the same for a detached task that panics with a payload whose
// `Drop` panics: the `JoinError` holding it is the output async-task drops.
child_scenario!(
    a_detached_task_whose_panic_payload_panics_on_drop_does_not_abort_the_process,
    {
        let rt = small_runtime();
        for qos in [Qos::Interactive, Qos::Background] {
            let dropped = Arc::new(AtomicBool::new(false));
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            let payload = FlagThenPanicOnDrop(dropped.clone());
            drop(rt.spawn_with(qos, async move {
                let _ = rx.await;
                std::panic::panic_any(payload);
            }));
            tx.send(()).unwrap();
            common::wait_until("the detached task's panic payload is dropped", || {
                dropped.load(SeqCst)
            });
        }
        // A payload like that, awaited: the caller gets it in the JoinError.
        let dropped = Arc::new(AtomicBool::new(false));
        let payload = FlagThenPanicOnDrop(dropped.clone());
        let err = rt
            .block_on(rt.spawn(async move { std::panic::panic_any(payload) }))
            .unwrap_err();
        assert!(err.is_panic());
        assert!(!dropped.load(SeqCst));
        // Dropping it is the caller's business (here it panics on this thread).
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(err)));
        assert!(dropped.load(SeqCst));
        for qos in [Qos::Interactive, Qos::Background] {
            assert_eq!(rt.block_on(rt.spawn_with(qos, async { 7 })).unwrap(), 7);
        }
    }
);

// BUG (reported): a panicking `on_thread_start` hook kills the worker thread before it
// reaches `worker_main`, so the worker never calls `Shared::worker_exited`: the runtime is
// built "successfully" with a dead worker, and dropping it waits forever in
// `Shared::wait_for_workers(None)`. Expected: `build` returns an error, or the panic is
// caught and reported; in no case a hang.
child_scenario!(
    a_panicking_start_hook_is_an_error_or_survivable_never_a_hang,
    {
        let built = Builder::new()
            .topology(common::two_class_topology())
            .workers(CoreClass::Performance, 1)
            .workers(CoreClass::Efficiency, 1)
            .on_thread_start(|| panic!("start hook failed"))
            .build();
        if let Ok(rt) = built {
            drop(rt);
        }
    }
);

/// A panicking `on_thread_stop` hook runs after the worker has checked out: shutdown
/// still completes (the thread's panic is ignored by the join).
#[test]
fn a_panicking_stop_hook_does_not_block_shutdown() {
    match in_child("a_panicking_stop_hook_does_not_block_shutdown") {
        Ok(()) => {
            let rt = common::two_class_builder()
                .on_thread_stop(|| panic!("stop hook failed"))
                .build()
                .unwrap();
            assert_eq!(rt.block_on(rt.spawn(async { 1 })).unwrap(), 1);
            drop(rt);
        }
        Err((Ending::Exited(0), _)) => {}
        Err((ending, stderr)) => panic!("{ending:?}\n{stderr}"),
    }
}

/// Shutdown under load: foreign threads keep spawning and waking while the runtime is
/// dropped. Nothing hangs, every spawned future is dropped exactly once, and every handle
/// resolves (output or cancelled).
#[test]
fn shutdown_under_load_from_foreign_threads_loses_nothing() {
    for round in 0..if cfg!(miri) { 1 } else { 20 } {
        let rt = common::runtime(2, 2);
        let handle = rt.handle();
        let drops = DropCounter::default();
        let spawned = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handles = Arc::new(Mutex::new(Vec::new()));
        let spawners: Vec<_> = (0..3)
            .map(|t| {
                let (handle, drops, spawned, stop, handles) = (
                    handle.clone(),
                    drops.clone(),
                    spawned.clone(),
                    stop.clone(),
                    handles.clone(),
                );
                std::thread::spawn(move || {
                    let mut i = 0usize;
                    while !stop.load(SeqCst) {
                        let token = drops.token();
                        let qos = Qos::ALL[(i + t) % 5];
                        spawned.fetch_add(1, SeqCst);
                        let h = handle.spawn_with(qos, async move {
                            let _token = token;
                            // A small subtree, yields, and a wake from this thread.
                            for _ in 0..i % 3 {
                                hetsched::yield_now().await;
                            }
                            i
                        });
                        if i % 4 == 0 {
                            h.abort();
                        }
                        if i % 2 == 0 {
                            handles.lock().unwrap().push((i, h));
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        // Let the load build up (not a timing assertion: any amount of load is fine).
        while spawned.load(SeqCst) < 2000 {
            std::thread::yield_now();
        }
        drop(rt); // waits for the workers; foreign threads are still spawning
        stop.store(true, SeqCst);
        for s in spawners {
            s.join().unwrap();
        }
        let total = spawned.load(SeqCst);
        assert_eq!(
            drops.get(),
            total,
            "round {round}: every future dropped once"
        );
        for (i, h) in handles.lock().unwrap().drain(..) {
            match futures::executor::block_on(h) {
                Ok(v) => assert_eq!(v, i),
                Err(e) => assert!(e.is_cancelled(), "{e:?}"),
            }
        }
    }
}

/// The runtime dropped from inside one of its own tasks while other tasks keep every
/// worker busy and more are queued: the drop returns at once (documented), the workers
/// exit after their current poll, and every future is dropped exactly once.
#[test]
fn dropping_the_runtime_from_its_own_task_under_load_drops_everything_once() {
    let rt = common::runtime(2, 2);
    let handle = rt.handle();
    let drops = DropCounter::default();
    let slot = Arc::new(Mutex::new(Some(rt)));
    let mut spawned = 0;
    let release = Arc::new(AtomicBool::new(false));
    let _release = common::ReleaseOnDrop(release.clone());
    let mut handles = Vec::new();
    for i in 0..2000usize {
        let token = drops.token();
        let release = release.clone();
        spawned += 1;
        handles.push(handle.spawn_with(Qos::ALL[i % 5], async move {
            let _token = token;
            if i % 100 == 0 {
                spin_until(&release); // keeps a worker busy
            }
            for _ in 0..i % 4 {
                hetsched::yield_now().await;
            }
        }));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let token = drops.token();
    spawned += 1;
    let dropper = {
        let slot = slot.clone();
        handle.spawn_with(Qos::Utility, async move {
            let _token = token;
            let rt = slot.lock().unwrap().take();
            drop(rt);
            tx.send(()).unwrap();
        })
    };
    rx.recv_timeout(Duration::from_secs(30))
        .expect("dropping the runtime from its own task returned");
    release.store(true, SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    while drops.get() < spawned {
        assert!(
            Instant::now() < deadline,
            "only {} of {spawned} futures dropped",
            drops.get()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(drops.get(), spawned);
    for h in handles.into_iter().chain([dropper]) {
        let outcome = futures::executor::block_on(h);
        assert!(
            outcome.is_ok() || outcome.as_ref().unwrap_err().is_cancelled(),
            "{outcome:?}"
        );
    }
}

/// `block_on` on a worker thread while the runtime is loaded: every such call panics with
/// the documented message, becomes that task's JoinError, and the other tasks finish.
#[test]
fn block_on_on_busy_workers_panics_in_each_task_and_the_rest_finish() {
    let rt = common::runtime(2, 2);
    let handle = rt.handle();
    let done = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..400usize)
        .map(|i| {
            let (handle, done) = (handle.clone(), done.clone());
            rt.spawn_with(Qos::ALL[i % 5], async move {
                if i % 10 == 0 {
                    handle.block_on(async { 1 });
                }
                hetsched::yield_now().await;
                done.fetch_add(1, SeqCst);
            })
        })
        .collect();
    let mut panics = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        match rt.block_on(t) {
            Ok(()) => assert_ne!(i % 10, 0),
            Err(e) => {
                assert!(e.is_panic() && i % 10 == 0, "{i}: {e:?}");
                assert!(e
                    .to_string()
                    .contains("block_on called on a runtime worker"));
                panics += 1;
            }
        }
    }
    assert_eq!(panics, 40);
    assert_eq!(done.load(SeqCst), 360);
}

/// Two idle tasks sharing a lock: A's drop takes the lock and, holding it, wakes B; B's
/// drop takes the same lock (what h2 does: its stream refs wake the connection task under
/// the streams lock, and the connection's drop takes it). Shutdown drops both: B, woken
/// inside A's drop, must be dropped later, not inside that wake (a same-thread deadlock).
struct LockedPair {
    lock: Mutex<()>,
    waker_of_b: Mutex<Option<std::task::Waker>>,
    drops: DropCounter,
}

/// The tokens count the drops (each future holds one).
struct TaskA(Arc<LockedPair>, #[allow(dead_code)] common::DropToken);
struct TaskB(Arc<LockedPair>, #[allow(dead_code)] common::DropToken);

impl std::future::Future for TaskA {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Pending
    }
}

impl std::future::Future for TaskB {
    type Output = ();
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        *self.0.waker_of_b.lock().unwrap() = Some(cx.waker().clone());
        std::task::Poll::Pending
    }
}

impl Drop for TaskA {
    fn drop(&mut self) {
        let _held = self.0.lock.lock().unwrap();
        if let Some(waker) = self.0.waker_of_b.lock().unwrap().take() {
            waker.wake();
        }
    }
}

impl Drop for TaskB {
    fn drop(&mut self) {
        drop(self.0.lock.lock().unwrap());
    }
}

child_scenario!(
    a_future_whose_drop_wakes_another_under_a_lock_does_not_deadlock_shutdown,
    {
        for _ in 0..50 {
            let rt = common::two_class_builder().build().unwrap();
            let pair = Arc::new(LockedPair {
                lock: Mutex::new(()),
                waker_of_b: Mutex::new(None),
                drops: DropCounter::default(),
            });
            drop(rt.spawn(TaskB(pair.clone(), pair.drops.token())));
            common::wait_until("B registered its waker", || {
                pair.waker_of_b.lock().unwrap().is_some()
            });
            drop(rt.spawn(TaskA(pair.clone(), pair.drops.token())));
            drop(rt);
            assert_eq!(pair.drops.get(), 2, "both futures dropped exactly once");
        }
    }
);
