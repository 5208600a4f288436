//! TOPSIS: the Technique for Order of Preference by Similarity to Ideal Solution.
//!
//! 1. Each criterion column is normalised: min-max (`(x − min)/(max − min)` for a benefit,
//!    `(max − x)/(max − min)` for a cost) or vector (`x / ‖column‖₂`).
//! 2. Weighted: `v = r · w`, the weights scaled to sum to 1 (scaling every weight by one
//!    positive constant changes nothing).
//! 3. The ideal is the best weighted value of each criterion, the anti-ideal the worst;
//!    `D+` and `D−` are the Euclidean distances to them; closeness `C = D− / (D+ + D−)`.
//!
//! Edge cases, decided rather than left to produce NaN:
//!
//! * **Constant column** (max = min, or a zero vector norm): it carries no information and
//!   contributes nothing to either distance.
//! * **Zero weight**: the criterion is ignored, its cells may even be NaN. Negative or
//!   non-finite weights, or weights that are all zero, are an error.
//! * **NaN or infinite cell** in a weighted criterion: that alternative gets no score
//!   (`None`) and does not take part in the normalisation of the others.
//! * **A single alternative, or all alternatives identical**: no criterion is informative,
//!   `D+ = D− = 0`, and each such alternative has closeness 1 (nothing is better).
//! * **Ties**: equal closeness gets equal rank ("1224" competition ranking,
//!   [`rank_descending`]); within a tie, input order is kept.

use crate::Sense;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalization {
    MinMax,
    Vector,
}

impl Normalization {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "minmax" | "min-max" => Some(Self::MinMax),
            "vector" => Some(Self::Vector),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Criterion {
    pub sense: Sense,
    pub weight: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TopsisError {
    #[error("{columns} columns but {criteria} criteria")]
    Shape { columns: usize, criteria: usize },
    #[error("column {column} has {len} values, column 0 has {expected}")]
    Ragged {
        column: usize,
        len: usize,
        expected: usize,
    },
    #[error("weight {weight} of criterion {index} is not a non-negative number")]
    BadWeight { index: usize, weight: f64 },
    #[error("every weight is zero: nothing to rank by")]
    NoWeight,
}

/// Closeness of every alternative (row) to the ideal, in input order; `None` where a
/// weighted cell is not finite.
pub fn topsis(
    columns: &[&[f64]],
    criteria: &[Criterion],
    normalization: Normalization,
) -> Result<Vec<Option<f64>>, TopsisError> {
    if columns.len() != criteria.len() {
        return Err(TopsisError::Shape {
            columns: columns.len(),
            criteria: criteria.len(),
        });
    }
    let n = columns.first().map_or(0, |c| c.len());
    for (j, c) in columns.iter().enumerate() {
        if c.len() != n {
            return Err(TopsisError::Ragged {
                column: j,
                len: c.len(),
                expected: n,
            });
        }
    }
    for (j, c) in criteria.iter().enumerate() {
        if !(c.weight.is_finite() && c.weight >= 0.0) {
            return Err(TopsisError::BadWeight {
                index: j,
                weight: c.weight,
            });
        }
    }
    let total: f64 = criteria.iter().map(|c| c.weight).sum();
    if total <= 0.0 {
        return Err(TopsisError::NoWeight);
    }
    let used: Vec<usize> = (0..criteria.len())
        .filter(|j| criteria[*j].weight > 0.0)
        .collect();

    // Rows with a non-finite weighted cell take no part.
    let mut ok = vec![true; n];
    for &j in &used {
        for (o, x) in ok.iter_mut().zip(columns[j]) {
            *o &= x.is_finite();
        }
    }

    let mut d_plus = vec![0.0f64; n];
    let mut d_minus = vec![0.0f64; n];
    for &j in &used {
        let col = columns[j];
        let w = criteria[j].weight / total;
        let benefit = criteria[j].sense == Sense::Max;
        // Column statistics over the usable rows.
        let (mut lo, mut hi, mut sq) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
        for (x, _) in col.iter().zip(&ok).filter(|(_, o)| **o) {
            lo = lo.min(*x);
            hi = hi.max(*x);
            sq += x * x;
        }
        // Weighted value v = a·x + b, its ideal and anti-ideal.
        let (a, b, ideal, anti) = match normalization {
            Normalization::MinMax => {
                if hi <= lo {
                    continue; // constant (or empty): no information
                }
                let span = hi - lo;
                if benefit {
                    (w / span, -lo * w / span, w, 0.0)
                } else {
                    (-w / span, hi * w / span, w, 0.0)
                }
            }
            Normalization::Vector => {
                let norm = sq.sqrt();
                if norm == 0.0 || hi <= lo {
                    continue;
                }
                let a = w / norm;
                let (best, worst) = if benefit {
                    (hi * a, lo * a)
                } else {
                    (lo * a, hi * a)
                };
                (a, 0.0, best, worst)
            }
        };
        for i in 0..n {
            let v = a * col[i] + b;
            let dp = v - ideal;
            let dm = v - anti;
            d_plus[i] += dp * dp;
            d_minus[i] += dm * dm;
        }
    }
    Ok((0..n)
        .map(|i| {
            if !ok[i] {
                return None;
            }
            let (p, m) = (d_plus[i].sqrt(), d_minus[i].sqrt());
            Some(if p + m == 0.0 { 1.0 } else { m / (p + m) })
        })
        .collect())
}

/// Competition ranks ("1224") of scores, higher first; `None` scores get no rank.
pub fn rank_descending(scores: &[Option<f64>]) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..scores.len()).filter(|i| scores[*i].is_some()).collect();
    order.sort_by(|a, b| {
        scores[*b]
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&scores[*a].unwrap_or(f64::NEG_INFINITY))
            .then(a.cmp(b))
    });
    let mut ranks = vec![None; scores.len()];
    let mut prev: Option<f64> = None;
    let mut rank = 0;
    for (pos, i) in order.iter().enumerate() {
        if prev != scores[*i] {
            rank = pos + 1;
            prev = scores[*i];
        }
        ranks[*i] = Some(rank);
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(sense: Sense, weight: f64) -> Criterion {
        Criterion { sense, weight }
    }

    /// Hwang & Yoon (1981), pp. 133–134: the fighter-aircraft example.
    #[test]
    fn hwang_yoon_vector() {
        let cols: [&[f64]; 6] = [
            &[2.0, 2.5, 1.8, 2.2],
            &[1500.0, 2700.0, 2000.0, 1800.0],
            &[20000.0, 18000.0, 21000.0, 20000.0],
            &[5.5, 6.5, 4.5, 5.0],
            &[5.0, 3.0, 7.0, 5.0],
            &[9.0, 5.0, 7.0, 5.0],
        ];
        let crit = [
            c(Sense::Max, 0.2),
            c(Sense::Max, 0.1),
            c(Sense::Max, 0.1),
            c(Sense::Min, 0.1),
            c(Sense::Max, 0.2),
            c(Sense::Max, 0.3),
        ];
        let s = topsis(&cols, &crit, Normalization::Vector).unwrap();
        let want = [0.643277, 0.268384, 0.613542, 0.312291];
        for (got, want) in s.iter().zip(want) {
            assert!((got.unwrap() - want).abs() < 5e-7, "{got:?} vs {want}");
        }
        assert_eq!(
            rank_descending(&s),
            vec![Some(1), Some(4), Some(2), Some(3)]
        );
        // Scaling every weight changes nothing.
        let scaled: Vec<Criterion> = crit.iter().map(|x| c(x.sense, x.weight * 7.0)).collect();
        assert_eq!(topsis(&cols, &scaled, Normalization::Vector).unwrap(), s);
    }

    #[test]
    fn min_max_extremes_are_zero_and_one() {
        // One benefit criterion: the best is the ideal (1), the worst the anti-ideal (0).
        let s = topsis(
            &[&[1.0, 3.0, 2.0]],
            &[c(Sense::Max, 1.0)],
            Normalization::MinMax,
        )
        .unwrap();
        assert_eq!(s, vec![Some(0.0), Some(1.0), Some(0.5)]);
        let s = topsis(
            &[&[1.0, 3.0, 2.0]],
            &[c(Sense::Min, 1.0)],
            Normalization::MinMax,
        )
        .unwrap();
        assert_eq!(s, vec![Some(1.0), Some(0.0), Some(0.5)]);
    }

    #[test]
    fn constant_column_contributes_nothing() {
        let with = topsis(
            &[&[1.0, 3.0, 2.0], &[5.0, 5.0, 5.0]],
            &[c(Sense::Max, 1.0), c(Sense::Min, 1.0)],
            Normalization::MinMax,
        )
        .unwrap();
        let without = topsis(
            &[&[1.0, 3.0, 2.0]],
            &[c(Sense::Max, 1.0)],
            Normalization::MinMax,
        )
        .unwrap();
        assert_eq!(with, without);
    }

    #[test]
    fn zero_weight_ignores_even_nan() {
        let s = topsis(
            &[&[1.0, 3.0], &[f64::NAN, 1.0]],
            &[c(Sense::Max, 1.0), c(Sense::Max, 0.0)],
            Normalization::MinMax,
        )
        .unwrap();
        assert_eq!(s, vec![Some(0.0), Some(1.0)]);
    }

    #[test]
    fn nan_row_gets_no_score_and_does_not_shift_the_others() {
        let s = topsis(
            &[&[1.0, f64::NAN, 3.0, 100.0]],
            &[c(Sense::Max, 1.0)],
            Normalization::MinMax,
        )
        .unwrap();
        assert_eq!(s[1], None);
        assert_eq!(s[3], Some(1.0));
        let s2 = topsis(
            &[&[1.0, 3.0, 100.0]],
            &[c(Sense::Max, 1.0)],
            Normalization::MinMax,
        )
        .unwrap();
        assert_eq!((s[0], s[2]), (s2[0], s2[1]));
        assert_eq!(rank_descending(&s), vec![Some(3), None, Some(2), Some(1)]);
    }

    #[test]
    fn single_and_identical_alternatives_score_one() {
        for norm in [Normalization::MinMax, Normalization::Vector] {
            let s = topsis(&[&[4.0]], &[c(Sense::Max, 1.0)], norm).unwrap();
            assert_eq!(s, vec![Some(1.0)]);
            let s = topsis(
                &[&[2.0, 2.0], &[3.0, 3.0]],
                &[c(Sense::Max, 1.0), c(Sense::Min, 2.0)],
                norm,
            )
            .unwrap();
            assert_eq!(s, vec![Some(1.0), Some(1.0)]);
            assert_eq!(rank_descending(&s), vec![Some(1), Some(1)]);
        }
    }

    #[test]
    fn ties_share_a_rank() {
        let r = rank_descending(&[Some(0.5), Some(0.9), Some(0.5), Some(0.1)]);
        assert_eq!(r, vec![Some(2), Some(1), Some(2), Some(4)]);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            topsis(&[&[1.0]], &[c(Sense::Max, 0.0)], Normalization::MinMax),
            Err(TopsisError::NoWeight)
        );
        assert!(matches!(
            topsis(&[&[1.0]], &[c(Sense::Max, -1.0)], Normalization::MinMax),
            Err(TopsisError::BadWeight { .. })
        ));
        assert!(matches!(
            topsis(
                &[&[1.0], &[1.0, 2.0]],
                &[c(Sense::Max, 1.0), c(Sense::Max, 1.0)],
                Normalization::MinMax
            ),
            Err(TopsisError::Ragged { .. })
        ));
        assert!(matches!(
            topsis(&[&[1.0]], &[], Normalization::MinMax),
            Err(TopsisError::Shape { .. })
        ));
    }
}
