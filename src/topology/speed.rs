//! How fast each core class is, as far as the machine's own evidence says.
//!
//! Speeds are relative to the fastest tier (1.0). They come from the numbers detection
//! already clustered on: `cpu_capacity` (the kernel's own per-CPU capacity, 1024 = the
//! biggest core; on arm64 it is derived from the device tree's `capacity-dmips-mhz` and
//! the clocks, so it already folds in IPC), ACPI CPPC `highest_perf`, or
//! `cpuinfo_max_freq` (a clock ratio: it ignores IPC differences, so on Intel hybrid parts
//! it overstates E-core speed; e.g. 3.9 / 5.1 GHz on an i9-12900K gives 0.76 where
//! Stockfish measures about 0.6). Other evidence (PMU lists, `midr_el1`, macOS perf
//! levels, declared classes) says which cores are which but not how fast: speed unknown,
//! unless an operator gives it (`HETSCHED_E_SPEED`, [`Topology::with_efficiency_speed`]).

use super::{CoreClass, Evidence, Tier, Topology, TopologyError};

/// Speeds are stored in thousandths, so `Topology` stays `Eq` and the value prints as
/// given (0.3 stays 0.3).
pub(crate) const SPEED_SCALE: u32 = 1000;

/// The number a tier's evidence carries, if it measures speed (midpoint of its range).
fn tier_value(tier: &Tier) -> Option<f64> {
    let (min, max) = match tier.evidence() {
        Evidence::CpuCapacity { min, max } | Evidence::CppcHighestPerf { min, max } => (*min, *max),
        Evidence::MaxFrequency { min_khz, max_khz } => (*min_khz, *max_khz),
        _ => return None,
    };
    Some((min + max) as f64 / 2.0)
}

/// Mean speed of `class`'s CPUs relative to the fastest tier, from evidence alone.
pub(crate) fn evidence_speed(topology: &Topology, class: CoreClass) -> Option<f64> {
    let tiers = topology.tiers();
    let fastest = tier_value(tiers.last()?)?;
    if fastest <= 0.0 {
        return None;
    }
    let (mut sum, mut count) = (0.0, 0usize);
    for tier in tiers.iter().filter(|t| t.class() == class) {
        sum += tier_value(tier)? / fastest * tier.count() as f64;
        count += tier.count();
    }
    (count > 0).then(|| (sum / count as f64).clamp(0.0, 1.0))
}

/// Parse an efficiency speed: a number in (0, 1], E-core speed as a share of P-core speed.
pub(crate) fn parse_speed(input: &str, text: &str) -> Result<u32, TopologyError> {
    let expected = "a number greater than 0 and at most 1 (efficiency-core speed as a share \
                    of performance-core speed, e.g. 0.45)";
    match text.trim().parse::<f64>() {
        Ok(speed) if speed > 0.0 && speed <= 1.0 => {
            Ok(((speed * SPEED_SCALE as f64).round() as u32).max(1))
        }
        _ => Err(TopologyError::invalid_value(input, text, expected)),
    }
}

impl Topology {
    /// How fast `class`'s cores are, relative to the fastest cores of the machine (1.0),
    /// or `None` when nothing says. An operator's efficiency speed
    /// ([`Topology::with_efficiency_speed`], `HETSCHED_E_SPEED`) sets Performance to 1.0
    /// and Efficiency to the given share; otherwise the detection evidence decides (see
    /// the [module docs](crate::topology)). `None` for a class without CPUs.
    ///
    /// ```
    /// use hetsched::topology::{CoreClass, Topology};
    /// let t = Topology::from_sysfs("platform/qcom-sm8550").unwrap();
    /// // cpu_capacity 1024 / 609 / 206: E = 206 / 1024; P = the prime and mid cores' mean.
    /// assert_eq!(t.speed(CoreClass::Efficiency), Some(206.0 / 1024.0));
    /// let declared = Topology::with_classes("0".parse().unwrap(), "1".parse().unwrap()).unwrap();
    /// assert_eq!(declared.speed(CoreClass::Efficiency), None);
    /// let told = declared.with_efficiency_speed(0.3).unwrap();
    /// assert_eq!(told.speed(CoreClass::Efficiency), Some(0.3));
    /// ```
    pub fn speed(&self, class: CoreClass) -> Option<f64> {
        if self.count(class) == 0 {
            return None;
        }
        match (self.efficiency_speed_override, class) {
            (Some(_), CoreClass::Performance) => Some(1.0),
            (Some(permille), CoreClass::Efficiency) => {
                Some(f64::from(permille) / f64::from(SPEED_SCALE))
            }
            (None, _) => evidence_speed(self, class),
        }
    }

    /// Efficiency-core speed as a share of performance-core speed (`speed(E) / speed(P)`),
    /// the number the scheduling policy uses; `None` when unknown or the machine has one
    /// core kind.
    ///
    /// ```
    /// use hetsched::topology::Topology;
    /// let t = Topology::from_sysfs("platform/rockchip-rk3588").unwrap();
    /// let ratio = t.efficiency_speed().unwrap();
    /// assert!(ratio > 0.3 && ratio < 0.6, "{ratio}");
    /// ```
    pub fn efficiency_speed(&self) -> Option<f64> {
        let p = self.speed(CoreClass::Performance)?;
        let e = self.speed(CoreClass::Efficiency)?;
        (p > 0.0).then(|| (e / p).min(1.0))
    }

    /// The same topology with the operator's efficiency speed: E cores run at `speed` times
    /// the speed of P cores, `0 < speed <= 1`. Errors name the value and the range.
    ///
    /// ```
    /// use hetsched::topology::Topology;
    /// assert!(Topology::uniform(2).with_efficiency_speed(1.5).is_err());
    /// ```
    pub fn with_efficiency_speed(mut self, speed: f64) -> Result<Topology, TopologyError> {
        self.efficiency_speed_override = Some(parse_speed("efficiency_speed", &speed.to_string())?);
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_parser_takes_shares_and_names_bad_values() {
        assert_eq!(parse_speed("x", "0.3").unwrap(), 300);
        assert_eq!(parse_speed("x", " 1 ").unwrap(), 1000);
        assert_eq!(
            parse_speed("x", "0.0001").unwrap(),
            1,
            "tiny but positive stays positive"
        );
        for bad in ["0", "-0.5", "1.01", "fast", "", "NaN", "inf"] {
            let err = parse_speed("HETSCHED_E_SPEED", bad)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("HETSCHED_E_SPEED") && err.contains("at most 1"),
                "{err}"
            );
        }
    }

    #[test]
    fn homogeneous_machines_have_no_efficiency_speed() {
        let t = Topology::uniform(4);
        assert_eq!(t.speed(CoreClass::Efficiency), None);
        assert_eq!(t.efficiency_speed(), None);
        let told = t.with_efficiency_speed(0.5).unwrap();
        assert_eq!(
            told.efficiency_speed(),
            None,
            "no E cores, nothing to be slow"
        );
    }
}
