//! One test per scheduling invariant of DESIGN.md, on the declared two-class topology
//! (P = {0}, E = {1}) with one worker per class and with more workers than cores.

mod common;

use common::{runtime, spin_until, tallied, wait_until, ClassTally, ReleaseOnDrop, SHAPES};
use futures::channel::oneshot;
use hetsched::runtime::FAIR_INTERVAL;
use hetsched::{Builder, CoreClass, Lane, Qos};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Invariant 1: latency-critical tasks are polled only on performance workers, also after
/// being woken from a foreign thread or from an efficiency worker.
#[test]
fn critical_tasks_run_only_on_performance_workers() {
    for (p, e) in SHAPES {
        let rt = runtime(p, e);
        let tally = Arc::new(ClassTally::default());
        let mut handles = Vec::new();
        for i in 0..400 {
            let qos = if i % 2 == 0 {
                Qos::Interactive
            } else {
                Qos::UserInitiated
            };
            handles.push(rt.spawn_with(
                qos,
                tallied(&tally, async {
                    for _ in 0..5 {
                        hetsched::yield_now().await;
                    }
                }),
            ));
        }
        // Woken from a foreign thread.
        let mut senders = Vec::new();
        for _ in 0..50 {
            let (tx, rx) = oneshot::channel::<u32>();
            senders.push(tx);
            handles.push(rt.spawn_with(
                Qos::Interactive,
                tallied(&tally, async move {
                    rx.await.unwrap();
                }),
            ));
        }
        let foreign = std::thread::spawn(move || {
            for tx in senders {
                tx.send(1).unwrap();
            }
        });
        // Woken from an efficiency worker: a background task fires the waker.
        for _ in 0..50 {
            let (tx, rx) = oneshot::channel::<CoreClass>();
            handles.push(rt.spawn_with(
                Qos::UserInitiated,
                tallied(&tally, async move {
                    let waker_class = rx.await.unwrap();
                    assert_eq!(waker_class, CoreClass::Efficiency);
                }),
            ));
            handles.push(rt.spawn_with(Qos::Background, async move {
                tx.send(hetsched::current_class().unwrap()).unwrap();
            }));
        }
        foreign.join().unwrap();
        for h in handles {
            rt.block_on(h).unwrap();
        }
        let (on_p, on_e, outside) = tally.get();
        assert_eq!((on_e, outside), (0, 0), "shape {p}P+{e}E");
        assert!(on_p >= 400 * 6, "every poll counted: {on_p}");
    }
}

/// Invariant 2: background tasks run only on efficiency workers when there are any (also
/// when a performance worker wakes them); with none they run on performance workers.
#[test]
fn background_tasks_run_only_on_efficiency_workers() {
    for (p, e) in SHAPES {
        let rt = runtime(p, e);
        let tally = Arc::new(ClassTally::default());
        let mut handles = Vec::new();
        for _ in 0..200 {
            handles.push(rt.spawn_with(
                Qos::Background,
                tallied(&tally, async {
                    for _ in 0..3 {
                        hetsched::yield_now().await;
                    }
                }),
            ));
        }
        for _ in 0..50 {
            let (tx, rx) = oneshot::channel::<CoreClass>();
            handles.push(rt.spawn_with(
                Qos::Background,
                tallied(&tally, async move {
                    assert_eq!(rx.await.unwrap(), CoreClass::Performance);
                }),
            ));
            handles.push(rt.spawn_with(Qos::Interactive, async move {
                tx.send(hetsched::current_class().unwrap()).unwrap();
            }));
        }
        for h in handles {
            rt.block_on(h).unwrap();
        }
        let (on_p, on_e, outside) = tally.get();
        assert_eq!((on_p, outside), (0, 0), "shape {p}P+{e}E");
        assert!(on_e >= 200 * 4);
    }

    let rt = runtime(2, 0);
    let classes = rt.block_on(async {
        let mut classes = Vec::new();
        for _ in 0..20 {
            let h = hetsched::spawn_with(Qos::Background, async { hetsched::current_class() });
            classes.push(h.await.unwrap());
        }
        classes
    });
    assert!(classes.iter().all(|c| *c == Some(CoreClass::Performance)));
}

/// Invariant 3: Default and Utility run anywhere; while every performance worker is busy,
/// efficiency workers do the Default work (work conservation), including work spawned by
/// the busy performance workers themselves.
#[test]
fn efficiency_workers_take_default_work_while_performance_workers_are_busy() {
    for (p, e) in SHAPES {
        let rt = runtime(p, e);
        let release = Arc::new(AtomicBool::new(false));
        let _release = ReleaseOnDrop(release.clone());
        let busy = Arc::new(AtomicUsize::new(0));
        let tally = Arc::new(ClassTally::default());
        let done = Arc::new(AtomicUsize::new(0));
        let mut blockers = Vec::new();
        for _ in 0..p {
            let (release, busy, tally, done) =
                (release.clone(), busy.clone(), tally.clone(), done.clone());
            blockers.push(rt.spawn_with(Qos::Interactive, async move {
                // Only once every P worker is held by a blocker: a P worker still idle may
                // rightly take Default work, which is not what this test is about.
                busy.fetch_add(1, SeqCst);
                while busy.load(SeqCst) < p && !release.load(SeqCst) {
                    std::hint::spin_loop();
                }
                // Spawned from a P worker: lands in its own queue, must be stolen.
                for _ in 0..10 {
                    let (tally, done) = (tally.clone(), done.clone());
                    hetsched::spawn_with(Qos::Default, async move {
                        tally.record();
                        done.fetch_add(1, SeqCst);
                    });
                }
                spin_until(&release);
            }));
        }
        wait_until("every P worker is busy", || busy.load(SeqCst) == p);
        for qos in [Qos::Default, Qos::Utility] {
            for _ in 0..50 {
                let (tally, done) = (tally.clone(), done.clone());
                rt.spawn_with(qos, async move {
                    tally.record();
                    done.fetch_add(1, SeqCst);
                });
            }
        }
        let expected = p * 10 + 100;
        wait_until("E workers finish the Default/Utility work", || {
            done.load(SeqCst) == expected
        });
        assert_eq!(tally.get(), (0, expected, 0), "all done by E workers");
        release.store(true, SeqCst);
        for b in blockers {
            rt.block_on(b).unwrap();
        }
    }
}

/// Invariant 4: a worker takes the highest lane it may run; the fairness turn bounds how
/// long a lower lane can wait (FAIR_INTERVAL × lanes polls).
#[test]
fn highest_lane_first_with_bounded_fairness() {
    let rt = common::one_worker_runtime();
    let release = Arc::new(AtomicBool::new(false));
    let _release = ReleaseOnDrop(release.clone());
    let started = Arc::new(AtomicBool::new(false));
    let blocker = {
        let (release, started) = (release.clone(), started.clone());
        rt.spawn_with(Qos::Interactive, async move {
            started.store(true, SeqCst);
            spin_until(&release);
        })
    };
    wait_until("the only worker is busy", || started.load(SeqCst));
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for qos in [
        Qos::Background,
        Qos::Utility,
        Qos::Default,
        Qos::Interactive,
    ] {
        for _ in 0..100 {
            let order = order.clone();
            handles.push(rt.spawn_with(qos, async move {
                order.lock().unwrap().push(Lane::of(qos));
            }));
        }
    }
    release.store(true, SeqCst);
    rt.block_on(blocker).unwrap();
    for h in handles {
        rt.block_on(h).unwrap();
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(order.len(), 400);
    // Only fairness turns may interleave lower lanes into the first 100 polls.
    let early_lower = order[..100]
        .iter()
        .filter(|l| **l != Lane::Critical)
        .count();
    assert!(
        early_lower <= 100 / FAIR_INTERVAL as usize + 1,
        "{early_lower} lower-lane polls early"
    );
    let bound = FAIR_INTERVAL as usize * 4;
    for lane in Lane::ALL {
        let first = order.iter().position(|l| *l == lane).unwrap();
        assert!(
            first <= bound,
            "{lane} first polled at {first}, bound {bound}"
        );
    }
    // Among non-critical polls, the lanes come in preference order except for fair turns.
    let out_of_order = order.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(
        out_of_order <= 2 * (400 / FAIR_INTERVAL as usize + 1),
        "{out_of_order}"
    );
}

/// Invariant 4, starvation: a flood of latency-critical work that never ends cannot keep
/// a background task from running past the stated bound.
#[test]
fn a_flood_of_critical_work_does_not_starve_background() {
    let rt = common::one_worker_runtime();
    let stop = Arc::new(AtomicBool::new(false));
    let critical_polls = Arc::new(AtomicUsize::new(0));
    fn flood(stop: Arc<AtomicBool>, polls: Arc<AtomicUsize>) {
        hetsched::spawn(async move {
            polls.fetch_add(1, SeqCst);
            if !stop.load(SeqCst) {
                flood(stop.clone(), polls.clone());
                flood(stop, polls);
            }
        });
    }
    let seen_at = rt.block_on({
        let (stop, polls) = (stop.clone(), critical_polls.clone());
        async move {
            let starter = hetsched::spawn_with(Qos::Interactive, {
                let (stop, polls) = (stop.clone(), polls.clone());
                async move { flood(stop, polls) }
            });
            starter.await.unwrap();
            // Let the flood grow, then ask for background work.
            while polls.load(SeqCst) < 1000 {
                std::thread::yield_now();
            }
            let background = hetsched::spawn_with(Qos::Background, {
                let polls = polls.clone();
                async move { polls.load(SeqCst) }
            });
            // Read after the spawn returned: if this thread is descheduled in between, the
            // count only shrinks, so the check cannot fail spuriously, but starvation
            // (tens of thousands of polls) still shows.
            let queued_at = polls.load(SeqCst);
            let ran_at = background.await.unwrap();
            stop.store(true, SeqCst);
            ran_at.saturating_sub(queued_at)
        }
    });
    let bound = FAIR_INTERVAL as usize * 4;
    assert!(
        seen_at <= bound,
        "background waited {seen_at} critical polls (bound {bound})"
    );
}

/// Invariant 4, both sources: with the Critical lane never empty and the Default injector
/// kept fed from a foreign thread, a Default task in the worker's own queue and one in its
/// LIFO slot are still polled (a lane's fair turns alternate between injector and queue).
#[test]
fn fair_turns_reach_the_own_queue_and_the_lifo_slot_while_the_injector_is_fed() {
    let rt = common::one_worker_runtime();
    let stop = Arc::new(AtomicBool::new(false));
    // Tasks fed into the Default injector, and those of them that ran: `fed - ran` is the
    // injector's backlog. Each target task records the backlog it saw when it ran.
    let fed = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let backlog_seen = Arc::new(Mutex::new(Vec::new()));
    let record_backlog = {
        let (fed, ran, backlog_seen) = (fed.clone(), ran.clone(), backlog_seen.clone());
        move || {
            let backlog = fed.load(SeqCst) - ran.load(SeqCst);
            backlog_seen.lock().unwrap().push(backlog);
        }
    };
    // The LIFO candidate: a Default task parked on a channel, polled once before the flood.
    let (wake_lifo, woken) = oneshot::channel::<()>();
    let lifo_task = rt.spawn_with(Qos::Default, {
        let record_backlog = record_backlog.clone();
        async move {
            woken.await.unwrap();
            record_backlog();
        }
    });
    wait_until("the LIFO candidate waits on its channel", || {
        rt.metrics().workers[0].polls_by_lane[Lane::Default.index()] >= 1
    });
    // Hold the one worker in a poll while the injector fills, so that the backlog is there
    // before the flood starts (an idle worker drains the feed as fast as it comes, and a
    // fair turn in the flood's first polls would then find the injector empty).
    let hold = Arc::new(AtomicBool::new(false));
    let _hold_released = ReleaseOnDrop(hold.clone());
    let holder = rt.spawn_with(Qos::Interactive, {
        let hold = hold.clone();
        async move { spin_until(&hold) }
    });
    wait_until("the worker is held", || {
        rt.metrics().workers[0].polls_by_lane[Lane::Critical.index()] >= 1
    });
    // Feed the Default injector from a foreign thread, topping its backlog up to 1,000
    // tasks: far more than fair turns take from it (one turn of the lane per
    // FAIR_INTERVAL × 4 polls of 20 µs, below). A backlog (not a rate) keeps the injector
    // fed however the threads are scheduled, and bounds memory if the test fails.
    let feeder = {
        let (handle, stop, fed, ran) = (rt.handle(), stop.clone(), fed.clone(), ran.clone());
        std::thread::spawn(move || {
            while !stop.load(SeqCst) {
                if fed.load(SeqCst) - ran.load(SeqCst) >= 1_000 {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                for _ in 0..50 {
                    fed.fetch_add(1, SeqCst);
                    let ran = ran.clone();
                    drop(handle.spawn_with(Qos::Default, async move {
                        ran.fetch_add(1, SeqCst);
                    }));
                }
            }
        })
    };
    wait_until("the injector holds its backlog", || {
        fed.load(SeqCst) - ran.load(SeqCst) >= 1_000
    });
    // The flood: one Critical task that works 20 µs and yields on every poll (so the
    // Critical lane is never empty). On its first poll it spawns a Default task (into this
    // worker's own queue) and wakes the LIFO candidate (into this worker's LIFO slot).
    let flood = rt.spawn_with(Qos::Interactive, {
        let stop = stop.clone();
        async move {
            drop(hetsched::spawn_with(Qos::Default, async move {
                record_backlog();
            }));
            wake_lifo.send(()).unwrap();
            while !stop.load(SeqCst) {
                let start = Instant::now();
                while start.elapsed() < Duration::from_micros(20) {
                    std::hint::spin_loop();
                }
                hetsched::yield_now().await;
            }
        }
    });
    hold.store(true, SeqCst);
    rt.block_on(holder).unwrap();
    wait_until(
        "the own queue's and the LIFO slot's Default tasks run",
        || backlog_seen.lock().unwrap().len() == 2,
    );
    let backlogs = backlog_seen.lock().unwrap().clone();
    assert!(
        backlogs.iter().all(|&backlog| backlog > 0),
        "each ran while the injector still held tasks (else the test shows nothing): \
         backlogs {backlogs:?}"
    );
    stop.store(true, SeqCst);
    feeder.join().unwrap();
    rt.block_on(flood).unwrap();
    rt.block_on(lifo_task).unwrap();
}

/// Wakes itself through its own waker and returns `Pending` once: a yield as another
/// library (or a channel the task both sends on and awaits) would do it, not
/// `hetsched::yield_now`.
struct SelfWake(bool);

impl std::future::Future for SelfWake {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// A task woken during its own poll by something other than `yield_now` (here: it wakes
/// itself through its own waker, as a channel it sends on and awaits would) keeps the LIFO
/// slot: it runs before a task queued earlier on its worker's own queue. A real `yield_now`
/// goes behind that task.
#[test]
fn only_yield_now_gives_up_the_lifo_slot() {
    let rt = common::one_worker_runtime();
    for real_yield in [false, true] {
        let order = Arc::new(Mutex::new(Vec::new()));
        let (a, b) = (order.clone(), order.clone());
        rt.block_on(rt.spawn(async move {
            // Queued first, on this worker's own queue.
            let other = hetsched::spawn(async move { b.lock().unwrap().push("other") });
            if real_yield {
                hetsched::yield_now().await;
            } else {
                SelfWake(false).await;
            }
            a.lock().unwrap().push("self");
            other.await.unwrap();
        }))
        .unwrap();
        let order = order.lock().unwrap().clone();
        let expected = if real_yield {
            ["other", "self"]
        } else {
            ["self", "other"]
        };
        assert_eq!(order, expected, "real_yield={real_yield}");
    }
}

/// Is every worker asleep (gone to sleep more often than woken)?
fn all_workers_asleep(rt: &hetsched::Runtime) -> bool {
    rt.metrics().workers.iter().all(|w| w.parks > w.unparks)
}

/// Wake-ups of the runtime's workers so far, all workers together.
fn total_unparks(rt: &hetsched::Runtime) -> u64 {
    rt.metrics().workers.iter().map(|w| w.unparks).sum()
}

async fn yield_times(n: usize) -> usize {
    for _ in 0..n {
        hetsched::yield_now().await;
    }
    n
}

/// On its own worker `yield_now` skips the wake and the worker schedules the task again
/// when the poll ends; polled with any other waker it must wake that waker. Both hold
/// under combinators: `join!` polls its futures with the task's own waker (the skip),
/// `FuturesUnordered` with its own per-future wakers (a skipped wake would leave the
/// future unpolled forever), and `block_on` outside any worker. Each finishes (bounded
/// wait: a lost yield shows up as a timeout, not a hang).
#[test]
fn yield_now_resumes_under_combinators_and_off_the_workers() {
    use futures::stream::{FuturesUnordered, StreamExt};
    let rt = common::one_worker_runtime();
    let (done, finished) = std::sync::mpsc::channel();
    drop(rt.spawn(async move {
        let (a, b) = futures::join!(yield_times(3), yield_times(5));
        let mut unordered: FuturesUnordered<_> = (1..=3).map(yield_times).collect();
        let mut sum = a + b;
        while let Some(n) = unordered.next().await {
            sum += n;
        }
        let _ = done.send(sum);
    }));
    let sum = finished
        .recv_timeout(Duration::from_secs(20))
        .expect("a yield under a combinator was never resumed");
    assert_eq!(sum, 3 + 5 + 1 + 2 + 3);
    assert_eq!(rt.block_on(yield_times(4)), 4, "block_on");
}

/// A lone task yielding on a two-worker runtime stays on its worker: the other worker,
/// asleep, is not woken for each yield (`policy::wakes_a_peer`; before that rule each
/// yield could wake it, and it went back to sleep finding nothing: thousands of wake-ups).
#[test]
fn a_lone_yielding_task_does_not_wake_the_other_worker() {
    let rt = Builder::new()
        .topology(common::homogeneous_topology(2))
        .workers(CoreClass::Performance, 2)
        .build()
        .unwrap();
    wait_until("both workers asleep", || all_workers_asleep(&rt));
    let before = total_unparks(&rt);
    const YIELDS: usize = 10_000;
    assert_eq!(rt.block_on(rt.spawn(yield_times(YIELDS))).unwrap(), YIELDS);
    let woken = total_unparks(&rt) - before;
    // One for the spawn's push; a few more for anything else a runtime wakes for.
    assert!(
        woken < 20,
        "{woken} wake-ups of a worker during {YIELDS} yields of one task"
    );
}

/// A lone Default task yielding on an E worker still wakes the sleeping P worker, the
/// lane's first choice, which steals it onto its faster core (`policy::wakes_a_peer` keeps
/// a lone yield quiet only on the first choice). The task is woken on the E worker (its
/// LIFO slot: no wake-up for anyone), so it starts there with the P worker asleep.
#[test]
fn a_lone_yielding_default_task_moves_from_an_e_worker_to_the_idle_p_worker() {
    const YIELDS: usize = 20_000;
    let rt = runtime(1, 1);
    let on_p = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = oneshot::channel::<()>();
    let yielder = {
        let on_p = on_p.clone();
        rt.spawn_with(Qos::Default, async move {
            rx.await.unwrap();
            for _ in 0..YIELDS {
                if hetsched::current_class() == Some(CoreClass::Performance) {
                    on_p.fetch_add(1, SeqCst);
                }
                hetsched::yield_now().await;
            }
        })
    };
    wait_until("both workers asleep, the task waiting", || {
        all_workers_asleep(&rt)
    });
    // Background work runs on the E worker only: the wake lands in its LIFO slot.
    drop(rt.spawn_with(Qos::Background, async move { tx.send(()).unwrap() }));
    rt.block_on(yielder).unwrap();
    let on_p = on_p.load(SeqCst);
    assert!(
        on_p > YIELDS / 2,
        "only {on_p} of {YIELDS} polls on the P worker: the yield on the E worker never woke it"
    );
}

/// A task that keeps waking itself without `yield_now` (a batch loop yielding through
/// another library, here a hand-written `wake_by_ref(); Poll::Pending`) does not hold back
/// work that arrives through the injector: a task spawned from a foreign thread runs after
/// at most one more poll of the self-waker, not at the next fair turn (up to
/// `2 × FAIR_INTERVAL` polls later on one worker, which is how this failed).
#[test]
fn a_task_waking_itself_does_not_starve_the_injector() {
    let rt = common::one_worker_runtime();
    let polls = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let waker_task = {
        let (polls, stop) = (polls.clone(), stop.clone());
        rt.spawn(async move {
            while !stop.load(SeqCst) {
                // One poll of this task per wake-up: count it, then wake itself.
                polls.fetch_add(1, SeqCst);
                SelfWake(false).await;
            }
        })
    };
    let _release = ReleaseOnDrop(stop.clone());
    for round in 0..5 {
        // Let the self-waker run a while, so the injected task meets it mid-loop.
        let start = polls.load(SeqCst);
        while polls.load(SeqCst) < start + 200 {
            std::thread::yield_now();
        }
        let seen = Arc::new(AtomicUsize::new(usize::MAX));
        let injected = {
            let (polls, seen) = (polls.clone(), seen.clone());
            rt.spawn(async move { seen.store(polls.load(SeqCst), SeqCst) })
        };
        // Read after the push: polls counted from here on are polls the task waited for.
        let before = polls.load(SeqCst);
        rt.block_on(injected).unwrap();
        let seen = seen.load(SeqCst);
        assert!(
            seen <= before + 2,
            "round {round}: the injected task ran {} polls of the self-waker after it was \
             pushed (at most 2 expected)",
            seen.saturating_sub(before)
        );
    }
    stop.store(true, SeqCst);
    rt.block_on(waker_task).unwrap();
}

/// Invariant 5: a woken task keeps its lane, never runs on two threads at once, and is
/// never lost, under wakes from many foreign threads.
#[test]
fn woken_tasks_keep_their_lane_run_alone_and_are_never_lost() {
    for (p, e) in SHAPES {
        let rt = runtime(p, e);
        let mut handles = Vec::new();
        let mut senders = Vec::new();
        let wrong_class = Arc::new(AtomicUsize::new(0));
        for (i, qos) in Qos::ALL.into_iter().cycle().take(40).enumerate() {
            let (tx, mut rx) = futures::channel::mpsc::unbounded::<u64>();
            senders.push(tx);
            let in_poll = Arc::new(AtomicBool::new(false));
            let wrong_class = wrong_class.clone();
            let guarded = GuardedPoll {
                in_poll: in_poll.clone(),
                inner: Box::pin(async move {
                    use futures::StreamExt;
                    let mut sum = 0u64;
                    while let Some(v) = rx.next().await {
                        let class = hetsched::current_class();
                        let ok = match Lane::of(qos) {
                            Lane::Critical => class == Some(CoreClass::Performance),
                            Lane::Background => class == Some(CoreClass::Efficiency),
                            _ => class.is_some(),
                        };
                        if !ok {
                            wrong_class.fetch_add(1, SeqCst);
                        }
                        sum += v;
                    }
                    sum
                }),
            };
            let _ = i;
            handles.push(rt.spawn_with(qos, guarded));
        }
        let senders = Arc::new(senders);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let senders = senders.clone();
                std::thread::spawn(move || {
                    for round in 0..500u64 {
                        for tx in senders.iter() {
                            tx.unbounded_send(round * 4 + t).unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(senders);
        let expected: u64 = (0..500u64)
            .flat_map(|r| (0..4).map(move |t| r * 4 + t))
            .sum();
        for h in handles {
            assert_eq!(rt.block_on(h).unwrap(), expected, "a message was lost");
        }
        assert_eq!(wrong_class.load(SeqCst), 0, "shape {p}P+{e}E");
    }
}

/// Panics if the wrapped future is ever polled on two threads at once.
struct GuardedPoll<F> {
    in_poll: Arc<AtomicBool>,
    inner: std::pin::Pin<Box<F>>,
}

impl<F: std::future::Future> std::future::Future for GuardedPoll<F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        assert!(
            !self.in_poll.swap(true, SeqCst),
            "polled on two threads at once"
        );
        let out = self.inner.as_mut().poll(cx);
        self.in_poll.store(false, SeqCst);
        out
    }
}

fn asleep(rt: &hetsched::Runtime) -> u64 {
    let m = rt.metrics();
    m.workers.iter().map(|w| w.parks - w.unparks).sum()
}

/// A batch whose iterator panics part way: the tasks placed before the panic are counted
/// and run (their workers are woken as the panic unwinds), and the panic reaches the
/// caller. Spawned from outside and from a task on a worker.
#[test]
fn a_batch_cut_short_by_a_panic_still_runs_what_it_placed() {
    let rt = Builder::new()
        .topology(common::homogeneous_topology(1))
        .workers(CoreClass::Performance, 1)
        .idle_spin(Duration::ZERO)
        .build()
        .unwrap();
    wait_until("the worker sleeps", || asleep(&rt) == 1);
    let ran = Arc::new(AtomicUsize::new(0));
    let batch = |ran: Arc<AtomicUsize>| {
        (0..10).map(move |i| {
            assert!(i < 5, "the caller's iterator panics");
            let ran = ran.clone();
            async move {
                ran.fetch_add(1, SeqCst);
            }
        })
    };
    let mut handles = Vec::new();
    let outside = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.spawn_batch(Qos::Default, batch(ran.clone()), &mut handles)
    }));
    assert!(outside.is_err(), "the panic did not reach the caller");
    assert_eq!(handles.len(), 5);
    wait_until("the five placed tasks ran", || ran.load(SeqCst) == 5);
    // From a task on the worker: the panic ends that task; the five it placed still run.
    let inner = ran.clone();
    let on_worker = rt.spawn(async move {
        hetsched::Handle::current().spawn_batch_detached(Qos::Default, batch(inner));
    });
    assert!(rt.block_on(on_worker).is_err(), "the task's panic was lost");
    wait_until("the five tasks placed by the worker ran", || {
        ran.load(SeqCst) == 10
    });
    wait_until("every task counted as ended", || {
        let m = rt.metrics();
        let lane = m.lane(Lane::Default);
        (lane.spawned, lane.completed, m.live_tasks) == (11, 11, 0)
    });
}

/// Invariant 6: one idle worker is woken per unit of new work, not the whole herd.
#[test]
fn one_idle_worker_is_woken_per_unit_of_work() {
    let rt = Builder::new()
        .topology(common::homogeneous_topology(2))
        .workers(CoreClass::Performance, 4)
        .build()
        .unwrap();
    wait_until("all four workers sleep", || asleep(&rt) == 4);
    for round in 0..20 {
        let before = total_unparks(&rt);
        rt.block_on(rt.spawn(async { 1 })).unwrap();
        wait_until("all four workers sleep again", || asleep(&rt) == 4);
        let after = total_unparks(&rt);
        assert_eq!(
            after - before,
            1,
            "round {round}: one task woke {} workers",
            after - before
        );
    }
}

/// A worker that has run out of work keeps looking for `Builder::idle_spin` before it
/// sleeps, counted as a searcher: a task spawned from outside meanwhile is found with no
/// wake-up. Spawning and awaiting one task after another from `block_on` then wakes no
/// worker at all, where without the spin the worker falls asleep after each task and each
/// spawn must wake it (BENCHMARKS.md, "Spawn and await from outside": twice as fast).
#[test]
fn a_worker_still_looking_for_work_takes_the_next_spawn_without_a_wake_up() {
    let build = |spin: Duration| {
        Builder::new()
            .topology(common::homogeneous_topology(1))
            .workers(CoreClass::Performance, 1)
            .idle_spin(spin)
            .build()
            .unwrap()
    };
    const ROUNDS: u64 = 20;
    // A spin far longer than the gap between one task's end and the next spawn.
    let rt = build(hetsched::runtime::MAX_IDLE_SPIN);
    rt.block_on(rt.spawn(async { 0 })).unwrap();
    let before = total_unparks(&rt);
    for round in 0..ROUNDS {
        assert_eq!(rt.block_on(rt.spawn(async move { round })).unwrap(), round);
    }
    assert_eq!(
        total_unparks(&rt) - before,
        0,
        "a worker still looking for work was woken for the next task"
    );
    drop(rt);
    // No spin: once the worker sleeps between tasks, each spawn wakes it.
    let rt = build(Duration::ZERO);
    wait_until("the worker sleeps", || asleep(&rt) == 1);
    let before = total_unparks(&rt);
    for round in 0..ROUNDS {
        assert_eq!(rt.block_on(rt.spawn(async move { round })).unwrap(), round);
        wait_until("the worker sleeps again", || asleep(&rt) == 1);
    }
    assert_eq!(total_unparks(&rt) - before, ROUNDS);
}

/// The default idle spin needs a second CPU: a process that may use only one does not spin
/// (the looking worker would hold the CPU its feeders need; checked in a child process
/// started on one CPU), one with more does, whichever of its threads builds the runtime (a
/// thread pinned to one CPU counts the process's CPUs), and a spin that was set is kept
/// either way. Metrics say which.
#[cfg(target_os = "linux")]
#[test]
fn the_default_idle_spin_is_off_where_the_process_has_one_cpu() {
    use hetsched::runtime::DEFAULT_IDLE_SPIN;
    use std::os::unix::process::CommandExt;
    const CHILD: &str = "HETSCHED_TEST_ONE_CPU_CHILD";
    let build = |spin: Option<Duration>| {
        let builder = Builder::new()
            .topology(common::homogeneous_topology(1))
            .workers(CoreClass::Performance, 1);
        let builder = match spin {
            Some(spin) => builder.idle_spin(spin),
            None => builder,
        };
        builder.build().unwrap().metrics().idle_spin
    };
    let set = Duration::from_micros(3);
    let expected_for = |cpus: usize| {
        if cpus > 1 {
            DEFAULT_IDLE_SPIN
        } else {
            Duration::ZERO
        }
    };
    if std::env::var_os(CHILD).is_some() {
        // The child, started on one CPU.
        assert_eq!(build(None), Duration::ZERO);
        assert_eq!(build(Some(set)), set);
        return;
    }
    let here = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(build(None), expected_for(here), "{here} CPUs available");
    // A thread of its own, narrowed to one CPU: still the process's CPUs.
    let one_cpu = common::allowed_cpus()[0];
    let process = common::allowed_cpus().len();
    let (default, kept) = std::thread::spawn(move || {
        assert!(hetsched::sys::pin_current_thread(&[one_cpu]).is_applied());
        (build(None), build(Some(set)))
    })
    .join()
    .unwrap();
    assert_eq!(default, expected_for(process), "{process} CPUs in the mask");
    assert_eq!(kept, set);
    // A process started on one CPU.
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .args([
            "--exact",
            "the_default_idle_spin_is_off_where_the_process_has_one_cpu",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .stdout(std::process::Stdio::null());
    // SAFETY: between fork and exec the closure only fills a `cpu_set_t` on the stack and
    // makes one system call (async-signal-safe; no allocation, no lock).
    unsafe {
        child.pre_exec(move || {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(one_cpu, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = child.spawn().expect("re-run the test binary on one CPU");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child on one CPU did not finish in 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "the child on one CPU failed: {status}");
}

/// Invariant 6: an idle runtime burns no CPU (worker threads' CPU time does not grow).
#[cfg(target_os = "linux")]
#[test]
fn an_idle_runtime_uses_no_cpu() {
    fn worker_cpu_ticks(prefix: &str) -> u64 {
        let mut total = 0;
        for entry in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            if !comm.starts_with(prefix) {
                continue;
            }
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // Fields after the ")" of comm: state is field 3; utime 14, stime 15.
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            let fields: Vec<&str> = rest.split_whitespace().collect();
            total += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        }
        total
    }
    let rt = Builder::new()
        .topology(common::homogeneous_topology(2))
        .workers(CoreClass::Performance, 4)
        .thread_name("idlechk")
        .build()
        .unwrap();
    rt.block_on(rt.spawn(async {})).unwrap();
    wait_until("all workers sleep", || asleep(&rt) == 4);
    let before = worker_cpu_ticks("idlechk");
    std::thread::sleep(Duration::from_millis(500));
    let after = worker_cpu_ticks("idlechk");
    // Clock ticks are 10 ms: a spinning worker would burn ~50 of them here.
    assert!(
        after - before <= 1,
        "idle workers used {} ticks",
        after - before
    );
    assert_eq!(asleep(&rt), 4);
}

/// Invariant 7: on a machine with one core kind it is a plain work-stealing executor:
/// every Qos runs, on performance workers, and a big fork-join tree balances.
#[test]
fn homogeneous_machine_runs_everything() {
    // Two CPUs alike (the first two allowed); by default one worker per CPU.
    let topology = common::homogeneous_topology(2);
    let default = Builder::new().topology(topology.clone()).build().unwrap();
    assert_eq!(
        default.metrics().workers.len(),
        topology.count(CoreClass::Performance)
    );
    drop(default);
    // Two workers either way (two on one CPU under a one-CPU mask), so that the
    // fork-join tree below has a peer to balance with.
    let rt = Builder::new()
        .topology(topology)
        .workers(CoreClass::Performance, 2)
        .build()
        .unwrap();
    let m = rt.metrics();
    assert_eq!(m.workers.len(), 2);
    assert!(m.workers.iter().all(|w| w.class == CoreClass::Performance));
    let classes = rt.block_on(async {
        let mut out = Vec::new();
        for qos in Qos::ALL {
            out.push(
                hetsched::spawn_with(qos, async { hetsched::current_class() })
                    .await
                    .unwrap(),
            );
        }
        out
    });
    assert!(classes.iter().all(|c| *c == Some(CoreClass::Performance)));
    fn fib(n: u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send>> {
        Box::pin(async move {
            if n < 2 {
                return n;
            }
            let a = hetsched::spawn(fib(n - 1));
            let b = fib(n - 2).await;
            a.await.unwrap() + b
        })
    }
    assert_eq!(rt.block_on(rt.spawn(fib(20))).unwrap(), 6765);
    let m = rt.metrics();
    assert!(
        m.workers.iter().all(|w| w.polls() > 0),
        "both workers took part: {m:?}"
    );
}

/// Invariant 8: spawn inherits the calling task's Qos; from outside any task it is
/// Default; spawn_with says exactly what it means.
#[test]
fn spawn_inherits_qos_and_spawn_with_is_exact() {
    let rt = runtime(1, 1);
    assert_eq!(
        rt.block_on(rt.spawn(async { hetsched::current_qos() }))
            .unwrap(),
        Some(Qos::Default)
    );
    assert_eq!(
        rt.block_on(async { hetsched::spawn(async { hetsched::current_qos() }).await })
            .unwrap(),
        Some(Qos::Default)
    );
    for qos in Qos::ALL {
        let (outer, inner, grandchild, handle_spawned, explicit) = rt
            .block_on(rt.spawn_with(qos, async move {
                let inner = hetsched::spawn(async {
                    let grandchild = hetsched::spawn(async { hetsched::current_qos() });
                    (hetsched::current_qos(), grandchild.await.unwrap())
                })
                .await
                .unwrap();
                let via_handle = hetsched::Handle::current()
                    .spawn(async { hetsched::current_qos() })
                    .await
                    .unwrap();
                let handle = hetsched::spawn_with(Qos::Utility, async { hetsched::current_qos() });
                let at_spawn = handle.qos();
                let explicit = (at_spawn, handle.await.unwrap());
                (
                    hetsched::current_qos(),
                    inner.0,
                    inner.1,
                    via_handle,
                    explicit,
                )
            }))
            .unwrap();
        assert_eq!(
            [outer, inner, grandchild, handle_spawned],
            [Some(qos); 4],
            "inheritance from {qos}"
        );
        // Exact at spawn; awaiting it from a more urgent task may raise it (escalation)
        // before or after its poll, never lower it.
        let (at_spawn, ran_at) = explicit;
        assert_eq!(at_spawn, Qos::Utility);
        let raised = if qos.urgency() > Qos::Utility.urgency() {
            qos
        } else {
            Qos::Utility
        };
        assert!(
            ran_at == Some(Qos::Utility) || ran_at == Some(raised),
            "spawned at Utility by a {qos} task, ran at {ran_at:?}"
        );
    }
}

/// Invariant 4 (found in review): two tasks waking each other through the LIFO slot must
/// not starve the worker's own queue; the slot serves at most MAX_LIFO_STREAK polls in a
/// row on *every* lane, not only on the worker's first lane.
#[test]
fn lifo_ping_pong_cannot_starve_the_local_queue() {
    use futures::StreamExt;
    let rt = common::one_worker_runtime();
    const ROUNDS: u64 = 20_000;
    let rounds = Arc::new(AtomicUsize::new(0));
    let seen_at = rt
        .block_on(rt.spawn({
            let rounds = rounds.clone();
            async move {
                let (tx_a, mut rx_a) = futures::channel::mpsc::unbounded::<()>();
                let (tx_b, mut rx_b) = futures::channel::mpsc::unbounded::<()>();
                let echo = hetsched::spawn(async move {
                    while rx_b.next().await.is_some() {
                        if tx_a.unbounded_send(()).is_err() {
                            break;
                        }
                    }
                });
                let pinger = hetsched::spawn({
                    let rounds = rounds.clone();
                    async move {
                        for _ in 0..ROUNDS {
                            tx_b.unbounded_send(()).unwrap();
                            rx_a.next().await.unwrap();
                            rounds.fetch_add(1, SeqCst);
                        }
                    }
                });
                // Queued behind the ping-pong in the same worker's Default queue.
                let bystander = hetsched::spawn({
                    let rounds = rounds.clone();
                    async move { rounds.load(SeqCst) }
                });
                pinger.await.unwrap();
                drop(echo);
                bystander.await.unwrap()
            }
        }))
        .unwrap();
    assert!(
        seen_at < 100,
        "the queued task ran only after {seen_at} of {ROUNDS} ping-pong rounds"
    );
}

/// Invariant 3/6 (found in review): when the last searcher passes the baton, it wakes a
/// worker for every lane with waiting work — not only the first lane, which may be one no
/// sleeper can run (critical work queued on a busy P worker) — so background work does not
/// wait for a running Utility task while an E worker sleeps.
#[test]
fn background_work_does_not_wait_behind_a_running_task_while_an_e_worker_sleeps() {
    let rt = Builder::new()
        .topology(common::two_class_topology())
        .workers(CoreClass::Performance, 1)
        .workers(CoreClass::Efficiency, 2)
        .build()
        .unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let _release = ReleaseOnDrop(release.clone());
    // Occupy the only P worker (Interactive: only P may run it), with a critical task
    // queued behind it in its own queue.
    let busy = {
        let (release, started) = (release.clone(), started.clone());
        rt.spawn_with(Qos::Interactive, async move {
            let _critical = hetsched::spawn_with(Qos::Interactive, async {});
            started.store(true, SeqCst);
            spin_until(&release);
        })
    };
    wait_until("the P worker is busy", || started.load(SeqCst));
    for round in 0..10 {
        wait_until("both E workers sleep", || {
            let m = rt.metrics();
            m.workers
                .iter()
                .filter(|w| w.class == CoreClass::Efficiency)
                .all(|w| w.parks > w.unparks)
        });
        // The Utility task runs until the background task has run (or a 2 s guard, far
        // longer than an idle E worker needs to wake up).
        let background_ran = Arc::new(AtomicBool::new(false));
        let utility = {
            let background_ran = background_ran.clone();
            rt.spawn_with(Qos::Utility, async move {
                let deadline = Instant::now() + Duration::from_secs(2);
                while !background_ran.load(SeqCst) && Instant::now() < deadline {
                    std::hint::spin_loop();
                }
                background_ran.load(SeqCst)
            })
        };
        let background = {
            let background_ran = background_ran.clone();
            rt.spawn_with(Qos::Background, async move {
                background_ran.store(true, SeqCst);
            })
        };
        rt.block_on(background).unwrap();
        assert!(
            rt.block_on(utility).unwrap(),
            "round {round}: background work waited for the running Utility task"
        );
    }
    release.store(true, SeqCst);
    rt.block_on(busy).unwrap();
}
