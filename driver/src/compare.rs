//! `bench compare`: a baseline's results against a candidate's, configuration by
//! configuration, with a verdict per objective ([`bench_analysis::compare::judge`]) — the
//! regression gate of a CI pipeline.
//!
//! A side is a sweep (its results in its cache, with the per-request samples of its runs
//! for the rank test), a results store (a DuckDB file `bench build` filled: its latest
//! aggregates, and its runs' requests for the rank test) or a `bench results --json` export
//! (aggregates only: the repeats' confidence intervals are the evidence).

use std::collections::BTreeMap;
use std::path::Path;

use bench_analysis::Sense;
use bench_analysis::compare::{Change, Measured, Verdict, judge};
use bench_cache::CacheBackend;
use bench_node::outputs::{AggregateOutput, names};
use bench_node::params::{Direction, Params};
use bench_plan::dag::{inputs, node_params};
use bench_plan::{NodeKind, Plan, Subject};
use petgraph::graph::NodeIndex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::outputs::{output_path, read_output};

/// One configuration × load point of a side.
#[derive(Clone, Debug)]
pub struct Point {
    pub aggregate: AggregateOutput,
    /// Per-request time to first token and end-to-end latency, ms (measured requests of
    /// every repeat), when the side has its runs.
    pub ttft_ms: Vec<f64>,
    pub e2e_ms: Vec<f64>,
}

impl Point {
    fn new(aggregate: AggregateOutput) -> Self {
        Point {
            aggregate,
            ttft_ms: Vec::new(),
            e2e_ms: Vec::new(),
        }
    }
}

/// One side of a comparison.
#[derive(Clone, Debug, Default)]
pub struct Side {
    /// What the user named (a path).
    pub name: String,
    /// By label (`MODEL/ENGINE/…/WORKLOAD/LOAD`).
    pub points: BTreeMap<String, Point>,
    /// The sweep's optimize objectives, when the side is a sweep.
    pub objectives: Vec<Objective>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Objective {
    pub metric: String,
    pub sense: Sense,
}

/// Objectives compared when neither the command nor the candidate's sweep names any.
pub fn default_objectives() -> Vec<Objective> {
    [
        ("output-throughput", Sense::Max),
        ("ttft-p95", Sense::Min),
        ("tpot-p95", Sense::Min),
    ]
    .into_iter()
    .map(|(m, s)| Objective {
        metric: m.into(),
        sense: s,
    })
    .collect()
}

#[derive(Deserialize)]
struct ExportRow {
    label: String,
    aggregate: AggregateOutput,
}

#[derive(Deserialize)]
struct Export {
    rows: Vec<ExportRow>,
}

/// A side named by a file (a `.json` export, a `.duckdb`/`.db` store, or a `.parquet`/`.csv`
/// export of a store's `aggregates` view), by its extension;
/// `None` for anything else (a sweep).
pub fn file_side(path: &Path) -> Option<Result<Side>> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => Some(Side::from_json(path)),
        Some("duckdb" | "db") => Some(Side::from_store(path)),
        Some("parquet" | "csv") => Some(Side::from_table_file(path)),
        _ => None,
    }
}

/// The cache a sweep side is read from: its own, or through a shared cache (read-only)
/// when `remote` names one, so that a runner reads results it never built.
pub fn side_cache(
    dir: &Path,
    sweep: &Path,
    remote: Option<&str>,
) -> Result<std::sync::Arc<dyn CacheBackend>> {
    match remote {
        Some(url) => crate::session::read_through(crate::paths::open_cache(dir)?, url),
        None => Ok(std::sync::Arc::new(crate::paths::existing_cache(
            dir, sweep,
        )?)),
    }
}

fn num(v: &bench_results::duckdb::types::Value) -> Option<f64> {
    bench_results::cell(v).parse().ok()
}

/// Points from rows of [`bench_results::AGGREGATES_COLUMNS`]; rows of several sweeps are
/// refused.
fn aggregate_points(path: &Path, t: &bench_results::Table) -> Result<BTreeMap<String, Point>> {
    let names: std::collections::BTreeSet<String> =
        t.rows.iter().map(|r| bench_results::cell(&r[0])).collect();
    if names.len() > 1 {
        return Err(Error::Other(format!(
            "{} holds the results of {} sweeps ({}): compare the sweeps themselves, or \
             exports of one (`bench results SWEEP --json`)",
            path.display(),
            names.len(),
            names.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let mut points: BTreeMap<String, Point> = BTreeMap::new();
    for r in &t.rows {
        let label = bench_results::cell(&r[1]);
        let label = label.trim_start_matches("aggregate/").to_string();
        let repeats = num(&r[3]).unwrap_or(0.0) as u32;
        let p = points.entry(label).or_insert_with(|| {
            Point::new(AggregateOutput {
                valid: bench_results::cell(&r[2]) == "true",
                reasons: Vec::new(),
                repeats,
                repeats_valid: repeats,
                requests: 0,
                completed: 0,
                simulated: false,
                metrics: BTreeMap::new(),
                ci: BTreeMap::new(),
                confidence: 0.0,
                errors: Vec::new(),
                tokens_from: None,
            })
        });
        let metric = bench_results::cell(&r[4]);
        let Some(value) = num(&r[5]) else { continue };
        p.aggregate.metrics.insert(metric.clone(), value);
        if let (Some(low), Some(high)) = (num(&r[6]), num(&r[7])) {
            p.aggregate.ci.insert(
                metric,
                bench_node::outputs::Ci {
                    mean: value,
                    low,
                    high,
                    n: repeats,
                },
            );
        }
    }
    Ok(points)
}

impl Side {
    /// A `bench results --json` export.
    pub fn from_json(path: &Path) -> Result<Side> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::Other(format!("cannot read {}: {e}", path.display())))?;
        let e: Export = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Other(format!(
                "{} is not a `bench results --json` export: {e}",
                path.display()
            ))
        })?;
        Ok(Side {
            name: path.display().to_string(),
            points: e
                .rows
                .into_iter()
                .map(|r| (r.label, Point::new(r.aggregate)))
                .collect(),
            objectives: Vec::new(),
        })
    }

    /// A results store, opened read-only: per configuration × load point the aggregate
    /// ingested last (a store keeps every build's), with the measured requests of the runs
    /// ingested last. A store holding several sweeps is refused: labels alone would mix them.
    pub fn from_store(path: &Path) -> Result<Side> {
        let store = crate::store::existing_read_only(path, "SWEEP --db FILE")?;
        let q = |sql: &str| {
            store
                .query(sql)
                .map_err(|e| Error::Other(format!("{}: {e}", path.display())))
        };
        let latest = q(bench_results::LATEST_AGGREGATES)?;
        let mut points = aggregate_points(path, &latest)?;
        let requests = q("SELECT r.label, q.ttft_ms, q.e2e_ms FROM requests q
             JOIN (SELECT node_key, label FROM runs
                   QUALIFY row_number() OVER (PARTITION BY label ORDER BY rowid DESC) = 1) r
             USING (node_key)
             WHERE NOT q.warmup AND q.error IS NULL
             ORDER BY r.label, q.idx")?;
        for r in &requests.rows {
            // `bench/CONFIG/LOAD/rN` pools into `CONFIG/LOAD`.
            let run = bench_results::cell(&r[0]);
            let Some(label) = run
                .strip_prefix("bench/")
                .and_then(|l| l.rsplit_once('/'))
                .map(|(l, _)| l)
            else {
                continue;
            };
            let Some(p) = points.get_mut(label) else {
                continue;
            };
            if let Some(t) = num(&r[1]) {
                p.ttft_ms.push(t);
            }
            if let Some(e) = num(&r[2]) {
                p.e2e_ms.push(e);
            }
        }
        Ok(Side {
            name: path.display().to_string(),
            points,
            objectives: Vec::new(),
        })
    }

    /// An export of a store's `aggregates` view (`bench export --table aggregates --format
    /// parquet|csv`): the repeats' intervals are the evidence, as for a JSON export.
    pub fn from_table_file(path: &Path) -> Result<Side> {
        let t = bench_results::query_file(path, bench_results::AGGREGATES_COLUMNS).map_err(|e| {
            Error::Other(format!(
                "{e}: a compare side in Parquet or CSV is an export of the store's `aggregates` \
                 view (`bench export --table aggregates --format parquet -o FILE`)"
            ))
        })?;
        Ok(Side {
            name: path.display().to_string(),
            points: aggregate_points(path, &t)?,
            objectives: Vec::new(),
        })
    }

    /// A sweep's results as its cache holds them, with its runs' per-request samples.
    pub fn from_plan(name: &str, plan: &Plan<'_, '_>, cache: &dyn CacheBackend) -> Side {
        let (r, x, g) = (&plan.resolved, &plan.expansion, &plan.graph);
        let mut points = BTreeMap::new();
        for i in g
            .node_indices()
            .filter(|i| g[*i].kind == NodeKind::Aggregate)
        {
            let key = g[i].key.hex();
            let Some(aggregate) = read_output::<AggregateOutput>(cache, &key, names::AGGREGATE)
            else {
                continue;
            };
            let mut p = Point::new(aggregate);
            for b in benches(plan, i) {
                samples(cache, &g[b].key.hex(), &mut p);
            }
            let label = bench_plan::dag::label(r, x, &g[i].subject)
                .trim_start_matches("aggregate/")
                .to_string();
            points.insert(label, p);
        }
        let objectives = match node_params(r, x, &Subject::Optimize) {
            Params::Optimize(o) => bench_actions::objectives(&o)
                .unwrap_or_default()
                .into_iter()
                .map(|o| Objective {
                    metric: o.metric,
                    sense: if o.direction == Direction::Maximize {
                        Sense::Max
                    } else {
                        Sense::Min
                    },
                })
                .collect(),
            _ => Vec::new(),
        };
        Side {
            name: name.to_string(),
            points,
            objectives,
        }
    }
}

/// The bench nodes an aggregate pools (through its validate nodes).
fn benches(plan: &Plan<'_, '_>, i: NodeIndex) -> Vec<NodeIndex> {
    let g = &plan.graph;
    let mut out = Vec::new();
    for j in inputs(g, i) {
        match g[j].kind {
            NodeKind::Bench => out.push(j),
            NodeKind::Validate => out.extend(
                inputs(g, j)
                    .into_iter()
                    .filter(|k| g[*k].kind == NodeKind::Bench),
            ),
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Adds a run's measured, successful requests to a point's samples.
fn samples(cache: &dyn CacheBackend, key: &str, p: &mut Point) {
    let Ok(bench_cache::Lookup::Hit(m)) = cache.lookup(key) else {
        return;
    };
    let Some(path) = output_path(cache, &m, names::RECORDS) else {
        return;
    };
    let Ok(records) = bench_actions::read_records(&path) else {
        return;
    };
    for rec in records.iter().filter(|r| !r.warmup && r.error.is_none()) {
        let ms = |ns: u64| ns.saturating_sub(rec.send_ns) as f64 / 1e6;
        if let Some(t) = rec.first_token_ns {
            p.ttft_ms.push(ms(t));
        }
        p.e2e_ms.push(ms(rec.end_ns));
    }
}

/// One objective of one configuration, compared.
#[derive(Clone, Debug, Serialize)]
pub struct Line {
    pub label: String,
    pub metric: String,
    pub sense: Sense,
    pub baseline: f64,
    pub candidate: f64,
    #[serde(flatten)]
    pub change: Change,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub baseline: String,
    pub candidate: String,
    pub threshold: f64,
    pub alpha: f64,
    pub lines: Vec<Line>,
    /// Configurations only one side measured.
    pub only_baseline: Vec<String>,
    pub only_candidate: Vec<String>,
}

impl Comparison {
    pub fn count(&self, v: Verdict) -> usize {
        self.lines.iter().filter(|l| l.change.verdict == v).count()
    }
}

/// What a metric's samples are, if it has per-request ones.
fn samples_of<'a>(p: &'a Point, metric: &str) -> &'a [f64] {
    if metric.starts_with("ttft-") {
        &p.ttft_ms
    } else if metric.starts_with("e2e-") {
        &p.e2e_ms
    } else {
        &[]
    }
}

fn measured(p: &Point, metric: &str) -> Option<Measured> {
    let value = *p.aggregate.metrics.get(metric)?;
    Some(Measured {
        value,
        ci: p
            .aggregate
            .ci
            .get(metric)
            .filter(|c| c.n >= 2)
            .map(|c| (c.low, c.high)),
        samples: samples_of(p, metric).to_vec(),
    })
}

/// The objectives to compare: those asked for (`NAME:max|min`, weights ignored), else the
/// candidate sweep's, else the baseline's, else [`default_objectives`].
pub fn objectives(asked: &[crate::rank::CriterionArg], base: &Side, cand: &Side) -> Vec<Objective> {
    if !asked.is_empty() {
        return asked
            .iter()
            .map(|c| Objective {
                metric: c.name.clone(),
                sense: c.sense,
            })
            .collect();
    }
    [&cand.objectives, &base.objectives]
        .into_iter()
        .find(|o| !o.is_empty())
        .cloned()
        .unwrap_or_else(default_objectives)
}

/// [`compare`], and an error when the two sides have nothing in common to compare.
pub fn gate(
    base: &Side,
    cand: &Side,
    objectives: &[Objective],
    threshold: f64,
    alpha: f64,
) -> Result<Comparison> {
    let c = compare(base, cand, objectives, threshold, alpha);
    if c.lines.is_empty() {
        return Err(Error::Other(format!(
            "nothing to compare: {} and {} have no valid configuration with these objectives in common",
            c.baseline, c.candidate
        )));
    }
    Ok(c)
}

/// Compares every configuration both sides measured validly, objective by objective.
pub fn compare(
    base: &Side,
    cand: &Side,
    objectives: &[Objective],
    threshold: f64,
    alpha: f64,
) -> Comparison {
    let mut lines = Vec::new();
    for (label, b) in &base.points {
        let Some(c) = cand.points.get(label) else {
            continue;
        };
        if !b.aggregate.valid || !c.aggregate.valid {
            continue;
        }
        for o in objectives {
            let (Some(mb), Some(mc)) = (measured(b, &o.metric), measured(c, &o.metric)) else {
                continue;
            };
            lines.push(Line {
                label: label.clone(),
                metric: o.metric.clone(),
                sense: o.sense,
                baseline: mb.value,
                candidate: mc.value,
                change: judge(&mb, &mc, o.sense, threshold, alpha),
            });
        }
    }
    let only = |a: &Side, b: &Side| -> Vec<String> {
        a.points
            .keys()
            .filter(|k| !b.points.contains_key(*k))
            .cloned()
            .collect()
    };
    Comparison {
        baseline: base.name.clone(),
        candidate: cand.name.clone(),
        threshold,
        alpha,
        lines,
        only_baseline: only(base, cand),
        only_candidate: only(cand, base),
    }
}
