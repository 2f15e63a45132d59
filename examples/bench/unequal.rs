//! The harness's unequal-cores part: the heterogeneous workloads on every runtime, on the
//! plain machine or an emulated asymmetric one (`--emulate SPEED`), with makespans, ratios
//! to tokio, rayon and the fluid bound, and the `"hetero"` JSON rows.

use crate::workloads::emulate::{self, Emulation};
use crate::workloads::exec::RayonPool;
use crate::workloads::hetero::{self, BoxFuture, HeteroWorkload, Job};
use crate::workloads::plain_pool::PlainPool;
use hetsched::{Builder, CoreClass, CpuSet, Pin, Qos, Topology};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// How the slow CPUs are made slow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Not at all: the plain machine.
    None,
    /// `SCHED_FIFO` duty-cycle threads (the kernel sees it).
    Fifo,
    /// Work inflation (only the benchmark's own work sees it).
    Inflate,
}

impl Method {
    /// The name in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Method::None => "none",
            Method::Fifo => "fifo",
            Method::Inflate => "inflate",
        }
    }
}

/// The CPUs of the (possibly emulated) machine.
pub struct Machine {
    /// hetsched's topology: the operator's (`HETSCHED_*`), or on a homogeneous machine
    /// under `--emulate` P = the first allowed CPU and E = the rest.
    pub topology: Topology,
    /// The CPUs that are slowed (the E CPUs), empty on the plain machine.
    pub slow: Vec<usize>,
    /// A fast CPU to calibrate and measure on.
    pub fast: usize,
}

impl Machine {
    /// The machine to run on. `emulated`: slow CPUs are needed.
    pub fn new(topology: Topology, emulated: bool) -> Result<Machine, String> {
        let allowed: Vec<usize> = topology.allowed().iter().collect();
        let (topology, slow) = if topology.is_heterogeneous() {
            let slow = topology.cpus(CoreClass::Efficiency).iter().collect();
            (topology, if emulated { slow } else { Vec::new() })
        } else if emulated {
            if allowed.len() < 2 {
                return Err(format!(
                    "--emulate needs at least 2 allowed CPUs (one fast, one slow), found {}",
                    allowed.len()
                ));
            }
            let p = CpuSet::from_cpus([allowed[0]]).map_err(|e| e.to_string())?;
            let e = CpuSet::from_cpus(allowed[1..].iter().copied()).map_err(|e| e.to_string())?;
            let t = Topology::with_classes(p, e).map_err(|e| e.to_string())?;
            (t, allowed[1..].to_vec())
        } else {
            (topology, Vec::new())
        };
        let fast = topology
            .cpus(CoreClass::Performance)
            .iter()
            .next()
            .or(allowed.first().copied())
            .ok_or("no CPU ids known: the unequal-cores workloads need Linux CPU ids")?;
        Ok(Machine {
            topology,
            slow,
            fast,
        })
    }

    /// Every runtime CPU's speed (fast = 1.0, slow = `speed`).
    fn speeds(&self, speed: f64) -> Vec<f64> {
        let cpus: Vec<usize> = {
            let t = &self.topology;
            let mut all: Vec<usize> = t
                .cpus(CoreClass::Performance)
                .iter()
                .chain(t.cpus(CoreClass::Efficiency).iter())
                .collect();
            all.sort_unstable();
            all.dedup();
            all
        };
        cpus.iter()
            .map(|c| if self.slow.contains(c) { speed } else { 1.0 })
            .collect()
    }
}

/// One cell of the table.
pub struct Row {
    /// The workload.
    pub workload: HeteroWorkload,
    /// Runtime name.
    pub runtime: &'static str,
    /// Median makespan, ms.
    pub makespan_ms: f64,
    /// The fluid lower bound, ms.
    pub bound_ms: f64,
    /// The slow CPUs' speed this ran at (1.0 on the plain machine).
    pub speed: f64,
    /// How they were slowed.
    pub method: Method,
    /// Latency under batch only: the probe's wake → first poll p99, µs.
    pub probe_p99_us: Option<f64>,
    /// Worker threads of this runtime.
    pub workers: usize,
    /// hetsched only: CPU loans per run (an idle P worker moving an E worker's long poll
    /// onto its CPUs, `WorkerMetrics::cpu_loans`), mean over the runs.
    pub cpu_loans: Option<f64>,
}

/// Takes a job.
type Submit = Box<dyn Fn(Job)>;
/// Spawns the latency probe.
type SpawnProbe = Box<dyn Fn(BoxFuture)>;

/// The runtimes, each able to take a job (and, for the async ones, the probe).
struct Contender {
    name: &'static str,
    workers: usize,
    submit: Submit,
    /// Latency under batch: (submit a batch job, spawn the Interactive probe).
    under_batch: Option<(Submit, SpawnProbe)>,
    /// hetsched only: CPU loans so far, summed over its workers.
    cpu_loans: Option<Box<dyn Fn() -> u64>>,
}

fn hetsched_contender(name: &'static str, builder: Builder) -> Result<Contender, String> {
    let rt = Arc::new(
        builder
            .build()
            .map_err(|e| format!("cannot start hetsched: {e}"))?,
    );
    let workers = rt.metrics().workers.len();
    let (a, b, c) = (rt.clone(), rt.clone(), rt.clone());
    Ok(Contender {
        name,
        workers,
        submit: Box::new(move |job| drop(a.spawn(async move { job() }))),
        under_batch: Some((
            Box::new(move |job| drop(b.spawn_with(Qos::Background, async move { job() }))),
            Box::new(move |probe| drop(c.spawn_with(Qos::Interactive, probe))),
        )),
        cpu_loans: Some(Box::new(move || {
            rt.metrics().workers.iter().map(|w| w.cpu_loans).sum()
        })),
    })
}

fn contenders(machine: &Machine, speed: f64) -> Result<Vec<Contender>, String> {
    let base = || -> Result<Builder, String> {
        let topology = if machine.topology.is_heterogeneous() && speed < 1.0 {
            machine
                .topology
                .clone()
                .with_efficiency_speed(speed)
                .map_err(|e| e.to_string())?
        } else {
            machine.topology.clone()
        };
        Ok(Builder::from_env()
            .map_err(|e| e.to_string())?
            .topology(topology))
    };
    let mut all = vec![hetsched_contender("hetsched", base()?)?];
    let workers = all[0].workers;
    if machine.topology.is_heterogeneous() {
        // The placement before `Pin::Spill`, for comparison: each class on its own CPUs.
        all.push(hetsched_contender(
            "hetsched_class",
            base()?.pin(Pin::Class).thread_name("class"),
        )?);
    }
    let tokio = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .build()
            .map_err(|e| format!("cannot start tokio: {e}"))?,
    );
    let (t1, t2, t3) = (tokio.clone(), tokio.clone(), tokio);
    all.push(Contender {
        name: "tokio",
        workers,
        submit: Box::new(move |job| drop(t1.spawn(async move { job() }))),
        under_batch: Some((
            Box::new(move |job| drop(t2.spawn(async move { job() }))),
            Box::new(move |probe| drop(t3.spawn(probe))),
        )),
        cpu_loans: None,
    });
    let rayon = RayonPool(Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .build()
            .map_err(|e| format!("cannot start rayon: {e}"))?,
    ));
    all.push(Contender {
        name: "rayon",
        workers,
        submit: Box::new(move |job| rayon.0.spawn(job)),
        under_batch: None,
        cpu_loans: None,
    });
    let plain = PlainPool::new(workers).map_err(|e| format!("cannot start the plain pool: {e}"))?;
    let handle = plain.handle().clone();
    // The pool must outlive its handle's users: keep it inside the closure.
    let plain = Arc::new(plain);
    all.push(Contender {
        name: "plain_pool",
        workers,
        submit: Box::new(move |job| {
            let _keep = &plain;
            handle.execute(job)
        }),
        under_batch: None,
        cpu_loans: None,
    });
    let threadpool = threadpool::ThreadPool::new(workers);
    all.push(Contender {
        name: "threadpool",
        workers,
        submit: Box::new(move |job| threadpool.execute(job)),
        under_batch: None,
        cpu_loans: None,
    });
    Ok(all)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Run every heterogeneous workload (whose name contains `only`, if given) on every
/// runtime at `speed` (already in effect by `method`); `runs` per cell, median.
pub fn run_workloads(
    machine: &Machine,
    iters_per_ms: f64,
    speed: f64,
    method: Method,
    runs: usize,
    only: Option<&str>,
) -> Result<Vec<Row>, String> {
    let contenders = contenders(machine, speed)?;
    let speeds = machine.speeds(speed);
    let probe_iters = (iters_per_ms * hetero::PROBE_WORK_MS).round() as u64;
    let mut rows = Vec::new();
    let selected = HeteroWorkload::ALL
        .into_iter()
        .filter(|w| only.map_or(true, |text| w.name().contains(text)));
    for workload in selected {
        for c in &contenders {
            let loans_before = c.cpu_loans.as_ref().map(|loans| loans());
            let jobs = workload.jobs(speeds.len(), iters_per_ms);
            let bound_ms = hetero::bound_ms(&jobs, iters_per_ms, &speeds);
            let (makespan_ms, probe_p99_us) = if workload == HeteroWorkload::LatencyUnderBatch {
                let Some((batch, probe)) = &c.under_batch else {
                    continue;
                };
                let mut spans = Vec::new();
                let mut p99s = Vec::new();
                for _ in 0..runs {
                    let r = hetero::under_batch(batch.as_ref(), probe.as_ref(), &jobs, probe_iters);
                    spans.push(r.makespan.as_secs_f64() * 1e3);
                    p99s.push(r.first_poll.value_at_quantile(0.99) as f64 / 1e3);
                }
                (median(spans), Some(median(p99s)))
            } else {
                let spans = (0..runs)
                    .map(|_| hetero::makespan(c.submit.as_ref(), &jobs).as_secs_f64() * 1e3)
                    .collect();
                (median(spans), None)
            };
            let cpu_loans = c
                .cpu_loans
                .as_ref()
                .zip(loans_before)
                .map(|(loans, before)| (loans() - before) as f64 / runs as f64);
            rows.push(Row {
                workload,
                runtime: c.name,
                makespan_ms,
                bound_ms,
                speed,
                method,
                probe_p99_us,
                workers: c.workers,
                cpu_loans,
            });
        }
    }
    Ok(rows)
}

/// Start the duty-cycle emulation and check it took: measured speed within 0.15 of the
/// target. Errors are one line for the operator (exit status 2).
pub fn start_fifo(
    machine: &Machine,
    target: f64,
    iters_per_ms: f64,
) -> Result<(Emulation, f64), String> {
    let emulation = Emulation::start(target, &machine.slow)?;
    // Let the duty cycles settle (and the kernel's capacity estimate follow).
    std::thread::sleep(Duration::from_millis(200));
    let mut measured = Vec::new();
    for &slow in &machine.slow {
        measured.push(emulate::measure_speed(machine.fast, slow, iters_per_ms)?);
    }
    let worst = measured.iter().copied().fold(0.0, f64::max);
    if worst > target + 0.15 || worst > 0.95 {
        return Err(format!(
            "the emulation did not take: target speed {target:.2}, measured {worst:.2} on \
             CPUs {:?} (real-time throttling, or another real-time task on them?)",
            machine.slow
        ));
    }
    let mean = measured.iter().sum::<f64>() / measured.len() as f64;
    Ok((emulation, mean))
}

/// The table as text.
pub fn format_table(rows: &[Row]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:<8} {:>5} {:<15} {:>3} {:>10} {:>9} {:>9} {:>9} {:>10} {:>6}",
        "workload",
        "method",
        "speed",
        "runtime",
        "thr",
        "makespan",
        "vs tokio",
        "vs rayon",
        "vs bound",
        "probe p99",
        "loans"
    );
    for r in rows {
        let find = |name: &str| {
            rows.iter()
                .find(|o| {
                    o.workload == r.workload
                        && o.method == r.method
                        && o.speed == r.speed
                        && o.runtime == name
                })
                .map(|o| o.makespan_ms)
        };
        let ratio =
            |b: Option<f64>| b.map_or("-".to_string(), |b| format!("{:.2}x", r.makespan_ms / b));
        let _ = writeln!(
            out,
            "{:<24} {:<8} {:>5.2} {:<15} {:>3} {:>8.1}ms {:>9} {:>9} {:>8.2}x {:>10} {:>6}",
            r.workload.name(),
            r.method.name(),
            r.speed,
            r.runtime,
            r.workers,
            r.makespan_ms,
            ratio(find("tokio")),
            ratio(find("rayon")),
            r.makespan_ms / r.bound_ms,
            r.probe_p99_us.map_or("-".into(), |p| format!("{p:.1}µs")),
            r.cpu_loans.map_or("-".into(), |l| format!("{l:.1}")),
        );
    }
    let _ = writeln!(
        out,
        "makespan: median of runs; ratios are this runtime's makespan / the other's (lower is \
         better); bound: total work / total capacity, or the longest job on the fastest CPU; \
         loans: hetsched's CPU loans per run (an idle P worker moving an E worker's long poll \
         onto its CPU)"
    );
    out
}

/// The `"hetero"` JSON rows.
pub fn to_json(rows: &[Row]) -> Vec<serde_json::Value> {
    rows.iter()
        .map(|r| {
            let mut row = json!({
                "workload": r.workload.name(),
                "runtime": r.runtime,
                "makespan_ms": r.makespan_ms,
                "bound_ms": r.bound_ms,
                "emulated_speed": r.speed,
                "method": r.method.name(),
                "workers": r.workers,
            });
            if let Some(p99) = r.probe_p99_us {
                row["probe_p99_us"] = json!(p99);
            }
            if let Some(loans) = r.cpu_loans {
                row["cpu_loans"] = json!(loans);
            }
            row
        })
        .collect()
}

/// Calibrate: iterations of benchmark work per ms on the fast CPU (before any slowing).
pub fn calibrate(machine: &Machine) -> Result<f64, String> {
    emulate::iterations_per_ms(machine.fast)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::hetero::{SKEW_LONG, SKEW_SHORT};

    #[test]
    fn bound_is_work_over_capacity_or_the_longest_job() {
        // Two 10 ms jobs on speeds 1 and 0.25: 20 / 1.25 = 16 ms > 10 ms.
        assert_eq!(hetero::bound_ms(&[10, 10], 1.0, &[1.0, 0.25]), 16.0);
        // One 10 ms job: it cannot be split, 10 ms on the fast CPU.
        assert_eq!(hetero::bound_ms(&[10], 1.0, &[1.0, 0.25]), 10.0);
    }

    #[test]
    fn emulated_speed_must_be_a_share_below_one() {
        assert_eq!(emulate::parse_speed("0.3"), Ok(0.3));
        for bad in ["0", "0.05", "1", "1.5", "fast", ""] {
            let err = emulate::parse_speed(bad).unwrap_err();
            assert!(err.contains("--emulate") && err.contains(bad), "{err}");
        }
    }

    #[test]
    fn few_long_jobs_are_k_per_cpu() {
        assert_eq!(HeteroWorkload::FewLong(3).jobs(2, 1000.0), vec![30_000; 6]);
    }

    #[test]
    fn skewed_mix_spreads_its_long_jobs() {
        let jobs = HeteroWorkload::Skewed.jobs(2, 1000.0);
        assert_eq!(jobs.len(), SKEW_LONG + SKEW_SHORT);
        let long: Vec<usize> = (0..jobs.len()).filter(|&i| jobs[i] == 40_000).collect();
        assert_eq!(long.len(), SKEW_LONG);
        assert!(*long.last().unwrap() > jobs.len() / 2);
    }
}
