//! Timers: accuracy as a statistic over many timers, cancel and drop, lanes after a timer
//! wake, timeout and interval semantics.

mod common;

use common::{runtime, wait_until};
use hetsched::time::{self, MissedTickBehavior};
use hetsched::{CoreClass, Qos};
use std::time::{Duration, Instant};

/// 1,000 concurrent timers of 1-50 ms: none fires early, and the typical (median)
/// lateness is under a millisecond. The tail is reported, not asserted: the machine is
/// shared and noisy.
#[test]
fn timers_fire_on_time_as_a_statistic() {
    let rt = runtime(1, 1);
    let handles: Vec<_> = (0..1000u64)
        .map(|i| {
            let qos = Qos::ALL[(i % 5) as usize];
            rt.spawn_with(qos, async move {
                let wanted = Duration::from_millis(1 + (i * 7919) % 50);
                let start = Instant::now();
                time::sleep(wanted).await;
                start.elapsed().as_nanos() as i128 - wanted.as_nanos() as i128
            })
        })
        .collect();
    let mut lateness: Vec<i128> = handles
        .into_iter()
        .map(|h| rt.block_on(h).unwrap())
        .collect();
    lateness.sort();
    assert!(lateness[0] >= 0, "a timer fired {} ns early", -lateness[0]);
    let median = lateness[lateness.len() / 2];
    let p99 = lateness[lateness.len() * 99 / 100];
    eprintln!(
        "timer lateness: median {median} ns, p99 {p99} ns, max {} ns",
        lateness[999]
    );
    assert!(median < 1_000_000, "median lateness {median} ns");
}

#[test]
fn dropped_and_cancelled_timers_leave_nothing_behind() {
    let rt = runtime(1, 1);
    let before = time::pending_timers();
    rt.block_on(async {
        let mut sleeps: Vec<_> = (0..500)
            .map(|_| Box::pin(time::sleep(Duration::from_secs(3600))))
            .collect();
        // Register them all (one poll each), then drop them.
        for s in sleeps.iter_mut() {
            assert!(futures::poll!(s.as_mut()).is_pending());
        }
        assert!(time::pending_timers() >= before + 500);
        drop(sleeps);
    });
    // Timeouts that won: their timers are cancelled too.
    for _ in 0..100 {
        assert_eq!(
            rt.block_on(time::timeout(Duration::from_secs(3600), async { 1 })),
            Ok(1)
        );
    }
    // Aborting a task that sleeps drops (and cancels) its timer.
    let task = rt.spawn(time::sleep(Duration::from_secs(3600)));
    wait_until("the task registered its timer", || {
        time::pending_timers() > before
    });
    task.abort();
    assert!(rt.block_on(task).unwrap_err().is_cancelled());
    // Other tests in this binary may hold timers meanwhile; ours are gone.
    wait_until("our timers are gone", || time::pending_timers() <= before);
}

#[test]
fn a_timer_wake_keeps_the_task_in_its_lane() {
    let rt = runtime(1, 1);
    for (qos, class) in [
        (Qos::Interactive, CoreClass::Performance),
        (Qos::UserInitiated, CoreClass::Performance),
        (Qos::Background, CoreClass::Efficiency),
    ] {
        let classes = rt
            .block_on(rt.spawn_with(qos, async {
                let mut seen = Vec::new();
                for _ in 0..20 {
                    time::sleep(Duration::from_millis(1)).await;
                    seen.push(hetsched::current_class());
                }
                seen
            }))
            .unwrap();
        assert!(
            classes.iter().all(|c| *c == Some(class)),
            "{qos}: {classes:?}"
        );
    }
}

#[test]
fn timeout_elapses_and_drops_the_future() {
    let rt = runtime(1, 1);
    let drops = common::DropCounter::default();
    let token = drops.token();
    let result = rt.block_on(time::timeout(Duration::from_millis(10), async move {
        let _token = token;
        std::future::pending::<()>().await
    }));
    let err = result.unwrap_err();
    assert_eq!(err.to_string(), "deadline has elapsed");
    assert_eq!(drops.get(), 1);
    let io: std::io::Error = err.into();
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    // A ready future wins even with a zero timeout.
    assert_eq!(
        rt.block_on(time::timeout(Duration::ZERO, async { 3 })),
        Ok(3)
    );
}

#[test]
fn interval_ticks_at_the_period_and_handles_missed_ticks() {
    let rt = runtime(1, 1);
    rt.block_on(async {
        let period = Duration::from_millis(5);
        let mut ticker = time::interval(period);
        let start = ticker.tick().await;
        for n in 1..=5u32 {
            let at = ticker.tick().await;
            assert_eq!(at, start + period * n, "ticks are scheduled on the grid");
            assert!(Instant::now() >= at);
        }

        // Skip: after a stall of ~4 periods, the next tick is back on the grid, in the future.
        let mut skipping = time::interval(period);
        skipping.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let first = skipping.tick().await;
        std::thread::sleep(period * 4 + Duration::from_millis(1));
        let late = skipping.tick().await; // the missed one, at once
        assert_eq!(late, first + period);
        let next = skipping.tick().await;
        assert!(next > late + period, "missed ticks were skipped");
        assert_eq!((next - first).as_nanos() % period.as_nanos(), 0);

        // Delay: the next tick is one period after the late one fired.
        let mut delaying = time::interval(period);
        delaying.set_missed_tick_behavior(MissedTickBehavior::Delay);
        delaying.tick().await;
        std::thread::sleep(period * 3);
        delaying.tick().await;
        let fired = Instant::now();
        let next = delaying.tick().await;
        assert!(next >= fired + period - Duration::from_millis(1));
    });
}

#[test]
fn timers_work_outside_the_runtime_too() {
    let start = Instant::now();
    futures::executor::block_on(time::sleep(Duration::from_millis(5)));
    assert!(start.elapsed() >= Duration::from_millis(5));
}

/// A pending sleep that is reset keeps waking its task at the new deadline, even if the
/// task does not poll it again before going back to sleep (found in review).
#[test]
fn resetting_a_pending_sleep_keeps_it_registered() {
    struct ResetOnce {
        sleep: time::Sleep,
        reset: bool,
    }
    impl std::future::Future for ResetOnce {
        type Output = ();
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            if self.reset {
                return std::pin::Pin::new(&mut self.sleep).poll(cx);
            }
            // Register with a far deadline, then move it close and return without polling.
            assert!(std::pin::Pin::new(&mut self.sleep).poll(cx).is_pending());
            self.reset = true;
            let soon = Instant::now() + Duration::from_millis(5);
            self.sleep.reset(soon);
            std::task::Poll::Pending
        }
    }
    let rt = runtime(1, 1);
    let woke = rt.block_on(rt.spawn(time::timeout(
        Duration::from_secs(10),
        ResetOnce {
            sleep: time::sleep(Duration::from_secs(3600)),
            reset: false,
        },
    )));
    assert_eq!(woke.unwrap(), Ok(()), "the reset sleep never woke its task");
}
