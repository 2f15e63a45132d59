//! The cpulist parser (`CpuSet: FromStr`, the syntax of `HETSCHED_P_CPUS` and of sysfs
//! lists): never a panic; an accepted list prints back to a list that parses to the same set.
#![no_main]

use hetsched::CpuSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.parse::<CpuSet>() {
        Ok(set) => {
            let printed = set.to_string();
            let again: CpuSet = printed.parse().expect("a printed set parses");
            assert_eq!(again, set, "round trip of {text:?} via {printed:?}");
        }
        Err(err) => {
            // The error names what was wrong; rendering it must not panic either.
            let _ = err.to_string();
        }
    }
});
