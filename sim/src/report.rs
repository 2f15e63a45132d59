//! Tables and JSON from simulation outcomes.

use crate::engine::Outcome;
use hetsched::Lane;
use serde_json::{json, Value};

/// One line of a report: what a run measured, in the units people read.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Chip name.
    pub chip: String,
    /// Speed of the chip's main E kind in this run.
    pub speed: f64,
    /// Policy name.
    pub policy: String,
    /// Workload name.
    pub workload: String,
    /// Makespan, ms.
    pub makespan_ms: f64,
    /// Fluid lower bound, ms.
    pub bound_ms: f64,
    /// Critical-lane runnable → polled p50 / p99 / p99.9, µs.
    pub critical_wait_us: Option<[f64; 3]>,
    /// Latency-critical tasks' response p50 / p99 / p99.9, µs.
    pub response_us: Option<[f64; 3]>,
    /// Share of the task work done on E cores.
    pub e_share: f64,
    /// Energy proxy, core-ms weighted by power (`engine::power_weight`).
    pub energy: f64,
    /// CPU loans.
    pub loans: u64,
}

fn three(f: impl Fn(f64) -> Option<f64>) -> Option<[f64; 3]> {
    Some([f(0.5)?, f(0.99)?, f(0.999)?])
}

impl Row {
    /// The row for `outcome`, run with the main E kind at `speed`.
    pub fn new(outcome: &Outcome, speed: f64) -> Row {
        Row {
            chip: outcome.chip.clone(),
            speed,
            policy: outcome.policy.clone(),
            workload: outcome.workload.clone(),
            makespan_ms: outcome.makespan_us / 1e3,
            bound_ms: outcome.bound_us / 1e3,
            critical_wait_us: three(|q| outcome.wait_quantile(Lane::Critical, q)),
            response_us: three(|q| outcome.response_quantile(q)),
            e_share: outcome.efficiency_share(),
            energy: outcome.energy / 1e3,
            loans: outcome.loans,
        }
    }

    /// Makespan over the bound.
    pub fn over_bound(&self) -> f64 {
        self.makespan_ms / self.bound_ms.max(1e-12)
    }

    /// The JSON object of this row.
    pub fn to_json(&self) -> Value {
        let q = |v: Option<[f64; 3]>| {
            v.map(|[p50, p99, p999]| json!({"p50": p50, "p99": p99, "p999": p999}))
        };
        json!({
            "chip": self.chip,
            "efficiency_speed": self.speed,
            "policy": self.policy,
            "workload": self.workload,
            "makespan_ms": self.makespan_ms,
            "bound_ms": self.bound_ms,
            "over_bound": self.over_bound(),
            "critical_wait_us": q(self.critical_wait_us),
            "response_us": q(self.response_us),
            "e_share": self.e_share,
            "energy": self.energy,
            "cpu_loans": self.loans,
        })
    }
}

fn us(v: Option<[f64; 3]>, i: usize) -> String {
    v.map_or("-".into(), |v| format!("{:.0}", v[i]))
}

/// A text table of `rows`, with each row's makespan relative to the `blind` policy's on
/// the same chip, speed and workload.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<12} {:>5} {:<20} {:<15} {:>11} {:>9} {:>6} {:>8} {:>9} {:>9} {:>8} {:>6} {:>9} {:>5}\n",
        "chip",
        "speed",
        "workload",
        "policy",
        "makespan_ms",
        "bound_ms",
        "/bound",
        "vs_blind",
        "crit_p99",
        "crit_p999",
        "resp_p99",
        "e_work",
        "energy",
        "loans"
    );
    for r in rows {
        let blind = rows
            .iter()
            .find(|b| {
                b.policy == "blind"
                    && b.chip == r.chip
                    && b.speed == r.speed
                    && b.workload == r.workload
            })
            .map_or("-".to_string(), |b| {
                format!("{:.2}x", b.makespan_ms / r.makespan_ms.max(1e-12))
            });
        out += &format!(
            "{:<12} {:>5.2} {:<20} {:<15} {:>11.1} {:>9.1} {:>6.2} {:>8} {:>9} {:>9} {:>8} {:>5.0}% {:>9.1} {:>5}\n",
            r.chip,
            r.speed,
            r.workload,
            r.policy,
            r.makespan_ms,
            r.bound_ms,
            r.over_bound(),
            blind,
            us(r.critical_wait_us, 1),
            us(r.critical_wait_us, 2),
            us(r.response_us, 1),
            r.e_share * 100.0,
            r.energy,
            r.loans
        );
    }
    out += "vs_blind: blind's makespan / this one's (above 1: faster than P/E-blind stealing); \
            crit_*: Interactive/UserInitiated runnable -> polled, us; resp_p99: requests and \
            probe wakes, arrival -> done, us; e_work: share of task work done on E cores; \
            energy: busy core-ms x speed^3\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chip::Chip;
    use crate::engine::{simulate, Config};
    use crate::policies;
    use crate::workload::Workload;

    #[test]
    fn rows_compare_with_blind_and_print_latencies_only_where_measured() {
        let chip = Chip::by_name("emulated").unwrap();
        let cfg = Config::default();
        let rows: Vec<Row> = ["hetsched", "blind"]
            .iter()
            .map(|name| {
                let p = policies::by_name(name).unwrap();
                Row::new(
                    &simulate(&chip, p.as_ref(), Workload::FewLong(1), &cfg).unwrap(),
                    0.3,
                )
            })
            .collect();
        let text = table(&rows);
        assert!(text.lines().nth(2).unwrap().contains("1.00x"), "{text}");
        assert!(rows[0].critical_wait_us.is_none());
        let json = rows[0].to_json();
        assert_eq!(json["policy"], "hetsched");
        assert!(json["makespan_ms"].as_f64().unwrap() > 30.0);
    }
}
