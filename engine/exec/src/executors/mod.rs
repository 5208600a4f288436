//! Executor implementations, one per file. Adding one is a file here and a line in
//! [`ExecutorKind`] (its name) and [`ExecutorKind::executor`] (how it is made).

pub mod inproc;
pub mod local;
pub mod slurm;

use std::collections::HashMap;
use std::sync::Arc;

use bench_node::{ActionLookup, NodeKind};

pub use inproc::InProcess;
pub use local::LocalProcess;
pub use slurm::{Slurm, SlurmPool};

use crate::executor::Executor;

/// Where attempts run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExecutorKind {
    /// A child process per attempt (`bench exec-node`): isolated, killable, its own log.
    Local,
    /// A blocking thread of the build's process: no process start.
    InProcess,
}

impl ExecutorKind {
    pub const ALL: [ExecutorKind; 2] = [Self::Local, Self::InProcess];

    pub fn name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::InProcess => "in-process",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    pub fn executor(self, actions: ActionLookup) -> std::io::Result<Arc<dyn Executor>> {
        Ok(match self {
            Self::Local => Arc::new(LocalProcess::current_exe()?),
            Self::InProcess => Arc::new(InProcess { actions }),
        })
    }
}

/// The executor of each node kind: one default, the kinds that run elsewhere, and the
/// cluster pools (a node placed on a pool runs on the pool's executor, whatever its kind).
#[derive(Clone)]
pub struct Executors {
    pub default: Arc<dyn Executor>,
    pub by_kind: HashMap<NodeKind, Arc<dyn Executor>>,
    pub by_host: HashMap<String, Arc<dyn Executor>>,
}

impl Executors {
    /// One executor for every kind.
    pub fn all(e: Arc<dyn Executor>) -> Self {
        Self {
            default: e,
            by_kind: HashMap::new(),
            by_host: HashMap::new(),
        }
    }

    /// Nodes placed on the host (a cluster pool) `name` run on `e`.
    pub fn on_host(mut self, name: &str, e: Arc<dyn Executor>) -> Self {
        self.by_host.insert(name.to_string(), e);
        self
    }

    /// The executor of a node of `kind` placed on `host`.
    pub fn for_node(&self, kind: NodeKind, host: Option<&str>) -> &Arc<dyn Executor> {
        host.and_then(|h| self.by_host.get(h))
            .unwrap_or_else(|| self.of(kind))
    }

    /// The cluster executors, for the start and the end of a build.
    pub fn clusters(&self) -> impl Iterator<Item = &Arc<dyn Executor>> {
        self.by_host.values()
    }

    /// `kinds` run on `e` instead of the default.
    pub fn with(mut self, kinds: &[NodeKind], e: Arc<dyn Executor>) -> Self {
        for k in kinds {
            self.by_kind.insert(*k, e.clone());
        }
        self
    }

    pub fn of(&self, kind: NodeKind) -> &Arc<dyn Executor> {
        self.by_kind.get(&kind).unwrap_or(&self.default)
    }
}
