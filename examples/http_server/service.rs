//! The service itself, the same on both runtimes: routes, their answers, the batch jobs.
//! What differs per runtime (how a job is spawned, what `/metrics` reports) comes in
//! through [`App`].

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A spawned future, boxed so that both runtimes take the same type.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Most CPU work one `/work` request may ask for: a second.
pub const MAX_WORK_US: u64 = 1_000_000;
/// Most chunks one `/jobs` request may queue (about 100 s of CPU).
pub const MAX_JOB_CHUNKS: u64 = 100_000;
/// Length of one batch chunk.
pub const CHUNK: Duration = Duration::from_millis(1);

/// What the routes need from the runtime, and the service's own counters.
pub struct App {
    /// Spawn a batch job's task (Background on hetsched).
    pub spawn_job: Box<dyn Fn(BoxFuture) + Send + Sync>,
    /// The runtime's metrics as JSON (`/metrics`).
    pub runtime_metrics: Box<dyn Fn() -> serde_json::Value + Send + Sync>,
    /// Jobs accepted so far.
    pub jobs: AtomicU64,
    /// Batch chunks completed so far.
    pub chunks_done: AtomicU64,
    /// Requests answered so far (all routes, errors included).
    pub requests: AtomicU64,
}

impl App {
    /// An app with these runtime hooks and zeroed counters.
    pub fn new(
        spawn_job: Box<dyn Fn(BoxFuture) + Send + Sync>,
        runtime_metrics: Box<dyn Fn() -> serde_json::Value + Send + Sync>,
    ) -> Arc<App> {
        iterations_per_ms(); // calibrate the CPU work now, before any load
        Arc::new(App {
            spawn_job,
            runtime_metrics,
            jobs: AtomicU64::new(0),
            chunks_done: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        })
    }
}

/// One request: route it, answer it. Never fails: a bad request gets a 4xx whose body is
/// a one-line reason.
pub async fn handle(
    app: Arc<App>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    app.requests.fetch_add(1, Relaxed);
    let query = req.uri().query().unwrap_or("").to_owned();
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => text(StatusCode::OK, "hello\n"),
        (&Method::GET, "/work") => match param(&query, "us", 0, MAX_WORK_US, None) {
            Ok(us) => {
                spin_for(Duration::from_micros(us));
                text(StatusCode::OK, &format!("worked {us} us\n"))
            }
            Err(reason) => text(StatusCode::BAD_REQUEST, &reason),
        },
        (&Method::POST, "/jobs") => {
            // The chunk count: `?chunks=M`, else the body (`M` or `{"chunks": M}`), else 10.
            // The body is read either way, so that the connection stays reusable.
            let body = match req.into_body().collect().await {
                Ok(body) => body.to_bytes(),
                Err(err) => {
                    return Ok(text(
                        StatusCode::BAD_REQUEST,
                        &format!("unreadable body: {err}\n"),
                    ))
                }
            };
            match job_chunks(&query, &body) {
                Ok(chunks) => {
                    let id = app.jobs.fetch_add(1, Relaxed);
                    let job_app = app.clone();
                    (app.spawn_job)(Box::pin(async move {
                        for _ in 0..chunks {
                            spin_for(CHUNK);
                            job_app.chunks_done.fetch_add(1, Relaxed);
                            YieldOnce(false).await;
                        }
                    }));
                    text(
                        StatusCode::ACCEPTED,
                        &format!("job {id}: {chunks} chunks queued\n"),
                    )
                }
                Err(reason) => text(StatusCode::BAD_REQUEST, &reason),
            }
        }
        (&Method::GET, "/metrics") => {
            let body = serde_json::json!({
                "requests": app.requests.load(Relaxed),
                "jobs": app.jobs.load(Relaxed),
                "chunks_done": app.chunks_done.load(Relaxed),
                "runtime": (app.runtime_metrics)(),
            });
            let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            response
        }
        (_, "/" | "/work" | "/metrics" | "/jobs") => text(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!(
                "method {} not allowed here: GET /, GET /work, POST /jobs, GET /metrics\n",
                req.method()
            ),
        ),
        (_, path) => text(
            StatusCode::NOT_FOUND,
            &format!(
                "no such path {path:?}: GET /, GET /work?us=N, POST /jobs?chunks=M, GET /metrics\n"
            ),
        ),
    };
    Ok(response)
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response
}

/// The whole number `name` in `query`, within `min..=max`; `default` when absent (an
/// error if there is none). The error is the 400's one-line reason.
pub fn param(
    query: &str,
    name: &str,
    min: u64,
    max: u64,
    default: Option<u64>,
) -> Result<u64, String> {
    let value = query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value);
    let expected = format!("a whole number from {min} to {max}");
    match (value, default) {
        (None, Some(default)) => Ok(default),
        (None, None) => Err(format!(
            "missing query parameter {name}: expected {expected}\n"
        )),
        (Some(text), _) => match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(format!(
                "query parameter {name}={text:?}: expected {expected}\n"
            )),
        },
    }
}

/// The chunk count of a `POST /jobs`: the `chunks` query parameter, else the body as a
/// number or as JSON `{"chunks": M}`, else 10. The error is the 400's one-line reason.
pub fn job_chunks(query: &str, body: &[u8]) -> Result<u64, String> {
    let expected = format!("a whole number from 1 to {MAX_JOB_CHUNKS}");
    if query
        .split('&')
        .any(|pair| pair.split('=').next() == Some("chunks"))
    {
        return param(query, "chunks", 1, MAX_JOB_CHUNKS, None);
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return Ok(10);
    }
    let value = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Number(n)) => n.as_u64(),
        Ok(serde_json::Value::Object(o)) => o.get("chunks").and_then(|v| v.as_u64()),
        _ => None,
    };
    match value {
        Some(n) if (1..=MAX_JOB_CHUNKS).contains(&n) => Ok(n),
        _ => {
            let shown: String = text.chars().take(40).collect();
            Err(format!(
                "body {shown:?}: expected {expected}, or {{\"chunks\": N}}\n"
            ))
        }
    }
}

/// About `d` of CPU work: a fixed number of iterations, calibrated once at start (see
/// [`calibrate`]), never "spin until the clock says so": on a slow or shared core the same
/// work takes longer, as real work would, instead of finishing early in CPU terms.
pub fn spin_for(d: Duration) {
    let iterations = d.as_nanos() as u64 * iterations_per_ms() / 1_000_000;
    std::hint::black_box(work(iterations));
}

static ITERATIONS_PER_MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

fn iterations_per_ms() -> u64 {
    *ITERATIONS_PER_MS.get_or_init(calibrate)
}

/// Iterations of [`work`] per millisecond on this thread now: the best of five timed runs
/// of 200,000 (the least disturbed). Called once, before the server takes load.
pub fn calibrate() -> u64 {
    const RUN: u64 = 200_000;
    let best = (0..5)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(work(RUN));
            start.elapsed()
        })
        .min()
        .unwrap_or(Duration::from_millis(1));
    (RUN as f64 / best.as_secs_f64().max(1e-9) / 1e3).max(1.0) as u64
}

fn work(iterations: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..iterations {
        x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    }
    x
}

/// A runtime-neutral yield: wake self, return Pending once.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// hetsched's metrics snapshot as JSON: per worker and per lane.
pub fn hetsched_metrics_json(m: &hetsched::RuntimeMetrics) -> serde_json::Value {
    let workers: Vec<_> = m
        .workers
        .iter()
        .map(|w| {
            serde_json::json!({
                "name": w.name,
                "class": w.class.to_string(),
                "role": w.role.to_string(),
                "polls_by_lane": w.polls_by_lane,
                "parks": w.parks,
                "unparks": w.unparks,
                "escalations": w.escalations,
                "demotions": w.demotions,
            })
        })
        .collect();
    let lanes: Vec<_> = m
        .lanes
        .iter()
        .map(|l| {
            let us = |q: f64| l.wake_to_poll.quantile(q).map(|d| d.as_secs_f64() * 1e6);
            serde_json::json!({
                "lane": l.lane.to_string(),
                "spawned": l.spawned,
                "completed": l.completed,
                "queued": l.queued,
                "wake_to_poll_p50_us": us(0.5),
                "wake_to_poll_p99_us": us(0.99),
                "long_polls": l.long_polls,
            })
        })
        .collect();
    serde_json::json!({
        "runtime": "hetsched",
        "live_tasks": m.live_tasks,
        "workers": workers,
        "lanes": lanes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_chunks_come_from_the_query_the_body_or_the_default() {
        assert_eq!(job_chunks("chunks=7", b"99"), Ok(7));
        assert_eq!(job_chunks("", b" 12 "), Ok(12));
        assert_eq!(job_chunks("", br#"{"chunks": 3}"#), Ok(3));
        assert_eq!(job_chunks("", b""), Ok(10));
        for bad in [&b"zero"[..], b"0", b"{\"chunks\": -1}", b"[1]"] {
            let err = job_chunks("", bad).unwrap_err();
            assert!(
                err.starts_with("body ") && err.contains("expected a whole number"),
                "{err}"
            );
        }
        assert!(job_chunks("chunks=0", b"")
            .unwrap_err()
            .contains("chunks=\"0\""));
    }

    #[test]
    fn params_are_checked_and_errors_name_parameter_value_and_range() {
        assert_eq!(
            param("us=50", "us", 0, 10, None),
            Err("query parameter us=\"50\": expected a whole number from 0 to 10\n".into())
        );
        assert_eq!(param("a=1&us=7", "us", 0, 10, None), Ok(7));
        assert_eq!(param("", "chunks", 1, 10, Some(3)), Ok(3));
        let missing = param("x=1", "us", 0, 10, None).unwrap_err();
        assert!(
            missing.starts_with("missing query parameter us"),
            "{missing}"
        );
        for bad in ["us=", "us=-1", "us=1.5", "us=ten", "us"] {
            let err = param(bad, "us", 0, 10, None).unwrap_err();
            assert!(
                err.contains("expected a whole number from 0 to 10"),
                "{bad}: {err}"
            );
        }
    }
}
