//! The bench node: the engine (a simulated one as a child process, or an endpoint that is
//! already serving), the workload driven against it by the load generator, and every
//! request's record written out. Metrics here are per run and without SLOs; the aggregate
//! node pools repeats and applies the workload's SLOs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bench_catalog::memory::{DEFAULT_UTILIZATION, MemoryInput};
use bench_catalog::{ArchFacts, Dtype, GpuSpec, KvCacheDtype, Quantization};
use bench_loadgen::{Dialect, Load, LoadConfig, Prompt, Record, Slo, Stop};
use bench_node::context::BenchContext;
use bench_node::outputs::{ModelInfo, RunInfo};
use bench_node::params::{
    Api, BenchConfig as Config, BenchParams as Params, DatasetSpec, LoadSpec, StopSpec,
};
use bench_node::{Action, Failure, FailureClass, JobSpec, NodeKind};

use crate::runtimes::{EngineStart, runtime_of};
use crate::{infra, outputs, permanent, read_json, write_json};

pub struct Bench;

/// The configuration's engine: the command line it carries, else the plugin of its name.
fn engine_plugin(c: &Config) -> Result<Box<dyn bench_engines::EnginePlugin>, Failure> {
    if let Some(cmd) = &c.command {
        return Ok(Box::new(bench_engines::Command {
            name: c.engine.clone(),
            words: cmd.argv.clone(),
            api: cmd.api.clone(),
            health: cmd.health.clone(),
            image: None,
        }));
    }
    bench_engines::builtin()
        .into_iter()
        .find(|e| e.name() == c.engine)
        .ok_or_else(|| permanent(format!("no engine plugin `{}` in this build", c.engine)))
}

impl Action for Bench {
    fn run(&self, job: &JobSpec) -> Result<(), Failure> {
        let p: Params = job.params()?;
        let ctx: BenchContext = job.context()?;
        let model_input = job
            .inputs_of(NodeKind::Download)
            .next()
            .ok_or_else(|| permanent("a bench node needs its model's download node"))?;
        let model: ModelInfo = read_json(model_input.output(outputs::MODEL)?)?;
        let c = &p.config;
        let plugin = engine_plugin(c)?;
        let chat = c.workload.api == Api::Chat;
        let dialect = Dialect::parse(plugin.dialect(chat)).ok_or_else(|| {
            permanent(format!("engine {} speaks no dialect bench knows", c.engine))
        })?;
        let runtime = runtime_of(job, &ctx);
        let simulated = ctx.simulated || runtime.kind() == bench_node::RuntimeKind::Sim;
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
        let engine = runtime.start(&EngineStart {
            job,
            config: c,
            ctx: &ctx,
            plugin: plugin.as_ref(),
            model: &model,
            repeat: p.run.repeat,
        })?;
        let url = engine.url().to_string();

        // The workload, in the model's own tokens where its tokenizer was fetched.
        // One that cannot be read is said and done without: counts fall back to the
        // server's usage, then estimates, each labelled.
        let tokenizer = model
            .path
            .as_deref()
            .map(|d| Path::new(d).join("tokenizer.json"))
            .filter(|f| f.is_file())
            .and_then(|f| match bench_loadgen::Tokenizer::from_path(&f) {
                Ok(t) => Some(t),
                Err(e) => {
                    bench_node::say!("warning: {e}; token counts without it");
                    None
                }
            });
        let mut prompts = prompts(c, &ctx, tokenizer.as_ref())?;
        if let Some(t) = &tokenizer
            && !matches!(c.workload.dataset, DatasetSpec::Random { .. })
        {
            t.recount(&mut prompts);
        }
        let stop = match c.workload.stop {
            StopSpec::Requests(n) => Stop::Requests(n),
            StopSpec::DurationSecs(s) => Stop::Duration(s),
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
            tokenizer: tokenizer.map(std::sync::Arc::new),
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
        let rt = bench_loadgen::runtime()
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
        let finished = engine.finish()?;
        let (telemetry, container) = (finished.telemetry, finished.container);
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
                host: job.placement(),
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

fn prompts(
    c: &Config,
    ctx: &BenchContext,
    tokenizer: Option<&bench_loadgen::Tokenizer>,
) -> Result<Vec<Prompt>, Failure> {
    let w = &c.workload;
    let count = match w.stop {
        StopSpec::Requests(n) => (n + w.warmup as u64).clamp(1, 1_000_000) as usize,
        StopSpec::DurationSecs(_) => 10_000,
    };
    let path = || -> Result<PathBuf, Failure> {
        ctx.dataset_path
            .clone()
            .ok_or_else(|| permanent("a file dataset without its path in the job's context"))
    };
    // The file must still be what the plan keyed.
    let checked = |file: &bench_node::params::FileRef| -> Result<PathBuf, Failure> {
        let digest = file
            .digest
            .as_deref()
            .ok_or_else(|| permanent("a dataset file the plan did not read (no digest)"))?;
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
        DatasetSpec::Random {
            input_len,
            output_len,
            spread,
        } => bench_loadgen::dataset::random_with(
            tokenizer,
            count,
            *input_len,
            *output_len,
            *spread,
            w.seed,
        ),
        DatasetSpec::Jsonl { file, output_len } => {
            bench_loadgen::dataset::prompts_file(&checked(file)?, *output_len).map_err(err)?
        }
        DatasetSpec::Sharegpt { file, output_len } => {
            bench_loadgen::dataset::sharegpt(&checked(file)?, *output_len).map_err(err)?
        }
        DatasetSpec::Eval {
            file,
            scoring,
            output_len,
        } => bench_loadgen::dataset::eval(&checked(file)?, *scoring, *output_len).map_err(err)?,
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
