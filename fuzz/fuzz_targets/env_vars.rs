//! The operator's variables (`Builder::from_env_with`, `Topology::from_env_with`): any bytes
//! in any of them never panic; an error names the variable it is about.
#![no_main]

use hetsched::Builder;
use libfuzzer_sys::fuzz_target;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// Every variable but `HETSCHED_SYSFS_ROOT` (a path: fuzzing it would read the filesystem).
const VARS: [&str; 8] = [
    "HETSCHED_P_CPUS",
    "HETSCHED_E_CPUS",
    "HETSCHED_P_WORKERS",
    "HETSCHED_E_WORKERS",
    "HETSCHED_PIN",
    "HETSCHED_QOS_HINTS",
    "HETSCHED_E_SPEED",
    "HETSCHED_LONG_POLL_MS",
];

fuzz_target!(|data: &[u8]| {
    // First byte: which variables are set (a bit each); the rest, split on 0xff, their
    // values in order.
    let Some((&mask, rest)) = data.split_first() else {
        return;
    };
    let mut values = rest.split(|&b| b == 0xff);
    let mut set: Vec<(&str, OsString)> = Vec::new();
    for (i, name) in VARS.iter().enumerate() {
        if mask & (1 << i) != 0 {
            let value = values.next().unwrap_or_default().to_vec();
            set.push((name, OsString::from_vec(value)));
        }
    }
    let lookup = |name: &str| set.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
    if let Err(err) = Builder::from_env_with(lookup) {
        let message = err.to_string();
        assert!(
            VARS.iter().any(|v| message.contains(v)) || message.contains("CPU"),
            "an error that names no variable: {message}"
        );
    }
});
