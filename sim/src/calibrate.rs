//! Calibration: the emulated 1P+1E machine, measured on real threads by the harness
//! (`cargo run --release --example bench -- --emulate 0.3 --json FILE`), next to the same
//! workloads simulated on the `emulated` chip at the speed the emulator achieved.
//!
//! Runtimes map to policies: `hetsched` → hetsched's shipped policy, `hetsched_class` →
//! the same under `Pin::Class`, `tokio` and `rayon` → P/E-blind stealing with the
//! harness's worker count. The emulation method maps to the OS model: the `SCHED_FIFO`
//! duty cycle is visible to the kernel (its active balancing moves a thread off a CPU whose
//! capacity RT load has reduced: [`OsModel::capacity_aware`], but without capacity-aware
//! wake-up placement on this x86 VM), work inflation is not ([`OsModel::capacity_blind`]).

use crate::chip::Chip;
use crate::engine::{simulate, Config, Stuck};
use crate::os::OsModel;
use crate::policies::{Blind, Hetsched, Policy};
use crate::workload::Workload;
use hetsched::Pin;
use serde_json::Value;

/// One measured cell next to its simulation.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    /// Workload name.
    pub workload: String,
    /// The harness's runtime name.
    pub runtime: String,
    /// The policy simulated for it.
    pub policy: String,
    /// `fifo` or `inflate`.
    pub method: String,
    /// The emulated speed.
    pub speed: f64,
    /// Measured makespan, ms.
    pub measured_ms: f64,
    /// Simulated makespan, ms.
    pub simulated_ms: f64,
    /// The machine speed the simulation ran at ([`machine_speed`]).
    pub machine_speed: f64,
}

impl Pair {
    /// Simulated / measured - 1.
    pub fn error(&self) -> f64 {
        self.simulated_ms / self.measured_ms - 1.0
    }
}

/// The policy that models a harness runtime with `workers` threads, if there is one.
pub fn policy_for(runtime: &str, workers: usize) -> Option<Box<dyn Policy>> {
    Some(match runtime {
        "hetsched" => Box::new(Hetsched::shipped()),
        "hetsched_class" => Box::new(Hetsched {
            pin: Pin::Class,
            ..Hetsched::shipped()
        }),
        "tokio" | "rayon" => Box::new(Blind {
            workers: Some(workers),
        }),
        _ => return None,
    })
}

/// The OS model of an emulation method.
pub fn os_for(method: &str) -> Option<OsModel> {
    match method {
        "fifo" => Some(OsModel {
            wake_prefers_fast: false,
            ..OsModel::capacity_aware()
        }),
        "inflate" => Some(OsModel::capacity_blind()),
        _ => None,
    }
}

/// The runtimes whose rows measure the machine rather than a policy: closure pools with
/// one shared queue, on `many_10000x200us`, where every policy meets the bound.
const REFERENCE_RUNTIMES: [&str; 2] = ["plain_pool", "threadpool"];
/// See [`REFERENCE_RUNTIMES`].
const REFERENCE_WORKLOAD: &str = "many_10000x200us";

/// How fast the machine ran the benchmark's work during the run, relative to the
/// harness's calibration loop (the fastest of 25, so on a shared VM the typical loop is a
/// few percent slower): the bound over the reference pools' makespan on the 10,000-task
/// workload, per method. 1.0 when the file has no such rows.
pub fn machine_speed(rows: &[Value], method: &str) -> f64 {
    let ratios: Vec<f64> = rows
        .iter()
        .filter(|r| {
            r["method"] == method
                && r["workload"] == REFERENCE_WORKLOAD
                && REFERENCE_RUNTIMES.iter().any(|n| r["runtime"] == *n)
        })
        .filter_map(|r| Some(r["bound_ms"].as_f64()? / r["makespan_ms"].as_f64()?))
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    if ratios.is_empty() {
        1.0
    } else {
        (ratios.iter().sum::<f64>() / ratios.len() as f64).min(1.0)
    }
}

/// Simulate every `"hetero"` row of a harness JSON document that the simulator can run,
/// on the emulated chip slowed to the [`machine_speed`] of the run.
pub fn calibrate(harness: &Value, seed: u64) -> Result<Vec<Pair>, String> {
    let rows = harness
        .get("hetero")
        .and_then(Value::as_array)
        .ok_or("the harness JSON has no \"hetero\" array (run the harness with --emulate)")?;
    let mut pairs = Vec::new();
    for row in rows {
        let text = |key: &str| row.get(key).and_then(Value::as_str);
        let number = |key: &str| row.get(key).and_then(Value::as_f64);
        let (Some(workload), Some(runtime), Some(method), Some(speed), Some(measured)) = (
            text("workload"),
            text("runtime"),
            text("method"),
            number("emulated_speed"),
            number("makespan_ms"),
        ) else {
            return Err(format!("a \"hetero\" row lacks a field: {row}"));
        };
        let workers = number("workers").unwrap_or(2.0) as usize;
        let (Some(w), Some(policy), Some(os)) = (
            Workload::by_name(workload),
            policy_for(runtime, workers),
            os_for(method),
        ) else {
            continue;
        };
        let machine = machine_speed(rows, method);
        let chip = Chip::by_name("emulated")
            .expect("a modelled chip")
            .with_efficiency_speed(speed)
            .with_machine_speed(machine);
        let cfg = Config {
            os,
            seed,
            ..Config::default()
        };
        let outcome = simulate(&chip, policy.as_ref(), w, &cfg).map_err(|Stuck(e)| e)?;
        pairs.push(Pair {
            workload: workload.into(),
            runtime: runtime.into(),
            policy: outcome.policy.clone(),
            method: method.into(),
            speed,
            measured_ms: measured,
            simulated_ms: outcome.makespan_us / 1e3,
            machine_speed: machine,
        });
    }
    Ok(pairs)
}

/// The side-by-side table.
pub fn table(pairs: &[Pair]) -> String {
    let mut out = String::new();
    let mut methods: Vec<(&str, f64)> = Vec::new();
    for p in pairs {
        if !methods.iter().any(|(m, _)| *m == p.method) {
            methods.push((&p.method, p.machine_speed));
        }
    }
    for (method, speed) in methods {
        out += &format!(
            "{method}: the machine ran the work at {speed:.3} of the calibration loop \
             (plain_pool / threadpool on {REFERENCE_WORKLOAD}); simulated so\n"
        );
    }
    out += &format!(
        "{:<20} {:<15} {:<15} {:<8} {:>6} {:>11} {:>12} {:>7}\n",
        "workload", "runtime", "policy", "method", "speed", "measured_ms", "simulated_ms", "error"
    );
    for p in pairs {
        out += &format!(
            "{:<20} {:<15} {:<15} {:<8} {:>6.3} {:>11.1} {:>12.1} {:>+6.1}%\n",
            p.workload,
            p.runtime,
            p.policy,
            p.method,
            p.speed,
            p.measured_ms,
            p.simulated_ms,
            p.error() * 100.0
        );
    }
    let worst = pairs.iter().map(|p| p.error().abs()).fold(0.0, f64::max);
    out += &format!(
        "worst |error| {:.1}% over {} cells (target: within 15%)\n",
        worst * 100.0,
        pairs.len()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed measurement (BENCHMARKS.md, "Calibration"): an alone run of the
    /// harness on this project's 2-core VM.
    const MEASURED: &str = include_str!("../data/emulated-0.3.json");

    #[test]
    fn the_simulator_is_within_15_percent_of_the_emulated_machine() {
        let harness: Value = serde_json::from_str(MEASURED).unwrap();
        let pairs = calibrate(&harness, 1).unwrap();
        // Every workload both can run, for hetsched and P/E-blind, under both methods.
        for runtime in ["hetsched", "tokio"] {
            for method in ["fifo", "inflate"] {
                let n = pairs
                    .iter()
                    .filter(|p| p.runtime == runtime && p.method == method)
                    .count();
                assert_eq!(n, 6, "{runtime} {method}");
            }
        }
        let off: Vec<&Pair> = pairs.iter().filter(|p| p.error().abs() > 0.15).collect();
        assert!(off.is_empty(), "{}", table(&pairs));
    }

    #[test]
    fn unknown_runtimes_and_methods_are_skipped_and_a_broken_file_is_an_error() {
        let doc: Value = serde_json::json!({"hetero": [
            {"workload": "few_long_k1", "runtime": "threadpool", "method": "fifo",
             "emulated_speed": 0.3, "makespan_ms": 50.0, "workers": 3},
            {"workload": "few_long_k1", "runtime": "tokio", "method": "cgroup",
             "emulated_speed": 0.3, "makespan_ms": 50.0, "workers": 3},
        ]});
        assert_eq!(calibrate(&doc, 1).unwrap(), vec![]);
        let err = calibrate(&serde_json::json!({"results": []}), 1).unwrap_err();
        assert!(err.contains("hetero"), "{err}");
        let err = calibrate(&serde_json::json!({"hetero": [{"runtime": "tokio"}]}), 1).unwrap_err();
        assert!(err.contains("lacks"), "{err}");
    }
}
