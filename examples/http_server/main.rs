//! A small HTTP service on hyper 1.x, served by hetsched (or, for comparison, by tokio).
//!
//! ```text
//! cargo run --release --example http_server                       # 127.0.0.1:8080, until Ctrl-C
//! cargo run --release --example http_server -- --addr 127.0.0.1:9000
//! cargo run --release --example http_server -- --selftest         # serve, check, exit 0
//! cargo run --release --example http_server -- --runtime tokio    # the same service on tokio
//! ```
//!
//! Routes: `GET /` (hello), `GET /work?us=N` (N µs of CPU work on the request path),
//! `POST /jobs?chunks=M` (queues a batch job of M chunks of about 1 ms of CPU with a yield
//! between, at `Background` on hetsched; M may also be the body, `M` or `{"chunks": M}`;
//! default 10), `GET /metrics` (the runtime's
//! metrics and the service's counters, JSON). A bad request gets a 4xx and a one-line
//! reason. On hetsched every connection is an `Interactive` task (performance cores), the
//! jobs are `Background` (efficiency cores); tokio has one priority for both.
//!
//! hetsched serves on tokio's sockets by default (hetsched's workers drive tokio's reactor
//! through `Builder::tokio_context`; hyper gets hetsched's timer): the fastest stack
//! measured here. `--runtime hetsched-async-io` serves on the smol stack
//! (`hetsched::hyper::HyperIo`), with no tokio at all.

mod service;

#[path = "../common/cli.rs"]
mod cli;

use hetsched::hyper::{HyperIo, HyperTimer};
use hetsched::Qos;
use hyper_util::rt::TokioTimer;
use service::{App, BoxFuture};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str = "\
usage: http_server [--addr HOST:PORT] [--runtime R] [--workers N] [--selftest]

  --addr A        listen on A (default 127.0.0.1:8080; --selftest: a free loopback port)
  --runtime R     hetsched (default; HETSCHED_* variables apply): hetsched's tasks on
                  tokio's sockets, through Builder::tokio_context, the workers driving
                  tokio's reactor; hetsched-async-io: hetsched's tasks on the smol stack
                  (async-net, hetsched::hyper::HyperIo); tokio (tokio + hyper-util); smol
                  (smol's executor on the smol stack)
  --workers N     tokio's or smol's threads (default: the CPUs this process may use)
  --selftest      serve, send a few hundred requests of every kind from an in-process
                  hyper client, check every answer, exit 0 (1 on a wrong answer)";

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rt {
    /// hetsched tasks on tokio's sockets (`Builder::tokio_context`): tokio's I/O driver,
    /// driven by hetsched's workers, and hetsched's scheduling. The default: the fastest
    /// stack measured here (README, "Which sockets for HTTP").
    Hetsched,
    /// hetsched tasks on the smol stack (async-net sockets, `hetsched::hyper::HyperIo`):
    /// no tokio in the build.
    HetschedAsyncIo,
    Tokio,
    /// smol's executor on the smol stack, for comparison with `HetschedAsyncIo`.
    Smol,
}

#[derive(Debug)]
struct Options {
    addr: Option<SocketAddr>,
    runtime: Rt,
    workers: Option<usize>,
    selftest: bool,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        addr: None,
        runtime: Rt::Hetsched,
        workers: None,
        selftest: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs {what}"))
        };
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--selftest" => options.selftest = true,
            "--addr" => {
                let text = value("an address such as 127.0.0.1:8080")?;
                options.addr = Some(text.parse().map_err(|_| {
                    format!(
                        "--addr {text:?}: expected an IP address and port, such as 127.0.0.1:8080"
                    )
                })?);
            }
            "--runtime" => {
                let text = value("a runtime (hetsched, hetsched-async-io, tokio or smol)")?;
                options.runtime = match text.as_str() {
                    // `hetsched-tokio-io`: this stack's name before it became the default.
                    "hetsched" | "hetsched-tokio-io" => Rt::Hetsched,
                    "hetsched-async-io" => Rt::HetschedAsyncIo,
                    "tokio" => Rt::Tokio,
                    "smol" => Rt::Smol,
                    _ => {
                        return Err(format!(
                        "--runtime {text:?}: expected hetsched, hetsched-async-io, tokio or smol"
                    ))
                    }
                };
            }
            "--workers" => {
                let text = value("a number of threads")?;
                options.workers = Some(match text.parse::<usize>() {
                    Ok(n) if (1..=1024).contains(&n) => n,
                    _ => {
                        return Err(format!(
                            "--workers {text:?}: expected a whole number from 1 to 1024"
                        ))
                    }
                });
            }
            _ => return Err(format!("unknown argument {arg:?} (try --help)")),
        }
    }
    Ok(Some(options))
}

/// Serve HTTP/1.1 on `listener` with hetsched: one Interactive task per connection.
async fn serve_hetsched(listener: async_net::TcpListener, app: Arc<App>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let app = app.clone();
        drop(hetsched::spawn_with(Qos::Interactive, async move {
            let service = hyper::service::service_fn(move |req| service::handle(app.clone(), req));
            // A client that disconnects or sends garbage ends its connection with an
            // error; that costs its task and nothing else.
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(HyperTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(HyperIo::new(stream), service)
                .await;
        }));
    }
}

/// The same service on tokio sockets (hyper-util's tokio I/O adapter), each connection a
/// task spawned by `spawn`: on tokio (with hyper-util's tokio timer), or on hetsched with a
/// tokio context (with hetsched's timer: tokio's, on the context's one shared wheel, cost
/// 6% of the server's CPU at full speed against 3% for hetsched's; BENCHMARKS.md).
async fn serve_tokio<T>(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    spawn: fn(BoxFuture),
    timer: T,
) -> std::io::Result<()>
where
    T: hyper::rt::Timer + Clone + Send + Sync + 'static,
{
    loop {
        let (stream, _) = listener.accept().await?;
        let (app, timer) = (app.clone(), timer.clone());
        spawn(Box::pin(async move {
            let service = hyper::service::service_fn(move |req| service::handle(app.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(timer)
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        }));
    }
}

fn hetsched_app(handle: hetsched::Handle) -> Arc<App> {
    let jobs = handle.clone();
    App::new(
        Box::new(move |job: BoxFuture| drop(jobs.spawn_with(Qos::Background, job))),
        Box::new(move || service::hetsched_metrics_json(&handle.metrics())),
    )
}

fn tokio_app(handle: tokio::runtime::Handle) -> Arc<App> {
    let jobs = handle.clone();
    App::new(
        Box::new(move |job: BoxFuture| drop(jobs.spawn(job))),
        Box::new(move || {
            let m = handle.metrics();
            serde_json::json!({
                "runtime": "tokio",
                "workers": m.num_workers(),
                "live_tasks": m.num_alive_tasks(),
                "global_queue_depth": m.global_queue_depth(),
            })
        }),
    )
}

fn default_addr(options: &Options) -> SocketAddr {
    let default = if options.selftest {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:8080"
    };
    options
        .addr
        .unwrap_or_else(|| default.parse().expect("a valid address"))
}

/// Start the server for `options`; returns the address it listens on and a guard that
/// keeps its runtime alive.
fn start(options: &Options) -> Result<(SocketAddr, Server), String> {
    let addr = default_addr(options);
    match options.runtime {
        Rt::HetschedAsyncIo => {
            let rt = hetsched::Runtime::new().map_err(|e| format!("cannot start hetsched: {e}"))?;
            let listener = rt
                .block_on(async_net::TcpListener::bind(addr))
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            let app = hetsched_app(rt.handle());
            drop(rt.spawn_with(Qos::Interactive, async move {
                if let Err(err) = serve_hetsched(listener, app).await {
                    eprintln!("http_server: accept failed: {err}");
                }
            }));
            Ok((local, Box::new(rt)))
        }
        Rt::Tokio => {
            let workers = options
                .workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start tokio: {e}"))?;
            let listener = rt
                .block_on(tokio::net::TcpListener::bind(addr))
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            let app = tokio_app(rt.handle().clone());
            rt.spawn(async move {
                if let Err(err) =
                    serve_tokio(listener, app, |f| drop(tokio::spawn(f)), TokioTimer::new()).await
                {
                    eprintln!("http_server: accept failed: {err}");
                }
            });
            Ok((local, Box::new(rt)))
        }
        Rt::Hetsched => {
            let rt = hetsched::Builder::from_env()
                .map_err(|e| format!("cannot start hetsched: {e}"))?
                .tokio_context(true)
                .build()
                .map_err(|e| format!("cannot start hetsched: {e}"))?;
            let listener = rt
                .block_on(async { tokio::net::TcpListener::bind(addr).await })
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            let app = hetsched_app(rt.handle());
            drop(rt.spawn_with(Qos::Interactive, async move {
                let spawn = |f| drop(hetsched::spawn_with(Qos::Interactive, f));
                if let Err(err) = serve_tokio(listener, app, spawn, HyperTimer::new()).await {
                    eprintln!("http_server: accept failed: {err}");
                }
            }));
            Ok((local, Box::new(rt)))
        }
        Rt::Smol => {
            let listener = std::net::TcpListener::bind(addr)
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            let workers = options
                .workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            Ok((local, start_smol(listener, workers)?))
        }
    }
}

/// The same service on smol's executor: `workers` threads, each in `async_io::block_on`
/// (the usual smol set-up: a thread with nothing to run drives the reactor).
fn start_smol(listener: std::net::TcpListener, workers: usize) -> Result<Server, String> {
    let executor = Arc::new(async_executor::Executor::<'static>::new());
    let (stop, stopped) = async_channel_pair();
    for i in 0..workers {
        let (executor, stopped) = (executor.clone(), stopped.clone());
        std::thread::Builder::new()
            .name(format!("smol-{i}"))
            .spawn(move || async_io::block_on(executor.run(stopped.recv())))
            .map_err(|e| format!("cannot start smol: {e}"))?;
    }
    let jobs = executor.clone();
    let app = App::new(
        Box::new(move |job: BoxFuture| jobs.spawn(job).detach()),
        Box::new(|| serde_json::json!({ "runtime": "smol" })),
    );
    let listener = async_net::TcpListener::try_from(listener).map_err(|e| e.to_string())?;
    let spawner = executor.clone();
    executor
        .spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let app = app.clone();
                spawner
                    .spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            service::handle(app.clone(), req)
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .timer(HyperTimer::new())
                            .header_read_timeout(HEADER_READ_TIMEOUT)
                            .serve_connection(HyperIo::new(stream), service)
                            .await;
                    })
                    .detach();
            }
        })
        .detach();
    Ok(Box::new(stop))
}

/// A sender whose drop ends the smol threads' `run` (their receiver sees it closed).
fn async_channel_pair() -> (futures::channel::mpsc::Sender<()>, SmolStop) {
    let (tx, rx) = futures::channel::mpsc::channel(1);
    (tx, SmolStop(Arc::new(futures::lock::Mutex::new(rx))))
}

#[derive(Clone)]
struct SmolStop(Arc<futures::lock::Mutex<futures::channel::mpsc::Receiver<()>>>);

impl SmolStop {
    async fn recv(self) {
        use futures::StreamExt;
        let _ = self.0.lock().await.next().await;
    }
}

/// A running server's runtime (hetsched's or tokio's): serving until dropped.
type Server = Box<dyn std::any::Any>;

fn main() -> ExitCode {
    let options =
        match cli::options_or_exit("http_server", USAGE, parse_args(std::env::args().skip(1))) {
            Ok(options) => options,
            Err(code) => return code,
        };
    let (addr, server) = match start(&options) {
        Ok(started) => started,
        Err(msg) => {
            eprintln!("http_server: {msg}");
            return ExitCode::from(2);
        }
    };
    if options.selftest {
        return match selftest::run(addr) {
            Ok(summary) => {
                println!("http_server selftest ({:?}): {summary}", options.runtime);
                drop(server);
                ExitCode::SUCCESS
            }
            Err(msg) => {
                eprintln!("http_server selftest ({:?}) failed: {msg}", options.runtime);
                ExitCode::from(1)
            }
        };
    }
    println!(
        "http_server ({:?}) listening on http://{addr}",
        options.runtime
    );
    // Serve until the process is stopped.
    loop {
        std::thread::park();
    }
}

mod selftest;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Options>, String> {
        parse_args(cli::strings(args))
    }

    #[test]
    fn arguments_are_checked_and_errors_name_flag_and_value() {
        let o = parse(&["--addr", "127.0.0.1:9", "--runtime=tokio", "--workers", "3"])
            .unwrap()
            .unwrap();
        assert_eq!(o.addr, Some("127.0.0.1:9".parse().unwrap()));
        assert_eq!((o.runtime, o.workers), (Rt::Tokio, Some(3)));
        // The default, and the default stack's name from before it was the default.
        assert_eq!(parse(&[]).unwrap().unwrap().runtime, Rt::Hetsched);
        for (name, runtime) in [
            ("hetsched", Rt::Hetsched),
            ("hetsched-tokio-io", Rt::Hetsched),
            ("hetsched-async-io", Rt::HetschedAsyncIo),
            ("smol", Rt::Smol),
        ] {
            assert_eq!(
                parse(&["--runtime", name]).unwrap().unwrap().runtime,
                runtime
            );
        }
        assert!(parse(&["--help"]).unwrap().is_none());
        for (args, want) in [
            (
                &["--addr", "localhost"][..],
                "--addr \"localhost\": expected an IP address and port",
            ),
            (
                &["--runtime", "glommio"][..],
                "--runtime \"glommio\": expected hetsched, hetsched-async-io, tokio or smol",
            ),
            (
                &["--workers", "0"][..],
                "--workers \"0\": expected a whole number from 1 to 1024",
            ),
            (&["--addr"][..], "--addr needs an address"),
            (&["--bogus"][..], "unknown argument \"--bogus\""),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.starts_with(want), "{err}");
        }
    }

    /// `--selftest` on every runtime: every answer checked (see `selftest.rs`).
    #[test]
    fn selftest_passes_on_every_runtime() {
        for runtime in [Rt::Hetsched, Rt::HetschedAsyncIo, Rt::Tokio, Rt::Smol] {
            let options = Options {
                addr: None,
                runtime,
                workers: Some(2),
                selftest: true,
            };
            let (addr, server) = start(&options).unwrap();
            let summary = selftest::run(addr).unwrap_or_else(|e| panic!("{runtime:?}: {e}"));
            assert!(summary.contains("requests"), "{summary}");
            drop(server);
        }
    }
}
