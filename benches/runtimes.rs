//! Throughput workloads on hetsched, the plain pool, `threadpool`, tokio and rayon, all with
//! the same number of workers. The workloads live in `workloads/mod.rs` (shared with
//! `examples/bench.rs`).
//!
//! ```text
//! cargo bench --bench runtimes                   # everything (about 4 minutes here)
//! cargo bench --bench runtimes -- spawn_many     # one family
//! ```
//! Reports: `target/criterion/report/index.html`.

#![allow(missing_docs)] // criterion_group! generates an undocumented fn

mod workloads;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;
use workloads::exec::Runtimes;
use workloads::Workload;

fn runtimes(c: &mut Criterion) {
    // Operator settings (HETSCHED_*) apply; a malformed one is reported, not a panic.
    let hetsched = match hetsched::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("runtimes bench: cannot start hetsched: {err}");
            return;
        }
    };
    let rts = match Runtimes::new(hetsched) {
        Ok(rts) => rts,
        Err(err) => {
            eprintln!("runtimes bench: cannot start a runtime: {err}");
            return;
        }
    };
    for workload in Workload::all() {
        let mut group = c.benchmark_group(workload.name());
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2))
            .throughput(Throughput::Elements(workload.ops()));
        for &kind in workload.runtimes() {
            group.bench_function(kind.name(), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| workload.run(&rts, kind)).sum())
            });
        }
        group.finish();
    }
}

criterion_group!(benches, runtimes);
criterion_main!(benches);
