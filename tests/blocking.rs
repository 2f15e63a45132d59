//! The blocking pool: results, growth up to the cap, shrink after keep-alive, abort,
//! panics, shutdown.

mod common;

use common::wait_until;

use hetsched::Builder;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::time::Duration;

fn rt(max: usize, keep_alive: Duration) -> hetsched::Runtime {
    Builder::new()
        .topology(common::homogeneous_topology(1))
        .max_blocking_threads(max)
        .blocking_keep_alive(keep_alive)
        .build()
        .unwrap()
}

#[test]
fn blocking_jobs_run_off_the_workers_and_return_their_result() {
    let rt = rt(4, Duration::from_secs(10));
    let (class, name) = rt
        .block_on(rt.spawn(async {
            hetsched::spawn_blocking(|| {
                (
                    hetsched::current_class(),
                    std::thread::current().name().map(str::to_string),
                )
            })
            .await
        }))
        .unwrap()
        .unwrap();
    assert_eq!(class, None, "not on a worker");
    assert!(name.unwrap().starts_with("hetsched-blocking-"));
    // A blocking job can spawn onto its runtime.
    let v = rt
        .block_on(rt.spawn_blocking(|| hetsched::spawn(async { 21 * 2 })))
        .unwrap();
    assert_eq!(rt.block_on(v).unwrap(), 42);
}

#[test]
fn the_pool_grows_to_the_cap_and_no_further() {
    let rt = rt(4, Duration::from_secs(10));
    // Four jobs that can only finish together: the pool must grow to four threads.
    let barrier = Arc::new(Barrier::new(4));
    let together: Vec<_> = (0..4)
        .map(|_| {
            let barrier = barrier.clone();
            rt.spawn_blocking(move || {
                barrier.wait();
            })
        })
        .collect();
    for h in together {
        rt.block_on(h).unwrap();
    }
    // Twenty jobs: never more than four run at once.
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..20)
        .map(|_| {
            let (running, peak) = (running.clone(), peak.clone());
            rt.spawn_blocking(move || {
                let now = running.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                std::thread::sleep(Duration::from_millis(5));
                running.fetch_sub(1, SeqCst);
            })
        })
        .collect();
    let m = rt.metrics();
    assert!(m.blocking.threads <= 4);
    for h in jobs {
        rt.block_on(h).unwrap();
    }
    assert_eq!(peak.load(SeqCst), 4);
    assert_eq!(rt.metrics().blocking.threads, 4);
}

#[test]
fn idle_threads_exit_after_the_keep_alive() {
    let rt = rt(8, Duration::from_millis(50));
    let barrier = Arc::new(Barrier::new(3));
    let jobs: Vec<_> = (0..3)
        .map(|_| {
            let barrier = barrier.clone();
            rt.spawn_blocking(move || {
                barrier.wait();
            })
        })
        .collect();
    for h in jobs {
        rt.block_on(h).unwrap();
    }
    assert_eq!(rt.metrics().blocking.threads, 3);
    wait_until("idle blocking threads exit", || {
        rt.metrics().blocking.threads == 0
    });
    // And the pool grows again on demand.
    assert_eq!(rt.block_on(rt.spawn_blocking(|| 7)).unwrap(), 7);
}

#[test]
fn abort_before_start_cancels_and_panics_become_join_errors() {
    let rt = rt(1, Duration::from_secs(10));
    let gate = Arc::new(Barrier::new(2));
    let blocker = {
        let gate = gate.clone();
        rt.spawn_blocking(move || {
            gate.wait();
        })
    };
    // The only thread is busy: this job is queued, and aborting it cancels it.
    let drops = common::DropCounter::default();
    let token = drops.token();
    let queued = rt.spawn_blocking(move || {
        let _token = token;
        unreachable!("an aborted job must not run")
    });
    queued.abort();
    gate.wait();
    rt.block_on(blocker).unwrap();
    assert!(rt.block_on(queued).unwrap_err().is_cancelled());
    assert_eq!(drops.get(), 1);

    let err = rt
        .block_on(rt.spawn_blocking(|| panic!("disk on fire")))
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.to_string(), "task panicked: disk on fire");
    assert_eq!(
        rt.block_on(rt.spawn_blocking(|| 1)).unwrap(),
        1,
        "the pool survived"
    );
}

#[test]
fn shutdown_drops_queued_jobs_and_lets_running_ones_finish() {
    let rt = rt(1, Duration::from_secs(10));
    let started = Arc::new(Barrier::new(2));
    let finished = Arc::new(AtomicUsize::new(0));
    let running = {
        let (started, finished) = (started.clone(), finished.clone());
        rt.spawn_blocking(move || {
            started.wait();
            std::thread::sleep(Duration::from_millis(20));
            finished.fetch_add(1, SeqCst);
            "done"
        })
    };
    let queued = rt.spawn_blocking(|| "never");
    started.wait();
    drop(rt);
    assert!(futures::executor::block_on(queued)
        .unwrap_err()
        .is_cancelled());
    assert_eq!(futures::executor::block_on(running).unwrap(), "done");
    assert_eq!(finished.load(SeqCst), 1);
}

#[test]
fn a_spawn_inside_a_blocking_job_inherits_the_callers_qos() {
    let rt = rt(2, Duration::from_secs(10));
    let qos = rt
        .block_on(rt.spawn_with(hetsched::Qos::Utility, async {
            let inner =
                hetsched::spawn_blocking(|| hetsched::spawn(async { hetsched::current_qos() }))
                    .await
                    .unwrap();
            inner.await.unwrap()
        }))
        .unwrap();
    assert_eq!(qos, Some(hetsched::Qos::Utility));
}

/// Dropping the runtime waits for running blocking jobs, as tokio's does: when the drop
/// returns, no thread of the runtime runs user code any more (issue 16, item 5).
#[test]
fn dropping_the_runtime_waits_for_running_blocking_jobs() {
    let rt = rt(2, Duration::from_secs(10));
    let started = Arc::new(Barrier::new(3));
    let finished = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..2)
        .map(|_| {
            let (started, finished) = (started.clone(), finished.clone());
            rt.spawn_blocking(move || {
                started.wait();
                std::thread::sleep(Duration::from_millis(50));
                finished.fetch_add(1, SeqCst);
            })
        })
        .collect();
    started.wait();
    drop(rt);
    assert_eq!(
        finished.load(SeqCst),
        2,
        "the drop returned before the jobs did"
    );
    for job in jobs {
        assert!(job.is_finished());
        futures::executor::block_on(job).unwrap();
    }
}

/// `shutdown_timeout` bounds that wait: a job still running after it is left to finish.
#[test]
fn shutdown_timeout_leaves_a_stuck_blocking_job_running() {
    let rt = rt(1, Duration::from_secs(10));
    let release = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Arc::new(Barrier::new(2));
    let job = {
        let (release, started) = (release.clone(), started.clone());
        rt.spawn_blocking(move || {
            started.wait();
            // Bounded, so that a shutdown that waits for ever fails instead of hanging.
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while !release.load(SeqCst) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            release.load(SeqCst)
        })
    };
    started.wait();
    rt.shutdown_timeout(Duration::from_millis(20));
    assert!(
        !job.is_finished(),
        "shutdown_timeout waited for the stuck job"
    );
    release.store(true, SeqCst);
    assert!(futures::executor::block_on(job).unwrap());
}

/// Dropped from inside one of its own blocking jobs, the runtime waits for its other
/// threads but not for the calling one (which would never end).
#[test]
fn dropping_the_runtime_inside_its_own_blocking_job_does_not_wait_for_itself() {
    let rt = rt(2, Duration::from_secs(10));
    let handle = rt.handle();
    let job = handle.spawn_blocking(move || drop(rt));
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(futures::executor::block_on(job).is_ok());
    });
    let done = done_rx.recv_timeout(Duration::from_secs(20));
    assert_eq!(done, Ok(true), "the drop inside the blocking job hung");
}
