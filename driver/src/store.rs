//! The DuckDB results store of a sweep: what a build's committed outputs add to it.

use std::path::Path;

use bench_cache::{CacheBackend, Lookup};
use bench_node::outputs::{AggregateOutput, OptimizeOutput, RunInfo, Validation, names as outputs};
use bench_plan::dag::{inputs, label};
use bench_plan::{NodeKind, Plan, Subject};
use bench_results::{Axes, Store};
use petgraph::graph::NodeIndex;

use crate::error::{Error, Result};
use crate::outputs::{output_path, read};

/// Opens (creating) the results store.
pub fn open(path: &Path) -> Result<Store> {
    Store::open(path).map_err(|e| Error::Other(e.to_string()))
}

/// Opens a store that must exist (a command that reads results).
pub fn existing(db: &Path, hint: &str) -> Result<Store> {
    if !db.exists() {
        return Err(Error::Other(format!(
            "no results store at {}: `bench build {hint}` fills it (or give --db)",
            db.display()
        )));
    }
    open(db)
}

fn axes(plan: &Plan<'_, '_>, i: NodeIndex) -> Axes {
    let (r, x) = (&plan.resolved, &plan.expansion);
    let s = &plan.graph[i].subject;
    let (config, load) = match *s {
        Subject::Bench { config, load, .. }
        | Subject::Validate { config, load, .. }
        | Subject::Aggregate { config, load } => (config, load),
        _ => return Axes::default(),
    };
    let c = &x.valid[config as usize];
    let w = r.workloads[c.workload as usize].decl;
    Axes {
        sweep: r.sweep.name.value.clone(),
        label: label(r, x, s),
        model: r.models[c.model as usize].decl.name.value.clone(),
        engine: r.engine_label(c.engine, c.gpu).into_owned(),
        quantization: r.quantization.values[c.quantization as usize].name().into(),
        dtype: r.dtype.values[c.dtype as usize].name().into(),
        kv_cache: r.kv_cache.values[c.kv_cache as usize].name().into(),
        gpu: r.gpu.values[c.gpu as usize].name.into(),
        gpus: r.gpus.values[c.gpus as usize],
        batch_size: r.batch_size.values[c.batch_size as usize],
        seq_len: r.seq_len.values[c.seq_len as usize],
        workload: w.name.value.clone(),
        load: w.load[load as usize].value.label(),
    }
}

/// Copies what the cache holds for a plan into the store; rows already there are skipped.
/// Returns the number of nodes added.
pub fn ingest(plan: &Plan<'_, '_>, cache: &dyn CacheBackend, db: &Path) -> Result<usize> {
    let mut store = open(db)?;
    let err = |e: bench_results::StoreError| Error::Other(e.to_string());
    let g = &plan.graph;
    let mut added = 0;
    let mut stored = std::collections::HashMap::new();
    for t in ["runs", "validations", "configs", "recommendations"] {
        stored.insert(t, store.keys(t).map_err(err)?);
    }
    for i in g.node_indices() {
        let n = &g[i];
        let table = match n.kind {
            NodeKind::Bench => "runs",
            NodeKind::Validate => "validations",
            NodeKind::Aggregate => "configs",
            NodeKind::Optimize => "recommendations",
            _ => continue,
        };
        let key = n.key.hex();
        if stored[table].contains(&key) {
            continue;
        }
        let Ok(Lookup::Hit(m)) = cache.lookup(&key) else {
            continue;
        };
        let done = match n.subject {
            Subject::Bench { repeat, .. } => {
                let (Some(run), Some(path)) = (
                    read::<RunInfo>(cache, &m, outputs::RUN),
                    output_path(cache, &m, outputs::RECORDS),
                ) else {
                    continue;
                };
                // A committed output that does not parse is reported, not half stored.
                let records =
                    bench_actions::read_records(&path).map_err(|f| Error::Other(f.message))?;
                store
                    .add_run(&key, &axes(plan, i), repeat, &run, &records)
                    .map_err(err)?
            }
            Subject::Validate { .. } => {
                let Some(v) = read::<Validation>(cache, &m, outputs::VALIDATION) else {
                    continue;
                };
                let bench = inputs(g, i)
                    .first()
                    .map(|b| g[*b].key.hex())
                    .unwrap_or_default();
                store.add_validation(&key, &bench, &v).map_err(err)?
            }
            Subject::Aggregate { .. } => {
                let Some(a) = read::<AggregateOutput>(cache, &m, outputs::AGGREGATE) else {
                    continue;
                };
                store.add_aggregate(&key, &axes(plan, i), &a).map_err(err)?
            }
            Subject::Optimize => {
                let Some(o) = read::<OptimizeOutput>(cache, &m, outputs::RECOMMENDATIONS) else {
                    continue;
                };
                store
                    .add_recommendations(&key, &plan.resolved.sweep.name.value, &o)
                    .map_err(err)?
            }
            _ => false,
        };
        added += done as usize;
    }
    Ok(added)
}
