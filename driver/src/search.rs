//! A build that searches (the sweep's `search { … }`): generation by generation, the
//! proposer ([`bench_analysis::search`]) picks configurations × load points not measured
//! yet, and they run as ordinary bench → validate → aggregate nodes, keyed exactly as in a
//! full build (so a search reuses grid results, and a grid build reuses a search's).
//!
//! Nothing of the search is stored but the nodes' outputs: each run replays the generations
//! from the first, the proposals being a pure function of the sweep's search block, its seed
//! and the observations of the earlier generations (read from the cache, in node-key
//! order). A build killed at any moment therefore proposes the same batches when rerun and
//! runs only what the kill left unfinished.
//!
//! A candidate's observation: its aggregate's objective values (each `ln`, negated where
//! maximised, so that ratios count alike across metrics), or "failed" — invalid, breaking a
//! constraint, or its bench or validate node failed for good. A failed candidate is never
//! proposed again. The search stops when its budget is spent, when `patience` generations
//! in a row add nothing to the front, or when no candidate is left.

use std::collections::HashSet;

use bench_analysis::hypervolume::Scale;
use bench_analysis::search::{Observed, Search, Space, Strategy};
use bench_analysis::{Axis, hypervolume, non_dominated_fronts};
use bench_cache::CacheBackend;
use bench_node::outputs::{AggregateOutput, names};
use bench_node::params::Params;
use bench_node::params::{ConstraintSpec, Direction, ObjectiveSpec};
use bench_node::{FailureClass, NodeKind};
use bench_plan::dag::{inputs, node_params};
use bench_plan::{Plan, Subject, contract};
use petgraph::graph::NodeIndex;

use crate::outputs::read_output;

/// The search's candidates: the plan's aggregate nodes, in key order, as points.
pub struct Candidates {
    pub nodes: Vec<NodeIndex>,
    pub space: Space,
    /// The roofline's estimate of every candidate's objectives, where every objective has one.
    pub prior: Option<Vec<Vec<f64>>>,
    pub objectives: Vec<ObjectiveSpec>,
    pub constraints: Vec<ConstraintSpec>,
}

/// The objectives a search minimises: the optimize node's ([`bench_actions::objectives`]).
fn objectives(plan: &Plan<'_, '_>) -> Vec<ObjectiveSpec> {
    match node_params(&plan.resolved, &plan.expansion, &Subject::Optimize) {
        Params::Optimize(p) => bench_actions::objectives(&p).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A metric's value as the search compares it: `ln`, negated when maximised.
fn transform(v: f64, d: Direction) -> f64 {
    let x = v.max(1e-12).ln();
    if d == Direction::Maximize { -x } else { x }
}

/// Ordinal position of each value among the axis's values (numeric axes are ordered by
/// value, whatever the sweep's order).
fn ordinal<T: PartialOrd + Copy>(values: &[T]) -> Vec<f64> {
    values
        .iter()
        .map(|v| values.iter().filter(|w| **w < *v).count() as f64)
        .collect()
}

pub fn candidates(plan: &Plan<'_, '_>) -> Candidates {
    let (r, x, g) = (&plan.resolved, &plan.expansion, &plan.graph);
    let mut nodes: Vec<NodeIndex> = g
        .node_indices()
        .filter(|i| g[*i].kind == NodeKind::Aggregate)
        .collect();
    nodes.sort_by_key(|i| g[*i].key.hex());
    let loads = r
        .workloads
        .iter()
        .map(|w| w.decl.load.len())
        .max()
        .unwrap_or(1);
    let cat = |n: usize| Axis::Categorical { choices: n.max(1) };
    let int = |n: usize| Axis::Integer {
        lo: 0,
        hi: n.max(1) as i64 - 1,
    };
    let axes = vec![
        cat(r.models.len()),
        cat(r.engines.len()),
        cat(r.quantization.values.len()),
        cat(r.dtype.values.len()),
        cat(r.kv_cache.values.len()),
        cat(r.gpu.values.len()),
        int(r.gpus.values.len()),
        int(r.batch_size.values.len()),
        int(r.seq_len.values.len()),
        cat(r.workloads.len()),
        cat(x.arg_combos.len()),
        int(loads),
    ];
    let (gpus, batch, seq) = (
        ordinal(&r.gpus.values),
        ordinal(&r.batch_size.values),
        ordinal(&r.seq_len.values),
    );
    let points = nodes
        .iter()
        .map(|i| {
            let Subject::Aggregate { config, load } = g[*i].subject else {
                unreachable!("aggregate nodes only")
            };
            let c = &x.valid[config as usize];
            vec![
                c.model as f64,
                c.engine as f64,
                c.quantization as f64,
                c.dtype as f64,
                c.kv_cache as f64,
                c.gpu as f64,
                gpus[c.gpus as usize],
                batch[c.batch_size as usize],
                seq[c.seq_len as usize],
                c.workload as f64,
                c.args as f64,
                load as f64,
            ]
        })
        .collect();
    let objectives = objectives(plan);
    let prior = prior(plan, &nodes, &objectives);
    Candidates {
        nodes,
        space: Space { axes, points },
        prior,
        objectives,
        constraints: r
            .sweep
            .optimize
            .constraints
            .iter()
            .map(contract::constraint)
            .collect(),
    }
}

/// The estimate of each candidate's objectives, when every objective has one for every
/// candidate (else the surrogate learns from the measurements alone).
fn prior(
    plan: &Plan<'_, '_>,
    nodes: &[NodeIndex],
    objectives: &[ObjectiveSpec],
) -> Option<Vec<Vec<f64>>> {
    let est = plan.estimates();
    let by: std::collections::HashMap<(u32, u16), &bench_plan::Estimate> =
        est.iter().map(|e| ((e.config, e.load), e)).collect();
    nodes
        .iter()
        .map(|i| {
            let Subject::Aggregate { config, load } = plan.graph[*i].subject else {
                return None;
            };
            let e = by.get(&(config, load))?;
            objectives
                .iter()
                .map(|o| e.metric(&o.metric).map(|v| transform(v, o.direction)))
                .collect()
        })
        .collect()
}

impl Candidates {
    /// What the cache knows of candidate `k`: `None` when it has not run (or not to the
    /// end), `Some(None)` when it failed, else its objectives.
    pub fn observe(
        &self,
        plan: &Plan<'_, '_>,
        cache: &dyn CacheBackend,
        k: usize,
    ) -> Option<Option<Vec<f64>>> {
        let g = &plan.graph;
        let node = self.nodes[k];
        if let Some(a) = read_output::<AggregateOutput>(cache, &g[node].key.hex(), names::AGGREGATE)
        {
            let breaks = self.constraints.iter().any(|c| {
                let v = a.metrics.get(&c.metric).copied().unwrap_or(f64::NAN);
                !v.is_finite() || c.min.is_some_and(|m| v < m) || c.max.is_some_and(|m| v > m)
            });
            let values: Option<Vec<f64>> = self
                .objectives
                .iter()
                .map(|o| {
                    a.metrics
                        .get(&o.metric)
                        .filter(|v| v.is_finite())
                        .map(|v| transform(*v, o.direction))
                })
                .collect();
            return Some(values.filter(|_| a.valid && !breaks));
        }
        // Its validations and runs: one that failed for good makes the candidate a failure.
        let mut stack = inputs(g, node);
        while let Some(i) = stack.pop() {
            let n = &g[i];
            if !matches!(n.kind, NodeKind::Validate | NodeKind::Bench) {
                continue;
            }
            if let Some(f) = cache.failure(&n.key.hex())
                && FailureClass::parse(&f.class).is_some_and(|c| {
                    !matches!(c, FailureClass::Preemption | FailureClass::Cancelled)
                })
                && !matches!(cache.lookup(&n.key.hex()), Ok(bench_cache::Lookup::Hit(_)))
            {
                return Some(None);
            }
            stack.extend(inputs(g, i));
        }
        None
    }
}

/// Every candidate's observation when the whole grid is measured (a `--grid` build, or a
/// search that ran out of candidates): its objectives, or `None` where it failed. `None`
/// while any candidate is unmeasured.
pub fn measured_grid(plan: &Plan<'_, '_>, cache: &dyn CacheBackend) -> Option<Grid> {
    Grid::of(candidates(plan), plan, cache)
}

impl Grid {
    /// `candidates` observed, when every one is measured.
    fn of(candidates: Candidates, plan: &Plan<'_, '_>, cache: &dyn CacheBackend) -> Option<Grid> {
        let observed = (0..candidates.nodes.len())
            .map(|k| candidates.observe(plan, cache, k))
            .collect::<Option<Vec<_>>>()?;
        Some(Grid {
            candidates,
            observed,
        })
    }
}

/// When the whole grid is measured: the share of its hypervolume that the sweep's own
/// search reaches (what it measured, as [`replay`] reads it).
pub fn reached(plan: &Plan<'_, '_>, cache: &dyn CacheBackend) -> Option<f64> {
    // One set of candidates (and of estimates) for the replay and the grid.
    let mut s = Searcher::new(plan)?;
    let generations = s.replay(cache);
    let grid = Grid::of(s.candidates, plan, cache)?;
    let at: std::collections::HashMap<usize, usize> = grid
        .candidates
        .nodes
        .iter()
        .enumerate()
        .map(|(k, n)| (n.index(), k))
        .collect();
    let measured: Vec<usize> = generations
        .iter()
        .flat_map(|g| g.proposed.iter().filter_map(|i| at.get(i).copied()))
        .collect();
    (!measured.is_empty()).then(|| grid.share(&measured))
}

/// A grid measured whole: what a search's choices are judged against.
pub struct Grid {
    pub candidates: Candidates,
    /// Per candidate, its objectives as the search sees them, `None` for a failure.
    pub observed: Vec<Option<Vec<f64>>>,
}

impl Grid {
    /// The share of the grid's hypervolume that the candidates `measured` reach: objectives
    /// (logarithms) scaled to [0, 1] by the range of everything the grid measured, the
    /// reference point at 1.1. 1 when they hold the grid's whole front.
    pub fn share(&self, measured: &[usize]) -> f64 {
        let m = self.candidates.objectives.len();
        let ok: Vec<&[f64]> = self.observed.iter().flatten().map(Vec::as_slice).collect();
        if m == 0 || ok.is_empty() {
            return 0.0;
        }
        let scale = Scale::of(ok.iter().copied(), m);
        let reference = vec![1.1; m];
        let all: Vec<Vec<f64>> = ok.iter().map(|f| scale.apply(f)).collect();
        let got: Vec<Vec<f64>> = measured
            .iter()
            .filter_map(|k| self.observed[*k].as_deref())
            .map(|f| scale.apply(f))
            .collect();
        let whole = hypervolume(&all, &reference);
        if whole > 0.0 {
            hypervolume(&got, &reference) / whole
        } else {
            0.0
        }
    }

    /// What a search with `strategy`, `seed`, `batch` and `budget` candidates measures on
    /// this grid, spending its whole budget (no `patience` stop): the candidates, in
    /// proposal order.
    pub fn search(&self, strategy: Strategy, seed: u64, batch: usize, budget: usize) -> Vec<usize> {
        let s = Search {
            space: &self.candidates.space,
            strategy,
            seed,
            batch: batch.max(1),
            prior: self.candidates.prior.as_deref(),
        };
        s.run(budget, |k| self.observed[k].clone())
            .into_iter()
            .map(|o| o.point)
            .collect()
    }
}

/// How one generation went.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Generation {
    pub number: u32,
    /// Candidates proposed (plan node indices of their aggregates).
    pub proposed: Vec<usize>,
    /// Of them, those that had to run (the rest were in the cache already).
    pub ran: usize,
    /// Candidates proposed so far, this generation's included.
    pub used: usize,
    pub budget: usize,
    /// Candidates on the front of everything measured so far.
    pub front: usize,
    /// Hypervolume of what is measured, objectives scaled to [0, 1] by the prior's range
    /// (or, without a prior, by what is measured), the reference at 1.1.
    pub hypervolume: f64,
}

/// Why a search ended.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    Budget,
    /// `patience` generations in a row added nothing to the front.
    Converged,
    Exhausted,
    /// A generation's build did not finish (interrupted, preempted, or inputs failed):
    /// rerun to resume.
    Unfinished,
}

/// The search, one generation at a time: [`Searcher::next`] proposes and says what must
/// run; the caller builds it and calls [`Searcher::record`].
pub struct Searcher<'a, 's, 'r> {
    pub candidates: Candidates,
    strategy: Strategy,
    seed: u64,
    batch: usize,
    patience: u32,
    pub budget: usize,
    observed: Vec<Observed>,
    proposed: HashSet<usize>,
    generation: u32,
    stall: u32,
    front: usize,
    plan: &'a Plan<'s, 'r>,
}

impl<'a, 's, 'r> Searcher<'a, 's, 'r> {
    /// `None` when the sweep has no search block.
    pub fn new(plan: &'a Plan<'s, 'r>) -> Option<Self> {
        let spec = plan.resolved.sweep.search.as_ref()?;
        let candidates = candidates(plan);
        let budget = spec.budget.of(candidates.nodes.len());
        Some(Searcher {
            strategy: Strategy::parse(&spec.strategy).unwrap_or(Strategy::Surrogate),
            seed: spec.seed,
            batch: spec.batch.max(1) as usize,
            patience: spec.patience.max(1),
            budget,
            candidates,
            observed: Vec::new(),
            proposed: HashSet::new(),
            generation: 0,
            stall: 0,
            front: 0,
            plan,
        })
    }

    /// The generations as the cache holds them, nothing built ([`replay`]).
    fn replay(&mut self, cache: &dyn CacheBackend) -> Vec<Generation> {
        let mut out = Vec::new();
        while let Ok(batch) = self.next() {
            match self.record(cache, &batch, 0) {
                Ok(g) => out.push(g),
                Err(_) => break,
            }
        }
        out
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The next batch (candidate indices), or why the search is over.
    pub fn next(&self) -> Result<Vec<usize>, Stop> {
        if self.proposed.len() >= self.budget {
            return Err(Stop::Budget);
        }
        if self.generation > 0 && self.stall >= self.patience {
            return Err(Stop::Converged);
        }
        let search = Search {
            space: &self.candidates.space,
            strategy: self.strategy,
            seed: self.seed,
            batch: self.batch,
            prior: self.candidates.prior.as_deref(),
        };
        let mut batch = search.propose(self.generation, &self.observed, &self.proposed);
        batch.truncate(self.budget - self.proposed.len());
        if batch.is_empty() {
            Err(Stop::Exhausted)
        } else {
            Ok(batch)
        }
    }

    /// The plan nodes a batch needs built: the aggregates not yet known to the cache.
    pub fn to_run(&self, cache: &dyn CacheBackend, batch: &[usize]) -> Vec<bool> {
        let mut only = vec![false; self.plan.graph.node_count()];
        for &k in batch {
            if self.candidates.observe(self.plan, cache, k).is_none() {
                only[self.candidates.nodes[k].index()] = true;
            }
        }
        only
    }

    /// Records a batch's results after its build; `Err` when some are still unknown.
    pub fn record(
        &mut self,
        cache: &dyn CacheBackend,
        batch: &[usize],
        ran: usize,
    ) -> Result<Generation, Stop> {
        let mut got = Vec::with_capacity(batch.len());
        for &k in batch {
            match self.candidates.observe(self.plan, cache, k) {
                Some(objectives) => got.push(Observed {
                    point: k,
                    objectives,
                }),
                None => return Err(Stop::Unfinished),
            }
        }
        for o in got {
            self.proposed.insert(o.point);
            self.observed.push(o);
        }
        let front = self.front_size(batch);
        if front.1 {
            self.stall = 0;
        } else {
            self.stall += 1;
        }
        self.front = front.0;
        let g = Generation {
            number: self.generation,
            proposed: batch
                .iter()
                .map(|k| self.candidates.nodes[*k].index())
                .collect(),
            ran,
            used: self.proposed.len(),
            budget: self.budget,
            front: self.front,
            hypervolume: self.hypervolume(),
        };
        self.generation += 1;
        Ok(g)
    }

    /// Points on the front of everything measured, and whether `batch` added one.
    fn front_size(&self, batch: &[usize]) -> (usize, bool) {
        let ok: Vec<&Observed> = self
            .observed
            .iter()
            .filter(|o| o.objectives.is_some())
            .collect();
        let m = self.candidates.objectives.len();
        let cols: Vec<Vec<f64>> = (0..m)
            .map(|j| {
                ok.iter()
                    .map(|o| o.objectives.as_ref().unwrap()[j])
                    .collect()
            })
            .collect();
        let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let fronts = non_dominated_fronts(&refs);
        let last: HashSet<usize> = batch.iter().copied().collect();
        let on: Vec<usize> = ok
            .iter()
            .zip(&fronts)
            .filter(|(_, f)| **f == Some(0))
            .map(|(o, _)| o.point)
            .collect();
        (on.len(), on.iter().any(|p| last.contains(p)))
    }

    fn hypervolume(&self) -> f64 {
        let m = self.candidates.objectives.len();
        let ok: Vec<&Vec<f64>> = self
            .observed
            .iter()
            .filter_map(|o| o.objectives.as_ref())
            .collect();
        let basis: Vec<&Vec<f64>> = match &self.candidates.prior {
            Some(p) => p.iter().chain(ok.iter().copied()).collect(),
            None => ok.clone(),
        };
        if ok.is_empty() || m == 0 {
            return 0.0;
        }
        let scale = Scale::of(basis.iter().map(|f| f.as_slice()), m);
        let pts: Vec<Vec<f64>> = ok.iter().map(|f| scale.apply(f)).collect();
        hypervolume(&pts, &vec![1.1; m])
    }
}

/// How a search build went.
pub struct SearchReport {
    pub generations: Vec<Generation>,
    pub stop: Stop,
    pub strategy: Strategy,
    pub budget: usize,
    pub candidates: usize,
    /// The last generation's build (none when every proposal was in the cache already).
    pub last: Option<crate::session::BuildReport>,
}

/// Runs a search build: each generation's proposals built as a subset of the plan (going on
/// past failures: a configuration that fails is an observation), `said` hearing each
/// generation as it ends.
pub fn run<R, F>(
    req: &crate::session::BuildRequest,
    plan: &Plan<'_, '_>,
    note: &dyn Fn(&str),
    reporter: R,
    said: &dyn Fn(&Generation),
) -> crate::error::Result<SearchReport>
where
    R: Fn(tokio::sync::mpsc::UnboundedReceiver<bench_exec::Event>) -> F,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let mut s = Searcher::new(plan)
        .ok_or_else(|| crate::error::Error::Other("the sweep has no `search` block".into()))?;
    let mut report = SearchReport {
        generations: Vec::new(),
        stop: Stop::Exhausted,
        strategy: s.strategy(),
        budget: s.budget,
        candidates: s.candidates.nodes.len(),
        last: None,
    };
    loop {
        let batch = match s.next() {
            Ok(b) => b,
            Err(stop) => {
                report.stop = stop;
                if req.actions == bench_node::Actions::Real {
                    let cache = crate::paths::open_cache(&req.cache_dir)?;
                    if let Err(e) = crate::store::ingest_search_ranking(plan, &cache, &req.db) {
                        note(&format!(
                            "warning: the search's ranking was not stored: {e}"
                        ));
                    }
                }
                return Ok(report);
            }
        };
        let cache = crate::paths::open_cache(&req.cache_dir)?;
        let only = s.to_run(&cache, &batch);
        let ran = only.iter().filter(|x| **x).count();
        if ran > 0 {
            let r = crate::session::BuildRequest {
                only: Some(only),
                keep_going: true,
                ..req.clone()
            };
            let built = crate::session::run(&r, plan, note, &reporter)?;
            let status = built.summary.status;
            report.last = Some(built);
            if matches!(
                status,
                bench_exec::BuildStatus::Interrupted | bench_exec::BuildStatus::Preempted
            ) {
                report.stop = Stop::Unfinished;
                return Ok(report);
            }
        }
        let cache = crate::paths::open_cache(&req.cache_dir)?;
        match s.record(&cache, &batch, ran) {
            Ok(g) => {
                said(&g);
                report.generations.push(g);
            }
            Err(stop) => {
                report.stop = stop;
                return Ok(report);
            }
        }
    }
}

/// The generations of a search as the cache holds them (nothing built): what the report
/// plots. Stops at the first generation not fully measured.
pub fn replay(plan: &Plan<'_, '_>, cache: &dyn CacheBackend) -> Vec<Generation> {
    Searcher::new(plan).map_or_else(Vec::new, |mut s| s.replay(cache))
}

/// `bench build`'s run: a search when the sweep has a `search` block (and `grid` is off),
/// its generation lines and its last line said through `note`; else one build of the whole
/// plan. Returns the (last) build, and how a search ended. A search whose proposals were all
/// in the cache already builds nothing.
pub fn build_or_search<R, F>(
    req: &crate::session::BuildRequest,
    plan: &Plan<'_, '_>,
    grid: bool,
    note: &dyn Fn(&str),
    reporter: R,
) -> crate::error::Result<(Option<crate::session::BuildReport>, Option<Stop>)>
where
    R: Fn(tokio::sync::mpsc::UnboundedReceiver<bench_exec::Event>) -> F,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    if plan.resolved.sweep.search.is_none() || grid {
        return Ok((Some(crate::session::run(req, plan, note, reporter)?), None));
    }
    let line = |write: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut b = Vec::new();
        if write(&mut b).is_ok() {
            note(String::from_utf8_lossy(&b).trim_end());
        }
    };
    let said = |g: &Generation| line(&|b| crate::text::build::generation(g, b));
    let s = run(req, plan, note, reporter, &said)?;
    line(&|b| crate::text::build::search(&s, b));
    Ok((s.last, Some(s.stop)))
}
