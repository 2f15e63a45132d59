//! Machine topology: CPU sets, tiers and the performance / efficiency classification.
//!
//! A [`Topology`] says which logical CPUs are [`CoreClass::Performance`] and which are
//! [`CoreClass::Efficiency`], grouped into [`Tier`]s ranked 0 = slowest, each with the
//! [`Evidence`] that formed it. Sources: Linux sysfs (live or a captured tree, see
//! [`Topology::from_sysfs`]), macOS `sysctl` (live or a dump, see
//! [`Topology::from_sysctl_dump`]), `available_parallelism` elsewhere, declared classes
//! and operator overrides ([`Topology::from_env`]). Nothing here knows about the runtime.

mod cluster;
mod cpuset;
mod error;
mod midr;
mod model;
mod overrides;
mod speed;
mod sysctl;
mod sysfs;

#[cfg(target_os = "macos")]
mod darwin;
#[cfg(target_os = "linux")]
mod linux;

use std::path::Path;

pub use cpuset::{CpuSet, CpuSetError, MAX_CPUS};
pub use error::TopologyError;
pub use model::{CoreClass, Evidence, Source, Tier, Topology};
pub(crate) use overrides::env_text;
pub use overrides::{ENV_E_CPUS, ENV_E_SPEED, ENV_P_CPUS, ENV_SYSFS_ROOT};

impl Topology {
    /// The live host, no environment variables consulted. Never fails: falls back to
    /// `uniform(available_parallelism)` when nothing usable is found.
    ///
    /// - Linux: [`Topology::from_sysfs`]`("/")`, intersected with the calling thread's
    ///   `sched_getaffinity` mask read at call time (containers see the host's sysfs).
    /// - macOS: `sysctlbyname` `hw.perflevelN.*` (CPU ids unknown, counts only).
    /// - Other systems: homogeneous, `available_parallelism` CPUs.
    ///
    /// ```
    /// use hetsched::topology::{CoreClass, Topology};
    /// let t = Topology::detect();
    /// assert!(t.count(CoreClass::Performance) >= 1);
    /// ```
    pub fn detect() -> Topology {
        #[cfg(target_os = "linux")]
        return linux::detect();
        #[cfg(target_os = "macos")]
        return darwin::detect();
        #[cfg(not(any(target_os = "linux", target_os = "macos")))]
        return fallback();
    }

    /// Detects from the sysfs tree under `root` (`"/"` for the host, or a captured tree
    /// holding `sys/devices/system/cpu`). Does not apply any affinity mask.
    ///
    /// Evidence, strongest first: Intel hybrid PMU lists, `cpu_capacity` (5% tolerance),
    /// arm64 `midr_el1` known little cores, `cpuinfo_max_freq` (10%), ACPI CPPC
    /// `highest_perf` (10%). Values are grouped by sorting them and opening a new tier
    /// when a value exceeds the current tier's *minimum* by more than the tolerance.
    /// Unreadable or garbage evidence files count as no evidence; a missing
    /// `sys/devices/system/cpu` directory or a garbage `online` file is an error.
    pub fn from_sysfs(root: impl AsRef<Path>) -> Result<Topology, TopologyError> {
        sysfs::detect(root.as_ref())
    }

    /// Classifies from the text of `sysctl hw` (or `sysctl -a`): `key: value` or
    /// `key = value` lines; other lines are ignored. `hw.perflevel0` is Performance,
    /// `hw.perflevel1`.. Efficiency; without perf-level keys, or with
    /// `hw.nperflevels: 1`, the machine is homogeneous with `hw.logicalcpu` (or
    /// `hw.ncpu`) CPUs. CPU ids are unknown: sets are empty, counts are right.
    ///
    /// ```
    /// use hetsched::topology::{CoreClass, Topology};
    /// let t = Topology::from_sysctl_dump(
    ///     "hw.nperflevels: 2\nhw.perflevel0.logicalcpu: 4\nhw.perflevel1.logicalcpu: 6\n",
    /// )
    /// .unwrap();
    /// assert_eq!(t.count(CoreClass::Performance), 4);
    /// assert_eq!(t.count(CoreClass::Efficiency), 6);
    /// assert!(!t.cpu_ids_known());
    /// assert!(Topology::from_sysctl_dump("kern.ostype: Darwin").is_err());
    /// ```
    pub fn from_sysctl_dump(text: &str) -> Result<Topology, TopologyError> {
        sysctl::from_dump(text)
    }
}

/// Last resort: homogeneous over `available_parallelism` CPUs.
fn fallback() -> Topology {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    Topology::uniform_from(n, Source::Fallback)
}
