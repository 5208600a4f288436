//! The results of a sweep as the cache holds them: one row per configuration and load
//! point (its aggregate), in recommendation order.

use std::collections::HashMap;

use bench_cache::CacheBackend;
use bench_node::outputs::{AggregateOutput, OptimizeOutput, Ranked, names};
use bench_plan::dag::label;
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
    pub rows: Vec<Row>,
    pub recommendations: Option<OptimizeOutput>,
}

/// Reads what the cache holds for a plan.
pub fn collect(plan: &Plan<'_, '_>, cache: &dyn CacheBackend) -> Results {
    let (r, x, g) = (&plan.resolved, &plan.expansion, &plan.graph);
    let recommendations: Option<OptimizeOutput> = g
        .node_weights()
        .find(|n| n.kind == NodeKind::Optimize)
        .and_then(|n| read_output(cache, &n.key.hex(), names::RECOMMENDATIONS));
    let ranked: HashMap<&str, &Ranked> = recommendations
        .as_ref()
        .map(|o| o.ranked.iter().map(|r| (r.key.as_str(), r)).collect())
        .unwrap_or_default();
    let mut rows = Vec::new();
    let mut missing = 0;
    for n in g.node_weights().filter(|n| n.kind == NodeKind::Aggregate) {
        let key = n.key.hex();
        let Some(agg) = read_output::<AggregateOutput>(cache, &key, names::AGGREGATE) else {
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
