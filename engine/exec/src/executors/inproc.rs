//! Runs each attempt's action on a blocking thread of this process: no process start, for
//! light nodes (validate, aggregate, optimize) and for measuring the scheduler itself. The
//! attempt's lines go to its log ([`bench_node::log`]).

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
            // The attempt's lines go to its log, as from a process of its own.
            let log = job.open_log()?;
            let work = tokio::task::spawn_blocking(move || {
                bench_node::log::with_log(Box::new(std::io::BufWriter::new(log)), || {
                    let result = lookup(&spec).run(&spec);
                    // How it failed, in its log, as a process of its own would say it.
                    if let Err(f) = &result {
                        bench_node::say!("{f}");
                    }
                    result
                })
            });
            tokio::select! {
                r = work => r.map_err(|e| Failure::new(FailureClass::Infrastructure, e.to_string()))?,
                () = cancel.cancelled() => Err(Failure::new(FailureClass::Cancelled, "stopped before it finished")),
            }
        })
    }
}
