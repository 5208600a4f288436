//! The work of each node kind. A node's attempt gets a [`JobSpec`] (its keyed params, its
//! inputs' committed outputs, an unkeyed context and the host it was placed on) and writes
//! its outputs into `out_dir`; the scheduler commits them.
//!
//! | kind      | outputs                                   |
//! |-----------|-------------------------------------------|
//! | download  | `model.json` (identity and architecture facts) |
//! | setup     | `setup.json` (engine, image)              |
//! | bench     | `records.jsonl` (one line per request), `run.json` (what ran, metrics), `telemetry.json` (GPU samples, where available) |
//! | validate  | `validation.json` (gates passed, reasons) |
//! | aggregate | `aggregate.json` (metrics pooled over repeats, confidence intervals) |
//! | optimize  | `recommendations.json` (constraints, Pareto fronts, TOPSIS, order) |

mod aggregate;
mod bench;
mod download;
mod optimize;
pub use optimize::{objectives, optimize};
mod runtimes;
mod setup;
mod validate;

use std::path::Path;

use bench_node::{Action, Actions, Failure, FailureClass, JobSpec, NodeKind, TestAction};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use bench::read_records;
pub use bench_node::outputs::names as outputs;
pub use runtimes::SIM_ENGINE_ENV;

/// The action for a job: the test stand-in, or the real work of its kind.
pub fn action_for(job: &JobSpec) -> Box<dyn Action> {
    if job.actions == Actions::Test {
        return Box::new(TestAction);
    }
    match job.kind {
        NodeKind::Download => Box::new(download::Download),
        NodeKind::Setup => Box::new(setup::Setup),
        NodeKind::Bench => Box::new(bench::Bench),
        NodeKind::Validate => Box::new(validate::Validate),
        NodeKind::Aggregate => Box::new(aggregate::Aggregate),
        NodeKind::Optimize => Box::new(optimize::Optimize),
    }
}

pub(crate) fn permanent(msg: impl Into<String>) -> Failure {
    Failure::new(FailureClass::Permanent, msg)
}

pub(crate) fn infra(msg: impl Into<String>) -> Failure {
    Failure::new(FailureClass::Infrastructure, msg)
}

/// Reads a JSON file, the failure naming it.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, Failure> {
    let bytes =
        std::fs::read(path).map_err(|e| infra(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| permanent(format!("{} is not what bench wrote: {e}", path.display())))
}

/// Writes one output as pretty JSON.
pub(crate) fn write_json(job: &JobSpec, name: &str, value: &impl Serialize) -> Result<(), Failure> {
    let path = job.out_dir.join(name);
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| permanent(e.to_string()))?;
    std::fs::write(&path, bytes)
        .map_err(|e| Failure::classify(format!("cannot write {}: {e}", path.display())))
}
