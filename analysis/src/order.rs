//! One recommendation order for every caller (the optimize node, `bench rank`, `bench
//! recommend`): competition ranks ("1224") by the method's key, equal keys sharing a rank.
//!
//! * `combined`: front, then TOPSIS closeness (higher first), then crowding (larger first);
//! * `topsis`: closeness alone;
//! * `pareto`: front, then crowding distance (larger first; a front's extremes are infinite).

use std::cmp::Ordering;

use crate::Recommendation;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Combined,
    Topsis,
    Pareto,
}

impl Method {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "combined" => Some(Self::Combined),
            "topsis" => Some(Self::Topsis),
            "pareto" => Some(Self::Pareto),
            _ => None,
        }
    }
}

/// Whether a recommendation has what `method` orders by (and is feasible).
pub(crate) fn rankable(method: Method, r: &Recommendation) -> bool {
    r.feasible
        && match method {
            Method::Topsis => r.score.is_some(),
            Method::Pareto | Method::Combined => r.score.is_some() && r.front.is_some(),
        }
}

/// The method's order of two recommendations (equal keys: `Equal`).
pub(crate) fn cmp(method: Method, a: &Recommendation, b: &Recommendation) -> Ordering {
    let score = |r: &Recommendation| r.score.unwrap_or(f64::NEG_INFINITY);
    let crowd = |r: &Recommendation| r.crowding.unwrap_or(0.0);
    match method {
        Method::Combined => a
            .front
            .cmp(&b.front)
            .then(score(b).total_cmp(&score(a)))
            .then(crowd(b).total_cmp(&crowd(a))),
        Method::Topsis => score(b).total_cmp(&score(a)),
        Method::Pareto => a.front.cmp(&b.front).then(crowd(b).total_cmp(&crowd(a))),
    }
}

/// The rank of each recommendation (input order) under a method: only feasible ones with a
/// score and a front are ranked.
pub fn ranks(method: Method, recs: &[Recommendation]) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..recs.len())
        .filter(|i| rankable(method, &recs[*i]))
        .collect();
    order.sort_by(|a, b| cmp(method, &recs[*a], &recs[*b]).then(a.cmp(b)));
    let mut out = vec![None; recs.len()];
    let mut rank = 0;
    for (pos, i) in order.iter().enumerate() {
        if pos == 0 || cmp(method, &recs[order[pos - 1]], &recs[*i]) != Ordering::Equal {
            rank = pos + 1;
        }
        out[*i] = Some(rank);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(front: u32, score: f64, crowding: f64) -> Recommendation {
        Recommendation {
            row: 0,
            feasible: true,
            violates: vec![],
            score: Some(score),
            front: Some(front),
            crowding: Some(crowding),
            rank: None,
        }
    }

    #[test]
    fn equal_keys_share_a_rank_and_the_next_skips() {
        let recs = [
            rec(0, 0.5, 1.0),
            rec(0, 0.9, 1.0),
            rec(0, 0.5, 1.0),
            rec(1, 0.99, 9.0),
        ];
        assert_eq!(
            ranks(Method::Combined, &recs),
            vec![Some(2), Some(1), Some(2), Some(4)]
        );
        assert_eq!(
            ranks(Method::Topsis, &recs),
            vec![Some(3), Some(2), Some(3), Some(1)]
        );
        assert_eq!(
            ranks(Method::Pareto, &recs),
            vec![Some(1), Some(1), Some(1), Some(4)]
        );
    }

    #[test]
    fn infeasible_and_unscored_are_not_ranked() {
        let mut bad = rec(0, 0.9, f64::INFINITY);
        bad.feasible = false;
        let recs = [bad, rec(0, 0.1, f64::INFINITY)];
        assert_eq!(ranks(Method::Pareto, &recs), vec![None, Some(1)]);
    }
}
