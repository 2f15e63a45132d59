//! Arm `MIDR_EL1` decoding: which core parts are known "little" (efficiency) cores.
//!
//! Facts: the MIDR_EL1 layout (implementer bits [31:24], variant [23:20], architecture
//! [19:16], part number [15:4], revision [3:0]) is from the Arm Architecture Reference
//! Manual (D23.2 "MIDR_EL1"). Part numbers are those the Linux kernel lists in
//! `arch/arm64/include/asm/cputype.h` and the cores' Technical Reference Manuals
//! (e.g. Cortex-A55 TRM, "MIDR_EL1" reset value 0x41..D05..).
//! Whether a part is a little core is from Arm's product pages: Cortex-A35/A53/A55/
//! A510/A520 are the in-order efficiency cores of big.LITTLE / DynamIQ systems; Apple's
//! Icestorm / Blizzard are the M1 / M2 efficiency cores (Asahi Linux reports them);
//! Qualcomm's Kryo "Silver" parts are its efficiency clusters.

/// A decoded MIDR_EL1 value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct CorePart {
    pub implementer: u32,
    pub part: u32,
}

const ARM: u32 = 0x41;
const QUALCOMM: u32 = 0x51;
const APPLE: u32 = 0x61;

/// Known efficiency ("little") cores: (implementer, part, name).
const LITTLE_CORES: &[(u32, u32, &str)] = &[
    (ARM, 0xd02, "Cortex-A34"),
    (ARM, 0xd03, "Cortex-A53"),
    (ARM, 0xd04, "Cortex-A35"),
    (ARM, 0xd05, "Cortex-A55"),
    (ARM, 0xd46, "Cortex-A510"),
    (ARM, 0xd80, "Cortex-A520"),
    (QUALCOMM, 0x801, "Kryo 2xx Silver"),
    (QUALCOMM, 0x803, "Kryo 3xx Silver"),
    (QUALCOMM, 0x805, "Kryo 4xx Silver"),
    (APPLE, 0x022, "Apple M1 Icestorm"),
    (APPLE, 0x024, "Apple M1 Pro Icestorm"),
    (APPLE, 0x028, "Apple M1 Max Icestorm"),
    (APPLE, 0x032, "Apple M2 Blizzard"),
    (APPLE, 0x034, "Apple M2 Pro Blizzard"),
    (APPLE, 0x038, "Apple M2 Max Blizzard"),
];

/// Names for common big cores, only to make evidence readable.
const BIG_CORES: &[(u32, u32, &str)] = &[
    (ARM, 0xd07, "Cortex-A57"),
    (ARM, 0xd08, "Cortex-A72"),
    (ARM, 0xd09, "Cortex-A73"),
    (ARM, 0xd0a, "Cortex-A75"),
    (ARM, 0xd0b, "Cortex-A76"),
    (ARM, 0xd0d, "Cortex-A77"),
    (ARM, 0xd41, "Cortex-A78"),
    (ARM, 0xd44, "Cortex-X1"),
    (ARM, 0xd47, "Cortex-A710"),
    (ARM, 0xd48, "Cortex-X2"),
    (ARM, 0xd4d, "Cortex-A715"),
    (ARM, 0xd4e, "Cortex-X3"),
    (ARM, 0xd81, "Cortex-A720"),
    (ARM, 0xd82, "Cortex-X4"),
    (ARM, 0xd85, "Cortex-X925"),
    (ARM, 0xd87, "Cortex-A725"),
    (APPLE, 0x023, "Apple M1 Firestorm"),
    (APPLE, 0x033, "Apple M2 Avalanche"),
];

impl CorePart {
    /// Decodes a MIDR_EL1 value as sysfs prints it (`0x00000000410fd034`).
    pub fn parse(text: &str) -> Option<CorePart> {
        let value = super::sysfs::parse_hex(text)?;
        Some(CorePart {
            implementer: ((value >> 24) & 0xff) as u32,
            part: ((value >> 4) & 0xfff) as u32,
        })
    }

    pub fn is_little(self) -> bool {
        self.lookup(LITTLE_CORES).is_some()
    }

    fn lookup(self, table: &[(u32, u32, &'static str)]) -> Option<&'static str> {
        table
            .iter()
            .find(|&&(i, p, _)| i == self.implementer && p == self.part)
            .map(|&(_, _, name)| name)
    }

    /// Human name: a table name, or the raw implementer / part numbers.
    pub fn describe(self) -> String {
        match self.lookup(LITTLE_CORES).or_else(|| self.lookup(BIG_CORES)) {
            Some(name) => name.to_string(),
            None => format!("part {:#04x}:{:#05x}", self.implementer, self.part),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_sysfs_values() {
        let a55 = CorePart::parse("0x00000000412fd050\n").unwrap();
        assert_eq!((a55.implementer, a55.part), (0x41, 0xd05));
        assert!(a55.is_little());
        assert_eq!(a55.describe(), "Cortex-A55");
        let a76 = CorePart::parse("0x00000000414fd0b1").unwrap();
        assert!(!a76.is_little());
        assert_eq!(a76.describe(), "Cortex-A76");
        let odd = CorePart::parse("0x00000000480fd011").unwrap();
        assert_eq!(odd.describe(), "part 0x48:0xd01");
        assert!(CorePart::parse("zz").is_none());
        assert!(CorePart::parse("").is_none());
    }
}
