//! The operator's view of the machine: where the topology came from, its tiers,
//! classes and allowed CPUs, and (live host only) what the OS lets a worker thread do:
//! pinning, QoS hints, nice values.
//!
//! ```text
//! cargo run --example topology                        # live host + HETSCHED_* overrides
//! cargo run --example topology -- --sysfs-root platform/rockchip-rk3588
//! cargo run --example topology -- --sysctl-dump platform/apple-m4/sysctl.txt --json
//! cargo run --example topology -- --watch 30          # a runtime's placement, as CPUs change
//! ```
//!
//! Errors (missing directory, unreadable dump, unknown flag, bad environment variable)
//! print one line on stderr and exit with status 2.

#[path = "common/cli.rs"]
mod cli;

use std::process::ExitCode;

#[path = "topology/watch.rs"]
mod watch;

use hetsched::topology::{CoreClass, Topology};
use serde_json::json;

const USAGE: &str = "\
usage: topology [--sysfs-root DIR | --sysctl-dump FILE | --watch SECS] [--json] [--help]

  --sysfs-root DIR     detect from a captured sysfs tree (DIR/sys/devices/system/cpu)
  --sysctl-dump FILE   classify from the output of `sysctl hw` saved in FILE
  --watch SECS         live host: run a runtime (HETSCHED_* honoured) with tasks of every
                       Qos for SECS seconds (1 to 86400) and print where its workers run
                       each time the allowed CPUs change (a cgroup cpuset that shrinks or
                       grows); exit status 1 if tasks stopped completing after a change
  --json               print JSON instead of text
  --help               print this help

With neither source flag, the live host is detected and the HETSCHED_SYSFS_ROOT,
HETSCHED_P_CPUS and HETSCHED_E_CPUS environment variables are applied.";

enum Input {
    Env,
    Sysfs(String),
    SysctlDump(String),
}

struct Options {
    input: Input,
    json: bool,
    watch: Option<u64>,
}

/// `Ok(None)` means `--help` was printed.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        input: Input::Env,
        json: false,
        watch: None,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--json" if inline.is_none() => options.json = true,
            "--sysfs-root" | "--sysctl-dump" => {
                if !matches!(options.input, Input::Env) {
                    return Err("give only one of --sysfs-root and --sysctl-dump".to_string());
                }
                let value = inline
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{flag} needs a value"))?;
                options.input = if flag == "--sysfs-root" {
                    Input::Sysfs(value)
                } else {
                    Input::SysctlDump(value)
                };
            }
            "--watch" => {
                let value = inline
                    .or_else(|| args.next())
                    .ok_or_else(|| "--watch needs a number of seconds".to_string())?;
                options.watch = match value.trim().parse::<u64>() {
                    Ok(secs) if (1..=86_400).contains(&secs) => Some(secs),
                    _ => {
                        return Err(format!(
                            "--watch {value:?}: expected whole seconds from 1 to 86400"
                        ))
                    }
                };
            }
            _ => return Err(format!("unknown argument {arg:?} (try --help)")),
        }
    }
    if options.watch.is_some() && !matches!(options.input, Input::Env) {
        return Err("--watch watches the live host: not with --sysfs-root or --sysctl-dump".into());
    }
    Ok(Some(options))
}

fn load(input: &Input) -> Result<Topology, String> {
    match input {
        Input::Env => Topology::from_env().map_err(|e| e.to_string()),
        Input::Sysfs(dir) => Topology::from_sysfs(dir).map_err(|e| e.to_string()),
        Input::SysctlDump(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read sysctl dump {file:?}: {e}"))?;
            Topology::from_sysctl_dump(&text).map_err(|e| format!("{file}: {e}"))
        }
    }
}

fn to_json(t: &Topology) -> serde_json::Value {
    let class = |c: CoreClass| json!({"cpus": t.cpus(c).to_string(), "count": t.count(c), "speed": t.speed(c)});
    json!({
        "source": t.source().to_string(),
        "heterogeneous": t.is_heterogeneous(),
        "cpu_ids_known": t.cpu_ids_known(),
        "performance": class(CoreClass::Performance),
        "efficiency": class(CoreClass::Efficiency),
        "tiers": t.tiers().iter().map(|tier| json!({
            "rank": tier.rank(),
            "cpus": tier.cpus().to_string(),
            "count": tier.count(),
            "class": tier.class().to_string(),
            "evidence": tier.evidence().to_string(),
        })).collect::<Vec<_>>(),
        "allowed": t.allowed().to_string(),
        "efficiency_speed": t.efficiency_speed(),
    })
}

/// Shows a CPU list, or says why there is none.
fn cpus_text(t: &Topology, cpus: &hetsched::topology::CpuSet) -> String {
    if !t.cpu_ids_known() {
        "(ids not reported by this OS)".to_string()
    } else if cpus.is_empty() {
        "(none)".to_string()
    } else {
        cpus.to_string()
    }
}

fn print_text(t: &Topology) {
    println!("source:        {}", t.source());
    println!(
        "heterogeneous: {}",
        if t.is_heterogeneous() { "yes" } else { "no" }
    );
    println!("tiers (rank 0 = slowest):");
    for tier in t.tiers() {
        println!(
            "  rank {}  {:<11}  count {:>3}  cpus {}  evidence: {}",
            tier.rank(),
            tier.class(),
            tier.count(),
            cpus_text(t, tier.cpus()),
            tier.evidence()
        );
    }
    println!("classes:");
    for class in CoreClass::ALL {
        println!(
            "  {:<11}  count {:>3}  cpus {}  speed {}",
            class,
            t.count(class),
            cpus_text(t, t.cpus(class)),
            t.speed(class)
                .map_or("unknown".to_string(), |s| format!("{s:.2}"))
        );
    }
    println!("allowed:       {}", cpus_text(t, t.allowed()));
    if let Some(share) = t.efficiency_speed() {
        println!("E / P speed:   {share:.2} (HETSCHED_E_SPEED overrides)");
    }
}

/// Each best-effort OS request, tried on a throwaway thread: "applied", "unsupported on
/// this OS", or the errno the OS answered (e.g. uclamp without CONFIG_UCLAMP_TASK).
fn capabilities_json(caps: &hetsched::sys::Capabilities) -> serde_json::Value {
    json!({
        "pin": caps.pin.to_string(),
        "qos_performance": caps.qos_performance.to_string(),
        "qos_efficiency": caps.qos_efficiency.to_string(),
        "nice": caps.nice.to_string(),
        "raised_priority": caps.raised_priority.to_string(),
        "idle_priority": caps.idle_priority.to_string(),
    })
}

fn print_capabilities(caps: &hetsched::sys::Capabilities) {
    println!("what this OS lets a worker do (probed on a throwaway thread):");
    for line in caps.to_string().lines() {
        println!("  {line}");
    }
}

fn main() -> ExitCode {
    let options =
        match cli::options_or_exit("topology", USAGE, parse_args(std::env::args().skip(1))) {
            Ok(options) => options,
            Err(code) => return code,
        };
    if let Some(secs) = options.watch {
        return match watch::run(secs, options.json) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(msg) => {
                eprintln!("topology: {msg}");
                ExitCode::from(2)
            }
        };
    }
    let topology = match load(&options.input) {
        Ok(t) => t,
        Err(msg) => {
            eprintln!("topology: {msg}");
            return ExitCode::from(2);
        }
    };
    // What this OS lets a worker thread do is a fact about the host running this tool, so
    // it is shown for the live host only, not for a captured tree or dump.
    let capabilities = matches!(options.input, Input::Env).then(hetsched::sys::probe_capabilities);
    if options.json {
        let mut value = to_json(&topology);
        if let Some(caps) = &capabilities {
            value["capabilities"] = capabilities_json(caps);
        }
        println!("{value:#}");
    } else {
        print_text(&topology);
        if let Some(caps) = &capabilities {
            print_capabilities(caps);
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Options>, String> {
        parse_args(cli::strings(args))
    }

    #[test]
    fn watch_takes_whole_seconds_on_the_live_host_only() {
        let options = parse(&["--watch", "30"]).unwrap().unwrap();
        assert_eq!(options.watch, Some(30));
        assert_eq!(parse(&["--watch=5"]).unwrap().unwrap().watch, Some(5));
        for bad in ["0", "-1", "1.5", "ten", "86401"] {
            let err = parse(&["--watch", bad]).err().unwrap();
            assert!(
                err.contains(&format!("{bad:?}")) && err.contains("whole seconds from 1 to 86400"),
                "{err}"
            );
        }
        assert!(parse(&["--watch"])
            .err()
            .unwrap()
            .contains("needs a number"));
        let err = parse(&["--watch", "3", "--sysfs-root", "/x"])
            .err()
            .unwrap();
        assert!(err.contains("live host"), "{err}");
    }
}
