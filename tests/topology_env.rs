//! Operator overrides through `Topology::from_env_with` (no process environment is
//! mutated, so these run in parallel safely).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::path::PathBuf;

use hetsched::topology::{CoreClass, CpuSet, Source, Topology, TopologyError};

/// A captured-machine stand-in: 8 CPUs, 0-3 little, 4-7 big. Removed on drop.
struct Tree {
    root: PathBuf,
}

impl Tree {
    fn new(name: &str) -> Tree {
        let root = std::env::temp_dir().join(format!(
            "hetsched-topology-env-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&root);
        let cpu_dir = root.join("sys/devices/system/cpu");
        for cpu in 0..8 {
            let dir = cpu_dir.join(format!("cpu{cpu}"));
            fs::create_dir_all(&dir).unwrap();
            let capacity = if cpu < 4 { "400\n" } else { "1024\n" };
            fs::write(dir.join("cpu_capacity"), capacity).unwrap();
        }
        fs::write(cpu_dir.join("online"), "0-7\n").unwrap();
        Tree { root }
    }

    fn env(&self, vars: &[(&str, &str)]) -> Result<Topology, TopologyError> {
        let mut map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        map.entry("HETSCHED_SYSFS_ROOT".to_string())
            .or_insert_with(|| self.root.clone().into_os_string());
        Topology::from_env_with(|name| map.get(name).cloned())
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

#[test]
fn sysfs_root_variable_selects_the_tree() {
    let tree = Tree::new("root");
    let t = tree.env(&[]).unwrap();
    assert_eq!(t.cpus(CoreClass::Efficiency), &set("0-3"));
    assert_eq!(
        t.source(),
        &Source::Sysfs {
            root: tree.root.clone()
        }
    );
}

#[test]
fn p_only_makes_the_rest_efficiency() {
    let tree = Tree::new("p-only");
    let t = tree.env(&[("HETSCHED_P_CPUS", "6-7\n")]).unwrap();
    assert_eq!(t.cpus(CoreClass::Performance), &set("6-7"));
    assert_eq!(t.cpus(CoreClass::Efficiency), &set("0-5"));
    assert_eq!(
        t.tiers()[1].evidence().to_string(),
        "override HETSCHED_P_CPUS"
    );
    assert!(t.source().to_string().starts_with("overrides on sysfs:"));
}

#[test]
fn e_only_makes_the_rest_performance() {
    let tree = Tree::new("e-only");
    let t = tree.env(&[("HETSCHED_E_CPUS", "0")]).unwrap();
    assert_eq!(t.cpus(CoreClass::Performance), &set("1-7"));
    assert_eq!(t.count(CoreClass::Efficiency), 1);
}

#[test]
fn both_sets_are_taken_as_given() {
    let tree = Tree::new("both");
    let t = tree
        .env(&[("HETSCHED_P_CPUS", "0-1"), ("HETSCHED_E_CPUS", "2-3")])
        .unwrap();
    assert_eq!(t.cpus(CoreClass::Performance), &set("0-1"));
    assert_eq!(t.cpus(CoreClass::Efficiency), &set("2-3"));
    assert_eq!(t.class_of(5), None);
}

#[test]
fn empty_variables_count_as_unset() {
    let tree = Tree::new("empty");
    let t = tree
        .env(&[("HETSCHED_P_CPUS", ""), ("HETSCHED_E_CPUS", "  ")])
        .unwrap();
    assert_eq!(t.cpus(CoreClass::Performance), &set("4-7"));
}

/// Runs `vars` and checks the error names every piece in `needles`.
fn assert_error(tree: &Tree, vars: &[(&str, &str)], needles: &[&str]) {
    let msg = tree.env(vars).unwrap_err().to_string();
    for needle in needles {
        assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    }
}

#[test]
fn override_errors_name_variable_value_and_reason() {
    let tree = Tree::new("errors");
    assert_error(
        &tree,
        &[("HETSCHED_P_CPUS", "3-1")],
        &["HETSCHED_P_CPUS", "\"3-1\"", "starts above its end"],
    );
    assert_error(
        &tree,
        &[("HETSCHED_E_CPUS", "1,,2")],
        &["HETSCHED_E_CPUS", "\"1,,2\"", "empty item"],
    );
    assert_error(
        &tree,
        &[("HETSCHED_P_CPUS", "0-4"), ("HETSCHED_E_CPUS", "4-7")],
        &[
            "HETSCHED_P_CPUS",
            "HETSCHED_E_CPUS",
            "0-4",
            "overlap on CPUs 4",
        ],
    );
    assert_error(
        &tree,
        &[("HETSCHED_P_CPUS", "6-9")],
        &["HETSCHED_P_CPUS", "6-9", "CPUs 8-9 are not online"],
    );
    assert_error(
        &tree,
        &[("HETSCHED_E_CPUS", "0-7")],
        &["HETSCHED_E_CPUS", "0-7", "leaves no performance CPUs"],
    );
    assert_error(
        &tree,
        &[("HETSCHED_P_CPUS", "5000")],
        &["HETSCHED_P_CPUS", "5000", "not below 4096"],
    );
}

#[test]
fn bad_sysfs_root_is_an_error_naming_the_variable() {
    let tree = Tree::new("bad-root");
    let missing = tree.root.join("missing");
    let msg = tree
        .env(&[("HETSCHED_SYSFS_ROOT", missing.to_str().unwrap())])
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("HETSCHED_SYSFS_ROOT="), "{msg}");
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
}

#[test]
fn malformed_list_is_reported_even_when_detection_would_fail() {
    let tree = Tree::new("order");
    let missing = tree.root.join("missing");
    let msg = tree
        .env(&[
            ("HETSCHED_SYSFS_ROOT", missing.to_str().unwrap()),
            ("HETSCHED_P_CPUS", "x"),
        ])
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("HETSCHED_P_CPUS"), "{msg}");
}

#[cfg(unix)]
#[test]
fn non_utf8_variable_is_an_error() {
    use std::os::unix::ffi::OsStringExt;
    let err = Topology::from_env_with(|name| {
        (name == "HETSCHED_P_CPUS").then(|| OsString::from_vec(vec![b'1', 0xff]))
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("HETSCHED_P_CPUS") && msg.contains("UTF-8"),
        "{msg}"
    );
}

#[test]
fn live_host_overrides_are_checked_against_allowed_cpus() {
    // No HETSCHED_SYSFS_ROOT: the live host. Whatever it is, its first allowed CPU can
    // be declared Performance and a CPU beyond MAX-1 cannot.
    let live = Topology::detect();
    let first = live.allowed().first().expect("some allowed CPU");
    let value = first.to_string();
    let t = Topology::from_env_with(|name| {
        (name == "HETSCHED_P_CPUS").then(|| OsString::from(value.clone()))
    })
    .unwrap();
    assert_eq!(t.cpus(CoreClass::Performance), &set(&value));
    assert_eq!(
        t.cpus(CoreClass::Efficiency),
        &live.allowed().difference(&set(&value))
    );
    let err =
        Topology::from_env_with(|name| (name == "HETSCHED_P_CPUS").then(|| OsString::from("4095")));
    if !live.allowed().contains(4095) {
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("not online or not allowed"));
    }
}

#[test]
fn api_overrides_name_their_arguments() {
    let base = Topology::uniform(4);
    let msg = base
        .clone()
        .with_overrides(Some(set("0-1")), Some(set("1-2")))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("p_cpus and e_cpus"), "{msg}");
    assert!(msg.contains("overlap on CPUs 1"), "{msg}");
    let same = base.clone().with_overrides(None, None).unwrap();
    assert_eq!(same, base);
}
