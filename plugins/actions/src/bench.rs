//! The bench node: the engine (a simulated one as a child process, or an endpoint that is
//! already serving), the workload driven against it by the load generator, and every
//! request's record written out. Metrics here are per run and without SLOs; the aggregate
//! node pools repeats and applies the workload's SLOs.

use std::path::PathBuf;
use std::time::Duration;

use bench_catalog::memory::{DEFAULT_UTILIZATION, MemoryInput};
use bench_catalog::{ArchFacts, Dtype, GpuSpec, KvCacheDtype, Quantization};
use bench_exec::job::{Action, JobSpec};
use bench_exec::{Failure, FailureClass};
use bench_loadgen::{Dialect, Load, LoadConfig, Metrics, Prompt, Record, Scoring, Slo, Stop};
use serde::{Deserialize, Serialize};

use crate::container::{ContainerContext, ContainerInfo};
use crate::download::ModelInfo;
use crate::setup::SetupOutput;
use crate::sim::SimProcess;
use crate::{infra, inputs, output, outputs, params, permanent, read_json, write_json};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct Config {
    pub batch_size: u32,
    pub dtype: String,
    pub engine: String,
    pub gpu: String,
    pub gpus: u32,
    pub kv_cache: String,
    pub quantization: String,
    pub seq_len: u32,
    pub workload: Workload,
    /// Engine flags from the sweep (engine block and engine-arg axes).
    #[serde(default)]
    pub engine_args: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct Workload {
    pub api: String,
    pub dataset: Dataset,
    pub seed: u64,
    pub stop: StopSpec,
    pub warmup: u32,
}

#[derive(Debug, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
pub(crate) enum Dataset {
    Random {
        input_len: u32,
        output_len: u32,
        spread: f64,
    },
    Jsonl {
        digest: String,
        output_len: u32,
    },
    Sharegpt {
        digest: String,
        output_len: Option<u32>,
    },
    Eval {
        digest: String,
        scoring: String,
        output_len: u32,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct StopSpec {
    pub requests: Option<u64>,
    pub duration_secs: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
pub(crate) enum LoadSpec {
    Concurrency {
        concurrency: u32,
    },
    Rate {
        rate: f64,
        burstiness: f64,
        max_concurrency: Option<u32>,
    },
}

#[derive(Debug, Deserialize)]
pub(crate) struct RunSpec {
    pub load: LoadSpec,
    pub repeat: u32,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Params {
    pub config: Config,
    pub run: RunSpec,
}

/// What a bench attempt needs that is not keyed (built by the planner's caller).
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
    /// For engines in containers: the build the container belongs to, and its limits.
    #[serde(default)]
    pub container: Option<ContainerContext>,
}


pub struct Bench;

impl Action for Bench {
    fn run(&self, job: &JobSpec) -> Result<(), Failure> {
        let p: Params = params(job)?;
        let ctx: BenchContext = serde_json::from_value(job.context.clone())
            .map_err(|e| permanent(format!("bench node without its context: {e}")))?;
        let model_input = inputs(job, "download")
            .next()
            .ok_or_else(|| permanent("a bench node needs its model's download node"))?;
        let model: ModelInfo = read_json(output(model_input, outputs::MODEL)?)?;
        let c = &p.config;
        let registry = bench_engines::builtin();
        let plugin = registry
            .iter()
            .find(|e| e.name() == c.engine)
            .ok_or_else(|| permanent(format!("no engine plugin `{}` in this build", c.engine)))?;
        let chat = c.workload.api == "chat";
        let dialect = Dialect::parse(plugin.dialect(chat)).ok_or_else(|| {
            permanent(format!("engine {} speaks no dialect bench knows", c.engine))
        })?;
        let executor = job.target.as_ref().map_or("local", |t| t.executor.as_str());
        let simulated = ctx.simulated || executor == "sim";
        let gpu_memory_gb = model.facts.as_ref().and_then(|f| memory_gib(c, f));
        let model_revision = if model.weights {
            match model.source.as_str() {
                "hub" => model.revision.clone(),
                _ => model.digest.as_ref().map(|d| format!("blake3:{d}")),
            }
        } else {
            None
        };

        // The engine.
        let mut sim = None;
        let mut docker = None;
        let url = if executor == "docker" {
            let setup_input = inputs(job, "setup")
                .next()
                .ok_or_else(|| permanent("a bench node in a container needs its setup node"))?;
            let setup: SetupOutput = read_json(output(setup_input, outputs::SETUP)?)?;
            let s = crate::container::start(
                job,
                c,
                &ctx,
                plugin.as_ref(),
                model.facts.as_ref(),
                &model,
                &setup,
                p.run.repeat,
            )?;
            let url = s.engine.url.clone();
            docker = Some(s);
            url
        } else if simulated {
            let facts = model.facts.ok_or_else(|| {
                permanent(format!(
                    "the simulator needs architecture facts for {}: name a catalog entry with \
                     arch=\"...\", give `facts` in the sweep, or fetch the model (fetch=#true) \
                     to read them from its config.json",
                    ctx.model
                ))
            })?;
            let s = SimProcess::start(&sim_args(c, &ctx, &facts, p.run.repeat)?)?;
            let url = s.url.clone();
            sim = Some(s);
            url
        } else if executor == "endpoint" {
            job.target
                .as_ref()
                .and_then(|t| t.address.clone())
                .ok_or_else(|| permanent("an endpoint host without url="))?
        } else {
            return Err(permanent(format!(
                "running {} on `{executor}` hosts is not in this build of bench yet; use \
                 executor=\"sim\" or \"endpoint\" hosts, or `bench build --simulate`",
                c.engine
            )));
        };

        // The workload.
        let prompts = prompts(c, &ctx)?;
        let stop = match (c.workload.stop.requests, c.workload.stop.duration_secs) {
            (Some(n), _) => Stop::Requests(n),
            (None, Some(s)) => Stop::Duration(s),
            _ => return Err(permanent("a workload stops on requests or a duration")),
        };
        let load = match p.run.load {
            LoadSpec::Concurrency { concurrency } => Load::Concurrency { concurrency },
            LoadSpec::Rate {
                rate,
                burstiness,
                max_concurrency,
            } => Load::Rate {
                rate,
                burstiness,
                max_concurrency,
            },
        };
        let cfg = LoadConfig {
            url: url.clone(),
            dialect,
            model: ctx.model.clone(),
            load,
            stop,
            warmup: c.workload.warmup as u64,
            ignore_eos: true,
            timeout: Duration::from_secs_f64(ctx.timeout_secs.unwrap_or(600.0)),
            seed: c.workload.seed,
            simulated,
        };
        let started_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let total = match cfg.stop {
            Stop::Requests(n) => n + cfg.warmup,
            Stop::Duration(_) => 0,
        };
        println!(
            "{} requests against {} ({dialect:?}), {}",
            if total > 0 {
                total.to_string()
            } else {
                "timed".into()
            },
            url,
            match &cfg.load {
                Load::Concurrency { concurrency } => format!("concurrency {concurrency}"),
                Load::Rate { rate, .. } => format!("rate {rate}/s"),
            }
        );
        let rt = bench_loadgen::runtime_for(&cfg.load)
            .map_err(|e| infra(format!("cannot start the runtime: {e}")))?;
        // Progress for the build display: one line per tenth of the requests.
        let step = (total / 10).max(1);
        let progress: bench_loadgen::run::Progress = std::sync::Arc::new(move |done, _| {
            if total > 0 && (done % step == 0 || done == total) {
                println!("progress {done}/{total} requests");
            }
        });
        let records = rt
            .block_on(bench_loadgen::run(cfg, prompts, Some(progress)))
            .map_err(|e| Failure::new(FailureClass::Transient, e.to_string()))?;
        if let Some(s) = sim.as_mut()
            && let Some(status) = s.exited()
        {
            return Err(infra(format!(
                "the simulated engine exited during the run ({status})"
            )));
        }
        drop(sim);
        let (telemetry, container) = match docker {
            Some(s) => {
                if let Some(exit) = s.engine.exited()? {
                    return Err(infra(format!(
                        "the engine exited during the run ({exit}); its last lines:\n{}",
                        s.engine.last_lines(50)
                    )));
                }
                let telemetry = s.sampler.and_then(|x| x.finish());
                s.engine.stop()?;
                (telemetry, Some(s.info))
            }
            None => (None, None),
        };
        if let Some(t) = &telemetry {
            write_json(job, outputs::TELEMETRY, t)?;
            println!(
                "GPU telemetry: {:.0} J over {:.1} s, {} samples",
                t.energy_j,
                t.seconds,
                t.samples.len()
            );
        }

        let metrics = bench_loadgen::compute(
            &records,
            &Slo::default(),
            &[50.0, 90.0, 95.0, 99.0, 99.9],
            dialect != Dialect::Tgi,
        );
        write_records(job, &records)?;
        println!(
            "{} of {} requests completed; output {:.1} tok/s; TTFT p50 {:.2} ms",
            metrics.completed,
            metrics.requests,
            metrics.output_throughput,
            metrics.ttft.percentile(50.0).unwrap_or(f64::NAN)
        );
        write_json(
            job,
            outputs::RUN,
            &RunInfo {
                engine: c.engine.clone(),
                simulated,
                dialect,
                model: ctx.model,
                repeat: p.run.repeat,
                host: job.host.clone(),
                started_at,
                gpu_memory_gb,
                metrics,
                container,
                energy_j: telemetry.as_ref().map(|t| t.energy_j),
                model_revision,
            },
        )
    }
}

fn memory_gib(c: &Config, f: &ArchFacts) -> Option<f64> {
    let est = bench_catalog::estimate_memory(&MemoryInput {
        arch: f,
        quantization: Quantization::parse(&c.quantization)?,
        dtype: Dtype::parse(&c.dtype)?,
        kv_cache: KvCacheDtype::parse(&c.kv_cache)?,
        gpu: GpuSpec::find(&c.gpu)?,
        tp: c.gpus,
        batch: c.batch_size,
        seq_len: c.seq_len,
        utilization: DEFAULT_UTILIZATION,
    });
    Some(est.total_gib(c.gpus))
}

fn sim_args(
    c: &Config,
    ctx: &BenchContext,
    facts: &ArchFacts,
    repeat: u32,
) -> Result<Vec<String>, Failure> {
    Ok([
        "--model".into(),
        ctx.model.clone(),
        "--facts".into(),
        serde_json::to_string(facts).map_err(|e| permanent(e.to_string()))?,
        "--gpu".into(),
        c.gpu.clone(),
        "--gpus".into(),
        c.gpus.to_string(),
        "--quantization".into(),
        c.quantization.clone(),
        "--dtype".into(),
        c.dtype.clone(),
        "--kv-cache".into(),
        c.kv_cache.clone(),
        "--max-batch".into(),
        c.batch_size.to_string(),
        "--max-seq-len".into(),
        c.seq_len.to_string(),
    ]
    .into_iter()
    .chain(sim_noise_args(c, repeat))
    .collect())
}

/// Step times vary a little, differently per repeat, as on real hardware: the simulator's
/// noise and its seed, wherever it runs (a process or a container).
pub(crate) fn sim_noise_args(c: &Config, repeat: u32) -> [String; 4] {
    [
        "--noise".into(),
        "0.03".into(),
        "--seed".into(),
        (c.workload.seed.wrapping_mul(1_000_003) + repeat as u64).to_string(),
    ]
}

fn prompts(c: &Config, ctx: &BenchContext) -> Result<Vec<Prompt>, Failure> {
    let w = &c.workload;
    let count = match (w.stop.requests, w.stop.duration_secs) {
        (Some(n), _) => (n + w.warmup as u64).clamp(1, 1_000_000) as usize,
        _ => 10_000,
    };
    let path = || -> Result<PathBuf, Failure> {
        ctx.dataset_path
            .clone()
            .ok_or_else(|| permanent("a file dataset without its path in the job's context"))
    };
    // The file must still be what the plan keyed.
    let checked = |digest: &str| -> Result<PathBuf, Failure> {
        let p = path()?;
        let bytes = std::fs::read(&p)
            .map_err(|e| permanent(format!("cannot read the dataset {}: {e}", p.display())))?;
        let now = blake3::hash(&bytes).to_hex().to_string();
        if now != digest {
            return Err(permanent(format!(
                "the dataset {} changed since the build was planned; run the build again",
                p.display()
            )));
        }
        Ok(p)
    };
    let err = |e: bench_loadgen::dataset::DatasetError| permanent(e.to_string());
    Ok(match &w.dataset {
        Dataset::Random {
            input_len,
            output_len,
            spread,
        } => bench_loadgen::dataset::random(count, *input_len, *output_len, *spread, w.seed),
        Dataset::Jsonl { digest, output_len } => {
            bench_loadgen::dataset::prompts_file(&checked(digest)?, *output_len).map_err(err)?
        }
        Dataset::Sharegpt { digest, output_len } => {
            bench_loadgen::dataset::sharegpt(&checked(digest)?, *output_len).map_err(err)?
        }
        Dataset::Eval {
            digest,
            scoring,
            output_len,
        } => {
            let scoring = match scoring.as_str() {
                "contains" => Scoring::Contains,
                "choice" => Scoring::Choice,
                _ => Scoring::ExactMatch,
            };
            bench_loadgen::dataset::eval(&checked(digest)?, scoring, *output_len).map_err(err)?
        }
    })
}

fn write_records(job: &JobSpec, records: &[Record]) -> Result<(), Failure> {
    use std::io::Write;
    let path = job.out_dir.join(outputs::RECORDS);
    let write = || -> std::io::Result<()> {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for r in records {
            serde_json::to_writer(&mut w, r)?;
            w.write_all(b"\n")?;
        }
        w.flush()
    };
    write().map_err(|e| Failure::classify(format!("cannot write {}: {e}", path.display())))
}

/// Reads a bench node's records.
pub fn read_records(path: &std::path::Path) -> Result<Vec<Record>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| infra(format!("cannot read {}: {e}", path.display())))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                permanent(format!(
                    "{}:{}: not a request record: {e}",
                    path.display(),
                    i + 1
                ))
            })
        })
        .collect()
}
