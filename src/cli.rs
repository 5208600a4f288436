//! Command-line interface: every command and flag, with the help text users read.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// A declarative, build-system-style engine for LLM-inference benchmark sweeps.
///
/// A sweep (KDL) of models × engines × quantizations × GPUs × batch sizes × sequence lengths ×
/// workloads compiles into a content-hashed DAG: download → setup → bench → validate →
/// aggregate → optimize. Keys decide what runs again.
#[derive(Debug, Parser)]
#[command(
    name = "bench",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// More log output (-v: debug, -vv: trace). Logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Rehearse: run every configuration on the simulated engine, in its engine's dialect.
    /// Simulated results are keyed and labelled apart (`vllm~sim`) and never mixed with
    /// real ones; give the flag to `plan`, `status` and `explain` too to see them.
    #[arg(long, global = true)]
    pub simulate: bool,

    /// Run every host's engines in containers on the local Docker Engine (`DOCKER_HOST`, or
    /// the local socket), whatever the sweep's hosts say: e.g. the demo's sim engine in the
    /// image `bench sim-image` builds. Give it to `plan`, `status` and `explain` too.
    #[arg(long, global = true, conflicts_with = "simulate")]
    pub docker: bool,

    /// Ask no hub or registry: model revisions and image digests are the last ones
    /// remembered in the cache (also with HF_HUB_OFFLINE=1).
    #[arg(long, global = true)]
    pub offline: bool,

    #[command(flatten)]
    pub cache: CacheDir,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile a sweep and show what would run: node counts, pruned configurations and why.
    Plan(PlanArgs),
    /// Validate a sweep: exit status 0 when it compiles, 1 when it has errors.
    Check(CheckArgs),
    /// Predict every configuration at every load point without a GPU (the roofline model
    /// in closed form): TTFT, TPOT, latency, throughput, GPU memory, cost, and what
    /// running the whole sweep would take. An estimate, never stored as a measurement.
    Estimate(EstimateArgs),
    /// Print the DAG in Graphviz dot or Mermaid.
    Graph(GraphArgs),
    /// Run every node that is not committed in the cache, in priority order (a sweep with a
    /// `search` block: its budget, generation by generation; `--grid` for all of it).
    Build(BuildArgs),
    /// Done, pending and failed nodes per kind, and the last error of each failed node.
    Status(StatusArgs),
    /// Why a node's key is what it is, and what differs from the last committed key of the
    /// same node (like `ninja -d explain`).
    Explain(NodeArgs),
    /// The measured results: one row per configuration and load point, in recommendation
    /// order, with the reasons of the invalid ones.
    Results(ResultsArgs),
    /// Compare a baseline's results with a candidate's, configuration by configuration: the
    /// change in each objective, beyond noise or not, as a Markdown table. Exit status 1
    /// when a change regresses beyond the threshold and beyond noise (a CI gate).
    Compare(CompareArgs),
    /// Rank the rows of any table (CSV or Parquet) by TOPSIS or Pareto fronts: re-rank results with new
    /// weights without rerunning anything.
    Rank(RankArgs),
    /// Run SQL over the results store (tables: runs, requests, validations, configs,
    /// metrics, recommendations; see docs/schema.md).
    Query(QueryArgs),
    /// Ranked recommendations from the stored results of a sweep, by a weight profile or
    /// explicit weights, without rerunning anything.
    Recommend(RecommendArgs),
    /// Write a self-contained HTML report (recommendations, the Pareto front, every
    /// configuration, failed validations) and a Markdown summary for CI comments.
    Report(ReportArgs),
    /// Write a table or a query of the results store to Parquet, CSV or JSON; or, as
    /// `bench export argo|k8s SWEEP`, the sweep's remaining work as an Argo Workflow or
    /// Kubernetes Jobs for a cluster.
    Export(ExportArgs),
    /// Print every kept attempt log of a node.
    Logs(NodeArgs),
    /// Each host of a sweep: how bench reaches it and which GPUs it has (NVML or
    /// nvidia-smi on this machine, what the Docker daemon reports for remote hosts).
    Hosts(HostsArgs),
    /// Remove what builds leave behind: engine containers that no running build owns.
    Clean(CleanArgs),
    /// Build the sim engine's container image (`bench/sim-engine:1`) on the local Docker
    /// Engine, from this machine's bench: no registry needed.
    SimImage(SimImageArgs),
    /// Remove cache entries: those no given sweep references, or by age or size.
    Gc(GcArgs),
    /// Inspect the cache.
    Cache(CacheArgs),
    /// Drive load against a server that is already running and print its metrics (no DAG).
    Load(LoadArgs),
    /// Run one node's attempt from its job spec (used by executors on the far side).
    #[command(hide = true)]
    ExecNode { spec: PathBuf },
    /// Serve the simulated engine (what simulated bench nodes start; also shipped alone as
    /// `bench-sim-engine`).
    #[command(hide = true)]
    SimEngine(bench_sim::cli::SimArgs),
}

/// `openai-completions` (`/v1/completions`), `openai-chat` (`/v1/chat/completions`), `tgi`
/// (`/generate_stream`): each streamed.
fn dialect() -> impl clap::builder::TypedValueParser<Value = bench_node::records::Dialect> {
    use bench_node::records::Dialect;
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Dialect::ALL.map(Dialect::name))
        .map(|s| Dialect::parse(&s).unwrap_or(Dialect::OpenaiCompletions))
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("load").required(true).args(["concurrency", "rate"])))]
pub struct LoadArgs {
    /// Base URL of the server, e.g. http://127.0.0.1:8000.
    #[arg(long)]
    pub url: String,
    /// The server's API: openai-completions, openai-chat or tgi (each streamed).
    #[arg(long, value_parser = dialect())]
    pub dialect: bench_node::records::Dialect,
    /// Model name the server serves.
    #[arg(long)]
    pub model: String,
    /// Closed loop: requests in flight.
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Open loop: requests per second (gamma-distributed gaps).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open loop: 1.0 is Poisson, below 1 burstier.
    #[arg(long, default_value_t = 1.0, requires = "rate")]
    pub burstiness: f64,
    /// Open loop: at most this many requests in flight (waiting time is reported as queue).
    #[arg(long, requires = "rate")]
    pub max_concurrency: Option<u32>,
    /// Measured requests.
    #[arg(long, default_value_t = 200)]
    pub requests: u64,
    /// Stop after this long instead of a request count (e.g. 60s).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Requests sent first and not measured (under the same concurrency).
    #[arg(long, default_value_t = 10)]
    pub warmup: u64,
    /// Prompt length in tokens (random dataset).
    #[arg(long, default_value_t = 512)]
    pub input_len: u32,
    /// Output length in tokens.
    #[arg(long, default_value_t = 128)]
    pub output_len: u32,
    /// Lengths vary uniformly within ± this fraction.
    #[arg(long, default_value_t = 0.0)]
    pub spread: f64,
    /// Prompts from a file instead: jsonl:PATH, sharegpt:PATH or eval:PATH[:exact-match|contains|choice].
    #[arg(long)]
    pub dataset: Option<String>,
    /// The model's tokenizer (tokenizer.json, a model directory, or a hub id in the HF
    /// cache): prompts of exact lengths, outputs counted when a server sends no usage.
    #[arg(long)]
    pub tokenizer: Option<String>,
    /// Do not force the output length with ignore_eos.
    #[arg(long)]
    pub no_ignore_eos: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Per-request timeout.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// Goodput SLOs, milliseconds.
    #[arg(long)]
    pub slo_ttft_ms: Option<f64>,
    #[arg(long)]
    pub slo_tpot_ms: Option<f64>,
    #[arg(long)]
    pub slo_e2e_ms: Option<f64>,
    /// Percentiles to report.
    #[arg(long, value_delimiter = ',', default_value = "50,90,95,99,99.9")]
    pub percentiles: Vec<f64>,
    /// Print the metrics, their definitions and every request record as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where the cache is: `--cache`, else `$BENCH_CACHE`, else `.bench/cache` beside the sweep.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CacheDir {
    /// The cache directory.
    #[arg(long, global = true, env = "BENCH_CACHE")]
    pub cache: Option<PathBuf>,
}

impl CacheDir {
    /// The cache of a sweep: this one, else `.bench/cache` beside the sweep.
    pub fn dir(&self, sweep: Option<&std::path::Path>) -> PathBuf {
        bench_driver::paths::cache_dir(self.cache.as_deref(), sweep)
    }
}

fn actions() -> impl clap::builder::TypedValueParser<Value = bench_node::Actions> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["real", "test"])
        .map(|s| bench_node::Actions::parse(&s).unwrap_or_default())
}

fn executor() -> impl clap::builder::TypedValueParser<Value = bench_exec::ExecutorKind> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(bench_exec::ExecutorKind::ALL.map(|k| k.name()))
        .map(|s| bench_exec::ExecutorKind::parse(&s).unwrap_or(bench_exec::ExecutorKind::Local))
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SpotNotice {
    Off,
    Aws,
    Gcp,
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The sweep file.
    pub sweep: PathBuf,
    /// Show the plan (what is cached, what would run and why) and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep building what does not depend on a failed node (default: stop launching at the
    /// first failure and let running nodes finish).
    #[arg(long)]
    pub keep_going: bool,
    /// Run the whole matrix even when the sweep has a `search` block (which otherwise
    /// measures its budget, generation by generation).
    #[arg(long)]
    pub grid: bool,
    /// Nodes running at once (GPU slots of the hosts limit bench nodes further).
    #[arg(short, long, default_value_t = 8)]
    pub jobs: usize,
    /// Build only this node (by key, or a key's start, or label) and what it needs that is
    /// not committed; repeatable. What an exported workflow's pods run.
    #[arg(long = "node", value_name = "KEY|LABEL")]
    pub nodes: Vec<String>,
    /// Print only the summary and errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// `real`: the work of each node kind; `test`: a deterministic stand-in (each node
    /// hashes its inputs) that rehearses the DAG, the cache and the scheduler without
    /// engines or GPUs.
    #[arg(long, default_value = "real", value_parser = actions())]
    pub actions: bench_node::Actions,
    /// The results store the build's results go into (default: .bench/results.duckdb
    /// beside the sweep).
    #[arg(long, env = "BENCH_RESULTS_DB")]
    pub db: Option<PathBuf>,
    /// Where attempts run: `local`, each in a child process (`bench exec-node`); light
    /// kinds (validate, aggregate, optimize) run on a thread of the build either way;
    /// `in-process`, every attempt on a thread of the build process.
    #[arg(long, default_value = "local", value_parser = executor())]
    pub executor: bench_exec::ExecutorKind,
    /// Poll a cloud metadata service for spot-interruption notices. SIGTERM always counts
    /// as a notice.
    #[arg(long, value_enum, default_value = "off")]
    pub spot_notice: SpotNotice,
    /// Base URL of the metadata service (default: the provider's).
    #[arg(long, env = "BENCH_METADATA_URL")]
    pub metadata_url: Option<String>,
    /// How long in-flight nodes may take after a notice before they are stopped.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub notice_window: std::time::Duration,
    /// How often the metadata service is polled.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub poll_interval: std::time::Duration,
    /// Share the cache through object storage, behind the local one: `s3://BUCKET/PREFIX`
    /// (and S3-compatible stores), `gs://…`, `az://…`, `file:///DIR` (NFS). Credentials
    /// come from the store's standard environment (AWS_*, GOOGLE_*, AZURE_*), never from
    /// the URL. Nodes another machine committed are not run; what runs here is uploaded.
    #[arg(long, env = "BENCH_REMOTE_CACHE", value_name = "URL")]
    pub remote_cache: Option<String>,
    /// Read the remote cache, never write it (pull requests from forks).
    #[arg(long, env = "BENCH_REMOTE_CACHE_READ_ONLY", requires = "remote_cache")]
    pub remote_cache_read_only: bool,
    /// Fail the build when the remote cache fails (default: one warning, and the build
    /// goes on with the local cache).
    #[arg(long, requires = "remote_cache")]
    pub remote_cache_strict: bool,
    /// CI mode (also when `CI=true`): one plain line per event, and a Markdown summary of
    /// the build (its failures, the remote cache, the top results) appended to
    /// `$GITHUB_STEP_SUMMARY` when that is set.
    #[arg(long, env = "CI")]
    pub ci: bool,
    /// Append the Markdown summary to this file (default in CI mode: `$GITHUB_STEP_SUMMARY`).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Write JUnit XML of the sweep's validations and the build's failed nodes here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Parser)]
pub struct CompareArgs {
    /// The baseline: a sweep (its results in its cache, with every request's timings for
    /// the rank test), a results store (`.duckdb`, read-only: the latest of each
    /// configuration, with its requests), a `bench results SWEEP --json` export, or an
    /// export of the store's `aggregates` view (`.parquet`, `.csv`).
    pub baseline: PathBuf,
    /// The candidate, the same way.
    pub candidate: PathBuf,
    /// A change smaller than this, relative to the baseline, is no change.
    #[arg(long, default_value = "5%", value_parser = percent)]
    pub threshold: f64,
    /// Significance level of the Mann-Whitney U test on per-request samples (TTFT and
    /// end-to-end latency, when both sides are sweeps).
    #[arg(long, default_value_t = 0.01)]
    pub alpha: f64,
    /// An objective, `METRIC:max` or `METRIC:min` (repeatable; default: the candidate
    /// sweep's optimize objectives, else output-throughput:max, ttft-p95:min, tpot-p95:min).
    #[arg(long = "objective", value_name = "METRIC:max|min", value_parser = bench_driver::rank::parse_criterion)]
    pub objectives: Vec<bench_driver::rank::CriterionArg>,
    /// The comparison as JSON instead of Markdown.
    #[arg(long)]
    pub json: bool,
    /// Also write the Markdown table to this file (a pull request comment).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Read a sweep side's results through this shared cache too (read-only: the
    /// baseline a CI runner never built itself, e.g. main's version of the sweep).
    #[arg(long, env = "BENCH_REMOTE_CACHE", value_name = "URL")]
    pub remote_cache: Option<String>,
}

/// `5%` or `0.05`.
fn percent(s: &str) -> Result<f64, String> {
    let v = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|x| x / 100.0),
        None => s.trim().parse::<f64>(),
    }
    .map_err(|_| format!("`{s}` is not a percentage (5% or 0.05)"))?;
    if (0.0..10.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("`{s}` is out of range"))
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum RankMethod {
    /// TOPSIS closeness; ties share a rank.
    Topsis,
    /// Non-dominated front, then crowding distance (larger first).
    Pareto,
    /// Front first, TOPSIS closeness within it (what `optimize` does by default).
    Combined,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum NormArg {
    /// (x − min) / (max − min), reversed for costs.
    Minmax,
    /// x / ‖column‖₂.
    Vector,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum RankFormat {
    Json,
    Table,
}

/// `--criteria ttft_p95:min:0.3,throughput:max:0.7`: JSON output is an array in input order
/// with `row` (0-based), `score` (TOPSIS closeness; null for pareto), `rank` (1 = best),
/// `front` (0-based non-dominated front) and `crowding` (null when infinite). Rows with an
/// empty or NaN cell in a weighted criterion get null score, rank and front.
#[derive(Debug, clap::Args)]
pub struct RankArgs {
    /// The table: a CSV file with a header row, or a Parquet file (`.parquet`).
    #[arg(long)]
    pub input: PathBuf,
    /// NAME:max|min[:WEIGHT], comma-separated (weight 1 when left out).
    #[arg(long, value_delimiter = ',', value_parser = bench_driver::rank::parse_criterion, required = true)]
    pub criteria: Vec<bench_driver::rank::CriterionArg>,
    #[arg(long, value_enum, default_value = "topsis")]
    pub method: RankMethod,
    #[arg(long, value_enum, default_value = "minmax")]
    pub normalization: NormArg,
    #[arg(long, value_enum, default_value = "table")]
    pub format: RankFormat,
}

#[derive(Debug, clap::Args)]
pub struct RecommendArgs {
    /// The sweep file.
    pub sweep: PathBuf,
    /// A named weight profile: balanced, latency, throughput, cost.
    #[arg(long, conflicts_with = "weights")]
    pub profile: Option<String>,
    /// Explicit objectives: METRIC:max|min[:WEIGHT],... (e.g. ttft-p95:min:0.7,output-throughput:max:0.3).
    #[arg(long, value_delimiter = ',', value_parser = bench_driver::rank::parse_criterion)]
    pub weights: Vec<bench_driver::rank::CriterionArg>,
    /// How many to show (default: the sweep's `top`).
    #[arg(long)]
    pub top: Option<usize>,
    /// The results store (default: .bench/results.duckdb beside the sweep).
    #[arg(long, env = "BENCH_RESULTS_DB")]
    pub db: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The sweep file.
    pub sweep: PathBuf,
    /// The HTML file (default: report.html).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The Markdown summary (default: the HTML file with .md).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// The SQL, e.g. "SELECT label, value FROM configs JOIN metrics USING (node_key) WHERE metric = 'ttft-p95'".
    pub sql: String,
    /// The results store (default: .bench/results.duckdb).
    #[arg(long, env = "BENCH_RESULTS_DB")]
    pub db: Option<PathBuf>,
    /// Rows as a JSON array of objects.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum WorkflowKind {
    /// An Argo Workflows `Workflow`.
    Argo,
    /// Kubernetes `Job`s (and a ConfigMap, PriorityClasses), as a multi-document stream.
    K8s,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    Parquet,
    Csv,
    /// Newline-delimited JSON.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Instead of a table: the sweep's remaining work as an Argo `Workflow` (`argo`, one
    /// task per node not yet committed, dependencies as in the plan) or as Kubernetes
    /// indexed `Job`s (`k8s`, per shape of the bench nodes), written as JSON (which
    /// kubectl and argo read as YAML). Each pod runs `bench build SWEEP --node KEY` against
    /// the shared cache.
    #[arg(value_enum, requires = "sweep")]
    pub workflow: Option<WorkflowKind>,
    /// The sweep file (with `argo` or `k8s`).
    pub sweep: Option<PathBuf>,
    #[arg(long, value_enum, required_unless_present = "workflow")]
    pub format: Option<ExportFormat>,
    /// The file to write (with `argo` or `k8s`: default standard output).
    #[arg(short, long, required_unless_present = "workflow")]
    pub output: Option<PathBuf>,
    /// The image the pods run: `bench`, and the engines (or `bench-sim-engine`).
    #[arg(long, default_value = concat!("bench:", env!("CARGO_PKG_VERSION")))]
    pub image: String,
    /// A ReadWriteMany PersistentVolumeClaim holding the cache, mounted in every pod at the
    /// cache's own path.
    #[arg(long, default_value = "bench-cache")]
    pub pvc: String,
    /// The namespace of the objects.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Every node, also those the local cache has committed.
    #[arg(long)]
    pub all: bool,
    /// At most this many tasks per Argo workflow (0: one workflow, however large), or pods
    /// per Kubernetes Job (0: Kubernetes' 100,000). A larger sweep goes out as several
    /// workflows of whole configurations, or several Jobs per shape: Argo keeps a workflow
    /// in one etcd object (1 MiB at most) and slows with thousands of nodes per workflow; a
    /// Job's keys live in a ConfigMap (1 MiB at most).
    #[arg(long, default_value_t = 1000)]
    pub max_tasks: usize,
    /// `k8s`: pods of one Job running at once.
    #[arg(long, default_value_t = 8)]
    pub parallelism: u32,
    /// The table to export.
    #[arg(long, default_value = "configs", conflicts_with = "sql")]
    pub table: String,
    /// A query to export instead of a table.
    #[arg(long)]
    pub sql: Option<String>,
    /// The results store (default: .bench/results.duckdb).
    #[arg(long, env = "BENCH_RESULTS_DB")]
    pub db: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ResultsArgs {
    /// The sweep file.
    pub sweep: PathBuf,
    /// Every row (default: the first 20).
    #[arg(long)]
    pub all: bool,
    /// Print the rows, with every aggregated metric, and the recommendations as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The sweep file.
    pub sweep: PathBuf,
    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// The sweep file.
    pub sweep: PathBuf,
    /// A node: its label (as `bench plan --json` prints it) or a key prefix of 6+ hex digits.
    pub node: String,
}

#[derive(Debug, clap::Args)]
pub struct HostsArgs {
    /// The sweep file.
    pub sweep: PathBuf,
    /// One JSON object per host instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct CleanArgs {
    /// Remove bench's engine containers whose build is no longer running.
    #[arg(long, required = true)]
    pub containers: bool,
    /// The Docker hosts of this sweep (default: the local Docker Engine).
    pub sweep: Option<PathBuf>,
    /// Also containers started from other machines' caches, whose liveness this machine
    /// cannot see (only when no build anywhere uses these hosts).
    #[arg(long)]
    pub all: bool,
    /// Say what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct SimImageArgs {
    /// The image's tag (the sim engine plugin's default image).
    #[arg(long, default_value = "bench/sim-engine:1")]
    pub tag: String,
    /// The sim engine program to put in the image (default: `bench-sim-engine` beside this
    /// executable, else this executable itself).
    #[arg(long)]
    pub program: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// Keep what these sweeps reference; remove every other entry.
    pub sweeps: Vec<PathBuf>,
    /// Remove entries older than this (e.g. 30d).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub older_than: Option<std::time::Duration>,
    /// Remove the oldest entries until the blobs fit (e.g. 50GiB, 500MB).
    #[arg(long, value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Say what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Entries, blobs and bytes in the cache.
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Re-hash every committed output, whatever the stat index says (a build trusts a blob
    /// whose size, mtime, ctime and inode are unchanged since it was hashed); corrupt
    /// entries are set aside and their nodes run again. Exit status 1 when any was found.
    Verify {
        #[arg(long)]
        json: bool,
    },
}

/// `500MB`, `50GiB`, `1024` (KB, MB, … are powers of 1000; KiB, MiB, … of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    s.trim().parse::<bytesize::ByteSize>().map(|b| b.as_u64())
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The sweep file.
    pub sweep: PathBuf,
    /// Print every node (key, kind, label, params, inputs, status) and every pruned
    /// configuration as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// List every pruned configuration with its reason, not only the count per reason.
    #[arg(long)]
    pub show_pruned: bool,
    /// Add what running the bench nodes would take, by `bench estimate`'s model.
    #[arg(long)]
    pub estimate: bool,
}

#[derive(Debug, clap::Args)]
pub struct EstimateArgs {
    /// The sweep file.
    pub sweep: PathBuf,
    /// One JSON object per configuration and load point, one per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The sweep files.
    #[arg(required = true)]
    pub sweeps: Vec<PathBuf>,
    /// Treat warnings as errors.
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// The sweep file.
    pub sweep: PathBuf,
    #[arg(long, value_enum, default_value = "dot")]
    pub format: GraphFormat,
}
