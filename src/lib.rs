//! hetsched: a task runtime for heterogeneous CPUs.
//!
//! Machines whose cores come in a fast kind and an efficient kind (Apple M-series,
//! ARM big.LITTLE / DynamIQ, Intel hybrid P/E cores) are detected by [`topology`];
//! the runtime keeps per-class work-stealing queues, keeps latency-critical tasks on
//! performance cores and lets efficiency cores take throughput and background work.

pub mod sys;
pub mod topology;
pub use topology::{CoreClass, CpuSet, CpuSetError, Tier, Topology, TopologyError};
