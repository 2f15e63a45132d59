//! Stuck polls (`runtime/stuck.rs`): a poll longer than `long_poll_threshold` is counted
//! per lane and reported once per task through `on_long_poll`, and while one worker is
//! stuck the others keep taking new work.

use hetsched::{Builder, CoreClass, Lane, LongPoll, Qos, Topology};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Two P workers on whatever CPUs this process may use (pinning falls back where it must).
fn two_workers() -> Builder {
    Builder::new()
        .topology(Topology::detect())
        .workers(CoreClass::Performance, 2)
        .workers(CoreClass::Efficiency, 0)
}

/// Block the calling worker until `release` is set (at most 20 s, so a broken test fails
/// instead of hanging).
fn block_until(release: &AtomicBool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !release.load(SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_stuck_task_is_counted_per_poll_and_reported_once() {
    let reports: Arc<Mutex<Vec<LongPoll>>> = Arc::default();
    let seen = reports.clone();
    let rt = two_workers()
        .long_poll_threshold(Duration::from_millis(20))
        .on_long_poll(move |stuck| seen.lock().unwrap().push(stuck.clone()))
        .build()
        .unwrap();
    // One Utility task that blocks its worker twice, yielding in between.
    rt.block_on(rt.spawn_with(Qos::Utility, async {
        std::thread::sleep(Duration::from_millis(150));
        hetsched::yield_now().await;
        std::thread::sleep(Duration::from_millis(150));
    }))
    .unwrap();
    // The watchdog sees the end of the second poll at its next sample.
    std::thread::sleep(Duration::from_millis(50));
    let metrics = rt.metrics();
    let utility = metrics.lane(Lane::Utility);
    assert_eq!(utility.long_polls, 2, "both 150 ms polls are counted");
    assert!(utility.longest_poll >= Duration::from_millis(20));
    assert!(utility.longest_poll <= Duration::from_millis(1_000));
    assert!(utility.long_poll_time >= Duration::from_millis(40));
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 1, "reported once per task: {reports:?}");
    assert_eq!(reports[0].lane, Lane::Utility);
    assert_eq!(reports[0].class, CoreClass::Performance);
    assert!(reports[0].worker.contains("-p-"), "{}", reports[0].worker);
    assert!(reports[0].running_for >= Duration::from_millis(20));
    for lane in [Lane::Critical, Lane::Default, Lane::Background] {
        assert_eq!(metrics.lane(lane).long_polls, 0, "{lane}");
    }
}

#[test]
fn polls_far_below_the_threshold_are_never_counted() {
    let rt = two_workers()
        .long_poll_threshold(Duration::from_millis(500))
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..2_000)
        .map(|i| rt.spawn(async move { std::hint::black_box(i * 2) }))
        .collect();
    for t in tasks {
        rt.block_on(t).unwrap();
    }
    assert!(rt.metrics().lanes.iter().all(|l| l.long_polls == 0));
}

#[test]
fn a_panicking_hook_does_not_stop_the_watchdog() {
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let rt = two_workers()
        .long_poll_threshold(Duration::from_millis(20))
        .on_long_poll(move |_| {
            *counted.lock().unwrap() += 1;
            panic!("a hook that panics");
        })
        .build()
        .unwrap();
    for _ in 0..2 {
        rt.block_on(rt.spawn(async { std::thread::sleep(Duration::from_millis(120)) }))
            .unwrap();
    }
    assert_eq!(*calls.lock().unwrap(), 2, "two stuck tasks, two reports");
    assert_eq!(rt.metrics().lane(Lane::Default).long_polls, 2);
}

#[test]
fn a_zero_threshold_turns_the_watchdog_off() {
    let rt = two_workers()
        .long_poll_threshold(Duration::ZERO)
        .on_long_poll(|_| panic!("never called"))
        .build()
        .unwrap();
    rt.block_on(rt.spawn(async { std::thread::sleep(Duration::from_millis(60)) }))
        .unwrap();
    assert_eq!(rt.metrics().lane(Lane::Default).long_polls, 0);
}

#[test]
fn while_one_worker_is_stuck_the_others_take_its_lanes_new_work() {
    let rt = two_workers()
        .long_poll_threshold(Duration::from_millis(20))
        .build()
        .unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let children_done = Arc::new(AtomicUsize::new(0));
    // The stuck task first spawns work of its own (into its worker's queue), then blocks.
    let own_spawns = {
        let (release, started, done) = (release.clone(), started.clone(), children_done.clone());
        rt.spawn(async move {
            let children: Vec<_> = (0..20u32)
                .map(|i| {
                    let done = done.clone();
                    hetsched::spawn(async move {
                        done.fetch_add(1, SeqCst);
                        i
                    })
                })
                .collect();
            started.store(true, SeqCst);
            block_until(&release);
            children
        })
    };
    while !started.load(SeqCst) {
        std::thread::yield_now();
    }
    // New work from outside, every lane a P-only runtime has, while the first worker is
    // stuck: the other worker takes it all (and steals the stuck task's own spawns).
    let outside: Vec<_> = Lane::ALL
        .iter()
        .flat_map(|_| {
            [
                Qos::Interactive,
                Qos::Default,
                Qos::Utility,
                Qos::Background,
            ]
        })
        .map(|qos| rt.spawn_with(qos, async { 7 }))
        .collect();
    for task in outside {
        assert_eq!(rt.block_on(task).unwrap(), 7);
    }
    // The stuck task's children finish too, before it is released.
    let deadline = Instant::now() + Duration::from_secs(20);
    while children_done.load(SeqCst) < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        children_done.load(SeqCst),
        20,
        "the stuck task's own spawns ran on the other worker"
    );
    // Stuck for well over the threshold by now: the watchdog has counted it.
    std::thread::sleep(Duration::from_millis(100));
    release.store(true, SeqCst);
    let children = rt.block_on(own_spawns).unwrap();
    for (i, child) in children.into_iter().enumerate() {
        assert_eq!(rt.block_on(child).unwrap(), i as u32);
    }
    assert!(rt.metrics().lane(Lane::Default).long_polls >= 1);
}
