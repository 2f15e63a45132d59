//! Linux detection from a sysfs tree: `<root>/sys/devices/system/cpu/...`.
//!
//! Works on any tree (the live `/` or a captured copy), so it compiles on every OS.
//!
//! Online CPUs: the `cpu/online` cpulist when present (a garbage or unreadable `online`
//! file is an error: every later step depends on it); otherwise the `cpuN` directories
//! that exist. A `cpuN/online` file containing `0` removes that CPU in both cases.
//!
//! Evidence, strongest first; the first kind that splits the online CPUs into more than
//! one group decides:
//! 1. Intel hybrid PMU lists `<root>/sys/devices/{cpu_core,cpu_atom,cpu_lowpower}/cpus`
//!    (kernel `arch/x86/events/intel/core.c` registers one PMU per core type on hybrid
//!    parts). `cpu_core` = Performance; `cpu_atom` and `cpu_lowpower` together form the
//!    Efficiency tier (so "Efficiency = lowest tier" holds here too). Used when the
//!    lists cover every online CPU, even if only one list is present (then the
//!    machine is homogeneous).
//! 2. `cpuN/cpu_capacity` (kernel `Documentation/ABI/testing/sysfs-devices-system-cpu`),
//!    5% tolerance.
//! 3. `cpuN/regs/identification/midr_el1` (arm64): known little cores are Efficiency,
//!    other parts Performance (see `midr.rs`).
//! 4. `cpuinfo_max_freq` from `cpuN/cpufreq/` (often a symlink to `../cpufreq/policyN`)
//!    or from `cpufreq/policyN/{related_cpus,affected_cpus}`, 10% tolerance.
//! 5. `cpuN/acpi_cppc/highest_perf`, 10% tolerance.
//!
//! A kind counts only if every online CPU has a readable, positive value; a missing,
//! unreadable, empty or garbage file makes that kind "no evidence" (recorded in the
//! homogeneous tier's evidence text) and detection moves on. Nothing here panics on
//! odd file contents.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::cluster::{cluster, Cluster, CAPACITY_TOLERANCE_PCT, FREQUENCY_TOLERANCE_PCT};
use super::midr::CorePart;
use super::model::TierSpec;
use super::{CpuSet, Evidence, Source, Topology, TopologyError, MAX_CPUS};

/// Largest file we read: sysfs attributes are one page at most.
const READ_LIMIT: u64 = 64 * 1024;

/// Detects the topology described by the sysfs tree under `root`.
pub(crate) fn detect(root: &Path) -> Result<Topology, TopologyError> {
    let cpu_dir = root.join("sys/devices/system/cpu");
    let online = online_cpus(&cpu_dir)?;
    let ctx = Context {
        root,
        cpu_dir: &cpu_dir,
        online: &online,
    };
    let detectors: [Detector; 5] = [intel_pmu, capacity, midr, max_frequency, cppc];
    let mut notes = Vec::new();
    let specs = detectors
        .iter()
        .find_map(|detector| detector(&ctx, &mut notes))
        .unwrap_or_else(|| {
            vec![TierSpec::new(
                online.clone(),
                false,
                Evidence::NoSignal {
                    detail: notes.join("; "),
                },
            )]
        });
    Ok(Topology::from_tiers(
        specs,
        online.clone(),
        true,
        Source::Sysfs {
            root: root.to_path_buf(),
        },
    ))
}

struct Context<'a> {
    root: &'a Path,
    cpu_dir: &'a Path,
    online: &'a CpuSet,
}

/// Returns tiers slowest first when its evidence splits the CPUs; otherwise `None`,
/// after adding a short note saying why.
type Detector = fn(&Context<'_>, &mut Vec<String>) -> Option<Vec<TierSpec>>;

/// Reads a small text file; non-UTF-8 contents are an `InvalidData` error.
///
/// Only regular files are read (sysfs attributes are regular files): a named pipe, socket
/// or device where an attribute should be, in a mangled or hostile capture, is an error
/// instead of a read that blocks forever. On Unix the open is non-blocking as well, for
/// the window between the check and the open.
pub(crate) fn read_small(path: &Path) -> io::Result<String> {
    if !fs::metadata(path)?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let mut bytes = Vec::new();
    options
        .open(path)?
        .take(READ_LIMIT)
        .read_to_end(&mut bytes)?;
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// A positive decimal integer, surrounding whitespace allowed (`"1024\n"`).
pub(crate) fn parse_positive(text: &str) -> Option<u64> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok().filter(|&v| v > 0)
}

/// A hexadecimal integer with optional `0x` prefix (`"0x00000000410fd034\n"`).
pub(crate) fn parse_hex(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

fn online_cpus(cpu_dir: &Path) -> Result<CpuSet, TopologyError> {
    let entries = fs::read_dir(cpu_dir).map_err(|e| {
        TopologyError::io(
            cpu_dir,
            "a directory (a sysfs tree containing sys/devices/system/cpu)",
            e,
        )
    })?;
    let dirs: CpuSet = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| cpu_number(&entry.file_name().to_string_lossy()))
        .collect();

    let online_path = cpu_dir.join("online");
    let mut online = match read_small(&online_path) {
        Ok(text) => text.parse::<CpuSet>().map_err(|e| {
            TopologyError::invalid_file(
                &online_path,
                &text,
                format!("a cpulist of online CPUs such as \"0-7\" ({})", e.reason()),
            )
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => dirs,
        Err(e) => {
            return Err(TopologyError::io(
                &online_path,
                "a readable cpulist of online CPUs",
                e,
            ))
        }
    };
    for cpu in online.clone().iter() {
        let flag = read_small(&cpu_dir.join(format!("cpu{cpu}/online")));
        if flag.is_ok_and(|text| text.trim() == "0") {
            online.remove(cpu);
        }
    }
    if online.is_empty() {
        return Err(TopologyError::invalid_file(
            &online_path,
            "",
            "at least one online CPU (from the `online` cpulist or cpuN directories)",
        ));
    }
    Ok(online)
}

/// `cpu12` -> 12; anything else (`cpufreq`, `cpuidle`, `cpu99999`) -> None.
/// CPU ids as cpufreq prints them: space-separated (`"0 1 2 3 "`, the kernel's
/// `cpufreq_show_cpus` format); cpulist items (`0-3`) are accepted too.
pub(crate) fn parse_cpu_ids(text: &str) -> Option<CpuSet> {
    text.split_whitespace()
        .try_fold(CpuSet::new(), |acc, item| {
            Some(acc.union(&item.parse::<CpuSet>().ok()?))
        })
}

fn cpu_number(name: &str) -> Option<usize> {
    let digits = name.strip_prefix("cpu")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&n| n < MAX_CPUS)
}

/// The outcome of reading one CPU's value.
enum Reading {
    Value(u64),
    Missing,
    Garbage(String),
}

fn read_value(path: &Path, parse: fn(&str) -> Option<u64>) -> Reading {
    match read_small(path) {
        Ok(text) => match parse(&text) {
            Some(v) => Reading::Value(v),
            None => Reading::Garbage(text.trim().chars().take(40).collect()),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Reading::Missing,
        Err(e) => Reading::Garbage(format!("unreadable: {e}")),
    }
}

/// One value per online CPU, or a note saying why this kind of evidence is unusable.
fn per_cpu(
    online: &CpuSet,
    what: &str,
    mut reading: impl FnMut(usize) -> Reading,
) -> Result<Vec<(usize, u64)>, String> {
    let mut values = Vec::new();
    let mut missing = CpuSet::new();
    for cpu in online.iter() {
        match reading(cpu) {
            Reading::Value(v) => values.push((cpu, v)),
            Reading::Missing => {
                let _ = missing.insert(cpu);
            }
            Reading::Garbage(text) => {
                return Err(format!("{what} unusable on cpu{cpu} ({text:?})"))
            }
        }
    }
    if values.is_empty() {
        Err(format!("no {what}"))
    } else if !missing.is_empty() {
        Err(format!("{what} missing on cpus {missing}"))
    } else {
        Ok(values)
    }
}

/// Tiers from clusters: the lowest is Efficiency, the rest Performance. `None` (with a
/// note) when the values form a single group.
fn tiers_from_clusters(
    clusters: Vec<Cluster>,
    what: &str,
    evidence: fn(&Cluster) -> Evidence,
    notes: &mut Vec<String>,
) -> Option<Vec<TierSpec>> {
    if clusters.len() < 2 {
        if let Some(c) = clusters.first() {
            notes.push(format!("{} alike", evidence(c)));
        } else {
            notes.push(format!("no {what}"));
        }
        return None;
    }
    Some(
        clusters
            .iter()
            .enumerate()
            .map(|(rank, c)| TierSpec::new(c.cpus.clone(), rank == 0, evidence(c)))
            .collect(),
    )
}

fn intel_pmu(ctx: &Context<'_>, notes: &mut Vec<String>) -> Option<Vec<TierSpec>> {
    // The bool says Efficiency. `cpu_lowpower` (the SoC-tile LP E-cores of Meteor Lake /
    // Arrow Lake-H) and `cpu_atom` E-cores both are Efficiency; they share the lowest
    // tier so that "Efficiency = the lowest tier" holds for every source.
    const PMUS: [(&str, bool); 3] = [
        ("cpu_lowpower", true),
        ("cpu_atom", true),
        ("cpu_core", false),
    ];
    let mut efficiency = (CpuSet::new(), Vec::new());
    let mut performance = (CpuSet::new(), Vec::new());
    let mut covered = CpuSet::new();
    let mut found = false;
    for (pmu, is_efficiency) in PMUS {
        let path = ctx.root.join("sys/devices").join(pmu).join("cpus");
        let cpus = match read_small(&path) {
            Ok(text) => match text.parse::<CpuSet>() {
                Ok(cpus) => cpus.intersection(ctx.online),
                Err(_) => {
                    notes.push(format!("{pmu}/cpus unusable"));
                    return None;
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(_) => {
                notes.push(format!("{pmu}/cpus unreadable"));
                return None;
            }
        };
        found = true;
        if !covered.is_disjoint(&cpus) {
            notes.push(format!("hybrid PMU lists overlap ({pmu})"));
            return None;
        }
        covered = covered.union(&cpus);
        let (set, names) = if is_efficiency {
            &mut efficiency
        } else {
            &mut performance
        };
        if !cpus.is_empty() {
            *set = set.union(&cpus);
            names.push(pmu);
        }
    }
    if !found {
        notes.push("no hybrid PMU lists".to_string());
        return None;
    }
    let uncovered = ctx.online.difference(&covered);
    if !uncovered.is_empty() {
        notes.push(format!("hybrid PMU lists miss cpus {uncovered}"));
        return None;
    }
    let spec = |(cpus, names): (CpuSet, Vec<&str>), is_efficiency| {
        TierSpec::new(
            cpus,
            is_efficiency,
            Evidence::IntelHybridPmu {
                pmu: names.join("+"),
            },
        )
    };
    Some(vec![spec(efficiency, true), spec(performance, false)])
}

fn capacity(ctx: &Context<'_>, notes: &mut Vec<String>) -> Option<Vec<TierSpec>> {
    let values = per_cpu(ctx.online, "cpu_capacity", |cpu| {
        read_value(
            &ctx.cpu_dir.join(format!("cpu{cpu}/cpu_capacity")),
            parse_positive,
        )
    });
    let values = values.map_err(|note| notes.push(note)).ok()?;
    tiers_from_clusters(
        cluster(&values, CAPACITY_TOLERANCE_PCT),
        "cpu_capacity",
        |c| Evidence::CpuCapacity {
            min: c.min,
            max: c.max,
        },
        notes,
    )
}

fn midr(ctx: &Context<'_>, notes: &mut Vec<String>) -> Option<Vec<TierSpec>> {
    let mut parts: Vec<(usize, CorePart)> = Vec::new();
    let values = per_cpu(ctx.online, "midr_el1", |cpu| {
        let path = ctx
            .cpu_dir
            .join(format!("cpu{cpu}/regs/identification/midr_el1"));
        match read_small(&path) {
            Ok(text) => match CorePart::parse(&text) {
                Some(part) => {
                    parts.push((cpu, part));
                    Reading::Value(1)
                }
                None => Reading::Garbage(text.trim().chars().take(40).collect()),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Reading::Missing,
            Err(e) => Reading::Garbage(format!("unreadable: {e}")),
        }
    });
    values.map_err(|note| notes.push(note)).ok()?;

    let mut little = CpuSet::new();
    let mut big = CpuSet::new();
    let mut little_names = Vec::new();
    let mut big_names = Vec::new();
    for (cpu, part) in parts {
        let (set, names) = if part.is_little() {
            (&mut little, &mut little_names)
        } else {
            (&mut big, &mut big_names)
        };
        let _ = set.insert(cpu);
        let name = part.describe();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if little.is_empty() || big.is_empty() {
        let all: Vec<_> = little_names.into_iter().chain(big_names).collect();
        notes.push(format!("midr_el1 one kind ({})", all.join(", ")));
        return None;
    }
    Some(vec![
        TierSpec::new(
            little,
            true,
            Evidence::MidrEl1 {
                cores: format!("{} (little)", little_names.join(", ")),
            },
        ),
        TierSpec::new(
            big,
            false,
            Evidence::MidrEl1 {
                cores: format!("{} (big)", big_names.join(", ")),
            },
        ),
    ])
}

fn max_frequency(ctx: &Context<'_>, notes: &mut Vec<String>) -> Option<Vec<TierSpec>> {
    let mut policies: Option<HashMap<usize, Reading>> = None;
    let values = per_cpu(ctx.online, "cpuinfo_max_freq", |cpu| {
        let direct = ctx
            .cpu_dir
            .join(format!("cpu{cpu}/cpufreq/cpuinfo_max_freq"));
        match read_value(&direct, parse_positive) {
            Reading::Missing => {
                let by_cpu = policies.get_or_insert_with(|| policy_frequencies(ctx.cpu_dir));
                by_cpu.remove(&cpu).unwrap_or(Reading::Missing)
            }
            other => other,
        }
    });
    let values = values.map_err(|note| notes.push(note)).ok()?;
    tiers_from_clusters(
        cluster(&values, FREQUENCY_TOLERANCE_PCT),
        "cpuinfo_max_freq",
        |c| Evidence::MaxFrequency {
            min_khz: c.min,
            max_khz: c.max,
        },
        notes,
    )
}

/// `cpufreq/policyN/cpuinfo_max_freq` for every CPU in the policy's `related_cpus`
/// (or `affected_cpus` when `related_cpus` is missing or unusable).
fn policy_frequencies(cpu_dir: &Path) -> HashMap<usize, Reading> {
    let mut by_cpu = HashMap::new();
    let Ok(entries) = fs::read_dir(cpu_dir.join("cpufreq")) else {
        return by_cpu;
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix("policy")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let cpus = ["related_cpus", "affected_cpus"].iter().find_map(|name| {
            parse_cpu_ids(&read_small(&dir.join(name)).ok()?).filter(|s| !s.is_empty())
        });
        let Some(cpus) = cpus else { continue };
        for cpu in cpus.iter() {
            let reading = read_value(&dir.join("cpuinfo_max_freq"), parse_positive);
            by_cpu.entry(cpu).or_insert(reading);
        }
    }
    by_cpu
}

fn cppc(ctx: &Context<'_>, notes: &mut Vec<String>) -> Option<Vec<TierSpec>> {
    let values = per_cpu(ctx.online, "acpi_cppc highest_perf", |cpu| {
        read_value(
            &ctx.cpu_dir.join(format!("cpu{cpu}/acpi_cppc/highest_perf")),
            parse_positive,
        )
    });
    let values = values.map_err(|note| notes.push(note)).ok()?;
    tiers_from_clusters(
        cluster(&values, FREQUENCY_TOLERANCE_PCT),
        "acpi_cppc highest_perf",
        |c| Evidence::CppcHighestPerf {
            min: c.min,
            max: c.max,
        },
        notes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn value_parsers() {
        assert_eq!(parse_positive("1024\n"), Some(1024));
        assert_eq!(parse_positive(" 7 "), Some(7));
        for bad in ["", "0", "-1", "12a", "1 2", "99999999999999999999999", "+5"] {
            assert_eq!(parse_positive(bad), None, "{bad}");
        }
        assert_eq!(parse_hex("0x00000000410fd034\n"), Some(0x410fd034));
        assert_eq!(parse_hex("FF"), Some(255));
        for bad in ["", "0x", "0xg", "0x1ffffffffffffffff"] {
            assert_eq!(parse_hex(bad), None, "{bad}");
        }
    }

    #[test]
    fn cpufreq_cpu_lists() {
        assert_eq!(parse_cpu_ids("0 1 2 3 \n"), Some("0-3".parse().unwrap()));
        assert_eq!(parse_cpu_ids("4-5 7\n"), Some("4-5,7".parse().unwrap()));
        assert_eq!(parse_cpu_ids("\n"), Some(CpuSet::new()));
        assert_eq!(parse_cpu_ids("0 x"), None);
    }

    #[test]
    fn cpu_directory_names() {
        assert_eq!(cpu_number("cpu0"), Some(0));
        assert_eq!(cpu_number("cpu17"), Some(17));
        for bad in [
            "cpu",
            "cpufreq",
            "cpuidle",
            "cpu-1",
            "cpu4096",
            "cpu99999999999999999999",
        ] {
            assert_eq!(cpu_number(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn value_parsers_never_panic(s in ".*") {
            let _ = parse_positive(&s);
            let _ = parse_hex(&s);
            let _ = cpu_number(&s);
            let _ = parse_cpu_ids(&s);
            let _ = CorePart::parse(&s);
        }

        #[test]
        fn positive_parser_accepts_what_it_prints(v in 1u64..) {
            prop_assert_eq!(parse_positive(&format!("{v}\n")), Some(v));
        }
    }
}
