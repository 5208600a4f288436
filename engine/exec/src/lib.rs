//! Running the DAG: a scheduler over node keys, an executor seam, retries with backoff, and
//! clean stops on Ctrl-C and spot-interruption notices.
//!
//! The scheduler talks to the cache only through [`bench_cache::CacheBackend`] and to the
//! machines only through [`Executor`]: a remote cache or a Slurm executor is an addition.

pub mod executor;
pub mod executors;
pub mod scheduler;
pub mod spot;
pub mod state;

pub use bench_node::{Failure, FailureClass, RetryPolicy};
pub use executor::{Executor, Job, Transfer};
pub use executors::{ExecutorKind, Executors};
pub use scheduler::{
    BuildOptions, BuildState, BuildStatus, BuildSummary, Control, Event, GpuNeed, HostSlots,
    NodeDetails, Outcome, SchedNode, build,
};
