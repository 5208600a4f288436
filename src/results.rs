//! The results of a sweep as the cache holds them: one row per configuration and load
//! point (its aggregate), in recommendation order. Printed after `bench build` and by
//! `bench results`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bench_actions::{AggregateOutput, OptimizeOutput, outputs};
use bench_cache::{CacheBackend, LocalCache, Lookup, Manifest};
use bench_plan::dag::label;
use bench_plan::{NodeKind, Plan};
use serde::Serialize;

use crate::cli::ResultsArgs;
use crate::error::CliError;

/// One row: an aggregate and where optimize put it.
#[derive(Serialize)]
pub struct Row {
    pub label: String,
    /// The engine as labels show it (`vllm~sim` when simulated).
    pub engine: String,
    pub key: String,
    pub rank: Option<usize>,
    pub front: Option<u32>,
    pub score: Option<f64>,
    pub feasible: bool,
    pub reasons: Vec<String>,
    pub aggregate: AggregateOutput,
}

#[derive(Serialize)]
pub struct Results {
    pub sweep: String,
    /// Aggregates of the plan not in the cache yet.
    pub missing: usize,
    pub rows: Vec<Row>,
    pub recommendations: Option<OptimizeOutput>,
}

/// Where one output of a committed node is.
pub fn output_path(cache: &LocalCache, m: &Manifest, name: &str) -> Option<PathBuf> {
    let o = m.outputs.iter().find(|o| o.name == name)?;
    cache.blob_path(&o.digest).ok()
}

/// One JSON output of a committed node.
pub fn read<T: serde::de::DeserializeOwned>(
    cache: &LocalCache,
    m: &Manifest,
    name: &str,
) -> Option<T> {
    serde_json::from_slice(&std::fs::read(output_path(cache, m, name)?).ok()?).ok()
}

pub fn read_output<T: serde::de::DeserializeOwned>(
    cache: &LocalCache,
    key: &str,
    name: &str,
) -> Option<T> {
    let Ok(Lookup::Hit(m)) = cache.lookup(key) else {
        return None;
    };
    read(cache, &m, name)
}

/// Reads what the cache holds for a plan.
pub fn collect(plan: &Plan<'_, '_>, cache: &LocalCache) -> Results {
    let (r, x, g) = (&plan.resolved, &plan.expansion, &plan.graph);
    let recommendations: Option<OptimizeOutput> = g
        .node_weights()
        .find(|n| n.kind == NodeKind::Optimize)
        .and_then(|n| read_output(cache, &n.key.hex(), outputs::RECOMMENDATIONS));
    let ranked: HashMap<&str, &bench_actions::Ranked> = recommendations
        .as_ref()
        .map(|o| o.ranked.iter().map(|r| (r.key.as_str(), r)).collect())
        .unwrap_or_default();
    let mut rows = Vec::new();
    let mut missing = 0;
    for n in g.node_weights().filter(|n| n.kind == NodeKind::Aggregate) {
        let key = n.key.hex();
        let Some(agg) = read_output::<AggregateOutput>(cache, &key, outputs::AGGREGATE) else {
            missing += 1;
            continue;
        };
        let rk = ranked.get(key.as_str());
        let engine = match n.subject {
            bench_plan::Subject::Aggregate { config, .. } => {
                let c = &x.valid[config as usize];
                r.engine_label(c.engine, c.gpu).into_owned()
            }
            _ => String::new(),
        };
        rows.push(Row {
            engine,
            label: label(r, x, &n.subject)
                .trim_start_matches("aggregate/")
                .to_string(),
            rank: rk.and_then(|x| x.rank),
            front: rk.and_then(|x| x.front),
            score: rk.and_then(|x| x.score),
            feasible: rk.map_or(agg.valid, |x| x.feasible),
            reasons: rk.map_or_else(|| agg.reasons.clone(), |x| x.reasons.clone()),
            key,
            aggregate: agg,
        });
    }
    rows.sort_by(|a, b| {
        (a.rank.is_none(), a.rank, !a.feasible).cmp(&(b.rank.is_none(), b.rank, !b.feasible))
    });
    Results {
        sweep: r.sweep.name.value.clone(),
        missing,
        rows,
        recommendations,
    }
}

fn fmt(v: Option<&f64>, prec: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.prec$}"),
        _ => "—".into(),
    }
}

/// Prints the table: at most `limit` rows (all with `None`).
pub fn print(res: &Results, limit: Option<usize>) {
    if res.rows.is_empty() {
        println!(
            "no results yet for {}: `bench build` runs the sweep",
            res.sweep
        );
        return;
    }
    let simulated = res.rows.iter().any(|r| r.aggregate.simulated);
    println!(
        "\nresults of {}{} — latencies in ms (pooled over repeats), throughput the mean over repeats",
        res.sweep,
        if simulated {
            " (SIMULATED engines)"
        } else {
            ""
        }
    );
    let width = res
        .rows
        .iter()
        .take(limit.unwrap_or(usize::MAX))
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(10)
        .clamp(10, 90);
    println!(
        "{:>4}  {:<width$}  {:>8} {:>8} {:>8} {:>8} {:>10} {:>8} {:>8}",
        "rank",
        "configuration / load",
        "TTFT p50",
        "TTFT p95",
        "TPOT p50",
        "E2E p95",
        "out tok/s",
        "goodput",
        "$/Mtok"
    );
    let shown = limit.unwrap_or(usize::MAX);
    for row in res.rows.iter().take(shown) {
        let m = &row.aggregate.metrics;
        let rank = match row.rank {
            Some(r) => format!("{r}"),
            None if !row.feasible => "✗".into(),
            None => "".into(),
        };
        let thr = match row.aggregate.ci.get("output-throughput") {
            Some(c) if c.n > 1 => format!("{:.0}±{:.0}", c.mean, (c.high - c.mean).abs()),
            _ => fmt(m.get("output-throughput"), 0),
        };
        println!(
            "{rank:>4}  {:<width$}  {:>8} {:>8} {:>8} {:>8} {:>10} {:>8} {:>8}",
            row.label,
            fmt(m.get("ttft-p50"), 2),
            fmt(m.get("ttft-p95"), 2),
            fmt(m.get("tpot-p50"), 2),
            fmt(m.get("e2e-p95"), 1),
            thr,
            fmt(m.get("goodput"), 2),
            fmt(m.get("cost-per-mtok"), 3),
        );
        if !row.feasible {
            for why in &row.reasons {
                println!("{:>4}  {:<width$}  ✗ {why}", "", "");
            }
        }
    }
    if res.rows.len() > shown {
        println!(
            "      … {} more (`bench results SWEEP --all`)",
            res.rows.len() - shown
        );
    }
    if res.missing > 0 {
        println!(
            "      {} configuration/load points not built yet",
            res.missing
        );
    }
    if let Some(o) = &res.recommendations {
        let objectives: Vec<String> = o.objectives.iter().map(ToString::to_string).collect();
        println!(
            "ranked by {} ({}): {}",
            o.method,
            o.normalization,
            objectives.join(", ")
        );
        for n in &o.notes {
            println!("note: {n}");
        }
    }
}

pub fn results(a: ResultsArgs, plan: &Plan<'_, '_>) -> Result<ExitCode, CliError> {
    let dir = crate::build::cache_dir(&a.cache, Some(&a.sweep));
    if !dir.join("layout").exists() {
        return Err(CliError::Other(format!(
            "no cache at {}: `bench build {}` runs the sweep",
            dir.display(),
            a.sweep.display()
        )));
    }
    let cache = LocalCache::open(&dir)
        .map_err(|e| CliError::Other(format!("cannot open the cache at {}: {e}", dir.display())))?;
    let res = collect(plan, &cache);
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&res).map_err(|e| CliError::Other(e.to_string()))?
        );
    } else {
        print(&res, if a.all { None } else { Some(20) });
    }
    Ok(ExitCode::SUCCESS)
}

/// After a build: the table, when there is anything to show.
pub fn after_build(plan: &Plan<'_, '_>, cache_dir: &Path) {
    if let Ok(cache) = LocalCache::open(cache_dir) {
        let res = collect(plan, &cache);
        if !res.rows.is_empty() {
            print(&res, Some(20));
        }
    }
}
