//! The heterogeneous workloads' job lists, and nothing else: pure data and arithmetic, so
//! that the harness (`hetero.rs`) and the simulator (`sim/src/workload.rs`, which includes
//! this file with `#[path]`) run the very same jobs under the same names.

/// The probe of the latency-under-batch workload is woken every this many ms...
pub const PROBE_PERIOD_MS: f64 = 1.0;
/// ... and does this many ms of work (on a fast CPU) per wake.
pub const PROBE_WORK_MS: f64 = 0.020;

/// Length of one long job in "few long jobs", in milliseconds on a fast CPU.
pub const LONG_JOB_MS: f64 = 30.0;
/// Jobs in "many": 10,000 of [`MANY_JOB_US`].
pub const MANY_JOBS: usize = 10_000;
/// Length of one job in "many", µs on a fast CPU.
pub const MANY_JOB_US: f64 = 200.0;
/// The skewed mix: [`SKEW_LONG`] jobs of [`SKEW_LONG_MS`] spread evenly among
/// [`SKEW_SHORT`] jobs of [`SKEW_SHORT_US`].
pub const SKEW_LONG: usize = 4;
/// See [`SKEW_LONG`].
pub const SKEW_LONG_MS: f64 = 40.0;
/// See [`SKEW_LONG`].
pub const SKEW_SHORT: usize = 4_000;
/// See [`SKEW_LONG`].
pub const SKEW_SHORT_US: f64 = 100.0;

/// The heterogeneous workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeteroWorkload {
    /// `k` jobs of [`LONG_JOB_MS`] per CPU of the runtimes (per worker of a pool with one
    /// worker per CPU; every runtime gets the same jobs): the straggler problem.
    FewLong(usize),
    /// [`MANY_JOBS`] jobs of [`MANY_JOB_US`].
    Many,
    /// A few long jobs among many short ones.
    Skewed,
    /// [`HeteroWorkload::Many`] as a background batch while an Interactive probe is woken
    /// every millisecond (its wake-to-poll latency is reported with the makespan).
    LatencyUnderBatch,
}

impl HeteroWorkload {
    /// Every workload, in table order.
    pub const ALL: [HeteroWorkload; 6] = [
        HeteroWorkload::FewLong(1),
        HeteroWorkload::FewLong(2),
        HeteroWorkload::FewLong(3),
        HeteroWorkload::Many,
        HeteroWorkload::Skewed,
        HeteroWorkload::LatencyUnderBatch,
    ];

    /// The name in tables and JSON.
    pub fn name(self) -> String {
        match self {
            HeteroWorkload::FewLong(k) => format!("few_long_k{k}"),
            HeteroWorkload::Many => format!("many_{MANY_JOBS}x{MANY_JOB_US}us"),
            HeteroWorkload::Skewed => "skewed_mix".into(),
            HeteroWorkload::LatencyUnderBatch => "latency_under_batch".into(),
        }
    }

    /// Iterations of every job, in submission order, on a machine of `cpus` CPUs whose fast
    /// CPU does `iters_per_ms` iterations per millisecond.
    pub fn jobs(self, cpus: usize, iters_per_ms: f64) -> Vec<u64> {
        let iters = |ms: f64| (ms * iters_per_ms).round().max(1.0) as u64;
        match self {
            HeteroWorkload::FewLong(k) => vec![iters(LONG_JOB_MS); k * cpus.max(1)],
            HeteroWorkload::Many | HeteroWorkload::LatencyUnderBatch => {
                vec![iters(MANY_JOB_US / 1e3); MANY_JOBS]
            }
            HeteroWorkload::Skewed => {
                let mut jobs = vec![iters(SKEW_SHORT_US / 1e3); SKEW_SHORT];
                for i in 0..SKEW_LONG {
                    jobs.insert(i * (SKEW_SHORT / SKEW_LONG + 1), iters(SKEW_LONG_MS));
                }
                jobs
            }
        }
    }
}

/// The fluid lower bound, ms: total work over total capacity, or the longest job on the
/// fastest CPU, whichever is larger. `speeds`: every CPU's speed (fast = 1.0).
pub fn bound_ms(jobs: &[u64], iters_per_ms: f64, speeds: &[f64]) -> f64 {
    let total = jobs.iter().sum::<u64>() as f64 / iters_per_ms;
    let capacity: f64 = speeds.iter().sum();
    let fastest = speeds.iter().copied().fold(0.0, f64::max);
    let longest = jobs.iter().copied().max().unwrap_or(0) as f64 / iters_per_ms;
    (total / capacity.max(1e-9)).max(longest / fastest.max(1e-9))
}
