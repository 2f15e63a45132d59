//! The latency harness's rows (issue 16, item 6; issue 12): scenario A has, next to the
//! plain tokio row, a `tokio_isolated` row (tokio with the probe on its own one-thread
//! runtime); `B_critical` and `inversion` have their rows; every JSON row keeps the shape
//! `BENCHMARKS.md` documents. A tiny configuration (a few
//! tens of milliseconds per run): this checks which rows exist, never what they measure.
#![cfg(not(miri))]

#[path = "../benches/workloads/mod.rs"]
mod workloads;

use std::time::Duration;
use workloads::latency::{self, LatencyConfig, Scenario};

fn tiny() -> LatencyConfig {
    LatencyConfig {
        warm_up: Duration::from_millis(10),
        ..LatencyConfig::new(Duration::from_millis(30))
    }
}

#[test]
fn scenario_a_has_a_tokio_isolated_row_with_the_json_shape_of_the_others() {
    let rows = latency::run_all(&tiny());
    let names = |scenario: Scenario| -> Vec<&str> {
        rows.iter()
            .filter(|r| !r.experiment && r.run.scenario == scenario)
            .map(|r| r.run.runtime)
            .collect()
    };
    let a = names(Scenario::A);
    if a.is_empty() {
        // Scenario A needs two allowed CPUs (one P, one E); it is skipped on fewer.
        assert!(hetsched::Topology::detect().allowed().len() < 2, "{a:?}");
    } else {
        assert_eq!(a, ["hetsched", "tokio", "tokio_isolated"]);
    }
    // Scenario B is unchanged; B_critical runs hetsched with a critical worker and tokio.
    assert_eq!(names(Scenario::B), ["hetsched", "hetsched", "tokio"]);
    assert_eq!(names(Scenario::BCritical), ["hetsched", "tokio"]);
    let inversion = names(Scenario::Inversion);
    if !inversion.is_empty() {
        assert_eq!(inversion, ["hetsched", "hetsched_no_escalation", "tokio"]);
    }

    let keys = [
        "background_ops_per_sec",
        "baseline_ops_per_sec",
        "done_p999_us",
        "done_p99_us",
        "done_p50_us",
        "p50_us",
        "p999_us",
        "p99_us",
        "probe_qos",
        "runtime",
        "scenario",
    ];
    for row in rows.iter().filter(|r| !r.experiment) {
        let json = latency::json_row(row);
        let object = json.as_object().expect("a JSON object");
        let mut found: Vec<&str> = object.keys().map(String::as_str).collect();
        found.sort_unstable();
        found.retain(|k| *k != "idle_critical_cpu_ms");
        let mut want = keys.to_vec();
        want.sort_unstable();
        assert_eq!(found, want, "{json}");
        assert_eq!(object["runtime"], row.run.runtime);
        // Only the critical-worker row reports its idle critical workers' CPU time.
        let critical = row.run.scenario == Scenario::BCritical && row.run.runtime == "hetsched";
        assert_eq!(
            object.contains_key("idle_critical_cpu_ms"),
            critical,
            "{json}"
        );
    }
    // The inversion probe's request waits for its awaited task: done comes after poll.
    for row in rows
        .iter()
        .filter(|r| r.run.scenario == Scenario::Inversion)
    {
        assert!(
            !row.run.done.is_empty(),
            "{} never finished a request",
            row.run.runtime
        );
    }
    let isolated = rows.iter().find(|r| r.run.runtime == "tokio_isolated");
    if let Some(row) = isolated {
        assert_eq!(row.run.probe_qos, "none");
        assert!(
            !row.run.first_poll.is_empty(),
            "the isolated probe never ran"
        );
    }
}

/// The isolated probe runs on its own runtime's thread, the batch on the others.
#[test]
fn the_isolated_probe_runtime_is_separate_from_the_batch_runtime() {
    let (batch, probe) = latency::tokio_isolated_runtimes(2).unwrap();
    let name = |rt: &tokio::runtime::Runtime| {
        rt.block_on(rt.spawn(async { std::thread::current().name().map(str::to_string) }))
            .unwrap()
    };
    assert_eq!(name(&probe).as_deref(), Some("tokio-probe"));
    assert_eq!(name(&batch).as_deref(), Some("tokio-batch"));
    assert_eq!(probe.metrics().num_workers(), 1);
    assert_eq!(batch.metrics().num_workers(), 1);
}
