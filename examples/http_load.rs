//! An open-loop HTTP/1.1 load generator (for `benches/http.sh`): requests at a fixed rate,
//! each timed from the moment it was *meant* to be sent, so a slow server cannot slow the
//! generator down and hide its own latency (no coordinated omission; the correction
//! wrk2 and `oha --latency-correction` make).
//!
//! ```text
//! cargo run --release --example http_load -- --addr 127.0.0.1:8080 --rate 2000 --seconds 10
//! ```
//!
//! Plain threads and blocking sockets, one keep-alive connection per thread, so the
//! generator shares nothing with the runtimes it measures. Request `i` is due at
//! `start + i / rate` and goes out on connection `i mod connections`; a connection still
//! busy with an earlier request sends the next one late, and that lateness is counted.

#[path = "common/cli.rs"]
mod cli;

use hdrhistogram::Histogram;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: http_load --addr HOST:PORT [--path P] [--rate R] [--seconds S] [--connections C] [--json]

  --addr A         the server (loopback only)
  --path P         request path (default /)
  --rate R         requests per second, 1 to 1000000 (default 1000)
  --seconds S      duration, 1 to 600 (default 10)
  --connections C  keep-alive connections, one thread each, 1 to 1024 (default 32)
  --json           print the result as one JSON object";

struct Options {
    addr: SocketAddr,
    path: String,
    rate: u64,
    seconds: u64,
    connections: usize,
    json: bool,
}

fn number(flag: &str, text: &str, min: u64, max: u64) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{flag} {text:?}: expected a whole number from {min} to {max}"
        )),
    }
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut addr = None;
    let mut options = Options {
        addr: "127.0.0.1:0".parse().expect("valid"),
        path: "/".into(),
        rate: 1000,
        seconds: 10,
        connections: 32,
        json: false,
    };
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--json" => options.json = true,
            "--addr" => {
                let text = value()?;
                let parsed: SocketAddr = text.parse().map_err(|_| {
                    format!("--addr {text:?}: expected IP:PORT, such as 127.0.0.1:8080")
                })?;
                if !parsed.ip().is_loopback() {
                    return Err(format!(
                        "--addr {text:?}: only loopback addresses are allowed"
                    ));
                }
                addr = Some(parsed);
            }
            "--path" => {
                let text = value()?;
                if !text.starts_with('/') || text.chars().any(|c| c.is_whitespace()) {
                    return Err(format!(
                        "--path {text:?}: expected a path such as /work?us=50"
                    ));
                }
                options.path = text;
            }
            "--rate" => options.rate = number("--rate", &value()?, 1, 1_000_000)?,
            "--seconds" => options.seconds = number("--seconds", &value()?, 1, 600)?,
            "--connections" => {
                options.connections = number("--connections", &value()?, 1, 1024)? as usize
            }
            _ => return Err(format!("unknown argument {flag:?} (try --help)")),
        }
    }
    options.addr = addr.ok_or_else(|| "--addr is required".to_string())?;
    Ok(Some(options))
}

/// What one connection's thread measured.
struct Tally {
    latency: Histogram<u64>,
    ok: u64,
    errors: u64,
}

/// Send one request on `conn` and read the whole response; true on a 2xx.
fn round_trip(conn: &mut BufReader<TcpStream>, request: &[u8]) -> std::io::Result<bool> {
    conn.get_mut().write_all(request)?;
    let mut line = String::new();
    conn.read_line(&mut line)?;
    let ok = line
        .split_whitespace()
        .nth(1)
        .is_some_and(|s| s.starts_with('2'));
    let mut length = 0usize;
    loop {
        line.clear();
        if conn.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body)?;
    Ok(ok)
}

fn connect(addr: SocketAddr) -> std::io::Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(BufReader::new(stream))
}

fn run_connection(options: &Options, index: usize, start: Instant) -> Tally {
    let mut tally = Tally {
        latency: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
        ok: 0,
        errors: 0,
    };
    let request = format!("GET {} HTTP/1.1\r\nHost: load\r\n\r\n", options.path).into_bytes();
    let total = options.rate * options.seconds;
    let period_ns = 1e9 / options.rate as f64;
    let mut conn = connect(options.addr).ok();
    let mut i = index as u64;
    while i < total {
        let due = start + Duration::from_nanos((i as f64 * period_ns) as u64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let sent = match conn.as_mut() {
            Some(c) => round_trip(c, &request),
            None => Err(std::io::ErrorKind::NotConnected.into()),
        };
        match sent {
            Ok(true) => {
                tally.ok += 1;
                let latency = due.elapsed().as_nanos() as u64;
                tally.latency.saturating_record(latency.max(1));
            }
            Ok(false) => tally.errors += 1,
            Err(_) => {
                tally.errors += 1;
                conn = connect(options.addr).ok();
            }
        }
        i += options.connections as u64;
    }
    tally
}

fn main() -> ExitCode {
    let options =
        match cli::options_or_exit("http_load", USAGE, parse_args(std::env::args().skip(1))) {
            Ok(options) => options,
            Err(code) => return code,
        };
    let start = Instant::now() + Duration::from_millis(100);
    let tallies: Vec<Tally> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..options.connections)
            .map(|index| {
                let options = &options;
                scope.spawn(move || run_connection(options, index, start))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("connection thread"))
            .collect()
    });
    let elapsed = start.elapsed();
    let mut latency =
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds");
    let (mut ok, mut errors) = (0, 0);
    for t in &tallies {
        latency.add(&t.latency).expect("same bounds");
        ok += t.ok;
        errors += t.errors;
    }
    let us = |q: f64| latency.value_at_quantile(q) as f64 / 1e3;
    let achieved = ok as f64 / elapsed.as_secs_f64();
    if options.json {
        println!(
            "{}",
            serde_json::json!({
                "rate": options.rate, "seconds": options.seconds, "connections": options.connections,
                "ok": ok, "errors": errors, "achieved_per_sec": achieved,
                "p50_us": us(0.5), "p99_us": us(0.99), "p999_us": us(0.999), "max_us": latency.max() as f64 / 1e3,
            })
        );
    } else {
        println!(
            "rate {} /s for {} s on {} connections: {ok} ok, {errors} errors, {achieved:.0} /s; \
             latency from intended send: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs",
            options.rate,
            options.seconds,
            options.connections,
            us(0.5),
            us(0.99),
            us(0.999),
            latency.max() as f64 / 1e3
        );
    }
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Options>, String> {
        parse_args(cli::strings(args))
    }

    #[test]
    fn arguments_are_checked() {
        let o = parse(&[
            "--addr",
            "127.0.0.1:80",
            "--rate",
            "500",
            "--path",
            "/work?us=5",
        ])
        .unwrap()
        .unwrap();
        assert_eq!((o.rate, o.path.as_str()), (500, "/work?us=5"));
        for (args, want) in [
            (&["--rate", "5"][..], "--addr is required"),
            (&["--addr", "10.0.0.1:80"][..], "only loopback addresses"),
            (
                &["--addr", "127.0.0.1:80", "--rate", "0"][..],
                "--rate \"0\": expected a whole number from 1",
            ),
            (
                &["--addr", "127.0.0.1:80", "--path", "x"][..],
                "--path \"x\": expected a path",
            ),
            (
                &["--addr", "127.0.0.1:80", "--seconds"][..],
                "--seconds needs a value",
            ),
        ] {
            let err = parse(args).err().unwrap();
            assert!(err.contains(want), "{err}");
        }
    }
}
