//! The executor seam: where a node's attempt runs. One trait; one file per implementation
//! under `executors/`, registered in [`crate::executors::ExecutorKind`].
//!
//! An executor is given the attempt ([`Job`]: its spec, the host it was placed on, where its
//! log goes) and the cache's transfer operations ([`Transfer`]): an executor whose attempt
//! runs on this machine, or on one sharing its filesystem, passes the spec's paths as they
//! are; one whose attempt runs elsewhere reads each input blob by digest, ships it, runs
//! [`bench_node::JobSpec::relocate`]d spec there, and returns the files the far side wrote
//! through [`Transfer::put_output`]. Nothing else reaches the cache: the scheduler commits.

use std::future::Future;
use std::io::Read;
use std::path::PathBuf;
use std::pin::Pin;

use bench_node::{Failure, JobSpec};
use tokio_util::sync::CancellationToken;

/// One attempt of one node, ready to run.
#[derive(Clone, Debug)]
pub struct Job {
    pub spec: JobSpec,
    /// The spec written as JSON on this machine (what `bench exec-node` reads locally).
    pub spec_path: PathBuf,
    /// Where the attempt's log goes (kept whatever happens).
    pub log: PathBuf,
    /// GPUs the attempt needs: what a cluster executor asks its scheduler for (hosts we own
    /// give ids in the spec instead).
    pub gpus: u32,
}

impl Job {
    /// The attempt's log, opened for appending (kept across attempts and retries).
    pub fn open_log(&self) -> Result<std::fs::File, Failure> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| {
                Failure::new(
                    bench_node::FailureClass::Infrastructure,
                    format!("cannot open log {}: {e}", self.log.display()),
                )
            })
    }
}

/// The cache's side of an attempt that runs elsewhere.
pub trait Transfer: Send + Sync {
    /// The verified bytes of an input blob.
    fn read_blob(&self, digest: &str) -> Result<Box<dyn Read + Send>, Failure>;
    /// Stores one output file of the attempt (a name in the node's output directory).
    fn put_output(&self, name: &str, bytes: &mut dyn Read) -> Result<(), Failure>;
}

pub type ExecFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Failure>> + Send + 'a>>;

/// Runs attempts. `cancel` asks the attempt to stop: the executor must then stop the work
/// (gracefully, then by force) and return a `Cancelled` or `Preemption` failure.
pub trait Executor: Send + Sync {
    fn name(&self) -> &'static str;
    fn run<'a>(
        &'a self,
        job: &'a Job,
        transfer: &'a dyn Transfer,
        cancel: CancellationToken,
    ) -> ExecFuture<'a>;

    /// Before the first attempt, with the keys this build may run: an executor whose work
    /// outlives a killed build (cluster jobs) finds that work here, keeps what it can adopt
    /// and stops the rest.
    fn begin<'a>(&'a self, _to_run: &'a [String]) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async {})
    }

    /// After the last attempt: stop whatever this executor still has running.
    fn end(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }

    /// Whether a drain (the first Ctrl-C) lets its running attempts finish. A cluster job
    /// may wait in a queue for hours: a drain cancels it instead.
    fn finishes_on_drain(&self) -> bool {
        true
    }
}
