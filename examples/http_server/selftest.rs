//! `--selftest`: a hyper client on its own hetsched runtime sends a few hundred requests of
//! every kind over several keep-alive connections, then bad requests, malformed bytes and a
//! client that hangs up mid-request, and checks every answer.

use futures::io::{AsyncReadExt, AsyncWriteExt};
use hetsched::hyper::{HyperExecutor, HyperIo};
use hetsched::Qos;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Connections the good requests are spread over, and requests of each kind per connection.
const CONNECTIONS: usize = 4;
const PER_CONNECTION: usize = 50;

/// Run the checks against the server at `addr`. Ok: a one-line summary.
pub fn run(addr: SocketAddr) -> Result<String, String> {
    let rt = hetsched::Builder::new()
        .thread_name("selftest")
        .build()
        .map_err(|e| format!("cannot start the client runtime: {e}"))?;
    rt.block_on(suite(addr))
}

async fn suite(addr: SocketAddr) -> Result<String, String> {
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| hetsched::spawn_with(Qos::Interactive, good_requests(addr)))
        .collect();
    for client in clients {
        client.await.map_err(|e| format!("client task: {e}"))??;
    }
    let good = CONNECTIONS * PER_CONNECTION * 4;
    bad_requests(addr).await?;
    malformed_bytes(addr).await?;
    hang_up_mid_request(addr).await?;
    // The server still answers after all that.
    let mut sender = connect(addr).await?;
    expect(&mut sender, Method::GET, "/", StatusCode::OK, "hello\n").await?;
    let jobs = (CONNECTIONS * PER_CONNECTION) as u64;
    wait_for_jobs(&mut sender, jobs).await?;
    Ok(format!(
        "{good} requests ({} of each kind over {CONNECTIONS} connections), 4 bad requests, \
         malformed bytes and a hang-up answered correctly; {jobs} jobs done",
        CONNECTIONS * PER_CONNECTION
    ))
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = async_net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    HyperExecutor::current(Qos::Interactive).spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    method: Method,
    path: &str,
) -> Result<(StatusCode, String), String> {
    sender
        .ready()
        .await
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let request = Request::builder()
        .method(method.clone())
        .uri(path)
        .header(hyper::header::HOST, "selftest")
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{method} {path}: body: {e}"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

async fn expect(
    sender: &mut SendRequest<Full<Bytes>>,
    method: Method,
    path: &str,
    status: StatusCode,
    body: &str,
) -> Result<String, String> {
    let (got_status, got_body) = send(sender, method.clone(), path).await?;
    if got_status != status || !got_body.starts_with(body) {
        return Err(format!(
            "{method} {path}: got {got_status} {got_body:?}, expected {status} {body:?}"
        ));
    }
    Ok(got_body)
}

async fn good_requests(addr: SocketAddr) -> Result<(), String> {
    let mut sender = connect(addr).await?;
    for _ in 0..PER_CONNECTION {
        expect(&mut sender, Method::GET, "/", StatusCode::OK, "hello\n").await?;
        expect(
            &mut sender,
            Method::GET,
            "/work?us=20",
            StatusCode::OK,
            "worked 20 us\n",
        )
        .await?;
        expect(
            &mut sender,
            Method::POST,
            "/jobs?chunks=1",
            StatusCode::ACCEPTED,
            "job ",
        )
        .await?;
        let metrics = expect(&mut sender, Method::GET, "/metrics", StatusCode::OK, "{").await?;
        let json: serde_json::Value =
            serde_json::from_str(&metrics).map_err(|e| format!("/metrics is not JSON: {e}"))?;
        if json["requests"].as_u64().is_none() || !json["runtime"].is_object() {
            return Err(format!("/metrics lacks requests or runtime: {json}"));
        }
    }
    Ok(())
}

/// Each bad request gets its 4xx and a one-line reason.
async fn bad_requests(addr: SocketAddr) -> Result<(), String> {
    let mut sender = connect(addr).await?;
    let cases = [
        (
            Method::GET,
            "/nope",
            StatusCode::NOT_FOUND,
            "no such path \"/nope\"",
        ),
        (
            Method::GET,
            "/work?us=abc",
            StatusCode::BAD_REQUEST,
            "query parameter us=\"abc\"",
        ),
        (
            Method::GET,
            "/work",
            StatusCode::BAD_REQUEST,
            "missing query parameter us",
        ),
        (
            Method::DELETE,
            "/",
            StatusCode::METHOD_NOT_ALLOWED,
            "method DELETE not allowed",
        ),
    ];
    for (method, path, status, reason) in cases {
        let body = expect(&mut sender, method.clone(), path, status, reason).await?;
        if body.lines().count() != 1 {
            return Err(format!(
                "{method} {path}: the reason is not one line: {body:?}"
            ));
        }
    }
    Ok(())
}

/// Bytes that are not HTTP get hyper's 400, and the connection is closed.
async fn malformed_bytes(addr: SocketAddr) -> Result<(), String> {
    let mut stream = send_raw(addr, b"THIS IS NOT HTTP\r\n\r\n").await?;
    let mut answer = Vec::new();
    let read = hetsched::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer));
    read.await
        .map_err(|_| "no answer to malformed bytes within 10 s".to_string())?
        .map_err(|e| e.to_string())?;
    let answer = String::from_utf8_lossy(&answer);
    if !answer.starts_with("HTTP/1.1 400") {
        return Err(format!(
            "malformed bytes got {answer:?}, expected HTTP/1.1 400"
        ));
    }
    Ok(())
}

/// A client sends half a request and disconnects.
async fn hang_up_mid_request(addr: SocketAddr) -> Result<(), String> {
    drop(send_raw(addr, b"GET /work?us=10 HTTP/1.1\r\nHost: sel").await?);
    Ok(())
}

/// A raw TCP connection to the server that has sent `bytes`.
async fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Result<async_net::TcpStream, String> {
    let mut stream = async_net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.write_all(bytes).await.map_err(|e| e.to_string())?;
    Ok(stream)
}

/// Wait (bounded) until the server says `jobs` jobs of one chunk each are done.
async fn wait_for_jobs(sender: &mut SendRequest<Full<Bytes>>, jobs: u64) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = send(sender, Method::GET, "/metrics").await?;
        let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let done = json["chunks_done"].as_u64().unwrap_or(0);
        if done >= jobs {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{done} of {jobs} job chunks done after 30 s"));
        }
        hetsched::time::sleep(Duration::from_millis(10)).await;
    }
}
