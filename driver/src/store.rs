//! The DuckDB results store of a sweep: what a build's committed outputs add to it.

use std::path::Path;

use bench_cache::{CacheBackend, Lookup};
use bench_node::outputs::{AggregateOutput, OptimizeOutput, RunInfo, Validation, names as outputs};
use bench_plan::dag::{inputs, label};
use bench_plan::{NodeKind, Plan, Subject};
use bench_results::{Axes, Store};
use petgraph::graph::NodeIndex;

use crate::error::{Error, Result};
use crate::outputs::{output_path, read, read_output};

/// Opens (creating) the results store.
pub fn open(path: &Path) -> Result<Store> {
    Store::open(path).map_err(|e| Error::Other(e.to_string()))
}

/// Opens a store that must exist (a command that reads results).
pub fn existing(db: &Path, hint: &str) -> Result<Store> {
    must_exist(db, hint)?;
    open(db)
}

/// Opens a store that must exist only to read it: nothing migrated or written (a baseline
/// `bench compare` reads, perhaps on a read-only mount).
pub fn existing_read_only(db: &Path, hint: &str) -> Result<Store> {
    must_exist(db, hint)?;
    Store::open_read_only(db).map_err(|e| Error::Other(e.to_string()))
}

fn must_exist(db: &Path, hint: &str) -> Result<()> {
    if db.exists() {
        return Ok(());
    }
    Err(Error::Other(format!(
        "no results store at {}: `bench build {hint}` fills it (or give --db)",
        db.display()
    )))
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

/// The result tables of the node kinds that have one.
fn table(kind: NodeKind) -> Option<&'static str> {
    Some(match kind {
        NodeKind::Bench => "runs",
        NodeKind::Validate => "validations",
        NodeKind::Aggregate => "configs",
        NodeKind::Optimize => "recommendations",
        _ => return None,
    })
}

/// Downloads, before a build, the validations, aggregates and recommendations that a
/// shared cache holds and the store lacks (a few kB each), several at once. Whatever is
/// corrupt among them is found now and recomputed by the build.
pub fn prefetch(plan: &Plan<'_, '_>, cache: &bench_cache::Tiered, db: &Path) {
    let store = open(db).ok();
    let mut keys = Vec::new();
    for t in ["validations", "configs", "recommendations"] {
        let have = store
            .as_ref()
            .and_then(|s| s.keys(t).ok())
            .unwrap_or_default();
        keys.extend(
            plan.graph
                .node_indices()
                .map(|i| &plan.graph[i])
                .filter(|n| table(n.kind) == Some(t))
                .map(|n| n.key.hex())
                .filter(|k| !have.contains(k) && !cache.local().contains(k)),
        );
    }
    drop(store);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                while let Some(k) =
                    keys.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                {
                    if cache
                        .check(k)
                        .is_ok_and(|c| c == bench_cache::Checked::Committed)
                    {
                        let _ = cache.lookup(k);
                    }
                }
            });
        }
    });
}

/// Stores a search's ranking of what it measured, which no optimize node holds (the optimize
/// node's own, once a grid build ran it, is [`ingest`]'s): once a search has ended, so that
/// the store holds the ranking of its whole measured set, not one per generation. Returns
/// whether it was added (not there already).
pub fn ingest_search_ranking(
    plan: &Plan<'_, '_>,
    cache: &dyn CacheBackend,
    db: &Path,
) -> Result<bool> {
    let g = &plan.graph;
    let optimize_done = g.node_weights().any(|n| {
        n.kind == NodeKind::Optimize && matches!(cache.lookup(&n.key.hex()), Ok(Lookup::Hit(_)))
    });
    if plan.resolved.sweep.search.is_none() || optimize_done {
        return Ok(false);
    }
    let aggs: Vec<(String, AggregateOutput)> = g
        .node_weights()
        .filter(|n| n.kind == NodeKind::Aggregate)
        .filter_map(|n| {
            let key = n.key.hex();
            read_output::<AggregateOutput>(cache, &key, outputs::AGGREGATE).map(|a| (key, a))
        })
        .collect();
    if aggs.is_empty() {
        return Ok(false);
    }
    let Some(key) = crate::results::search_ranking_key(plan, &aggs) else {
        return Ok(false);
    };
    let mut store = open(db)?;
    let err = |e: bench_results::StoreError| Error::Other(e.to_string());
    if store.keys("recommendations").map_err(err)?.contains(&key) {
        return Ok(false);
    }
    let Some(o) = crate::results::search_ranking(plan, &aggs) else {
        return Ok(false);
    };
    store
        .add_recommendations(&key, &plan.resolved.sweep.name.value, &o)
        .map_err(err)
}

/// Copies what the cache holds for a plan into the store; rows already there are skipped.
/// A run's per-request records are read only when the local cache holds them (a shared
/// cache is not asked for every record of a sweep another machine ran). Returns the number
/// of nodes added.
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
        let Some(table) = table(n.kind) else {
            continue;
        };
        let key = n.key.hex();
        if stored[table].contains(&key) || (table == "runs" && !cache.actions().contains(&key)) {
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
