//! Hypervolume: the measure of the objective space a set of points dominates, bounded by a
//! reference point (every objective minimised). Only points strictly better than the
//! reference in every objective count; dominated and duplicate points add nothing.
//!
//! * two objectives: one sweep in the first objective, O(N log N);
//! * three: a sweep in the third objective over a staircase of the first two kept in an
//!   ordered map, each insertion adding exactly the area it newly dominates (the HV3D
//!   dimension sweep of Beume et al. 2009), O(N log N);
//! * more: the dimension sweep of While et al. (HSO) — slices along the last objective,
//!   each slice's (M−1)-dimensional hypervolume by the same rule, down to the 3-D case.
//!   O(N^(M−2) log N): exact, and meant for fronts of hundreds of points.
//!
//! Points are rows here (`&[Vec<f64>]`-like): a front is small, and a search keeps it that way.

use std::collections::BTreeMap;

/// The hypervolume of `points` (rows of objectives, all minimised) against `reference`.
/// Rows with a non-finite value, or not strictly better than the reference in every
/// objective, are left out. Panics if a row's length differs from the reference's.
pub fn hypervolume<P: AsRef<[f64]>>(points: &[P], reference: &[f64]) -> f64 {
    let m = reference.len();
    let inside: Vec<&[f64]> = points
        .iter()
        .map(AsRef::as_ref)
        .inspect(|p| {
            assert_eq!(
                p.len(),
                m,
                "a point has {} objectives, the reference {m}",
                p.len()
            )
        })
        .filter(|p| p.iter().zip(reference).all(|(x, r)| x.is_finite() && x < r))
        .collect();
    if inside.is_empty() || m == 0 {
        return 0.0;
    }
    volume(inside, reference)
}

/// Per-objective bounds mapping values onto [0, 1] (an objective with one value maps to 0),
/// so that objectives of different units weigh alike in a hypervolume.
#[derive(Clone, Debug, PartialEq)]
pub struct Scale {
    lo: Vec<f64>,
    hi: Vec<f64>,
}

impl Scale {
    /// The bounds of the finite values of `rows` (rows of `m` objectives).
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a [f64]>, m: usize) -> Scale {
        let (mut lo, mut hi) = (vec![f64::INFINITY; m], vec![f64::NEG_INFINITY; m]);
        for f in rows {
            for j in 0..m {
                if f[j].is_finite() {
                    lo[j] = lo[j].min(f[j]);
                    hi[j] = hi[j].max(f[j]);
                }
            }
        }
        Scale { lo, hi }
    }

    pub fn apply(&self, f: &[f64]) -> Vec<f64> {
        (0..self.lo.len())
            .map(|j| {
                let (lo, hi) = (self.lo[j], self.hi[j]);
                if hi > lo {
                    (f[j] - lo) / (hi - lo)
                } else {
                    0.0
                }
            })
            .collect()
    }
}

fn volume(mut pts: Vec<&[f64]>, r: &[f64]) -> f64 {
    match r.len() {
        1 => r[0] - pts.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min),
        2 => two(&mut pts, r),
        3 => three(&mut pts, r),
        m => {
            // Slices along the last objective: between consecutive values, the points at or
            // below the slice dominate an (M−1)-dimensional region of constant volume.
            let last = m - 1;
            pts.sort_by(|a, b| a[last].total_cmp(&b[last]));
            let mut total = 0.0;
            for i in 0..pts.len() {
                let top = pts.get(i + 1).map_or(r[last], |p| p[last]);
                let depth = top - pts[i][last];
                if depth > 0.0 {
                    total += volume(pts[..=i].to_vec(), &r[..last]) * depth;
                }
            }
            total
        }
    }
}

fn two(pts: &mut [&[f64]], r: &[f64]) -> f64 {
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    let mut best = r[1];
    let mut area = 0.0;
    for p in pts.iter() {
        if p[1] < best {
            area += (r[0] - p[0]) * (best - p[1]);
            best = p[1];
        }
    }
    area
}

fn three(pts: &mut [&[f64]], r: &[f64]) -> f64 {
    pts.sort_by(|a, b| a[2].total_cmp(&b[2]));
    let mut stairs = Staircase::new(r[0], r[1]);
    let mut total = 0.0;
    for i in 0..pts.len() {
        stairs.insert(pts[i][0], pts[i][1]);
        let top = pts.get(i + 1).map_or(r[2], |p| p[2]);
        total += stairs.area * (top - pts[i][2]);
    }
    total
}

/// The non-dominated points of a plane, x ascending and y strictly descending, with the
/// area they dominate up to the reference, updated as points come in.
struct Staircase {
    /// x (as ordered bits) → (x, y).
    steps: BTreeMap<u64, (f64, f64)>,
    rx: f64,
    ry: f64,
    area: f64,
}

impl Staircase {
    fn new(rx: f64, ry: f64) -> Self {
        Staircase {
            steps: BTreeMap::new(),
            rx,
            ry,
            area: 0.0,
        }
    }

    fn insert(&mut self, px: f64, py: f64) {
        let key = crate::pareto::ordered(px);
        // The step at or left of px is the lowest y any point with x ≤ px reaches.
        let left = self.steps.range(..=key).next_back().map(|(_, s)| *s);
        if left.is_some_and(|(_, ly)| ly <= py) {
            return; // dominated (or equal)
        }
        let mut cur_x = px;
        let mut cur_h = left.map_or(self.ry, |(_, ly)| ly);
        let mut gone = Vec::new();
        let mut end_x = self.rx;
        for (k, &(qx, qy)) in self.steps.range(key..) {
            if qy < py {
                end_x = qx;
                break;
            }
            // Dominated by p: below its step, the height was cur_h until qx.
            self.area += (qx - cur_x) * (cur_h - py);
            cur_x = qx;
            cur_h = qy;
            gone.push(*k);
        }
        self.area += (end_x - cur_x) * (cur_h - py);
        for k in gone {
            self.steps.remove(&k);
        }
        self.steps.insert(key, (px, py));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_references_worked_examples() {
        let two = [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]];
        assert_eq!(hypervolume(&two, &[4.0, 4.0]), 6.0);
        let three = [[1.0, 2.0, 3.0], [2.0, 3.0, 1.0], [3.0, 1.0, 2.0]];
        assert_eq!(hypervolume(&three, &[4.0, 4.0, 4.0]), 13.0);
    }

    #[test]
    fn only_points_strictly_inside_the_reference_count() {
        let pts = [
            [1.0, 4.0],
            [4.0, 1.0],
            [2.0, 2.0],
            [f64::NAN, 0.0],
            [5.0, 0.0],
        ];
        assert_eq!(hypervolume(&pts, &[4.0, 4.0]), 4.0);
        assert_eq!(hypervolume::<[f64; 2]>(&[], &[4.0, 4.0]), 0.0);
    }

    #[test]
    fn dominated_and_duplicate_points_add_nothing() {
        let base = [[1.0, 2.0, 3.0], [2.0, 3.0, 1.0], [3.0, 1.0, 2.0]];
        let mut more = base.to_vec();
        more.extend([[2.0, 3.0, 3.0], [1.0, 2.0, 3.0], [3.5, 3.5, 3.5]]);
        assert_eq!(hypervolume(&more, &[4.0; 3]), 13.0);
    }

    #[test]
    fn a_single_point_is_a_box_in_any_dimension() {
        for m in 1..=6 {
            let p = vec![vec![1.0; m]];
            assert_eq!(
                hypervolume(&p, &vec![3.0; m]),
                2f64.powi(m as i32),
                "m = {m}"
            );
        }
    }

    /// The definition on a grid: count the cells of a unit lattice that some point
    /// dominates (exact for integer coordinates).
    fn cells(points: &[Vec<f64>], r: &[f64]) -> f64 {
        let m = r.len();
        let sides: Vec<usize> = r.iter().map(|x| *x as usize).collect();
        let total: usize = sides.iter().product();
        let mut n = 0;
        for cell in 0..total {
            let mut c = cell;
            let corner: Vec<f64> = sides
                .iter()
                .map(|s| {
                    let v = c % s;
                    c /= s;
                    v as f64
                })
                .collect();
            if points.iter().any(|p| (0..m).all(|j| p[j] <= corner[j])) {
                n += 1;
            }
        }
        n as f64
    }

    proptest! {
        #[test]
        fn equals_the_definition_on_integer_points(
            m in 2usize..=5,
            raw in prop::collection::vec(prop::collection::vec(0u8..5, 5), 0..12),
        ) {
            let points: Vec<Vec<f64>> =
                raw.iter().map(|p| p[..m].iter().map(|x| *x as f64).collect()).collect();
            let r = vec![5.0; m];
            prop_assert_eq!(hypervolume(&points, &r), cells(&points, &r));
        }
    }
}
