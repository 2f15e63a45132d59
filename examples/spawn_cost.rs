//! Per-task cost probe for `valgrind --tool=callgrind` (see `benches/spawn_cost.sh`).
//!
//! Runs one worker and spawns `--tasks N` no-op tasks, from a task on that worker
//! (`--from inside`), from this thread (`--from outside`; `detached` and `batch` with
//! hetsched's fire-and-forget and batch spawns), each task spawning the next (`chain`), or
//! runs one task that yields N times (`yield`), then waits for all of it. The script runs
//! it at N and 2N and divides the difference in instructions by N, which cancels start-up
//! and shutdown: what is left is one task's spawn, schedule, poll, completion and free (or
//! one yield), end to end. `--runtime tokio` runs the same on tokio's multi-thread runtime
//! (the modes it has an API for), for reference.

use hetsched::{Builder, CoreClass, Pin, Topology};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

#[path = "common/cli.rs"]
mod cli;

struct Done {
    left: AtomicUsize,
    all: Mutex<bool>,
    signal: Condvar,
}

impl Done {
    fn new(n: usize) -> Arc<Done> {
        Arc::new(Done {
            left: AtomicUsize::new(n),
            all: Mutex::new(n == 0),
            signal: Condvar::new(),
        })
    }

    fn count_down(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.all.lock().unwrap_or_else(|e| e.into_inner()) = true;
            self.signal.notify_all();
        }
    }

    fn wait(&self) {
        let mut all = self.all.lock().unwrap_or_else(|e| e.into_inner());
        while !*all {
            all = self.signal.wait(all).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Where the tasks are spawned from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum From {
    /// A task on the runtime's one worker.
    Inside,
    /// The main thread, outside the runtime.
    Outside,
    /// Each task spawns the next (one task alive at a time: the allocator's fast path).
    Chain,
    /// The main thread, as one `spawn_batch_detached` (one wake-up for all of them).
    Batch,
    /// The main thread, one `spawn_detached` each (no handles).
    Detached,
    /// One task yielding N times (the cost is per yield).
    Yield,
}

/// The runtime under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Runtime {
    Hetsched,
    Tokio,
}

#[derive(Debug, PartialEq, Eq)]
struct Options {
    tasks: usize,
    from: From,
    runtime: Runtime,
    /// Worker threads (1 for the instruction counts).
    workers: usize,
    /// Repeat the whole run this many times and print the wall time per task (for `perf`;
    /// timing is noisy here: the harness's side-by-side ratios are the performance claims).
    rounds: usize,
}

/// Spawn a task that counts down and spawns the next link, `left` more after it.
fn chain_link(handle: hetsched::Handle, left: usize, done: Arc<Done>) {
    let next = handle.clone();
    drop(handle.spawn(async move {
        done.count_down();
        if left > 0 {
            chain_link(next, left - 1, done);
        }
    }));
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        tasks: 100_000,
        from: From::Inside,
        runtime: Runtime::Hetsched,
        workers: 1,
        rounds: 1,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--tasks" => {
                let value = args.next().ok_or("--tasks needs a task count")?;
                options.tasks = value
                    .parse()
                    .map_err(|_| format!("--tasks {value:?}: expected a whole number"))?;
            }
            "--workers" | "--rounds" => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("{arg} needs a whole number of at least 1"))?;
                let n: usize = value.parse().ok().filter(|&n| n >= 1).ok_or_else(|| {
                    format!("{arg} {value:?}: expected a whole number of at least 1")
                })?;
                if arg == "--workers" {
                    options.workers = n;
                } else {
                    options.rounds = n;
                }
            }
            "--runtime" => {
                let value = args.next().ok_or("--runtime needs hetsched or tokio")?;
                options.runtime = match value.as_str() {
                    "hetsched" => Runtime::Hetsched,
                    "tokio" => Runtime::Tokio,
                    _ => return Err(format!("--runtime {value:?}: expected hetsched or tokio")),
                };
            }
            "--from" => {
                let value = args.next().ok_or(FROM_EXPECTED)?;
                options.from = match value.as_str() {
                    "inside" => From::Inside,
                    "outside" => From::Outside,
                    "chain" => From::Chain,
                    "batch" => From::Batch,
                    "detached" => From::Detached,
                    "yield" => From::Yield,
                    _ => return Err(format!("--from {value:?}: expected {FROM_EXPECTED}")),
                };
            }
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
        }
    }
    if options.runtime == Runtime::Tokio && matches!(options.from, From::Batch | From::Detached) {
        return Err(format!(
            "--from {:?} is hetsched's own API: tokio has no batch or detached spawn",
            options.from
        ));
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let options =
        match cli::options_or_exit("spawn_cost", USAGE, parse_args(std::env::args().skip(1))) {
            Ok(options) => options,
            Err(code) => return code,
        };
    let started = std::time::Instant::now();
    let ran = match options.runtime {
        Runtime::Hetsched => Builder::new()
            .topology(Topology::uniform(options.workers))
            .workers(CoreClass::Performance, options.workers)
            .pin(Pin::Off)
            .qos_hints(false)
            .build()
            .map(|rt| (0..options.rounds).for_each(|_| run_hetsched(&rt, &options))),
        Runtime::Tokio => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.workers)
            .build()
            .map(|rt| (0..options.rounds).for_each(|_| run_tokio(&rt, &options))),
    };
    if let Err(e) = ran {
        eprintln!("spawn_cost: cannot start the runtime: {e}");
        return ExitCode::from(1);
    }
    if options.rounds > 1 {
        let tasks = (options.tasks * options.rounds).max(1);
        println!(
            "{:.1} ns per task ({} rounds of {} tasks from {:?}, {} workers, {:?})",
            started.elapsed().as_nanos() as f64 / tasks as f64,
            options.rounds,
            options.tasks,
            options.from,
            options.workers,
            options.runtime
        );
    }
    ExitCode::SUCCESS
}

/// Spawn `options.tasks` no-op tasks on hetsched the chosen way (or yield that many times)
/// and wait for all of it.
fn run_hetsched(rt: &hetsched::Runtime, options: &Options) {
    let tasks = options.tasks;
    let done = Done::new(tasks);
    let waiter = done.clone();
    let handle = rt.handle();
    let spawn_all = move |handle: hetsched::Handle, done: Arc<Done>| {
        for _ in 0..tasks {
            let done = done.clone();
            drop(handle.spawn(async move { done.count_down() }));
        }
    };
    match options.from {
        From::Inside => drop(rt.spawn(async move { spawn_all(handle, done) })),
        From::Outside => spawn_all(handle, done),
        From::Chain if tasks > 0 => chain_link(handle, tasks - 1, done),
        From::Chain => {}
        From::Batch => handle.spawn_batch_detached(
            hetsched::Qos::Default,
            (0..tasks).map(|_| {
                let done = done.clone();
                async move { done.count_down() }
            }),
        ),
        From::Detached => {
            for _ in 0..tasks {
                let done = done.clone();
                handle.spawn_detached(async move { done.count_down() });
            }
        }
        From::Yield => drop(rt.spawn(async move {
            for _ in 0..tasks {
                hetsched::yield_now().await;
                done.count_down();
            }
        })),
    }
    waiter.wait();
}

/// [`run_hetsched`] on tokio (spawn and drop the handle: tokio's detach).
fn run_tokio(rt: &tokio::runtime::Runtime, options: &Options) {
    let tasks = options.tasks;
    let done = Done::new(tasks);
    let waiter = done.clone();
    let spawn_all = move |done: Arc<Done>| {
        for _ in 0..tasks {
            let done = done.clone();
            drop(tokio::spawn(async move { done.count_down() }));
        }
    };
    match options.from {
        From::Inside => drop(rt.spawn(async move { spawn_all(done) })),
        From::Outside => {
            let _enter = rt.enter();
            spawn_all(done)
        }
        From::Chain if tasks > 0 => {
            drop(rt.spawn(async move { tokio_chain_link(tasks - 1, done) }))
        }
        From::Chain => {}
        From::Yield => drop(rt.spawn(async move {
            for _ in 0..tasks {
                tokio::task::yield_now().await;
                done.count_down();
            }
        })),
        From::Batch | From::Detached => unreachable!("refused by parse_args"),
    }
    waiter.wait();
}

/// [`chain_link`] on tokio.
fn tokio_chain_link(left: usize, done: Arc<Done>) {
    drop(tokio::spawn(async move {
        done.count_down();
        if left > 0 {
            tokio_chain_link(left - 1, done);
        }
    }));
}

const FROM_EXPECTED: &str = "inside, outside, chain, batch, detached or yield";
const USAGE: &str =
    "usage: spawn_cost [--tasks N] [--from inside|outside|chain|batch|detached|yield] \
                     [--runtime hetsched|tokio] [--workers N] [--rounds N]";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Options>, String> {
        parse_args(cli::strings(args))
    }

    #[test]
    fn options_are_parsed_and_bad_ones_named() {
        let options = parse(&["--from", "yield", "--runtime", "tokio", "--workers", "2"])
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                options.from,
                options.runtime,
                options.workers,
                options.rounds
            ),
            (From::Yield, Runtime::Tokio, 2, 1)
        );
        assert_eq!(parse(&["--help"]), Ok(None));
        for (args, named) in [
            (&["--from", "sideways"][..], "\"sideways\""),
            (&["--runtime", "smol"][..], "\"smol\""),
            (&["--workers", "0"][..], "--workers \"0\""),
            (&["--tasks", "many"][..], "--tasks \"many\""),
            (
                &["--runtime", "tokio", "--from", "batch"][..],
                "tokio has no batch",
            ),
            (&["--frobnicate"][..], "--frobnicate"),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(named), "{args:?}: {err}");
        }
    }
}
