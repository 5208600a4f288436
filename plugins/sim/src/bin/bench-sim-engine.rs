//! `bench-sim-engine`: the simulated engine as a standalone server.

use std::time::Duration;

use bench_catalog::{CatalogModel, Dtype, GpuSpec, KvCacheDtype, Quantization};
use bench_sim::{EngineConfig, Hardware, Mode, ServerConfig};
use clap::Parser;

/// A simulated LLM server (OpenAI, TGI and LMDeploy routes) with a roofline performance model.
#[derive(Debug, Parser)]
#[command(name = "bench-sim-engine", version)]
struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0: any free port; the chosen one is printed).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Name the server answers to.
    #[arg(long, default_value = "sim-model")]
    model: String,
    /// Architecture catalog entry or Hugging Face id whose facts drive the model.
    #[arg(long, default_value = "llama-3.1-8b")]
    arch: String,
    #[arg(long, default_value = "H100-80GB")]
    gpu: String,
    /// GPUs (tensor parallelism).
    #[arg(long, default_value_t = 1)]
    gpus: u32,
    #[arg(long, default_value = "fp16")]
    quantization: String,
    #[arg(long, default_value = "auto")]
    dtype: String,
    #[arg(long, default_value = "auto")]
    kv_cache: String,
    /// Sequences decoded together at most.
    #[arg(long, default_value_t = 64)]
    max_batch: usize,
    #[arg(long, default_value_t = 4096)]
    max_seq_len: u64,
    /// Fixed-latency mode: time to first token, in ms (with --fixed-tpot-ms).
    #[arg(long)]
    fixed_ttft_ms: Option<f64>,
    /// Fixed-latency mode: time per output token, in ms.
    #[arg(long)]
    fixed_tpot_ms: Option<f64>,
    /// Relative standard deviation of step times (0 = deterministic).
    #[arg(long, default_value_t = 0.0)]
    noise: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Multiplies every simulated duration.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
}

fn fail(msg: String) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let a = Args::parse();
    let q = Quantization::parse(&a.quantization)
        .unwrap_or_else(|| fail(format!("unknown quantization {}", a.quantization)));
    let mode = match (a.fixed_ttft_ms, a.fixed_tpot_ms) {
        (Some(t), Some(p)) => Mode::Fixed {
            ttft: Duration::from_secs_f64(t / 1e3),
            tpot: Duration::from_secs_f64(p / 1e3),
        },
        (None, None) => Mode::Roofline(Box::new(Hardware {
            arch: CatalogModel::find(&a.arch)
                .map(|m| m.facts)
                .unwrap_or_else(|| fail(format!("unknown architecture {}", a.arch))),
            gpu: GpuSpec::find(&a.gpu).unwrap_or_else(|| fail(format!("unknown GPU {}", a.gpu))),
            tp: a.gpus.max(1),
            quantization: q,
            dtype: Dtype::parse(&a.dtype)
                .unwrap_or_else(|| fail(format!("unknown dtype {}", a.dtype))),
            kv_cache: KvCacheDtype::parse(&a.kv_cache)
                .unwrap_or_else(|| fail(format!("unknown kv-cache {}", a.kv_cache))),
        })),
        _ => fail("--fixed-ttft-ms and --fixed-tpot-ms go together".into()),
    };
    let listener = tokio::net::TcpListener::bind((a.host.as_str(), a.port))
        .await
        .unwrap_or_else(|e| fail(format!("cannot listen on {}:{}: {e}", a.host, a.port)));
    if let Ok(addr) = listener.local_addr() {
        println!("listening on http://{addr}");
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
    };
    tokio::select! {
        r = bench_sim::serve(listener, engine, server) => if let Err(e) = r { fail(format!("server: {e}")) },
        _ = tokio::signal::ctrl_c() => {}
    }
}
