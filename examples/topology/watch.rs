//! `topology --watch SECS`: a runtime on this host (HETSCHED_* honoured) runs tasks of
//! every Qos while the tool prints where each worker runs, every time the CPUs the process
//! may use change (`Builder::cpu_check_interval`; see `runtime/cpu_watch.rs`). What
//! `scripts/cpuset_shrink.sh` runs inside a cgroup whose cpuset it shrinks and regrows.

use hetsched::{Builder, Qos, RuntimeMetrics};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the workers run, as one comparable value: allowed CPUs, the idle spin that follows
/// them, and per worker its CPUs now and whether it is displaced.
type Placement = (Option<String>, Duration, Vec<(String, String, bool)>);

fn placement(m: &RuntimeMetrics) -> Placement {
    let workers = m
        .workers
        .iter()
        .map(|w| (w.name.clone(), w.cpus_now.clone(), w.displaced))
        .collect();
    (m.allowed_cpus.clone(), m.idle_spin, workers)
}

fn describe(m: &RuntimeMetrics) -> String {
    let workers: Vec<String> = m
        .workers
        .iter()
        .map(|w| {
            let cpus = if w.cpus_now.is_empty() {
                "any"
            } else {
                &w.cpus_now
            };
            let displaced = if w.displaced { " displaced" } else { "" };
            format!("{} on {cpus}{displaced}", w.name)
        })
        .collect();
    format!(
        "allowed {}  changes {}  idle spin {:?}  {}",
        m.allowed_cpus.as_deref().unwrap_or("?"),
        m.cpu_set_changes,
        m.idle_spin,
        workers.join(", ")
    )
}

/// Run for `secs`; true if tasks completed after every change seen.
pub fn run(secs: u64, as_json: bool) -> Result<bool, String> {
    let rt = Builder::from_env()
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // The load: batches of one task per Qos, each a fixed amount of work, one batch at a
    // time (so a stalled lane stalls the count).
    let driver = {
        let (handle, done, stop) = (rt.handle(), done.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Relaxed) {
                let batch: Vec<_> = Qos::ALL
                    .into_iter()
                    .map(|qos| {
                        let done = done.clone();
                        handle.spawn_with(qos, async move {
                            let mut x = 0u64;
                            for i in 0..20_000u64 {
                                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                            }
                            done.fetch_add(1, Relaxed);
                            x
                        })
                    })
                    .collect();
                for task in batch {
                    let _ = futures::executor::block_on(task);
                }
            }
        })
    };
    let start = Instant::now();
    let mut events = Vec::new();
    let mut last = None;
    let mut healthy = true;
    let mut done_at_change = 0;
    if !as_json {
        println!(
            "watching for {secs} s (a runtime on defaults and HETSCHED_*; tasks of every Qos)"
        );
    }
    while start.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(20));
        let m = rt.metrics();
        let now = placement(&m);
        if last.as_ref() != Some(&now) {
            let t = start.elapsed().as_secs_f64();
            let tasks = done.load(Relaxed);
            if last.is_some() {
                done_at_change = tasks;
            }
            if as_json {
                events.push(json!({
                    "at_s": t,
                    "allowed_cpus": m.allowed_cpus,
                    "cpu_set_changes": m.cpu_set_changes,
                    "idle_spin_us": m.idle_spin.as_micros() as u64,
                    "tasks_done": tasks,
                    "workers": m.workers.iter().map(|w| json!({
                        "name": w.name, "class": w.class.to_string(), "cpus": w.cpus,
                        "cpus_now": w.cpus_now, "displaced": w.displaced, "repins": w.repins,
                        "repin": w.repin.as_ref().map(|o| o.to_string()),
                    })).collect::<Vec<_>>(),
                }));
            } else {
                println!("{t:7.2} s  {}  tasks done {tasks}", describe(&m));
            }
            last = Some(now);
        }
    }
    let total = done.load(Relaxed);
    let after = total - done_at_change;
    let changes = rt.metrics().cpu_set_changes;
    if changes > 0 && after == 0 {
        healthy = false;
    }
    stop.store(true, Relaxed);
    driver
        .join()
        .map_err(|_| "the load thread panicked".to_string())?;
    if as_json {
        println!(
            "{:#}",
            json!({"watched_s": secs, "cpu_set_changes": changes, "tasks_done": total,
                   "tasks_done_after_last_change": after, "events": events})
        );
    } else {
        println!(
            "watched {secs} s: {changes} change(s) of the allowed CPUs, {total} tasks done, \
             {after} after the last change"
        );
    }
    Ok(healthy)
}
