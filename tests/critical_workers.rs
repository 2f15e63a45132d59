//! Critical workers and Qos escalation: one test per rule (README, "Lanes"; DESIGN.md,
//! invariants 10 and 11). On the declared two-class topology with one P and one E worker
//! (`common::two_class_builder`), so "every ordinary worker is busy" is two spinning tasks.

mod common;
#[cfg(target_os = "linux")]
#[path = "../benches/workloads/mod.rs"]
mod workloads;

use common::{spin_until, two_class_builder, wait_until, ReleaseOnDrop};
use futures::channel::oneshot;
use hetsched::runtime::CRITICAL_POLL_LIMIT;
use hetsched::sys::HintOutcome;
use hetsched::{CoreClass, JoinHandle, Lane, Qos, Runtime, WorkerMetrics, WorkerRole};
use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

/// Is this poll running on a critical worker (threads `{prefix}-c-N`)?
fn on_critical_worker() -> bool {
    std::thread::current()
        .name()
        .is_some_and(|name| name.contains("-c-"))
}

fn critical_workers(rt: &Runtime) -> Vec<WorkerMetrics> {
    rt.metrics()
        .workers_with_role(WorkerRole::Critical)
        .cloned()
        .collect()
}

fn lane_polls(rt: &Runtime, lane: Lane) -> u64 {
    rt.metrics()
        .workers
        .iter()
        .map(|w| w.polls_by_lane[lane.index()])
        .sum()
}

/// Poll `handle` once from the current task (what the first `.await` of it does).
async fn poll_once<T>(handle: &mut JoinHandle<T>) -> bool {
    poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *handle).poll(cx).is_ready())).await
}

/// Occupy the one P and the one E worker with a spinning Default task each, and return
/// once both spin: from then on only a critical worker can start new Critical work. The
/// guard releases them (declare it after the runtime).
fn occupy_ordinary_workers(rt: &Runtime) -> ReleaseOnDrop {
    let release = Arc::new(AtomicBool::new(false));
    let spinning = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let (release, spinning) = (release.clone(), spinning.clone());
        drop(rt.spawn_with(Qos::Default, async move {
            spinning.fetch_add(1, SeqCst);
            spin_until(&release);
        }));
    }
    wait_until("both ordinary workers spin", || spinning.load(SeqCst) == 2);
    ReleaseOnDrop(release)
}

/// Rule: a critical worker goes to sleep as soon as it runs out of work, however long the
/// runtime's `idle_spin` (it is there for rare critical work; a spin would cost CPU after
/// each critical task for nothing). The ordinary workers here would look a whole second;
/// the critical worker's CPU time over five critical tasks stays far below one such look
/// (CPU time, not wall time: a loaded machine delays a thread, it does not make it spin).
#[cfg(target_os = "linux")]
#[test]
fn a_critical_worker_sleeps_at_once_when_out_of_work() {
    let rt = two_class_builder()
        .thread_name("spincrit")
        .critical_workers(1)
        .idle_spin(hetsched::runtime::MAX_IDLE_SPIN)
        .build()
        .unwrap();
    let parks = |rt: &Runtime| critical_workers(rt)[0].parks;
    wait_until("the critical worker sleeps", || parks(&rt) >= 1);
    for _ in 0..5 {
        let before = parks(&rt);
        assert!(rt
            .block_on(rt.spawn_with(Qos::Interactive, async { on_critical_worker() }))
            .is_ok());
        wait_until("the critical worker sleeps again", || parks(&rt) > before);
    }
    let critical: Duration = workloads::latency::thread_cpu_times("spincrit-c-")
        .iter()
        .map(|(_, t)| *t)
        .sum();
    assert!(
        critical < Duration::from_millis(100),
        "the critical worker used {critical:?} of CPU over five critical tasks"
    );
}

/// Rule: critical workers poll only the Critical lane, whatever mix of work, wakes and
/// yields the runtime sees.
#[test]
fn critical_workers_never_poll_another_lane() {
    let rt = two_class_builder().critical_workers(2).build().unwrap();
    let wrong = Arc::new(Mutex::new(Vec::new()));
    let mut senders = Vec::new();
    let mut handles = Vec::new();
    for i in 0..1_000 {
        let qos = Qos::ALL[i % Qos::ALL.len()];
        let (tx, rx) = oneshot::channel::<()>();
        senders.push(tx);
        let wrong = wrong.clone();
        handles.push(rt.spawn_with(qos, async move {
            let check = |wrong: &Mutex<Vec<Qos>>| {
                let lane = Lane::of(hetsched::current_qos().unwrap());
                if on_critical_worker() && lane != Lane::Critical {
                    wrong.lock().unwrap().push(qos);
                }
            };
            check(&wrong);
            hetsched::yield_now().await;
            check(&wrong);
            // A child of the same Qos, awaited (no escalation: equal Qos).
            hetsched::spawn(async {}).await.unwrap();
            check(&wrong);
            rx.await.unwrap(); // woken from a foreign thread
            check(&wrong);
        }));
    }
    std::thread::spawn(move || senders.into_iter().for_each(|tx| tx.send(()).unwrap()))
        .join()
        .unwrap();
    for handle in handles {
        rt.block_on(handle).unwrap();
    }
    assert!(wrong.lock().unwrap().is_empty(), "{:?}", wrong.lock());
    for worker in critical_workers(&rt) {
        assert_eq!(
            worker.polls(),
            worker.polls_by_lane[Lane::Critical.index()],
            "{worker:?}"
        );
        assert_eq!(worker.class, CoreClass::Performance);
    }
}

/// Rule: with critical workers present, a Critical task becomes runnable on one of them
/// first: spawned or woken while every ordinary worker is busy, it starts there.
#[test]
fn critical_work_starts_on_a_critical_worker_while_every_other_worker_is_busy() {
    let rt = two_class_builder().critical_workers(1).build().unwrap();
    let _busy = occupy_ordinary_workers(&rt);
    let (tx, rx) = oneshot::channel::<()>();
    let handle = rt.spawn_with(Qos::Interactive, async move {
        let spawned_on = std::thread::current().name().map(str::to_owned);
        rx.await.unwrap();
        let woken_on = std::thread::current().name().map(str::to_owned);
        (spawned_on, woken_on, hetsched::current_class())
    });
    wait_until("the first poll", || critical_workers(&rt)[0].polls() >= 1);
    std::thread::spawn(move || tx.send(()).unwrap())
        .join()
        .unwrap();
    let (spawned_on, woken_on, class) = rt.block_on(handle).unwrap();
    assert_eq!(spawned_on.as_deref(), Some("hetsched-c-0"));
    assert_eq!(woken_on.as_deref(), Some("hetsched-c-0"));
    assert_eq!(class, Some(CoreClass::Performance));
    assert_eq!(
        critical_workers(&rt)[0].polls_by_lane[Lane::Critical.index()],
        2
    );
}

/// Rule: Default, Utility and Background work never wakes a critical worker (its own idle
/// list), however it is spawned or woken.
#[test]
fn other_lanes_never_wake_a_critical_worker() {
    let rt = two_class_builder().critical_workers(1).build().unwrap();
    wait_until("the critical worker sleeps", || {
        critical_workers(&rt)[0].parks >= 1
    });
    let before = critical_workers(&rt)[0].clone();
    let mut handles = Vec::new();
    let mut senders = Vec::new();
    for i in 0..600 {
        let qos = [Qos::Default, Qos::Utility, Qos::Background][i % 3];
        let (tx, rx) = oneshot::channel::<()>();
        senders.push(tx);
        handles.push(rt.spawn_with(qos, async move {
            hetsched::yield_now().await;
            hetsched::spawn(async { hetsched::yield_now().await })
                .await
                .unwrap();
            rx.await.unwrap();
        }));
    }
    std::thread::spawn(move || senders.into_iter().for_each(|tx| tx.send(()).unwrap()))
        .join()
        .unwrap();
    for handle in handles {
        rt.block_on(handle).unwrap();
    }
    let after = critical_workers(&rt)[0].clone();
    assert_eq!(after.unparks, before.unparks, "{after:?}");
    assert_eq!(after.polls(), 0, "{after:?}");
}

/// Rule: a Critical poll on a critical worker longer than CRITICAL_POLL_LIMIT demotes the
/// task to the Default lane: its next polls run on an ordinary worker, its Qos is kept,
/// the demotion is counted. Short polls are never demoted.
#[test]
fn a_critical_task_that_hogs_a_critical_worker_is_demoted() {
    let rt = two_class_builder().critical_workers(1).build().unwrap();
    let busy = occupy_ordinary_workers(&rt);
    let hogged = Arc::new(AtomicBool::new(false));
    let flag = hogged.clone();
    let hog = rt.spawn_with(Qos::Interactive, async move {
        let first = on_critical_worker();
        let start = Instant::now();
        // Wall time well past the limit, so that the thread's CPU time (what the rule
        // measures) passes it even if the OS shares the CPU with other tests' spinners.
        while start.elapsed() < 20 * CRITICAL_POLL_LIMIT {
            std::hint::spin_loop();
        }
        flag.store(true, SeqCst);
        hetsched::yield_now().await;
        let second = on_critical_worker();
        hetsched::yield_now().await;
        (first, second, on_critical_worker(), hetsched::current_qos())
    });
    wait_until("the hog ran its long poll", || hogged.load(SeqCst));
    drop(busy); // the ordinary workers take the demoted task
    let (first, second, third, qos) = rt.block_on(hog).unwrap();
    assert!(first, "the hog's first poll ran on the critical worker");
    assert!(
        !second && !third,
        "demoted: later polls run on ordinary workers"
    );
    assert_eq!(qos, Some(Qos::Interactive), "demotion keeps the task's Qos");
    assert_eq!(rt.metrics().demotions(), 1);

    // Many short polls: never demoted.
    let _busy = occupy_ordinary_workers(&rt);
    let quick = rt.spawn_with(Qos::UserInitiated, async {
        let mut on_critical = 0;
        for _ in 0..200 {
            on_critical += usize::from(on_critical_worker());
            hetsched::yield_now().await;
        }
        on_critical
    });
    assert_eq!(rt.block_on(quick).unwrap(), 200);
    assert_eq!(rt.metrics().demotions(), 1);
}

/// Rule: awaiting a JoinHandle raises the awaited task to the waiter's Qos, never lowers
/// it; `JoinHandle::qos` reports the effective Qos; the metrics count each raise. Awaiting
/// from outside a task (`block_on`) raises nothing.
#[test]
fn escalation_raises_and_never_lowers() {
    let rt = two_class_builder().build().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let child = rt.spawn_with(Qos::Background, async move {
        rx.await.unwrap();
        // Read in a poll that surely began after the raise: the poll that saw `rx` ready
        // may have begun before it (its worker preempted between the poll's start and its
        // look at `rx`, under a loaded CI), and a raise applies from the next poll on.
        hetsched::yield_now().await;
        hetsched::current_qos()
    });
    assert_eq!(child.qos(), Qos::Background);
    // An Interactive task polls the handle once: the child is raised.
    let (child, qos_after) = rt
        .block_on(rt.spawn_with(Qos::Interactive, async move {
            let mut child = child;
            assert!(!poll_once(&mut child).await);
            let qos = child.qos();
            (child, qos)
        }))
        .unwrap();
    assert_eq!(qos_after, Qos::Interactive);
    assert_eq!(rt.metrics().escalations(), 1);
    // A Utility waiter does not lower it.
    let polled = Arc::new(AtomicBool::new(false));
    let polled_by_waiter = polled.clone();
    let waiter = rt.spawn_with(Qos::Utility, async move {
        let mut child = child;
        assert!(!poll_once(&mut child).await);
        polled_by_waiter.store(true, SeqCst);
        let seen = child.qos();
        (seen, child.await.unwrap())
    });
    // Not the lane's poll counter: it counts a poll as it starts, before the handle is.
    wait_until("the Utility waiter polled the handle", || {
        polled.load(SeqCst)
    });
    tx.send(()).unwrap();
    assert_eq!(waiter.qos(), Qos::Utility);
    let (seen_by_waiter, child_ran_at) = rt.block_on(waiter).unwrap();
    assert_eq!(seen_by_waiter, Qos::Interactive);
    assert_eq!(
        child_ran_at,
        Some(Qos::Interactive),
        "raised from its next poll on"
    );
    assert_eq!(
        rt.metrics().escalations(),
        1,
        "no raise from Utility or block_on"
    );
}

/// Where the escalated task is queued when its waiter raises it.
#[derive(Clone, Copy, Debug)]
enum QueuedIn {
    /// The Background injector (spawned from outside the runtime).
    Injector,
    /// The E worker's own Background queue (spawned by a task on that worker).
    EfficiencyWorkerQueue,
}

/// Rule: a task queued in a lower lane when it is escalated is polled by a worker allowed
/// to run its new lane, not left behind the lane it was queued in: with the E worker busy
/// for as long as the test runs, an escalated Background task still completes, on the P
/// worker, at its new Qos.
#[test]
fn an_escalated_queued_task_is_polled_by_a_worker_of_its_new_lane() {
    for queued_in in [QueuedIn::Injector, QueuedIn::EfficiencyWorkerQueue] {
        let rt = two_class_builder().build().unwrap();
        let release = Arc::new(AtomicBool::new(false));
        let _release = ReleaseOnDrop(release.clone());
        let (handle_tx, handle_rx) = mpsc::channel();
        let report = || async { (hetsched::current_class(), hetsched::current_qos()) };
        // A Background task keeps the E worker (the only one that runs Background) busy.
        let spinning = Arc::new(AtomicBool::new(false));
        let (flag, spin_release) = (spinning.clone(), release.clone());
        let from_e = matches!(queued_in, QueuedIn::EfficiencyWorkerQueue);
        let spawner = handle_tx.clone();
        drop(rt.spawn_with(Qos::Background, async move {
            if from_e {
                // Queued on this worker (inheriting Background), which now spins.
                spawner.send(hetsched::spawn(report())).unwrap();
            }
            flag.store(true, SeqCst);
            spin_until(&spin_release);
        }));
        wait_until("the E worker spins", || spinning.load(SeqCst));
        if !from_e {
            handle_tx
                .send(rt.spawn_with(Qos::Background, report()))
                .unwrap();
        }
        let queued = handle_rx.recv().unwrap();
        let (class, qos) = rt
            .block_on(rt.spawn_with(Qos::Interactive, queued))
            .unwrap()
            .unwrap();
        assert_eq!(class, Some(CoreClass::Performance), "{queued_in:?}");
        assert_eq!(qos, Some(Qos::Interactive), "{queued_in:?}");
        let m = rt.metrics();
        let moved: u64 = m.workers.iter().map(|w| w.rescues + w.reroutes).sum();
        assert!(moved >= 1, "{queued_in:?}: {m:?}");
        // Moved between lanes, it left the old lane's queued count and the new one's.
        assert!(
            m.lanes.iter().all(|l| l.queued == 0),
            "{queued_in:?}: {m:?}"
        );
    }
}

/// With escalation off the same task waits for its own lane's worker and keeps its Qos.
#[test]
fn without_escalation_the_queued_task_keeps_its_lane() {
    let rt = two_class_builder().qos_escalation(false).build().unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let guard = ReleaseOnDrop(release.clone());
    let spinning = Arc::new(AtomicBool::new(false));
    let (flag, spin_release) = (spinning.clone(), release.clone());
    drop(rt.spawn_with(Qos::Background, async move {
        flag.store(true, SeqCst);
        spin_until(&spin_release);
    }));
    wait_until("the E worker spins", || spinning.load(SeqCst));
    let queued = rt.spawn_with(Qos::Background, async {
        (hetsched::current_class(), hetsched::current_qos())
    });
    let waiter = rt.spawn_with(Qos::Interactive, async move {
        let qos = queued.qos();
        (queued.await.unwrap(), qos)
    });
    wait_until("the waiter polled", || lane_polls(&rt, Lane::Critical) >= 1);
    drop(guard);
    let ((class, qos), seen) = rt.block_on(waiter).unwrap();
    assert_eq!(class, Some(CoreClass::Efficiency));
    assert_eq!((qos, seen), (Some(Qos::Background), Qos::Background));
    assert_eq!(rt.metrics().escalations(), 0);
}

/// Is some efficiency worker asleep now (parked more often than it woke)?
fn an_efficiency_worker_sleeps(rt: &Runtime) -> bool {
    rt.metrics()
        .workers
        .iter()
        .any(|w| w.class == CoreClass::Efficiency && w.parks > w.unparks)
}

/// Await `task` from a task of a higher Qos on a worker: its first poll of the handle is
/// what raises it (the rule's trigger); `escalated` is set right after that poll.
async fn await_escalating<T>(mut task: JoinHandle<T>, escalated: &AtomicBool) -> T {
    let first = futures::poll!(&mut task);
    escalated.store(true, SeqCst);
    match first {
        Poll::Ready(out) => out.unwrap(),
        Poll::Pending => task.await.unwrap(),
    }
}

/// Rule: a task escalated while it waits in a worker's LIFO slot is not stranded there.
/// The slot is the worker's alone; an E worker never looks for Critical work. Here a
/// Background task is woken into the E worker's slot, raised to Critical by an Interactive
/// waiter before the E worker looks again, and must still run (on the P worker). (A
/// regression test of the first fix of this kind, which handed on tasks raised to a lane
/// the worker may never run; the slot-limited case below is the one it missed.)
#[test]
fn a_task_escalated_to_critical_in_an_e_workers_lifo_slot_still_runs() {
    let rt = two_class_builder().build().unwrap();
    let (wake, woken) = oneshot::channel::<()>();
    let waiting = Arc::new(AtomicBool::new(false));
    let flag = waiting.clone();
    let task = rt.spawn_with(Qos::Background, async move {
        flag.store(true, SeqCst);
        woken.await.unwrap();
        hetsched::current_class()
    });
    wait_until("the task waits", || {
        waiting.load(SeqCst) && an_efficiency_worker_sleeps(&rt)
    });
    let (in_slot, escalated) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (sent, seen) = (in_slot.clone(), escalated.clone());
    // On the E worker (the only one that runs Background): the wake puts the task in this
    // worker's LIFO slot, which it keeps until this poll ends, after the raise.
    let waker = rt.spawn_with(Qos::Background, async move {
        wake.send(()).unwrap();
        sent.store(true, SeqCst);
        spin_until(&seen);
    });
    wait_until("the task is in the E worker's LIFO slot", || {
        in_slot.load(SeqCst)
    });
    let (done, result) = mpsc::channel();
    let flag = escalated.clone();
    drop(rt.spawn_with(Qos::Interactive, async move {
        done.send(await_escalating(task, &flag).await).unwrap();
    }));
    let class = result
        .recv_timeout(Duration::from_secs(20))
        .expect("the escalated task was stranded in the E worker's LIFO slot");
    assert_eq!(class, Some(CoreClass::Performance));
    rt.block_on(waker).unwrap();
    let reroutes: u64 = rt.metrics().workers.iter().map(|w| w.reroutes).sum();
    assert!(reroutes >= 1, "{:?}", rt.metrics());
}

/// Rule: the same for a task raised from Background to Default in the LIFO slot of an E
/// worker that needs an efficiency slot for Default work while another E worker holds the
/// only one (two E workers spilling onto one E CPU: `policy::efficiency_slots`). No search of
/// that worker takes the task while the slot is held, and it falls asleep; the task must
/// still run once the slot holder is done.
#[test]
fn a_task_escalated_to_default_in_a_slot_limited_lifo_slot_still_runs() {
    // The case needs the slot limit: two E workers spilling (the default placement) onto
    // the declared E CPUs, fewer than two of them.
    let e_cpus = common::two_class_topology()
        .cpus(CoreClass::Efficiency)
        .len();
    assert_eq!(
        hetsched::runtime::policy::efficiency_slots(hetsched::Pin::default(), 2, e_cpus),
        Some(1)
    );
    let rt = common::runtime(1, 2);
    let (wake, woken) = oneshot::channel::<()>();
    let task = rt.spawn_with(Qos::Background, async move {
        woken.await.unwrap();
        hetsched::current_qos()
    });
    wait_until("the task waits, both E workers asleep", || {
        let m = rt.metrics();
        m.workers
            .iter()
            .map(|w| w.polls_by_lane[Lane::Background.index()])
            .sum::<u64>()
            == 1
            && m.workers
                .iter()
                .filter(|w| w.class == CoreClass::Efficiency)
                .all(|w| w.parks > w.unparks)
    });
    // Two Default tasks spin: one on the P worker, one on an E worker holding the only
    // efficiency slot. The one on the P worker raises the task once it is in the free E
    // worker's LIFO slot, then awaits it once released.
    let release = Arc::new(AtomicBool::new(false));
    let guard = ReleaseOnDrop(release.clone());
    let (in_slot, escalated) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let spinning = Arc::new(AtomicUsize::new(0));
    let handle = Arc::new(Mutex::new(Some(task)));
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            let (release, in_slot, escalated, spinning, handle) = (
                release.clone(),
                in_slot.clone(),
                escalated.clone(),
                spinning.clone(),
                handle.clone(),
            );
            rt.spawn_with(Qos::Default, async move {
                spinning.fetch_add(1, SeqCst);
                let on_p = hetsched::current_class() == Some(CoreClass::Performance);
                let mut awaited = None;
                while !release.load(SeqCst) {
                    if on_p && awaited.is_none() && in_slot.load(SeqCst) {
                        let mut task = handle.lock().unwrap().take().unwrap();
                        let first = futures::poll!(&mut task);
                        assert!(first.is_pending());
                        escalated.store(true, SeqCst);
                        awaited = Some(task);
                    }
                    std::hint::spin_loop();
                }
                match awaited {
                    Some(task) => Some(task.await.unwrap()),
                    None => None,
                }
            })
        })
        .collect();
    wait_until("both spinners run", || spinning.load(SeqCst) == 2);
    let seen = escalated.clone();
    let waker = rt.spawn_with(Qos::Background, async move {
        wake.send(()).unwrap();
        in_slot.store(true, SeqCst);
        spin_until(&seen);
    });
    rt.block_on(waker).unwrap();
    // The E worker that ran the waker looked for work and fell asleep: with the slot held,
    // the raised task is not something it may take.
    wait_until("the waker's E worker sleeps", || {
        an_efficiency_worker_sleeps(&rt)
    });
    drop(guard);
    let (done, result) = mpsc::channel();
    std::thread::spawn({
        let rt = rt.handle();
        move || {
            let qos: Vec<_> = spinners
                .into_iter()
                .map(|s| rt.block_on(s).unwrap())
                .collect();
            done.send(qos).unwrap();
        }
    });
    let qos = result
        .recv_timeout(Duration::from_secs(20))
        .expect("the escalated task was stranded in an E worker's LIFO slot");
    assert!(qos.contains(&Some(Some(Qos::Default))), "{qos:?}");
}

/// Critical workers report the outcome of their priority request, and it is the one the
/// capability probe (what the topology tool prints) predicts for this process.
#[test]
fn critical_workers_report_their_priority_request() {
    let rt = two_class_builder().critical_workers(1).build().unwrap();
    let workers = common::started_workers(&rt);
    let probed = hetsched::sys::probe_capabilities().raised_priority;
    for w in &workers {
        let priority = &w.hints.as_ref().unwrap().priority;
        match w.role {
            WorkerRole::Critical => assert_eq!(priority, &probed, "{w:?}"),
            WorkerRole::Performance => assert_eq!(priority, &HintOutcome::Disabled, "{w:?}"),
            // E workers ask for the idle priority under Pin::Spill (tests/unequal_cores.rs).
            WorkerRole::Efficiency => {}
        }
    }
}

/// Without `CAP_SYS_NICE` (dropped from this thread's effective set, which threads it
/// creates inherit) the raise is refused, reported as such, and critical workers still run
/// critical work.
#[cfg(target_os = "linux")]
#[test]
fn without_cap_sys_nice_critical_workers_run_and_say_what_they_could_not_do() {
    std::thread::spawn(|| {
        let dropped = linux_caps::drop_effective(linux_caps::CAP_SYS_NICE);
        let rlimit_allows = linux_caps::rlimit_nice_allows(hetsched::sys::CRITICAL_NICE);
        let rt = two_class_builder().critical_workers(1).build().unwrap();
        let workers = common::started_workers(&rt);
        let critical = workers
            .iter()
            .find(|w| w.role == WorkerRole::Critical)
            .unwrap();
        let priority = critical.hints.as_ref().unwrap().priority.clone();
        if dropped && !rlimit_allows {
            assert!(
                matches!(priority, HintOutcome::Failed { errno } if errno == libc::EACCES),
                "{priority:?}"
            );
        }
        let _busy = occupy_ordinary_workers(&rt);
        let ran_on_critical = rt
            .block_on(rt.spawn_with(Qos::Interactive, async { on_critical_worker() }))
            .unwrap();
        assert!(ran_on_critical);
    })
    .join()
    .unwrap();
}

/// The capability syscalls, for the test above (two raw calls; no crate needed).
#[cfg(target_os = "linux")]
mod linux_caps {
    pub const CAP_SYS_NICE: u32 = 23;
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }

    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }

    /// Drop `cap` from the calling thread's effective set. False if it could not (the
    /// calls failed): the caller then asserts nothing about the refusal.
    pub fn drop_effective(cap: u32) -> bool {
        let mut header = Header {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let mut data = [Data::default(); 2];
        // SAFETY: capget writes two `Data` records (version 3) into `data` and reads the
        // header; both live for the call. pid 0 is the calling thread.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_capget,
                &mut header as *mut Header,
                data.as_mut_ptr(),
            )
        };
        if rc != 0 {
            return false;
        }
        data[(cap / 32) as usize].effective &= !(1 << (cap % 32));
        // SAFETY: capset reads the header and two `Data` records; it changes only the
        // calling thread's credentials (a subset of what it holds, always allowed).
        let rc =
            unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) };
        rc == 0
    }

    /// Would RLIMIT_NICE let an unprivileged thread reach `nice` anyway?
    pub fn rlimit_nice_allows(nice: i32) -> bool {
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        // "Max nice priority  <soft>  <hard>": the soft limit `n` allows nice 20 - n.
        limits
            .lines()
            .find(|line| line.starts_with("Max nice priority"))
            .and_then(|line| line.split_whitespace().nth(3))
            .is_some_and(|soft| match soft.parse::<i32>() {
                Ok(n) => 20 - n <= nice,
                Err(_) => soft == "unlimited",
            })
    }
}

/// Idle critical workers cost no CPU: while a Default workload keeps the ordinary workers
/// busy for a while, the critical workers' threads use next to no CPU time (they sleep on
/// their own idle list). CPU time from /proc, so the bound does not depend on how fast
/// this machine is.
#[cfg(target_os = "linux")]
#[test]
fn idle_critical_workers_use_no_cpu_time() {
    let rt = two_class_builder()
        .critical_workers(2)
        .thread_name("idlecrit")
        .build()
        .unwrap();
    common::started_workers(&rt);
    let work: Vec<_> = (0..64)
        .map(|i| {
            rt.spawn_with(Qos::Default, async move {
                let mut x = i as u64;
                for _ in 0..20 {
                    for _ in 0..100_000 {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    }
                    hetsched::yield_now().await;
                }
                std::hint::black_box(x)
            })
        })
        .collect();
    for handle in work {
        rt.block_on(handle).unwrap();
    }
    let cpu = workloads::latency::thread_cpu_times("idlecrit-");
    let ordinary: Duration = cpu
        .iter()
        .filter(|(name, _)| !name.contains("-c-"))
        .map(|(_, t)| *t)
        .sum();
    let critical: Vec<_> = cpu
        .iter()
        .filter(|(name, _)| name.contains("-c-"))
        .collect();
    assert_eq!(critical.len(), 2, "{cpu:?}");
    for (name, time) in &critical {
        assert!(
            *time * 20 < ordinary.max(Duration::from_millis(100)),
            "{name} used {time:?} while the ordinary workers used {ordinary:?}"
        );
    }
}
