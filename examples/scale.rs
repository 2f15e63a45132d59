//! Scale: memory and spawn / wake cost with 10^3 .. 10^6 live (pending) tasks, hetsched
//! next to tokio with the same worker count.
//!
//! ```text
//! cargo run --release --example scale              # 10^3, 10^4, 10^5, 10^6
//! cargo run --release --example scale -- 100000    # one size
//! ```
//!
//! Each task counts its first poll and then waits on a `futures` oneshot receiver (the same
//! for both runtimes, so its ~100 bytes are in both columns). `spawn` is from the first
//! spawn until every task has been polled once (all pending), per task; `wake` from the
//! first send until every task has finished, per task; `bytes/task` is the growth of the
//! process's resident set while the tasks are pending, per task. Run it alone on the machine.

#[path = "common/rss.rs"]
mod rss;

use futures::channel::oneshot;
use rss::rss_bytes;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

fn wait_until(counter: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while counter.load(Relaxed) < n && Instant::now() < deadline {
        std::thread::yield_now();
    }
}

struct Row {
    spawn_ns: f64,
    wake_ns: f64,
    bytes: f64,
}

fn measure(n: usize, spawn: &dyn Fn(BoxFuture)) -> Row {
    let polled = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::with_capacity(n);
    let before = rss_bytes();
    let start = Instant::now();
    for _ in 0..n {
        let (tx, rx) = oneshot::channel::<()>();
        senders.push(tx);
        let (polled, done) = (polled.clone(), done.clone());
        spawn(Box::pin(async move {
            polled.fetch_add(1, Relaxed);
            let _ = rx.await;
            done.fetch_add(1, Relaxed);
        }));
    }
    wait_until(&polled, n);
    let spawned = start.elapsed();
    let bytes = rss_bytes().saturating_sub(before) as f64 / n as f64;
    let start = Instant::now();
    for tx in senders {
        let _ = tx.send(());
    }
    wait_until(&done, n);
    let woken = start.elapsed();
    Row {
        spawn_ns: spawned.as_nanos() as f64 / n as f64,
        wake_ns: woken.as_nanos() as f64 / n as f64,
        bytes,
    }
}

/// One measurement in this process: `scale --child RUNTIME N` prints "spawn wake bytes".
fn child(runtime: &str, n: usize) -> Result<(), String> {
    let rt = hetsched::Builder::from_env()
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| format!("cannot start hetsched: {e}"))?;
    let workers = rt.metrics().workers.len();
    let row = match runtime {
        "hetsched" => measure(n, &|f| drop(rt.spawn(f))),
        "tokio" => {
            let tokio = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .build()
                .map_err(|e| format!("cannot start tokio: {e}"))?;
            measure(n, &|f| drop(tokio.spawn(f)))
        }
        other => {
            return Err(format!(
                "unknown runtime '{other}': expected hetsched or tokio"
            ))
        }
    };
    println!("{} {} {} {}", row.spawn_ns, row.wake_ns, row.bytes, workers);
    Ok(())
}

/// Run one measurement in a fresh process (so neither runtime inherits the other's heap).
fn in_child(runtime: &str, n: usize) -> Result<[f64; 4], String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(exe)
        .args(["--child", runtime, &n.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let values: Vec<f64> = text
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    values.try_into().map_err(|_| {
        format!(
            "the {runtime} run of {n} tasks failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

fn parse_count(arg: &str) -> Result<usize, String> {
    match arg.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "'{arg}' is not a task count: expected a whole number above 0"
        )),
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let runtime = args.get(1).ok_or("--child needs a runtime")?;
        let n = parse_count(args.get(2).ok_or("--child needs a task count")?)?;
        return child(runtime, n);
    }
    let sizes = match args.first() {
        Some(arg) => vec![parse_count(arg)?],
        None => vec![1_000, 10_000, 100_000, 1_000_000],
    };
    println!("per task: spawn until polled once, wake until finished (ns); resident-set growth while pending (bytes); each cell a fresh process");
    println!(
        "{:>9} {:>8} {:>15} {:>12} {:>14} {:>11} {:>11} {:>8}",
        "tasks",
        "workers",
        "hetsched spawn",
        "tokio spawn",
        "hetsched wake",
        "tokio wake",
        "hetsched B",
        "tokio B"
    );
    for n in sizes {
        let h = in_child("hetsched", n)?;
        let t = in_child("tokio", n)?;
        println!(
            "{:>9} {:>8} {:>15.0} {:>12.0} {:>14.0} {:>11.0} {:>11.0} {:>8.0}",
            n, h[3], h[0], t[0], h[1], t[1], h[2], t[2]
        );
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("scale: {e}");
        std::process::exit(2);
    }
}
