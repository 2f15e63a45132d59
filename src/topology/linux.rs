//! Live Linux host: sysfs at `/`, restricted to the CPUs this thread may run on.

use super::{CpuSet, Source, Topology};

/// `Topology::detect` on Linux.
pub(crate) fn detect() -> Topology {
    let affinity = process_affinity();
    match (Topology::from_sysfs("/"), affinity) {
        (Ok(t), Some(allowed)) => {
            let restricted = t.restrict_to(&allowed);
            if restricted.count(super::CoreClass::Performance) > 0 {
                restricted
            } else {
                // sysfs and the affinity mask disagree entirely: trust the mask.
                Topology::uniform_over(allowed, Source::Affinity)
            }
        }
        (Ok(t), None) => t,
        (Err(_), Some(allowed)) if !allowed.is_empty() => {
            Topology::uniform_over(allowed, Source::Affinity)
        }
        (Err(_), _) => super::fallback(),
    }
}

/// The CPUs the calling thread may run on (`sched_getaffinity(2)`), read now.
/// New threads inherit this mask, so it is what the runtime's workers will get.
///
/// One helper and one CPU-id limit for the crate: this is
/// [`sys::current_thread_affinity`](crate::sys::current_thread_affinity), which sizes its
/// buffer for [`MAX_CPUS`](super::MAX_CPUS) (and more, if the kernel's mask is bigger) and
/// leaves out ids a [`CpuSet`] cannot hold, the same limit pinning uses.
pub(crate) fn process_affinity() -> Option<CpuSet> {
    let ids = crate::sys::current_thread_affinity()?;
    CpuSet::from_cpus(ids).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinity_matches_available_parallelism_bound() {
        let mask = process_affinity().expect("sched_getaffinity works on Linux");
        assert!(!mask.is_empty());
        // available_parallelism never exceeds the affinity mask size.
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert!(n <= mask.len(), "{n} > {mask:?}");
    }

    #[test]
    fn live_detection_stays_inside_the_mask() {
        let mask = process_affinity().unwrap();
        let t = detect();
        assert!(t.allowed().is_subset(&mask));
        for class in super::super::CoreClass::ALL {
            assert!(t.cpus(class).is_subset(t.allowed()));
        }
        assert!(t.count(super::super::CoreClass::Performance) > 0);
    }
}
