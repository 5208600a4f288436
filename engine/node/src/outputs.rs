//! The outputs of each node kind, as committed: what the actions write, and what
//! downstream nodes, the driver and the results store read.

use std::collections::BTreeMap;

use bench_catalog::ArchFacts;
use serde::{Deserialize, Serialize};

use crate::params::ObjectiveSpec;
use crate::records::{Dialect, Metrics};

/// Output file names, one place.
pub mod names {
    pub const MODEL: &str = "model.json";
    pub const SETUP: &str = "setup.json";
    pub const RECORDS: &str = "records.jsonl";
    pub const RUN: &str = "run.json";
    pub const TELEMETRY: &str = "telemetry.json";
    pub const VALIDATION: &str = "validation.json";
    pub const AGGREGATE: &str = "aggregate.json";
    pub const RECOMMENDATIONS: &str = "recommendations.json";
}

/// `model.json`: what a bench node needs to know about its model.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ModelInfo {
    pub source: String,
    pub id: Option<String>,
    /// The commit, for a hub model whose weights were fetched.
    pub revision: Option<String>,
    /// Where the weights are on this machine (the snapshot directory).
    pub path: Option<String>,
    /// Whether weights were fetched (false: facts only, for the simulator).
    pub weights: bool,
    pub facts: Option<ArchFacts>,
    /// `LlamaForCausalLM`, … (from config.json).
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub dtype: Option<String>,
    /// `quantization_config` as the checkpoint writes it.
    #[serde(default)]
    pub quantization: Option<serde_json::Value>,
    /// Every file with its size and blake3 digest.
    #[serde(default)]
    pub manifest: Option<ModelManifest>,
    /// The manifest's digest: the model's identity by content.
    #[serde(default)]
    pub digest: Option<String>,
    /// For hub models: what crossed the network.
    #[serde(default)]
    pub fetch: Option<FetchReport>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the model directory, `/`-separated.
    pub path: String,
    pub size: u64,
    pub blake3: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelManifest {
    /// Sorted by path.
    pub files: Vec<FileEntry>,
    pub total_bytes: u64,
}

impl ModelManifest {
    /// The model's identity: blake3 over the sorted (path, size, digest) lines.
    pub fn digest(&self) -> String {
        let mut h = blake3::Hasher::new();
        for f in &self.files {
            h.update(format!("{}\t{}\t{}\n", f.path, f.size, f.blake3).as_bytes());
        }
        h.finalize().to_hex().to_string()
    }
}

/// How a fetch went.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FetchReport {
    /// Files whose bytes came over the network (wholly or the rest of a partial file).
    pub fetched: Vec<String>,
    /// Files already in the cache (this commit or another with the same blob).
    pub reused: Vec<String>,
    /// Bytes of the fetched files written by this fetch (a resumed file counts from the
    /// offset it resumed at, as hf-hub reports it).
    pub bytes_received: u64,
    pub seconds: f64,
}

/// What `setup.json` says of a setup on Docker hosts (what bench nodes read back).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetupOutput {
    pub engine: String,
    pub image: String,
    #[serde(default)]
    pub gpu: String,
    /// The image id every host holds under the tag (bench nodes run exactly this).
    #[serde(default)]
    pub image_id: Option<String>,
    /// What keys use: the registry digest, else the id.
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
}

/// `run.json`: what ran and how it went.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunInfo {
    pub engine: String,
    pub simulated: bool,
    pub dialect: Dialect,
    pub model: String,
    pub repeat: u32,
    pub host: String,
    /// Unix time the load started, seconds.
    pub started_at: f64,
    /// Estimated memory across the configuration's GPUs, GiB (when the facts are known).
    pub gpu_memory_gb: Option<f64>,
    /// Metrics of this run alone, without SLOs (the aggregate applies them).
    pub metrics: Metrics,
    /// The engine's container, when it ran in one.
    #[serde(default)]
    pub container: Option<ContainerInfo>,
    /// Energy of the run's GPUs over the run, joules (where telemetry exists).
    #[serde(default)]
    pub energy_j: Option<f64>,
    /// Exactly which weights were measured: the hub commit, or `blake3:DIGEST` of a local
    /// directory's files (none when the model's configurations are only simulated).
    #[serde(default)]
    pub model_revision: Option<String>,
}

/// The container a run used, for `run.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContainerInfo {
    pub name: String,
    pub image: String,
    pub image_id: Option<String>,
    pub docker: String,
}

/// `validation.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Validation {
    pub passed: bool,
    /// One sentence per failed gate.
    pub reasons: Vec<String>,
    pub requests: u64,
    pub completed: u64,
    pub error_rate: f64,
    pub completed_fraction: f64,
    pub token_mismatch_fraction: f64,
    /// Requests whose timestamps are out of order (or TTFT > E2E).
    pub bad_timings: u64,
}

/// A confidence interval of a mean across repeats.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Ci {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
    /// Repeats it was computed from.
    pub n: u32,
}

/// `aggregate.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AggregateOutput {
    pub valid: bool,
    pub reasons: Vec<String>,
    pub repeats: u32,
    pub repeats_valid: u32,
    pub requests: u64,
    pub completed: u64,
    pub simulated: bool,
    /// By the names sweeps optimize and constrain (`ttft-p95`, `output-throughput`, ...).
    pub metrics: BTreeMap<String, f64>,
    /// Confidence intervals of per-run means, by metric name.
    pub ci: BTreeMap<String, Ci>,
    pub confidence: f64,
    pub errors: Vec<(String, u64)>,
    /// Where its token counts come from (the weakest of its requests'); `None` in
    /// aggregates written before bench recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_from: Option<TokenCounts>,
}

/// Where a run's or an aggregate's token counts come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenCounts {
    pub input: crate::records::TokenSource,
    pub output: crate::records::TokenSource,
    /// Completed requests whose server sent no `usage`.
    pub without_usage: u64,
}

impl std::fmt::Display for TokenCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "input {}, output {}", self.input, self.output)?;
        if self.without_usage > 0 {
            write!(f, " ({} requests without usage)", self.without_usage)?;
        }
        Ok(())
    }
}

/// One configuration-and-load point, ranked.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Ranked {
    /// The aggregate node's key.
    pub key: String,
    /// Passed validation in every repeat.
    pub valid: bool,
    /// Valid and within every constraint.
    pub feasible: bool,
    /// Why not feasible: validation reasons and broken constraints.
    pub reasons: Vec<String>,
    pub score: Option<f64>,
    pub front: Option<u32>,
    /// Crowding distance in its front; `None` when infinite (a front's extremes).
    pub crowding: Option<f64>,
    /// 1 = recommended first.
    pub rank: Option<usize>,
    /// The objectives' values.
    pub values: BTreeMap<String, f64>,
}

/// `recommendations.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OptimizeOutput {
    pub method: String,
    pub normalization: String,
    pub objectives: Vec<ObjectiveSpec>,
    pub notes: Vec<String>,
    /// One entry per aggregate, in the DAG's order.
    pub ranked: Vec<Ranked>,
    /// Keys of the recommended points, best first (at most `top`).
    pub top: Vec<String>,
}
