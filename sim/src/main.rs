//! `hetsched-sim`: simulate policies on modelled chips; print a table (or JSON), draw
//! timelines and comparison charts, and calibrate against the emulated machine.
//!
//! ```text
//! cargo run --release -p hetsched-sim -- --chip m1 --workload straggler --svg out.svg
//! cargo run --release -p hetsched-sim -- --all --svg-dir charts
//! cargo run --release -p hetsched-sim -- --calibrate sim/data/emulated-0.3.json
//! ```

use clap::Parser;
use hetsched_sim::chip::{self, Chip};
use hetsched_sim::engine::{simulate, Config, Outcome};
use hetsched_sim::os::OsModel;
use hetsched_sim::report::{self, Row};
use hetsched_sim::workload::Workload;
use hetsched_sim::{calibrate, policies, svg};
use std::process::ExitCode;

/// Simulate hetsched's policy (and P/E-blind stealing, P-only, GCD-like, static split) on
/// modelled P/E chips. Every hetsched decision is made by hetsched::runtime::policy.
#[derive(Parser, Debug)]
#[command(name = "hetsched-sim", version)]
struct Args {
    /// Chips, comma-separated (default: every chip). See --list.
    #[arg(long, value_delimiter = ',')]
    chip: Vec<String>,
    /// Workloads, comma-separated (default: every workload; `straggler` = few_long_k1).
    #[arg(long, value_delimiter = ',')]
    workload: Vec<String>,
    /// Policies, comma-separated (default: hetsched,blind,p_only,gcd,static).
    #[arg(long, value_delimiter = ',')]
    policy: Vec<String>,
    /// Speeds of the main E kind to sweep, comma-separated, each in (0, 1] (default: the
    /// chip's published speed).
    #[arg(long, value_delimiter = ',')]
    speed: Vec<String>,
    /// Every chip, workload and policy (the default selection, said explicitly).
    #[arg(long)]
    all: bool,
    /// Seed for victim selection, steal misses and Poisson arrivals.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// OS model: `aware` (the kernel knows core capacities: EAS, ITMT) or `blind`.
    #[arg(long, default_value = "aware")]
    os: String,
    /// Write a timeline SVG of the runs (one chip, one workload, one speed; a panel per
    /// policy).
    #[arg(long)]
    svg: Option<String>,
    /// Write a comparison chart per workload (makespan / bound per chip and policy) into
    /// this directory.
    #[arg(long)]
    svg_dir: Option<String>,
    /// Print JSON rows instead of the table.
    #[arg(long)]
    json: bool,
    /// Compare with a harness JSON file (`examples/bench --emulate S --json FILE`).
    #[arg(long)]
    calibrate: Option<String>,
    /// List chips, workloads and policies.
    #[arg(long)]
    list: bool,
}

/// A one-line error for the user, exit status 2.
fn fail(message: String) -> ExitCode {
    eprintln!("hetsched-sim: {message}");
    ExitCode::from(2)
}

/// The `kind`s named in `given` (or `defaults` if none), each checked against `valid`.
fn pick<T>(
    given: &[String],
    kind: &str,
    defaults: Vec<String>,
    valid: Vec<String>,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, String> {
    let names: Vec<String> = if given.is_empty() {
        defaults
    } else {
        given.to_vec()
    };
    let all = valid;
    names
        .iter()
        .map(|n| parse(n).ok_or_else(|| format!("unknown {kind} '{n}'; valid: {}", all.join(", "))))
        .collect()
}

fn parse_speed(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 1.0 => Ok(s),
        _ => Err(format!(
            "--speed '{text}' is not a speed: expected a number in (0, 1], the E / P ratio"
        )),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(message),
    }
}

fn run(args: Args) -> Result<(), String> {
    if args.list {
        println!("chips:");
        for c in Chip::all() {
            println!(
                "  {:<12} {} ({}) — {}",
                c.name,
                c.label,
                c.shape(),
                c.source
            );
        }
        println!("workloads: {}", Workload::names().join(", "));
        println!(
            "policies: {}, hetsched_class, hetsched_off",
            policies::NAMES.join(", ")
        );
        return Ok(());
    }
    if let Some(path) = &args.calibrate {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let doc: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{path} is not JSON: {e}"))?;
        let pairs = calibrate::calibrate(&doc, args.seed)?;
        print!("{}", calibrate::table(&pairs));
        return Ok(());
    }
    let chip_names: Vec<String> = chip::NAMES.iter().map(|s| s.to_string()).collect();
    let chips = pick(
        &args.chip,
        "chip",
        chip_names.clone(),
        chip_names,
        Chip::by_name,
    )?;
    let workload_names: Vec<String> = Workload::ALL.iter().map(|w| w.name()).collect();
    let workloads = pick(
        &args.workload,
        "workload",
        workload_names,
        Workload::names(),
        Workload::by_name,
    )?;
    let policy_names: Vec<String> = policies::NAMES.iter().map(|s| s.to_string()).collect();
    let mut valid_policies = policy_names.clone();
    valid_policies.extend(["hetsched_class".into(), "hetsched_off".into()]);
    let policy_list = pick(
        &args.policy,
        "policy",
        policy_names,
        valid_policies,
        policies::by_name,
    )?;
    let speeds = args
        .speed
        .iter()
        .map(|s| parse_speed(s))
        .collect::<Result<Vec<f64>, String>>()?;
    let os = match args.os.as_str() {
        "aware" => OsModel::capacity_aware(),
        "blind" => OsModel::capacity_blind(),
        other => return Err(format!("--os '{other}': expected aware or blind")),
    };
    let sets = chips.len() * workloads.len() * speeds.len().max(1);
    if args.svg.is_some() && sets != 1 {
        return Err(format!(
            "--svg draws one chip, one workload and one speed ({sets} combinations chosen); \
             use --svg-dir for comparison charts"
        ));
    }
    let cfg = Config {
        os,
        seed: args.seed,
        timeline: args.svg.is_some(),
        ..Config::default()
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut outcomes: Vec<Outcome> = Vec::new();
    for chip in &chips {
        let chip_speeds: Vec<Option<f64>> = if speeds.is_empty() {
            vec![None]
        } else {
            speeds.iter().copied().map(Some).collect()
        };
        for speed in chip_speeds {
            let chip = match speed {
                Some(s) => chip.clone().with_efficiency_speed(s),
                None => chip.clone(),
            };
            let e_speed = chip.efficiency_speed().unwrap_or(1.0);
            for &w in &workloads {
                for p in &policy_list {
                    let outcome = simulate(&chip, p.as_ref(), w, &cfg).map_err(|e| e.0)?;
                    rows.push(Row::new(&outcome, e_speed));
                    if args.svg.is_some() {
                        outcomes.push(outcome);
                    }
                }
            }
        }
    }
    if args.json {
        let json: Vec<serde_json::Value> = rows.iter().map(Row::to_json).collect();
        println!("{}", serde_json::to_string_pretty(&json).expect("JSON"));
    } else {
        print!("{}", report::table(&rows));
    }
    if let Some(path) = &args.svg {
        let refs: Vec<&Outcome> = outcomes.iter().collect();
        std::fs::write(path, svg::timeline(&refs))
            .map_err(|e| format!("cannot write {path}: {e}"))?;
        eprintln!("wrote {path}");
    }
    if let Some(dir) = &args.svg_dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {dir}: {e}"))?;
        for w in &workloads {
            let name = w.name();
            let of_w: Vec<&Row> = rows.iter().filter(|r| r.workload == name).collect();
            let path = format!("{dir}/{name}.svg");
            std::fs::write(&path, svg::comparison(&name, &of_w))
                .map_err(|e| format!("cannot write {path}: {e}"))?;
        }
        eprintln!("wrote {} charts to {dir}", workloads.len());
    }
    Ok(())
}
