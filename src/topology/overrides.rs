//! Operator overrides: `HETSCHED_SYSFS_ROOT`, `HETSCHED_P_CPUS`, `HETSCHED_E_CPUS`,
//! `HETSCHED_E_SPEED`, and the same through [`Topology::with_overrides`] and
//! [`Topology::with_efficiency_speed`].
//!
//! An environment variable that is set to an empty (or all-whitespace) string is
//! treated as unset: `HETSCHED_P_CPUS= cmd` is the usual way to clear a variable for
//! one command, and an empty performance set would be an error anyway.

use std::ffi::OsString;

use super::model::{check_classes, TierSpec};
use super::{CpuSet, Evidence, Source, Topology, TopologyError};

/// Environment variable: cpulist of the performance CPUs.
pub const ENV_P_CPUS: &str = "HETSCHED_P_CPUS";
/// Environment variable: cpulist of the efficiency CPUs.
pub const ENV_E_CPUS: &str = "HETSCHED_E_CPUS";
/// Environment variable: efficiency-core speed as a share of performance-core speed,
/// `0 < s <= 1` (e.g. `0.45`), for machines whose evidence does not say (see
/// [`Topology::speed`]).
pub const ENV_E_SPEED: &str = "HETSCHED_E_SPEED";
/// Environment variable: root of a captured sysfs tree to detect from instead of the host.
pub const ENV_SYSFS_ROOT: &str = "HETSCHED_SYSFS_ROOT";

/// The text of operator variable `name` under the rule every `HETSCHED_*` variable
/// follows: unset or blank is `Ok(None)` (the default applies); text that is not UTF-8 is
/// `Err` with its lossy rendering, for the caller's error naming the variable.
pub(crate) fn env_text(
    lookup: &impl Fn(&str) -> Option<OsString>,
    name: &str,
) -> Result<Option<String>, String> {
    match lookup(name).map(OsString::into_string) {
        None => Ok(None),
        Some(Ok(text)) if text.trim().is_empty() => Ok(None),
        Some(Ok(text)) => Ok(Some(text)),
        Some(Err(os)) => Err(os.to_string_lossy().into_owned()),
    }
}

/// One requested class: where it came from (for messages), the raw text, the set.
struct Requested {
    input: String,
    value: String,
    cpus: CpuSet,
}

impl Topology {
    /// What an operator configured: [`ENV_SYSFS_ROOT`] (detect from that tree instead of
    /// the live host; no affinity mask applies to a captured tree), otherwise
    /// [`Topology::detect`]; then [`ENV_P_CPUS`] / [`ENV_E_CPUS`] overrides as in
    /// [`Topology::with_overrides`]. Empty variables count as unset.
    pub fn from_env() -> Result<Topology, TopologyError> {
        Self::from_env_with(|name| std::env::var_os(name))
    }

    /// [`Topology::from_env`] with a custom variable lookup, so callers and tests need
    /// not mutate the process environment.
    ///
    /// ```
    /// use hetsched::topology::{CoreClass, Topology};
    /// let err = Topology::from_env_with(|name| {
    ///     (name == "HETSCHED_P_CPUS").then(|| "3-1".into())
    /// })
    /// .unwrap_err();
    /// assert!(err.to_string().contains("HETSCHED_P_CPUS"));
    /// ```
    pub fn from_env_with(
        lookup: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Topology, TopologyError> {
        let var = |name: &str| -> Result<Option<String>, TopologyError> {
            env_text(&lookup, name)
                .map_err(|value| TopologyError::invalid_value(name, value, "valid UTF-8 text"))
        };
        // Parse the overrides first: a malformed list is reported even if detection
        // would also fail.
        let requested = |name: &str| -> Result<Option<Requested>, TopologyError> {
            let Some(value) = var(name)? else {
                return Ok(None);
            };
            let cpus = value
                .parse::<CpuSet>()
                .map_err(|source| TopologyError::InvalidCpuList {
                    input: name.to_string(),
                    source,
                })?;
            Ok(Some(Requested {
                input: name.to_string(),
                value: value.trim().to_string(),
                cpus,
            }))
        };
        let p = requested(ENV_P_CPUS)?;
        let e = requested(ENV_E_CPUS)?;
        let speed = var(ENV_E_SPEED)?
            .map(|text| super::speed::parse_speed(ENV_E_SPEED, &text))
            .transpose()?;
        let base = match var(ENV_SYSFS_ROOT)? {
            Some(root) => Topology::from_sysfs(&root).map_err(|err| {
                TopologyError::invalid_value(
                    ENV_SYSFS_ROOT,
                    &root,
                    format!("cannot detect from this sysfs tree: {err}"),
                )
            })?,
            None => Topology::detect(),
        };
        let mut topology = base.apply_overrides(p, e)?;
        if speed.is_some() {
            topology.efficiency_speed_override = speed;
        }
        Ok(topology)
    }

    /// Applies operator overrides to a detected topology. Checks: `p` non-empty, `p` and
    /// `e` disjoint, every CPU in [`Topology::allowed`]. With only `p`, E = allowed - P;
    /// with only `e`, P = allowed - E (which must not be empty). With both, allowed CPUs
    /// in neither set get no class. `None, None` returns `self` unchanged. Errors name
    /// the argument (`p_cpus` / `e_cpus`), the value and the reason. Topologies whose
    /// CPU ids are unknown (macOS) cannot take overrides.
    ///
    /// ```
    /// use hetsched::topology::{CoreClass, Topology};
    /// let t = Topology::uniform(8).with_overrides(Some("4-7".parse().unwrap()), None).unwrap();
    /// assert_eq!(t.cpus(CoreClass::Efficiency).to_string(), "0-3");
    /// assert!(Topology::uniform(8).with_overrides(Some("9".parse().unwrap()), None).is_err());
    /// ```
    pub fn with_overrides(
        self,
        p: Option<CpuSet>,
        e: Option<CpuSet>,
    ) -> Result<Topology, TopologyError> {
        let wrap = |input: &str, cpus: CpuSet| Requested {
            input: input.to_string(),
            value: cpus.to_string(),
            cpus,
        };
        self.apply_overrides(p.map(|s| wrap("p_cpus", s)), e.map(|s| wrap("e_cpus", s)))
    }

    fn apply_overrides(
        self,
        p: Option<Requested>,
        e: Option<Requested>,
    ) -> Result<Topology, TopologyError> {
        for r in p.iter().chain(e.iter()) {
            if !self.ids_known {
                return Err(TopologyError::invalid_value(
                    &r.input,
                    &r.value,
                    format!(
                        "CPU ids are unknown for source \"{}\", so CPU lists cannot be applied",
                        self.source
                    ),
                ));
            }
            let outside = r.cpus.difference(&self.allowed);
            if !outside.is_empty() {
                return Err(TopologyError::invalid_value(
                    &r.input,
                    &r.value,
                    format!(
                        "CPUs {outside} are not online or not allowed for this process \
                         (allowed: \"{}\")",
                        self.allowed
                    ),
                ));
            }
        }
        let (p_cpus, e_cpus) = match (&p, &e) {
            (Some(p), Some(e)) => (p.cpus.clone(), e.cpus.clone()),
            (Some(p), None) => (p.cpus.clone(), self.allowed.difference(&p.cpus)),
            (None, Some(e)) => {
                let rest = self.allowed.difference(&e.cpus);
                if rest.is_empty() {
                    return Err(TopologyError::invalid_value(
                        &e.input,
                        &e.value,
                        format!(
                            "leaves no performance CPUs (allowed: \"{}\"); at least one is required",
                            self.allowed
                        ),
                    ));
                }
                (rest, e.cpus.clone())
            }
            (None, None) => return Ok(self),
        };
        let p_name = p.as_ref().map_or("performance set", |r| r.input.as_str());
        let e_name = e.as_ref().map_or("efficiency set", |r| r.input.as_str());
        if p.is_some() && p_cpus.is_empty() {
            let r = p.as_ref().map(|r| r.value.as_str()).unwrap_or_default();
            return Err(TopologyError::invalid_value(
                p_name,
                r,
                "the performance set is empty; at least one performance CPU is required",
            ));
        }
        check_classes(p_name, &p_cpus, e_name, &e_cpus)?;

        let inputs: Vec<&str> = p.iter().chain(e.iter()).map(|r| r.input.as_str()).collect();
        let evidence = Evidence::Override {
            inputs: inputs.join(", "),
        };
        let mut t = Topology::from_tiers(
            vec![
                TierSpec::new(e_cpus, true, evidence.clone()),
                TierSpec::new(p_cpus, false, evidence),
            ],
            self.allowed,
            true,
            Source::Overridden {
                base: Box::new(self.source),
            },
        );
        t.efficiency_speed_override = self.efficiency_speed_override;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::CoreClass;

    fn set(s: &str) -> CpuSet {
        s.parse().unwrap()
    }

    #[test]
    fn only_p_or_only_e() {
        let t = Topology::uniform(8)
            .with_overrides(None, Some(set("6-7")))
            .unwrap();
        assert_eq!(t.cpus(CoreClass::Performance), &set("0-5"));
        assert_eq!(t.source().to_string(), "overrides on uniform");
        assert_eq!(t.tiers()[0].evidence().to_string(), "override e_cpus");
    }

    #[test]
    fn both_sets_may_leave_cpus_unclassified() {
        let t = Topology::uniform(8)
            .with_overrides(Some(set("4-5")), Some(set("0-1")))
            .unwrap();
        assert_eq!(t.class_of(3), None);
        assert_eq!(t.allowed(), &set("0-7"));
    }

    #[test]
    fn errors_name_argument_value_and_reason() {
        let cases = [
            (Some("0-3"), Some("3-4"), "overlap on CPUs 3"),
            (Some(""), None, "empty"),
            (None, Some("0-7"), "leaves no performance CPUs"),
            (Some("8-9"), None, "CPUs 8-9 are not online"),
        ];
        for (p, e, reason) in cases {
            let err = Topology::uniform(8)
                .with_overrides(p.map(set), e.map(set))
                .unwrap_err()
                .to_string();
            assert!(err.contains(reason), "{err}");
            assert!(err.contains("p_cpus") || err.contains("e_cpus"), "{err}");
        }
    }

    #[test]
    fn efficiency_speed_from_the_environment() {
        fn env(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<OsString> {
            move |name| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| OsString::from(v))
            }
        }
        let first = Topology::detect().allowed().iter().next().unwrap();
        let t = Topology::from_env_with(env(vec![
            (ENV_P_CPUS, first.to_string()),
            (ENV_E_SPEED, "0.3".into()),
        ]))
        .unwrap();
        if t.is_heterogeneous() {
            assert_eq!(t.efficiency_speed(), Some(0.3));
        } else {
            // One allowed CPU: P takes it, no E class, so no E speed to report.
            assert_eq!(t.efficiency_speed(), None);
        }
        let err = Topology::from_env_with(env(vec![(ENV_E_SPEED, "3".into())]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("HETSCHED_E_SPEED=\"3\""), "{err}");
    }

    #[test]
    fn ids_unknown_rejects_lists() {
        let t = Topology::from_sysctl_dump("hw.ncpu: 4").unwrap();
        let err = t.with_overrides(Some(set("0")), None).unwrap_err();
        assert!(err.to_string().contains("unknown"), "{err}");
    }
}
