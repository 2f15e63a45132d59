//! The ops/s harness: this machine's topology, the throughput workloads on every runtime
//! (ops/s, ratio vs the plain pool and vs tokio, share of hetsched polls per core class),
//! the bounds of `concurrent_10k` (its chunks alone) and `closure_spawn_many` (the same jobs
//! handed to one spinning thread, `workloads/handoff.rs`), the priority-latency scenarios
//! and the unequal-cores workloads (makespan vs tokio, rayon and the fluid bound), in about
//! 110 s (`--quick`: about 25 s).
//!
//! `--emulate SPEED` runs only the unequal-cores workloads, on an emulated asymmetric
//! machine: the efficiency CPUs (`HETSCHED_E_CPUS`, or every CPU but the first on a
//! homogeneous machine) are slowed to SPEED, by `SCHED_FIFO` duty-cycle threads (`fifo`,
//! needs root or `CAP_SYS_NICE`) and then by work inflation (`inflate`); see
//! `benches/workloads/emulate.rs` and BENCHMARKS.md for what each models.
//!
//! ```text
//! cargo run --release --example bench                       # full run
//! cargo run --release --example bench -- --quick --json out.json
//! HETSCHED_P_CPUS=0 HETSCHED_E_CPUS=1 cargo run --release --example bench -- --quick
//! cargo run --release --example bench -- --emulate 0.3      # emulated 1P+1E at 0.3x
//! ```
//!
//! The throughput runtime honours the operator's `HETSCHED_*` variables; latency scenario A
//! always declares its own classes (P = first allowed CPU, E = the rest) and scenario B
//! always uses the detected defaults. Errors (bad flag, bad environment variable, JSON file
//! not writable) print one line on stderr and exit with status 2.

mod unequal;
#[path = "../../benches/workloads/mod.rs"]
mod workloads;

use hetsched::{CoreClass, Topology};
use serde_json::json;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use workloads::exec::{Kind, Runtimes};
use workloads::latency::{self, LatencyConfig, LatencyRow};
use workloads::Workload;

const USAGE: &str = "\
usage: bench [--quick] [--json FILE] [--only TEXT] [--no-latency] [--no-hetero]
             [--emulate SPEED [--method fifo|inflate|both]] [--runs N] [--help]

  --quick          shorter runs (about 25 s instead of about 110 s)
  --json FILE      also write the results as JSON to FILE
  --only TEXT      run only the throughput and unequal-cores workloads whose name
                   contains TEXT
  --no-latency     skip the latency scenarios
  --no-hetero      skip the unequal-cores workloads
  --emulate SPEED  slow the efficiency CPUs to SPEED (0.1 <= SPEED < 1) and run only the
                   unequal-cores workloads there (SCHED_FIFO needs root or CAP_SYS_NICE)
  --method M       how to slow them: fifo (duty-cycle threads), inflate (the benchmark's
                   own work costs 1/SPEED more there) or both (default)
  --runs N         runs per unequal-cores cell, median (default 3; 1 with --quick)
  --help           print this help";

struct Options {
    quick: bool,
    json: Option<String>,
    only: Option<String>,
    latency: bool,
    hetero: bool,
    emulate: Option<f64>,
    methods: Vec<unequal::Method>,
    runs: Option<usize>,
}

/// `Ok(None)`: `--help` was asked for.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        quick: false,
        json: None,
        only: None,
        latency: true,
        hetero: true,
        emulate: None,
        methods: vec![unequal::Method::Fifo, unequal::Method::Inflate],
        runs: None,
    };
    let mut method_given = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--quick" => options.quick = true,
            "--no-latency" => options.latency = false,
            "--no-hetero" => options.hetero = false,
            "--emulate" => match args.next() {
                Some(text) => options.emulate = Some(workloads::emulate::parse_speed(&text)?),
                None => return Err("--emulate needs a SPEED, e.g. --emulate 0.3".into()),
            },
            "--method" => {
                method_given = true;
                options.methods = match args.next().as_deref() {
                    Some("fifo") => vec![unequal::Method::Fifo],
                    Some("inflate") => vec![unequal::Method::Inflate],
                    Some("both") => vec![unequal::Method::Fifo, unequal::Method::Inflate],
                    other => {
                        return Err(format!(
                            "--method {:?}: expected fifo, inflate or both",
                            other.unwrap_or("")
                        ))
                    }
                }
            }
            "--runs" => match args
                .next()
                .as_deref()
                .map(|t| (t, t.trim().parse::<usize>()))
            {
                Some((_, Ok(n))) if (1..=99).contains(&n) => options.runs = Some(n),
                Some((text, _)) => {
                    return Err(format!(
                        "--runs {text:?}: expected a whole number of runs from 1 to 99"
                    ))
                }
                None => return Err("--runs needs a number of runs, e.g. --runs 5".into()),
            },
            "--only" => match args.next() {
                Some(text) => options.only = Some(text),
                None => return Err("--only needs a workload name (or part of one)".into()),
            },
            "--json" => match args.next() {
                Some(path) if !path.is_empty() => options.json = Some(path),
                _ => return Err("--json needs a file name".into()),
            },
            // `cargo bench` / test harness flags, if ever passed through: ignore.
            "--bench" | "--nocapture" => {}
            other => match other.strip_prefix("--json=") {
                Some(path) if !path.is_empty() => options.json = Some(path.to_string()),
                _ => return Err(format!("unknown argument {other:?}; see --help")),
            },
        }
    }
    if method_given && options.emulate.is_none() {
        return Err("--method only applies with --emulate SPEED".into());
    }
    Ok(Some(options))
}

/// One throughput cell.
struct Cell {
    workload: Workload,
    kind: Kind,
    ops_per_sec: f64,
    /// hetsched only: polls on (performance, efficiency) workers during the cell.
    polls: Option<(u64, u64)>,
    /// hetsched only: worker parks (went to sleep) per run during the cell.
    parks_per_run: Option<f64>,
}

/// hetsched counters: (performance polls, efficiency polls, parks, runs so far).
fn hetsched_counters(rt: &hetsched::Runtime) -> (u64, u64, u64) {
    let m = rt.metrics();
    (
        m.polls_by_class(CoreClass::Performance),
        m.polls_by_class(CoreClass::Efficiency),
        m.workers.iter().map(|w| w.parks).sum(),
    )
}

/// Median ops/s of repeated runs (at least `min_runs`, then until `budget` is spent), and
/// how many runs that took (warm-up included).
fn measure(rts: &Runtimes, workload: Workload, kind: Kind, budget: Duration) -> (f64, usize) {
    median_rate(workload.ops(), budget, || workload.run(rts, kind))
}

/// [`measure`] for any timed run of `ops` operations.
fn median_rate(ops: u64, budget: Duration, mut run: impl FnMut() -> Duration) -> (f64, usize) {
    let min_runs = 3;
    run(); // warm-up: first-touch allocations, thread wake-ups
    let started = Instant::now();
    let mut rates = Vec::new();
    while rates.len() < min_runs || (started.elapsed() < budget && rates.len() < 1_000) {
        let took = run().as_secs_f64().max(1e-9);
        rates.push(ops as f64 / took);
    }
    rates.sort_by(f64::total_cmp);
    (rates[rates.len() / 2], rates.len() + 1)
}

/// What the throughput and latency part of a run measured.
#[derive(Default)]
struct PlainSuite {
    cells: Vec<Cell>,
    bounds: Vec<HandOffBound>,
    rows: Vec<LatencyRow>,
}

/// The hand-off bound of a one-by-one workload (`workloads/handoff.rs`), measured as its
/// cells are.
struct HandOffBound {
    workload: Workload,
    ops_per_sec: f64,
}

/// Measure the hand-off bound of `closure_spawn_many` at `n` jobs.
fn measure_handoff(n: usize, budget: Duration) -> Result<f64, String> {
    let mut handoff = workloads::handoff::HandOff::start()
        .map_err(|e| format!("cannot start the hand-off bound's thread: {e}"))?;
    Ok(median_rate(n as u64, budget, || handoff.spawn_many(n)).0)
}

fn print_topology(rt: &hetsched::Runtime) {
    let detected = Topology::detect();
    println!("== machine");
    println!(
        "cpus allowed: {} (available_parallelism: {})",
        detected.allowed(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("detected from: {}", detected.source());
    for class in CoreClass::ALL {
        println!(
            "detected {class:?}: {} cpus [{}]",
            detected.count(class),
            detected.cpus(class)
        );
    }
    println!("heterogeneous: {}", detected.is_heterogeneous());
    println!("== hetsched throughput runtime (HETSCHED_* honoured)");
    // Workers record their placement outcome as they start: give them a moment.
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut metrics = rt.metrics();
    while metrics.workers.iter().any(|w| w.hints.is_none()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
        metrics = rt.metrics();
    }
    for w in &metrics.workers {
        let hints = w.hints.as_ref().map_or_else(
            || "not started".to_string(),
            |h| format!("pin: {}, qos hint: {}", h.pin, h.qos),
        );
        println!(
            "  {} {:?} cpus [{}] — {hints}",
            w.name,
            w.class,
            if w.cpus.is_empty() { "any" } else { &w.cpus }
        );
    }
    println!("  idle spin: {:?}", metrics.idle_spin);
}

fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

fn print_throughput(cells: &[Cell]) {
    println!("== throughput (ops/s; median of runs; ratios: this runtime / baseline)");
    println!(
        "{:<26} {:<11} {:>14} {:>9} {:>9} {:>8} {:>8} {:>10}",
        "workload", "runtime", "ops/s", "vs plain", "vs tokio", "P polls", "E polls", "parks/run"
    );
    for cell in cells {
        let find = |kind: Kind| {
            cells
                .iter()
                .find(|c| c.workload == cell.workload && c.kind == kind)
                .map(|c| c.ops_per_sec)
        };
        let (p, e) = match cell.polls {
            Some((p, e)) if p + e > 0 => (
                format!("{:.0}%", 100.0 * p as f64 / (p + e) as f64),
                format!("{:.0}%", 100.0 * e as f64 / (p + e) as f64),
            ),
            _ => ("-".into(), "-".into()),
        };
        let parks = cell
            .parks_per_run
            .map_or_else(|| "-".to_string(), |k| format!("{k:.0}"));
        println!(
            "{:<26} {:<11} {:>14.0} {:>9} {:>9} {:>8} {:>8} {:>10}",
            cell.workload.name(),
            cell.kind.name(),
            cell.ops_per_sec,
            ratio(cell.ops_per_sec, find(Kind::PlainPool)),
            ratio(cell.ops_per_sec, find(Kind::Tokio)),
            p,
            e,
            parks
        );
    }
}

/// For concurrent_10k: the chunks alone on plain threads (median of 5), the bound no
/// runtime can pass, and each runtime's scheduling cost per chunk (its time per chunk per
/// worker minus the chunk's own).
fn print_chunk_bound(cells: &[Cell], workers: usize) {
    let runs: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.workload == Workload::Concurrent10k)
        .collect();
    if runs.is_empty() {
        return;
    }
    let mut bounds: Vec<f64> = (0..5)
        .map(|_| workloads::concurrent_chunks_only(workers))
        .collect();
    bounds.sort_by(f64::total_cmp);
    let bound = bounds[bounds.len() / 2];
    let chunk_ns = workers as f64 / bound * 1e9;
    println!(
        "concurrent_10k bound: the chunks alone on {workers} plain threads: {bound:.0} chunks/s \
         ({chunk_ns:.0} ns of CPU per chunk); scheduling cost per chunk:"
    );
    for cell in runs {
        let per_chunk_ns = workers as f64 / cell.ops_per_sec * 1e9;
        println!(
            "  {:<11} {:>6.0} ns  ({:.2}x of the bound)",
            cell.kind.name(),
            per_chunk_ns - chunk_ns,
            cell.ops_per_sec / bound
        );
    }
}

/// For closure_spawn_many: each size's hand-off bound, what it is of the plain pool, and
/// what each runtime reaches of it.
fn print_handoff_bounds(cells: &[Cell], bounds: &[HandOffBound]) {
    if bounds.is_empty() {
        if cells
            .iter()
            .any(|c| matches!(c.workload, Workload::ClosureSpawnMany(_)))
        {
            println!("closure_spawn_many bound: not measured (it needs two CPUs)");
        }
        return;
    }
    println!(
        "closure_spawn_many bound: the same jobs handed one by one to one spinning thread over \
         a ring (no allocation, no wake-ups; workloads/handoff.rs); what each runtime reaches of it:"
    );
    for bound in bounds {
        let of_bound: Vec<String> = cells
            .iter()
            .filter(|c| c.workload == bound.workload)
            .map(|c| format!("{} {:.2}", c.kind.name(), c.ops_per_sec / bound.ops_per_sec))
            .collect();
        let plain = cells
            .iter()
            .find(|c| c.workload == bound.workload && c.kind == Kind::PlainPool)
            .map(|c| c.ops_per_sec);
        println!(
            "  {:<26} {:>11.0} ops/s ({} the plain pool); {}",
            bound.workload.name(),
            bound.ops_per_sec,
            ratio(bound.ops_per_sec, plain),
            of_bound.join(", ")
        );
    }
}

fn to_json(
    cells: &[Cell],
    bounds: &[HandOffBound],
    rows: &[LatencyRow],
    hetero: &[unequal::Row],
) -> serde_json::Value {
    let results: Vec<_> = cells
        .iter()
        .map(|c| {
            json!({
                "workload": c.workload.name(),
                "runtime": c.kind.name(),
                "ops_per_sec": c.ops_per_sec,
            })
        })
        .collect();
    let latency: Vec<_> = rows
        .iter()
        .filter(|row| !row.experiment)
        .map(latency::json_row)
        .collect();
    let handoff: Vec<_> = bounds
        .iter()
        .map(|b| json!({ "workload": b.workload.name(), "ops_per_sec": b.ops_per_sec }))
        .collect();
    json!({
        "results": results,
        "handoff_bounds": handoff,
        "latency": latency,
        "hetero": unequal::to_json(hetero),
    })
}

fn run(options: &Options) -> Result<(), String> {
    let started = Instant::now();
    let hetsched = hetsched::Builder::from_env()
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| format!("cannot start hetsched: {e}"))?;
    print_topology(&hetsched);
    let PlainSuite {
        cells,
        bounds,
        rows,
    } = if options.emulate.is_none() {
        run_plain_suite(options, hetsched)?
    } else {
        // On the emulated machine only the unequal-cores workloads are measured.
        drop(hetsched);
        PlainSuite::default()
    };
    let hetero = if options.hetero || options.emulate.is_some() {
        run_unequal(options)?
    } else {
        Vec::new()
    };
    println!("total time: {:.1} s", started.elapsed().as_secs_f64());

    if let Some(path) = &options.json {
        let text = serde_json::to_string_pretty(&to_json(&cells, &bounds, &rows, &hetero))
            .map_err(|e| format!("cannot encode JSON: {e}"))?;
        std::fs::write(path, text + "\n").map_err(|e| format!("cannot write {path:?}: {e}"))?;
        println!("wrote {path}");
    }
    Ok(())
}

/// The throughput workloads and the latency scenarios, on the plain machine.
fn run_plain_suite(options: &Options, hetsched: hetsched::Runtime) -> Result<PlainSuite, String> {
    let rts = Runtimes::new(hetsched).map_err(|e| format!("cannot start a runtime: {e}"))?;
    println!("every runtime: {} worker threads", rts.workers);

    let budget = if options.quick {
        Duration::from_millis(60)
    } else {
        Duration::from_millis(350)
    };
    let mut cells = Vec::new();
    let mut bounds = Vec::new();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let selected = Workload::all().into_iter().filter(|w| {
        options
            .only
            .as_deref()
            .map_or(true, |text| w.name().contains(text))
    });
    for workload in selected {
        for &kind in workload.runtimes() {
            let before = (kind == Kind::Hetsched).then(|| hetsched_counters(&rts.hetsched));
            let (ops_per_sec, runs) = measure(&rts, workload, kind, budget);
            let after = before.map(|_| hetsched_counters(&rts.hetsched));
            let delta = before.zip(after).map(|((p0, e0, k0), (p1, e1, k1))| {
                ((p1 - p0, e1 - e0), (k1 - k0) as f64 / runs as f64)
            });
            cells.push(Cell {
                workload,
                kind,
                ops_per_sec,
                polls: delta.map(|d| d.0),
                parks_per_run: delta.map(|d| d.1),
            });
        }
        // Right after the workload's cells, so that it runs in the same conditions. With one
        // CPU the spinning thread would share it with the submitter: no bound, skipped.
        match workload {
            Workload::ClosureSpawnMany(n) if cpus >= 2 => {
                let ops_per_sec = measure_handoff(n, budget)?;
                bounds.push(HandOffBound {
                    workload,
                    ops_per_sec,
                });
            }
            _ => {}
        }
    }
    let workers = rts.workers;
    drop(rts);
    print_throughput(&cells);
    print_chunk_bound(&cells, workers);
    print_handoff_bounds(&cells, &bounds);

    let cfg = LatencyConfig::new(if options.quick {
        Duration::from_millis(500)
    } else {
        Duration::from_millis(2_500)
    });
    println!("== priority latency under load (wake → first poll, wake → done)");
    let rows = if options.latency {
        latency::run_all(&cfg)
    } else {
        Vec::new()
    };
    print!("{}", latency::format_table(&rows, &cfg));
    Ok(PlainSuite {
        cells,
        bounds,
        rows,
    })
}

/// The unequal-cores workloads: on the plain machine, or on the emulated one with each
/// requested method. Every slowing thread is stopped before this returns, on every path.
fn run_unequal(options: &Options) -> Result<Vec<unequal::Row>, String> {
    use unequal::Method;
    let topology = Topology::from_env().map_err(|e| e.to_string())?;
    let machine = unequal::Machine::new(topology, options.emulate.is_some())?;
    let iters_per_ms = unequal::calibrate(&machine)?;
    let runs = options.runs.unwrap_or(if options.quick { 1 } else { 3 });
    let only = options.only.as_deref();
    println!(
        "== unequal cores (hetsched classes: P [{}], E [{}]; slowed CPUs {:?}; \
         {iters_per_ms:.0} iterations/ms on CPU {})",
        machine.topology.cpus(CoreClass::Performance),
        machine.topology.cpus(CoreClass::Efficiency),
        machine.slow,
        machine.fast
    );
    let mut rows = Vec::new();
    match options.emulate {
        None => {
            rows = unequal::run_workloads(&machine, iters_per_ms, 1.0, Method::None, runs, only)?
        }
        Some(target) => {
            for &method in &options.methods {
                let speed = match method {
                    Method::Fifo => {
                        let (emulation, measured) =
                            unequal::start_fifo(&machine, target, iters_per_ms)?;
                        println!(
                            "emulation (fifo): target speed {target:.2}, measured {measured:.3} \
                             (a fixed loop on CPU {} vs the slowed CPUs)",
                            machine.fast
                        );
                        let result = unequal::run_workloads(
                            &machine,
                            iters_per_ms,
                            measured,
                            method,
                            runs,
                            only,
                        );
                        drop(emulation);
                        result?
                    }
                    Method::Inflate => {
                        println!("emulation (inflate): speed {target:.2} by work inflation");
                        workloads::emulate::set_inflation(Some((&machine.slow, target)));
                        let result = unequal::run_workloads(
                            &machine,
                            iters_per_ms,
                            target,
                            method,
                            runs,
                            only,
                        );
                        workloads::emulate::set_inflation(None);
                        result?
                    }
                    Method::None => continue,
                };
                rows.extend(speed);
            }
        }
    }
    print!("{}", unequal::format_table(&rows));
    Ok(rows)
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("bench: {err}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: {err}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Options>, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn runs_must_be_a_small_whole_number() {
        let options = parse(&["--runs", "5"]).unwrap().unwrap();
        assert_eq!(options.runs, Some(5));
        assert_eq!(parse(&[]).unwrap().unwrap().runs, None);
        for bad in ["0", "100", "-1", "three", ""] {
            let err = parse(&["--runs", bad]).err().unwrap();
            assert!(err.contains("--runs") && err.contains(bad), "{err}");
        }
        assert!(parse(&["--runs"]).err().unwrap().contains("--runs"));
    }

    #[test]
    fn the_handoff_bound_runs_every_job_once_and_drops_it() {
        use workloads::handoff::{HandOff, RING_SLOTS};
        let mut handoff = HandOff::start().expect("spawn the consuming thread");
        // More jobs than slots: the submitter must wait for room and lose nothing.
        let latch = workloads::exec::Latch::new(RING_SLOTS + 100);
        for _ in 0..RING_SLOTS + 100 {
            handoff.submit(latch.clone());
        }
        latch.wait();
        drop(handoff);
        assert_eq!(
            std::sync::Arc::strong_count(&latch),
            1,
            "every job was dropped"
        );
    }

    #[test]
    fn method_needs_an_emulation() {
        assert!(parse(&["--method", "fifo"]).is_err());
        let options = parse(&["--emulate", "0.3", "--method", "inflate"])
            .unwrap()
            .unwrap();
        assert_eq!(options.methods, vec![unequal::Method::Inflate]);
        assert!(parse(&["--emulate", "0.3", "--method", "slow"])
            .err()
            .unwrap()
            .contains("slow"));
    }
}
