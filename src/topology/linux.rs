//! Live Linux host: sysfs at `/`, restricted to the CPUs this thread may run on.

use super::{CpuSet, Source, Topology, MAX_CPUS};

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
pub(crate) fn process_affinity() -> Option<CpuSet> {
    const BITS: usize = libc::c_ulong::BITS as usize;
    // The kernel takes any buffer that is a multiple of sizeof(unsigned long) and at
    // least as large as its nr_cpu_ids bitmap; size it for MAX_CPUS rather than the
    // 1024-bit `cpu_set_t`, so machines with more CPUs work too.
    let mut mask: Vec<libc::c_ulong> = vec![0; MAX_CPUS / BITS];
    let bytes = mask.len() * std::mem::size_of::<libc::c_ulong>();
    // SAFETY: `mask` is a live, writable buffer of exactly `bytes` bytes; the kernel
    // writes at most `bytes` bytes into it and reads nothing from it. The pointer cast
    // only changes the pointee type the FFI declaration expects (the kernel treats the
    // buffer as an array of unsigned long); Rust never dereferences it as `cpu_set_t`.
    let rc = unsafe { libc::sched_getaffinity(0, bytes, mask.as_mut_ptr().cast()) };
    if rc != 0 {
        return None;
    }
    let mut set = CpuSet::new();
    for (i, word) in mask.iter().enumerate() {
        for bit in 0..BITS {
            if word & (1 << bit) != 0 {
                // i * BITS + bit < MAX_CPUS by construction of `mask`.
                let _ = set.insert(i * BITS + bit);
            }
        }
    }
    Some(set)
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
