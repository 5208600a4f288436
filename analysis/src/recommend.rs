//! Recommendations: hard constraints first, then non-dominated fronts, then TOPSIS.
//!
//! 1. An alternative violating a constraint (or with a non-finite constrained value) is
//!    infeasible: it is reported, never ranked.
//! 2. The feasible ones are sorted into Pareto fronts over the weighted criteria (each in
//!    its own sense) and scored by TOPSIS among themselves.
//! 3. The recommendation order is: front (0 first), then TOPSIS closeness (higher first),
//!    then crowding distance (larger first: the more distinctive trade-off), then input
//!    order. So a dominated configuration is never recommended above one that dominates it,
//!    and within a front the weights decide. ([`recommend_by`] takes the order of another
//!    [`Method`]: `topsis` alone needs no fronts and sorts none.)

use crate::Sense;
use crate::order::{Method, in_order};
use crate::pareto::{crowding_distance, non_dominated_fronts};
use crate::topsis::{Criterion, Normalization, TopsisError, topsis};

/// A hard constraint on one value per alternative.
#[derive(Clone, Copy, Debug)]
pub struct Bound<'a> {
    pub values: &'a [f64],
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Bound<'_> {
    fn holds(&self, i: usize) -> bool {
        let x = self.values[i];
        x.is_finite() && self.min.is_none_or(|m| x >= m) && self.max.is_none_or(|m| x <= m)
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Recommendation {
    /// 0-based input row.
    pub row: usize,
    pub feasible: bool,
    /// Indices of the constraints it violates.
    pub violates: Vec<usize>,
    /// TOPSIS closeness among the feasible alternatives.
    pub score: Option<f64>,
    /// 0-based non-dominated front among the feasible alternatives.
    pub front: Option<u32>,
    /// Crowding distance within its front (`None` for infinite in JSON terms: see
    /// [`Recommendation::crowding_finite`]).
    pub crowding: Option<f64>,
    /// 1-based recommendation order (feasible alternatives with a score only).
    pub rank: Option<usize>,
}

impl Recommendation {
    /// The crowding distance when finite (JSON has no infinity).
    pub fn crowding_finite(&self) -> Option<f64> {
        self.crowding.filter(|c| c.is_finite())
    }
}

/// Ranks every alternative (in input order) in the `combined` order; see the module
/// documentation.
pub fn recommend(
    columns: &[&[f64]],
    criteria: &[Criterion],
    normalization: Normalization,
    constraints: &[Bound<'_>],
) -> Result<Vec<Recommendation>, TopsisError> {
    recommend_by(
        Method::Combined,
        columns,
        criteria,
        normalization,
        constraints,
    )
}

/// Ranks every alternative (in input order) in the order of `method`, computing only what
/// it needs: `topsis` sorts no fronts (no front or crowding is reported then).
pub fn recommend_by(
    method: Method,
    columns: &[&[f64]],
    criteria: &[Criterion],
    normalization: Normalization,
    constraints: &[Bound<'_>],
) -> Result<Vec<Recommendation>, TopsisError> {
    let n = columns.first().map_or(0, |c| c.len());
    let violates: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            constraints
                .iter()
                .enumerate()
                .filter(|(_, b)| !b.holds(i))
                .map(|(k, _)| k)
                .collect()
        })
        .collect();
    let feasible: Vec<usize> = (0..n).filter(|i| violates[*i].is_empty()).collect();
    let sub: Vec<Vec<f64>> = columns
        .iter()
        .map(|c| feasible.iter().map(|i| c[*i]).collect())
        .collect();
    let sub_refs: Vec<&[f64]> = sub.iter().map(Vec::as_slice).collect();
    let scores = topsis(&sub_refs, criteria, normalization)?;
    let (fronts, crowding) = if method == Method::Topsis {
        (vec![None; feasible.len()], vec![None; feasible.len()])
    } else {
        // Objectives for the fronts: the weighted criteria, minimised.
        let objs: Vec<Vec<f64>> = criteria
            .iter()
            .zip(&sub)
            .filter(|(c, _)| c.weight > 0.0)
            .map(|(c, col)| match c.sense {
                Sense::Min => col.clone(),
                Sense::Max => col.iter().map(|x| -x).collect(),
            })
            .collect();
        let obj_refs: Vec<&[f64]> = objs.iter().map(Vec::as_slice).collect();
        let fronts = non_dominated_fronts(&obj_refs);
        let crowding = crowding_distance(&obj_refs, &fronts);
        (fronts, crowding)
    };
    let mut out: Vec<Recommendation> = (0..n)
        .map(|row| Recommendation {
            row,
            feasible: violates[row].is_empty(),
            violates: violates[row].clone(),
            score: None,
            front: None,
            crowding: None,
            rank: None,
        })
        .collect();
    for (k, &row) in feasible.iter().enumerate() {
        out[row].score = scores[k];
        out[row].front = fronts[k];
        out[row].crowding = crowding[k];
    }
    // Distinct ranks, equal keys in input order.
    for (pos, (_, row)) in in_order(method, &out).into_iter().enumerate() {
        out[row].rank = Some(pos + 1);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_exclude_and_fronts_come_before_scores() {
        // throughput (max), latency (min).
        let thr = [100.0, 90.0, 50.0, 200.0, 95.0];
        let lat = [10.0, 20.0, 5.0, 400.0, 9.0];
        let crit = [
            Criterion {
                sense: Sense::Max,
                weight: 0.5,
            },
            Criterion {
                sense: Sense::Min,
                weight: 0.5,
            },
        ];
        let bound = Bound {
            values: &lat,
            min: None,
            max: Some(100.0),
        };
        let r = recommend(&[&thr, &lat], &crit, Normalization::MinMax, &[bound]).unwrap();
        // Row 3 breaks the latency bound.
        assert!(!r[3].feasible);
        assert_eq!(r[3].violates, vec![0]);
        assert_eq!(r[3].rank, None);
        // Row 1 (90, 20) is dominated by row 0 (100, 10) and by row 4 (95, 9).
        assert_eq!(r[1].front, Some(1));
        assert_eq!(r[1].rank, Some(4));
        for i in [0, 2, 4] {
            assert_eq!(r[i].front, Some(0));
        }
        // Within front 0 the TOPSIS closeness decides.
        let mut f0: Vec<&Recommendation> = r.iter().filter(|x| x.front == Some(0)).collect();
        f0.sort_by_key(|x| x.rank);
        assert!(f0.windows(2).all(|w| w[0].score >= w[1].score));
        assert_eq!(
            f0.iter().map(|x| x.rank.unwrap()).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn topsis_alone_sorts_no_fronts_and_ranks_by_closeness() {
        let thr = [100.0, 90.0, 50.0, 95.0];
        let lat = [10.0, 20.0, 5.0, 9.0];
        let crit = [
            Criterion {
                sense: Sense::Max,
                weight: 0.5,
            },
            Criterion {
                sense: Sense::Min,
                weight: 0.5,
            },
        ];
        let cols: [&[f64]; 2] = [&thr, &lat];
        let t = recommend_by(Method::Topsis, &cols, &crit, Normalization::MinMax, &[]).unwrap();
        let c = recommend(&cols, &crit, Normalization::MinMax, &[]).unwrap();
        assert!(t.iter().all(|r| r.front.is_none() && r.crowding.is_none()));
        for (a, b) in t.iter().zip(&c) {
            assert_eq!(a.score, b.score);
        }
        let mut by_score: Vec<&Recommendation> = t.iter().collect();
        by_score.sort_by_key(|r| r.rank);
        assert!(by_score.windows(2).all(|w| w[0].score >= w[1].score));
        // Row 1 is dominated (front 1) but its closeness, not its front, places it.
        assert_eq!(c[1].front, Some(1));
        assert_eq!(t[1].rank, Some(4));
    }

    #[test]
    fn nothing_feasible_ranks_nothing() {
        let a = [1.0, 2.0];
        let crit = [Criterion {
            sense: Sense::Max,
            weight: 1.0,
        }];
        let bound = Bound {
            values: &a,
            min: Some(5.0),
            max: None,
        };
        let r = recommend(&[&a], &crit, Normalization::MinMax, &[bound]).unwrap();
        assert!(r.iter().all(|x| !x.feasible && x.rank.is_none()));
    }
}
