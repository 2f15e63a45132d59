//! Priority latency under load, scenarios A and B, hetsched side by side with tokio.
//! Percentiles do not fit criterion's model (time per iteration), so this bench has its
//! own main and prints the latency table (the same code as `examples/bench.rs`).
//!
//! ```text
//! cargo bench --bench latency                    # 3 s per run, about 80 s in all
//! ```

mod workloads;

use std::time::Duration;
use workloads::latency::{format_table, run_all, LatencyConfig};

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing. With neither
    // (or `--list`), do nothing: latency runs take tens of seconds.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--list") {
        return;
    }
    let cfg = LatencyConfig::new(Duration::from_secs(3));
    let rows = run_all(&cfg);
    print!("{}", format_table(&rows, &cfg));
}
