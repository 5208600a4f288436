//! The simulated engine's command line, shared by the `bench-sim-engine` binary (which links
//! nothing else, for container images) and `bench sim-engine` (which bench starts for
//! simulated bench nodes).

use std::time::Duration;

use bench_catalog::{ArchFacts, CatalogModel, Dtype, GpuSpec, KvCacheDtype, Quantization};

use crate::{EngineConfig, Hardware, Mode, ServerConfig};

/// A simulated LLM server (OpenAI, TGI and LMDeploy routes) with a roofline performance model.
#[derive(Clone, Debug, clap::Args)]
pub struct SimArgs {
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0: any free port). The address is printed on the first line of
    /// standard output once the server listens: `listening on http://ADDR`.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Name the server answers to.
    #[arg(long, default_value = "sim-model")]
    pub model: String,
    /// Architecture catalog entry or Hugging Face id whose facts drive the model.
    #[arg(long, default_value = "llama-3.1-8b", conflicts_with = "facts")]
    pub arch: String,
    /// Architecture facts as JSON (the fields of a download node's `facts`), instead of
    /// `--arch`.
    #[arg(long)]
    pub facts: Option<String>,
    #[arg(long, default_value = "H100-80GB")]
    pub gpu: String,
    /// GPUs (tensor parallelism).
    #[arg(long, default_value_t = 1)]
    pub gpus: u32,
    #[arg(long, default_value = "fp16")]
    pub quantization: String,
    #[arg(long, default_value = "auto")]
    pub dtype: String,
    #[arg(long, default_value = "auto")]
    pub kv_cache: String,
    /// Sequences decoded together at most.
    #[arg(long, default_value_t = 64)]
    pub max_batch: usize,
    #[arg(long, default_value_t = 4096)]
    pub max_seq_len: u64,
    /// Fixed-latency mode: time to first token, in ms (with --fixed-tpot-ms).
    #[arg(long)]
    pub fixed_ttft_ms: Option<f64>,
    /// Fixed-latency mode: time per output token, in ms.
    #[arg(long)]
    pub fixed_tpot_ms: Option<f64>,
    /// Relative standard deviation of step times (0 = deterministic).
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Answer `/health` with 503 for this many seconds after start, as a real engine does
    /// while it loads weights.
    #[arg(long)]
    pub ready_after: Option<f64>,
    /// Send no `usage` in streams, as llama.cpp's server and others do.
    #[arg(long)]
    pub no_usage: bool,
    /// Multiplies every simulated duration.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
}

/// Runs the server until it fails, Ctrl-C or SIGTERM.
pub async fn run(a: SimArgs) -> Result<(), String> {
    let q = Quantization::parse(&a.quantization)
        .ok_or_else(|| format!("unknown quantization {}", a.quantization))?;
    let mode = match (a.fixed_ttft_ms, a.fixed_tpot_ms) {
        (Some(t), Some(p)) => Mode::Fixed {
            ttft: Duration::from_secs_f64(t / 1e3),
            tpot: Duration::from_secs_f64(p / 1e3),
        },
        (None, None) => {
            let arch: ArchFacts = match &a.facts {
                Some(json) => serde_json::from_str(json)
                    .map_err(|e| format!("--facts is not valid architecture facts: {e}"))?,
                None => {
                    CatalogModel::find(&a.arch)
                        .ok_or_else(|| format!("unknown architecture {}", a.arch))?
                        .facts
                }
            };
            Mode::Roofline(Box::new(Hardware {
                arch,
                gpu: GpuSpec::find(&a.gpu).ok_or_else(|| format!("unknown GPU {}", a.gpu))?,
                tp: a.gpus.max(1),
                quantization: q,
                dtype: Dtype::parse(&a.dtype)
                    .ok_or_else(|| format!("unknown dtype {}", a.dtype))?,
                kv_cache: KvCacheDtype::parse(&a.kv_cache)
                    .ok_or_else(|| format!("unknown kv-cache {}", a.kv_cache))?,
            }))
        }
        _ => return Err("--fixed-ttft-ms and --fixed-tpot-ms go together".into()),
    };
    let listener = tokio::net::TcpListener::bind((a.host.as_str(), a.port))
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", a.host, a.port))?;
    if let Ok(addr) = listener.local_addr() {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = out.flush();
    }
    let engine = EngineConfig {
        mode,
        max_batch: a.max_batch,
        noise: a.noise,
        seed: a.seed,
        time_scale: a.time_scale,
    };
    let server = ServerConfig {
        model: a.model,
        max_seq_len: a.max_seq_len,
        max_batch: a.max_batch as u64,
        quantization: q,
        seed: a.seed,
        ready_at: a
            .ready_after
            .map(|s| std::time::Instant::now() + Duration::from_secs_f64(s.max(0.0))),
        usage: !a.no_usage,
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    tokio::select! {
        r = crate::serve(listener, engine, server) => r.map_err(|e| format!("server: {e}")),
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = term.recv() => Ok(()),
    }
}

/// [`run`] on a runtime of its own, for callers that have none (`bench sim-engine`).
pub fn serve(a: SimArgs) -> Result<(), String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?
        .block_on(run(a))
}
