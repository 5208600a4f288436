//! The typed sweep: what a `sweep.kdl` says, with the source span of every value so that
//! later stages (the planner) can point back into the file.
//!
//! Nothing here depends on the order or formatting of the KDL text beyond the order of
//! axis values, which only decides display order.

use bench_catalog::{Dtype, KvCacheDtype, Quantization};
use miette::SourceSpan;
use serde::Serialize;

/// A value together with where it was written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Spanned<T> {
    pub value: T,
    #[serde(skip)]
    pub span: SourceSpan,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: SourceSpan) -> Self {
        Self { value, span }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// A scalar as written in KDL, for places whose type is decided later (rules, engine args).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Str(s) => f.write_str(s),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Bool(b) => write!(f, "{b}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Sweep {
    pub name: Spanned<String>,
    pub description: Option<String>,
    /// The sweep's own cache version: bump it to invalidate every result on purpose.
    pub cache_version: u32,
    pub models: Vec<Model>,
    pub matrix: Matrix,
    pub rules: Vec<Rule>,
    pub workloads: Vec<Workload>,
    pub engines: Vec<EngineOverride>,
    pub hosts: Vec<Host>,
    pub validate: Validate,
    pub aggregate: Aggregate,
    pub optimize: Optimize,
    pub notify: Vec<Notify>,
    pub retry: Retry,
    /// Measure a budget of the grid chosen generation by generation, not all of it.
    pub search: Option<Search>,
    pub span: SourceSpan,
}

#[derive(Clone, Debug)]
pub struct Model {
    /// The name rules refer to: the hub id unless a label is given with `hub=` or `path=`.
    pub name: Spanned<String>,
    pub source: ModelSource,
    /// A catalog entry to take architecture facts from.
    pub arch: Option<Spanned<String>>,
    /// Facts written in the sweep; they override the catalog's field by field.
    pub facts: ArchOverride,
    pub priority: i64,
    /// Fetch the weights even when every configuration of the model is simulated (to
    /// stage them, or to simulate with the facts of the checkpoint itself).
    pub fetch: bool,
    /// The files an engine needs (glob patterns matched against names and paths); the
    /// default list when absent.
    pub files: Option<Vec<Spanned<String>>>,
    pub span: SourceSpan,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ModelSource {
    /// A Hugging Face Hub repository at a revision (branch, tag or commit; `main` if absent).
    Hub {
        id: String,
        revision: Option<String>,
    },
    /// A directory, relative to the sweep file unless absolute.
    Local { path: String },
}

/// Architecture facts given in the sweep; any subset.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ArchOverride {
    pub params: Option<f64>,
    pub active_params: Option<f64>,
    pub layers: Option<u32>,
    pub hidden: Option<u32>,
    pub heads: Option<u32>,
    pub kv_heads: Option<u32>,
    pub head_dim: Option<u32>,
    pub vocab: Option<u32>,
    pub max_context: Option<u32>,
    pub span: Option<SourceSpan>,
}

impl ArchOverride {
    pub fn is_empty(&self) -> bool {
        self.span.is_none()
    }
}

/// The matrix: every axis with its values, in the order written.
#[derive(Clone, Debug)]
pub struct Matrix {
    pub engine: Vec<Spanned<String>>,
    pub quantization: Vec<Spanned<Quantization>>,
    pub dtype: Vec<Spanned<Dtype>>,
    pub kv_cache: Vec<Spanned<KvCacheDtype>>,
    pub gpu: Vec<Spanned<String>>,
    pub gpus: Vec<Spanned<u32>>,
    pub batch_size: Vec<Spanned<u32>>,
    pub seq_len: Vec<Spanned<u32>>,
    /// Free axes over engine arguments.
    pub args: Vec<ArgAxis>,
    pub span: SourceSpan,
}

impl Default for Matrix {
    fn default() -> Self {
        Self {
            engine: Vec::new(),
            quantization: Vec::new(),
            dtype: Vec::new(),
            kv_cache: Vec::new(),
            gpu: Vec::new(),
            gpus: Vec::new(),
            batch_size: Vec::new(),
            seq_len: Vec::new(),
            args: Vec::new(),
            span: SourceSpan::from(0..0),
        }
    }
}

/// `engine-arg "--flag" v1 v2 engine="vllm"`: one axis over an engine argument.
#[derive(Clone, Debug)]
pub struct ArgAxis {
    pub flag: Spanned<String>,
    pub values: Vec<Spanned<Scalar>>,
    /// Only configurations of this engine get the argument; others are not multiplied.
    pub engine: Option<Spanned<String>>,
    pub span: SourceSpan,
}

/// The axes a rule can name.
pub const AXES: &[&str] = &[
    "model",
    "engine",
    "quantization",
    "dtype",
    "kv-cache",
    "gpu",
    "gpus",
    "batch-size",
    "seq-len",
    "workload",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    Include,
    Exclude,
}

/// `include`/`exclude`: a partial point of the matrix.
#[derive(Clone, Debug)]
pub struct Rule {
    pub kind: RuleKind,
    /// (axis or engine-argument flag, value), in written order.
    pub conditions: Vec<(Spanned<String>, Spanned<Scalar>)>,
    pub priority: i64,
    pub span: SourceSpan,
}

#[derive(Clone, Debug)]
pub struct Workload {
    pub name: Spanned<String>,
    pub dataset: Dataset,
    pub api: Api,
    pub load: Vec<Spanned<LoadPoint>>,
    pub stop: Stop,
    pub warmup: u32,
    pub repeats: u32,
    pub seed: u64,
    pub slo: Slo,
    pub priority: i64,
    pub span: SourceSpan,
}

/// Which API family requests go through; the engine picks its dialect within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Api {
    Completions,
    Chat,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
pub enum Dataset {
    /// Synthetic prompts; lengths drawn uniformly in `len · (1 ± spread)`.
    Random {
        input_len: u32,
        output_len: u32,
        spread: f64,
    },
    /// One JSON object per line with a `prompt` field.
    Jsonl { path: String, output_len: u32 },
    /// ShareGPT-format conversations; the first human turn is the prompt.
    Sharegpt {
        path: String,
        output_len: Option<u32>,
    },
    /// Prompt + expected answer, scored.
    Eval {
        path: String,
        scoring: Scoring,
        output_len: u32,
    },
}

impl Dataset {
    /// The longest request (prompt + output) the dataset may send, when it is known
    /// without reading a file.
    pub fn max_tokens_per_request(&self) -> Option<u32> {
        match self {
            Dataset::Random {
                input_len,
                output_len,
                spread,
            } => {
                // The same bound the load generator draws within (± 1e-9 against 100 · 1.1 = 110.00…01).
                let hi = |l: u32| (l as f64 * (1.0 + spread) - 1e-9).ceil() as u32;
                Some(hi(*input_len) + hi(*output_len))
            }
            _ => None,
        }
    }

    pub fn path(&self) -> Option<&str> {
        match self {
            Dataset::Random { .. } => None,
            Dataset::Jsonl { path, .. }
            | Dataset::Sharegpt { path, .. }
            | Dataset::Eval { path, .. } => Some(path),
        }
    }

    pub fn output_len(&self) -> u32 {
        match self {
            Dataset::Random { output_len, .. }
            | Dataset::Jsonl { output_len, .. }
            | Dataset::Eval { output_len, .. } => *output_len,
            Dataset::Sharegpt { output_len, .. } => output_len.unwrap_or(256),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scoring {
    ExactMatch,
    Contains,
    Choice,
}

/// One load point of a workload.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
pub enum LoadPoint {
    /// Closed loop: N requests in flight.
    Concurrency { concurrency: u32 },
    /// Open loop: gamma-distributed gaps at `rate` requests/s (burstiness 1 = Poisson).
    Rate {
        rate: f64,
        burstiness: f64,
        max_concurrency: Option<u32>,
    },
}

impl LoadPoint {
    /// Short label: `c8`, `r2.5`.
    pub fn label(&self) -> String {
        match self {
            LoadPoint::Concurrency { concurrency } => format!("c{concurrency}"),
            LoadPoint::Rate { rate, .. } => format!("r{rate}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    Requests(u32),
    DurationSecs(f64),
}

/// Per-request service-level objectives; goodput counts the requests that meet all of them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Slo {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct EngineOverride {
    pub name: Spanned<String>,
    pub image: Option<Spanned<String>>,
    pub args: Vec<(Spanned<String>, Option<Spanned<Scalar>>)>,
    pub env: Vec<(Spanned<String>, Spanned<String>)>,
    /// Environment variables passed through from bench's own environment, never recorded.
    pub secrets: Vec<Spanned<String>>,
    pub priority: i64,
    /// How long a started engine may take to answer its health route (default 15 min).
    /// Not keyed: it changes no measurement.
    pub ready_timeout_secs: Option<f64>,
    /// An engine of the sweep's own, declared by its command line (`command=`).
    pub command: Option<EngineCommand>,
    pub span: SourceSpan,
}

/// `engine "mine" command="./serve --port {port}" api="openai-chat" health="/health"`.
#[derive(Clone, Debug)]
pub struct EngineCommand {
    pub template: Spanned<String>,
    /// Where the template's text starts in the file, when it is written without escapes
    /// (so that a mistake can be pointed at within it).
    pub text_offset: Option<usize>,
    /// The requests' dialect (`openai`, following the workload, when absent).
    pub api: Option<Spanned<String>>,
    /// The route that answers 200 once the engine serves (`/health` when absent).
    pub health: Option<Spanned<String>>,
}

/// How engines run on a host (`runtime=`): the node contract's kinds.
pub use bench_node::RuntimeKind;

#[derive(Clone, Debug)]
pub struct Host {
    pub name: Spanned<String>,
    pub runtime: RuntimeKind,
    /// A GPU name from the catalog, or `auto` (discovered when the build starts).
    pub gpu: Spanned<String>,
    pub gpus: u32,
    pub price_per_gpu_hour: Option<f64>,
    pub spot: bool,
    /// `docker=` (a Docker endpoint) or `url=` (an endpoint host's base URL).
    pub address: Option<Spanned<String>>,
    /// A Docker host's TLS client certificates: a directory with `ca.pem`, `cert.pem` and
    /// `key.pem`, as `DOCKER_CERT_PATH` holds them.
    pub tls_dir: Option<Spanned<String>>,
    /// A cluster pool (`pool "name" executor="slurm" …`): bench nodes placed here run as
    /// the cluster's jobs, which get their GPUs from the cluster; `gpus` is the most one
    /// node of the pool has.
    pub cluster: Option<Cluster>,
    pub span: SourceSpan,
}

/// How a pool's jobs reach its cluster. None of it is keyed: where a node runs does not
/// change what it measures.
#[derive(Clone, Debug)]
pub struct Cluster {
    pub executor: ClusterExecutor,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// Each job's time limit; the partition's when absent.
    pub time_limit_secs: Option<f64>,
    /// Jobs of the pool in flight at once (queued or running).
    pub max_jobs: u32,
    /// More arguments for the scheduler's submit command, split on whitespace.
    pub extra_args: Vec<String>,
    /// `bench` on the cluster's nodes (default: this build's own executable, for a
    /// filesystem the nodes share).
    pub bench: Option<String>,
    /// How often the build asks the cluster about its jobs.
    pub poll_secs: f64,
}

/// The cluster schedulers bench hands work to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterExecutor {
    Slurm,
}

impl ClusterExecutor {
    pub const NAMES: &'static [&'static str] = &["slurm"];

    pub fn parse(s: &str) -> Option<Self> {
        (s == "slurm").then_some(Self::Slurm)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Validate {
    pub max_error_rate: f64,
    pub min_completed: f64,
    pub max_token_mismatch: f64,
}

impl Default for Validate {
    fn default() -> Self {
        Self {
            max_error_rate: 0.01,
            min_completed: 0.98,
            max_token_mismatch: 0.05,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Aggregate {
    pub percentiles: Vec<f64>,
    pub confidence: f64,
}

impl Default for Aggregate {
    fn default() -> Self {
        Self {
            percentiles: vec![50.0, 90.0, 95.0, 99.0, 99.9],
            confidence: 0.95,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Maximize,
    Minimize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Objective {
    pub metric: Spanned<String>,
    pub direction: Direction,
    pub weight: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Constraint {
    pub metric: Spanned<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// TOPSIS order within non-dominated fronts (front first, closeness second).
    Combined,
    Topsis,
    Pareto,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalization {
    Minmax,
    Vector,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Optimize {
    pub objectives: Vec<Objective>,
    pub constraints: Vec<Constraint>,
    pub method: Method,
    pub normalization: Normalization,
    pub profile: Option<Spanned<String>>,
    pub top: u32,
}

/// The named weight profiles `profile` may name.
pub const PROFILES: &[&str] = &["balanced", "latency", "throughput", "cost"];

impl Default for Optimize {
    fn default() -> Self {
        Self {
            objectives: Vec::new(),
            constraints: Vec::new(),
            method: Method::Combined,
            normalization: Normalization::Minmax,
            profile: None,
            top: 10,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum NotifyTarget {
    Webhook { url: String },
    Email { to: String },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notify {
    /// Never part of a key, a log line or a report: webhook URLs often carry tokens.
    #[serde(skip)]
    pub target: NotifyTarget,
    pub on: Vec<String>,
}

/// When notifications fire.
pub const NOTIFY_EVENTS: &[&str] = &["start", "finish", "failure"];

/// An adaptive search (`search { strategy "surrogate"; budget "10%"; batch 16; seed 7 }`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Search {
    /// `surrogate` (the default), `nsga2` or `random`.
    pub strategy: String,
    pub budget: Budget,
    /// Configurations and load points proposed per generation.
    pub batch: u32,
    pub seed: u64,
    /// Generations in a row whose results do not move the front before the search stops
    /// short of its budget.
    pub patience: u32,
    #[serde(skip)]
    pub span: SourceSpan,
}

/// The search strategies a sweep may name.
pub const SEARCH_STRATEGIES: &[&str] = &["surrogate", "nsga2", "random"];

/// How much of the grid a search measures.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Budget {
    /// This many candidates (configuration × load point).
    Count(u32),
    /// This fraction of the candidates (`"10%"` is 0.1).
    Fraction(f64),
}

impl Budget {
    /// Candidates out of `of`: at least one, at most all.
    pub fn of(self, of: usize) -> usize {
        let n = match self {
            Budget::Count(n) => n as usize,
            Budget::Fraction(f) => (f * of as f64).ceil() as usize,
        };
        n.clamp(1.min(of), of)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Retry {
    /// Attempts per node, the first included.
    pub attempts: u32,
    /// First backoff; doubled on each retry, with jitter.
    pub backoff_secs: f64,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 3,
            backoff_secs: 5.0,
        }
    }
}
