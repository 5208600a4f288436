//! Helpers: compile a sweep text and take an owned snapshot of its plan.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use bench_plan::dag::{fingerprint, inputs, label, params};
use bench_plan::key::{KeyInput, node_key};
use bench_plan::{NodeKey, NodeKind, PlanOptions};
use bench_sweep::{Diag, Source, SweepError};
use serde_json::Value;

#[derive(Clone, Debug)]
pub struct NodeSnap {
    pub key: NodeKey,
    pub kind: NodeKind,
    pub params: Value,
    pub fingerprint: String,
    pub inputs: Vec<String>,
    pub priority: i64,
}

#[derive(Debug)]
pub struct Snapshot {
    pub nodes: BTreeMap<String, NodeSnap>,
    pub valid: Vec<String>,
    /// (configuration label, reason code, reason text)
    pub pruned: Vec<(String, &'static str, String)>,
    pub excluded: usize,
    pub included: usize,
    pub matrix_points: usize,
    pub warnings: Vec<Diag>,
    pub cache_version: u32,
}

impl Snapshot {
    pub fn count(&self, kind: NodeKind) -> usize {
        self.nodes.values().filter(|n| n.kind == kind).count()
    }

    pub fn reason_of(&self, config_prefix: &str) -> Option<&(String, &'static str, String)> {
        self.pruned.iter().find(|p| p.0.starts_with(config_prefix))
    }

    /// Labels of every node reachable from `start` through dependents, `start` included.
    pub fn descendants(&self, start: &[String]) -> std::collections::BTreeSet<String> {
        let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (l, n) in &self.nodes {
            for i in &n.inputs {
                dependents.entry(i.as_str()).or_default().push(l.as_str());
            }
        }
        let mut out: std::collections::BTreeSet<String> = start.iter().cloned().collect();
        let mut stack: Vec<String> = start.to_vec();
        while let Some(n) = stack.pop() {
            for d in dependents.get(n.as_str()).into_iter().flatten() {
                if out.insert(d.to_string()) {
                    stack.push(d.to_string());
                }
            }
        }
        out
    }
}

pub fn try_snapshot(text: &str, base_dir: Option<&Path>) -> Result<Snapshot, SweepError> {
    let source = Source::new("sweep.kdl", text);
    let parsed = bench_sweep::parse(&source)?;
    let registry = bench_engines::builtin();
    let opts = PlanOptions {
        base_dir: base_dir.map(Path::to_path_buf),
        ..PlanOptions::default()
    };
    let plan = bench_plan::plan(&parsed.sweep, &source, &registry, &opts)?;
    let (r, x, g) = (&plan.resolved, &plan.expansion, &plan.graph);
    let mut nodes = BTreeMap::new();
    for i in g.node_indices() {
        let n = &g[i];
        let l = label(r, x, &n.subject);
        let snap = NodeSnap {
            key: n.key,
            kind: n.kind,
            params: params(r, x, &n.subject),
            fingerprint: fingerprint(r, x, &n.subject),
            inputs: inputs(g, i)
                .into_iter()
                .map(|j| label(r, x, &g[j].subject))
                .collect(),
            priority: n.priority,
        };
        assert!(
            nodes.insert(l.clone(), snap).is_none(),
            "label {l} is not unique"
        );
    }
    let mut warnings = parsed.warnings.clone();
    warnings.extend(plan.warnings.iter().cloned());
    Ok(Snapshot {
        valid: x
            .valid
            .iter()
            .map(|c| bench_plan::dag::config_label(r, x, c))
            .collect(),
        pruned: x
            .pruned
            .iter()
            .map(|(c, why)| {
                (
                    bench_plan::dag::config_label(r, x, c),
                    why.code(),
                    why.to_string(),
                )
            })
            .collect(),
        excluded: x.excluded,
        included: x.included,
        matrix_points: x.matrix_points,
        nodes,
        warnings,
        cache_version: parsed.sweep.cache_version,
    })
}

pub fn snapshot(text: &str) -> Snapshot {
    match try_snapshot(text, None) {
        Ok(s) => s,
        Err(e) => panic!("sweep does not compile: {:#?}", e.diags),
    }
}

pub fn errors(text: &str) -> Vec<Diag> {
    match try_snapshot(text, None) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.diags,
    }
}

/// Recomputes every key through the JSON reference path.
pub fn reference_key(s: &Snapshot, label: &str) -> NodeKey {
    let n = &s.nodes[label];
    let input_keys: Vec<NodeKey> = n.inputs.iter().map(|i| s.nodes[i].key).collect();
    node_key(&KeyInput {
        kind: n.kind.name(),
        kind_version: n.kind.version(),
        cache_version: s.cache_version,
        params: &n.params,
        fingerprint: &n.fingerprint,
        inputs: &input_keys,
    })
}
