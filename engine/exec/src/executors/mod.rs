//! Executor implementations, one per file. Adding one is a file here and a line in
//! [`ExecutorKind`] (its name) and [`ExecutorKind::executor`] (how it is made).

pub mod inproc;
pub mod local;

use std::collections::HashMap;
use std::sync::Arc;

use bench_node::{ActionLookup, NodeKind};

pub use inproc::InProcess;
pub use local::LocalProcess;

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

/// The executor of each node kind: one default, and the kinds that run elsewhere.
#[derive(Clone)]
pub struct Executors {
    pub default: Arc<dyn Executor>,
    pub by_kind: HashMap<NodeKind, Arc<dyn Executor>>,
}

impl Executors {
    /// One executor for every kind.
    pub fn all(e: Arc<dyn Executor>) -> Self {
        Self {
            default: e,
            by_kind: HashMap::new(),
        }
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
