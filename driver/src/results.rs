//! The results of a sweep as the cache holds them: one row per configuration and load
//! point (its aggregate), in recommendation order.

use std::collections::HashMap;

use bench_cache::CacheBackend;
use bench_node::outputs::{AggregateOutput, OptimizeOutput, Ranked, names};
use bench_node::params::Params;
use bench_plan::dag::{label, node_params};
use bench_plan::{NodeKind, Plan};
use serde::Serialize;

use crate::outputs::read_output;

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
    /// The sweep searches: what is missing was skipped by the search (unless it is still
    /// running).
    pub searched: bool,
    /// The search's generations, replayed from the cache: (candidates measured, hypervolume).
    /// Filled by the report only ([`crate::report::write`]): a replay of a large search costs
    /// seconds that a results table does not need.
    pub search: Vec<(usize, f64)>,
    /// Once the whole grid is measured, the share of its hypervolume the search's choices
    /// reach ([`crate::search::reached`]); filled by the report only, like `search`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reached: Option<f64>,
    /// Labels of the configuration × load points a search skipped (not measured).
    pub skipped: Vec<String>,
    pub rows: Vec<Row>,
    pub recommendations: Option<OptimizeOutput>,
}

/// A search covers part of the grid, which no optimize node ranks: what it measured (`aggs`,
/// by aggregate key), ranked as the optimize node ranks the grid (`None` for a sweep that
/// does not search, or nothing measured).
pub fn search_ranking(
    plan: &Plan<'_, '_>,
    aggs: &[(String, AggregateOutput)],
) -> Option<OptimizeOutput> {
    let (r, x) = (&plan.resolved, &plan.expansion);
    if r.sweep.search.is_none() || aggs.is_empty() {
        return None;
    }
    let Params::Optimize(p) = node_params(r, x, &bench_plan::Subject::Optimize) else {
        return None;
    };
    bench_actions::optimize(&p, aggs).ok()
}

/// The key a search's ranking of `aggs` is stored under: the optimize node's key and the
/// ranked aggregates' keys, hashed (known before anything is ranked).
pub fn search_ranking_key(
    plan: &Plan<'_, '_>,
    aggs: &[(String, AggregateOutput)],
) -> Option<String> {
    let optimize = plan
        .graph
        .node_weights()
        .find(|n| n.kind == NodeKind::Optimize)?;
    let mut keys: Vec<&str> = aggs.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    let mut h = blake3::Hasher::new();
    h.update(b"bench-search-ranking\0");
    h.update(&optimize.key.0);
    for k in keys {
        h.update(k.as_bytes());
        h.update(b"\0");
    }
    Some(h.finalize().to_hex().to_string())
}

/// Reads what the cache holds for a plan.
pub fn collect(plan: &Plan<'_, '_>, cache: &dyn CacheBackend) -> Results {
    let (r, x, g) = (&plan.resolved, &plan.expansion, &plan.graph);
    let searched = r.sweep.search.is_some();
    let mut found = Vec::new();
    let mut missing = 0;
    let mut skipped = Vec::new();
    for n in g.node_weights().filter(|n| n.kind == NodeKind::Aggregate) {
        let key = n.key.hex();
        match read_output::<AggregateOutput>(cache, &key, names::AGGREGATE) {
            Some(agg) => found.push((n, key, agg)),
            None => {
                missing += 1;
                if searched {
                    skipped.push(
                        label(r, x, &n.subject)
                            .trim_start_matches("aggregate/")
                            .to_string(),
                    );
                }
            }
        }
    }
    let recommendations: Option<OptimizeOutput> = g
        .node_weights()
        .find(|n| n.kind == NodeKind::Optimize)
        .and_then(|n| read_output(cache, &n.key.hex(), names::RECOMMENDATIONS))
        .or_else(|| {
            let aggs: Vec<(String, AggregateOutput)> = found
                .iter()
                .map(|(_, k, a)| (k.clone(), a.clone()))
                .collect();
            search_ranking(plan, &aggs)
        });
    let ranked: HashMap<&str, &Ranked> = recommendations
        .as_ref()
        .map(|o| o.ranked.iter().map(|r| (r.key.as_str(), r)).collect())
        .unwrap_or_default();
    let mut rows = Vec::new();
    for (n, key, agg) in found {
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
        searched,
        search: Vec::new(),
        reached: None,
        skipped,
        rows,
        recommendations,
    }
}
