//! Embedding hetsched in an application: an interactive request path and a background
//! batch job share one runtime; at the end the program prints where each lane's work ran.
//!
//! ```text
//! # On a real hybrid machine the classes are detected; on any machine you can declare them:
//! HETSCHED_P_CPUS=0 HETSCHED_E_CPUS=1 cargo run --release --example embedding
//! ```
//!
//! The request path runs at `Interactive` (handlers spawned by the server inherit it), so
//! it is polled only on performance workers; the batch job runs at `Background`, so it
//! stays on efficiency workers whenever the runtime has any.

use futures::channel::{mpsc, oneshot};
use futures::StreamExt;
use hetsched::{CoreClass, Lane, Qos, Runtime};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A request from a client thread, answered through `reply`.
struct Request {
    payload: u64,
    sent: Instant,
    reply: oneshot::Sender<(u64, Duration)>,
}

/// A small piece of CPU work standing in for a real handler or batch step.
fn crunch(seed: u64, rounds: u32) -> u64 {
    (0..rounds).fold(seed, |acc, i| {
        acc.rotate_left(5) ^ (acc.wrapping_mul(0x9E37_79B9_7F4A_7C15) + u64::from(i))
    })
}

fn main() -> std::io::Result<()> {
    let rt = Runtime::new()?; // detection + HETSCHED_* from the environment
    let stop = Arc::new(AtomicBool::new(false));
    let batch_chunks = Arc::new(AtomicU64::new(0));

    // The background batch job: four workers crunching chunks, yielding between them.
    let batch: Vec<_> = (0..4)
        .map(|i| {
            let (stop, chunks) = (stop.clone(), batch_chunks.clone());
            rt.spawn_with(Qos::Background, async move {
                let mut acc = i;
                while !stop.load(Ordering::Relaxed) {
                    acc = crunch(acc, 20_000);
                    chunks.fetch_add(1, Ordering::Relaxed);
                    hetsched::yield_now().await;
                }
                acc
            })
        })
        .collect();

    // The interactive path: a server task that spawns one handler per request.
    let (requests_tx, mut requests_rx) = mpsc::unbounded::<Request>();
    let server = rt.spawn_with(Qos::Interactive, async move {
        while let Some(request) = requests_rx.next().await {
            // A plain spawn inherits Interactive from the server.
            hetsched::spawn(async move {
                let answer = crunch(request.payload, 2_000);
                let _ = request.reply.send((answer, request.sent.elapsed()));
            });
        }
    });

    // A client thread sends requests at about 1 kHz and waits for each answer.
    let client = std::thread::spawn(move || {
        let mut latencies = Vec::new();
        for payload in 0..2_000u64 {
            let (reply, answer) = oneshot::channel();
            let sent = Instant::now();
            requests_tx
                .unbounded_send(Request {
                    payload,
                    sent,
                    reply,
                })
                .expect("server is running");
            let (_, latency) = futures::executor::block_on(answer).expect("handler replied");
            latencies.push(latency);
            std::thread::sleep(Duration::from_millis(1));
        }
        latencies
    });

    let mut latencies = client.join().expect("client thread");
    stop.store(true, Ordering::Relaxed);
    rt.block_on(server).expect("server task");
    for job in batch {
        rt.block_on(job).expect("batch task");
    }

    latencies.sort();
    let pct = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "requests: {}  latency p50 {:?}  p99 {:?}  max {:?}",
        latencies.len(),
        pct(0.50),
        pct(0.99),
        latencies.last().copied().unwrap_or_default()
    );
    println!(
        "batch chunks done: {}",
        batch_chunks.load(Ordering::Relaxed)
    );

    let metrics = rt.metrics();
    println!("where each lane's work ran (polls):");
    println!(
        "  {:<11} {:>12} {:>12}",
        "lane", "performance", "efficiency"
    );
    for lane in Lane::ALL {
        let polls = |class: CoreClass| -> u64 {
            metrics
                .workers
                .iter()
                .filter(|w| w.class == class)
                .map(|w| w.polls_by_lane[lane.index()])
                .sum()
        };
        println!(
            "  {:<11} {:>12} {:>12}",
            lane.as_str(),
            polls(CoreClass::Performance),
            polls(CoreClass::Efficiency)
        );
    }
    for w in &metrics.workers {
        if let Some(h) = &w.hints {
            println!("  {}: pin {}, qos hint {}", w.name, h.pin, h.qos);
        }
    }
    Ok(())
}
