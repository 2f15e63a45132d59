//! Idle workers drive async-io's reactor (feature `async-io`, `Builder::drive_io`): with it
//! on, a socket that becomes ready while the workers sleep is woken on a worker thread;
//! with it off, always on async-io's own thread. Which thread called the waker is recorded
//! by a waker wrapped around the task's own.
#![cfg(all(feature = "async-io", not(miri)))]

mod common;

use futures::io::AsyncReadExt;
use hetsched::{Builder, CoreClass};

/// Threads that woke an async-net socket reader over `rounds` messages.
fn wakers_of_socket_reads(drive_io: bool, rounds: usize) -> Vec<String> {
    let rt = Builder::new()
        .topology(common::homogeneous_topology(1))
        .workers(CoreClass::Performance, 1)
        .drive_io(drive_io)
        .thread_name("rx")
        .build()
        .unwrap();
    common::wakers_of_socket_reads(&rt, rounds, move |listener, recorded| async move {
        let (stream, _) = listener.accept().unwrap();
        let mut stream = async_net::TcpStream::try_from(stream).unwrap();
        let mut buf = [0u8; 1];
        for _ in 0..rounds {
            common::Recording::new(stream.read_exact(&mut buf), &recorded)
                .await
                .unwrap();
        }
    })
}

/// One test for both settings, off first: the reactor is process-wide, so a runtime of a
/// test running alongside would drive it for this one's sockets too.
#[test]
fn idle_workers_take_socket_readiness_from_the_reactor_only_with_drive_io() {
    let off = wakers_of_socket_reads(false, 20);
    assert!(!off.is_empty());
    assert!(
        off.iter().all(|n| !n.starts_with("rx-")),
        "a worker drove the reactor with drive_io off: {off:?}"
    );
    // With it on, a sleeping worker and async-io's own thread both try to hold the reactor
    // (async-io's thread backs off while a `block_on` runs, but may hold it when an event
    // comes): which one wakes the reader is a race, and one run in five to thirty had no
    // round won by a worker (measured here). So: some round of up to five runs of 40.
    let mut runs = Vec::new();
    for _ in 0..5 {
        let on = wakers_of_socket_reads(true, 40);
        if on.iter().any(|n| n.starts_with("rx-p-")) {
            return;
        }
        runs.push(on);
    }
    panic!("no socket readiness was taken by a worker in 5 runs: {runs:?}");
}
