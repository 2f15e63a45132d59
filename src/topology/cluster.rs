//! Grouping per-CPU numbers (capacity, max frequency, CPPC perf) into tiers.
//!
//! Rule (chain-safe): sort the values ascending; the first value opens a tier whose
//! *minimum* is that value; each next value joins the current tier when
//! `value <= tier_min * (100 + tolerance_pct) / 100`, otherwise it opens a new tier.
//! Comparing with the tier's minimum, not with the previous value, means a chain of
//! small steps (1000, 1040, 1080, 1120, ...) cannot stretch one tier without bound:
//! a tier never spans more than `tolerance_pct` percent.
//!
//! Why these tolerances: real machines show spread inside one core type —
//! `cpu_capacity` 718/731 and 997/1017/1024 on Arm phones (per-CPU efficiency
//! differences), and Intel Turbo Boost Max 3.0 gives its favoured P-cores 4-5% more
//! `cpuinfo_max_freq` than the others. Different core types differ by far more
//! (little cores are typically below 60% of big-core capacity, E-core max frequency
//! is typically 15-30% below P-core max).

use super::CpuSet;

/// Tolerance for `cpu_capacity`, percent.
pub(crate) const CAPACITY_TOLERANCE_PCT: u64 = 5;
/// Tolerance for frequency-like values (`cpuinfo_max_freq`, CPPC `highest_perf`), percent.
pub(crate) const FREQUENCY_TOLERANCE_PCT: u64 = 10;

/// One group of CPUs with similar values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cluster {
    pub min: u64,
    pub max: u64,
    pub cpus: CpuSet,
}

/// Groups `(cpu, value)` pairs; clusters come back slowest (smallest values) first.
pub(crate) fn cluster(values: &[(usize, u64)], tolerance_pct: u64) -> Vec<Cluster> {
    let mut sorted = values.to_vec();
    sorted.sort_by_key(|&(cpu, value)| (value, cpu));
    let mut clusters: Vec<Cluster> = Vec::new();
    for (cpu, value) in sorted {
        let joins = clusters.last().is_some_and(|c| {
            u128::from(value) * 100 <= u128::from(c.min) * u128::from(100 + tolerance_pct)
        });
        if !joins {
            clusters.push(Cluster {
                min: value,
                max: value,
                cpus: CpuSet::new(),
            });
        }
        if let Some(c) = clusters.last_mut() {
            c.max = value;
            // Ids come from CpuSets, so they are always in range.
            let _ = c.cpus.insert(cpu);
        }
    }
    clusters
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(values: &[u64], tol: u64) -> Vec<usize> {
        let pairs: Vec<_> = values.iter().copied().enumerate().collect();
        cluster(&pairs, tol).iter().map(|c| c.cpus.len()).collect()
    }

    #[test]
    fn real_capacity_spreads_stay_together() {
        assert_eq!(sizes(&[718, 731, 731, 997, 1017, 1024], 5), vec![3, 3]);
    }

    #[test]
    fn edges_are_inclusive() {
        assert_eq!(sizes(&[1000, 1050], 5), vec![2]);
        assert_eq!(sizes(&[1000, 1051], 5), vec![1, 1]);
        assert_eq!(sizes(&[1000, 1100], 10), vec![2]);
        assert_eq!(sizes(&[1000, 1101], 10), vec![1, 1]);
    }

    #[test]
    fn chains_do_not_merge_far_values() {
        // Each step is 4%, but 1000 and 1170 are 17% apart.
        let c = cluster(&[(0, 1000), (1, 1040), (2, 1080), (3, 1120), (4, 1170)], 10);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].cpus.to_string(), "0-2");
        assert_eq!((c[1].min, c[1].max), (1120, 1170));
    }

    #[test]
    fn huge_values_do_not_overflow() {
        assert_eq!(sizes(&[u64::MAX, u64::MAX - 1], 10), vec![2]);
        assert!(cluster(&[], 5).is_empty());
    }
}
