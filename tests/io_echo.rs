//! hetsched runs the smol I/O stack (async-io / async-net) out of the box: an echo server
//! driven by many concurrent clients, all on one runtime, on loopback.

mod common;

use async_net::{TcpListener, TcpStream};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use hetsched::{CoreClass, Qos};

#[test]
fn echo_server_serves_many_concurrent_clients() {
    for (p, e) in common::SHAPES {
        let rt = common::runtime(p, e);
        let total: usize = rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = hetsched::spawn(async move {
                loop {
                    let (mut stream, _) = listener.accept().await.unwrap();
                    hetsched::spawn_with(Qos::Interactive, async move {
                        let mut buf = vec![0u8; 4096];
                        loop {
                            // Woken by the reactor thread: still on a performance worker.
                            assert_eq!(hetsched::current_class(), Some(CoreClass::Performance));
                            let n = stream.read(&mut buf).await.unwrap();
                            if n == 0 {
                                return;
                            }
                            stream.write_all(&buf[..n]).await.unwrap();
                        }
                    });
                }
            });
            let clients: Vec<_> = (0..100usize)
                .map(|id| {
                    hetsched::spawn_with(Qos::ALL[id % 5], async move {
                        let mut stream = TcpStream::connect(addr).await.unwrap();
                        let mut bytes = 0;
                        for round in 0..30usize {
                            let len = 1 + (id * 131 + round * 71) % 3000;
                            let msg: Vec<u8> = (0..len).map(|i| (i ^ id ^ round) as u8).collect();
                            stream.write_all(&msg).await.unwrap();
                            let mut back = vec![0u8; len];
                            stream.read_exact(&mut back).await.unwrap();
                            assert_eq!(back, msg, "client {id} round {round}");
                            bytes += len;
                        }
                        bytes
                    })
                })
                .collect();
            let mut total = 0;
            for c in clients {
                total += c.await.unwrap();
            }
            server.abort();
            total
        });
        let expected: usize = (0..100usize)
            .flat_map(|id| (0..30usize).map(move |r| 1 + (id * 131 + r * 71) % 3000))
            .sum();
        assert_eq!(total, expected, "shape {p}P+{e}E");
        let m = rt.metrics();
        assert!(
            m.polls_by_class(CoreClass::Efficiency) > 0,
            "E workers took part"
        );
    }
}
