//! Matrix expansion: the cartesian product of the axes, `exclude` and `include` rules, and
//! pruning of configurations that cannot run — each with its reason.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use bench_catalog::memory::{MemoryEstimate, MemoryInput, estimate_memory};
use bench_engines::ServingPoint;
use bench_sweep::{Diag, Diags, RuleKind};
use serde::Serialize;

use crate::resolve::{Axis, Cond, NONE, Resolved};

/// One point of the matrix: indices into the resolved axis tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    pub model: u16,
    pub engine: u16,
    pub quantization: u16,
    pub dtype: u16,
    pub kv_cache: u16,
    pub gpu: u16,
    pub gpus: u16,
    pub batch_size: u16,
    pub seq_len: u16,
    pub workload: u16,
    /// Index into [`Expansion::arg_combos`].
    pub args: u32,
}

/// Why a configuration cannot run.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    /// A format the GPU has no kernels for.
    Hardware {
        axis: &'static str,
        value: &'static str,
        needs: u32,
        gpu: &'static str,
        has: u32,
    },
    /// The engine plugin refuses the configuration.
    Engine {
        engine: std::sync::Arc<str>,
        why: Cow<'static, str>,
    },
    /// Attention heads do not split evenly over the GPUs.
    TensorParallel { heads: u32, gpus: u32 },
    /// No host of the sweep has this many GPUs of this type.
    NoHost { gpu: &'static str, gpus: u32 },
    /// A request of the workload is longer than the configured sequence length.
    WorkloadTooLong { need: u32, seq_len: u32 },
    /// The sequence length exceeds what the model was trained for.
    ModelContext { seq_len: u32, max: u32 },
    /// The estimate says it does not fit in GPU memory.
    Memory(MemoryEstimate),
}

impl Reason {
    /// A short class for grouping: reasons of one class differ only in their numbers.
    pub fn class(&self) -> String {
        match self {
            Reason::Hardware {
                axis,
                value,
                needs,
                gpu,
                has,
            } => format!(
                "{axis} {value} needs compute capability {}.{} ({gpu} has {}.{})",
                needs / 10,
                needs % 10,
                has / 10,
                has % 10
            ),
            Reason::Engine { engine, why } => format!("{engine}: {why}"),
            Reason::TensorParallel { .. } => {
                "attention heads do not split evenly over the GPUs".into()
            }
            Reason::NoHost { gpu, gpus } => format!("no host has {gpus} × {gpu}"),
            Reason::WorkloadTooLong { .. } => "requests of the workload exceed seq-len".into(),
            Reason::ModelContext { .. } => "seq-len exceeds the model's context".into(),
            Reason::Memory(_) => "does not fit in GPU memory".into(),
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Hardware { .. } => "hardware",
            Reason::Engine { .. } => "engine",
            Reason::TensorParallel { .. } => "tensor-parallel",
            Reason::NoHost { .. } => "no-host",
            Reason::WorkloadTooLong { .. } => "workload-too-long",
            Reason::ModelContext { .. } => "model-context",
            Reason::Memory(_) => "memory",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::TensorParallel { heads, gpus } => {
                write!(f, "{heads} attention heads do not split over {gpus} GPUs")
            }
            Reason::WorkloadTooLong { need, seq_len } => {
                write!(
                    f,
                    "requests of the workload need up to {need} tokens, seq-len is {seq_len}"
                )
            }
            Reason::ModelContext { seq_len, max } => {
                write!(f, "seq-len {seq_len} exceeds the model's context of {max}")
            }
            Reason::Memory(m) => f.write_str(&m.explain()),
            other => f.write_str(&other.class()),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("code", self.code())?;
        m.serialize_entry("class", &self.class())?;
        m.serialize_entry("detail", &self.to_string())?;
        m.end()
    }
}

/// The result of expanding the matrix.
pub struct Expansion {
    /// Configurations that will run, in expansion order.
    pub valid: Vec<Config>,
    /// Priority added by the `include` rule that brought a configuration in, by index in
    /// `valid`, when non-zero.
    pub include_priority: HashMap<u32, i64>,
    /// Configurations removed because they cannot run.
    pub pruned: Vec<(Config, Reason)>,
    /// Points of the matrix removed by `exclude` rules.
    pub excluded: usize,
    /// Points of the matrix (the full cartesian product).
    pub matrix_points: usize,
    /// Points added by `include` rules beyond the matrix.
    pub included: usize,
    /// Engine-argument value indices per combination (one entry per argument axis; [`NONE`]
    /// where the axis does not apply).
    pub arg_combos: Vec<Vec<u16>>,
    /// By model: every configuration is simulated, so its download records facts only.
    pub facts_only_models: Vec<bool>,
}

impl Expansion {
    /// Every configuration considered (valid or pruned).
    pub fn considered(&self) -> usize {
        self.valid.len() + self.pruned.len()
    }
}

struct Combos {
    list: Vec<Vec<u16>>,
    index: HashMap<Vec<u16>, u32>,
}

impl Combos {
    fn intern(&mut self, c: Vec<u16>) -> u32 {
        if let Some(i) = self.index.get(&c) {
            return *i;
        }
        let i = self.list.len() as u32;
        self.index.insert(c.clone(), i);
        self.list.push(c);
        i
    }
}

/// The argument combinations for an engine: the product of the argument axes that apply to
/// it, where `fixed` pins some axes to one value.
fn combos_for(
    r: &Resolved<'_, '_>,
    engine: u16,
    fixed: &[(u16, u16)],
    combos: &mut Combos,
) -> Vec<u32> {
    let mut partial: Vec<Vec<u16>> = vec![Vec::with_capacity(r.arg_axes.len())];
    for (ai, a) in r.arg_axes.iter().enumerate() {
        let applies = a.engine.is_none_or(|e| e == engine);
        let choices: Vec<u16> = if !applies {
            vec![NONE]
        } else if let Some((_, v)) = fixed.iter().find(|(x, _)| *x as usize == ai) {
            vec![*v]
        } else {
            (0..a.n_matrix as u16).collect()
        };
        partial = partial
            .into_iter()
            .flat_map(|p| {
                choices.iter().map(move |c| {
                    let mut q = p.clone();
                    q.push(*c);
                    q
                })
            })
            .collect();
    }
    partial.into_iter().map(|c| combos.intern(c)).collect()
}

fn axis_value(c: &Config, axis: Axis, combos: &[Vec<u16>]) -> u16 {
    match axis {
        Axis::Model => c.model,
        Axis::Engine => c.engine,
        Axis::Quantization => c.quantization,
        Axis::Dtype => c.dtype,
        Axis::KvCache => c.kv_cache,
        Axis::Gpu => c.gpu,
        Axis::Gpus => c.gpus,
        Axis::BatchSize => c.batch_size,
        Axis::SeqLen => c.seq_len,
        Axis::Workload => c.workload,
        Axis::Arg(a) => combos[c.args as usize][a as usize],
    }
}

/// Expands the matrix. Warnings (rules that match nothing) go to `d`.
pub fn expand(r: &Resolved<'_, '_>, d: &mut Diags) -> Expansion {
    let mut combos = Combos {
        list: Vec::new(),
        index: HashMap::new(),
    };
    let excludes: Vec<usize> = r
        .rules
        .iter()
        .enumerate()
        .filter(|(_, x)| x.kind == RuleKind::Exclude && !x.impossible)
        .map(|(i, _)| i)
        .collect();
    let mut matches = vec![0usize; r.rules.len()];
    let mut out = Expansion {
        valid: Vec::new(),
        include_priority: HashMap::new(),
        pruned: Vec::new(),
        excluded: 0,
        matrix_points: 0,
        included: 0,
        arg_combos: Vec::new(),
        facts_only_models: Vec::new(),
    };
    let excluded_by = |c: &Config, list: &[Vec<u16>], ri: usize| {
        r.rules[ri]
            .conds
            .iter()
            .all(|k| axis_value(c, k.axis, list) == k.idx)
    };
    product(r, &[], &mut combos, |c, list| {
        out.matrix_points += 1;
        let mut excluded = false;
        for &ri in &excludes {
            if excluded_by(&c, list, ri) {
                matches[ri] += 1;
                excluded = true;
            }
        }
        if excluded {
            out.excluded += 1;
            return;
        }
        match check(r, &c) {
            Ok(()) => out.valid.push(c),
            Err(why) => out.pruned.push((c, why)),
        }
    });

    // Includes: partial points, the unnamed axes ranging over the matrix; they win over
    // excludes, and add each point once.
    let mut seen: HashSet<Config> = HashSet::new();
    for (ri, rule) in r.rules.iter().enumerate() {
        if rule.kind != RuleKind::Include {
            continue;
        }
        let mut added = 0usize;
        product(r, &rule.conds, &mut combos, |c, list| {
            let in_matrix = in_matrix(r, &c, list);
            let excluded = excludes.iter().any(|&x| excluded_by(&c, list, x));
            if (in_matrix && !excluded) || !seen.insert(c) {
                return;
            }
            added += 1;
            if in_matrix {
                out.excluded -= 1;
            } else {
                out.included += 1;
            }
            match check(r, &c) {
                Ok(()) => {
                    if rule.priority != 0 {
                        out.include_priority
                            .insert(out.valid.len() as u32, rule.priority);
                    }
                    out.valid.push(c);
                }
                Err(why) => out.pruned.push((c, why)),
            }
        });
        matches[ri] = added;
    }

    for (ri, rule) in r.rules.iter().enumerate() {
        if matches[ri] == 0 {
            let (code, msg) = match rule.kind {
                RuleKind::Exclude => (
                    "plan::exclude-matches-nothing",
                    "this `exclude` matches no configuration",
                ),
                RuleKind::Include => (
                    "plan::include-adds-nothing",
                    "this `include` adds no configuration",
                ),
            };
            d.push(
                Diag::warning(code, rule.span, msg)
                    .label("no effect")
                    .help("check its values against the matrix axes"),
            );
        }
    }
    out.arg_combos = combos.list;
    out
}

/// Calls `f` for every point where the axes named in `conds` take their value and the
/// others range over the matrix (all of it when `conds` is empty), with the argument
/// combinations that point may index.
fn product(
    r: &Resolved<'_, '_>,
    conds: &[Cond],
    combos: &mut Combos,
    mut f: impl FnMut(Config, &[Vec<u16>]),
) {
    let pin = |axis: Axis, len: usize| -> Vec<u16> {
        match conds.iter().find(|k| k.axis == axis) {
            Some(k) => vec![k.idx],
            None => (0..len as u16).collect(),
        }
    };
    let fixed_args: Vec<(u16, u16)> = conds
        .iter()
        .filter_map(|k| match k.axis {
            Axis::Arg(a) => Some((a, k.idx)),
            _ => None,
        })
        .collect();
    let (models, workloads) = (
        pin(Axis::Model, r.models.len()),
        pin(Axis::Workload, r.workloads.len()),
    );
    let (quantizations, dtypes) = (
        pin(Axis::Quantization, r.quantization.n_matrix),
        pin(Axis::Dtype, r.dtype.n_matrix),
    );
    let (kv_caches, gpu_types) = (
        pin(Axis::KvCache, r.kv_cache.n_matrix),
        pin(Axis::Gpu, r.gpu.n_matrix),
    );
    let (gpu_counts, batch_sizes) = (
        pin(Axis::Gpus, r.gpus.n_matrix),
        pin(Axis::BatchSize, r.batch_size.n_matrix),
    );
    let seq_lens = pin(Axis::SeqLen, r.seq_len.n_matrix);
    for e in pin(Axis::Engine, r.n_matrix_engines) {
        // An argument axis pinned by a rule must apply to the engine.
        if fixed_args
            .iter()
            .any(|(a, _)| r.arg_axes[*a as usize].engine.is_some_and(|x| x != e))
        {
            continue;
        }
        let engine_combos = combos_for(r, e, &fixed_args, combos);
        let list = &combos.list;
        for &model in &models {
            for &quantization in &quantizations {
                for &dtype in &dtypes {
                    for &kv_cache in &kv_caches {
                        for &gpu in &gpu_types {
                            for &gpus in &gpu_counts {
                                for &batch_size in &batch_sizes {
                                    for &seq_len in &seq_lens {
                                        for &workload in &workloads {
                                            for &args in &engine_combos {
                                                let c = Config {
                                                    model,
                                                    engine: e,
                                                    quantization,
                                                    dtype,
                                                    kv_cache,
                                                    gpu,
                                                    gpus,
                                                    batch_size,
                                                    seq_len,
                                                    workload,
                                                    args,
                                                };
                                                f(c, list);
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn in_matrix(r: &Resolved<'_, '_>, c: &Config, combos: &[Vec<u16>]) -> bool {
    (c.engine as usize) < r.n_matrix_engines
        && (c.quantization as usize) < r.quantization.n_matrix
        && (c.dtype as usize) < r.dtype.n_matrix
        && (c.kv_cache as usize) < r.kv_cache.n_matrix
        && (c.gpu as usize) < r.gpu.n_matrix
        && (c.gpus as usize) < r.gpus.n_matrix
        && (c.batch_size as usize) < r.batch_size.n_matrix
        && (c.seq_len as usize) < r.seq_len.n_matrix
        && combos[c.args as usize]
            .iter()
            .enumerate()
            .all(|(a, v)| *v == NONE || (*v as usize) < r.arg_axes[a].n_matrix)
}

/// A configuration as engine plugins see it.
pub fn serving_point<'a>(r: &'a Resolved<'_, '_>, c: &Config) -> ServingPoint<'a> {
    ServingPoint {
        quantization: r.quantization.values[c.quantization as usize],
        dtype: r.dtype.values[c.dtype as usize],
        kv_cache: r.kv_cache.values[c.kv_cache as usize],
        gpu: r.gpu.values[c.gpu as usize],
        gpus: r.gpus.values[c.gpus as usize],
        batch_size: r.batch_size.values[c.batch_size as usize],
        seq_len: r.seq_len.values[c.seq_len as usize],
        arch: r.models[c.model as usize].facts.as_ref(),
    }
}

/// Whether a configuration can run; the first reason it cannot.
pub fn check(r: &Resolved<'_, '_>, c: &Config) -> Result<(), Reason> {
    let q = r.quantization.values[c.quantization as usize];
    let dt = r.dtype.values[c.dtype as usize];
    let kv = r.kv_cache.values[c.kv_cache as usize];
    let gpu = r.gpu.values[c.gpu as usize];
    let gpus = r.gpus.values[c.gpus as usize];
    let batch = r.batch_size.values[c.batch_size as usize];
    let seq = r.seq_len.values[c.seq_len as usize];
    let cc = gpu.compute_capability;
    for (axis, name, needs) in [
        ("quantization", q.name(), q.min_compute_capability()),
        ("dtype", dt.name(), dt.min_compute_capability()),
        ("kv-cache", kv.name(), kv.min_compute_capability()),
    ] {
        if needs > cc {
            return Err(Reason::Hardware {
                axis,
                value: name,
                needs,
                gpu: gpu.name,
                has: cc,
            });
        }
    }
    let engine = &r.engines[c.engine as usize];
    let facts = r.models[c.model as usize].facts.as_ref();
    let point = serving_point(r, c);
    if let Err(why) = engine.plugin.check(&point) {
        return Err(Reason::Engine {
            engine: engine.shared_name.clone(),
            why,
        });
    }
    if let Some(f) = facts
        && f.heads % gpus != 0
    {
        return Err(Reason::TensorParallel {
            heads: f.heads,
            gpus,
        });
    }
    let hosts = &r.sweep.hosts;
    if !hosts.is_empty()
        && !hosts.iter().any(|h| {
            h.gpu.value == "auto" || (h.gpu.value.eq_ignore_ascii_case(gpu.name) && h.gpus >= gpus)
        })
    {
        return Err(Reason::NoHost {
            gpu: gpu.name,
            gpus,
        });
    }
    let w = &r.workloads[c.workload as usize];
    if let Some(need) = w.decl.dataset.max_tokens_per_request()
        && need > seq
    {
        return Err(Reason::WorkloadTooLong { need, seq_len: seq });
    }
    if let Some(f) = facts {
        if seq > f.max_context {
            return Err(Reason::ModelContext {
                seq_len: seq,
                max: f.max_context,
            });
        }
        let m = estimate_memory(&MemoryInput {
            arch: f,
            quantization: q,
            dtype: dt,
            kv_cache: kv,
            gpu,
            tp: gpus,
            batch,
            seq_len: seq,
            utilization: engine.memory_utilization,
        });
        if !m.fits() {
            return Err(Reason::Memory(m));
        }
    }
    Ok(())
}
