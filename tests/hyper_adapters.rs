//! The hyper adapters (`hetsched::hyper`, feature `hyper`): the executor spawns at the
//! requested Qos and class, the timer fires, moves and drives hyper's header-read timeout,
//! HTTP/1 and HTTP/2 round trips between a hyper client and server on hetsched, a client
//! that disconnects mid-request costs its connection task and nothing else, and axum's
//! `Router` serves as a connection's hyper service.
#![cfg(all(feature = "hyper", not(miri)))]

mod common;

use common::{two_class_builder, wait_until};
use futures::channel::oneshot;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use hetsched::hyper::{HyperExecutor, HyperIo, HyperTimer};
use hetsched::{CoreClass, Qos};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::rt::{Executor, Timer};
use hyper::{Request, Response};
use std::convert::Infallible;
use std::time::{Duration, Instant};

async fn echo_path(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = format!("{} {:?}", req.uri().path(), hetsched::current_qos());
    Ok(Response::new(Full::new(Bytes::from(body))))
}

#[test]
fn the_executor_spawns_at_its_qos_on_the_classes_that_lane_allows() {
    let rt = two_class_builder().build().unwrap();
    for (qos, class) in [
        (Qos::Interactive, CoreClass::Performance),
        (Qos::Background, CoreClass::Efficiency),
    ] {
        let executor = HyperExecutor::new(rt.handle(), qos);
        assert_eq!(executor.qos(), qos);
        let (tx, rx) = oneshot::channel();
        // Through hyper's trait, as hyper calls it.
        executor.execute(async move {
            tx.send((hetsched::current_qos(), hetsched::current_class()))
                .unwrap();
        });
        let seen = futures::executor::block_on(rx).unwrap();
        assert_eq!(seen, (Some(qos), Some(class)));
    }
    // `current` and `try_current`: the calling task's runtime; outside any, an error.
    let inside = rt
        .block_on(rt.spawn(async { HyperExecutor::try_current(Qos::Utility).is_ok() }))
        .unwrap();
    assert!(inside);
    assert!(HyperExecutor::try_current(Qos::Utility).is_err());
}

#[test]
fn the_timer_sleeps_resets_and_replaces_foreign_sleeps() {
    let rt = two_class_builder().build().unwrap();
    rt.block_on(async {
        let timer = HyperTimer::new();
        let start = Instant::now();
        timer.sleep(Duration::from_millis(20)).await;
        assert!(start.elapsed() >= Duration::from_millis(20));
        let start = Instant::now();
        timer.sleep_until(start + Duration::from_millis(10)).await;
        assert!(start.elapsed() >= Duration::from_millis(10));
        // Reset a long sleep to a near deadline: it completes at the new one.
        let mut long = timer.sleep(Duration::from_secs(3600));
        let start = Instant::now();
        timer.reset(&mut long, start + Duration::from_millis(15));
        long.await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(15), "{took:?}");
        assert!(took < Duration::from_secs(60), "{took:?}");
        // Another timer's sleep handed to reset is replaced by one of ours.
        let mut foreign: std::pin::Pin<Box<dyn hyper::rt::Sleep>> = Box::pin(Forever);
        let start = Instant::now();
        timer.reset(&mut foreign, start + Duration::from_millis(5));
        foreign.await;
        assert!(start.elapsed() >= Duration::from_millis(5));
    });
}

/// A hyper Sleep of some other timer that never fires.
struct Forever;

impl std::future::Future for Forever {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Pending
    }
}

impl hyper::rt::Sleep for Forever {}

/// hyper's header-read timeout runs on HyperTimer: a client that never finishes its
/// headers is disconnected.
#[test]
fn a_slow_client_is_cut_off_by_the_header_read_timeout() {
    let rt = two_class_builder().build().unwrap();
    rt.block_on(async {
        let listener = async_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = hetsched::spawn_with(Qos::Interactive, async move {
            let (stream, _) = listener.accept().await.unwrap();
            hyper::server::conn::http1::Builder::new()
                .timer(HyperTimer::new())
                .header_read_timeout(Duration::from_millis(100))
                .serve_connection(HyperIo::new(stream), hyper::service::service_fn(echo_path))
                .await
        });
        // Before connecting: the server's timer starts after the accept.
        let start = Instant::now();
        let mut client = async_net::TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x")
            .await
            .unwrap();
        let mut rest = Vec::new();
        let read = hetsched::time::timeout(Duration::from_secs(20), client.read_to_end(&mut rest));
        read.await
            .expect("the server closed the connection")
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(100));
        let result = server.await.unwrap();
        assert!(
            result.is_err(),
            "the connection ends with hyper's timeout error"
        );
    });
}

/// One request over HTTP/1.1 and one over HTTP/2 (which needs the executor on both sides),
/// client and server both on hetsched; the handler runs at the connection task's Qos.
#[test]
fn http1_and_http2_round_trips() {
    let rt = two_class_builder().build().unwrap();
    rt.block_on(async {
        for http2 in [false, true] {
            let listener = async_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            drop(hetsched::spawn_with(Qos::Interactive, async move {
                let (stream, _) = listener.accept().await.unwrap();
                let io = HyperIo::new(stream);
                let service = hyper::service::service_fn(echo_path);
                if http2 {
                    let executor = HyperExecutor::current(Qos::UserInitiated);
                    let _ = hyper::server::conn::http2::Builder::new(executor)
                        .timer(HyperTimer::new())
                        .serve_connection(io, service)
                        .await;
                } else {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(HyperTimer::new())
                        .serve_connection(io, service)
                        .await;
                }
            }));
            let stream = async_net::TcpStream::connect(addr).await.unwrap();
            let io = HyperIo::new(stream);
            let executor = HyperExecutor::current(Qos::Interactive);
            let request = || {
                Request::get(format!("http://{addr}/hello"))
                    .body(Full::new(Bytes::new()))
                    .unwrap()
            };
            let response = if http2 {
                let (mut sender, conn) = hyper::client::conn::http2::Builder::new(executor.clone())
                    .timer(HyperTimer::new())
                    .handshake(io)
                    .await
                    .unwrap();
                executor.spawn(conn);
                sender.send_request(request()).await.unwrap()
            } else {
                let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
                executor.spawn(conn);
                sender.send_request(request()).await.unwrap()
            };
            assert_eq!(response.status(), 200);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            // HTTP/1: the handler runs in the connection task (Interactive); HTTP/2: in a
            // stream task the server's executor spawned (UserInitiated).
            let want = if http2 {
                "UserInitiated"
            } else {
                "Interactive"
            };
            assert_eq!(body, format!("/hello Some({want})"), "http2: {http2}");
        }
    });
}

/// A client that sends half a request and hangs up: its connection task ends, the server
/// goes on serving.
#[test]
fn a_client_disconnecting_mid_request_costs_only_its_task() {
    let rt = two_class_builder().build().unwrap();
    let live_before = rt.metrics().live_tasks;
    rt.block_on(async {
        let listener = async_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = hetsched::spawn_with(Qos::Interactive, async move {
            for _ in 0..2 {
                let (stream, _) = listener.accept().await.unwrap();
                drop(hetsched::spawn_with(Qos::Interactive, async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(HyperTimer::new())
                        .serve_connection(
                            HyperIo::new(stream),
                            hyper::service::service_fn(echo_path),
                        )
                        .await;
                }));
            }
        });
        let mut rude = async_net::TcpStream::connect(addr).await.unwrap();
        rude.write_all(b"GET /never HTTP/1.1\r\nHost")
            .await
            .unwrap();
        drop(rude);
        // A polite client afterwards is served.
        let stream = async_net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream))
            .await
            .unwrap();
        let conn = hetsched::spawn(conn);
        let response = sender
            .send_request(
                Request::get("/after")
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        drop(sender);
        let _ = conn.await;
        accept.await.unwrap();
    });
    wait_until("every connection task ended", || {
        rt.metrics().live_tasks == live_before
    });
}

/// axum's `Router` as the hyper service of a connection on hetsched (through hyper-util's
/// tower adapter): routing, a path parameter, the handler running at the connection's Qos.
#[test]
fn an_axum_router_serves_on_hetsched() {
    use axum::routing::get;
    let rt = two_class_builder().build().unwrap();
    rt.block_on(async {
        let router = axum::Router::new()
            .route("/", get(|| async { "root" }))
            .route(
                "/hello/{name}",
                get(
                    |axum::extract::Path(name): axum::extract::Path<String>| async move {
                        format!("hello {name} at {:?}", hetsched::current_qos())
                    },
                ),
            );
        let listener = async_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(hetsched::spawn_with(Qos::Interactive, async move {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper_util::service::TowerToHyperService::new(router);
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(HyperTimer::new())
                .serve_connection(HyperIo::new(stream), service)
                .await;
        }));
        let stream = async_net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream))
            .await
            .unwrap();
        HyperExecutor::current(Qos::Interactive).spawn(conn);
        for (path, want) in [
            ("/", "root".to_string()),
            ("/hello/ada", "hello ada at Some(Interactive)".to_string()),
        ] {
            // An HTTP/1 connection takes the next request once the last response is done.
            sender.ready().await.unwrap();
            let response = sender
                .send_request(Request::get(path).body(Full::new(Bytes::new())).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, want.as_bytes(), "{path}");
        }
        sender.ready().await.unwrap();
        let missing = sender
            .send_request(Request::get("/nope").body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
    });
}
