//! `bench recommend`: the stored results of a sweep re-ranked with other weights, nothing
//! rerun.

use std::path::Path;

use bench_analysis::{Bound, Criterion, Normalization, Sense};
use bench_plan::Plan;
use bench_results::cell;

use crate::error::{Error, Result};

/// One recommended configuration and load point.
pub struct RecommendedRow {
    pub rank: usize,
    pub front: Option<u32>,
    pub score: Option<f64>,
    /// The objectives' values, in [`Recommended::names`] order.
    pub values: Vec<f64>,
    pub label: String,
}

pub struct Recommended {
    pub sweep: String,
    /// How many the sweep asks for.
    pub top: usize,
    pub objectives: Vec<(String, Sense, f64)>,
    /// The objectives kept (some metric known).
    pub names: Vec<String>,
    /// Ranked rows, best first.
    pub rows: Vec<RecommendedRow>,
    /// Invalid or outside a constraint: not ranked.
    pub infeasible: usize,
    pub notes: Vec<String>,
}

/// The stored results of a sweep ranked by given weights, else a profile, else the
/// sweep's objectives, else `balanced`; the sweep's constraints kept.
pub fn recommend(
    plan: &Plan<'_, '_>,
    db: &Path,
    sweep_path: &Path,
    weights: &[(String, Sense, f64)],
    profile: Option<String>,
) -> Result<Recommended> {
    let store = crate::store::existing(db, &sweep_path.display().to_string())?;
    let mut notes = Vec::new();
    let sweep = &plan.resolved.sweep;
    // Objectives: --weights, else --profile, else the sweep's, else `balanced`.
    let objectives: Vec<(String, Sense, f64)> = if !weights.is_empty() {
        weights.to_vec()
    } else {
        let name = profile.or_else(|| sweep.optimize.profile.as_ref().map(|p| p.value.clone()));
        match name {
            Some(n) => bench_analysis::profile(&n)
                .ok_or_else(|| {
                    Error::Other(format!(
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
        .map_err(|e| Error::Other(e.to_string()))?;
    if t.rows.is_empty() {
        return Err(Error::Other(format!(
            "{} has no results of sweep `{}` yet: `bench build {}`",
            db.display(),
            sweep.name.value,
            sweep_path.display()
        )));
    }
    let keys: Vec<String> = t.rows.iter().map(|r| cell(&r[0])).collect();
    let labels: Vec<String> = t.rows.iter().map(|r| cell(&r[1])).collect();
    let valid: Vec<f64> = t
        .rows
        .iter()
        .map(|r| if cell(&r[2]) == "true" { 1.0 } else { 0.0 })
        .collect();
    let metric = |name: &str| -> Result<Vec<f64>> {
        let m = store
            .query(&format!(
                "SELECT node_key, value FROM metrics WHERE metric = '{}'",
                esc(name)
            ))
            .map_err(|e| Error::Other(e.to_string()))?;
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
            notes.push(format!(
                "objective {name} dropped: no stored configuration has it"
            ));
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
        .collect::<Result<_>>()?;
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
        .map_err(|e| Error::Other(format!("cannot rank: {e}")))?;
    let mut order: Vec<usize> = (0..recs.len())
        .filter(|i| recs[*i].rank.is_some())
        .collect();
    order.sort_by_key(|i| recs[*i].rank);
    let rows = order
        .iter()
        .map(|i| RecommendedRow {
            rank: recs[*i].rank.unwrap_or(0),
            front: recs[*i].front,
            score: recs[*i].score,
            values: cols.iter().map(|c| c[*i]).collect(),
            label: labels[*i].trim_start_matches("aggregate/").to_string(),
        })
        .collect();
    Ok(Recommended {
        sweep: sweep.name.value.clone(),
        top: sweep.optimize.top as usize,
        objectives,
        names,
        rows,
        infeasible: recs.iter().filter(|r| !r.feasible).count(),
        notes,
    })
}
