//! Workloads: what arrives from outside the runtime, when, and what each task does.
//!
//! Work is in µs *on the fastest core* (a fixed amount of computation, as the harness's
//! fixed iteration counts): on a core of speed `s` it takes `work / s`. The first four are
//! the harness's unequal-cores workloads (`examples/bench`, `benches/workloads/hetero.rs`),
//! with the same job lists.

use hetsched::Qos;

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
    /// `k` jobs of 30 ms per core: the straggler problem.
    FewLong(usize),
    /// 10,000 jobs of 200 µs.
    Many,
    /// 4 jobs of 40 ms spread among 4,000 of 100 µs.
    Skewed,
    /// `Many` as a Background batch while an Interactive probe (20 µs) is woken every ms.
    ProbeUnderBatch,
    /// A binary fork-join tree: 4,096 leaves of 100 µs, 2 µs per inner node.
    ForkJoin,
    /// A Background batch (2 jobs per core of 20 chunks of 1 ms, yielding between) while
    /// Interactive requests of 100 µs arrive from outside as a Poisson stream at 30% of the
    /// P cores' capacity.
    RequestMix,
}

/// Job length in `FewLong`, µs (`LONG_JOB_MS` of the harness).
pub const LONG_JOB_US: f64 = 30_000.0;
/// `Many`: this many jobs of [`MANY_JOB_US`].
pub const MANY_JOBS: usize = 10_000;
/// See [`MANY_JOBS`].
pub const MANY_JOB_US: f64 = 200.0;
/// The skewed mix: [`SKEW_LONG`] jobs of [`SKEW_LONG_US`] among [`SKEW_SHORT`] of
/// [`SKEW_SHORT_US`], the long ones spread evenly.
pub const SKEW_LONG: usize = 4;
/// See [`SKEW_LONG`].
pub const SKEW_LONG_US: f64 = 40_000.0;
/// See [`SKEW_LONG`].
pub const SKEW_SHORT: usize = 4_000;
/// See [`SKEW_LONG`].
pub const SKEW_SHORT_US: f64 = 100.0;
/// The probe's period and work, µs.
pub const PROBE_PERIOD_US: f64 = 1_000.0;
/// See [`PROBE_PERIOD_US`].
pub const PROBE_WORK_US: f64 = 20.0;
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
        match self {
            Workload::FewLong(k) => format!("few_long_k{k}"),
            Workload::Many => "many_10000x200us".into(),
            Workload::Skewed => "skewed_mix".into(),
            Workload::ProbeUnderBatch => "latency_under_batch".into(),
            Workload::ForkJoin => "fork_join".into(),
            Workload::RequestMix => "request_mix".into(),
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

    /// What arrives, on a machine of `cores` cores of total speed `capacity` whose P cores
    /// sum to `p_capacity`; `seed` drives the Poisson stream.
    pub fn arrivals(self, cores: usize, p_capacity: f64, seed: u64) -> Vec<Arrival> {
        let job = |work: f64, qos: Qos| Arrival {
            at: 0.0,
            qos,
            program: Program::Cpu(work),
            batch: true,
        };
        match self {
            Workload::FewLong(k) => vec![job(LONG_JOB_US, Qos::Default); k * cores.max(1)],
            Workload::Many => vec![job(MANY_JOB_US, Qos::Default); MANY_JOBS],
            Workload::Skewed => {
                let mut jobs = vec![job(SKEW_SHORT_US, Qos::Default); SKEW_SHORT];
                for i in 0..SKEW_LONG {
                    jobs.insert(
                        i * (SKEW_SHORT / SKEW_LONG + 1),
                        job(SKEW_LONG_US, Qos::Default),
                    );
                }
                jobs
            }
            Workload::ProbeUnderBatch => {
                let mut all = vec![job(MANY_JOB_US, Qos::Background); MANY_JOBS];
                all.push(Arrival {
                    at: 0.0,
                    qos: Qos::Interactive,
                    program: Program::Probe {
                        period: PROBE_PERIOD_US,
                        work: PROBE_WORK_US,
                    },
                    batch: false,
                });
                all
            }
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
                // Requests for as long as the batch would take on the E cores alone
                // (the batch's lower lane), at least 10 ms.
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
            .filter(|&i| skewed[i].program == Program::Cpu(SKEW_LONG_US))
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
