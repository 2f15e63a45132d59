//! Per-task cost probe for `valgrind --tool=callgrind` (see `benches/spawn_cost.sh`).
//!
//! Runs one worker and spawns `--tasks N` no-op tasks, either from a task on that worker
//! (`--from inside`) or from this thread (`--from outside`), then waits for all of them.
//! The script runs it at N and 2N tasks and divides the difference in instructions by N,
//! which cancels start-up and shutdown: what is left is one task's spawn, schedule, poll,
//! completion and free, end to end.

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
}

#[derive(Debug, PartialEq, Eq)]
struct Options {
    tasks: usize,
    from: From,
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
            "--from" => {
                let value = args.next().ok_or(FROM_EXPECTED)?;
                options.from = match value.as_str() {
                    "inside" => From::Inside,
                    "outside" => From::Outside,
                    "chain" => From::Chain,
                    "batch" => From::Batch,
                    "detached" => From::Detached,
                    _ => return Err(format!("--from {value:?}: expected {FROM_EXPECTED}")),
                };
            }
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
        }
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let options =
        match cli::options_or_exit("spawn_cost", USAGE, parse_args(std::env::args().skip(1))) {
            Ok(options) => options,
            Err(code) => return code,
        };
    let rt = match Builder::new()
        .topology(Topology::uniform(options.workers))
        .workers(CoreClass::Performance, options.workers)
        .pin(Pin::Off)
        .qos_hints(false)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("spawn_cost: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let started = std::time::Instant::now();
    for _ in 0..options.rounds {
        run_once(&rt, &options);
    }
    if options.rounds > 1 {
        let tasks = (options.tasks * options.rounds).max(1);
        println!(
            "{:.1} ns per task ({} rounds of {} tasks from {:?}, {} workers)",
            started.elapsed().as_nanos() as f64 / tasks as f64,
            options.rounds,
            options.tasks,
            options.from,
            options.workers
        );
    }
    ExitCode::SUCCESS
}

/// Spawn `options.tasks` no-op tasks the chosen way and wait for all of them.
fn run_once(rt: &hetsched::Runtime, options: &Options) {
    let tasks = options.tasks;
    let done = Arc::new(Done {
        left: AtomicUsize::new(tasks),
        all: Mutex::new(tasks == 0),
        signal: Condvar::new(),
    });
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
    }
    waiter.wait();
}

const FROM_EXPECTED: &str = "inside, outside, chain, batch or detached";
const USAGE: &str = "usage: spawn_cost [--tasks N] [--from inside|outside|chain|batch|detached] \
                     [--workers N] [--rounds N]";
