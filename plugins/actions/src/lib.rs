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
mod container;
mod download;
mod optimize;
mod setup;
mod sim;
mod validate;

use std::path::Path;

use bench_exec::job::{Action, JobInput, JobSpec, TestAction};
use bench_exec::{Failure, FailureClass};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use aggregate::{AggregateOutput, Ci};
pub use bench::{BenchContext, RunInfo, read_records};
pub use container::{ContainerContext, ContainerInfo};
pub use download::{DownloadContext, ModelInfo};
pub use optimize::{ObjectiveSpec, OptimizeOutput, Ranked};
pub use setup::SetupOutput;
pub use sim::SIM_ENGINE_ENV;
pub use validate::Validation;

/// Output names, one place.
pub mod outputs {
    pub const MODEL: &str = "model.json";
    pub const SETUP: &str = "setup.json";
    pub const RECORDS: &str = "records.jsonl";
    pub const RUN: &str = "run.json";
    pub const TELEMETRY: &str = "telemetry.json";
    pub const VALIDATION: &str = "validation.json";
    pub const AGGREGATE: &str = "aggregate.json";
    pub const RECOMMENDATIONS: &str = "recommendations.json";
}

/// The action for a job: the test stand-in, or the real work of its kind.
pub fn action_for(job: &JobSpec) -> Box<dyn Action> {
    if job.actions == "test" {
        return Box::new(TestAction);
    }
    match job.kind.as_str() {
        "download" => Box::new(download::Download),
        "setup" => Box::new(setup::Setup),
        "bench" => Box::new(bench::Bench),
        "validate" => Box::new(validate::Validate),
        "aggregate" => Box::new(aggregate::Aggregate),
        "optimize" => Box::new(optimize::Optimize),
        _ => bench_exec::job::action_for(job),
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

/// The inputs of a kind, in the order the DAG added them.
pub(crate) fn inputs<'a>(job: &'a JobSpec, kind: &'a str) -> impl Iterator<Item = &'a JobInput> {
    job.inputs.iter().filter(move |i| i.kind == kind)
}

/// The path of one output of an input.
pub(crate) fn output<'a>(input: &'a JobInput, name: &str) -> Result<&'a Path, Failure> {
    input
        .outputs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, p)| p.as_path())
        .ok_or_else(|| permanent(format!("input {} has no output {name}", input.label)))
}

/// The params of the job as a typed value.
pub(crate) fn params<T: DeserializeOwned>(job: &JobSpec) -> Result<T, Failure> {
    serde_json::from_value(job.params.clone())
        .map_err(|e| permanent(format!("unexpected params for a {} node: {e}", job.kind)))
}
