//! The tokio context (feature `tokio`, `Builder::tokio_context`): tokio's timers and
//! sockets work inside hetsched tasks and in `block_on`, on every lane; without the option
//! there is no tokio context at all; with `drive_io` the workers drive tokio's reactor,
//! without it tokio's own thread does.
#![cfg(all(feature = "tokio", not(miri)))]

mod common;

use hetsched::{Builder, CoreClass, Qos};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn tokio_sleep_and_a_tokio_tcp_stream_work_inside_hetsched_tasks() {
    let rt = common::two_class_builder()
        .tokio_context(true)
        .build()
        .unwrap();
    for qos in [Qos::Interactive, Qos::Default, Qos::Background] {
        let (class, echoed) = rt
            .block_on(rt.spawn_with(qos, async {
                let start = Instant::now();
                tokio::time::sleep(Duration::from_millis(5)).await;
                assert!(start.elapsed() >= Duration::from_millis(5));
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let server = hetsched::spawn(async move {
                    let (mut socket, _) = listener.accept().await.unwrap();
                    let mut buf = [0u8; 5];
                    socket.read_exact(&mut buf).await.unwrap();
                    socket.write_all(&buf).await.unwrap();
                });
                let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
                client.write_all(b"hello").await.unwrap();
                let mut buf = [0u8; 5];
                client.read_exact(&mut buf).await.unwrap();
                server.await.unwrap();
                (hetsched::current_class(), buf)
            }))
            .unwrap();
        assert_eq!(&echoed, b"hello", "{qos:?}");
        // The task stayed in its lane: tokio only drove the I/O and the timer.
        let want = if qos == Qos::Background {
            hetsched::CoreClass::Efficiency
        } else if qos.is_latency_critical() {
            hetsched::CoreClass::Performance
        } else {
            class.unwrap()
        };
        assert_eq!(class, Some(want), "{qos:?}");
    }
    // block_on's thread has the context too (while it runs: tokio's futures look for the
    // context when they are created, so create them inside).
    rt.block_on(async { tokio::time::sleep(Duration::from_millis(1)).await });
}

#[test]
fn without_the_option_there_is_no_tokio_context() {
    let rt = common::two_class_builder().build().unwrap();
    let has_context = rt
        .block_on(rt.spawn(async { tokio::runtime::Handle::try_current().is_ok() }))
        .unwrap();
    assert!(!has_context);
    let rt = common::two_class_builder()
        .tokio_context(true)
        .build()
        .unwrap();
    let has_context = rt
        .block_on(rt.spawn(async { tokio::runtime::Handle::try_current().is_ok() }))
        .unwrap();
    assert!(has_context);
}

/// Threads that woke a tokio socket reader over `rounds` messages.
fn wakers_of_tokio_socket_reads(drive_io: bool, rounds: usize) -> Vec<String> {
    let rt = Builder::new()
        .topology(common::homogeneous_topology(2))
        .workers(CoreClass::Performance, 2)
        .drive_io(drive_io)
        .tokio_context(true)
        .thread_name("tk")
        .build()
        .unwrap();
    common::wakers_of_socket_reads(&rt, rounds, move |listener, recorded| async move {
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1];
        for _ in 0..rounds {
            common::Recording::new(stream.read_exact(&mut buf), &recorded)
                .await
                .unwrap();
        }
    })
}

/// With `drive_io` on, only the workers drive tokio's reactor (there is no tokio thread),
/// so every readiness wake comes from a worker; with it off, from tokio's own thread.
#[test]
fn workers_drive_tokio_only_with_drive_io() {
    let on = wakers_of_tokio_socket_reads(true, 20);
    assert!(!on.is_empty());
    assert!(
        on.iter().all(|n| n.starts_with("tk-p-")),
        "a socket read was woken off the workers with drive_io on: {on:?}"
    );
    let off = wakers_of_tokio_socket_reads(false, 20);
    assert!(!off.is_empty());
    assert!(
        off.iter().all(|n| n == "tk-tokio"),
        "a socket read was woken off tokio's thread with drive_io off: {off:?}"
    );
}

/// Workers that are all busy still run tokio's drivers (once every fair turn): a tokio
/// timer fires while every worker keeps polling yielding tasks, with none asleep.
#[test]
fn busy_workers_still_drive_tokio_timers() {
    let rt = Builder::new()
        .topology(common::homogeneous_topology(1))
        .workers(CoreClass::Performance, 1)
        .tokio_context(true)
        .build()
        .unwrap();
    let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = fired.clone();
    let spinner = rt.spawn(async move {
        // Yields (the worker never sleeps) until the timer below has fired, or gives up
        // after 10 s so that a runtime that never drives tokio fails this test, not hangs.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !seen.load(std::sync::atomic::Ordering::SeqCst) {
            if Instant::now() > deadline {
                return false;
            }
            hetsched::yield_now().await;
        }
        true
    });
    let done = fired.clone();
    drop(rt.spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    }));
    assert!(
        rt.block_on(spinner).unwrap(),
        "the tokio timer never fired while the only worker stayed busy"
    );
}
