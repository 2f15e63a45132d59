//! The data model: core classes, tiers, where a topology came from, and `Topology` itself
//! with its constructors that need no detection (`uniform`, `with_classes`).

use std::fmt;
use std::path::PathBuf;

use super::{CpuSet, TopologyError};

/// Kind of core.
///
/// ```
/// use hetsched::topology::CoreClass;
/// assert_eq!(CoreClass::ALL, [CoreClass::Performance, CoreClass::Efficiency]);
/// assert_eq!(CoreClass::Efficiency.to_string(), "efficiency");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CoreClass {
    /// Fast cores: latency-critical work runs here.
    Performance,
    /// Efficient cores: throughput and background work.
    Efficiency,
}

impl CoreClass {
    /// Both classes, Performance first.
    pub const ALL: [CoreClass; 2] = [CoreClass::Performance, CoreClass::Efficiency];

    /// Position in [`CoreClass::ALL`], for indexing per-class arrays.
    pub(crate) fn index(self) -> usize {
        match self {
            CoreClass::Performance => 0,
            CoreClass::Efficiency => 1,
        }
    }
}

impl fmt::Display for CoreClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            CoreClass::Performance => "performance",
            CoreClass::Efficiency => "efficiency",
        })
    }
}

/// What made detection put a group of CPUs into one tier.
///
/// `Display` gives a short human string, e.g. `cpu_capacity 1024` or
/// `cpuinfo_max_freq 2400000-2496000 kHz`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Evidence {
    /// Intel hybrid PMU list `/sys/devices/<pmu>/cpus` (`cpu_core`, `cpu_atom`, `cpu_lowpower`).
    IntelHybridPmu {
        /// PMU directory name(s), joined with `+` (`cpu_atom+cpu_lowpower`).
        pmu: String,
    },
    /// `cpuN/cpu_capacity` values in `min..=max` (kernel scale, 1024 = biggest core).
    CpuCapacity {
        /// Smallest value in the tier.
        min: u64,
        /// Largest value in the tier.
        max: u64,
    },
    /// `cpuN/regs/identification/midr_el1` core identification (arm64).
    MidrEl1 {
        /// Human description of the core parts, e.g. `Cortex-A55 (little)`.
        cores: String,
    },
    /// `cpuinfo_max_freq` values in kHz.
    MaxFrequency {
        /// Smallest value in the tier, kHz.
        min_khz: u64,
        /// Largest value in the tier, kHz.
        max_khz: u64,
    },
    /// `cpuN/acpi_cppc/highest_perf` values (abstract performance scale).
    CppcHighestPerf {
        /// Smallest value in the tier.
        min: u64,
        /// Largest value in the tier.
        max: u64,
    },
    /// macOS `hw.perflevelN` (0 = fastest).
    PerfLevel {
        /// The N of `hw.perflevelN`.
        level: usize,
        /// `hw.perflevelN.name` if given ("Performance", "Efficiency", "Super", ...).
        name: Option<String>,
    },
    /// Nothing distinguished the CPUs: one homogeneous tier.
    NoSignal {
        /// What was looked at, e.g. `no cpu_capacity, cpufreq or PMU lists`.
        detail: String,
    },
    /// Classes declared through [`Topology::with_classes`].
    Declared,
    /// Classes set by an operator override (variable or argument names).
    Override {
        /// The variables / arguments that were applied.
        inputs: String,
    },
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn range(f: &mut fmt::Formatter<'_>, name: &str, min: u64, max: u64) -> fmt::Result {
            if min == max {
                write!(f, "{name} {min}")
            } else {
                write!(f, "{name} {min}-{max}")
            }
        }
        match self {
            Evidence::IntelHybridPmu { pmu } => write!(f, "intel hybrid pmu {pmu}"),
            Evidence::CpuCapacity { min, max } => range(f, "cpu_capacity", *min, *max),
            Evidence::MidrEl1 { cores } => write!(f, "midr_el1 {cores}"),
            Evidence::MaxFrequency { min_khz, max_khz } => {
                range(f, "cpuinfo_max_freq", *min_khz, *max_khz)?;
                f.write_str(" kHz")
            }
            Evidence::CppcHighestPerf { min, max } => {
                range(f, "acpi_cppc highest_perf", *min, *max)
            }
            Evidence::PerfLevel { level, name } => match name {
                Some(name) => write!(f, "hw.perflevel{level} ({name})"),
                None => write!(f, "hw.perflevel{level}"),
            },
            Evidence::NoSignal { detail } => write!(f, "homogeneous: {detail}"),
            Evidence::Declared => f.write_str("declared"),
            Evidence::Override { inputs } => write!(f, "override {inputs}"),
        }
    }
}

/// One group of alike cores. Tiers are ranked 0 = slowest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub(crate) rank: usize,
    pub(crate) cpus: CpuSet,
    pub(crate) count: usize,
    pub(crate) class: CoreClass,
    pub(crate) evidence: Evidence,
}

impl Tier {
    /// 0 = slowest tier.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The CPUs of this tier (empty when CPU ids are unknown, see
    /// [`Topology::cpu_ids_known`]).
    pub fn cpus(&self) -> &CpuSet {
        &self.cpus
    }

    /// Number of CPUs in this tier (right even when ids are unknown).
    pub fn count(&self) -> usize {
        self.count
    }

    /// The class this tier's CPUs were given.
    pub fn class(&self) -> CoreClass {
        self.class
    }

    /// What made detection form this tier.
    pub fn evidence(&self) -> &Evidence {
        &self.evidence
    }
}

/// Where a [`Topology`] came from.
///
/// ```
/// use hetsched::topology::Topology;
/// assert_eq!(Topology::uniform(4).source().to_string(), "uniform");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A sysfs tree under this root (`/` for the live host).
    Sysfs {
        /// The root that holds `sys/devices/system/cpu`.
        root: PathBuf,
    },
    /// The live macOS `sysctlbyname` interface.
    Sysctl,
    /// A text dump of `sysctl hw` / `sysctl -a`.
    SysctlDump,
    /// [`Topology::with_classes`].
    Declared,
    /// [`Topology::uniform`].
    Uniform,
    /// Nothing better was available: `std::thread::available_parallelism`.
    Fallback,
    /// Linux without a usable sysfs: one homogeneous tier over the affinity mask.
    Affinity,
    /// Operator overrides applied on top of another source.
    Overridden {
        /// What was detected before the overrides.
        base: Box<Source>,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Sysfs { root } => write!(f, "sysfs:{}", root.display()),
            Source::Sysctl => f.write_str("sysctl"),
            Source::SysctlDump => f.write_str("sysctl dump"),
            Source::Declared => f.write_str("declared"),
            Source::Uniform => f.write_str("uniform"),
            Source::Fallback => f.write_str("fallback: available_parallelism"),
            Source::Affinity => f.write_str("fallback: sched_getaffinity"),
            Source::Overridden { base } => write!(f, "overrides on {base}"),
        }
    }
}

/// What the machine is: which CPUs are performance and which efficiency cores,
/// grouped into ranked tiers.
///
/// Rules: tiers are ranked 0 = slowest; the lowest tier is Efficiency and every higher
/// tier Performance; a single tier is homogeneous (all Performance, no Efficiency).
/// (Intel hybrid `cpu_atom` and `cpu_lowpower` CPUs share the Efficiency tier.)
///
/// ```
/// use hetsched::topology::{CoreClass, CpuSet, Topology};
///
/// let t = Topology::with_classes("4-7".parse().unwrap(), "0-3".parse().unwrap()).unwrap();
/// assert!(t.is_heterogeneous());
/// assert_eq!(t.count(CoreClass::Efficiency), 4);
/// assert_eq!(t.class_of(5), Some(CoreClass::Performance));
/// assert_eq!(t.tiers().len(), 2);
///
/// let u = Topology::uniform(2);
/// assert!(!u.is_heterogeneous());
/// assert_eq!(u.cpus(CoreClass::Performance).to_string(), "0-1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub(crate) tiers: Vec<Tier>,
    pub(crate) performance: CpuSet,
    pub(crate) efficiency: CpuSet,
    pub(crate) p_count: usize,
    pub(crate) e_count: usize,
    pub(crate) allowed: CpuSet,
    pub(crate) ids_known: bool,
    pub(crate) source: Source,
    /// The operator's E/P speed share in thousandths (see `speed.rs`), if given.
    pub(crate) efficiency_speed_override: Option<u32>,
}

/// A tier before ranking: its CPUs (or only a count), class and evidence.
#[derive(Debug, Clone)]
pub(crate) struct TierSpec {
    pub cpus: CpuSet,
    pub count: usize,
    pub efficiency: bool,
    pub evidence: Evidence,
}

impl TierSpec {
    pub fn new(cpus: CpuSet, efficiency: bool, evidence: Evidence) -> TierSpec {
        TierSpec {
            count: cpus.len(),
            cpus,
            efficiency,
            evidence,
        }
    }
}

impl Topology {
    /// Builds a topology from tiers listed slowest first. Empty tiers are dropped; if no
    /// tier is Performance, every tier becomes Performance (nothing faster exists, so
    /// the machine is treated as homogeneous).
    pub(crate) fn from_tiers(
        specs: Vec<TierSpec>,
        allowed: CpuSet,
        ids_known: bool,
        source: Source,
    ) -> Topology {
        let mut specs: Vec<TierSpec> = specs.into_iter().filter(|s| s.count > 0).collect();
        if specs.iter().all(|s| s.efficiency) {
            for s in &mut specs {
                s.efficiency = false;
            }
        }
        let mut t = Topology {
            tiers: Vec::new(),
            performance: CpuSet::new(),
            efficiency: CpuSet::new(),
            p_count: 0,
            e_count: 0,
            allowed,
            ids_known,
            source,
            efficiency_speed_override: None,
        };
        for (rank, s) in specs.into_iter().enumerate() {
            let class = if s.efficiency {
                t.efficiency = t.efficiency.union(&s.cpus);
                t.e_count += s.count;
                CoreClass::Efficiency
            } else {
                t.performance = t.performance.union(&s.cpus);
                t.p_count += s.count;
                CoreClass::Performance
            };
            t.tiers.push(Tier {
                rank,
                cpus: s.cpus,
                count: s.count,
                class,
                evidence: s.evidence,
            });
        }
        t
    }

    /// `n` CPUs `0..n`, all Performance, homogeneous. `n == 0` is treated as 1.
    ///
    /// ```
    /// use hetsched::topology::{CoreClass, Topology};
    /// let t = Topology::uniform(0);
    /// assert_eq!(t.count(CoreClass::Performance), 1);
    /// assert_eq!(t.count(CoreClass::Efficiency), 0);
    /// ```
    pub fn uniform(n: usize) -> Topology {
        Self::uniform_from(n, Source::Uniform)
    }

    pub(crate) fn uniform_from(n: usize, source: Source) -> Topology {
        Topology::uniform_over(CpuSet::first_n(n.max(1)), source)
    }

    /// One homogeneous tier over `cpus`.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn uniform_over(cpus: CpuSet, source: Source) -> Topology {
        let detail = format!("{} CPUs assumed alike", cpus.len());
        Topology::from_tiers(
            vec![TierSpec::new(
                cpus.clone(),
                false,
                Evidence::NoSignal { detail },
            )],
            cpus,
            true,
            source,
        )
    }

    /// Keeps only the CPUs in `allowed`. Classes stay what detection found (a core's
    /// kind does not change because this process may not use its neighbours); empty
    /// tiers are dropped and ranks renumbered, and if no Performance CPU remains the
    /// rest become Performance (homogeneous), as in every topology.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn restrict_to(self, allowed: &CpuSet) -> Topology {
        let speed = self.efficiency_speed_override;
        let specs = self
            .tiers
            .into_iter()
            .map(|t| {
                TierSpec::new(
                    t.cpus.intersection(allowed),
                    t.class == CoreClass::Efficiency,
                    t.evidence,
                )
            })
            .collect();
        let mut t = Topology::from_tiers(
            specs,
            self.allowed.intersection(allowed),
            self.ids_known,
            self.source,
        );
        t.efficiency_speed_override = speed;
        t
    }

    /// Declared classes, not checked against the live host (tests may declare
    /// P = {0}, E = {1} on any machine). Errors: empty `p`, or `p` and `e` overlapping.
    ///
    /// ```
    /// use hetsched::topology::{CpuSet, Topology};
    /// let p: CpuSet = "0".parse().unwrap();
    /// assert!(Topology::with_classes(p.clone(), p).is_err());
    /// ```
    pub fn with_classes(p: CpuSet, e: CpuSet) -> Result<Topology, TopologyError> {
        check_classes("p", &p, "e", &e)?;
        let allowed = p.union(&e);
        Ok(Topology::from_tiers(
            vec![
                TierSpec::new(e, true, Evidence::Declared),
                TierSpec::new(p, false, Evidence::Declared),
            ],
            allowed,
            true,
            Source::Declared,
        ))
    }

    /// CPUs of `class` (empty on macOS, where CPU ids are unknown).
    pub fn cpus(&self, class: CoreClass) -> &CpuSet {
        match class {
            CoreClass::Performance => &self.performance,
            CoreClass::Efficiency => &self.efficiency,
        }
    }

    /// Number of CPUs of `class`; right even when ids are unknown.
    pub fn count(&self, class: CoreClass) -> usize {
        match class {
            CoreClass::Performance => self.p_count,
            CoreClass::Efficiency => self.e_count,
        }
    }

    /// Tiers, slowest (rank 0) first.
    pub fn tiers(&self) -> &[Tier] {
        &self.tiers
    }

    /// Whether both classes have CPUs.
    pub fn is_heterogeneous(&self) -> bool {
        self.p_count > 0 && self.e_count > 0
    }

    /// CPUs this process may run on: online CPUs, intersected with the process's
    /// affinity mask for the live Linux host. Empty when CPU ids are unknown.
    pub fn allowed(&self) -> &CpuSet {
        &self.allowed
    }

    /// Whether CPU ids are known (false for macOS, where only counts are reported).
    pub fn cpu_ids_known(&self) -> bool {
        self.ids_known
    }

    /// Where this topology came from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The class of `cpu`, or `None` if it is in neither class (or ids are unknown).
    pub fn class_of(&self, cpu: usize) -> Option<CoreClass> {
        CoreClass::ALL
            .into_iter()
            .find(|&c| self.cpus(c).contains(cpu))
    }
}

/// Shared checks for declared and overridden classes: P non-empty, P and E disjoint.
pub(crate) fn check_classes(
    p_name: &str,
    p: &CpuSet,
    e_name: &str,
    e: &CpuSet,
) -> Result<(), TopologyError> {
    if p.is_empty() {
        return Err(TopologyError::invalid_value(
            p_name,
            p.to_string(),
            "the performance set is empty; at least one performance CPU is required",
        ));
    }
    let overlap = p.intersection(e);
    if !overlap.is_empty() {
        return Err(TopologyError::invalid_value(
            format!("{p_name} and {e_name}"),
            format!("{p} / {e}"),
            format!("the sets overlap on CPUs {overlap}; each CPU must be in one class"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> CpuSet {
        s.parse().unwrap()
    }

    #[test]
    fn all_efficiency_tiers_become_performance() {
        let t = Topology::from_tiers(
            vec![TierSpec::new(set("0-1"), true, Evidence::Declared)],
            set("0-1"),
            true,
            Source::Declared,
        );
        assert!(!t.is_heterogeneous());
        assert_eq!(t.cpus(CoreClass::Performance), &set("0-1"));
        assert_eq!(t.tiers()[0].class(), CoreClass::Performance);
    }

    #[test]
    fn empty_tiers_are_dropped_and_ranks_stay_dense() {
        let t = Topology::from_tiers(
            vec![
                TierSpec::new(CpuSet::new(), true, Evidence::Declared),
                TierSpec::new(set("0"), true, Evidence::Declared),
                TierSpec::new(set("1"), false, Evidence::Declared),
            ],
            set("0-1"),
            true,
            Source::Declared,
        );
        let ranks: Vec<_> = t.tiers().iter().map(|t| t.rank()).collect();
        assert_eq!(ranks, vec![0, 1]);
        assert_eq!(t.class_of(0), Some(CoreClass::Efficiency));
        assert_eq!(t.class_of(7), None);
    }

    #[test]
    fn with_classes_errors_name_the_problem() {
        let err = Topology::with_classes(CpuSet::new(), set("0")).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        let err = Topology::with_classes(set("0-2"), set("2-3")).unwrap_err();
        assert!(err.to_string().contains("overlap on CPUs 2"), "{err}");
    }

    #[test]
    fn restricting_keeps_classes() {
        let t = Topology::with_classes(set("4-7"), set("0-3")).unwrap();
        let only_p = t.clone().restrict_to(&set("5-6"));
        assert!(!only_p.is_heterogeneous());
        assert_eq!(only_p.cpus(CoreClass::Performance), &set("5-6"));
        let mixed = t.clone().restrict_to(&set("3-4"));
        assert_eq!(mixed.cpus(CoreClass::Efficiency), &set("3"));
        assert_eq!(mixed.allowed(), &set("3-4"));
        let only_e = t.restrict_to(&set("0-1"));
        assert_eq!(only_e.cpus(CoreClass::Performance), &set("0-1"));
        assert_eq!(only_e.tiers()[0].rank(), 0);
    }

    #[test]
    fn homogeneous_declared_topology_has_one_tier() {
        let t = Topology::with_classes(set("0-3"), CpuSet::new()).unwrap();
        assert!(!t.is_heterogeneous());
        assert_eq!(t.tiers().len(), 1);
        assert_eq!(t.allowed(), &set("0-3"));
    }
}
