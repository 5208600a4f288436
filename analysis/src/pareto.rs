//! Non-dominated sorting and crowding distance (NSGA-II, Deb et al. 2002). Every objective
//! is minimised: negate the ones to maximise.
//!
//! Sorting is lexicographic first, after which a point can only be dominated by points
//! before it, and identical points are neighbours (they share a front: duplicates do not
//! dominate each other). Then each point goes to the first front none of whose members
//! dominates it, found by binary search over the fronts (fronts only get "worse"):
//!
//! * two objectives: a front dominates a later point exactly when its smallest second
//!   objective is ≤ the point's, so the search is O(log F) and the sort O(N log N);
//! * three objectives: a staircase of (f2, f3) per front, one ordered-map lookup per front
//!   visited: O(N log N log F);
//! * more objectives: ENS-BS (Zhang et al. 2015) with each front's members in a bucket tree
//!   of bounding boxes (ENS-NDT, Gustavsson & Syberfeldt 2018), so "does this front dominate
//!   the point" prunes whole boxes instead of scanning the front.
//!
//! Points with a non-finite objective get no front (`None`).

/// The 0-based non-dominated front of every point, in input order.
pub fn non_dominated_fronts(objectives: &[&[f64]]) -> Vec<Option<u32>> {
    let m = objectives.len();
    let n = objectives.first().map_or(0, |c| c.len());
    let mut front = vec![None; n];
    if m == 0 {
        return front;
    }
    let mut order: Vec<u32> = (0..n as u32)
        .filter(|i| objectives.iter().all(|c| c[*i as usize].is_finite()))
        .collect();
    let cmp = |a: &u32, b: &u32| {
        for c in objectives {
            match c[*a as usize].total_cmp(&c[*b as usize]) {
                std::cmp::Ordering::Equal => continue,
                o => return o,
            }
        }
        std::cmp::Ordering::Equal
    };
    order.sort_unstable_by(|a, b| cmp(a, b).then(a.cmp(b)));
    let same = |a: u32, b: u32| objectives.iter().all(|c| c[a as usize] == c[b as usize]);

    if m == 1 {
        // Fronts are the distinct values, in order.
        let mut f = 0u32;
        for (k, &i) in order.iter().enumerate() {
            if k > 0 && !same(order[k - 1], i) {
                f += 1;
            }
            front[i as usize] = Some(f);
        }
        return front;
    }

    if m == 2 {
        let f2 = objectives[1];
        let mut min_f2: Vec<f64> = Vec::new();
        for (k, &i) in order.iter().enumerate() {
            let f = if k > 0 && same(order[k - 1], i) {
                front[order[k - 1] as usize].unwrap_or(0)
            } else {
                let y = f2[i as usize];
                let f = min_f2.partition_point(|m| *m <= y);
                if f == min_f2.len() {
                    min_f2.push(y);
                } else {
                    min_f2[f] = min_f2[f].min(y);
                }
                f as u32
            };
            front[i as usize] = Some(f);
        }
        return front;
    }

    if m == 3 {
        return three(objectives, &order, front);
    }

    many(objectives, &order, front)
}

/// Four or more objectives: ENS-BS (Zhang et al. 2015) with each front's members in a
/// non-dominated tree (ENS-NDT, Gustavsson & Syberfeldt 2018). Points come in
/// lexicographic order, so an earlier point dominates a later one exactly when it is no
/// worse in objectives 2..M; a front "dominates the point" when its tree holds such a
/// member, found by a box-pruned search instead of a scan of the front.
fn many(objectives: &[&[f64]], order: &[u32], mut front: Vec<Option<u32>>) -> Vec<Option<u32>> {
    let k = objectives.len() - 1;
    // Objectives 2..M of each point, row by row in sorted order (cache-friendly).
    let mut rows = Vec::with_capacity(order.len() * k);
    for &i in order {
        rows.extend(objectives[1..].iter().map(|c| c[i as usize]));
    }
    let row = |r: usize| &rows[r * k..(r + 1) * k];
    let mut fronts: Vec<Ndt> = Vec::new();
    for (r, &i) in order.iter().enumerate() {
        let f = if r > 0
            && row(r - 1) == row(r)
            && objectives[0][order[r - 1] as usize] == objectives[0][i as usize]
        {
            front[order[r - 1] as usize].unwrap_or(0) as usize
        } else {
            // First front that does not dominate the point (those that do form a prefix).
            let (mut lo, mut hi) = (0usize, fronts.len());
            while lo < hi {
                let mid = (lo + hi) / 2;
                if fronts[mid].dominates(&rows, k, row(r)) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        if f == fronts.len() {
            fronts.push(Ndt::new(k));
        }
        fronts[f].insert(&rows, k, r as u32);
        front[i as usize] = Some(f as u32);
    }
    front
}

/// Points per leaf before it splits.
const LEAF: usize = 32;

/// A front's members as a bucket tree with the bounding box of every node: a search skips
/// boxes that cannot hold a dominating member and stops at the first box whose every
/// member dominates.
struct Ndt {
    /// Per node, the box's low then high corner (`2k` values).
    boxes: Vec<f64>,
    nodes: Vec<Node>,
}

enum Node {
    Leaf(Vec<u32>),
    Split {
        dim: usize,
        at: f64,
        left: u32,
        right: u32,
    },
}

impl Ndt {
    fn new(k: usize) -> Self {
        let mut boxes = vec![f64::INFINITY; k];
        boxes.extend(std::iter::repeat_n(f64::NEG_INFINITY, k));
        Ndt {
            boxes,
            nodes: vec![Node::Leaf(Vec::new())],
        }
    }

    fn grow(&mut self, k: usize, n: usize, x: &[f64]) {
        let b = &mut self.boxes[2 * k * n..2 * k * (n + 1)];
        for j in 0..k {
            b[j] = b[j].min(x[j]);
            b[k + j] = b[k + j].max(x[j]);
        }
    }

    fn insert(&mut self, rows: &[f64], k: usize, r: u32) {
        let x = &rows[r as usize * k..(r as usize + 1) * k];
        let mut n = 0usize;
        loop {
            self.grow(k, n, x);
            match &mut self.nodes[n] {
                Node::Split {
                    dim,
                    at,
                    left,
                    right,
                } => {
                    n = if x[*dim] <= *at { *left } else { *right } as usize;
                }
                Node::Leaf(pts) => {
                    pts.push(r);
                    if pts.len() > LEAF {
                        self.split(rows, k, n);
                    }
                    return;
                }
            }
        }
    }

    /// Splits a full leaf at the median of its widest objective.
    fn split(&mut self, rows: &[f64], k: usize, n: usize) {
        let b = &self.boxes[2 * k * n..2 * k * (n + 1)];
        let dim = (0..k)
            .max_by(|&a, &c| (b[k + a] - b[a]).total_cmp(&(b[k + c] - b[c])))
            .unwrap_or(0);
        if b[k + dim] <= b[dim] {
            return; // every member equal in every objective: nothing to split on
        }
        let Node::Leaf(pts) = &mut self.nodes[n] else {
            return;
        };
        let mut pts = std::mem::take(pts);
        let v = |r: u32| rows[r as usize * k + dim];
        pts.sort_unstable_by(|a, c| v(*a).total_cmp(&v(*c)));
        let at = v(pts[pts.len() / 2 - 1]);
        let cut = pts.partition_point(|r| v(*r) <= at);
        let right_pts = pts.split_off(cut);
        let (left, right) = (self.nodes.len() as u32, self.nodes.len() as u32 + 1);
        for part in [pts, right_pts] {
            let id = self.nodes.len();
            self.boxes.extend(std::iter::repeat_n(f64::INFINITY, k));
            self.boxes.extend(std::iter::repeat_n(f64::NEG_INFINITY, k));
            for &r in &part {
                self.grow(k, id, &rows[r as usize * k..(r as usize + 1) * k]);
            }
            self.nodes.push(Node::Leaf(part));
        }
        self.nodes[n] = Node::Split {
            dim,
            at,
            left,
            right,
        };
    }

    /// Whether a member is no worse than `x` in every objective.
    fn dominates(&self, rows: &[f64], k: usize, x: &[f64]) -> bool {
        let mut stack = vec![0u32];
        while let Some(n) = stack.pop() {
            let n = n as usize;
            let b = &self.boxes[2 * k * n..2 * k * (n + 1)];
            if (0..k).any(|j| b[j] > x[j]) {
                continue; // no member of this box is ≤ x everywhere
            }
            if (0..k).all(|j| b[k + j] <= x[j]) {
                return true; // every member is
            }
            match &self.nodes[n] {
                Node::Split { left, right, .. } => stack.extend([*right, *left]),
                Node::Leaf(pts) => {
                    for &r in pts {
                        let q = &rows[r as usize * k..(r as usize + 1) * k];
                        if q.iter().zip(x).all(|(a, b)| a <= b) {
                            return true;
                        }
                    }
                }
            }
        }
        false
    }
}

/// f64 → u64 with the same order (finite values).
pub(crate) fn ordered(x: f64) -> u64 {
    let b = if x == 0.0 { 0.0f64 } else { x }.to_bits(); // −0 = +0
    if b >> 63 == 1 { !b } else { b | (1 << 63) }
}

/// Three objectives: points come in lexicographic order, so an earlier point dominates a
/// later one exactly when it is no worse in objectives 2 and 3. Each front keeps the
/// staircase of its members' (f2, f3) projections (f2 ascending, f3 strictly descending;
/// a member shadowed in projection can never be the only one to dominate), so "does this
/// front dominate the point" is one ordered-map lookup: O(N log N log F) in all.
fn three(objectives: &[&[f64]], order: &[u32], mut front: Vec<Option<u32>>) -> Vec<Option<u32>> {
    use std::collections::BTreeMap;
    let (f2, f3) = (objectives[1], objectives[2]);
    let same = |a: u32, b: u32| objectives.iter().all(|c| c[a as usize] == c[b as usize]);
    let mut stairs: Vec<BTreeMap<u64, f64>> = Vec::new();
    let dominated = |s: &BTreeMap<u64, f64>, y2: u64, y3: f64| {
        s.range(..=y2).next_back().is_some_and(|(_, v)| *v <= y3)
    };
    for (k, &i) in order.iter().enumerate() {
        let f = if k > 0 && same(order[k - 1], i) {
            front[order[k - 1] as usize].unwrap_or(0) as usize
        } else {
            let (y2, y3) = (ordered(f2[i as usize]), f3[i as usize]);
            let (mut lo, mut hi) = (0usize, stairs.len());
            while lo < hi {
                let mid = (lo + hi) / 2;
                if dominated(&stairs[mid], y2, y3) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            if lo == stairs.len() {
                stairs.push(BTreeMap::new());
            }
            let s = &mut stairs[lo];
            // Not dominated in projection (else it would not be here): insert, and drop
            // the members it shadows (key ≥ y2 and value ≥ y3, contiguous after it).
            let shadowed: Vec<u64> = s
                .range(y2..)
                .take_while(|(_, v)| **v >= y3)
                .map(|(k, _)| *k)
                .collect();
            for k in shadowed {
                s.remove(&k);
            }
            s.insert(y2, y3);
            lo
        };
        front[i as usize] = Some(f as u32);
    }
    front
}

/// Crowding distance of each point within its front (Deb et al. 2002, the sum over
/// objectives not divided by their number): per objective, the front's extreme points get
/// infinity and inner points add `(next − prev) / (max − min)`; an objective with zero range
/// adds nothing; fronts of one or two points are all infinite. Points without a front get
/// `None`. Ties within an objective are taken in input order.
pub fn crowding_distance(objectives: &[&[f64]], fronts: &[Option<u32>]) -> Vec<Option<f64>> {
    let n = fronts.len();
    let mut dist: Vec<Option<f64>> = fronts.iter().map(|f| f.map(|_| 0.0)).collect();
    let nf = fronts.iter().flatten().max().map_or(0, |m| *m as usize + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); nf];
    for (i, f) in fronts.iter().enumerate().take(n) {
        if let Some(f) = f {
            members[*f as usize].push(i);
        }
    }
    for mut mem in members {
        if mem.len() <= 2 {
            for i in mem {
                dist[i] = Some(f64::INFINITY);
            }
            continue;
        }
        for c in objectives {
            // Equal values in input order, for every objective afresh (as pymoo's and
            // moocore's stable sorts of the front do): never the order the previous
            // objective left behind.
            mem.sort_unstable_by(|a, b| c[*a].total_cmp(&c[*b]).then(a.cmp(b)));
            let (lo, hi) = (c[mem[0]], c[mem[mem.len() - 1]]);
            dist[mem[0]] = Some(f64::INFINITY);
            dist[mem[mem.len() - 1]] = Some(f64::INFINITY);
            let range = hi - lo;
            if range <= 0.0 {
                continue;
            }
            for k in 1..mem.len() - 1 {
                if let Some(d) = &mut dist[mem[k]] {
                    *d += (c[mem[k + 1]] - c[mem[k - 1]]) / range;
                }
            }
        }
    }
    dist
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, O(M N²): the reference the fast paths are checked against.
    fn naive(objectives: &[&[f64]]) -> Vec<Option<u32>> {
        let n = objectives[0].len();
        let dom = |a: usize, b: usize| {
            objectives.iter().all(|c| c[a] <= c[b]) && objectives.iter().any(|c| c[a] < c[b])
        };
        let mut front = vec![None; n];
        let mut left: Vec<usize> = (0..n).collect();
        let mut f = 0;
        while !left.is_empty() {
            let now: Vec<usize> = left
                .iter()
                .copied()
                .filter(|&i| !left.iter().any(|&j| dom(j, i)))
                .collect();
            for &i in &now {
                front[i] = Some(f);
            }
            left.retain(|i| !now.contains(i));
            f += 1;
        }
        front
    }

    #[test]
    fn two_objective_staircase() {
        let a = [1.0, 2.0, 3.0, 2.0, 3.0, 1.0];
        let b = [3.0, 2.0, 1.0, 3.0, 3.0, 3.0];
        let f = non_dominated_fronts(&[&a, &b]);
        // (1,3) twice: duplicates share front 0.
        assert_eq!(
            f,
            vec![Some(0), Some(0), Some(0), Some(1), Some(2), Some(0)]
        );
    }

    #[test]
    fn non_finite_points_have_no_front() {
        let a = [1.0, f64::NAN, 2.0];
        let b = [2.0, 0.0, 1.0];
        assert_eq!(
            non_dominated_fronts(&[&a, &b]),
            vec![Some(0), None, Some(0)]
        );
    }

    #[test]
    fn crowding_of_a_front() {
        let a = [1.0, 2.0, 4.0, 5.0];
        let b = [4.0, 3.0, 1.0, 0.0];
        let f = non_dominated_fronts(&[&a, &b]);
        assert!(f.iter().all(|x| *x == Some(0)));
        let d = crowding_distance(&[&a, &b], &f);
        assert_eq!(d[0], Some(f64::INFINITY));
        assert_eq!(d[3], Some(f64::INFINITY));
        // Point 1: (4 − 1)/4 + (4 − 1)/4 = 1.5; point 2: (5 − 2)/4 + (3 − 0)/4 = 1.5.
        assert_eq!(d[1], Some(1.5));
        assert_eq!(d[2], Some(1.5));
        // Two-point fronts are infinite.
        let d = crowding_distance(&[&a[..2], &b[..2]], &f[..2]);
        assert_eq!(d, vec![Some(f64::INFINITY); 2]);
    }

    #[test]
    fn crowding_takes_ties_in_input_order_for_every_objective() {
        // One front of five points, with ties in every objective.
        let pts = [
            [2.0, 2.0, 3.0],
            [2.0, 3.0, 2.0],
            [3.0, 3.0, 0.0],
            [3.0, 1.0, 1.0],
            [0.0, 3.0, 3.0],
        ];
        let cols: Vec<Vec<f64>> = (0..3).map(|j| pts.iter().map(|p| p[j]).collect()).collect();
        let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let f = non_dominated_fronts(&refs);
        assert!(f.iter().all(|x| *x == Some(0)));
        let d = crowding_distance(&refs, &f);
        // Objective 1 orders 4, 0, 1, 2, 3: point 0 adds (2 − 0)/3, point 1 (3 − 2)/3.
        // Objective 2 orders 3, 0, 1, 2, 4 (1, 2 and 4 tied at 3, in input order): point 0
        // adds (3 − 1)/2, point 1 (3 − 2)/2. Objective 3 orders 2, 3, 1, 0, 4: point 1 adds
        // (3 − 1)/3, point 0 (3 − 2)/3. Carrying objective 2's order into objective 3 (the
        // old way) gave point 1 a sum of 1.0.
        let want = [2.0 / 3.0 + 1.0 + 1.0 / 3.0, 1.0 / 3.0 + 0.5 + 2.0 / 3.0];
        for (i, w) in want.iter().enumerate() {
            assert!(
                (d[i].unwrap() - w).abs() < 1e-12,
                "point {i}: {:?} vs {w}",
                d[i]
            );
        }
        assert!(d[2..].iter().all(|x| *x == Some(f64::INFINITY)));
    }

    proptest! {
        #[test]
        fn fast_sort_matches_the_definition(
            m in 1usize..8,
            pts in prop::collection::vec(prop::collection::vec(0u8..6, 7), 0..120),
        ) {
            let cols: Vec<Vec<f64>> = (0..m).map(|j| pts.iter().map(|p| p[j] as f64).collect()).collect();
            let refs: Vec<&[f64]> = cols.iter().map(|c| c.as_slice()).collect();
            if pts.is_empty() {
                prop_assert!(non_dominated_fronts(&refs).is_empty());
            } else {
                prop_assert_eq!(non_dominated_fronts(&refs), naive(&refs));
            }
        }
    }
}
