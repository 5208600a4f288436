//! The DAG: download → setup → bench → validate → aggregate → optimize, one node per unit of
//! cached work, each with its key.

use std::collections::HashMap;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use rayon::prelude::*;
use serde_json::{Map, Value, json};

use bench_node::params::{
    AggregateParams, BenchConfig, BenchParams, CommandSpec, DownloadParams, ModelSourceKind,
    OptimizeParams, Params, RunSpec, SetupParams,
};

use crate::contract;
use crate::expand::{Config, Expansion};
use crate::key::{KeyHasher, KeyInput, NodeKey, enc, encoded, node_key};
use crate::resolve::{EngineImpl, NONE, RWorkload, Resolved};
use bench_sweep::{LoadPoint, ModelSource, Scalar, Stop};

pub use bench_node::NodeKind;

/// What a node works on, as indices into the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    Download { model: u16 },
    Setup { engine: u16, gpu: u16 },
    Bench { config: u32, load: u16, repeat: u32 },
    Validate { config: u32, load: u16, repeat: u32 },
    Aggregate { config: u32, load: u16 },
    Optimize,
}

/// One unit of cached work.
#[derive(Clone, Debug)]
pub struct Node {
    pub kind: NodeKind,
    pub key: NodeKey,
    pub subject: Subject,
    /// Higher runs first.
    pub priority: i64,
    /// Relative estimate of GPU time, for cheapest-first ordering among equal priorities.
    pub cost: f64,
}

pub type Graph = DiGraph<Node, ()>;

/// Inputs of a node, in the order they were added.
pub fn inputs(g: &Graph, n: NodeIndex) -> Vec<NodeIndex> {
    let mut v: Vec<NodeIndex> = g.neighbors_directed(n, Direction::Incoming).collect();
    v.reverse();
    v
}

/// Stable, readable identity of a node: the same work in two versions of a sweep has the
/// same label, whatever its key. Computed on demand (a large plan has 10⁵–10⁶ nodes).
pub fn label(r: &Resolved<'_, '_>, x: &Expansion, s: &Subject) -> String {
    match *s {
        Subject::Download { model } => {
            format!("download/{}", r.models[model as usize].decl.name.value)
        }
        Subject::Setup { engine, gpu } => {
            format!(
                "setup/{}/{}",
                r.engine_label(engine, gpu),
                r.gpu.values[gpu as usize].name
            )
        }
        Subject::Bench {
            config,
            load,
            repeat,
        }
        | Subject::Validate {
            config,
            load,
            repeat,
        } => {
            let c = &x.valid[config as usize];
            let kind = if matches!(s, Subject::Bench { .. }) {
                "bench"
            } else {
                "validate"
            };
            let l = &r.workloads[c.workload as usize].decl.load[load as usize].value;
            format!("{kind}/{}/{}/r{repeat}", config_label(r, x, c), l.label())
        }
        Subject::Aggregate { config, load } => {
            let c = &x.valid[config as usize];
            let l = &r.workloads[c.workload as usize].decl.load[load as usize].value;
            format!("aggregate/{}/{}", config_label(r, x, c), l.label())
        }
        Subject::Optimize => "optimize".into(),
    }
}

pub(crate) struct Builder<'a, 's, 'r> {
    pub r: &'a Resolved<'s, 'r>,
    pub x: &'a Expansion,
    pub g: Graph,
}

/// Canonical bytes of values many nodes share, encoded once.
struct Shared {
    workload: Vec<Vec<u8>>,
    load: Vec<Vec<Vec<u8>>>,
    env: Vec<Vec<u8>>,
    fingerprint: Vec<String>,
    args: HashMap<(u16, u32), Vec<u8>>,
    aggregate: HashMap<(u16, u16, u16), Vec<u8>>,
}

impl Builder<'_, '_, '_> {
    fn add(
        &mut self,
        kind: NodeKind,
        subject: Subject,
        key: NodeKey,
        inputs: &[NodeIndex],
        priority: i64,
        cost: f64,
    ) -> NodeIndex {
        let n = self.g.add_node(Node {
            kind,
            key,
            subject,
            priority,
            cost,
        });
        for i in inputs {
            self.g.add_edge(*i, n, ());
        }
        n
    }

    /// The reference path: key from the JSON params. Used for the few shared nodes.
    fn add_slow(
        &mut self,
        kind: NodeKind,
        subject: Subject,
        inputs: &[NodeIndex],
        priority: i64,
    ) -> NodeIndex {
        let params = params(self.r, self.x, &subject);
        let fingerprint = fingerprint(self.r, self.x, &subject);
        let input_keys: Vec<NodeKey> = inputs.iter().map(|i| self.g[*i].key).collect();
        let key = node_key(&KeyInput {
            kind: kind.name(),
            kind_version: kind.version(),
            cache_version: self.r.sweep.cache_version,
            params: &params,
            fingerprint: &fingerprint,
            inputs: &input_keys,
        });
        self.add(kind, subject, key, inputs, priority, 0.0)
    }

    pub fn build(mut self) -> Graph {
        let r = self.r;
        let x = self.x;
        let cache = r.sweep.cache_version;
        let mut shared = Shared {
            workload: r
                .workloads
                .iter()
                .map(|w| encoded(&workload_json(w)))
                .collect(),
            load: r
                .workloads
                .iter()
                .map(|w| {
                    w.decl
                        .load
                        .iter()
                        .map(|l| encoded(&load_json(&l.value)))
                        .collect()
                })
                .collect(),
            env: r
                .engines
                .iter()
                .map(|e| encoded(&serde_json::to_value(&e.env).unwrap_or(Value::Null)))
                .collect(),
            fingerprint: r
                .engines
                .iter()
                .map(|e| e.plugin.fingerprint(&e.image))
                .collect(),
            args: HashMap::new(),
            aggregate: HashMap::new(),
        };
        let mut validate_prefix = KeyHasher::new(
            NodeKind::Validate.name(),
            NodeKind::Validate.version(),
            cache,
        );
        validate_prefix.put(&encoded(&validate_json(r)));

        // Shared nodes and shared encodings first (few, sequential)...
        let mut downloads: HashMap<u16, NodeIndex> = HashMap::new();
        let mut setups: HashMap<(u16, u16), NodeIndex> = HashMap::new();
        let mut upstream: Vec<(NodeIndex, NodeIndex)> = Vec::with_capacity(x.valid.len());
        let mut priorities: Vec<i64> = Vec::with_capacity(x.valid.len());
        for (ci, c) in x.valid.iter().enumerate() {
            let priority = r.models[c.model as usize].decl.priority
                + r.engines[c.engine as usize].priority
                + r.workloads[c.workload as usize].decl.priority
                + x.include_priority.get(&(ci as u32)).copied().unwrap_or(0);
            let dl = match downloads.get(&c.model) {
                Some(n) => *n,
                None => {
                    let n = self.add_slow(
                        NodeKind::Download,
                        Subject::Download { model: c.model },
                        &[],
                        priority,
                    );
                    downloads.insert(c.model, n);
                    n
                }
            };
            let setup = match setups.get(&(c.engine, c.gpu)) {
                Some(n) => *n,
                None => {
                    let n = self.add_slow(
                        NodeKind::Setup,
                        Subject::Setup {
                            engine: c.engine,
                            gpu: c.gpu,
                        },
                        &[],
                        priority,
                    );
                    setups.insert((c.engine, c.gpu), n);
                    n
                }
            };
            for idx in [dl, setup] {
                let node = &mut self.g[idx];
                node.priority = node.priority.max(priority);
            }
            upstream.push((dl, setup));
            priorities.push(priority);
            shared
                .args
                .entry((c.engine, c.args))
                .or_insert_with(|| encoded(&Value::Object(engine_args(r, x, c))));
            shared
                .aggregate
                .entry((c.workload, c.gpu, c.gpus))
                .or_insert_with(|| encoded(&aggregate_json(r, c)));
        }

        // ...then the keys of every configuration's nodes, in parallel...
        let g = &self.g;
        let keys: Vec<Vec<NodeKey>> = x
            .valid
            .par_iter()
            .zip(upstream.par_iter())
            .map(|(c, (dl, setup))| {
                config_keys(
                    r,
                    x,
                    c,
                    [g[*dl].key, g[*setup].key],
                    &shared,
                    &validate_prefix,
                )
            })
            .collect();

        // ...and the graph, in order.
        let mut aggregates: Vec<NodeIndex> = Vec::new();
        for (ci, c) in x.valid.iter().enumerate() {
            let (dl, setup) = upstream[ci];
            let priority = priorities[ci];
            let cost = config_cost(r, c);
            let w = r.workloads[c.workload as usize].decl;
            let mut k = keys[ci].iter().copied();
            for li in 0..w.load.len() {
                let mut ins = Vec::with_capacity(2 * w.repeats as usize);
                for rep in 0..w.repeats {
                    let (Some(bkey), Some(vkey)) = (k.next(), k.next()) else {
                        break;
                    };
                    let b = self.add(
                        NodeKind::Bench,
                        Subject::Bench {
                            config: ci as u32,
                            load: li as u16,
                            repeat: rep,
                        },
                        bkey,
                        &[dl, setup],
                        priority,
                        cost,
                    );
                    let v = self.add(
                        NodeKind::Validate,
                        Subject::Validate {
                            config: ci as u32,
                            load: li as u16,
                            repeat: rep,
                        },
                        vkey,
                        &[b],
                        priority,
                        0.0,
                    );
                    ins.push(b);
                    ins.push(v);
                }
                if let Some(akey) = k.next() {
                    let a = self.add(
                        NodeKind::Aggregate,
                        Subject::Aggregate {
                            config: ci as u32,
                            load: li as u16,
                        },
                        akey,
                        &ins,
                        priority,
                        0.0,
                    );
                    aggregates.push(a);
                }
            }
        }
        if !aggregates.is_empty() {
            self.add_slow(NodeKind::Optimize, Subject::Optimize, &aggregates, 0);
        }
        self.g
    }
}

/// The keys of one configuration's nodes, in the order the graph adds them: per load point,
/// (bench, validate) per repeat, then the aggregate.
fn config_keys(
    r: &Resolved<'_, '_>,
    x: &Expansion,
    c: &Config,
    upstream: [NodeKey; 2],
    shared: &Shared,
    validate_prefix: &KeyHasher,
) -> Vec<NodeKey> {
    let cache = r.sweep.cache_version;
    let w = r.workloads[c.workload as usize].decl;
    let mut bench_prefix = KeyHasher::new(NodeKind::Bench.name(), NodeKind::Bench.version(), cache);
    enc::object(&mut bench_prefix, 2);
    enc::key(&mut bench_prefix, "config");
    encode_config(&mut bench_prefix, r, x, c, shared);
    enc::key(&mut bench_prefix, "run");
    let mut agg_prefix = KeyHasher::new(
        NodeKind::Aggregate.name(),
        NodeKind::Aggregate.version(),
        cache,
    );
    if let Some(a) = shared.aggregate.get(&(c.workload, c.gpu, c.gpus)) {
        agg_prefix.put(a);
    }
    let sim_fp;
    let fp = if r.engines[c.engine as usize].name != "sim" && r.simulated(c.engine, c.gpu) {
        sim_fp = format!("sim:{}", shared.fingerprint[c.engine as usize]);
        &sim_fp
    } else if r.on_endpoints(c.gpu) {
        sim_fp = format!("endpoint:{}", shared.fingerprint[c.engine as usize]);
        &sim_fp
    } else {
        &shared.fingerprint[c.engine as usize]
    };
    let mut out = Vec::with_capacity(w.load.len() * (2 * w.repeats as usize + 1));
    for li in 0..w.load.len() {
        let first = out.len();
        for rep in 0..w.repeats {
            let mut h = bench_prefix.clone();
            enc::object(&mut h, 2);
            enc::key(&mut h, "load");
            h.put(&shared.load[c.workload as usize][li]);
            enc::key(&mut h, "repeat");
            enc::uint(&mut h, rep as u64);
            let bkey = h.finish(fp, &upstream);
            let vkey = validate_prefix.clone().finish("", &[bkey]);
            out.push(bkey);
            out.push(vkey);
        }
        let akey = agg_prefix.clone().finish("", &out[first..]);
        out.push(akey);
    }
    out
}

/// Writes a configuration's canonical params: [`bench_config`], byte for byte.
fn encode_config(
    h: &mut KeyHasher,
    r: &Resolved<'_, '_>,
    x: &Expansion,
    c: &Config,
    shared: &Shared,
) {
    let command = command_spec(r, c);
    enc::object(h, if command.is_some() { 12 } else { 11 });
    enc::key(h, "batch-size");
    enc::uint(h, r.batch_size.values[c.batch_size as usize] as u64);
    if let Some(cmd) = command {
        enc::key(h, "command");
        h.put(&encoded(&serde_json::to_value(cmd).unwrap_or(Value::Null)));
    }
    enc::key(h, "dtype");
    enc::str(h, r.dtype.values[c.dtype as usize].name());
    enc::key(h, "engine");
    enc::str(h, &r.engines[c.engine as usize].name);
    enc::key(h, "engine-args");
    match shared.args.get(&(c.engine, c.args)) {
        Some(a) => h.put(a),
        None => h.put(&encoded(&Value::Object(engine_args(r, x, c)))),
    }
    enc::key(h, "env");
    h.put(&shared.env[c.engine as usize]);
    enc::key(h, "gpu");
    enc::str(h, r.gpu.values[c.gpu as usize].name);
    enc::key(h, "gpus");
    enc::uint(h, r.gpus.values[c.gpus as usize] as u64);
    enc::key(h, "kv-cache");
    enc::str(h, r.kv_cache.values[c.kv_cache as usize].name());
    enc::key(h, "quantization");
    enc::str(h, r.quantization.values[c.quantization as usize].name());
    enc::key(h, "seq-len");
    enc::uint(h, r.seq_len.values[c.seq_len as usize] as u64);
    enc::key(h, "workload");
    h.put(&shared.workload[c.workload as usize]);
}

/// Relative GPU work of one bench run: GPUs × requests × tokens × active parameters / FLOP/s.
fn config_cost(r: &Resolved<'_, '_>, c: &Config) -> f64 {
    let w = r.workloads[c.workload as usize].decl;
    let gpu = r.gpu.values[c.gpu as usize];
    let gpus = r.gpus.values[c.gpus as usize] as f64;
    let requests = match w.stop {
        Stop::Requests(n) => n as f64,
        Stop::DurationSecs(s) => s,
    };
    let tokens = w.dataset.max_tokens_per_request().unwrap_or(1024) as f64;
    let params = r.models[c.model as usize]
        .facts
        .map_or(1e9, |f| f.active_params);
    gpus * requests * tokens * params / (gpu.fp16_tflops * 1e12)
}

/// `model/engine/quantization/dtype/kv/gpuxN/bB/sS[/flag=value...]/workload`
pub fn config_label(r: &Resolved<'_, '_>, x: &Expansion, c: &Config) -> String {
    let mut s = format!(
        "{}/{}/{}/{}/{}/{}x{}/b{}/s{}",
        r.models[c.model as usize].decl.name.value,
        r.engine_label(c.engine, c.gpu),
        r.quantization.values[c.quantization as usize].name(),
        r.dtype.values[c.dtype as usize].name(),
        r.kv_cache.values[c.kv_cache as usize].name(),
        r.gpu.values[c.gpu as usize].name,
        r.gpus.values[c.gpus as usize],
        r.batch_size.values[c.batch_size as usize],
        r.seq_len.values[c.seq_len as usize],
    );
    for (ai, v) in x.arg_combos[c.args as usize].iter().enumerate() {
        if *v != NONE {
            let a = &r.arg_axes[ai];
            s.push_str(&format!(
                "/{}={}",
                a.flag.trim_start_matches('-'),
                a.values[*v as usize]
            ));
        }
    }
    s.push('/');
    s.push_str(&r.workloads[c.workload as usize].decl.name.value);
    s
}

fn scalar_json(s: &Scalar) -> Value {
    match s {
        Scalar::Str(x) => json!(x),
        Scalar::Int(i) => json!(i),
        Scalar::Float(f) => json!(f),
        Scalar::Bool(b) => json!(b),
    }
}

/// The engine arguments of a configuration: the engine block's, then the matrix's (which
/// win on the same flag).
pub fn engine_args(r: &Resolved<'_, '_>, x: &Expansion, c: &Config) -> Map<String, Value> {
    let engine = &r.engines[c.engine as usize];
    let mut args = Map::new();
    for (flag, v) in &engine.args {
        args.insert(
            flag.clone(),
            v.as_ref().map_or(Value::Bool(true), scalar_json),
        );
    }
    for (ai, v) in x.arg_combos[c.args as usize].iter().enumerate() {
        if *v != NONE {
            let a = &r.arg_axes[ai];
            args.insert(a.flag.clone(), scalar_json(&a.values[*v as usize]));
        }
    }
    args
}

/// The configuration's axes as JSON (for output, not keys).
pub fn config_json(r: &Resolved<'_, '_>, x: &Expansion, c: &Config) -> Value {
    json!({
        "model": r.models[c.model as usize].decl.name.value,
        "engine": r.engines[c.engine as usize].name,
        "quantization": r.quantization.values[c.quantization as usize].name(),
        "dtype": r.dtype.values[c.dtype as usize].name(),
        "kv-cache": r.kv_cache.values[c.kv_cache as usize].name(),
        "gpu": r.gpu.values[c.gpu as usize].name,
        "gpus": r.gpus.values[c.gpus as usize],
        "batch-size": r.batch_size.values[c.batch_size as usize],
        "seq-len": r.seq_len.values[c.seq_len as usize],
        "engine-args": engine_args(r, x, c),
        "workload": r.workloads[c.workload as usize].decl.name.value,
    })
}

fn load_json(l: &LoadPoint) -> Value {
    serde_json::to_value(contract::load(l)).unwrap_or(Value::Null)
}

/// What a bench node runs, besides its load point and repeat.
pub fn bench_config(r: &Resolved<'_, '_>, x: &Expansion, c: &Config) -> BenchConfig {
    let e = &r.engines[c.engine as usize];
    BenchConfig {
        batch_size: r.batch_size.values[c.batch_size as usize],
        command: command_spec(r, c),
        dtype: r.dtype.values[c.dtype as usize].name().to_string(),
        engine: e.name.clone(),
        engine_args: engine_args(r, x, c),
        env: e.env.clone(),
        gpu: r.gpu.values[c.gpu as usize].name.to_string(),
        gpus: r.gpus.values[c.gpus as usize],
        kv_cache: r.kv_cache.values[c.kv_cache as usize].name().to_string(),
        quantization: r.quantization.values[c.quantization as usize]
            .name()
            .to_string(),
        seq_len: r.seq_len.values[c.seq_len as usize],
        workload: contract::workload(&r.workloads[c.workload as usize]),
    }
}

/// The command line of a configuration whose engine the sweep declares by one.
fn command_spec(r: &Resolved<'_, '_>, c: &Config) -> Option<CommandSpec> {
    match &r.engines[c.engine as usize].plugin {
        EngineImpl::Command(cmd) => Some(CommandSpec {
            argv: cmd.for_point(&crate::expand::serving_point(r, c)),
            api: cmd.api.clone(),
            health: cmd.health.clone(),
        }),
        EngineImpl::Plugin(_) => None,
    }
}

fn workload_json(w: &RWorkload<'_>) -> Value {
    serde_json::to_value(contract::workload(w)).unwrap_or(Value::Null)
}

fn validate_json(r: &Resolved<'_, '_>) -> Value {
    Params::Validate(contract::validate(&r.sweep.validate)).to_json()
}

fn aggregate_params(r: &Resolved<'_, '_>, c: &Config) -> AggregateParams {
    let gpu = r.gpu.values[c.gpu as usize];
    let w = r.workloads[c.workload as usize].decl;
    AggregateParams {
        percentiles: r.sweep.aggregate.percentiles.clone(),
        confidence: r.sweep.aggregate.confidence,
        slo: contract::slo(&w.slo),
        price_per_gpu_hour: price(r, gpu.name),
        gpus: r.gpus.values[c.gpus as usize],
    }
}

fn aggregate_json(r: &Resolved<'_, '_>, c: &Config) -> Value {
    Params::Aggregate(aggregate_params(r, c)).to_json()
}

/// A node's parameters as JSON: exactly what its key hashes (besides the kind, versions,
/// the fingerprint and the input keys).
pub fn params(r: &Resolved<'_, '_>, x: &Expansion, s: &Subject) -> Value {
    node_params(r, x, s).to_json()
}

/// A node's typed parameters. No labels, no paths of this machine, no secrets.
pub fn node_params(r: &Resolved<'_, '_>, x: &Expansion, s: &Subject) -> Params {
    match *s {
        Subject::Download { model } => {
            let m = &r.models[model as usize];
            let facts_only = x.facts_only_models.get(model as usize) == Some(&true);
            let pin = r.model_pins.get(&m.decl.name.value).filter(|_| !facts_only);
            let mut p = DownloadParams {
                source: ModelSourceKind::Hub,
                id: None,
                revision: None,
                path: None,
                digest: None,
                files: None,
                weights: true,
                facts: None,
            };
            // Weights: the exact commit, or the digest of a directory's files, and the
            // files fetched; never a moving name or a path of this machine.
            match (&m.decl.source, pin) {
                (ModelSource::Hub { id, .. }, Some(crate::ModelPin::Commit(c))) => {
                    p.id = Some(id.clone());
                    p.revision = Some(c.clone());
                    p.files = Some(model_files(m.decl));
                }
                (ModelSource::Local { .. }, Some(crate::ModelPin::Digest { digest, .. })) => {
                    p.source = ModelSourceKind::Local;
                    p.digest = Some(digest.clone());
                    p.files = Some(model_files(m.decl));
                }
                (ModelSource::Hub { id, revision }, _) => {
                    p.id = Some(id.clone());
                    p.revision = Some(revision.clone().unwrap_or_else(|| "main".into()));
                }
                (ModelSource::Local { path }, _) => {
                    p.source = ModelSourceKind::Local;
                    p.path = Some(path.clone());
                }
            }
            // Only simulated configurations use the model: no weights, and the facts that
            // drive the simulator are what the node produces, so they are keyed.
            if facts_only {
                p.weights = false;
                p.facts = m.facts;
            }
            Params::Download(p)
        }
        Subject::Setup { engine, gpu } => {
            let image = &r.engines[engine as usize].image;
            // In containers, the image measured is the one the hosts hold under the tag.
            let image_digest = r.in_containers(gpu).then(|| {
                r.image_digests
                    .get(image)
                    .map_or("unresolved", String::as_str)
                    .to_string()
            });
            Params::Setup(SetupParams {
                engine: r.engines[engine as usize].name.clone(),
                image: image.clone(),
                gpu: r.gpu.values[gpu as usize].name.to_string(),
                image_digest,
            })
        }
        Subject::Bench {
            config,
            load,
            repeat,
        } => {
            let c = &x.valid[config as usize];
            let w = r.workloads[c.workload as usize].decl;
            Params::Bench(BenchParams {
                config: bench_config(r, x, c),
                run: RunSpec {
                    load: contract::load(&w.load[load as usize].value),
                    repeat,
                },
            })
        }
        Subject::Validate { .. } => Params::Validate(contract::validate(&r.sweep.validate)),
        Subject::Aggregate { config, .. } => {
            Params::Aggregate(aggregate_params(r, &x.valid[config as usize]))
        }
        Subject::Optimize => {
            let o = &r.sweep.optimize;
            Params::Optimize(OptimizeParams {
                objectives: o.objectives.iter().map(contract::objective).collect(),
                constraints: o.constraints.iter().map(contract::constraint).collect(),
                method: contract::method(o.method),
                normalization: contract::normalization(o.normalization),
                profile: o.profile.as_ref().map(|p| p.value.clone()),
                top: o.top,
            })
        }
    }
}

/// The fingerprint that enters a node's key.
pub fn fingerprint(r: &Resolved<'_, '_>, x: &Expansion, s: &Subject) -> String {
    match *s {
        Subject::Setup { engine, gpu } => engine_fingerprint(r, engine, gpu),
        Subject::Bench { config, .. } => {
            let c = &x.valid[config as usize];
            engine_fingerprint(r, c.engine, c.gpu)
        }
        _ => String::new(),
    }
}

/// The file patterns a model's download fetches.
pub fn model_files(m: &bench_sweep::ast::Model) -> Vec<String> {
    match &m.files {
        Some(f) => f.iter().map(|s| s.value.clone()).collect(),
        None => bench_catalog::DEFAULT_MODEL_FILES
            .iter()
            .map(|s| s.to_string())
            .collect(),
    }
}

/// An engine's fingerprint, marked `sim:` when a real engine is simulated: simulated
/// results never share a key with real ones.
fn engine_fingerprint(r: &Resolved<'_, '_>, engine: u16, gpu: u16) -> String {
    let e = &r.engines[engine as usize];
    let fp = e.plugin.fingerprint(&e.image);
    if e.name != "sim" && r.simulated(engine, gpu) {
        format!("sim:{fp}")
    } else if r.on_endpoints(gpu) {
        format!("endpoint:{fp}")
    } else {
        fp
    }
}

/// The cheapest hourly price among the hosts that provide a GPU type.
pub fn price(r: &Resolved<'_, '_>, gpu: &str) -> Option<f64> {
    r.sweep
        .hosts
        .iter()
        .filter(|h| h.gpu.value.eq_ignore_ascii_case(gpu))
        .filter_map(|h| h.price_per_gpu_hour)
        .min_by(f64::total_cmp)
}
