//! From a parsed sweep to a plan: resolve names, expand the matrix, prune what cannot run
//! (with the reason), and build the keyed DAG.
//!
//! ```text
//! Sweep ──resolve──▶ Resolved ──expand──▶ Expansion (valid + pruned) ──dag──▶ Graph of keyed nodes
//! ```
//!
//! Everything here is pure apart from reading dataset files to hash their content.

pub mod contract;
pub mod dag;
pub mod estimate;
pub mod expand;
pub mod key;
pub mod output;
pub mod resolve;

use std::path::PathBuf;

use bench_engines::EnginePlugin;
use bench_sweep::{Diag, Diags, Source, Sweep, SweepError};

pub use dag::{Graph, Node, NodeKind, Subject};
pub use estimate::Estimate;
pub use expand::{Config, Expansion, Reason};
pub use key::{KEY_SCHEMA_VERSION, NodeKey};
pub use resolve::Resolved;

/// Where the planner looks for files the sweep names.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// The sweep file's directory: relative dataset and model paths start here.
    pub base_dir: Option<PathBuf>,
    /// Run every configuration on the simulated engine, in its engine's dialect; results
    /// are keyed and labelled apart from real ones.
    pub simulate: bool,
    /// Engine images as the Docker hosts hold them (`image` → `repo@sha256:…` or
    /// `sha256:…`), resolved by the caller: a new image under the same tag changes the
    /// setup node's key and so every bench node's.
    pub image_digests: std::collections::BTreeMap<String, String>,
    /// Models pinned by the caller, by model name: a hub revision resolved to the commit
    /// it names now, a local directory identified by the digest of its files. A model
    /// whose weights are fetched is keyed by its pin, never by a moving name or a path.
    pub model_pins: std::collections::BTreeMap<String, ModelPin>,
    /// Architecture facts read from a model's own files (a committed download), by model
    /// name: they replace the catalog's for memory fit (facts written in the sweep still
    /// win).
    pub model_facts: std::collections::BTreeMap<String, bench_catalog::ArchFacts>,
}

/// What exactly a model is (see [`PlanOptions::model_pins`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelPin {
    /// The commit a hub revision names.
    Commit(String),
    /// A local directory: the digest of its files' manifest, and where it is.
    Digest { digest: String, path: PathBuf },
}

/// A compiled sweep.
pub struct Plan<'s, 'r> {
    pub resolved: Resolved<'s, 'r>,
    pub expansion: Expansion,
    pub graph: Graph,
    /// Warnings of the planner (the parser's are the caller's).
    pub warnings: Vec<Diag>,
}

/// Compiles a parsed sweep into a plan, or returns every error found.
pub fn plan<'s, 'r>(
    sweep: &'s Sweep,
    source: &Source,
    registry: &'r [Box<dyn EnginePlugin>],
    opts: &PlanOptions,
) -> Result<Plan<'s, 'r>, SweepError> {
    let mut d = Diags::default();
    let t0 = std::time::Instant::now();
    let resolved = resolve::resolve(
        sweep,
        registry,
        opts.base_dir.as_deref(),
        opts.simulate,
        &opts.model_facts,
        &mut d,
    );
    let mut resolved = resolved;
    resolved.image_digests = opts.image_digests.clone();
    resolved.model_pins = opts.model_pins.clone();
    if d.has_errors() {
        return Err(fail(source, d));
    }
    let points = matrix_points(&resolved);
    if points > MAX_MATRIX_POINTS {
        d.push(
            Diag::error(
                "plan::matrix-too-large",
                sweep.matrix.span,
                format!("the matrix has {points} points; bench plans at most {MAX_MATRIX_POINTS}"),
            )
            .label("too many combinations")
            .help("split the sweep, or narrow it with fewer axis values or `exclude` rules"),
        );
        return Err(fail(source, d));
    }
    let t1 = std::time::Instant::now();
    let expansion = expand::expand(&resolved, &mut d);
    let mut expansion = expansion;
    expansion.facts_only_models = facts_only_models(&resolved, &expansion);
    let t2 = std::time::Instant::now();
    let graph = dag::Builder {
        r: &resolved,
        x: &expansion,
        g: Graph::default(),
    }
    .build();
    tracing::debug!(
        resolve_ms = (t1 - t0).as_secs_f64() * 1e3,
        expand_ms = (t2 - t1).as_secs_f64() * 1e3,
        dag_ms = t2.elapsed().as_secs_f64() * 1e3,
        configs = expansion.valid.len(),
        nodes = graph.node_count(),
        "planned"
    );
    let mut warnings = d.into_vec();
    source.attach(&mut warnings);
    Ok(Plan {
        resolved,
        expansion,
        graph,
        warnings,
    })
}

/// Models every configuration of which is simulated or served by an endpoint (and that
/// are not marked `fetch=#true`): their download needs no weights.
fn facts_only_models(r: &Resolved<'_, '_>, x: &Expansion) -> Vec<bool> {
    let mut used = vec![false; r.models.len()];
    for (i, m) in r.models.iter().enumerate() {
        if m.decl.fetch {
            // Counted as real: the weights are fetched.
            used[i] = true;
        }
    }
    let mut real = vec![false; r.models.len()];
    for c in &x.valid {
        used[c.model as usize] = true;
        if !r.simulated(c.engine, c.gpu) && !r.on_endpoints(c.gpu) {
            real[c.model as usize] = true;
        }
    }
    for (i, m) in r.models.iter().enumerate() {
        real[i] |= m.decl.fetch;
    }
    used.iter().zip(&real).map(|(u, r)| *u && !r).collect()
}

/// The largest cartesian product the planner expands (about 2 GB of configurations).
pub const MAX_MATRIX_POINTS: u128 = 50_000_000;

/// Points of the cartesian product, before rules.
fn matrix_points(r: &Resolved<'_, '_>) -> u128 {
    let args: u128 = (0..r.n_matrix_engines as u16)
        .map(|e| {
            r.arg_axes
                .iter()
                .filter(|a| a.engine.is_none_or(|x| x == e))
                .map(|a| a.n_matrix as u128)
                .product::<u128>()
        })
        .sum();
    [
        r.models.len(),
        r.quantization.n_matrix,
        r.dtype.n_matrix,
        r.kv_cache.n_matrix,
        r.gpu.n_matrix,
        r.gpus.n_matrix,
        r.batch_size.n_matrix,
        r.seq_len.n_matrix,
        r.workloads.len(),
    ]
    .iter()
    .map(|n| *n as u128)
    .product::<u128>()
        * args
}

/// Every error of a sweep that does not parse cleanly: the parser's, and the planner's on
/// the names the parser could read (an unknown engine is reported next to a negative batch
/// size, not after it is fixed). `e` is what the parser said.
pub fn all_errors(
    e: SweepError,
    source: &Source,
    registry: &[Box<dyn EnginePlugin>],
    opts: &PlanOptions,
) -> SweepError {
    let (Some(sweep), _) = bench_sweep::parse_lenient(source) else {
        return e;
    };
    let mut d = Diags::default();
    resolve::resolve(
        &sweep,
        registry,
        opts.base_dir.as_deref(),
        opts.simulate,
        &opts.model_facts,
        &mut d,
    );
    let mut more: Vec<Diag> = d
        .into_vec()
        .into_iter()
        // Names only: what a value in error left out of the sweep cannot cascade into them.
        .filter(|x| {
            x.is_error()
                && (x.code.starts_with("plan::unknown-")
                    || x.code.starts_with("plan::undefined-")
                    || x.code == "plan::duplicate-model"
                    || x.code == "plan::dataset")
        })
        .collect();
    source.attach(&mut more);
    let mut e = e;
    e.diags.extend(more);
    e.diags.sort_by_key(|x| x.span.offset());
    e
}

fn fail(source: &Source, d: Diags) -> SweepError {
    let mut diags = d.into_vec();
    source.attach(&mut diags);
    SweepError {
        file: source.name.clone(),
        diags,
    }
}

impl Plan<'_, '_> {
    /// The roofline's estimate of every valid configuration at every load point
    /// ([`estimate`]).
    pub fn estimates(&self) -> Vec<Estimate> {
        estimate::estimate(&self.resolved, &self.expansion)
    }

    /// Node count per kind, in DAG order.
    pub fn counts(&self) -> Vec<(NodeKind, usize)> {
        let mut c = [0usize; 6];
        for n in self.graph.node_weights() {
            c[n.kind as usize] += 1;
        }
        NodeKind::ALL.iter().map(|k| (*k, c[*k as usize])).collect()
    }

    /// Finds a node by full key, key prefix (at least 6 hex digits) or label.
    pub fn find(&self, what: &str) -> Vec<petgraph::graph::NodeIndex> {
        let what_l = what.to_ascii_lowercase();
        self.graph
            .node_indices()
            .filter(|i| {
                let n = &self.graph[*i];
                (what.len() >= 6 && n.key.hex().starts_with(&what_l))
                    || dag::label(&self.resolved, &self.expansion, &n.subject) == what
            })
            .collect()
    }
}
