//! Adaptive search over a finite set of candidate configurations: which ones to measure
//! next, given what has been measured, so that the Pareto front is found for a fraction of
//! the grid.
//!
//! A proposal is a pure function of the search (strategy, seed, batch size, prior), the
//! generation number and the observations of the earlier generations, taken in candidate
//! order: no sampler state is kept, so a search killed at any moment proposes the same
//! batches when it resumes, and the order in which a batch's results arrive changes
//! nothing. Candidates already proposed are never proposed again (a failed one counts as
//! an observation: infeasible).
//!
//! Strategies:
//! * `random`: a uniform sample of the candidates not yet proposed;
//! * `nsga2`: NSGA-II ([`crate::nsga2`]) over the candidates' axes — the observed members
//!   ranked by constraint domination and crowding, offspring bred from them and each
//!   snapped to the nearest candidate not yet proposed;
//! * `surrogate`: per objective, a model of the measurements — the prior (the roofline's
//!   estimate) corrected by the residuals of the nearest measured candidates — and a
//!   feasibility model (the share of failures among the nearest measured); each batch is
//!   filled greedily by predicted hypervolume gain × probability of running, an optimistic
//!   bound (the prediction less its uncertainty) breaking the ties of candidates the front
//!   seems to cover already.
//!
//! Every objective is minimised (negate what is maximised).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::hypervolume::{Scale, hypervolume};
use crate::nsga2::{Axis, Member, Nsga2};

/// The candidates: each a point with one value per axis (an index into the axis's values
/// for discrete axes, ordinal axes as [`Axis::Integer`], unordered ones as
/// [`Axis::Categorical`]).
#[derive(Clone, Debug)]
pub struct Space {
    pub axes: Vec<Axis>,
    pub points: Vec<Vec<f64>>,
}

/// What measuring a candidate gave: its objectives, or `None` when it failed to run (a
/// crash, out of memory, a failed validation).
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub point: usize,
    pub objectives: Option<Vec<f64>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    Random,
    Nsga2,
    Surrogate,
}

impl Strategy {
    pub const ALL: [Strategy; 3] = [Strategy::Random, Strategy::Nsga2, Strategy::Surrogate];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Random => "random",
            Strategy::Nsga2 => "nsga2",
            Strategy::Surrogate => "surrogate",
        }
    }

    pub fn parse(s: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// A search: what proposes, and with what.
#[derive(Clone, Debug)]
pub struct Search<'a> {
    pub space: &'a Space,
    pub strategy: Strategy,
    pub seed: u64,
    /// Candidates proposed per generation.
    pub batch: usize,
    /// An estimate of every candidate's objectives (minimised), the surrogate's prior.
    pub prior: Option<&'a [Vec<f64>]>,
}

/// Nearest measured neighbours a prediction draws on.
const NEIGHBOURS: usize = 5;

impl Search<'_> {
    /// The candidates generation `generation` measures: at most [`Search::batch`], none of
    /// `proposed` (every candidate of the earlier generations), drawing on `observed` (the
    /// earlier generations' results; their order does not matter).
    pub fn propose(
        &self,
        generation: u32,
        observed: &[Observed],
        proposed: &HashSet<usize>,
    ) -> Vec<usize> {
        let mut observed = observed.to_vec();
        observed.sort_by_key(|o| o.point);
        observed.dedup_by_key(|o| o.point);
        let mut rng =
            ChaCha8Rng::seed_from_u64(mix(self.seed, generation as u64, self.strategy as u64));
        let open: Vec<usize> = (0..self.space.points.len())
            .filter(|i| !proposed.contains(i))
            .collect();
        let n = self.batch.min(open.len());
        if n == 0 {
            return Vec::new();
        }
        let mut picked = match self.strategy {
            Strategy::Random => Vec::new(),
            Strategy::Nsga2 if observed.len() >= 2 => self.nsga2(&observed, &open, n, &mut rng),
            Strategy::Surrogate => self.surrogate(&observed, &open, n),
            Strategy::Nsga2 => Vec::new(),
        };
        // Fill up at random (the first generation, or a space that ran out of neighbours).
        if picked.len() < n {
            let taken: HashSet<usize> = picked.iter().copied().collect();
            let mut rest: Vec<usize> = open
                .iter()
                .copied()
                .filter(|i| !taken.contains(i))
                .collect();
            rest.shuffle(&mut rng);
            picked.extend(rest.into_iter().take(n - picked.len()));
        }
        picked
    }

    /// Runs a whole search against `measure` until `budget` candidates are proposed (or
    /// none is left): what a build does across generations, in one place for tests and
    /// evaluation. Returns every observation, in proposal order.
    pub fn run(
        &self,
        budget: usize,
        mut measure: impl FnMut(usize) -> Option<Vec<f64>>,
    ) -> Vec<Observed> {
        let mut observed = Vec::new();
        let mut proposed = HashSet::new();
        let mut generation = 0;
        while proposed.len() < budget {
            let mut batch = self.propose(generation, &observed, &proposed);
            batch.truncate(budget - proposed.len());
            if batch.is_empty() {
                break;
            }
            for p in batch {
                proposed.insert(p);
                observed.push(Observed {
                    point: p,
                    objectives: measure(p),
                });
            }
            generation += 1;
        }
        observed
    }

    fn nsga2(
        &self,
        observed: &[Observed],
        open: &[usize],
        n: usize,
        rng: &mut ChaCha8Rng,
    ) -> Vec<usize> {
        let members: Vec<Member> = observed.iter().map(|o| member(self.space, o)).collect();
        let nsga = Nsga2 {
            population: self.batch.max(2),
            ..Nsga2::default()
        };
        let keep = nsga.survive(&members, nsga.population);
        let parents: Vec<Member> = keep.into_iter().map(|i| members[i].clone()).collect();
        let children = nsga.offspring(&self.space.axes, &parents, n * 2, rng);
        let mut free: HashSet<usize> = open.iter().copied().collect();
        let mut picked = Vec::with_capacity(n);
        for c in children {
            if picked.len() == n {
                break;
            }
            if let Some(p) = self.nearest(&c, &free) {
                free.remove(&p);
                picked.push(p);
            }
        }
        picked
    }

    /// The candidate of `among` closest to `x` (ordinal axes by normalised difference,
    /// unordered ones by mismatch), lowest index on ties.
    fn nearest(&self, x: &[f64], among: &HashSet<usize>) -> Option<usize> {
        let mut best: Option<(f64, usize)> = None;
        for &i in among {
            let d = distance(&self.space.axes, x, &self.space.points[i]);
            if best.is_none_or(|(bd, bi)| d < bd || (d == bd && i < bi)) {
                best = Some((d, i));
            }
        }
        best.map(|(_, i)| i)
    }

    fn surrogate(&self, observed: &[Observed], open: &[usize], n: usize) -> Vec<usize> {
        let space = self.space;
        let measured: Vec<(usize, &Vec<f64>)> = observed
            .iter()
            .filter_map(|o| o.objectives.as_ref().map(|f| (o.point, f)))
            .collect();
        let m = self
            .prior
            .and_then(|p| p.first().map(Vec::len))
            .or_else(|| measured.first().map(|(_, f)| f.len()))
            .unwrap_or(0);
        if m == 0 || (self.prior.is_none() && measured.len() < 2) {
            return Vec::new();
        }
        // Scale every objective to [0, 1] over what is known of it.
        let known = self.prior.into_iter().flatten().map(Vec::as_slice);
        let bounds = Scale::of(known.chain(measured.iter().map(|(_, f)| f.as_slice())), m);
        let scale = |f: &[f64]| bounds.apply(f);
        let front: Vec<Vec<f64>> = measured.iter().map(|(_, f)| scale(f)).collect();
        let residual: Vec<Option<Vec<f64>>> = measured
            .iter()
            .map(|(p, f)| {
                self.prior.map(|prior| {
                    let (a, b) = (scale(f), scale(&prior[*p]));
                    a.iter().zip(&b).map(|(x, y)| x - y).collect()
                })
            })
            .collect();
        // Prediction, uncertainty and probability of running, per open candidate.
        struct Guess {
            point: usize,
            mean: Vec<f64>,
            sigma: f64,
            runs: f64,
        }
        let mut guesses: Vec<Guess> = Vec::with_capacity(open.len());
        for &p in open {
            let mut near: Vec<(f64, usize)> = observed
                .iter()
                .enumerate()
                .map(|(k, o)| {
                    (
                        distance(&space.axes, &space.points[p], &space.points[o.point]),
                        k,
                    )
                })
                .collect();
            near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            near.truncate(NEIGHBOURS);
            let failed = near
                .iter()
                .filter(|(_, k)| observed[*k].objectives.is_none())
                .count();
            let runs = (1.0 + (near.len() - failed) as f64) / (2.0 + near.len() as f64);
            let sigma = near.first().map_or(1.0, |(d, _)| *d);
            // Neighbours that ran, weighted by closeness.
            let ran: Vec<(f64, usize)> = near
                .iter()
                .filter(|(_, k)| observed[*k].objectives.is_some())
                .map(|(d, k)| {
                    (
                        1.0 / (d + 1e-3),
                        measured
                            .iter()
                            .position(|(q, _)| *q == observed[*k].point)
                            .unwrap_or(0),
                    )
                })
                .collect();
            let wsum: f64 = ran.iter().map(|(w, _)| w).sum();
            let mean: Vec<f64> = match self.prior {
                Some(prior) => {
                    let base = scale(&prior[p]);
                    (0..m)
                        .map(|j| {
                            let r: f64 = ran
                                .iter()
                                .filter_map(|(w, q)| residual[*q].as_ref().map(|r| w * r[j]))
                                .sum::<f64>();
                            base[j] + if wsum > 0.0 { r / wsum } else { 0.0 }
                        })
                        .collect()
                }
                None if wsum > 0.0 => (0..m)
                    .map(|j| ran.iter().map(|(w, q)| w * front[*q][j]).sum::<f64>() / wsum)
                    .collect(),
                None => continue,
            };
            guesses.push(Guess {
                point: p,
                mean,
                sigma,
                runs,
            });
        }
        let reference = vec![1.1; m];
        let mut set: Vec<Vec<f64>> = non_dominated(front);
        let mut picked: Vec<usize> = Vec::with_capacity(n);
        let mut taken = vec![false; guesses.len()];
        // Greedy by predicted gain × probability of running, then (where nothing gains) by
        // the optimistic bound's: lazily, since a point's gain only shrinks as the set grows.
        for optimistic in [false, true] {
            let point = |g: &Guess| -> Vec<f64> {
                if optimistic {
                    g.mean.iter().map(|x| x - g.sigma * 0.5).collect()
                } else {
                    g.mean.clone()
                }
            };
            let mut heap: BinaryHeap<Bound> = guesses
                .iter()
                .enumerate()
                .filter(|(k, _)| !taken[*k])
                .map(|(k, g)| Bound {
                    gain: gain(&set, &point(g), &reference) * g.runs,
                    point: g.point,
                    k,
                })
                .filter(|b| b.gain > 0.0)
                .collect();
            while picked.len() < n {
                let Some(top) = heap.pop() else { break };
                let g = &guesses[top.k];
                let now = gain(&set, &point(g), &reference) * g.runs;
                if now <= 0.0 {
                    continue;
                }
                if heap.peek().is_some_and(|next| now < next.gain) {
                    heap.push(Bound { gain: now, ..top });
                    continue;
                }
                taken[top.k] = true;
                picked.push(g.point);
                set.push(g.mean.clone());
                set = non_dominated(set);
            }
        }
        picked
    }
}

/// A candidate's gain, as a max-heap orders it: larger first, then the lower candidate.
struct Bound {
    gain: f64,
    point: usize,
    k: usize,
}

impl PartialEq for Bound {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Bound {}
impl PartialOrd for Bound {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Bound {
    fn cmp(&self, o: &Self) -> Ordering {
        self.gain.total_cmp(&o.gain).then(o.point.cmp(&self.point))
    }
}

/// The hypervolume `x` adds to `set` (a non-dominated set).
fn gain(set: &[Vec<f64>], x: &[f64], reference: &[f64]) -> f64 {
    if set.iter().any(|f| f.iter().zip(x).all(|(a, b)| a <= b)) {
        return 0.0;
    }
    let mut with: Vec<&[f64]> = set.iter().map(Vec::as_slice).collect();
    let before = hypervolume(&with, reference);
    with.push(x);
    hypervolume(&with, reference) - before
}

/// The points no other point dominates.
fn non_dominated(pts: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    let m = pts.first().map_or(0, Vec::len);
    let cols: Vec<Vec<f64>> = (0..m).map(|j| pts.iter().map(|p| p[j]).collect()).collect();
    let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
    let fronts = crate::pareto::non_dominated_fronts(&refs);
    // Duplicates share the first front; they add nothing to a hypervolume.
    pts.into_iter()
        .zip(fronts)
        .filter(|(_, f)| *f == Some(0))
        .map(|(p, _)| p)
        .collect()
}

fn member(space: &Space, o: &Observed) -> Member {
    match &o.objectives {
        Some(f) => Member {
            x: space.points[o.point].clone(),
            objectives: f.clone(),
            violation: 0.0,
        },
        // A failure: infeasible, behind every candidate that ran.
        None => Member {
            x: space.points[o.point].clone(),
            objectives: Vec::new(),
            violation: 1.0,
        },
    }
}

fn distance(axes: &[Axis], a: &[f64], b: &[f64]) -> f64 {
    axes.iter()
        .zip(a.iter().zip(b))
        .map(|(axis, (x, y))| match *axis {
            Axis::Categorical { .. } => f64::from(u8::from(x != y)),
            Axis::Integer { lo, hi } if hi > lo => (x - y).abs() / (hi - lo) as f64,
            Axis::Real { lo, hi } if hi > lo => (x - y).abs() / (hi - lo),
            _ => 0.0,
        })
        .sum()
}

/// A seed per (search seed, generation, strategy): SplitMix64's finaliser over their mix.
fn mix(seed: u64, generation: u64, strategy: u64) -> u64 {
    let mut z = seed ^ generation.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ strategy.rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
