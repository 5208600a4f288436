//! `bench explain`: what a node's key is made of, whether it runs, and what differs from
//! the last committed key of the same node (ninja's `-d explain`).

use std::collections::BTreeMap;

use bench_cache::{CacheBackend, FailureRecord};
use bench_plan::dag::{fingerprint, inputs, label, params};
use bench_plan::{NodeKind, Plan};
use petgraph::graph::NodeIndex;

use crate::status::{Why, diff, why};

/// What changed since the last committed key of the node.
pub enum Since {
    /// This very key is committed.
    Same,
    /// The node never committed before.
    Never,
    Changed {
        key: String,
        /// (path, old, new) of every parameter that differs.
        params: Vec<(String, String, String)>,
        /// (input label, old key, new key; none when the input is gone).
        inputs: Vec<(String, String, Option<String>)>,
    },
}

pub struct Explanation {
    pub label: String,
    pub key: String,
    pub kind: NodeKind,
    pub cache_version: u32,
    pub fingerprint: String,
    pub params: serde_json::Value,
    /// (short key, label) of each input.
    pub inputs: Vec<(String, String)>,
    pub why: Why,
    pub last_failure: Option<FailureRecord>,
    pub since: Since,
}

pub fn explain(plan: &Plan<'_, '_>, cache: &dyn CacheBackend, i: NodeIndex) -> Explanation {
    let (r, x, g) = (&plan.resolved, &plan.expansion, &plan.graph);
    let n = &g[i];
    let l = label(r, x, &n.subject);
    let p = params(r, x, &n.subject);
    let key = n.key.hex();
    let ins = inputs(g, i);
    let since = match cache.label(&r.sweep.name.value, &l) {
        Some(rec) if rec.key != key => {
            let mut params_changed = Vec::new();
            diff(&rec.params, &p, "", &mut params_changed);
            let now: BTreeMap<String, String> = ins
                .iter()
                .map(|j| (label(r, x, &g[*j].subject), g[*j].key.hex()))
                .collect();
            let inputs_changed = rec
                .inputs
                .iter()
                .filter(|(il, old)| now.get(il) != Some(old))
                .map(|(il, old)| (il.clone(), old.clone(), now.get(il).cloned()))
                .collect();
            Since::Changed {
                key: rec.key,
                params: params_changed,
                inputs: inputs_changed,
            }
        }
        Some(_) => Since::Same,
        None => Since::Never,
    };
    Explanation {
        inputs: ins
            .iter()
            .map(|j| (g[*j].key.short(), label(r, x, &g[*j].subject)))
            .collect(),
        why: why(plan, cache, i, true),
        last_failure: cache.failure(&key),
        fingerprint: fingerprint(r, x, &n.subject),
        cache_version: r.sweep.cache_version,
        kind: n.kind,
        label: l,
        key,
        params: p,
        since,
    }
}
