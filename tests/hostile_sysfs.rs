//! Hostile sysfs trees (what `HETSCHED_SYSFS_ROOT` or a bad capture can hand detection):
//! special files where attributes should be, unreadable attributes, symlink loops, endless
//! files, missing CPUs in the middle, `online` smaller and larger than the CPUs present,
//! and random tree *shapes* (the per-value proptests live in tests/topology_sysfs.rs and
//! src/topology/sysfs.rs). Detection must return — a topology or an error naming the
//! file — never panic, never hang.
//!
//! The tests run as root here, so `chmod 000` cannot make a file unreadable; read errors
//! come from a symlink to `/proc/self/mem` (reading offset 0 fails with EIO), a directory
//! (EISDIR), a dangling symlink and a symlink loop (ELOOP).

use hetsched::topology::{CoreClass, CpuSet, Topology};
use proptest::prelude::*;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

struct Tree {
    root: PathBuf,
}

impl Tree {
    fn new(name: &str) -> Tree {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "hostile-sysfs-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("sys/devices/system/cpu")).unwrap();
        Tree { root }
    }
    fn cpu_path(&self, rel: &str) -> PathBuf {
        self.root.join("sys/devices/system/cpu").join(rel)
    }
    fn write(&self, rel: &str, contents: &str) -> &Tree {
        let path = self.cpu_path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
        self
    }
    fn link(&self, rel: &str, target: &Path) -> &Tree {
        let path = self.cpu_path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let _ = fs::remove_file(&path);
        symlink(target, path).unwrap();
        self
    }
    fn cpus(&self, ids: impl IntoIterator<Item = usize>) -> &Tree {
        for cpu in ids {
            fs::create_dir_all(self.cpu_path(&format!("cpu{cpu}"))).unwrap();
        }
        self
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

/// Detection on another thread, bounded: `Err` if it did not return (a hang).
fn detect_bounded(root: &Path) -> Result<Result<Topology, String>, &'static str> {
    let (tx, rx) = std::sync::mpsc::channel();
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(Topology::from_sysfs(&root).map_err(|e| e.to_string()));
    });
    rx.recv_timeout(Duration::from_secs(20))
        .map_err(|_| "detection did not return")
}

/// Whatever detection returns must be a sane topology.
fn assert_sane(t: &Topology) {
    assert!(t.count(CoreClass::Performance) > 0, "{t:?}");
    for class in CoreClass::ALL {
        assert!(t.cpus(class).is_subset(t.allowed()), "{t:?}");
    }
    assert!(t
        .cpus(CoreClass::Performance)
        .intersection(t.cpus(CoreClass::Efficiency))
        .is_empty());
}

#[test]
fn unreadable_attributes_are_no_evidence_not_an_error() {
    let tree = Tree::new("unreadable");
    tree.cpus(0..4).write("online", "0-3\n");
    for cpu in 0..4 {
        tree.write(
            &format!("cpu{cpu}/cpu_capacity"),
            if cpu < 2 { "400\n" } else { "1024\n" },
        );
        tree.write(&format!("cpu{cpu}/cpufreq/cpuinfo_max_freq"), "2000000\n");
    }
    // EIO on read, ELOOP on open, ENOENT through a dangling link.
    tree.link("cpu1/cpu_capacity", Path::new("/proc/self/mem"));
    let lo = tree.cpu_path("cpu2/cpufreq/loop");
    tree.link("cpu2/cpufreq/cpuinfo_max_freq", &lo);
    tree.link(
        "cpu2/cpufreq/loop",
        &tree.cpu_path("cpu2/cpufreq/cpuinfo_max_freq"),
    );
    tree.link(
        "cpu3/acpi_cppc/highest_perf",
        Path::new("/nonexistent/hetsched"),
    );
    let t = detect_bounded(&tree.root).unwrap().unwrap();
    assert_sane(&t);
    assert_eq!(t.allowed(), &set("0-3"));
    // Capacity is unusable on cpu1, frequency on cpu2: no split, one tier, and it says why.
    assert_eq!(t.tiers().len(), 1);
    let evidence = t.tiers()[0].evidence().to_string();
    assert!(evidence.contains("cpu1"), "{evidence}");
}

#[test]
fn an_unreadable_online_file_is_an_error_naming_it() {
    let tree = Tree::new("online-eio");
    tree.cpus(0..2).link("online", Path::new("/proc/self/mem"));
    let msg = detect_bounded(&tree.root).unwrap().unwrap_err();
    assert!(msg.contains("online"), "{msg}");
    // A directory where the file should be.
    let tree = Tree::new("online-dir");
    tree.cpus(0..2);
    fs::create_dir_all(tree.cpu_path("online")).unwrap();
    let msg = detect_bounded(&tree.root).unwrap().unwrap_err();
    assert!(msg.contains("online"), "{msg}");
}

#[test]
fn an_endless_attribute_is_read_only_up_to_its_limit() {
    // /dev/zero: a read that never ends unless bounded. (NUL bytes are valid UTF-8 but
    // not a number: no evidence.)
    let tree = Tree::new("endless");
    tree.cpus(0..2).write("online", "0-1\n");
    tree.write("cpu0/cpu_capacity", "1024\n");
    tree.link("cpu1/cpu_capacity", Path::new("/dev/zero"));
    tree.link("cpu0/cpufreq/cpuinfo_max_freq", Path::new("/dev/urandom"));
    let t = detect_bounded(&tree.root).unwrap().unwrap();
    assert_sane(&t);
    assert_eq!(t.tiers().len(), 1);
}

#[test]
fn missing_cpus_in_the_middle_and_online_smaller_than_present() {
    // present: cpu0-7 minus cpu3 and cpu5; online says 0-5: cpu6-7 are present but
    // offline, cpu3 and cpu5 are online but have no directory.
    let tree = Tree::new("gaps");
    tree.cpus([0, 1, 2, 4, 6, 7]).write("online", "0-5\n");
    tree.write("present", "0-7\n").write("possible", "0-15\n");
    for cpu in [0, 1, 2, 4, 6, 7] {
        let cap = if cpu < 2 { "300\n" } else { "1024\n" };
        tree.write(&format!("cpu{cpu}/cpu_capacity"), cap);
    }
    let t = detect_bounded(&tree.root).unwrap().unwrap();
    assert_sane(&t);
    assert_eq!(t.allowed(), &set("0-5"));
    assert_eq!(t.class_of(7), None);
    // cpu3 and cpu5 have no evidence: detection must not invent a split from partial data.
    let evidence = t.tiers()[0].evidence().to_string();
    assert!(
        evidence.contains("3") && evidence.contains("5"),
        "{evidence}"
    );
}

#[test]
fn online_larger_than_the_kernel_maximum_is_an_error_naming_it() {
    let tree = Tree::new("huge-online");
    tree.cpus(0..2).write("online", "0-99999999\n");
    let msg = detect_bounded(&tree.root).unwrap().unwrap_err();
    assert!(msg.contains("online") && msg.contains("99999999"), "{msg}");
}

// BUG (reported): `read_small` (src/topology/sysfs.rs) opens every attribute with a
// plain `File::open`, which blocks forever on a FIFO that has no writer. A tree with a
// named pipe where an attribute should be (a hostile or mangled capture passed through
// HETSCHED_SYSFS_ROOT) hangs `Topology::from_sysfs`, `Builder::from_env` and
// `Runtime::new`. Expected: no evidence / an error naming the file.
#[test]
fn a_fifo_where_an_attribute_should_be_does_not_hang_detection() {
    let tree = Tree::new("fifo");
    tree.cpus(0..2).write("online", "0-1\n");
    tree.write("cpu0/cpu_capacity", "1024\n");
    let fifo = tree.cpu_path("cpu1/cpu_capacity");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c_path` is a valid NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let outcome = detect_bounded(&tree.root);
    // Release a reader still blocked in open (if detection hung): opening the write end
    // lets its open return. Non-blocking, so that with no reader this open fails at once
    // (ENXIO) instead of blocking the test itself.
    {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo);
    }
    match outcome {
        Ok(Ok(t)) => assert_sane(&t),
        Ok(Err(msg)) => assert!(msg.contains("cpu_capacity"), "{msg}"),
        Err(hang) => panic!("{hang}: a FIFO in the sysfs tree blocks File::open forever"),
    }
}

#[derive(Clone, Debug)]
enum Attr {
    Value(u64),
    Garbage(String),
    Missing,
    Directory,
    Endless,
    Unreadable,
    Dangling,
}

fn attr() -> impl Strategy<Value = Attr> {
    prop_oneof![
        6 => (1u64..5_000_000).prop_map(Attr::Value),
        1 => ".{0,8}".prop_map(Attr::Garbage),
        2 => Just(Attr::Missing),
        1 => Just(Attr::Directory),
        1 => Just(Attr::Endless),
        1 => Just(Attr::Unreadable),
        1 => Just(Attr::Dangling),
    ]
}

const ATTRS: [&str; 4] = [
    "cpu_capacity",
    "cpufreq/cpuinfo_max_freq",
    "acpi_cppc/highest_perf",
    "regs/identification/midr_el1",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random shapes: which CPU directories exist, what `online` says (or whether it
    /// exists), and each attribute a value, garbage, missing or hostile.
    #[test]
    fn random_tree_shapes_never_panic_or_hang(
        present in proptest::collection::btree_set(0usize..12, 0..10),
        online in proptest::option::of(prop_oneof![
            proptest::collection::btree_set(0usize..16, 0..10)
                .prop_map(|s| s.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",")),
            ".{0,10}",
        ]),
        offline_flags in proptest::collection::vec(any::<bool>(), 12),
        attrs in proptest::collection::vec(attr(), 12 * ATTRS.len()),
    ) {
        let tree = Tree::new("shape");
        tree.cpus(present.iter().copied());
        if let Some(online) = &online {
            tree.write("online", online);
        }
        for &cpu in &present {
            if offline_flags[cpu] {
                tree.write(&format!("cpu{cpu}/online"), "0\n");
            }
            for (k, name) in ATTRS.iter().enumerate() {
                let rel = format!("cpu{cpu}/{name}");
                match &attrs[cpu * ATTRS.len() + k] {
                    Attr::Value(v) => { tree.write(&rel, &format!("{v}\n")); }
                    Attr::Garbage(g) => { tree.write(&rel, g); }
                    Attr::Missing => {}
                    Attr::Directory => fs::create_dir_all(tree.cpu_path(&rel)).unwrap(),
                    Attr::Endless => { tree.link(&rel, Path::new("/dev/zero")); }
                    Attr::Unreadable => { tree.link(&rel, Path::new("/proc/self/mem")); }
                    Attr::Dangling => { tree.link(&rel, Path::new("/nonexistent/x")); }
                }
            }
        }
        match detect_bounded(&tree.root) {
            Err(hang) => prop_assert!(false, "{}", hang),
            Ok(Ok(t)) => assert_sane(&t),
            Ok(Err(msg)) => prop_assert!(!msg.is_empty()),
        }
    }
}
