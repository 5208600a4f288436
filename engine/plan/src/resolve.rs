//! Resolution: names in the sweep to the things they mean (engine plugins, GPUs, catalog
//! architectures, dataset files), and rules to typed conditions over axis indices.

use std::collections::BTreeMap;
use std::path::Path;

use bench_catalog::{ArchFacts, CatalogModel, Dtype, GPUS, GpuSpec, KvCacheDtype, Quantization};
use bench_engines::EnginePlugin;
use bench_sweep::{
    ArchOverride, Diag, Diags, Model, ModelSource, RuleKind, RuntimeKind, Scalar, Spanned, Sweep,
    Workload, suggest,
};
use miette::SourceSpan;

/// An axis of the matrix, as rules and configurations index it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    Model,
    Engine,
    Quantization,
    Dtype,
    KvCache,
    Gpu,
    Gpus,
    BatchSize,
    SeqLen,
    Workload,
    /// The i-th engine-argument axis.
    Arg(u16),
}

/// "No value": an engine-argument axis that does not apply to a configuration's engine.
pub const NONE: u16 = u16::MAX;

/// What serves an engine's configurations: a plugin bench ships, or a command line the
/// sweep declares.
pub enum EngineImpl<'r> {
    Plugin(&'r dyn EnginePlugin),
    Command(Box<bench_engines::Command>),
}

impl<'r> std::ops::Deref for EngineImpl<'r> {
    type Target = dyn EnginePlugin + 'r;
    fn deref(&self) -> &Self::Target {
        match self {
            EngineImpl::Plugin(p) => *p,
            EngineImpl::Command(c) => c.as_ref(),
        }
    }
}

pub struct REngine<'r> {
    pub name: String,
    /// The name again, shared: what the reasons of the (many) configurations it refuses
    /// carry without an allocation each.
    pub shared_name: std::sync::Arc<str>,
    pub plugin: EngineImpl<'r>,
    pub image: String,
    /// Arguments from the sweep's `engine` block, in written order.
    pub args: Vec<(String, Option<Scalar>)>,
    pub env: BTreeMap<String, String>,
    pub secrets: Vec<String>,
    pub priority: i64,
    /// How long a started engine may take to become ready (`ready-timeout`), seconds.
    pub ready_timeout_secs: Option<f64>,
    /// `--gpu-memory-utilization` if the engine block sets it.
    pub memory_utilization: f64,
}

pub struct RModel<'s> {
    pub decl: &'s Model,
    pub facts: Option<ArchFacts>,
}

pub struct RWorkload<'s> {
    pub decl: &'s Workload,
    /// blake3 of the dataset file, for datasets read from a file.
    pub dataset_digest: Option<String>,
    /// Where the dataset file is on this machine (never keyed).
    pub dataset_path: Option<std::path::PathBuf>,
}

pub struct RArgAxis {
    pub flag: String,
    pub values: Vec<Scalar>,
    /// Number of values from the matrix (the rest come from `include` rules).
    pub n_matrix: usize,
    pub engine: Option<u16>,
}

#[derive(Clone, Debug)]
pub struct Cond {
    pub axis: Axis,
    pub idx: u16,
}

pub struct RRule {
    pub kind: RuleKind,
    pub conds: Vec<Cond>,
    pub priority: i64,
    pub span: SourceSpan,
    /// Set when a condition names a value that never occurs: the rule can match nothing.
    pub impossible: bool,
}

/// Matrix values with the values only `include` rules mention appended after them.
pub struct Tables<T> {
    pub values: Vec<T>,
    pub n_matrix: usize,
}

impl<T: PartialEq> Tables<T> {
    fn new(values: Vec<T>) -> Self {
        let n_matrix = values.len();
        Self { values, n_matrix }
    }

    /// Index of `v`, appending it (beyond the matrix) when `extend` is set.
    fn index(&mut self, v: T, extend: bool) -> Option<u16> {
        if let Some(i) = self.values.iter().position(|x| *x == v) {
            return Some(i as u16);
        }
        if !extend {
            return None;
        }
        self.values.push(v);
        Some((self.values.len() - 1) as u16)
    }
}

pub struct Resolved<'s, 'r> {
    pub sweep: &'s Sweep,
    pub models: Vec<RModel<'s>>,
    pub engines: Vec<REngine<'r>>,
    pub n_matrix_engines: usize,
    pub quantization: Tables<Quantization>,
    pub dtype: Tables<Dtype>,
    pub kv_cache: Tables<KvCacheDtype>,
    pub gpu: Tables<&'static GpuSpec>,
    pub gpus: Tables<u32>,
    pub batch_size: Tables<u32>,
    pub seq_len: Tables<u32>,
    pub workloads: Vec<RWorkload<'s>>,
    pub arg_axes: Vec<RArgAxis>,
    pub rules: Vec<RRule>,
    /// `--simulate`: every configuration runs on the simulated engine.
    pub simulate: bool,
    /// Digests of engine images on Docker hosts (see [`crate::PlanOptions`]).
    pub image_digests: BTreeMap<String, String>,
    /// Models pinned by the caller (see [`crate::PlanOptions`]).
    pub model_pins: BTreeMap<String, crate::ModelPin>,
}

impl Resolved<'_, '_> {
    /// Whether configurations of an engine on a GPU type run on the simulated engine: the
    /// `sim` engine itself, `--simulate`, or when every host providing the GPU is a
    /// `sim` host. Simulated results are keyed apart (see [`crate::dag::fingerprint`]).
    pub fn simulated(&self, engine: u16, gpu: u16) -> bool {
        self.simulate
            || self.engines[engine as usize].name == "sim"
            || self.every_host_is(gpu, RuntimeKind::Sim)
    }

    /// The hosts that provide a GPU type (theirs by name, or `auto`).
    pub fn hosts_of(&self, gpu: u16) -> impl Iterator<Item = &bench_sweep::ast::Host> {
        let name = self.gpu.values[gpu as usize].name;
        self.sweep
            .hosts
            .iter()
            .filter(move |h| h.gpu.value == "auto" || h.gpu.value.eq_ignore_ascii_case(name))
    }

    /// Whether the GPU type has hosts, all of them of one executor kind.
    fn every_host_is(&self, gpu: u16, kind: RuntimeKind) -> bool {
        let mut any = false;
        self.hosts_of(gpu).all(|h| {
            any = true;
            h.runtime == kind
        }) && any
    }

    /// Whether configurations on a GPU type run in containers: every host providing it is
    /// a `docker` host.
    pub fn in_containers(&self, gpu: u16) -> bool {
        !self.simulate && self.every_host_is(gpu, RuntimeKind::Docker)
    }

    /// Whether configurations on a GPU type go to already-running servers: every host
    /// providing it is an `endpoint` host. Nothing is downloaded or set up for them.
    pub fn on_endpoints(&self, gpu: u16) -> bool {
        !self.simulate && self.every_host_is(gpu, RuntimeKind::Endpoint)
    }

    /// The engine's name in labels: `vllm~sim` when a real engine is simulated.
    pub fn engine_label(&self, engine: u16, gpu: u16) -> std::borrow::Cow<'_, str> {
        let name = &self.engines[engine as usize].name;
        if name != "sim" && self.simulated(engine, gpu) {
            format!("{name}~sim").into()
        } else {
            name.as_str().into()
        }
    }
}

pub fn resolve<'s, 'r>(
    sweep: &'s Sweep,
    registry: &'r [Box<dyn EnginePlugin>],
    base_dir: Option<&Path>,
    simulate: bool,
    known_facts: &BTreeMap<String, ArchFacts>,
    d: &mut Diags,
) -> Resolved<'s, 'r> {
    let commands = command_engines(sweep, registry, d);
    let mut plugin_names: Vec<&str> = registry.iter().map(|p| p.name()).collect();
    plugin_names.extend(commands.iter().map(|c| c.name.as_str()));
    let find_plugin = |name: &Spanned<String>, d: &mut Diags| -> Option<EngineImpl<'r>> {
        if let Some(c) = commands.iter().find(|c| c.name == name.value) {
            return Some(EngineImpl::Command(Box::new(c.clone())));
        }
        match registry.iter().find(|p| p.name() == name.value) {
            Some(p) => Some(EngineImpl::Plugin(p.as_ref())),
            None => {
                d.push(
                    Diag::error(
                        "plan::unknown-engine",
                        name.span,
                        format!("unknown engine `{}`", name.value),
                    )
                    .label("no such engine")
                    .help(suggest(&name.value, &plugin_names, "engines")),
                );
                None
            }
        }
    };

    // Engine overrides must name a known engine (or declare one).
    for o in sweep.engines.iter().filter(|o| o.command.is_none()) {
        find_plugin(&o.name, d);
    }
    let mut engines: Vec<REngine<'r>> = Vec::new();
    for e in &sweep.matrix.engine {
        if let Some(p) = find_plugin(e, d) {
            engines.push(make_engine(sweep, &e.value, p));
        }
    }
    let n_matrix_engines = engines.len();

    let gpu_names: Vec<&str> = GPUS.iter().map(|g| g.name).collect();
    let find_gpu = |name: &Spanned<String>, d: &mut Diags| -> Option<&'static GpuSpec> {
        match GpuSpec::find(&name.value) {
            Some(g) => Some(g),
            None => {
                d.push(
                    Diag::error(
                        "plan::unknown-gpu",
                        name.span,
                        format!("unknown GPU `{}`", name.value),
                    )
                    .label("not in the GPU table")
                    .help(suggest(&name.value, &gpu_names, "GPUs")),
                );
                None
            }
        }
    };
    let gpu_values: Vec<&'static GpuSpec> = sweep
        .matrix
        .gpu
        .iter()
        .filter_map(|g| find_gpu(g, d))
        .collect();

    // Hosts: every GPU of the matrix needs a host that provides it.
    for h in &sweep.hosts {
        if h.gpu.value != "auto" {
            find_gpu(&h.gpu, d);
        }
    }
    // A GPU type is simulated or real, never both: results would mix under one key.
    for (i, h) in sweep.hosts.iter().enumerate() {
        if let Some(other) = sweep.hosts[..i].iter().find(|o| {
            o.gpu.value.eq_ignore_ascii_case(&h.gpu.value)
                && (o.runtime == RuntimeKind::Sim) != (h.runtime == RuntimeKind::Sim)
        }) {
            d.push(
                Diag::error(
                    "plan::mixed-sim-hosts",
                    h.span,
                    format!(
                        "hosts `{}` and `{}` both provide {}, one simulated and one not",
                        other.name.value, h.name.value, h.gpu.value
                    ),
                )
                .label("this host")
                .also(other.span, "the other")
                .help("simulated and real results are kept apart per GPU type: make both hosts runtime=\"sim\" or neither, or use `bench build --simulate`"),
            );
        }
    }
    let has_auto_host = sweep.hosts.iter().any(|h| h.gpu.value == "auto");
    if !sweep.hosts.is_empty() && !has_auto_host {
        for g in &sweep.matrix.gpu {
            if GpuSpec::find(&g.value).is_some()
                && !sweep
                    .hosts
                    .iter()
                    .any(|h| h.gpu.value.eq_ignore_ascii_case(&g.value))
            {
                let hosts = sweep
                    .hosts
                    .iter()
                    .map(|h| format!("{} ({})", h.name.value, h.gpu.value))
                    .collect::<Vec<_>>()
                    .join(", ");
                d.push(
                    Diag::error(
                        "plan::no-host",
                        g.span,
                        format!("no host provides {}", g.value),
                    )
                    .label("no host has this GPU")
                    .help(format!(
                        "add a host with gpu=\"{}\" to `hosts`, or remove the GPU (hosts: {hosts})",
                        g.value
                    )),
                );
            }
        }
    }

    let models = resolve_models(sweep, known_facts, d);
    let workloads = resolve_workloads(sweep, base_dir, d);

    let mut r = Resolved {
        sweep,
        models,
        engines,
        n_matrix_engines,
        quantization: Tables::new(or_default(&sweep.matrix.quantization, Quantization::Fp16)),
        dtype: Tables::new(or_default(&sweep.matrix.dtype, Dtype::Auto)),
        kv_cache: Tables::new(or_default(&sweep.matrix.kv_cache, KvCacheDtype::Auto)),
        gpu: Tables::new(gpu_values),
        gpus: Tables::new(or_default(&sweep.matrix.gpus, 1)),
        batch_size: Tables::new(or_default(&sweep.matrix.batch_size, 64)),
        seq_len: Tables::new(or_default(&sweep.matrix.seq_len, 4096)),
        workloads,
        arg_axes: Vec::new(),
        rules: Vec::new(),
        simulate,
        image_digests: BTreeMap::new(),
        model_pins: BTreeMap::new(),
    };

    for a in &sweep.matrix.args {
        let engine = match &a.engine {
            Some(e) => match r.engines.iter().position(|x| x.name == e.value) {
                Some(i) => Some(i as u16),
                None => {
                    d.push(
                        Diag::error(
                            "plan::unknown-engine",
                            e.span,
                            format!("engine `{}` is not in the matrix", e.value),
                        )
                        .label("not a matrix engine")
                        .help(suggest(
                            &e.value,
                            &r.engines
                                .iter()
                                .map(|x| x.name.as_str())
                                .collect::<Vec<_>>(),
                            "matrix engines",
                        )),
                    );
                    continue;
                }
            },
            None => None,
        };
        let values: Vec<Scalar> = a.values.iter().map(|v| v.value.clone()).collect();
        r.arg_axes.push(RArgAxis {
            flag: a.flag.value.clone(),
            n_matrix: values.len(),
            values,
            engine,
        });
    }

    for rule in &sweep.rules {
        if let Some(rr) = resolve_rule(&mut r, registry, &commands, rule, d) {
            r.rules.push(rr);
        }
    }
    check_command_images(&r, d);
    r
}

/// The engines the sweep declares by their command lines, checked: a name of their own,
/// a template that splits into words with known placeholders, a known dialect.
fn command_engines(
    sweep: &Sweep,
    registry: &[Box<dyn EnginePlugin>],
    d: &mut Diags,
) -> Vec<bench_engines::Command> {
    let mut out = Vec::new();
    for o in &sweep.engines {
        let Some(c) = &o.command else { continue };
        if registry.iter().any(|p| p.name() == o.name.value) {
            d.push(
                Diag::error(
                    "plan::command-shadows",
                    o.name.span,
                    format!("`{}` is an engine bench ships", o.name.value),
                )
                .label("a built-in engine's name")
                .help(format!(
                    "an engine declared by its command line needs a name of its own, e.g. \
                     engine \"{}-custom\" command=...",
                    o.name.value
                )),
            );
            continue;
        }
        // In error, the engine is still declared: its name in the matrix is not unknown.
        let words = match bench_engines::parse_template(&c.template.value) {
            Ok(w) => w,
            Err(e) => {
                let span = match c.text_offset {
                    Some(at) => SourceSpan::from(at + e.at.start..at + e.at.end),
                    None => c.template.span,
                };
                d.push(
                    Diag::error("plan::command", span, e.message)
                        .label("in the command")
                        .help(
                            "placeholders are filled per configuration, e.g. command=\"./serve \
                             --port {port} --max-batch {batch-size}\"",
                        ),
                );
                Vec::new()
            }
        };
        let api = c.api.as_ref().map_or("openai", |a| a.value.as_str());
        if !bench_engines::APIS.contains(&api) {
            let span = c.api.as_ref().map_or(c.template.span, |a| a.span);
            d.push(
                Diag::error("plan::unknown-api", span, format!("unknown API `{api}`"))
                    .label("not a dialect bench speaks")
                    .help(suggest(api, bench_engines::APIS, "APIs")),
            );
        }
        out.push(bench_engines::Command {
            name: o.name.value.clone(),
            words,
            api: api.to_string(),
            health: c
                .health
                .as_ref()
                .map_or_else(|| "/health".to_string(), |h| h.value.clone()),
            image: o.image.as_ref().map(|i| i.value.clone()),
        });
    }
    out
}

/// A command engine without an image cannot run where every host runs containers.
fn check_command_images(r: &Resolved<'_, '_>, d: &mut Diags) {
    for e in &r.engines {
        let EngineImpl::Command(c) = &e.plugin else {
            continue;
        };
        if c.image.is_some() {
            continue;
        }
        if let Some(g) = (0..r.gpu.values.len() as u16).find(|&g| r.in_containers(g)) {
            let span = r
                .sweep
                .engines
                .iter()
                .find(|o| o.name.value == e.name)
                .map_or(r.sweep.span, |o| o.name.span);
            d.push(
                Diag::error(
                    "plan::command-image",
                    span,
                    format!(
                        "engine `{}` has no image, and {} runs on Docker hosts only",
                        e.name, r.gpu.values[g as usize].name
                    ),
                )
                .label("declared by its command line, without image=")
                .help(format!(
                    "give it an image to run the command in (engine \"{}\" image=\"...\" \
                     command=...), or run it as a process on a host with runtime=\"process\"",
                    e.name
                )),
            );
        }
    }
}

/// The image an engine runs from: the sweep's `engine NAME image=...`, else the plugin's.
pub fn engine_image(sweep: &Sweep, name: &str, plugin: &(dyn EnginePlugin + '_)) -> String {
    sweep
        .engines
        .iter()
        .find(|o| o.name.value == name)
        .and_then(|o| o.image.as_ref().map(|i| i.value.clone()))
        .unwrap_or_else(|| plugin.default_image().to_string())
}

fn make_engine<'r>(sweep: &Sweep, name: &str, plugin: EngineImpl<'r>) -> REngine<'r> {
    let o = sweep.engines.iter().find(|o| o.name.value == name);
    let args: Vec<(String, Option<Scalar>)> = o
        .map(|o| {
            o.args
                .iter()
                .map(|(f, v)| (f.value.clone(), v.as_ref().map(|v| v.value.clone())))
                .collect()
        })
        .unwrap_or_default();
    let memory_utilization = args
        .iter()
        .find(|(f, _)| f == "--gpu-memory-utilization")
        .and_then(|(_, v)| match v {
            Some(Scalar::Float(x)) => Some(*x),
            Some(Scalar::Str(s)) => s.parse().ok(),
            _ => None,
        })
        .filter(|x| *x > 0.0 && *x <= 1.0)
        .unwrap_or(bench_catalog::memory::DEFAULT_UTILIZATION);
    REngine {
        name: name.to_string(),
        shared_name: name.into(),
        image: engine_image(sweep, name, &*plugin),
        plugin,
        ready_timeout_secs: o.and_then(|o| o.ready_timeout_secs),
        args,
        env: o
            .map(|o| {
                o.env
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.value.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        secrets: o
            .map(|o| o.secrets.iter().map(|s| s.value.clone()).collect())
            .unwrap_or_default(),
        priority: o.map_or(0, |o| o.priority),
        memory_utilization,
    }
}

fn or_default<T: Clone>(v: &[Spanned<T>], default: T) -> Vec<T> {
    if v.is_empty() {
        vec![default]
    } else {
        v.iter().map(|s| s.value.clone()).collect()
    }
}

fn resolve_models<'s>(
    sweep: &'s Sweep,
    known_facts: &BTreeMap<String, ArchFacts>,
    d: &mut Diags,
) -> Vec<RModel<'s>> {
    let catalog_names: Vec<&str> = bench_catalog::MODELS.iter().map(|m| m.name).collect();
    let mut out: Vec<RModel<'s>> = Vec::new();
    for m in &sweep.models {
        if let Some(prev) = out.iter().find(|p| p.decl.source == m.source) {
            d.push(
                Diag::error(
                    "plan::duplicate-model",
                    m.name.span,
                    "two models name the same weights",
                )
                .label(format!("same as `{}`", prev.decl.name.value))
                .also(prev.decl.name.span, "first one")
                .help("one model is measured once; remove the second"),
            );
            continue;
        }
        let base = match (&m.arch, known_facts.get(&m.name.value)) {
            // Read from the checkpoint's own files: better than any catalog entry.
            (_, Some(f)) => Some(*f),
            (Some(a), None) => match CatalogModel::find(&a.value) {
                Some(c) => Some(c.facts),
                None => {
                    d.push(
                        Diag::error(
                            "plan::unknown-arch",
                            a.span,
                            format!("`{}` is not in the architecture catalog", a.value),
                        )
                        .label("unknown architecture")
                        .help(suggest(
                            &a.value,
                            &catalog_names,
                            "catalog entries",
                        )),
                    );
                    continue;
                }
            },
            (None, None) => match &m.source {
                ModelSource::Hub { id, .. } => CatalogModel::find(id).map(|c| c.facts),
                ModelSource::Local { .. } => None,
            },
        };
        let facts = merge_facts(base, &m.facts, m, d);
        if facts.is_none() {
            d.push(
                Diag::warning(
                    "plan::no-facts",
                    m.name.span,
                    format!("no architecture facts for `{}`: memory fit and tensor-parallel splits are not checked", m.name.value),
                )
                .label("unknown architecture")
                .help("name a catalog entry with arch=\"...\" or give `facts params=... layers=... hidden=... heads=... kv-heads=... head-dim=... vocab=...`"),
            );
        }
        out.push(RModel { decl: m, facts });
    }
    out
}

fn merge_facts(
    base: Option<ArchFacts>,
    o: &ArchOverride,
    m: &Model,
    d: &mut Diags,
) -> Option<ArchFacts> {
    if o.is_empty() {
        return base;
    }
    let b = base.as_ref();
    let pick_u = |v: Option<u32>, f: fn(&ArchFacts) -> u32| v.or_else(|| b.map(f));
    let params = o.params.or_else(|| b.map(|b| b.params));
    let layers = pick_u(o.layers, |b| b.layers);
    let hidden = pick_u(o.hidden, |b| b.hidden);
    let heads = pick_u(o.heads, |b| b.heads);
    let kv_heads = pick_u(o.kv_heads, |b| b.kv_heads).or(heads);
    let head_dim = pick_u(o.head_dim, |b| b.head_dim).or_else(|| match (hidden, heads) {
        (Some(h), Some(n)) if n > 0 => Some(h / n),
        _ => None,
    });
    let vocab = pick_u(o.vocab, |b| b.vocab);
    let span = o.span.unwrap_or(m.name.span);
    let missing: Vec<&str> = [
        ("params", params.is_none()),
        ("layers", layers.is_none()),
        ("hidden", hidden.is_none()),
        ("heads", heads.is_none()),
        ("vocab", vocab.is_none()),
    ]
    .into_iter()
    .filter_map(|(n, miss)| miss.then_some(n))
    .collect();
    if !missing.is_empty() {
        d.push(
            Diag::error("plan::incomplete-facts", span, format!("facts for `{}` lack {}", m.name.value, missing.join(", ")))
                .label("incomplete")
                .help("give every fact, or name a catalog entry with arch=\"...\" and override only what differs"),
        );
        return None;
    }
    let (params, layers, hidden, heads, kv_heads, head_dim, vocab) = (
        params?, layers?, hidden?, heads?, kv_heads?, head_dim?, vocab?,
    );
    if kv_heads > heads || heads % kv_heads != 0 {
        d.push(
            Diag::error(
                "plan::facts",
                span,
                format!("{heads} attention heads cannot share {kv_heads} KV heads evenly"),
            )
            .label("inconsistent heads"),
        );
        return None;
    }
    let active = o
        .active_params
        .or_else(|| b.map(|b| b.active_params))
        .unwrap_or(params)
        .min(params);
    Some(ArchFacts {
        params,
        active_params: active,
        layers,
        hidden,
        heads,
        kv_heads,
        head_dim,
        vocab,
        max_context: pick_u(o.max_context, |b| b.max_context).unwrap_or(u32::MAX),
    })
}

fn resolve_workloads<'s>(
    sweep: &'s Sweep,
    base_dir: Option<&Path>,
    d: &mut Diags,
) -> Vec<RWorkload<'s>> {
    sweep
        .workloads
        .iter()
        .map(|w| {
            let dataset_digest = w.dataset.path().and_then(|p| {
                let path = match base_dir {
                    Some(b) => b.join(p),
                    None => Path::new(p).to_path_buf(),
                };
                match std::fs::read(&path) {
                    Ok(bytes) => Some(blake3::hash(&bytes).to_hex().to_string()),
                    Err(e) => {
                        d.push(
                            Diag::error(
                                "plan::dataset",
                                w.name.span,
                                format!(
                                    "cannot read the dataset of workload `{}`: {}: {e}",
                                    w.name.value,
                                    path.display()
                                ),
                            )
                            .label("dataset file missing")
                            .help("paths are relative to the sweep file"),
                        );
                        None
                    }
                }
            });
            let dataset_path = w.dataset.path().map(|p| {
                let path = match base_dir {
                    Some(b) => b.join(p),
                    None => Path::new(p).to_path_buf(),
                };
                std::fs::canonicalize(&path).unwrap_or(path)
            });
            RWorkload {
                decl: w,
                dataset_digest,
                dataset_path,
            }
        })
        .collect()
}

fn resolve_rule<'r>(
    r: &mut Resolved<'_, 'r>,
    registry: &'r [Box<dyn EnginePlugin>],
    commands: &[bench_engines::Command],
    rule: &bench_sweep::Rule,
    d: &mut Diags,
) -> Option<RRule> {
    let include = rule.kind == RuleKind::Include;
    let mut conds = Vec::new();
    let mut impossible = false;
    let mut ok = true;
    let mut engine_cond: Option<u16> = None;
    for (key, val) in &rule.conditions {
        let bad_type = |d: &mut Diags, expected: &str| {
            d.push(
                Diag::error(
                    "plan::rule-type",
                    val.span,
                    format!("`{}` expects {expected}, found {}", key.value, val.value),
                )
                .label(format!("not {expected}")),
            );
        };
        let as_str = |d: &mut Diags| match &val.value {
            Scalar::Str(s) => Some(s.clone()),
            _ => {
                bad_type(d, "a string");
                None
            }
        };
        let as_u32 = |d: &mut Diags| match &val.value {
            Scalar::Int(i) if *i >= 1 && *i <= u32::MAX as i64 => Some(*i as u32),
            _ => {
                bad_type(d, "a positive integer");
                None
            }
        };
        let unknown = |d: &mut Diags, what: &str, allowed: &[&str], got: &str| {
            d.push(
                Diag::error(
                    "plan::unknown-value",
                    val.span,
                    format!("unknown {what} `{got}`"),
                )
                .label(format!("no such {what}"))
                .help(suggest(got, allowed, &format!("{what}s"))),
            );
        };
        let (axis, idx): (Axis, Option<u16>) = match key.value.as_str() {
            "model" => {
                let Some(s) = as_str(d) else {
                    ok = false;
                    continue;
                };
                match r.models.iter().position(|m| m.decl.name.value == s) {
                    Some(i) => (Axis::Model, Some(i as u16)),
                    None => {
                        let names: Vec<&str> = r
                            .models
                            .iter()
                            .map(|m| m.decl.name.value.as_str())
                            .collect();
                        d.push(
                            Diag::error(
                                "plan::undefined-model",
                                val.span,
                                format!("no model is named `{s}`"),
                            )
                            .label("undefined model")
                            .help(suggest(&s, &names, "models")),
                        );
                        ok = false;
                        continue;
                    }
                }
            }
            "workload" => {
                let Some(s) = as_str(d) else {
                    ok = false;
                    continue;
                };
                match r.workloads.iter().position(|w| w.decl.name.value == s) {
                    Some(i) => (Axis::Workload, Some(i as u16)),
                    None => {
                        let names: Vec<&str> = r
                            .workloads
                            .iter()
                            .map(|w| w.decl.name.value.as_str())
                            .collect();
                        d.push(
                            Diag::error(
                                "plan::undefined-workload",
                                val.span,
                                format!("no workload is named `{s}`"),
                            )
                            .label("undefined workload")
                            .help(suggest(&s, &names, "workloads")),
                        );
                        ok = false;
                        continue;
                    }
                }
            }
            "engine" => {
                let Some(s) = as_str(d) else {
                    ok = false;
                    continue;
                };
                let idx = match r.engines.iter().position(|e| e.name == s) {
                    Some(i) => Some(i as u16),
                    None => match commands
                        .iter()
                        .find(|c| c.name == s)
                        .map(|c| EngineImpl::Command(Box::new(c.clone())))
                        .or_else(|| {
                            registry
                                .iter()
                                .find(|p| p.name() == s)
                                .map(|p| EngineImpl::Plugin(p.as_ref()))
                        }) {
                        Some(p) if include => {
                            let e = make_engine(r.sweep, &s, p);
                            r.engines.push(e);
                            Some((r.engines.len() - 1) as u16)
                        }
                        Some(_) => None,
                        None => {
                            let mut names: Vec<&str> = registry.iter().map(|p| p.name()).collect();
                            names.extend(commands.iter().map(|c| c.name.as_str()));
                            unknown(d, "engine", &names, &s);
                            ok = false;
                            continue;
                        }
                    },
                };
                engine_cond = idx;
                (Axis::Engine, idx)
            }
            "quantization" => {
                let Some(s) = as_str(d) else {
                    ok = false;
                    continue;
                };
                let Some(q) = Quantization::parse(&s) else {
                    unknown(
                        d,
                        "quantization",
                        &Quantization::ALL.map(Quantization::name),
                        &s,
                    );
                    ok = false;
                    continue;
                };
                (Axis::Quantization, r.quantization.index(q, include))
            }
            "dtype" => {
                let Some(s) = as_str(d) else {
                    ok = false;
                    continue;
                };
                let Some(q) = Dtype::parse(&s) else {
                    unknown(d, "dtype", &Dtype::ALL.map(Dtype::name), &s);
                    ok = false;
                    continue;
                };
                (Axis::Dtype, r.dtype.index(q, include))
            }
            "kv-cache" => {
                let Some(s) = as_str(d) else {
                    ok = false;
                    continue;
                };
                let Some(q) = KvCacheDtype::parse(&s) else {
                    unknown(
                        d,
                        "kv-cache",
                        &KvCacheDtype::ALL.map(KvCacheDtype::name),
                        &s,
                    );
                    ok = false;
                    continue;
                };
                (Axis::KvCache, r.kv_cache.index(q, include))
            }
            "gpu" => {
                let Some(s) = as_str(d) else {
                    ok = false;
                    continue;
                };
                let Some(g) = GpuSpec::find(&s) else {
                    unknown(
                        d,
                        "GPU",
                        &GPUS.iter().map(|g| g.name).collect::<Vec<_>>(),
                        &s,
                    );
                    ok = false;
                    continue;
                };
                (Axis::Gpu, r.gpu.index(g, include))
            }
            "gpus" => {
                let Some(v) = as_u32(d) else {
                    ok = false;
                    continue;
                };
                (Axis::Gpus, r.gpus.index(v, include))
            }
            "batch-size" => {
                let Some(v) = as_u32(d) else {
                    ok = false;
                    continue;
                };
                (Axis::BatchSize, r.batch_size.index(v, include))
            }
            "seq-len" => {
                let Some(v) = as_u32(d) else {
                    ok = false;
                    continue;
                };
                (Axis::SeqLen, r.seq_len.index(v, include))
            }
            flag => {
                let candidates: Vec<usize> = r
                    .arg_axes
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| a.flag == flag)
                    .map(|(i, _)| i)
                    .collect();
                let pick = candidates
                    .iter()
                    .copied()
                    .find(|i| engine_cond.is_some_and(|e| r.arg_axes[*i].engine == Some(e)))
                    .or_else(|| candidates.first().copied());
                let Some(ai) = pick else {
                    let flags: Vec<&str> = r.arg_axes.iter().map(|a| a.flag.as_str()).collect();
                    d.push(
                        Diag::error(
                            "plan::unknown-arg-axis",
                            key.span,
                            format!("no `engine-arg {flag}` axis in the matrix"),
                        )
                        .label("not an axis")
                        .help(if flags.is_empty() {
                            "declare it in the matrix: engine-arg \"--flag\" VALUE ...".to_string()
                        } else {
                            suggest(flag, &flags, "engine-arg axes")
                        }),
                    );
                    ok = false;
                    continue;
                };
                let a = &mut r.arg_axes[ai];
                let idx = match a.values.iter().position(|v| *v == val.value) {
                    Some(i) => Some(i as u16),
                    None if include => {
                        a.values.push(val.value.clone());
                        Some((a.values.len() - 1) as u16)
                    }
                    None => None,
                };
                (Axis::Arg(ai as u16), idx)
            }
        };
        match idx {
            Some(i) => conds.push(Cond { axis, idx: i }),
            None => impossible = true,
        }
    }
    if !ok {
        return None;
    }
    Some(RRule {
        kind: rule.kind,
        conds,
        priority: rule.priority,
        span: rule.span,
        impossible,
    })
}
