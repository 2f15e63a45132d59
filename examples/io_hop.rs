//! What a socket round trip costs a task, by who drives the I/O: sequential 64-byte
//! round trips on loopback to a plain-thread echo server, from a task on
//!
//! - tokio (its workers drive tokio's reactor),
//! - hetsched with `Builder::tokio_context` and `drive_io` (a tokio socket: the workers
//!   drive tokio's reactor),
//! - hetsched with `Builder::tokio_context`, `drive_io(false)` (a tokio socket: tokio's
//!   own thread drives the reactor and wakes the hetsched task: one hop),
//! - hetsched with async-net, idle workers driving async-io's reactor (`drive_io`, default),
//! - hetsched with async-net, `drive_io(false)` (async-io's thread: one hop).
//!
//! ```text
//! cargo run --release --example io_hop            # 5,000 round trips each
//! ```

use hdrhistogram::Histogram;
use hetsched::{CoreClass, Qos};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const ROUNDS: usize = 5_000;

type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Duration>> + Send>>;
const MESSAGE: [u8; 64] = [7; 64];

/// A blocking echo server on its own thread, one connection at a time.
fn echo_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_nodelay(true);
            let mut buf = [0u8; 64];
            while stream.read_exact(&mut buf).is_ok() {
                if stream.write_all(&buf).is_err() {
                    break;
                }
            }
        }
    });
    addr
}

fn report(name: &str, rtts: &[Duration]) {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
    for rtt in rtts {
        h.saturating_record(rtt.as_nanos() as u64);
    }
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1e3;
    println!(
        "{name:<38} p50 {:>6.1} µs  p99 {:>6.1} µs  p99.9 {:>6.1} µs",
        us(0.5),
        us(0.99),
        us(0.999)
    );
}

async fn tokio_rounds(addr: SocketAddr) -> Vec<Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut buf = [0u8; 64];
    let mut rtts = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        stream.write_all(&MESSAGE).await.expect("write");
        stream.read_exact(&mut buf).await.expect("read");
        rtts.push(start.elapsed());
    }
    rtts
}

async fn async_net_rounds(addr: SocketAddr) -> Vec<Duration> {
    use futures::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = async_net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut buf = [0u8; 64];
    let mut rtts = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        stream.write_all(&MESSAGE).await.expect("write");
        stream.read_exact(&mut buf).await.expect("read");
        rtts.push(start.elapsed());
    }
    rtts
}

fn hetsched(drive_io: bool, tokio_context: bool) -> hetsched::Runtime {
    hetsched::Builder::new()
        .workers(CoreClass::Performance, 2)
        .drive_io(drive_io)
        .tokio_context(tokio_context)
        .build()
        .expect("hetsched")
}

fn main() {
    let addr = echo_server();
    println!("{ROUNDS} sequential 64-byte round trips on loopback, per client:");
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let rtts = tokio
        .block_on(tokio.spawn(tokio_rounds(addr)))
        .expect("task");
    report("tokio task, tokio socket", &rtts);
    drop(tokio);

    let hetsched_clients: [(&str, bool, bool); 4] = [
        ("hetsched task, tokio socket, drive_io", true, true),
        ("hetsched task, tokio socket, no drive_io", false, true),
        ("hetsched task, async-net, drive_io", true, false),
        ("hetsched task, async-net, no drive_io", false, false),
    ];
    for (name, drive_io, tokio_socket) in hetsched_clients {
        let rt = hetsched(drive_io, tokio_socket);
        let rounds: BoxFuture = if tokio_socket {
            Box::pin(tokio_rounds(addr))
        } else {
            Box::pin(async_net_rounds(addr))
        };
        let rtts = rt
            .block_on(rt.spawn_with(Qos::Interactive, rounds))
            .expect("task");
        report(name, &rtts);
    }
}
