//! What `bench plan`, `bench graph` and `--json` print, as typed structs: the human and the
//! machine output are rendered from the same data.

use std::collections::BTreeMap;
use std::fmt::Write;

use petgraph::graph::NodeIndex;
use serde::Serialize;
use serde_json::Value;

use crate::dag::{config_json, config_label, inputs, label, params};
use crate::{NodeKey, NodeKind, Plan};

#[derive(Debug, Serialize)]
pub struct ReasonGroup {
    pub code: &'static str,
    pub class: String,
    pub count: usize,
    /// One configuration of the group, with its full reason.
    pub example: String,
    pub example_detail: String,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub sweep: String,
    /// Points of the full cartesian product.
    pub matrix_points: usize,
    pub excluded: usize,
    pub included: usize,
    /// Configurations that will be benchmarked.
    pub valid: usize,
    /// Configurations that cannot run.
    pub pruned: usize,
    pub nodes: BTreeMap<NodeKind, usize>,
    pub total_nodes: usize,
    pub pruned_by_reason: Vec<ReasonGroup>,
}

pub fn summary(p: &Plan<'_, '_>) -> Summary {
    let x = &p.expansion;
    let mut groups: BTreeMap<String, ReasonGroup> = BTreeMap::new();
    for (c, why) in &x.pruned {
        let class = why.class();
        groups
            .entry(class.clone())
            .and_modify(|g| g.count += 1)
            .or_insert_with(|| ReasonGroup {
                code: why.code(),
                class,
                count: 1,
                example: config_label(&p.resolved, x, c),
                example_detail: why.to_string(),
            });
    }
    let mut pruned_by_reason: Vec<ReasonGroup> = groups.into_values().collect();
    pruned_by_reason.sort_by(|a, b| b.count.cmp(&a.count).then(a.class.cmp(&b.class)));
    Summary {
        sweep: p.resolved.sweep.name.value.clone(),
        matrix_points: x.matrix_points,
        excluded: x.excluded,
        included: x.included,
        valid: x.valid.len(),
        pruned: x.pruned.len(),
        nodes: p.counts().into_iter().collect(),
        total_nodes: p.graph.node_count(),
        pruned_by_reason,
    }
}

/// One node as `bench plan --json` prints it.
#[derive(Debug, Serialize)]
pub struct NodeJson {
    pub key: NodeKey,
    pub kind: NodeKind,
    pub label: String,
    pub params: Value,
    pub inputs: Vec<NodeKey>,
    pub priority: i64,
    pub status: &'static str,
    pub why: &'static str,
}

/// One node with its status against a cache (`will-run`/`cached`) and why.
pub fn node_json(
    p: &Plan<'_, '_>,
    i: NodeIndex,
    status: &'static str,
    why: &'static str,
) -> NodeJson {
    let n = &p.graph[i];
    NodeJson {
        key: n.key,
        kind: n.kind,
        label: label(&p.resolved, &p.expansion, &n.subject),
        params: params(&p.resolved, &p.expansion, &n.subject),
        inputs: inputs(&p.graph, i)
            .into_iter()
            .map(|j| p.graph[j].key)
            .collect(),
        priority: n.priority,
        status,
        why,
    }
}

/// One pruned configuration as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct PrunedJson<'a> {
    pub config: Value,
    pub reason: &'a crate::Reason,
}

pub fn pruned_json<'a>(p: &'a Plan<'_, '_>) -> impl Iterator<Item = PrunedJson<'a>> + 'a {
    p.expansion.pruned.iter().map(|(c, why)| PrunedJson {
        config: config_json(&p.resolved, &p.expansion, c),
        reason: why,
    })
}

fn quote_dot(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The DAG in Graphviz dot.
pub fn dot(p: &Plan<'_, '_>) -> String {
    let mut s = String::from(
        "digraph bench {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for i in p.graph.node_indices() {
        let n = &p.graph[i];
        let l = label(&p.resolved, &p.expansion, &n.subject);
        let _ = writeln!(
            s,
            "  n{} [label=\"{}\", tooltip=\"{}\"];",
            i.index(),
            quote_dot(&l),
            n.key.short()
        );
    }
    for e in p.graph.edge_indices() {
        if let Some((a, b)) = p.graph.edge_endpoints(e) {
            let _ = writeln!(s, "  n{} -> n{};", a.index(), b.index());
        }
    }
    s.push_str("}\n");
    s
}

/// The DAG as a Mermaid flowchart.
pub fn mermaid(p: &Plan<'_, '_>) -> String {
    let mut s = String::from("flowchart LR\n");
    for i in p.graph.node_indices() {
        let n = &p.graph[i];
        let l = label(&p.resolved, &p.expansion, &n.subject).replace('"', "#quot;");
        let _ = writeln!(s, "  n{}[\"{}\"]", i.index(), l);
    }
    for e in p.graph.edge_indices() {
        if let Some((a, b)) = p.graph.edge_endpoints(e) {
            let _ = writeln!(s, "  n{} --> n{}", a.index(), b.index());
        }
    }
    s
}
