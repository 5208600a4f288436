//! The executor seam: where a node's attempt runs. One trait; one file per implementation
//! under `executors/` (a local process and in-process now; Docker, Slurm and Kubernetes
//! executors run the same job spec through `bench exec-node` on the far side).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use tokio_util::sync::CancellationToken;

use crate::failure::Failure;

/// One attempt of one node, ready to run.
#[derive(Clone, Debug)]
pub struct Job {
    pub key: String,
    pub label: String,
    pub kind: String,
    pub attempt: u32,
    /// The job spec (JSON) the far side reads.
    pub spec: PathBuf,
    /// Where the attempt's log goes (kept whatever happens).
    pub log: PathBuf,
    /// GPU ids on the assigned host.
    pub gpu_ids: Vec<u32>,
}

pub type ExecFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Failure>> + Send + 'a>>;

/// Runs attempts. `cancel` asks the attempt to stop: the executor must then stop the work
/// (gracefully, then by force) and return a `Cancelled` or `Preemption` failure.
pub trait Executor: Send + Sync {
    fn name(&self) -> &'static str;
    fn run<'a>(&'a self, job: &'a Job, cancel: CancellationToken) -> ExecFuture<'a>;
}
