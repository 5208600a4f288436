//! The keyed parameters of each node kind: one typed definition, serialized by the planner
//! into the canonical JSON its keys hash and read back by the actions. A field added here
//! changes every key of its kind, so it is added with a default that serializes as before,
//! or with a kind version bump.
//!
//! Optional fields serialize as `null` unless marked otherwise: that is how the keys of
//! existing caches were computed.

use std::collections::BTreeMap;

use bench_catalog::ArchFacts;
use serde::{Deserialize, Serialize};

/// Where a model comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelSourceKind {
    Hub,
    Local,
}

impl ModelSourceKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Hub => "hub",
            Self::Local => "local",
        }
    }
}

/// A download: a hub model at a pinned commit, or a local directory by the digest of its
/// files. Unpinned (a plan that could not resolve the revision), the revision or path as
/// the sweep names it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DownloadParams {
    pub source: ModelSourceKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// For hub weights: the commit (pinned before keys), else the revision as named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// An unpinned local directory (never in the key of a pinned one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A pinned local directory: the digest of its files' manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The file patterns fetched (pinned downloads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
    /// False when only simulated or endpoint configurations use the model: no weights.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub weights: bool,
    /// The facts a facts-only download produces (they drive the simulator, so they are keyed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<ArchFacts>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// An engine image made runnable on the hosts of a GPU type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetupParams {
    pub engine: String,
    pub image: String,
    pub gpu: String,
    /// In containers: the image the hosts hold under the tag (a new image reruns setup).
    #[serde(
        default,
        rename = "image-digest",
        skip_serializing_if = "Option::is_none"
    )]
    pub image_digest: Option<String>,
}

/// One bench run: a configuration at one load point, one repeat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchParams {
    pub config: BenchConfig,
    pub run: RunSpec,
}

/// What a bench node runs, besides its load point and repeat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BenchConfig {
    pub batch_size: u32,
    /// The command line of an engine the sweep declares by one; absent for plugins (and
    /// from their keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandSpec>,
    pub dtype: String,
    pub engine: String,
    /// Engine flags from the sweep (engine block, then engine-arg axes).
    pub engine_args: serde_json::Map<String, serde_json::Value>,
    pub env: BTreeMap<String, String>,
    pub gpu: String,
    pub gpus: u32,
    pub kv_cache: String,
    pub quantization: String,
    pub seq_len: u32,
    pub workload: WorkloadSpec,
}

/// An engine run by its command line: the words with the configuration's values filled
/// in; `{port}`, `{host}`, `{model}` and `{served-model-name}` are filled where it runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandSpec {
    pub argv: Vec<String>,
    /// `openai` (chat or completions, as the workload says), `openai-chat`,
    /// `openai-completions` or `tgi`.
    pub api: String,
    pub health: String,
}

/// A workload as it enters keys: no name (a label), no path (the content digest instead),
/// no SLOs (they do not change what is measured).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSpec {
    pub api: Api,
    pub dataset: DatasetSpec,
    pub seed: u64,
    pub stop: StopSpec,
    pub warmup: u32,
}

/// Which API family requests go through; the engine picks its dialect within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Api {
    Completions,
    Chat,
}

/// How an eval answer is scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scoring {
    /// The trimmed output equals the answer, ignoring case.
    ExactMatch,
    /// The output contains the answer, ignoring case.
    Contains,
    /// The first standalone letter A–J of the output is the answer's letter.
    Choice,
}

impl Scoring {
    /// Whether `output` answers `expected`.
    pub fn score(self, output: &str, expected: &str) -> bool {
        let out = output.trim().to_lowercase();
        let exp = expected.trim().to_lowercase();
        match self {
            Scoring::ExactMatch => out == exp,
            Scoring::Contains => !exp.is_empty() && out.contains(&exp),
            Scoring::Choice => {
                // The first standalone capital letter A–J ("I" as a word is not a choice).
                let letter = |s: &str| {
                    s.split(|c: char| !c.is_ascii_alphanumeric())
                        .find(|w| {
                            w.len() == 1
                                && w != &"I"
                                && ('A'..='J').contains(&w.chars().next().unwrap_or(' '))
                        })
                        .map(String::from)
                };
                let got = letter(output.trim());
                got.is_some() && got == letter(&expected.trim().to_uppercase())
            }
        }
    }
}

/// A dataset: synthetic, or a file keyed by its content digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
pub enum DatasetSpec {
    Random {
        input_len: u32,
        output_len: u32,
        spread: f64,
    },
    Jsonl {
        #[serde(flatten)]
        file: FileRef,
        output_len: u32,
    },
    Sharegpt {
        #[serde(flatten)]
        file: FileRef,
        output_len: Option<u32>,
    },
    Eval {
        #[serde(flatten)]
        file: FileRef,
        scoring: Scoring,
        output_len: u32,
    },
}

/// A dataset file: its content digest once the planner has read it, else its path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// When a run stops.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopSpec {
    Requests(u64),
    DurationSecs(f64),
}

/// One load point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
pub enum LoadSpec {
    /// Closed loop: N requests in flight.
    Concurrency { concurrency: u32 },
    /// Open loop: gamma-distributed gaps at `rate` requests/s (burstiness 1 = Poisson).
    Rate {
        rate: f64,
        burstiness: f64,
        max_concurrency: Option<u32>,
    },
}

/// The load point and the repeat of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    pub load: LoadSpec,
    pub repeat: u32,
}

/// The gates of a validate node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ValidateParams {
    pub max_error_rate: f64,
    pub min_completed: f64,
    pub max_token_mismatch: f64,
}

/// Per-request service-level objectives (milliseconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SloSpec {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
}

/// How an aggregate pools a configuration's repeats at one load point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AggregateParams {
    pub percentiles: Vec<f64>,
    pub confidence: f64,
    pub slo: SloSpec,
    pub price_per_gpu_hour: Option<f64>,
    pub gpus: u32,
}

/// `maximize` or `minimize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Maximize,
    Minimize,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Self::Maximize => "maximize",
            Self::Minimize => "minimize",
        }
    }
}

/// One objective of the ranking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveSpec {
    pub metric: String,
    pub direction: Direction,
    pub weight: f64,
}

impl std::fmt::Display for ObjectiveSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let arrow = match self.direction {
            Direction::Maximize => "↑",
            Direction::Minimize => "↓",
        };
        write!(f, "{} {arrow} ×{}", self.metric, self.weight)
    }
}

/// A bound a recommended configuration must meet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConstraintSpec {
    pub metric: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// How configurations are ranked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// TOPSIS order within non-dominated fronts (front first, closeness second).
    Combined,
    Topsis,
    Pareto,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Self::Combined => "combined",
            Self::Topsis => "topsis",
            Self::Pareto => "pareto",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalization {
    Minmax,
    Vector,
}

impl Normalization {
    pub fn name(self) -> &'static str {
        match self {
            Self::Minmax => "minmax",
            Self::Vector => "vector",
        }
    }
}

/// The ranking of every aggregate of the sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizeParams {
    pub objectives: Vec<ObjectiveSpec>,
    pub constraints: Vec<ConstraintSpec>,
    pub method: Method,
    pub normalization: Normalization,
    pub profile: Option<String>,
    pub top: u32,
}

/// The params of a node of any kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Params {
    Download(DownloadParams),
    Setup(SetupParams),
    Bench(BenchParams),
    Validate(ValidateParams),
    Aggregate(AggregateParams),
    Optimize(OptimizeParams),
}

impl Params {
    pub fn kind(&self) -> crate::NodeKind {
        use crate::NodeKind as K;
        match self {
            Params::Download(_) => K::Download,
            Params::Setup(_) => K::Setup,
            Params::Bench(_) => K::Bench,
            Params::Validate(_) => K::Validate,
            Params::Aggregate(_) => K::Aggregate,
            Params::Optimize(_) => K::Optimize,
        }
    }

    /// The canonical JSON the key hashes.
    pub fn to_json(&self) -> serde_json::Value {
        let v = match self {
            Params::Download(p) => serde_json::to_value(p),
            Params::Setup(p) => serde_json::to_value(p),
            Params::Bench(p) => serde_json::to_value(p),
            Params::Validate(p) => serde_json::to_value(p),
            Params::Aggregate(p) => serde_json::to_value(p),
            Params::Optimize(p) => serde_json::to_value(p),
        };
        // Plain data with string keys: serialization cannot fail.
        v.unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn datasets_serialize_as_keys_always_had_them() {
        let d = DatasetSpec::Jsonl {
            file: FileRef {
                digest: Some("abc".into()),
                path: None,
            },
            output_len: 64,
        };
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            json!({"type": "jsonl", "digest": "abc", "output-len": 64})
        );
        let s = DatasetSpec::Sharegpt {
            file: FileRef {
                digest: Some("abc".into()),
                path: None,
            },
            output_len: None,
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"type": "sharegpt", "digest": "abc", "output-len": null})
        );
        assert_eq!(
            serde_json::from_value::<DatasetSpec>(serde_json::to_value(&s).unwrap()).unwrap(),
            s
        );
    }

    #[test]
    fn stops_and_loads_serialize_as_keys_always_had_them() {
        assert_eq!(
            serde_json::to_value(StopSpec::Requests(64)).unwrap(),
            json!({"requests": 64})
        );
        assert_eq!(
            serde_json::to_value(StopSpec::DurationSecs(30.0)).unwrap(),
            json!({"duration-secs": 30.0})
        );
        assert_eq!(
            serde_json::to_value(LoadSpec::Rate {
                rate: 2.5,
                burstiness: 1.0,
                max_concurrency: None
            })
            .unwrap(),
            json!({"type": "rate", "rate": 2.5, "burstiness": 1.0, "max-concurrency": null})
        );
    }

    #[test]
    fn a_download_omits_what_it_does_not_have() {
        let p = DownloadParams {
            source: ModelSourceKind::Hub,
            id: Some("org/m".into()),
            revision: Some("main".into()),
            path: None,
            digest: None,
            files: None,
            weights: true,
            facts: None,
        };
        assert_eq!(
            Params::Download(p.clone()).to_json(),
            json!({"source": "hub", "id": "org/m", "revision": "main"})
        );
        let back: DownloadParams =
            serde_json::from_value(json!({"source": "hub", "id": "org/m", "revision": "main"}))
                .unwrap();
        assert_eq!(back, p);
    }
}
