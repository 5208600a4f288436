//! Runs each attempt's action on a blocking thread of this process: no process start, for
//! trivial nodes and for measuring the scheduler itself.

use tokio_util::sync::CancellationToken;

use crate::executor::{ExecFuture, Executor, Job, Transfer};
use bench_node::ActionLookup;
use bench_node::{Failure, FailureClass};

pub struct InProcess {
    pub actions: ActionLookup,
}

impl Executor for InProcess {
    fn name(&self) -> &'static str {
        "in-process"
    }

    fn run<'a>(
        &'a self,
        job: &'a Job,
        _transfer: &'a dyn Transfer,
        cancel: CancellationToken,
    ) -> ExecFuture<'a> {
        Box::pin(async move {
            let spec = job.spec.clone();
            let lookup = self.actions;
            let work = tokio::task::spawn_blocking(move || lookup(&spec).run(&spec));
            tokio::select! {
                r = work => r.map_err(|e| Failure::new(FailureClass::Infrastructure, e.to_string()))?,
                () = cancel.cancelled() => Err(Failure::new(FailureClass::Cancelled, "stopped before it finished")),
            }
        })
    }
}
