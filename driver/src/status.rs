//! Where each node of a plan stands against a cache: cached, or why it runs (new, a
//! parameter or an input changed, it failed before); per-kind status of a sweep; finding a
//! node by label or key prefix.

use std::collections::BTreeMap;

use bench_cache::{CacheBackend, LocalCache};
use bench_node::outputs::{Validation, names};
use bench_plan::dag::{label, params};
use bench_plan::{NodeKind, Plan};
use petgraph::graph::NodeIndex;
use serde::Serialize;

use crate::error::{Error, Result};

/// Whether a node will run, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Why {
    Cached,
    New,
    ParamsChanged,
    InputChanged,
    FailedBefore,
}

impl Why {
    pub fn status(&self) -> &'static str {
        if *self == Why::Cached {
            "cached"
        } else {
            "will-run"
        }
    }

    pub fn phrase(&self) -> &'static str {
        match self {
            Why::Cached => "cached",
            Why::New => "new",
            Why::ParamsChanged => "a parameter changed",
            Why::InputChanged => "an input changed",
            Why::FailedBefore => "the previous attempt failed",
        }
    }
}

/// Status of every node of a plan against a cache (cheap: no output verification).
pub fn statuses(p: &Plan<'_, '_>, cache: Option<&LocalCache>) -> Vec<Why> {
    let Some(cache) = cache else {
        return vec![Why::New; p.graph.node_count()];
    };
    // An empty label index (a fresh cache) spares a file lookup per node.
    let has_labels = std::fs::read_dir(cache.root().join("labels"))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    p.graph
        .node_indices()
        .map(|i| why(p, cache, i, has_labels))
        .collect()
}

/// Whether one node is cached, and if not, why it runs.
pub fn why(p: &Plan<'_, '_>, cache: &dyn CacheBackend, i: NodeIndex, has_labels: bool) -> Why {
    let n = &p.graph[i];
    let key = n.key.hex();
    if cache.contains(&key) {
        return Why::Cached;
    }
    if cache.failure(&key).is_some() {
        return Why::FailedBefore;
    }
    if !has_labels {
        return Why::New;
    }
    let (r, x) = (&p.resolved, &p.expansion);
    match cache.label(&r.sweep.name.value, &label(r, x, &n.subject)) {
        None => Why::New,
        Some(rec) if rec.params != params(r, x, &n.subject) => Why::ParamsChanged,
        Some(_) => Why::InputChanged,
    }
}

#[derive(Serialize, Default)]
pub struct KindStatus {
    pub done: usize,
    pub pending: usize,
    pub failed: usize,
}

#[derive(Serialize)]
pub struct FailedNode {
    pub label: String,
    pub key: String,
    pub class: String,
    pub message: String,
    pub attempts: u32,
    pub at: String,
}

#[derive(Serialize)]
pub struct StatusReport {
    pub sweep: String,
    pub cache: String,
    pub kinds: BTreeMap<NodeKind, KindStatus>,
    pub failed: Vec<FailedNode>,
    /// Runs that completed but failed validation: excluded from ranking.
    pub invalid: Vec<InvalidRun>,
    /// When the sweep searches, what of the grid it measures: the rest stays pending.
    pub search: Option<SearchStatus>,
}

/// A search's share of the grid, in configuration × load points (aggregate nodes).
#[derive(Serialize)]
pub struct SearchStatus {
    pub strategy: String,
    /// The most it measures.
    pub budget: usize,
    pub candidates: usize,
    /// Measured so far (by the search or by a `--grid` build).
    pub measured: usize,
    /// Once the whole grid is measured: the share of its hypervolume that the search's own
    /// choices reach (how much a search of this sweep would have missed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reached: Option<f64>,
}

#[derive(Serialize)]
pub struct InvalidRun {
    pub label: String,
    pub key: String,
    pub reasons: Vec<String>,
}

/// Done, pending and failed nodes per kind, failed nodes' last errors, invalid runs.
pub fn status(plan: &Plan<'_, '_>, cache: &LocalCache) -> StatusReport {
    let mut kinds: BTreeMap<NodeKind, KindStatus> = NodeKind::ALL
        .iter()
        .map(|k| (*k, KindStatus::default()))
        .collect();
    let mut failed = Vec::new();
    let mut invalid = Vec::new();
    for i in plan.graph.node_indices() {
        let n = &plan.graph[i];
        let key = n.key.hex();
        let k = kinds.entry(n.kind).or_default();
        if cache.contains(&key) {
            k.done += 1;
            if n.kind == NodeKind::Validate
                && let Some(v) =
                    crate::outputs::read_output::<Validation>(cache, &key, names::VALIDATION)
                && !v.passed
            {
                invalid.push(InvalidRun {
                    label: label(&plan.resolved, &plan.expansion, &n.subject),
                    key: key.clone(),
                    reasons: v.reasons,
                });
            }
        } else if let Some(f) = cache.failure(&key) {
            k.failed += 1;
            failed.push(FailedNode {
                label: f.label,
                key,
                class: f.class,
                message: f.message,
                attempts: f.attempts,
                at: f.at,
            });
        } else {
            k.pending += 1;
        }
    }
    let search = plan.resolved.sweep.search.as_ref().map(|s| {
        let a = &kinds[&NodeKind::Aggregate];
        let candidates = a.done + a.pending + a.failed;
        SearchStatus {
            strategy: s.strategy.clone(),
            budget: s.budget.of(candidates),
            candidates,
            measured: a.done,
            reached: if a.pending == 0 {
                crate::search::reached(plan, cache)
            } else {
                None
            },
        }
    });
    StatusReport {
        sweep: plan.resolved.sweep.name.value.clone(),
        cache: cache.root().display().to_string(),
        kinds,
        failed,
        invalid,
        search,
    }
}

/// A node's logs in the cache, every attempt's, each read whole (or why it could not be);
/// empty when the node never ran against this cache.
pub fn logs(
    plan: &Plan<'_, '_>,
    cache: &dyn CacheBackend,
    node: NodeIndex,
) -> Vec<(std::path::PathBuf, std::io::Result<Vec<u8>>)> {
    cache
        .logs(&plan.graph[node].key.hex())
        .into_iter()
        .map(|path| {
            let text = std::fs::read(&path);
            (path, text)
        })
        .collect()
}

pub fn find_node(plan: &Plan<'_, '_>, what: &str) -> Result<NodeIndex> {
    let found = plan.find(what);
    match found.len() {
        1 => Ok(found[0]),
        0 => Err(Error::Other(format!(
            "no node of this sweep is labelled `{what}` or has a key starting with it (`bench plan --json` lists labels and keys)"
        ))),
        n => Err(Error::Other(format!(
            "{n} nodes match `{what}`: give more of the key"
        ))),
    }
}

/// `bench build --node`: the plan's nodes named (by key, a key's start, or label) as a
/// build's subset; `None` when none is named.
pub fn nodes_mask(plan: &Plan<'_, '_>, nodes: &[String]) -> Result<Option<Vec<bool>>> {
    if nodes.is_empty() {
        return Ok(None);
    }
    let mut mask = vec![false; plan.graph.node_count()];
    for n in nodes {
        let i = find_node(plan, n).map_err(|e| {
            Error::Other(format!(
                "--node: {e}; a workflow exported before the sweep, its model revisions or bench changed names keys this plan no longer has"
            ))
        })?;
        mask[i.index()] = true;
    }
    Ok(Some(mask))
}

/// Paths where two JSON values differ, with both values.
pub fn diff(
    a: &serde_json::Value,
    b: &serde_json::Value,
    path: &str,
    out: &mut Vec<(String, String, String)>,
) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &p,
                    out,
                );
            }
        }
        _ if a != b => out.push((path.to_string(), a.to_string(), b.to_string())),
        _ => {}
    }
}
