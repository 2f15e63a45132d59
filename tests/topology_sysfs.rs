//! Linux sysfs detection on small trees built in a temporary directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use hetsched::topology::{CoreClass, CpuSet, Evidence, Topology, TopologyError};

/// A throwaway sysfs root under the system temp dir, removed on drop.
struct Tree {
    root: PathBuf,
}

impl Tree {
    fn new(name: &str) -> Tree {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "hetsched-topology-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("sys/devices/system/cpu")).unwrap();
        Tree { root }
    }

    fn cpu_dir(&self) -> PathBuf {
        self.root.join("sys/devices/system/cpu")
    }

    /// Writes `contents` to `sys/devices/system/cpu/<rel>`.
    fn cpu_file(&self, rel: &str, contents: impl AsRef<[u8]>) -> &Tree {
        self.file(&format!("sys/devices/system/cpu/{rel}"), contents)
    }

    fn file(&self, rel: &str, contents: impl AsRef<[u8]>) -> &Tree {
        let path = self.root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
        self
    }

    /// `cpu0..cpu{n-1}` directories and `online = 0-(n-1)`.
    fn cpus(&self, n: usize) -> &Tree {
        for cpu in 0..n {
            fs::create_dir_all(self.cpu_dir().join(format!("cpu{cpu}"))).unwrap();
        }
        self.cpu_file("online", format!("0-{}\n", n - 1))
    }

    /// `cpuN/<rel>` = value for each (cpu, value).
    fn per_cpu(&self, rel: &str, values: &[u64]) -> &Tree {
        for (cpu, v) in values.iter().enumerate() {
            self.cpu_file(&format!("cpu{cpu}/{rel}"), format!("{v}\n"));
        }
        self
    }

    fn detect(&self) -> Topology {
        Topology::from_sysfs(&self.root).unwrap()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn set(s: &str) -> CpuSet {
    s.parse().unwrap()
}

fn classes(t: &Topology) -> (String, String) {
    (
        t.cpus(CoreClass::Performance).to_string(),
        t.cpus(CoreClass::Efficiency).to_string(),
    )
}

fn strs(p: &str, e: &str) -> (String, String) {
    (p.to_string(), e.to_string())
}

#[test]
fn capacity_splits_big_and_little() {
    let tree = Tree::new("capacity");
    tree.cpus(8).per_cpu(
        "cpu_capacity",
        &[397, 397, 397, 397, 1024, 1024, 1024, 1024],
    );
    let t = tree.detect();
    assert_eq!(classes(&t), strs("4-7", "0-3"));
    assert!(t.is_heterogeneous());
    assert_eq!(t.tiers().len(), 2);
    assert_eq!(
        t.tiers()[0].evidence(),
        &Evidence::CpuCapacity { min: 397, max: 397 }
    );
    assert_eq!(t.tiers()[1].evidence().to_string(), "cpu_capacity 1024");
    assert_eq!(t.allowed(), &set("0-7"));
    assert!(t.cpu_ids_known());
    assert_eq!(
        t.source().to_string(),
        format!("sysfs:{}", tree.root.display())
    );
}

#[test]
fn capacity_within_five_percent_is_one_tier() {
    let tree = Tree::new("capacity-5pct");
    tree.cpus(4)
        .per_cpu("cpu_capacity", &[1000, 1050, 1000, 1050]);
    let t = tree.detect();
    assert!(!t.is_heterogeneous());
    assert_eq!(t.tiers().len(), 1);
    assert_eq!(classes(&t), strs("0-3", ""));
    assert!(matches!(t.tiers()[0].evidence(), Evidence::NoSignal { .. }));
}

#[test]
fn capacity_six_percent_apart_is_two_tiers() {
    let tree = Tree::new("capacity-6pct");
    tree.cpus(4)
        .per_cpu("cpu_capacity", &[1000, 1060, 1000, 1060]);
    assert_eq!(classes(&tree.detect()), strs("1,3", "0,2"));
}

#[test]
fn real_capacity_spread_stays_in_one_tier_per_core_type() {
    // NVIDIA GB10-like: A725 at 718/731, X925 at 997/1017/1024.
    let tree = Tree::new("capacity-spread");
    tree.cpus(6)
        .per_cpu("cpu_capacity", &[718, 731, 997, 1017, 1024, 731]);
    let t = tree.detect();
    assert_eq!(classes(&t), strs("2-4", "0-1,5"));
    assert_eq!(t.tiers().len(), 2);
}

#[test]
fn three_tiers_only_the_lowest_is_efficiency() {
    let tree = Tree::new("three-tiers");
    tree.cpus(8)
        .per_cpu("cpu_capacity", &[325, 325, 325, 325, 828, 828, 828, 1024]);
    let t = tree.detect();
    assert_eq!(t.tiers().len(), 3);
    assert_eq!(classes(&t), strs("4-7", "0-3"));
    let ranks: Vec<_> = t
        .tiers()
        .iter()
        .map(|x| (x.rank(), x.cpus().to_string(), x.class()))
        .collect();
    assert_eq!(
        ranks,
        vec![
            (0, "0-3".to_string(), CoreClass::Efficiency),
            (1, "4-6".to_string(), CoreClass::Performance),
            (2, "7".to_string(), CoreClass::Performance),
        ]
    );
}

#[test]
fn frequency_four_and_a_half_percent_apart_is_one_tier() {
    // Turbo Boost Max 3.0: favoured P-cores run ~4.5% faster.
    let tree = Tree::new("freq-4.5pct");
    tree.cpus(4).per_cpu(
        "cpufreq/cpuinfo_max_freq",
        &[4_400_000, 4_598_000, 4_400_000, 4_598_000],
    );
    let t = tree.detect();
    assert!(!t.is_heterogeneous());
    assert_eq!(t.tiers().len(), 1);
}

#[test]
fn frequency_twelve_percent_apart_is_two_tiers() {
    let tree = Tree::new("freq-12pct");
    tree.cpus(4).per_cpu(
        "cpufreq/cpuinfo_max_freq",
        &[3_400_000, 3_808_000, 3_808_000, 3_400_000],
    );
    let t = tree.detect();
    assert_eq!(classes(&t), strs("1-2", "0,3"));
    assert_eq!(
        t.tiers()[1].evidence().to_string(),
        "cpuinfo_max_freq 3808000 kHz"
    );
}

#[cfg(unix)]
#[test]
fn symlinked_cpufreq_directories() {
    let tree = Tree::new("freq-symlink");
    tree.cpus(4);
    for (policy, freq) in [(0, 2_000_000u64), (2, 3_000_000)] {
        tree.cpu_file(
            &format!("cpufreq/policy{policy}/cpuinfo_max_freq"),
            format!("{freq}\n"),
        );
    }
    for (cpu, policy) in [(0, 0), (1, 0), (2, 2), (3, 2)] {
        std::os::unix::fs::symlink(
            format!("../cpufreq/policy{policy}"),
            tree.cpu_dir().join(format!("cpu{cpu}/cpufreq")),
        )
        .unwrap();
    }
    assert_eq!(classes(&tree.detect()), strs("2-3", "0-1"));
}

#[test]
fn policy_directories_without_per_cpu_links() {
    let tree = Tree::new("freq-policies");
    tree.cpus(6)
        // The kernel's format: space-separated ids with a trailing space.
        .cpu_file("cpufreq/policy0/related_cpus", "0 1 2 3 \n")
        .cpu_file("cpufreq/policy0/cpuinfo_max_freq", "1800000\n")
        // related_cpus garbage: affected_cpus is used instead.
        .cpu_file("cpufreq/policy4/related_cpus", "oops\n")
        .cpu_file("cpufreq/policy4/affected_cpus", "4 5\n")
        .cpu_file("cpufreq/policy4/cpuinfo_max_freq", "2400000\n");
    let t = tree.detect();
    assert_eq!(classes(&t), strs("4-5", "0-3"));
    assert!(matches!(
        t.tiers()[0].evidence(),
        Evidence::MaxFrequency {
            min_khz: 1_800_000,
            ..
        }
    ));
}

#[test]
fn cppc_highest_perf_is_used_without_cpufreq() {
    let tree = Tree::new("cppc");
    tree.cpus(4)
        .per_cpu("acpi_cppc/highest_perf", &[120, 120, 255, 255]);
    let t = tree.detect();
    assert_eq!(classes(&t), strs("2-3", "0-1"));
    assert!(matches!(
        t.tiers()[1].evidence(),
        Evidence::CppcHighestPerf { min: 255, .. }
    ));
}

#[test]
fn intel_pmu_lists_win_over_frequency() {
    let tree = Tree::new("pmu");
    // Frequencies say 0-3 are slow; the PMU lists say they are the P-cores.
    tree.cpus(8)
        .per_cpu(
            "cpufreq/cpuinfo_max_freq",
            &[
                1_000_000, 1_000_000, 1_000_000, 1_000_000, 4_000_000, 4_000_000, 4_000_000,
                4_000_000,
            ],
        )
        .file("sys/devices/cpu_core/cpus", "0-3\n")
        .file("sys/devices/cpu_atom/cpus", "4-7\n");
    let t = tree.detect();
    assert_eq!(classes(&t), strs("0-3", "4-7"));
    assert_eq!(
        t.tiers()[1].evidence(),
        &Evidence::IntelHybridPmu {
            pmu: "cpu_core".to_string()
        }
    );
}

#[test]
fn intel_lowpower_and_atom_are_both_efficiency() {
    let tree = Tree::new("pmu-lowpower");
    tree.cpus(16)
        .file("sys/devices/cpu_core/cpus", "0-5\n")
        .file("sys/devices/cpu_atom/cpus", "6-13\n")
        .file("sys/devices/cpu_lowpower/cpus", "14-15\n");
    let t = tree.detect();
    assert_eq!(classes(&t), strs("0-5", "6-15"));
    assert_eq!(t.tiers().len(), 2);
    assert_eq!(
        t.tiers()[0].evidence().to_string(),
        "intel hybrid pmu cpu_lowpower+cpu_atom"
    );
}

#[test]
fn intel_pmu_lists_that_miss_cpus_are_not_used() {
    let tree = Tree::new("pmu-partial");
    tree.cpus(4)
        .per_cpu("cpu_capacity", &[500, 500, 1024, 1024])
        .file("sys/devices/cpu_core/cpus", "0-1\n");
    let t = tree.detect();
    assert_eq!(classes(&t), strs("2-3", "0-1"));
    assert!(matches!(
        t.tiers()[0].evidence(),
        Evidence::CpuCapacity { .. }
    ));
}

#[test]
fn intel_pmu_only_core_list_is_homogeneous() {
    let tree = Tree::new("pmu-core-only");
    tree.cpus(4)
        .per_cpu(
            "cpufreq/cpuinfo_max_freq",
            &[1_000_000, 1_000_000, 4_000_000, 4_000_000],
        )
        .file("sys/devices/cpu_core/cpus", "0-3\n");
    let t = tree.detect();
    assert!(!t.is_heterogeneous());
    assert_eq!(classes(&t), strs("0-3", ""));
}

#[test]
fn midr_identifies_little_cores_without_capacity() {
    let tree = Tree::new("midr");
    tree.cpus(4);
    let a55 = "0x00000000412fd050\n";
    let a76 = "0x00000000414fd0b0\n";
    for (cpu, midr) in [(0, a55), (1, a55), (2, a76), (3, a76)] {
        tree.cpu_file(&format!("cpu{cpu}/regs/identification/midr_el1"), midr);
    }
    let t = tree.detect();
    assert_eq!(classes(&t), strs("2-3", "0-1"));
    assert_eq!(
        t.tiers()[0].evidence().to_string(),
        "midr_el1 Cortex-A55 (little)"
    );
}

#[test]
fn midr_without_a_known_little_core_falls_through_to_frequency() {
    let tree = Tree::new("midr-big-only");
    tree.cpus(4).per_cpu(
        "cpufreq/cpuinfo_max_freq",
        &[2_000_000, 2_000_000, 3_000_000, 3_000_000],
    );
    for (cpu, midr) in [
        (0, "0x410fd870"),
        (1, "0x410fd870"),
        (2, "0x410fd850"),
        (3, "0x410fd850"),
    ] {
        tree.cpu_file(&format!("cpu{cpu}/regs/identification/midr_el1"), midr);
    }
    let t = tree.detect();
    assert_eq!(classes(&t), strs("2-3", "0-1"));
    assert!(matches!(
        t.tiers()[0].evidence(),
        Evidence::MaxFrequency { .. }
    ));
}

#[test]
fn uniform_capacity_is_no_signal_and_frequency_decides() {
    let tree = Tree::new("capacity-flat");
    tree.cpus(4).per_cpu("cpu_capacity", &[1024; 4]).per_cpu(
        "cpufreq/cpuinfo_max_freq",
        &[1_200_000, 1_200_000, 2_400_000, 2_400_000],
    );
    assert_eq!(classes(&tree.detect()), strs("2-3", "0-1"));
}

#[test]
fn capacity_wins_over_frequency() {
    let tree = Tree::new("capacity-first");
    tree.cpus(4)
        .per_cpu("cpu_capacity", &[512, 1024, 512, 1024])
        .per_cpu(
            "cpufreq/cpuinfo_max_freq",
            &[1_200_000, 1_200_000, 2_400_000, 2_400_000],
        );
    assert_eq!(classes(&tree.detect()), strs("1,3", "0,2"));
}

#[test]
fn nothing_usable_is_one_homogeneous_tier() {
    let tree = Tree::new("vm");
    tree.cpus(4);
    let t = tree.detect();
    assert_eq!(t.tiers().len(), 1);
    assert_eq!(classes(&t), strs("0-3", ""));
    assert_eq!(t.count(CoreClass::Efficiency), 0);
    let evidence = t.tiers()[0].evidence().to_string();
    assert!(evidence.starts_with("homogeneous"), "{evidence}");
    assert!(evidence.contains("no cpu_capacity"), "{evidence}");
}

#[test]
fn offline_cpus_do_not_count() {
    let tree = Tree::new("offline");
    tree.cpus(8)
        .per_cpu(
            "cpu_capacity",
            &[400, 400, 400, 400, 1024, 1024, 1024, 1024],
        )
        .cpu_file("online", "0-6\n") // cpu7 offline
        .cpu_file("cpu6/online", "0\n") // and cpu6 too, by its own flag
        .cpu_file("cpu5/online", "1\n");
    let t = tree.detect();
    assert_eq!(classes(&t), strs("4-5", "0-3"));
    assert_eq!(t.allowed(), &set("0-5"));
    assert_eq!(t.class_of(7), None);
}

#[test]
fn without_online_file_the_cpu_directories_count() {
    let tree = Tree::new("no-online");
    tree.cpus(6)
        .per_cpu("cpu_capacity", &[400, 400, 1024, 1024, 1024, 1024]);
    fs::remove_file(tree.cpu_dir().join("online")).unwrap();
    // A gap in the middle (cpu3 missing), an offline CPU and unrelated cpu* entries.
    fs::remove_dir_all(tree.cpu_dir().join("cpu3")).unwrap();
    tree.cpu_file("cpu5/online", "0\n");
    fs::create_dir_all(tree.cpu_dir().join("cpufreq")).unwrap();
    fs::create_dir_all(tree.cpu_dir().join("cpuidle")).unwrap();
    tree.cpu_file("possible", "0-7\n");
    let t = tree.detect();
    assert_eq!(t.allowed(), &set("0-2,4"));
    assert_eq!(classes(&t), strs("2,4", "0-1"));
}

#[test]
fn online_cpu_without_its_directory_means_incomplete_evidence() {
    let tree = Tree::new("missing-dir");
    tree.cpus(4)
        .per_cpu("cpu_capacity", &[400, 400, 1024, 1024]);
    tree.cpu_file("online", "0-4\n");
    let t = tree.detect();
    assert_eq!(t.allowed(), &set("0-4"));
    assert_eq!(t.tiers().len(), 1);
    assert!(t.tiers()[0]
        .evidence()
        .to_string()
        .contains("cpu_capacity missing on cpus 4"));
}

#[test]
fn garbage_evidence_files_are_no_evidence() {
    let tree = Tree::new("garbage");
    tree.cpus(4)
        .per_cpu("cpu_capacity", &[400, 400, 1024, 1024])
        .cpu_file("cpu2/cpu_capacity", "lots\n")
        .per_cpu("cpufreq/cpuinfo_max_freq", &[1, 1, 1, 1])
        .cpu_file("cpu1/cpufreq/cpuinfo_max_freq", "")
        .per_cpu("acpi_cppc/highest_perf", &[10, 10, 40, 40])
        .cpu_file("cpu3/acpi_cppc/highest_perf", [0xff, 0xfe, 0x00]);
    let t = tree.detect();
    assert_eq!(t.tiers().len(), 1);
    let evidence = t.tiers()[0].evidence().to_string();
    assert!(
        evidence.contains("cpu_capacity unusable on cpu2 (\"lots\")"),
        "{evidence}"
    );
    assert!(
        evidence.contains("cpuinfo_max_freq unusable on cpu1"),
        "{evidence}"
    );
}

#[test]
fn zero_and_directory_values_are_no_evidence() {
    let tree = Tree::new("zero");
    tree.cpus(2)
        .per_cpu("cpu_capacity", &[0, 1024])
        .cpu_file("cpu1/cpufreq/cpuinfo_max_freq", "3000000\n")
        .per_cpu("acpi_cppc/highest_perf", &[100, 300]);
    fs::create_dir_all(tree.cpu_dir().join("cpu0/cpufreq/cpuinfo_max_freq")).unwrap();
    let t = tree.detect();
    assert_eq!(classes(&t), strs("1", "0"));
    assert!(matches!(
        t.tiers()[0].evidence(),
        Evidence::CppcHighestPerf { .. }
    ));
}

#[test]
fn garbage_online_file_is_an_error_naming_it() {
    let tree = Tree::new("bad-online");
    tree.cpus(2).cpu_file("online", "zero-one\n");
    let err = Topology::from_sysfs(&tree.root).unwrap_err();
    assert!(matches!(err, TopologyError::InvalidFile { .. }));
    let msg = err.to_string();
    assert!(msg.contains("online") && msg.contains("zero-one"), "{msg}");
}

#[test]
fn empty_online_file_is_an_error() {
    let tree = Tree::new("empty-online");
    tree.cpus(2).cpu_file("online", "\n");
    let msg = Topology::from_sysfs(&tree.root).unwrap_err().to_string();
    assert!(msg.contains("at least one online CPU"), "{msg}");
}

#[test]
fn missing_tree_is_an_error_naming_the_path() {
    let tree = Tree::new("missing");
    let root = tree.root.join("nope");
    let err = Topology::from_sysfs(&root).unwrap_err();
    assert!(matches!(err, TopologyError::Io { .. }));
    let msg = err.to_string();
    assert!(msg.contains(&root.display().to_string()), "{msg}");
    assert!(msg.contains("sys/devices/system/cpu"), "{msg}");
}

#[test]
fn root_path_is_used_as_given() {
    let tree = Tree::new("paths");
    tree.cpus(1);
    let t = Topology::from_sysfs(Path::new(&tree.root)).unwrap();
    assert_eq!(t.count(CoreClass::Performance), 1);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Whatever the files contain, detection returns a topology or an error.
    #[test]
    fn arbitrary_file_contents_never_panic(
        online in ".{0,12}",
        values in proptest::collection::vec(".{0,10}", 3),
        pmu in ".{0,8}",
    ) {
        let tree = Tree::new("prop");
        tree.cpus(3).cpu_file("online", &online).file("sys/devices/cpu_atom/cpus", &pmu);
        for (cpu, v) in values.iter().enumerate() {
            tree.cpu_file(&format!("cpu{cpu}/cpu_capacity"), v)
                .cpu_file(&format!("cpu{cpu}/cpufreq/cpuinfo_max_freq"), v)
                .cpu_file(&format!("cpu{cpu}/regs/identification/midr_el1"), v);
        }
        if let Ok(t) = Topology::from_sysfs(&tree.root) {
            proptest::prop_assert!(t.count(CoreClass::Performance) > 0);
            proptest::prop_assert!(t.cpus(CoreClass::Performance).is_subset(t.allowed()));
        }
    }
}
