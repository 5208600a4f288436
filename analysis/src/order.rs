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
fn rankable(method: Method, r: &Recommendation) -> bool {
    r.feasible
        && match method {
            Method::Topsis => r.score.is_some(),
            Method::Pareto | Method::Combined => r.score.is_some() && r.front.is_some(),
        }
}

/// A recommendation's place in the method's order, as an ascending key: (front, −score,
/// −crowding), the fields the method ignores zero.
type Key = (u32, f64, f64);

fn key(method: Method, r: &Recommendation) -> Key {
    let score = -r.score.unwrap_or(f64::NEG_INFINITY);
    let crowd = -r.crowding.unwrap_or(0.0);
    let front = r.front.unwrap_or(u32::MAX);
    match method {
        Method::Combined => (front, score, crowd),
        Method::Topsis => (0, score, 0.0),
        Method::Pareto => (front, 0.0, crowd),
    }
}

fn cmp(a: &Key, b: &Key) -> Ordering {
    a.0.cmp(&b.0)
        .then(a.1.total_cmp(&b.1))
        .then(a.2.total_cmp(&b.2))
}

/// The rankable recommendations in the method's order (equal keys in input order), each
/// with its key. The keys sort in one contiguous vector: a million rows sort several times
/// faster so than through indices into the recommendations.
pub(crate) fn in_order(method: Method, recs: &[Recommendation]) -> Vec<(Key, usize)> {
    let mut order: Vec<(Key, usize)> = recs
        .iter()
        .enumerate()
        .filter(|(_, r)| rankable(method, r))
        .map(|(i, r)| (key(method, r), i))
        .collect();
    order.sort_unstable_by(|a, b| cmp(&a.0, &b.0).then(a.1.cmp(&b.1)));
    order
}

/// The rank of each recommendation (input order) under a method: only feasible ones with a
/// score and a front are ranked.
pub fn ranks(method: Method, recs: &[Recommendation]) -> Vec<Option<usize>> {
    let order = in_order(method, recs);
    let mut out = vec![None; recs.len()];
    let mut rank = 0;
    for (pos, (k, i)) in order.iter().enumerate() {
        if pos == 0 || cmp(&order[pos - 1].0, k) != Ordering::Equal {
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
