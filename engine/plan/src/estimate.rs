//! Estimates without a GPU: every valid configuration at every load point of its workload,
//! through the roofline model in closed form ([`bench_catalog::roofline`], the model the
//! simulated engine runs step by step) — predicted TTFT, TPOT, latency, throughput, GPU
//! memory and cost. A prior for planning and for the search; never a measurement.

use bench_catalog::memory::{MemoryInput, estimate_memory};
use bench_catalog::roofline::{Hardware, Offered};
use bench_sweep::{Dataset, LoadPoint};
use rayon::prelude::*;

use crate::dag::price;
use crate::expand::{Config, Expansion};
use crate::resolve::Resolved;

/// Prompt tokens assumed for a dataset read from a file (its lengths are not read to plan).
pub const ASSUMED_INPUT_TOKENS: u32 = 512;

/// The estimate of one configuration at one load point.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Estimate {
    /// Index into [`Expansion::valid`].
    pub config: u32,
    /// Index into the workload's load points.
    pub load: u16,
    pub ttft_ms: f64,
    pub tpot_ms: f64,
    pub e2e_ms: f64,
    pub request_throughput: f64,
    pub output_throughput: f64,
    /// Estimated GiB across the configuration's GPUs (weights, KV cache at the batch and
    /// sequence length, overhead).
    pub gpu_memory_gb: f64,
    /// USD per million output tokens, where a host gives a price.
    pub cost_per_mtok: Option<f64>,
    /// An open-loop rate beyond capacity: latencies are those at capacity, a lower bound.
    pub saturated: bool,
    /// The prompt length is [`ASSUMED_INPUT_TOKENS`], not the dataset's.
    pub input_assumed: bool,
}

impl Estimate {
    /// A metric by the name `bench results` uses (means for latencies: `ttft-mean` …; the
    /// percentiles of an estimate are its mean).
    pub fn metric(&self, name: &str) -> Option<f64> {
        let latency = |family: &str| name.strip_prefix(family).and_then(|s| s.strip_prefix('-'));
        if latency("ttft").is_some() {
            return Some(self.ttft_ms);
        }
        if latency("tpot").is_some() || latency("itl").is_some() {
            return Some(self.tpot_ms);
        }
        if latency("e2e").is_some() {
            return Some(self.e2e_ms);
        }
        match name {
            "request-throughput" | "goodput" => Some(self.request_throughput),
            "output-throughput" => Some(self.output_throughput),
            "gpu-memory-gb" => Some(self.gpu_memory_gb),
            "cost-per-mtok" => self.cost_per_mtok,
            _ => None,
        }
    }
}

/// Estimates for every valid configuration and load point, in plan order (configuration,
/// then load point). Configurations whose model has no architecture facts are left out.
pub fn estimate(r: &Resolved<'_, '_>, x: &Expansion) -> Vec<Estimate> {
    x.valid
        .par_iter()
        .enumerate()
        .flat_map_iter(|(i, c)| config(r, i as u32, c))
        .collect()
}

/// The estimates of one configuration, one per load point.
pub fn config(r: &Resolved<'_, '_>, index: u32, c: &Config) -> Vec<Estimate> {
    let Some(arch) = r.models[c.model as usize].facts else {
        return Vec::new();
    };
    let gpu = r.gpu.values[c.gpu as usize];
    let tp = r.gpus.values[c.gpus as usize];
    let batch = r.batch_size.values[c.batch_size as usize];
    let seq_len = r.seq_len.values[c.seq_len as usize];
    let hw = Hardware {
        arch,
        gpu,
        tp,
        quantization: r.quantization.values[c.quantization as usize],
        dtype: r.dtype.values[c.dtype as usize],
        kv_cache: r.kv_cache.values[c.kv_cache as usize],
    };
    let memory = estimate_memory(&MemoryInput {
        arch: &arch,
        quantization: hw.quantization,
        dtype: hw.dtype,
        kv_cache: hw.kv_cache,
        gpu,
        tp,
        batch,
        seq_len,
        utilization: r.engines[c.engine as usize].memory_utilization,
    })
    .total_gib(tp);
    let price = price(r, gpu.name);
    let w = r.workloads[c.workload as usize].decl;
    let (input, input_assumed) = match w.dataset {
        Dataset::Random { input_len, .. } => (input_len, false),
        _ => (ASSUMED_INPUT_TOKENS, true),
    };
    let output = w.dataset.output_len();
    w.load
        .iter()
        .enumerate()
        .map(|(l, point)| {
            let offered = match point.value {
                LoadPoint::Concurrency { concurrency } => Offered::Concurrency(concurrency),
                LoadPoint::Rate {
                    rate,
                    max_concurrency,
                    ..
                } => Offered::Rate {
                    rate,
                    max_concurrency,
                },
            };
            let s = hw.steady_state(offered, input as f64, output as f64, batch);
            Estimate {
                config: index,
                load: l as u16,
                ttft_ms: s.ttft_s * 1e3,
                tpot_ms: s.tpot_s * 1e3,
                e2e_ms: s.e2e_s * 1e3,
                request_throughput: s.requests_per_s,
                output_throughput: s.output_tokens_per_s,
                gpu_memory_gb: memory,
                cost_per_mtok: price.map(|p| p * tp as f64 / 3600.0 / s.output_tokens_per_s * 1e6),
                saturated: s.saturated,
                input_assumed,
            }
        })
        .collect()
}

/// What the bench nodes of a plan would take, by the estimates: GPU time and its price.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Totals {
    /// Bench runs (configurations × load points × repeats).
    pub runs: usize,
    /// Seconds of load, summed over runs (warmup included; engine start-up and model
    /// loading not).
    pub load_seconds: f64,
    /// GPU-hours: each run's seconds × its GPUs.
    pub gpu_hours: f64,
    /// USD for the runs on priced hosts.
    pub cost: f64,
    /// Runs on hosts without a price (not in `cost`).
    pub unpriced_runs: usize,
    /// Runs at a saturated rate (their time is a lower bound).
    pub saturated_runs: usize,
}

/// The GPU time and cost of running every estimated configuration and load point.
pub fn totals(r: &Resolved<'_, '_>, x: &Expansion, estimates: &[Estimate]) -> Totals {
    let mut t = Totals::default();
    for e in estimates {
        let c = &x.valid[e.config as usize];
        let w = r.workloads[c.workload as usize].decl;
        let rate = e.request_throughput.max(1e-9);
        let seconds = match w.stop {
            bench_sweep::Stop::Requests(n) => (n + w.warmup) as f64 / rate,
            bench_sweep::Stop::DurationSecs(s) => s + w.warmup as f64 / rate,
        };
        let repeats = w.repeats.max(1) as usize;
        let gpus = r.gpus.values[c.gpus as usize] as f64;
        t.runs += repeats;
        t.load_seconds += seconds * repeats as f64;
        let hours = seconds * repeats as f64 * gpus / 3600.0;
        t.gpu_hours += hours;
        match price(r, r.gpu.values[c.gpu as usize].name) {
            Some(p) => t.cost += hours * p,
            None => t.unpriced_runs += repeats,
        }
        if e.saturated {
            t.saturated_runs += repeats;
        }
    }
    t
}
