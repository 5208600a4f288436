//! The DuckDB results store from the command line: ingestion after each build, `bench
//! query` and `bench export`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bench_actions::{AggregateOutput, OptimizeOutput, RunInfo, Validation, outputs};
use bench_cache::{CacheBackend, LocalCache, Lookup};
use bench_plan::dag::{inputs, label};
use bench_plan::{NodeKind, Plan, Subject};
use bench_results::{Axes, Store, cell};
use petgraph::graph::NodeIndex;

use crate::cli::{ExportArgs, QueryArgs};
use crate::error::CliError;

/// The default store: `.bench/results.duckdb` beside the sweep (or here).
pub fn default_db(sweep: Option<&Path>) -> PathBuf {
    let base = sweep
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    base.join(".bench").join("results.duckdb")
}

fn open(path: &Path) -> Result<Store, CliError> {
    Store::open(path).map_err(|e| CliError::Other(e.to_string()))
}

use crate::results::{output_path, read};

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
pub fn ingest(plan: &Plan<'_, '_>, cache: &LocalCache, db: &Path) -> Result<usize, CliError> {
    let mut store = open(db)?;
    let err = |e: bench_results::StoreError| CliError::Other(e.to_string());
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
                    bench_actions::read_records(&path).map_err(|f| CliError::Other(f.message))?;
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

pub fn query(a: QueryArgs) -> Result<ExitCode, CliError> {
    let db = a.db.unwrap_or_else(|| default_db(None));
    if !db.exists() {
        return Err(CliError::Other(format!(
            "no results store at {}: `bench build SWEEP` fills it (or give --db)",
            db.display()
        )));
    }
    let store = open(&db)?;
    let t = store
        .query(&a.sql)
        .map_err(|e| CliError::Other(e.to_string()))?;
    if a.json {
        let rows: Vec<serde_json::Map<String, serde_json::Value>> = t
            .rows
            .iter()
            .map(|r| {
                t.columns
                    .iter()
                    .zip(r)
                    .map(|(c, v)| (c.clone(), json_cell(v)))
                    .collect()
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).map_err(|e| CliError::Other(e.to_string()))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let cells: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| r.iter().map(cell).collect())
        .collect();
    let widths: Vec<usize> = (0..t.columns.len())
        .map(|j| {
            cells
                .iter()
                .map(|r| r[j].chars().count())
                .chain([t.columns[j].chars().count()])
                .max()
                .unwrap_or(0)
                .min(60)
        })
        .collect();
    let line = |r: &[String]| {
        r.iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!("{}", line(&t.columns));
    for r in &cells {
        println!("{}", line(r));
    }
    eprintln!("({} rows)", cells.len());
    Ok(ExitCode::SUCCESS)
}

fn json_cell(v: &bench_results::duckdb::types::Value) -> serde_json::Value {
    use bench_results::duckdb::types::Value as V;
    match v {
        V::Null => serde_json::Value::Null,
        V::Boolean(b) => (*b).into(),
        V::TinyInt(x) => (*x).into(),
        V::SmallInt(x) => (*x).into(),
        V::Int(x) => (*x).into(),
        V::BigInt(x) => (*x).into(),
        V::UTinyInt(x) => (*x).into(),
        V::USmallInt(x) => (*x).into(),
        V::UInt(x) => (*x).into(),
        V::UBigInt(x) => (*x).into(),
        V::Float(x) => (*x as f64).into(),
        V::Double(x) => (*x).into(),
        V::Text(s) => s.clone().into(),
        other => cell(other).into(),
    }
}

pub fn export(a: ExportArgs) -> Result<ExitCode, CliError> {
    let db = a.db.unwrap_or_else(|| default_db(None));
    let store = open(&db)?;
    let what = a.sql.as_deref().unwrap_or(&a.table);
    if a.format == crate::cli::ExportFormat::Json {
        // Newline-delimited JSON, written here (DuckDB's json extension is not bundled).
        let sql = if a.sql.is_some() {
            what.to_string()
        } else {
            format!("SELECT * FROM {what}")
        };
        let t = store
            .query(&sql)
            .map_err(|e| CliError::Other(e.to_string()))?;
        let mut out = String::new();
        for r in &t.rows {
            let obj: serde_json::Map<String, serde_json::Value> = t
                .columns
                .iter()
                .zip(r)
                .map(|(c, v)| (c.clone(), json_cell(v)))
                .collect();
            out.push_str(&serde_json::Value::Object(obj).to_string());
            out.push('\n');
        }
        std::fs::write(&a.output, out)
            .map_err(|e| CliError::Other(format!("cannot write {}: {e}", a.output.display())))?;
        eprintln!("wrote {}", a.output.display());
        return Ok(ExitCode::SUCCESS);
    }
    store
        .export(what, a.format.name(), &a.output)
        .map_err(|e| CliError::Other(e.to_string()))?;
    eprintln!("wrote {}", a.output.display());
    Ok(ExitCode::SUCCESS)
}

/// `bench recommend`: the stored results of a sweep ranked by a profile or given weights.
pub fn recommend(a: crate::cli::RecommendArgs, plan: &Plan<'_, '_>) -> Result<ExitCode, CliError> {
    use bench_analysis::{Bound, Criterion, Normalization, Sense};
    let db = a.db.clone().unwrap_or_else(|| default_db(Some(&a.sweep)));
    if !db.exists() {
        return Err(CliError::Other(format!(
            "no results store at {}: `bench build {}` fills it",
            db.display(),
            a.sweep.display()
        )));
    }
    let store = open(&db)?;
    let sweep = &plan.resolved.sweep;
    // Objectives: --weights, else --profile, else the sweep's, else `balanced`.
    let objectives: Vec<(String, Sense, f64)> = if !a.weights.is_empty() {
        a.weights
            .iter()
            .map(|c| (c.name.clone(), c.sense, c.weight))
            .collect()
    } else {
        let name = a
            .profile
            .clone()
            .or_else(|| sweep.optimize.profile.as_ref().map(|p| p.value.clone()));
        match name {
            Some(n) => bench_analysis::profile(&n)
                .ok_or_else(|| {
                    CliError::Other(format!(
                        "unknown profile `{n}` (profiles: balanced, latency, throughput, cost)"
                    ))
                })?
                .iter()
                .map(|(m, s, w)| (m.to_string(), *s, *w))
                .collect(),
            None if !sweep.optimize.objectives.is_empty() => sweep
                .optimize
                .objectives
                .iter()
                .map(|o| {
                    let sense = match o.direction {
                        bench_sweep::Direction::Maximize => Sense::Max,
                        bench_sweep::Direction::Minimize => Sense::Min,
                    };
                    (o.metric.value.clone(), sense, o.weight)
                })
                .collect(),
            None => bench_analysis::profile("balanced")
                .unwrap_or_default()
                .iter()
                .map(|(m, s, w)| (m.to_string(), *s, *w))
                .collect(),
        }
    };
    let esc = |s: &str| s.replace('\'', "''");
    let t = store
        .query(&format!(
            "SELECT node_key, label, valid FROM configs WHERE sweep = '{}' ORDER BY label",
            esc(&sweep.name.value)
        ))
        .map_err(|e| CliError::Other(e.to_string()))?;
    if t.rows.is_empty() {
        return Err(CliError::Other(format!(
            "{} has no results of sweep `{}` yet: `bench build {}`",
            db.display(),
            sweep.name.value,
            a.sweep.display()
        )));
    }
    let keys: Vec<String> = t.rows.iter().map(|r| cell(&r[0])).collect();
    let labels: Vec<String> = t.rows.iter().map(|r| cell(&r[1])).collect();
    let valid: Vec<f64> = t
        .rows
        .iter()
        .map(|r| if cell(&r[2]) == "true" { 1.0 } else { 0.0 })
        .collect();
    let metric = |name: &str| -> Result<Vec<f64>, CliError> {
        let m = store
            .query(&format!(
                "SELECT node_key, value FROM metrics WHERE metric = '{}'",
                esc(name)
            ))
            .map_err(|e| CliError::Other(e.to_string()))?;
        let by: std::collections::HashMap<String, f64> = m
            .rows
            .iter()
            .filter_map(|r| cell(&r[1]).parse().ok().map(|v| (cell(&r[0]), v)))
            .collect();
        Ok(keys
            .iter()
            .map(|k| by.get(k).copied().unwrap_or(f64::NAN))
            .collect())
    };
    let mut cols = Vec::new();
    let mut criteria = Vec::new();
    let mut names = Vec::new();
    for (name, sense, weight) in &objectives {
        let col = metric(name)?;
        if col.iter().all(|v| v.is_nan()) {
            eprintln!("note: objective {name} dropped: no stored configuration has it");
            continue;
        }
        cols.push(col);
        criteria.push(Criterion {
            sense: *sense,
            weight: *weight,
        });
        names.push(name.clone());
    }
    let ccols: Vec<Vec<f64>> = sweep
        .optimize
        .constraints
        .iter()
        .map(|c| metric(&c.metric.value))
        .collect::<Result<_, _>>()?;
    let mut bounds = vec![Bound {
        values: &valid,
        min: Some(1.0),
        max: None,
    }];
    for (c, col) in sweep.optimize.constraints.iter().zip(&ccols) {
        bounds.push(Bound {
            values: col,
            min: c.min,
            max: c.max,
        });
    }
    let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
    let recs = bench_analysis::recommend(&refs, &criteria, Normalization::MinMax, &bounds)
        .map_err(|e| CliError::Other(format!("cannot rank: {e}")))?;
    let mut order: Vec<usize> = (0..recs.len())
        .filter(|i| recs[*i].rank.is_some())
        .collect();
    order.sort_by_key(|i| recs[*i].rank);
    let top = a.top.unwrap_or(sweep.optimize.top as usize);
    println!(
        "{} — recommended by: {}",
        sweep.name.value,
        objectives
            .iter()
            .map(|(m, s, w)| format!("{m} {} ×{w}", if *s == Sense::Max { "↑" } else { "↓" }))
            .collect::<Vec<_>>()
            .join(", ")
    );
    print!("{:>4}  {:>5} {:>6}  ", "rank", "front", "score");
    for n in &names {
        print!("{n:>18} ");
    }
    println!(" configuration / load");
    for i in order.iter().take(top) {
        let r = &recs[*i];
        print!(
            "{:>4}  {:>5} {:>6.3}  ",
            r.rank.unwrap_or(0),
            r.front.map_or("—".into(), |f| f.to_string()),
            r.score.unwrap_or(f64::NAN)
        );
        for c in &cols {
            print!("{:>18.3} ", c[*i]);
        }
        println!(" {}", labels[*i].trim_start_matches("aggregate/"));
    }
    let infeasible = recs.iter().filter(|r| !r.feasible).count();
    if infeasible > 0 {
        println!("({infeasible} invalid or outside a constraint, not ranked: `bench results`)");
    }
    Ok(ExitCode::SUCCESS)
}
