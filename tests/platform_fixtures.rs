//! Detection on snapshots of real machines under `platform/`, checked against
//! `platform/expected.tsv` (one row per fixture; see `platform/README.md`).

use std::fs;
use std::path::{Path, PathBuf};

use hetsched::topology::{CoreClass, CpuSet, Topology};

struct Row {
    line: usize,
    fixture: String,
    kind: String,
    performance: CpuSet,
    efficiency: CpuSet,
    p_count: usize,
    e_count: usize,
    tiers: usize,
    heterogeneous: bool,
}

fn platform_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("platform")
}

fn cpulist(field: &str, line: usize) -> CpuSet {
    if field == "-" {
        return CpuSet::new();
    }
    field
        .parse()
        .unwrap_or_else(|e| panic!("expected.tsv line {line}: {e}"))
}

fn number(field: &str, line: usize) -> usize {
    field
        .parse()
        .unwrap_or_else(|_| panic!("expected.tsv line {line}: {field:?} is not a count"))
}

fn rows() -> Vec<Row> {
    let path = platform_dir().join("expected.tsv");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        let f: Vec<&str> = raw.split('\t').map(str::trim).collect();
        assert_eq!(
            f.len(),
            8,
            "expected.tsv line {line}: 8 tab-separated columns: {raw:?}"
        );
        let heterogeneous = match f[7] {
            "yes" => true,
            "no" => false,
            other => panic!("expected.tsv line {line}: heterogeneous {other:?} is not yes|no"),
        };
        rows.push(Row {
            line,
            fixture: f[0].to_string(),
            kind: f[1].to_string(),
            performance: cpulist(f[2], line),
            efficiency: cpulist(f[3], line),
            p_count: number(f[4], line),
            e_count: number(f[5], line),
            tiers: number(f[6], line),
            heterogeneous,
        });
    }
    rows
}

fn detect(row: &Row) -> Topology {
    let dir = platform_dir().join(&row.fixture);
    let result = match row.kind.as_str() {
        "sysfs" => Topology::from_sysfs(&dir),
        "sysctl" => {
            let path = dir.join("sysctl.txt");
            let text =
                fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Topology::from_sysctl_dump(&text)
        }
        other => panic!(
            "expected.tsv line {}: kind {other:?} is not sysfs|sysctl",
            row.line
        ),
    };
    result.unwrap_or_else(|e| panic!("{}: {e}", row.fixture))
}

#[test]
fn every_fixture_matches_its_expected_row() {
    let rows = rows();
    assert!(rows.len() >= 8, "expected.tsv has only {} rows", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        let t = detect(row);
        let tiers: Vec<String> = t
            .tiers()
            .iter()
            .map(|tier| format!("{}:{}={}", tier.rank(), tier.cpus(), tier.evidence()))
            .collect();
        let got = (
            t.cpus(CoreClass::Performance).clone(),
            t.cpus(CoreClass::Efficiency).clone(),
            t.count(CoreClass::Performance),
            t.count(CoreClass::Efficiency),
            t.tiers().len(),
            t.is_heterogeneous(),
        );
        let want = (
            row.performance.clone(),
            row.efficiency.clone(),
            row.p_count,
            row.e_count,
            row.tiers,
            row.heterogeneous,
        );
        if got != want {
            failures.push(format!(
                "{} (line {}): got {got:?}, expected {want:?}; tiers {tiers:?}",
                row.fixture, row.line
            ));
        }
        if row.kind == "sysctl" {
            assert!(!t.cpu_ids_known(), "{}", row.fixture);
        } else {
            assert!(t.cpu_ids_known(), "{}", row.fixture);
        }
    }
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
}

#[test]
fn every_fixture_directory_has_a_row() {
    let rows = rows();
    let mut missing = Vec::new();
    for entry in fs::read_dir(platform_dir()).expect("platform/ exists") {
        let entry = entry.expect("readable platform/ entry");
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if !rows.iter().any(|r| r.fixture == name) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "platform dirs without an expected.tsv row: {missing:?}"
    );
}
