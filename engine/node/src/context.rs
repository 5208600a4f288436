//! What an attempt needs besides its keyed params: paths of the machine it runs on, the
//! served model name, the build it belongs to. Never keyed (it changes no measurement) and
//! never a secret (secrets are passed by name only).

use std::path::PathBuf;

use bench_catalog::ArchFacts;
use serde::{Deserialize, Serialize};

use crate::job::HostTarget;

/// A download's context.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DownloadContext {
    /// The revision as the sweep names it (`main`, a tag), for the cache's refs.
    pub revision: Option<String>,
    /// A local model's directory, absolute.
    pub path: Option<PathBuf>,
    /// Where stat caches live (the bench cache's `models/`).
    pub state_dir: Option<PathBuf>,
    /// The facts the plan knew (catalog or sweep), used when the files give none.
    pub planned_facts: Option<ArchFacts>,
}

/// A setup's context: how the engine runs on the hosts of the GPU type.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SetupContext {
    #[serde(default)]
    pub simulated: bool,
    #[serde(default)]
    pub endpoint: bool,
    /// The Docker hosts that provide the GPU type.
    #[serde(default)]
    pub docker: Vec<HostTarget>,
}

/// A bench attempt's context.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BenchContext {
    /// The name requests ask for (the model's name in the sweep).
    pub model: String,
    /// The configuration runs on the simulated engine.
    pub simulated: bool,
    /// The dataset file, for file datasets (its digest is keyed, not its path).
    pub dataset_path: Option<PathBuf>,
    /// Per-request timeout, seconds.
    #[serde(default)]
    pub timeout_secs: Option<f64>,
    /// For engines the attempt starts (a container or a process): the build they belong
    /// to, how long they may take to be ready, the secrets passed through (names only).
    #[serde(default)]
    pub container: Option<ContainerContext>,
}

/// What an engine's container is labelled with and allowed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ContainerContext {
    pub build: String,
    pub sweep: String,
    /// `HOSTNAME:PATH` of the build's cache.
    pub cache: String,
    /// How long the engine may take to become ready, seconds.
    pub ready_timeout_secs: f64,
    /// Variables passed through to the engine (names only).
    #[serde(default)]
    pub secrets: Vec<String>,
}
