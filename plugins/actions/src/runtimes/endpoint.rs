//! A server that is already running (`runtime="endpoint"`, the host's `url=`): nothing is
//! started or stopped; the run measures what answers there.

use bench_node::{Failure, RuntimeKind};

use super::{EngineRuntime, EngineStart, Finished, RunningEngine};
use crate::permanent;

pub struct Endpoint;

struct Served(String);

impl RunningEngine for Served {
    fn url(&self) -> &str {
        &self.0
    }

    fn finish(self: Box<Self>) -> Result<Finished, Failure> {
        Ok(Finished::default())
    }
}

impl EngineRuntime for Endpoint {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Endpoint
    }

    fn start(&self, s: &EngineStart<'_>) -> Result<Box<dyn RunningEngine>, Failure> {
        let url = s
            .job
            .target
            .as_ref()
            .and_then(|t| t.address.clone())
            .ok_or_else(|| permanent("an endpoint host without url="))?;
        Ok(Box::new(Served(url)))
    }
}
