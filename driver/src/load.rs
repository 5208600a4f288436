//! `bench load`: one load against a running server, no DAG — driven, measured, and as the
//! JSON document `--json` prints.

use bench_loadgen::{
    DEFINITIONS, Dialect, LoadConfig, Metrics, Prompt, Record, Slo, compute, run_blocking,
};
use serde_json::{Value, json};

use crate::error::Result;

/// What one load gave: every request's record (warmup included) and the metrics.
pub struct Measured {
    pub records: Vec<Record>,
    pub metrics: Metrics,
}

/// Drives `cfg` with `prompts` and computes its metrics against `slo` at `percentiles`.
/// Output lengths count as forced where the dialect honours `ignore_eos`.
pub fn measure(
    cfg: LoadConfig,
    prompts: Vec<Prompt>,
    progress: Option<bench_loadgen::run::Progress>,
    slo: &Slo,
    percentiles: &[f64],
) -> Result<Measured> {
    let forced = cfg.ignore_eos && cfg.dialect != Dialect::Tgi;
    let records = run_blocking(cfg, prompts, progress)?;
    let metrics = compute(&records, slo, percentiles, forced);
    Ok(Measured { records, metrics })
}

/// The `--json` document: the load, the metrics, their definitions and every record.
pub fn json(cfg: &LoadConfig, slo: &Slo, m: &Measured) -> Value {
    let defs: serde_json::Map<String, Value> = DEFINITIONS
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({
        "url": cfg.url, "dialect": cfg.dialect, "model": cfg.model, "load": cfg.load, "slo": slo,
        "metrics": m.metrics, "definitions": defs, "records": m.records,
    })
}
