//! The node contract: what every layer of bench agrees on about a node.
//!
//! * [`NodeKind`]: the kinds, their names and versions;
//! * [`params`]: each kind's keyed parameters, one typed definition that the planner
//!   serializes into the canonical JSON its keys hash and the actions read back;
//! * [`context`]: what an attempt needs besides its params, never keyed;
//! * [`outputs`]: what each kind commits, read by downstream nodes, the driver and the store;
//! * [`records`]: the per-request records and metrics of a bench run;
//! * [`JobSpec`]: one attempt, independent of where it runs; [`Failure`]: how it failed.
//!
//! The planner, the actions, the executors and the store depend on this crate, not on each
//! other. It links nothing heavy: no engine, no Docker, no hub, no DuckDB.

pub mod context;
pub mod failure;
pub mod job;
pub mod kind;
pub mod log;
pub mod outputs;
pub mod params;
pub mod records;
mod test_action;

pub use failure::{Failure, FailureClass, RetryPolicy};
pub use job::{
    Action, ActionLookup, Actions, FAILURE_FILE, HostTarget, InputFile, JobInput, JobSpec,
    RuntimeKind, run_job,
};
pub use kind::NodeKind;
pub use test_action::TestAction;
