//! Modelled chips: how many cores of each kind, how fast each kind runs relative to the
//! fastest (E / P single-thread), and which class hetsched's detection gives each kind.
//!
//! Every figure is a published one, cited next to it. Speeds depend on the workload
//! (Halide's inner loop sees an M1 E core at 0.25 where the device tree says 0.45), so a
//! run can override the main efficiency kind's speed ([`Chip::with_efficiency_speed`]).

use hetsched::CoreClass;

/// One kind of core on a chip.
#[derive(Clone, Debug, PartialEq)]
pub struct CoreKind {
    /// Short name (`"Firestorm"`, `"A55"`).
    pub name: &'static str,
    /// How many cores of this kind.
    pub count: usize,
    /// Single-thread speed relative to the chip's fastest kind (1.0).
    pub speed: f64,
    /// The class hetsched's detection gives these cores.
    pub class: CoreClass,
}

/// A modelled chip.
#[derive(Clone, Debug, PartialEq)]
pub struct Chip {
    /// The name on the command line (`m1`, `i9-13900k`).
    pub name: &'static str,
    /// What it is, for tables.
    pub label: &'static str,
    /// Its core kinds, fastest first.
    pub kinds: Vec<CoreKind>,
    /// Where the counts and speeds come from.
    pub source: &'static str,
}

/// One modelled core.
#[derive(Clone, Debug, PartialEq)]
pub struct Core {
    /// Its kind's name.
    pub kind: &'static str,
    /// Its speed (fastest kind = 1.0).
    pub speed: f64,
    /// Its class.
    pub class: CoreClass,
}

use CoreClass::{Efficiency as E, Performance as P};

const fn kind(name: &'static str, count: usize, speed: f64, class: CoreClass) -> CoreKind {
    CoreKind {
        name,
        count,
        speed,
        class,
    }
}

/// Every modelled chip's command-line name, in table order.
pub const NAMES: [&str; 10] = [
    "m1",
    "m1-pro",
    "m3-pro",
    "i9-12900k",
    "i9-13900k",
    "ultra7-155h",
    "sd8gen2",
    "rk3588",
    "gb10",
    "emulated",
];

/// The default speed of the `emulated` chip: the emulator's measured 0.295 at
/// `--emulate 0.3` (BENCHMARKS.md, "Unequal cores"); give the measured one with `--speed`.
pub const EMULATED_SPEED: f64 = 0.3;

impl Chip {
    /// The chip called `name` (one of [`NAMES`]).
    pub fn by_name(name: &str) -> Option<Chip> {
        let (label, kinds, source) = match name {
            "m1" => (
                "Apple M1 4P+4E",
                vec![kind("Firestorm", 4, 1.0, P), kind("Icestorm", 4, 0.45, E)],
                "0.45: the Asahi Linux device tree's capacity-dmips-mhz and clocks \
                 (t8103.dtsi); about 0.25 on Halide's inner loop (Halide PR #8433)",
            ),
            "m1-pro" => (
                "Apple M1 Pro 8P+2E",
                vec![kind("Firestorm", 8, 1.0, P), kind("Icestorm", 2, 0.45, E)],
                "same cores as the M1 (Asahi device tree t6000.dtsi)",
            ),
            "m3-pro" => (
                "Apple M3 Pro 6P+6E",
                vec![kind("P-core", 6, 1.0, P), kind("E-core", 6, 0.56, E)],
                "0.56: CoreMark single-thread at stock clocks",
            ),
            "i9-12900k" => (
                "Intel i9-12900K 8P+8E",
                vec![kind("Golden Cove", 8, 1.0, P), kind("Gracemont", 8, 0.6, E)],
                "about 0.6: Stockfish nodes/s per core",
            ),
            "i9-13900k" => (
                "Intel i9-13900K 8P+16E",
                vec![
                    kind("Raptor Cove", 8, 1.0, P),
                    kind("Gracemont", 16, 0.6, E),
                ],
                "Gracemont E cores as on the 12900K (about 0.6, Stockfish)",
            ),
            "ultra7-155h" => (
                "Intel Core Ultra 7 155H 6P+8E+2LP-E",
                vec![
                    kind("Redwood Cove", 6, 1.0, P),
                    kind("Crestmont", 8, 0.6, E),
                    kind("Crestmont LP", 2, 0.3, E),
                ],
                "about 0.6 (E) and 0.3 (LP-E, low clocks on the SoC tile); hetsched \
                 classes both E kinds as E (platform/intel-core-ultra7-255h)",
            ),
            "sd8gen2" => (
                "Snapdragon 8 Gen 2 1+4+3",
                vec![
                    kind("Cortex-X3", 1, 1.0, P),
                    kind("Cortex-A715", 4, 609.0 / 1024.0, P),
                    kind("Cortex-A510", 3, 206.0 / 1024.0, E),
                ],
                "cpu_capacity 1024 / 609 / 206 (platform/qcom-sm8550); hetsched classes \
                 the prime and middle cores P, the little ones E",
            ),
            "rk3588" => (
                "Rockchip RK3588 4xA76+4xA55",
                vec![
                    kind("Cortex-A76", 4, 1.0, P),
                    kind("Cortex-A55", 4, 0.46, E),
                ],
                "0.4-0.52 (capacity-dmips-mhz 1024 / 530 in rk3588-base.dtsi at \
                 2.4 / 1.8 GHz gives 0.39; benchmarks 0.45-0.52): 0.46",
            ),
            "gb10" => (
                "NVIDIA GB10 10+10",
                vec![
                    kind("Cortex-X925", 10, 1.0, P),
                    kind("Cortex-A725", 10, 0.72, E),
                ],
                "about 0.72 (cpu_capacity, platform/nvidia-gb10)",
            ),
            "emulated" => (
                "emulated 1P+1E (this machine, --emulate)",
                vec![kind("fast", 1, 1.0, P), kind("slow", 1, EMULATED_SPEED, E)],
                "the emulator's measured speed (examples/bench --emulate)",
            ),
            _ => return None,
        };
        Some(Chip {
            name: NAMES.iter().copied().find(|n| *n == name)?,
            label,
            kinds,
            source,
        })
    }

    /// Every modelled chip.
    pub fn all() -> Vec<Chip> {
        NAMES.iter().filter_map(|n| Chip::by_name(n)).collect()
    }

    /// The chip with its main efficiency kind (the first E kind) at `speed`; other E kinds
    /// scale by the same factor, so a three-tier chip keeps its tiers' ratios.
    pub fn with_efficiency_speed(mut self, speed: f64) -> Chip {
        let main = self.kinds.iter().find(|k| k.class == E).map(|k| k.speed);
        if let Some(main) = main.filter(|m| *m > 0.0) {
            let factor = speed / main;
            for k in self.kinds.iter_mut().filter(|k| k.class == E) {
                k.speed = (k.speed * factor).min(1.0);
            }
        }
        self
    }

    /// Every core `factor` times as fast (a machine that ran the work slower than its
    /// calibration loop: `calibrate::machine_speed`).
    pub fn with_machine_speed(mut self, factor: f64) -> Chip {
        for k in self.kinds.iter_mut() {
            k.speed *= factor;
        }
        self
    }

    /// The speed of the main efficiency kind.
    pub fn efficiency_speed(&self) -> Option<f64> {
        self.kinds.iter().find(|k| k.class == E).map(|k| k.speed)
    }

    /// Every core, P cores first (core ids are positions in this list).
    pub fn cores(&self) -> Vec<Core> {
        let mut cores: Vec<Core> = Vec::new();
        for class in [P, E] {
            for k in self.kinds.iter().filter(|k| k.class == class) {
                cores.extend((0..k.count).map(|_| Core {
                    kind: k.name,
                    speed: k.speed,
                    class,
                }));
            }
        }
        cores
    }

    /// How many cores of `class`.
    pub fn count(&self, class: CoreClass) -> usize {
        self.kinds
            .iter()
            .filter(|k| k.class == class)
            .map(|k| k.count)
            .sum()
    }

    /// `"4P+4E"`-style shape.
    pub fn shape(&self) -> String {
        format!("{}P+{}E", self.count(P), self.count(E))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_a_chip_and_p_cores_come_first() {
        for name in NAMES {
            let chip = Chip::by_name(name).unwrap();
            let cores = chip.cores();
            assert_eq!(cores.len(), chip.count(P) + chip.count(E));
            let first_e = cores.iter().position(|c| c.class == E).unwrap();
            assert!(cores[first_e..].iter().all(|c| c.class == E), "{name}");
            assert!(cores.iter().all(|c| c.speed > 0.0 && c.speed <= 1.0));
        }
        assert!(Chip::by_name("m9").is_none());
    }

    #[test]
    fn overriding_the_efficiency_speed_keeps_tier_ratios() {
        let chip = Chip::by_name("ultra7-155h")
            .unwrap()
            .with_efficiency_speed(0.4);
        let e: Vec<f64> = chip
            .kinds
            .iter()
            .filter(|k| k.class == E)
            .map(|k| k.speed)
            .collect();
        assert!((e[0] - 0.4).abs() < 1e-12 && (e[1] - 0.2).abs() < 1e-12);
        assert_eq!(chip.shape(), "6P+10E");
    }
}
