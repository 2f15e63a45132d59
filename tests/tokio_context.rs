//! The tokio context (feature `tokio`, `Builder::tokio_context`): tokio's timers and
//! sockets work inside hetsched tasks and in `block_on`, on every lane; without the option
//! there is no tokio context at all.
#![cfg(all(feature = "tokio", not(miri)))]

mod common;

use hetsched::Qos;
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
