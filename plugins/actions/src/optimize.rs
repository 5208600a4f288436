//! The optimize node: every aggregate of the sweep ranked. Invalid configurations (a repeat
//! failed validation) and those breaking a constraint are reported, never ranked; the rest
//! are ordered by the sweep's method:
//!
//! * `combined` (default): Pareto front first, TOPSIS closeness within it
//!   ([`bench_analysis::recommend`]);
//! * `topsis`: TOPSIS closeness alone;
//! * `pareto`: front, then crowding distance (larger first).
//!
//! An objective whose metric no configuration has (say `cost-per-mtok` without prices) is
//! dropped with a note rather than leaving every configuration unscored.

use bench_analysis::{Bound, Criterion, Normalization, Sense, recommend};
use bench_node::outputs::{AggregateOutput, OptimizeOutput, Ranked};
use bench_node::params::{Direction, ObjectiveSpec, OptimizeParams as Params};
use bench_node::{Action, Failure, JobSpec, NodeKind};

use crate::{outputs, permanent, read_json, write_json};

pub struct Optimize;

impl Action for Optimize {
    fn run(&self, job: &JobSpec) -> Result<(), Failure> {
        let p: Params = job.params()?;
        let mut aggs = Vec::new();
        for i in job.inputs_of(NodeKind::Aggregate) {
            let a: AggregateOutput = read_json(i.output(outputs::AGGREGATE)?)?;
            aggs.push((i.key.clone(), a));
        }
        let out = optimize(&p, &aggs)?;
        for n in &out.notes {
            bench_node::say!("note: {n}");
        }
        bench_node::say!(
            "{} points ranked, {} infeasible",
            out.ranked.iter().filter(|r| r.rank.is_some()).count(),
            out.ranked.iter().filter(|r| !r.feasible).count()
        );
        write_json(job, outputs::RECOMMENDATIONS, &out)
    }
}

/// The objectives the params rank by: a named profile's, else those given, else the
/// `balanced` profile's. (A search minimises the same ones.)
pub fn objectives(p: &Params) -> Result<Vec<ObjectiveSpec>, String> {
    let profile = |name: &str| -> Result<Vec<ObjectiveSpec>, String> {
        Ok(bench_analysis::profile(name)
            .ok_or_else(|| format!("unknown profile {name}"))?
            .iter()
            .map(|(m, s, w)| ObjectiveSpec {
                metric: m.to_string(),
                direction: if *s == Sense::Max {
                    Direction::Maximize
                } else {
                    Direction::Minimize
                },
                weight: *w,
            })
            .collect())
    };
    match &p.profile {
        Some(name) => profile(name),
        None if p.objectives.is_empty() => profile("balanced"),
        None => Ok(p.objectives.clone()),
    }
}

/// Ranks `aggs` (key, output) by the optimize params: what the node writes. Also used to
/// rank what a search measured, which no optimize node covers.
pub fn optimize(p: &Params, aggs: &[(String, AggregateOutput)]) -> Result<OptimizeOutput, Failure> {
    let mut notes = Vec::new();
    let mut objectives = objectives(p).map_err(permanent)?;
    objectives.retain(|o| {
        let known = aggs.iter().any(|(_, a)| a.metrics.contains_key(&o.metric));
        if !known && !aggs.is_empty() {
            notes.push(format!(
                "objective {} dropped: no configuration has this metric",
                o.metric
            ));
        }
        known || aggs.is_empty()
    });
    if objectives.is_empty() || objectives.iter().all(|o| o.weight == 0.0) {
        return Err(permanent(
            "no objective left to rank by (see the notes above)",
        ));
    }
    let value = |a: &AggregateOutput, m: &str| a.metrics.get(m).copied().unwrap_or(f64::NAN);
    let cols: Vec<Vec<f64>> = objectives
        .iter()
        .map(|o| aggs.iter().map(|(_, a)| value(a, &o.metric)).collect())
        .collect();
    let col_refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
    let criteria: Vec<Criterion> = objectives
        .iter()
        .map(|o| Criterion {
            sense: if o.direction == Direction::Maximize {
                Sense::Max
            } else {
                Sense::Min
            },
            weight: o.weight,
        })
        .collect();
    // Validity is a constraint like the others: 1 for valid, bound below by 1.
    let valid: Vec<f64> = aggs
        .iter()
        .map(|(_, a)| if a.valid { 1.0 } else { 0.0 })
        .collect();
    let ccols: Vec<Vec<f64>> = p
        .constraints
        .iter()
        .map(|c| aggs.iter().map(|(_, a)| value(a, &c.metric)).collect())
        .collect();
    let mut bounds = vec![Bound {
        values: &valid,
        min: Some(1.0),
        max: None,
    }];
    for (c, col) in p.constraints.iter().zip(&ccols) {
        bounds.push(Bound {
            values: col,
            min: c.min,
            max: c.max,
        });
    }
    let norm = match p.normalization {
        bench_node::params::Normalization::Minmax => Normalization::MinMax,
        bench_node::params::Normalization::Vector => Normalization::Vector,
    };
    let recs = recommend(&col_refs, &criteria, norm, &bounds)
        .map_err(|e| permanent(format!("cannot rank: {e}")))?;
    let mut ranked: Vec<Ranked> = recs
        .iter()
        .zip(aggs)
        .map(|(r, (key, a))| {
            let mut reasons: Vec<String> = Vec::new();
            for k in &r.violates {
                if *k == 0 {
                    reasons.extend(a.reasons.iter().cloned());
                    if a.reasons.is_empty() {
                        reasons.push("no valid repeat".into());
                    }
                } else {
                    let c = &p.constraints[k - 1];
                    let v = value(a, &c.metric);
                    reasons.push(match (c.min, c.max) {
                        _ if v.is_nan() => format!("{} is unknown", c.metric),
                        (Some(lo), _) if v < lo => format!("{} {v:.3} below {lo}", c.metric),
                        (_, Some(hi)) => format!("{} {v:.3} above {hi}", c.metric),
                        _ => format!("{} out of bounds", c.metric),
                    });
                }
            }
            Ranked {
                key: key.clone(),
                valid: a.valid,
                feasible: r.feasible,
                reasons,
                score: r.score,
                front: r.front,
                crowding: r.crowding_finite(),
                rank: r.rank,
                values: objectives
                    .iter()
                    .filter_map(|o| a.metrics.get(&o.metric).map(|v| (o.metric.clone(), *v)))
                    .collect(),
            }
        })
        .collect();
    // One order for every caller (bench_analysis::ranks); equal keys share a rank.
    let method = match p.method {
        bench_node::params::Method::Combined => bench_analysis::Method::Combined,
        bench_node::params::Method::Topsis => bench_analysis::Method::Topsis,
        bench_node::params::Method::Pareto => bench_analysis::Method::Pareto,
    };
    for (r, rank) in ranked.iter_mut().zip(bench_analysis::ranks(method, &recs)) {
        r.rank = rank;
    }
    let mut order: Vec<usize> = (0..ranked.len())
        .filter(|i| ranked[*i].rank.is_some())
        .collect();
    order.sort_by_key(|i| (ranked[*i].rank, *i));
    let top = order
        .iter()
        .take(p.top as usize)
        .map(|i| ranked[*i].key.clone())
        .collect();
    Ok(OptimizeOutput {
        method: p.method.name().to_string(),
        normalization: p.normalization.name().to_string(),
        objectives,
        notes,
        ranked,
        top,
    })
}
