//! macOS classification from `hw.*` sysctl values, either a text dump or the live
//! `sysctlbyname` interface (see `darwin.rs`).
//!
//! Keys (Apple `sysctl(3)` / `<sys/sysctl.h>`, macOS 12+ for perf levels):
//! `hw.nperflevels`, `hw.perflevelN.logicalcpu`, `hw.perflevelN.name`, with
//! `hw.perflevel0` the fastest level. `hw.perflevel0` is Performance whatever its name
//! (M5 calls its top level "Super" and its second "Performance"); `hw.perflevel1` and
//! beyond are Efficiency. Without perf-level keys (macOS 11, Intel Macs report
//! `hw.nperflevels: 1`) the machine is homogeneous with `hw.logicalcpu` (or `hw.ncpu`)
//! CPUs.
//!
//! CPU ids are not exposed by macOS, so the topology has counts only: CPU sets are
//! empty and `cpu_ids_known()` is false. We deliberately do not invent ids: a made-up
//! id could be passed to an affinity call and mean something else.

use std::collections::HashMap;

use super::model::TierSpec;
use super::{CpuSet, Evidence, Source, Topology, TopologyError};

/// Perf levels we look for; Apple ships at most three so far.
const MAX_LEVELS: usize = 16;

/// Parses `sysctl hw` / `sysctl -a` output: `key: value` or `key = value` lines.
/// Lines that are neither are ignored; the first occurrence of a key wins.
pub(crate) fn parse_dump(text: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for line in text.lines() {
        let Some(split) = line.find([':', '=']) else {
            continue;
        };
        let (key, value) = (line[..split].trim(), line[split + 1..].trim());
        if key.is_empty() || key.contains(char::is_whitespace) {
            continue;
        }
        map.entry(key.to_string())
            .or_insert_with(|| value.to_string());
    }
    map
}

/// Builds a topology from a key lookup (`Some(text)` when the key exists).
pub(crate) fn classify(
    lookup: &dyn Fn(&str) -> Option<String>,
    source: Source,
) -> Result<Topology, TopologyError> {
    let count = |key: &str| -> Result<Option<usize>, TopologyError> {
        match lookup(key) {
            None => Ok(None),
            Some(text) => text.trim().parse::<usize>().map(Some).map_err(|_| {
                TopologyError::invalid_value(key, text.trim(), "a non-negative integer")
            }),
        }
    };

    let nperflevels = count("hw.nperflevels")?;
    let mut levels = Vec::new();
    for level in 0..nperflevels.unwrap_or(MAX_LEVELS).min(MAX_LEVELS) {
        let key = format!("hw.perflevel{level}.logicalcpu");
        match count(&key)? {
            Some(n) => levels.push((level, n)),
            None if nperflevels.is_some() => {
                return Err(TopologyError::SysctlDump {
                    reason: format!(
                        "hw.nperflevels is {} but {key} is missing",
                        nperflevels.unwrap_or_default()
                    ),
                })
            }
            None => break,
        }
    }

    if levels.len() > 1 {
        // Slowest first: the highest level number is the slowest.
        let specs = levels
            .iter()
            .rev()
            .map(|&(level, n)| TierSpec {
                cpus: CpuSet::new(),
                count: n,
                efficiency: level > 0,
                evidence: Evidence::PerfLevel {
                    level,
                    name: lookup(&format!("hw.perflevel{level}.name"))
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty()),
                },
            })
            .collect();
        let t = Topology::from_tiers(specs, CpuSet::new(), false, source);
        if t.count(super::CoreClass::Performance) == 0 {
            return Err(TopologyError::SysctlDump {
                reason: "every hw.perflevelN.logicalcpu is 0".to_string(),
            });
        }
        return Ok(t);
    }

    let (total, key) = match levels.first() {
        Some(&(_, n)) => (Some(n), "hw.perflevel0.logicalcpu"),
        None => match count("hw.logicalcpu")? {
            Some(n) => (Some(n), "hw.logicalcpu"),
            None => (count("hw.ncpu")?, "hw.ncpu"),
        },
    };
    let Some(total) = total else {
        return Err(TopologyError::SysctlDump {
            reason: "none of hw.perflevel0.logicalcpu, hw.nperflevels, hw.logicalcpu or \
                     hw.ncpu found (expected the output of `sysctl hw`)"
                .to_string(),
        });
    };
    if total == 0 {
        return Err(TopologyError::invalid_value(
            key,
            "0",
            "at least one logical CPU",
        ));
    }
    let evidence = match levels.first() {
        Some(&(level, _)) => Evidence::PerfLevel {
            level,
            name: lookup("hw.perflevel0.name")
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
        },
        None => Evidence::NoSignal {
            detail: format!("no hw.perflevel keys; {key} = {total}"),
        },
    };
    Ok(Topology::from_tiers(
        vec![TierSpec {
            cpus: CpuSet::new(),
            count: total,
            efficiency: false,
            evidence,
        }],
        CpuSet::new(),
        false,
        source,
    ))
}

/// `Topology::from_sysctl_dump`.
pub(crate) fn from_dump(text: &str) -> Result<Topology, TopologyError> {
    let map = parse_dump(text);
    classify(&|key| map.get(key).cloned(), Source::SysctlDump)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::CoreClass;
    use proptest::prelude::*;

    #[test]
    fn dump_syntax_variants() {
        let map = parse_dump("hw.ncpu: 8\nhw.logicalcpu = 6\n  junk line\n: x\nkern.x: a:b\n");
        assert_eq!(map.get("hw.ncpu").map(String::as_str), Some("8"));
        assert_eq!(map.get("hw.logicalcpu").map(String::as_str), Some("6"));
        assert_eq!(map.get("kern.x").map(String::as_str), Some("a:b"));
        assert_eq!(map.len(), 3);
    }

    #[test]
    fn counts_without_ids() {
        let t = from_dump(
            "hw.nperflevels: 2\nhw.perflevel0.logicalcpu: 8\nhw.perflevel1.logicalcpu: 2\n",
        )
        .unwrap();
        assert_eq!(t.count(CoreClass::Performance), 8);
        assert_eq!(t.count(CoreClass::Efficiency), 2);
        assert!(t.cpus(CoreClass::Performance).is_empty());
        assert!(!t.cpu_ids_known());
    }

    #[test]
    fn garbage_count_is_an_error_naming_the_key() {
        let err = from_dump("hw.perflevel0.logicalcpu: lots\n").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("hw.perflevel0.logicalcpu") && msg.contains("lots"),
            "{msg}"
        );
    }

    #[test]
    fn declared_level_missing_is_an_error() {
        let err = from_dump("hw.nperflevels: 2\nhw.perflevel0.logicalcpu: 4\n").unwrap_err();
        assert!(
            err.to_string().contains("hw.perflevel1.logicalcpu"),
            "{err}"
        );
    }

    proptest! {
        #[test]
        fn dump_parser_never_panics(s in ".*") {
            let _ = from_dump(&s);
        }

        #[test]
        fn dump_parser_never_panics_on_keyish_lines(
            lines in proptest::collection::vec(
                ("hw\\.(nperflevels|ncpu|logicalcpu|perflevel[0-3]\\.(logicalcpu|name))",
                 "[:=]", ".{0,12}"),
                0..8)
        ) {
            let text: String = lines.iter().map(|(k, s, v)| format!("{k}{s} {v}\n")).collect();
            if let Ok(t) = from_dump(&text) {
                prop_assert!(t.count(CoreClass::Performance) > 0);
            }
        }
    }
}
