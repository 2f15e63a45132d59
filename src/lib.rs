//! hetsched: a task runtime for heterogeneous CPUs.
//!
//! Machines whose cores come in a fast kind and an efficient kind (Apple M-series,
//! ARM big.LITTLE / DynamIQ, Intel hybrid P/E cores) are detected by [`topology`];
//! the runtime keeps per-class work-stealing queues, keeps latency-critical tasks on
//! performance cores and lets efficiency cores take throughput and background work.
//!
//! ```
//! use hetsched::{Builder, CoreClass, Qos, Topology};
//!
//! // Declare the classes (P = CPU 0, E = CPU 1); real programs use Runtime::new(), which
//! // detects the machine and honours the operator's HETSCHED_* variables.
//! let topology = Topology::with_classes("0".parse()?, "1".parse()?)?;
//! let rt = Builder::new().topology(topology).build()?;
//! let class = rt.block_on(async {
//!     hetsched::spawn_with(Qos::Interactive, async { hetsched::current_class() }).await
//! })?;
//! assert_eq!(class, Some(CoreClass::Performance));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "hyper")]
pub mod hyper;
mod loom;
pub mod runtime;
pub mod sys;
pub mod task;
pub mod time;
pub mod topology;

pub use runtime::{
    current_class, current_qos, spawn, spawn_blocking, spawn_detached, spawn_detached_with,
    spawn_with, yield_now, Builder, ConfigError, Handle, Lane, LongPoll, Pin, Runtime,
    RuntimeMetrics, WorkerMetrics, WorkerRole,
};
pub use task::{JoinError, JoinHandle, Qos};
pub use topology::{CoreClass, CpuSet, CpuSetError, Tier, Topology, TopologyError};

/// The README's examples are compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
