//! The aggregate node: one configuration at one load point, its repeats pooled.
//!
//! * Latency distributions (TTFT, TPOT, ITL per token, E2E, queue) pool the measured requests
//!   of every valid repeat: `ttft-p95` is the 95th percentile over all of them.
//! * Per-run figures (throughputs, goodput under the workload's SLOs) are the mean over the
//!   valid repeats, with a Student-t confidence interval of that mean (from two repeats on).
//! * `cost-per-mtok` = price per GPU-hour × GPUs / 3600 / output tokens per second × 10⁶.
//! * `energy-per-token` = the GPUs' energy over the runs (NVML) / output tokens, where
//!   every valid repeat has telemetry.
//! * A configuration is valid only when every repeat passed validation; the reasons of the
//!   others are kept.

use std::collections::BTreeMap;

use bench_loadgen::{Dialect, Dist, Record, Slo};
use bench_node::outputs::{AggregateOutput, Ci, RunInfo, TokenCounts, Validation};
use bench_node::params::AggregateParams as Params;
use bench_node::{Action, Failure, JobSpec, NodeKind};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::bench::read_records;
use crate::{outputs, permanent, read_json, write_json};

pub struct Aggregate;

impl Action for Aggregate {
    fn run(&self, job: &JobSpec) -> Result<(), Failure> {
        let p: Params = job.params()?;
        let slo = Slo {
            ttft_ms: p.slo.ttft_ms,
            tpot_ms: p.slo.tpot_ms,
            e2e_ms: p.slo.e2e_ms,
        };
        let benches: Vec<_> = job.inputs_of(NodeKind::Bench).collect();
        let validations: Vec<_> = job.inputs_of(NodeKind::Validate).collect();
        if benches.is_empty() || benches.len() != validations.len() {
            return Err(permanent(
                "an aggregate node needs a bench and a validate node per repeat",
            ));
        }
        let mut runs = Vec::new();
        for (b, v) in benches.iter().zip(&validations) {
            let run: RunInfo = read_json(b.output(outputs::RUN)?)?;
            let val: Validation = read_json(v.output(outputs::VALIDATION)?)?;
            let records = read_records(b.output(outputs::RECORDS)?)?;
            runs.push((run, val, records));
        }
        let out = aggregate(&runs, &p, &slo);
        bench_node::say!(
            "{} of {} repeats valid; output {:.1} tok/s",
            out.repeats_valid,
            out.repeats,
            out.metrics
                .get("output-throughput")
                .copied()
                .unwrap_or(f64::NAN)
        );
        write_json(job, outputs::AGGREGATE, &out)
    }
}

fn aggregate(
    runs: &[(RunInfo, Validation, Vec<Record>)],
    p: &Params,
    slo: &Slo,
) -> AggregateOutput {
    let mut reasons = Vec::new();
    for (run, val, _) in runs {
        for r in &val.reasons {
            reasons.push(format!("repeat {}: {r}", run.repeat));
        }
    }
    let valid_runs: Vec<&(RunInfo, Validation, Vec<Record>)> =
        runs.iter().filter(|(_, v, _)| v.passed).collect();
    let forced = runs
        .first()
        .is_some_and(|(r, _, _)| r.dialect != Dialect::Tgi);
    let pooled: Vec<Record> = valid_runs
        .iter()
        .flat_map(|(_, _, rs)| rs.iter().cloned())
        .collect();
    let all = bench_loadgen::compute(&pooled, slo, &p.percentiles, forced);
    // Counts and errors over every run, valid or not: an invalid configuration says why.
    let every: Vec<Record> = runs
        .iter()
        .flat_map(|(_, _, rs)| rs.iter().cloned())
        .collect();
    let counts = bench_loadgen::compute(&every, slo, &[], forced);
    let mut metrics = BTreeMap::new();
    let mut dist = |family: &str, d: &Dist| {
        if d.count == 0 {
            return;
        }
        for (pct, v) in &d.percentiles {
            metrics.insert(format!("{family}-p{pct}"), *v);
        }
        metrics.insert(format!("{family}-mean"), d.mean);
        metrics.insert(format!("{family}-std"), d.std);
        metrics.insert(format!("{family}-min"), d.min);
        metrics.insert(format!("{family}-max"), d.max);
    };
    dist("ttft", &all.ttft);
    dist("tpot", &all.tpot);
    dist("itl", &all.itl_token);
    dist("e2e", &all.e2e);
    dist("queue", &all.queue);

    // Per-run figures: mean and confidence interval across valid repeats.
    let per_run: Vec<bench_loadgen::Metrics> = valid_runs
        .iter()
        .map(|(_, _, rs)| bench_loadgen::compute(rs, slo, &p.percentiles, forced))
        .collect();
    let mut ci = BTreeMap::new();
    type Scalar = fn(&bench_loadgen::Metrics) -> f64;
    let scalars: [(&str, Scalar); 4] = [
        ("request-throughput", |m| m.request_throughput),
        ("output-throughput", |m| m.output_throughput),
        ("total-throughput", |m| m.total_throughput),
        ("goodput", |m| m.goodput),
    ];
    for (name, f) in scalars {
        let xs: Vec<f64> = per_run.iter().map(f).collect();
        if let Some(c) = mean_ci(&xs, p.confidence) {
            metrics.insert(name.to_string(), c.mean);
            ci.insert(name.to_string(), c);
        }
    }
    if let (Some(price), Some(thr)) = (p.price_per_gpu_hour, metrics.get("output-throughput"))
        && *thr > 0.0
    {
        metrics.insert(
            "cost-per-mtok".into(),
            price * p.gpus as f64 / 3600.0 / thr * 1e6,
        );
    }
    if let Some(a) = all.accuracy {
        metrics.insert("accuracy".into(), a);
    }
    // Energy where every valid run has GPU telemetry: joules per output token, over the
    // whole run (warm-up included, as the GPUs spent it).
    let energy: Option<(f64, u64)> =
        valid_runs
            .iter()
            .try_fold((0.0, 0u64), |(e, t), (r, _, rs)| {
                let tokens: u64 = rs
                    .iter()
                    .filter(|x| x.ok())
                    .map(Record::output_tokens)
                    .sum();
                r.energy_j.map(|j| (e + j, t + tokens))
            });
    if let Some((joules, tokens)) = energy
        && tokens > 0
        && !valid_runs.is_empty()
    {
        metrics.insert("energy-per-token".into(), joules / tokens as f64);
    }
    if counts.requests > 0 {
        metrics.insert(
            "error-rate".into(),
            counts.failed as f64 / counts.requests as f64,
        );
    }
    metrics.insert("gpus".into(), p.gpus as f64);
    if let Some(g) = runs.first().and_then(|(r, _, _)| r.gpu_memory_gb) {
        metrics.insert("gpu-memory-gb".into(), g);
    }
    AggregateOutput {
        valid: !runs.is_empty() && valid_runs.len() == runs.len(),
        reasons,
        repeats: runs.len() as u32,
        repeats_valid: valid_runs.len() as u32,
        requests: counts.requests,
        completed: counts.completed,
        simulated: runs.iter().any(|(r, _, _)| r.simulated),
        metrics,
        ci,
        confidence: p.confidence,
        errors: counts.errors,
        tokens_from: (counts.completed > 0).then_some(TokenCounts {
            input: counts.input_tokens_from,
            output: counts.output_tokens_from,
            without_usage: counts.without_usage,
        }),
    }
}

/// Mean of per-repeat values and its Student-t confidence interval (`None` without values;
/// a single value has a zero-width interval, flagged by `n = 1`).
pub(crate) fn mean_ci(xs: &[f64], confidence: f64) -> Option<Ci> {
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Some(Ci {
            mean,
            low: mean,
            high: mean,
            n: 1,
        });
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let se = (var / n as f64).sqrt();
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
        .map(|d| d.inverse_cdf(0.5 + confidence / 2.0))
        .unwrap_or(f64::NAN);
    Some(Ci {
        mean,
        low: mean - t * se,
        high: mean + t * se,
        n: n as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_interval_matches_tables() {
        // n = 2, 95 %: t(1) = 12.706; mean 11, sd √2, se 1 → ±12.706.
        let c = mean_ci(&[10.0, 12.0], 0.95).unwrap();
        assert_eq!(c.mean, 11.0);
        assert!((c.high - 11.0 - 12.7062).abs() < 1e-3, "{c:?}");
        // n = 5, 90 %: t(4) = 2.1318.
        let xs = [1.0, 2.0, 3.0, 4.0, 5.0];
        let c = mean_ci(&xs, 0.90).unwrap();
        let se = (2.5f64 / 5.0).sqrt();
        assert!((c.high - 3.0 - 2.1318 * se).abs() < 1e-3, "{c:?}");
        assert_eq!(mean_ci(&[], 0.95), None);
        assert_eq!(mean_ci(&[4.0], 0.95).unwrap().low, 4.0);
    }

    fn run(energy_j: Option<f64>, tokens: u64) -> (RunInfo, Validation, Vec<Record>) {
        let rec = |i: u64| Record {
            index: i,
            warmup: false,
            due_ns: 0,
            send_ns: 0,
            first_token_ns: Some(1_000_000),
            last_token_ns: Some(2_000_000),
            end_ns: 2_000_000,
            chunk_ns: vec![1_000_000, 2_000_000],
            status: 200,
            error: None,
            request_id: None,
            prompt_tokens: 10,
            max_tokens: tokens,
            server_prompt_tokens: Some(10),
            server_output_tokens: Some(tokens),
            client_output_tokens: tokens,
            correct: None,
            ..Record::default()
        };
        let records: Vec<Record> = (0..4).map(rec).collect();
        let metrics = bench_loadgen::compute(&records, &Slo::default(), &[50.0], true);
        let info = RunInfo {
            engine: "sim".into(),
            simulated: true,
            dialect: Dialect::OpenaiChat,
            model: "m".into(),
            repeat: 0,
            host: "h".into(),
            started_at: 0.0,
            gpu_memory_gb: None,
            metrics,
            container: None,
            energy_j,
            model_revision: None,
        };
        let v = Validation {
            passed: true,
            reasons: Vec::new(),
            requests: 4,
            completed: 4,
            error_rate: 0.0,
            completed_fraction: 1.0,
            token_mismatch_fraction: 0.0,
            bad_timings: 0,
        };
        (info, v, records)
    }

    #[test]
    fn energy_per_token_only_where_every_run_has_telemetry() {
        let p: Params = serde_json::from_value(serde_json::json!({
            "percentiles": [50.0], "confidence": 0.95, "slo": {}, "price-per-gpu-hour": null, "gpus": 1
        }))
        .unwrap();
        // 2 runs × 4 requests × 10 tokens = 80 tokens for 40 J.
        let out = aggregate(
            &[run(Some(10.0), 10), run(Some(30.0), 10)],
            &p,
            &Slo::default(),
        );
        assert_eq!(out.metrics["energy-per-token"], 0.5);
        let out = aggregate(&[run(Some(10.0), 10), run(None, 10)], &p, &Slo::default());
        assert!(!out.metrics.contains_key("energy-per-token"));
    }
}
