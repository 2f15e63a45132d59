//! A TCP echo server on hetsched, with the smol I/O stack (`async-net` on `async-io`).
//!
//! ```text
//! cargo run --release --example echo                 # serves on 127.0.0.1:7000 until Ctrl-C
//! cargo run --release --example echo -- --selftest   # serve on a free port, run 200 clients, exit
//! cargo run --release --example echo -- --pingpong   # one client, sequential round trips:
//!                                                    # hetsched vs a thread that drives the reactor itself
//! ```
//!
//! hetsched needs no I/O integration of its own: async-io's reactor runs on its own
//! `async-io` thread and wakes tasks through their wakers, and a woken task is scheduled in
//! its lane like any other (so connection handlers spawned at `Interactive` stay on
//! performance cores).

use async_net::{TcpListener, TcpStream};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use hetsched::Qos;
use std::time::{Duration, Instant};

async fn serve(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        // Connection handlers are latency-critical: Interactive lane.
        hetsched::spawn_with(Qos::Interactive, async move {
            let _ = echo(stream).await;
        });
    }
}

async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// One client: `rounds` messages, each echoed back intact. Returns the round-trip times.
async fn client(
    addr: std::net::SocketAddr,
    id: usize,
    rounds: usize,
) -> std::io::Result<Vec<Duration>> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut rtts = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let len = 1 + (id * 31 + round * 17) % 2048;
        let message: Vec<u8> = (0..len).map(|i| (i + id + round) as u8).collect();
        let start = Instant::now();
        stream.write_all(&message).await?;
        let mut back = vec![0u8; len];
        stream.read_exact(&mut back).await?;
        rtts.push(start.elapsed());
        if back != message {
            return Err(std::io::Error::other(format!(
                "client {id}: echo mismatch in round {round}"
            )));
        }
    }
    Ok(rtts)
}

/// Sequential round trips of one small message: client and server in one executor.
async fn pingpong(rounds: usize) -> std::io::Result<Vec<Duration>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = async move {
        let (stream, _) = listener.accept().await?;
        echo(stream).await
    };
    let client = async move {
        let mut stream = TcpStream::connect(addr).await?;
        let mut rtts = Vec::with_capacity(rounds);
        let mut buf = [0u8; 64];
        for _ in 0..rounds {
            let start = Instant::now();
            stream.write_all(&buf).await?;
            stream.read_exact(&mut buf).await?;
            rtts.push(start.elapsed());
        }
        Ok::<_, std::io::Error>(rtts)
    };
    let server = hetsched_or_local_spawn(server);
    let rtts = client.await?;
    drop(server);
    Ok(rtts)
}

/// Run the server side concurrently: on hetsched when inside it, else on a helper thread
/// that drives its own `async_io::block_on` (so the reactor is driven by that thread).
fn hetsched_or_local_spawn(
    server: impl std::future::Future<Output = std::io::Result<()>> + Send + 'static,
) -> Box<dyn std::any::Any + Send> {
    match hetsched::Handle::try_current() {
        Ok(handle) => Box::new(handle.spawn(server)),
        Err(_) => Box::new(std::thread::spawn(move || async_io::block_on(server))),
    }
}

fn report(label: &str, mut rtts: Vec<Duration>) {
    rtts.sort();
    println!(
        "{label:<44} p50 {:>9.1?}  p99 {:>9.1?}",
        rtts[rtts.len() / 2],
        rtts[rtts.len() * 99 / 100]
    );
}

fn main() -> std::io::Result<()> {
    let selftest = std::env::args().any(|a| a == "--selftest");
    if std::env::args().any(|a| a == "--pingpong") {
        let rounds = 20_000;
        let rt = hetsched::Runtime::new()?;
        report(
            "hetsched (reactor on the async-io thread)",
            rt.block_on(rt.spawn(pingpong(rounds)))
                .map_err(std::io::Error::from)??,
        );
        report(
            "async_io::block_on (threads drive the reactor)",
            async_io::block_on(pingpong(rounds))?,
        );
        return Ok(());
    }
    let rt = hetsched::Runtime::new()?;
    rt.block_on(async {
        let addr = if selftest {
            "127.0.0.1:0"
        } else {
            "127.0.0.1:7000"
        };
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let server = hetsched::spawn(serve(listener));
        if !selftest {
            println!(
                "echo server on {addr}; try: nc {} {}",
                addr.ip(),
                addr.port()
            );
            return server.await.map_err(std::io::Error::from)?;
        }
        let clients: Vec<_> = (0..200)
            .map(|id| hetsched::spawn(client(addr, id, 50)))
            .collect();
        let mut rtts = Vec::new();
        for c in clients {
            rtts.extend(c.await.map_err(std::io::Error::from)??);
        }
        server.abort();
        rtts.sort();
        println!(
            "{} round trips by 200 concurrent clients: p50 {:?}, p99 {:?}",
            rtts.len(),
            rtts[rtts.len() / 2],
            rtts[rtts.len() * 99 / 100]
        );
        Ok(())
    })
}
