//! Workloads: what arrives from outside the runtime, when, and what each task does.
//!
//! Work is in µs *on the fastest core* (a fixed amount of computation, as the harness's
//! fixed iteration counts): on a core of speed `s` it takes `work / s`. The first six are
//! the harness's unequal-cores workloads: their names, job lists and probe come from the
//! harness's own `benches/workloads/hetero_jobs.rs`, included here, so the two cannot drift.

use hetsched::Qos;

#[path = "../../benches/workloads/hetero_jobs.rs"]
pub mod harness;

pub use harness::HeteroWorkload;

/// Iterations per ms under which the harness's job lists come out in µs.
const US_PER_MS: f64 = 1_000.0;

/// What a task does, poll by poll.
#[derive(Clone, Debug, PartialEq)]
pub enum Program {
    /// One poll of this much work, then done.
    Cpu(f64),
    /// `chunks` polls of `chunk` work each, yielding between them.
    Chunks {
        /// How many polls.
        chunks: u32,
        /// Work per poll.
        chunk: f64,
    },
    /// Woken from outside every `period` µs until the batch is done; `work` per wake.
    Probe {
        /// Time between wakes, µs.
        period: f64,
        /// Work per wake.
        work: f64,
    },
    /// A fork-join node: a leaf (`depth` 0) does `leaf` work; an inner node does `node`
    /// work, spawns two children of `depth - 1`, waits for both, then does `node` work.
    ForkJoin {
        /// Levels below this node.
        depth: u32,
        /// Work of a leaf.
        leaf: f64,
        /// Work of an inner node, before forking and after joining.
        node: f64,
    },
}

impl Program {
    /// All the work it does, with its children's (a probe's is open-ended: 0).
    pub fn work(&self) -> f64 {
        match *self {
            Program::Cpu(w) => w,
            Program::Chunks { chunks, chunk } => chunks as f64 * chunk,
            Program::Probe { .. } => 0.0,
            Program::ForkJoin { depth, leaf, node } => {
                let leaves = (1u64 << depth) as f64;
                leaves * leaf + (leaves - 1.0) * 2.0 * node
            }
        }
    }

    /// Its longest chain of work that must run one poll after another.
    pub fn chain(&self) -> f64 {
        match *self {
            Program::ForkJoin { depth, leaf, node } => leaf + depth as f64 * 2.0 * node,
            _ => self.work(),
        }
    }
}

/// A task submitted from outside the runtime.
#[derive(Clone, Debug, PartialEq)]
pub struct Arrival {
    /// When, µs from the start.
    pub at: f64,
    /// Its Qos.
    pub qos: Qos,
    /// What it does.
    pub program: Program,
    /// Part of the batch whose makespan is measured (false: a probe or a request).
    pub batch: bool,
}

/// The simulated workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// `k` jobs of 30 ms per core: the straggler problem (the harness's).
    FewLong(usize),
    /// 10,000 jobs of 200 µs (the harness's).
    Many,
    /// 4 jobs of 40 ms spread among 4,000 of 100 µs (the harness's).
    Skewed,
    /// `Many` as a Background batch while an Interactive probe (20 µs) is woken every ms
    /// (the harness's `latency_under_batch`).
    ProbeUnderBatch,
    /// A binary fork-join tree: 4,096 leaves of 100 µs, 2 µs per inner node.
    ForkJoin,
    /// A Background batch (2 jobs per core of 20 chunks of 1 ms, yielding between) while
    /// Interactive requests of 100 µs arrive from outside as a Poisson stream at 30% of the
    /// P cores' capacity.
    RequestMix,
}

/// A request's work in `RequestMix`, µs.
pub const REQUEST_US: f64 = 100.0;
/// Requests arrive at this share of the P cores' capacity.
pub const REQUEST_LOAD: f64 = 0.3;

impl Workload {
    /// Every workload, in table order.
    pub const ALL: [Workload; 8] = [
        Workload::FewLong(1),
        Workload::FewLong(2),
        Workload::FewLong(3),
        Workload::Many,
        Workload::Skewed,
        Workload::ProbeUnderBatch,
        Workload::ForkJoin,
        Workload::RequestMix,
    ];

    /// The name on the command line and in tables (the harness's names where it has the
    /// workload).
    pub fn name(self) -> String {
        match self.harness() {
            Some(h) => h.name(),
            None if self == Workload::ForkJoin => "fork_join".into(),
            None => "request_mix".into(),
        }
    }

    /// The harness's workload of the same name, if the harness has it.
    pub fn harness(self) -> Option<HeteroWorkload> {
        match self {
            Workload::FewLong(k) => Some(HeteroWorkload::FewLong(k)),
            Workload::Many => Some(HeteroWorkload::Many),
            Workload::Skewed => Some(HeteroWorkload::Skewed),
            Workload::ProbeUnderBatch => Some(HeteroWorkload::LatencyUnderBatch),
            Workload::ForkJoin | Workload::RequestMix => None,
        }
    }

    /// The workload called `name`; `straggler` is `few_long_k1`.
    pub fn by_name(name: &str) -> Option<Workload> {
        if name == "straggler" {
            return Some(Workload::FewLong(1));
        }
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    /// Every name [`Workload::by_name`] takes.
    pub fn names() -> Vec<String> {
        let mut names: Vec<String> = Workload::ALL.iter().map(|w| w.name()).collect();
        names.push("straggler".into());
        names
    }

    /// The harness's job list (and probe) for this workload, in µs.
    fn harness_arrivals(self, cores: usize) -> Vec<Arrival> {
        let Some(h) = self.harness() else {
            return Vec::new();
        };
        let job = |work: f64, qos: Qos| Arrival {
            at: 0.0,
            qos,
            program: Program::Cpu(work),
            batch: true,
        };
        let qos = if h == HeteroWorkload::LatencyUnderBatch {
            Qos::Background
        } else {
            Qos::Default
        };
        let mut all: Vec<Arrival> = h
            .jobs(cores, US_PER_MS)
            .into_iter()
            .map(|us| job(us as f64, qos))
            .collect();
        if h == HeteroWorkload::LatencyUnderBatch {
            all.push(Arrival {
                at: 0.0,
                qos: Qos::Interactive,
                program: Program::Probe {
                    period: harness::PROBE_PERIOD_MS * US_PER_MS,
                    work: harness::PROBE_WORK_MS * US_PER_MS,
                },
                batch: false,
            });
        }
        all
    }

    /// What arrives, on a machine of `cores` cores whose P cores' speeds sum to
    /// `p_capacity`; `seed` drives the Poisson stream.
    pub fn arrivals(self, cores: usize, p_capacity: f64, seed: u64) -> Vec<Arrival> {
        match self {
            Workload::FewLong(_)
            | Workload::Many
            | Workload::Skewed
            | Workload::ProbeUnderBatch => self.harness_arrivals(cores),
            Workload::ForkJoin => vec![Arrival {
                at: 0.0,
                qos: Qos::Default,
                program: Program::ForkJoin {
                    depth: 12,
                    leaf: 100.0,
                    node: 2.0,
                },
                batch: true,
            }],
            Workload::RequestMix => {
                let chunks = 20;
                let chunk = 1_000.0;
                let jobs = 2 * cores.max(1);
                let mut all: Vec<Arrival> = (0..jobs)
                    .map(|_| Arrival {
                        at: 0.0,
                        qos: Qos::Background,
                        program: Program::Chunks { chunks, chunk },
                        batch: true,
                    })
                    .collect();
                // Requests for about as long as the batch runs (estimated on the cores
                // other than the P cores, at full speed), at least 10 ms.
                let e_capacity = (cores as f64 - p_capacity).max(p_capacity * 0.25);
                let span = (jobs as f64 * chunks as f64 * chunk / e_capacity).max(10_000.0);
                let rate = REQUEST_LOAD * p_capacity / REQUEST_US; // per µs
                let mut rng = crate::Rng::new(seed);
                let mut t = 0.0;
                loop {
                    t += -(1.0 - rng.unit()).ln() / rate;
                    if t >= span {
                        break;
                    }
                    all.push(Arrival {
                        at: t,
                        qos: Qos::Interactive,
                        program: Program::Cpu(REQUEST_US),
                        batch: false,
                    });
                }
                all
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_straggler_is_k1() {
        for w in Workload::ALL {
            assert_eq!(Workload::by_name(&w.name()), Some(w));
        }
        assert_eq!(Workload::by_name("straggler"), Some(Workload::FewLong(1)));
        assert_eq!(Workload::by_name("nope"), None);
    }

    #[test]
    fn the_harness_job_lists() {
        assert_eq!(Workload::FewLong(3).arrivals(2, 1.0, 1).len(), 6);
        let skewed = Workload::Skewed.arrivals(2, 1.0, 1);
        let long: Vec<usize> = (0..skewed.len())
            .filter(|&i| skewed[i].program == Program::Cpu(harness::SKEW_LONG_MS * 1e3))
            .collect();
        assert_eq!(long, vec![0, 1001, 2002, 3003]);
    }

    #[test]
    fn requests_arrive_at_the_stated_rate_and_depend_only_on_the_seed() {
        let a = Workload::RequestMix.arrivals(8, 4.0, 7);
        assert_eq!(a, Workload::RequestMix.arrivals(8, 4.0, 7));
        assert_ne!(a, Workload::RequestMix.arrivals(8, 4.0, 8));
        let requests: Vec<&Arrival> = a.iter().filter(|r| !r.batch).collect();
        let span = requests.last().unwrap().at;
        let rate = requests.len() as f64 / span;
        let expected = REQUEST_LOAD * 4.0 / REQUEST_US;
        assert!((rate / expected - 1.0).abs() < 0.1, "{rate} vs {expected}");
    }
}
