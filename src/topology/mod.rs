//! Machine topology: CPU sets, tiers and the performance / efficiency classification.
//!
//! A [`Topology`] says which logical CPUs are [`CoreClass::Performance`] and which are
//! [`CoreClass::Efficiency`], grouped into [`Tier`]s ranked 0 = slowest, each with the
//! [`Evidence`] that formed it. Nothing here knows about the runtime.

mod cpuset;
mod error;
mod model;

pub use cpuset::{CpuSet, CpuSetError, MAX_CPUS};
pub use error::TopologyError;
pub use model::{CoreClass, Evidence, Source, Tier, Topology};
