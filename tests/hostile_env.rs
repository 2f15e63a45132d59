//! Hostile operator input: every `HETSCHED_*` variable, through both entry points
//! (`Builder::from_env_with` and `Topology::from_env_with`), with arbitrary text and
//! arbitrary bytes. Never a panic; an error always names the variable (and, when it can be
//! shown as is, the value); an accepted value is one the documentation allows.
//! The `Qos` and `Pin` parsers get the same treatment.

use hetsched::{Builder, Pin, Qos, Topology};
use proptest::prelude::*;
use std::ffi::OsString;
use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

const VARS: [&str; 7] = [
    "HETSCHED_P_CPUS",
    "HETSCHED_E_CPUS",
    "HETSCHED_SYSFS_ROOT",
    "HETSCHED_P_WORKERS",
    "HETSCHED_E_WORKERS",
    "HETSCHED_PIN",
    "HETSCHED_QOS_HINTS",
];

/// A small captured machine (8 CPUs, 0-3 little, 4-7 big), so detection is the same on
/// every host and cpulists have room to be valid.
fn tree() -> &'static PathBuf {
    static TREE: OnceLock<PathBuf> = OnceLock::new();
    TREE.get_or_init(|| {
        // Cargo's scratch directory for integration tests: rebuilt identically each run.
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hostile-env-tree");
        let cpu_dir = root.join("sys/devices/system/cpu");
        for cpu in 0..8 {
            let dir = cpu_dir.join(format!("cpu{cpu}"));
            fs::create_dir_all(&dir).unwrap();
            fs::write(
                dir.join("cpu_capacity"),
                if cpu < 4 { "400\n" } else { "1024\n" },
            )
            .unwrap();
        }
        fs::write(cpu_dir.join("online"), "0-7\n").unwrap();
        root
    })
}

/// Lookup: `name` = `value`, `HETSCHED_SYSFS_ROOT` = the tree unless it is the one tested.
fn lookup(name: &'static str, value: OsString) -> impl Fn(&str) -> Option<OsString> {
    move |var| {
        if var == name {
            Some(value.clone())
        } else if var == "HETSCHED_SYSFS_ROOT" {
            Some(tree().clone().into_os_string())
        } else {
            None
        }
    }
}

/// Text worth quoting back verbatim in a message (no escapes needed).
fn plain(value: &str) -> bool {
    value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " -,._/".contains(c))
}

fn check_error(name: &str, value: &str, msg: &str) -> Result<(), TestCaseError> {
    prop_assert!(msg.contains(name), "error does not name {name}: {msg}");
    if plain(value) && !value.trim().is_empty() {
        prop_assert!(
            msg.contains(value.trim()),
            "error for {name}={value:?} does not show the value: {msg}"
        );
    }
    Ok(())
}

/// What the documentation says each variable accepts (after trimming; empty = unset).
fn documented_ok(name: &str, value: &str) -> Option<bool> {
    let v = value.trim();
    if v.is_empty() {
        return Some(true);
    }
    match name {
        "HETSCHED_P_WORKERS" | "HETSCHED_E_WORKERS" => {
            Some(v.parse::<usize>().is_ok_and(|n| n <= 1024))
        }
        "HETSCHED_PIN" => Some(matches!(
            v.to_ascii_lowercase().as_str(),
            "spill" | "class" | "core" | "off"
        )),
        "HETSCHED_QOS_HINTS" => Some(matches!(v.to_ascii_lowercase().as_str(), "on" | "off")),
        // cpulists and paths: too many valid forms to restate here.
        _ => None,
    }
}

fn any_var() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(VARS.to_vec())
}

/// Text that looks like what operators type, and text that does not.
fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,24}",
        "[0-9 ,\\-]{0,16}",
        "[0-9]{1,30}",
        "(class|core|off|on|CLASS|Off|yes|1|0|-1| )+",
        proptest::string::string_regex("[\\x00-\\x1f\\u{7f}\\u{feff}\\u{202e}]{1,6}").unwrap(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Builder::from_env_with: any text in any one variable.
    #[test]
    fn builder_env_text_never_panics_and_errors_name_the_variable(
        name in any_var(),
        value in value_text(),
    ) {
        match Builder::from_env_with(lookup(name, OsString::from(&value))) {
            Ok(_) => {
                if let Some(ok) = documented_ok(name, &value) {
                    prop_assert!(ok, "{name}={value:?} was accepted");
                }
            }
            Err(err) => {
                if let Some(ok) = documented_ok(name, &value) {
                    prop_assert!(!ok, "{name}={value:?} was refused: {err}");
                }
                check_error(name, &value, &err.to_string())?;
                // The io::Error a Runtime::new() caller sees keeps the message.
                let io: std::io::Error = err.into();
                prop_assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
                prop_assert!(io.to_string().contains(name));
            }
        }
    }

    /// Topology::from_env_with: any text in the three variables it reads.
    #[test]
    fn topology_env_text_never_panics_and_errors_name_the_variable(
        name in proptest::sample::select(vec![
            "HETSCHED_P_CPUS", "HETSCHED_E_CPUS", "HETSCHED_SYSFS_ROOT",
        ]),
        value in value_text(),
    ) {
        match Topology::from_env_with(lookup(name, OsString::from(&value))) {
            Ok(t) => {
                prop_assert!(t.count(hetsched::CoreClass::Performance) > 0);
            }
            Err(err) => check_error(name, &value, &err.to_string())?,
        }
    }

    /// Arbitrary bytes (not UTF-8 in general) in any variable.
    #[test]
    fn env_bytes_never_panic_and_errors_name_the_variable(
        name in any_var(),
        bytes in proptest::collection::vec(any::<u8>(), 0..24),
    ) {
        use std::os::unix::ffi::OsStringExt;
        let utf8 = String::from_utf8(bytes.clone()).is_ok();
        let value = OsString::from_vec(bytes);
        let mut results =
            vec![Builder::from_env_with(lookup(name, value.clone())).map(|_| ()).map_err(|e| e.to_string())];
        if name.ends_with("_CPUS") || name == "HETSCHED_SYSFS_ROOT" {
            // The only variables the topology reads.
            results.push(
                Topology::from_env_with(lookup(name, value.clone())).map(|_| ()).map_err(|e| e.to_string()),
            );
        }
        for result in results {
            match result {
                Ok(()) => prop_assert!(utf8, "{name}={value:?} (not UTF-8) was accepted"),
                Err(msg) => {
                    prop_assert!(msg.contains(name), "{msg}");
                    if !utf8 {
                        prop_assert!(msg.contains("UTF-8"), "{msg}");
                    }
                }
            }
        }
    }

    /// All variables at once, each valid or garbage: the first bad one is reported.
    #[test]
    fn every_variable_at_once(values in proptest::collection::vec(value_text(), 7)) {
        let env: Vec<(&str, OsString)> = VARS
            .iter()
            .zip(&values)
            .map(|(k, v)| (*k, OsString::from(v)))
            .collect();
        let result = Builder::from_env_with(|name| {
            env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
        });
        if let Err(err) = result {
            let msg = err.to_string();
            prop_assert!(VARS.iter().any(|v| msg.contains(v)), "{msg}");
        }
    }

    /// Qos and Pin parsers: never a panic; an error shows the input.
    #[test]
    fn qos_and_pin_parsers_never_panic(text in value_text()) {
        match text.parse::<Qos>() {
            Ok(q) => prop_assert!(Qos::ALL.contains(&q)),
            Err(e) => {
                if plain(&text) && !text.trim().is_empty() {
                    prop_assert!(e.to_string().contains(text.trim()), "{e}");
                }
            }
        }
        match text.parse::<Pin>() {
            Ok(p) => prop_assert_eq!(p.as_str(), text.trim().to_ascii_lowercase()),
            Err(e) => {
                if plain(&text) && !text.trim().is_empty() {
                    prop_assert!(e.to_string().contains(text.trim()), "{e}");
                }
            }
        }
    }
}
