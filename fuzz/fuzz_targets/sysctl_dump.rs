//! The macOS `sysctl` dump parser (`Topology::from_sysctl_dump`, fed by users' captures):
//! never a panic; an accepted dump gives a sane topology.
#![no_main]

use hetsched::{CoreClass, Topology};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Topology::from_sysctl_dump(&text) {
        Ok(t) => {
            assert!(
                t.count(CoreClass::Performance) >= 1,
                "no P core from {text:?}"
            );
            let _ = format!("{t:?}");
        }
        Err(err) => {
            let _ = err.to_string();
        }
    }
});
