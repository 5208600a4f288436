//! The DAG: download → setup → bench → validate → aggregate → optimize, one node per unit of
//! cached work, each with its key.

use std::collections::HashMap;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::expand::{Config, Expansion};
use crate::key::{KeyInput, NodeKey, node_key};
use crate::resolve::{NONE, Resolved};
use bench_sweep::{LoadPoint, ModelSource, Scalar, Stop};

/// The kinds of node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    Download,
    Setup,
    Bench,
    Validate,
    Aggregate,
    Optimize,
}

impl NodeKind {
    pub const ALL: [NodeKind; 6] = [
        NodeKind::Download,
        NodeKind::Setup,
        NodeKind::Bench,
        NodeKind::Validate,
        NodeKind::Aggregate,
        NodeKind::Optimize,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NodeKind::Download => "download",
            NodeKind::Setup => "setup",
            NodeKind::Bench => "bench",
            NodeKind::Validate => "validate",
            NodeKind::Aggregate => "aggregate",
            NodeKind::Optimize => "optimize",
        }
    }

    /// Bumped when what a kind computes changes; part of every key of the kind.
    pub fn version(self) -> u32 {
        1
    }
}

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
    /// Stable, readable identity: the same work in two versions of a sweep has the same
    /// label, whatever its key.
    pub label: String,
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

pub(crate) struct Builder<'a, 's, 'r> {
    pub r: &'a Resolved<'s, 'r>,
    pub x: &'a Expansion,
    pub g: Graph,
}

impl Builder<'_, '_, '_> {
    fn add(&mut self, kind: NodeKind, label: String, subject: Subject, inputs: &[NodeIndex], priority: i64, cost: f64) -> NodeIndex {
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
        let n = self.g.add_node(Node { kind, key, label, subject, priority, cost });
        for i in inputs {
            self.g.add_edge(*i, n, ());
        }
        n
    }

    pub fn build(mut self) -> Graph {
        let r = self.r;
        let x = self.x;
        let mut downloads: HashMap<u16, NodeIndex> = HashMap::new();
        let mut setups: HashMap<(u16, u16), NodeIndex> = HashMap::new();
        let mut aggregates: Vec<NodeIndex> = Vec::new();
        for (ci, c) in x.valid.iter().enumerate() {
            let model = &r.models[c.model as usize];
            let engine = &r.engines[c.engine as usize];
            let w = r.workloads[c.workload as usize].decl;
            let priority = model.decl.priority
                + engine.priority
                + w.priority
                + x.include_priority.get(&(ci as u32)).copied().unwrap_or(0);
            let cost = config_cost(r, c);
            let dl = match downloads.get(&c.model) {
                Some(n) => *n,
                None => {
                    let n = self.add(NodeKind::Download, format!("download/{}", model.decl.name.value), Subject::Download { model: c.model }, &[], priority, 0.0);
                    downloads.insert(c.model, n);
                    n
                }
            };
            let gpu = r.gpu.values[c.gpu as usize];
            let setup = match setups.get(&(c.engine, c.gpu)) {
                Some(n) => *n,
                None => {
                    let n = self.add(NodeKind::Setup, format!("setup/{}/{}", engine.name, gpu.name), Subject::Setup { engine: c.engine, gpu: c.gpu }, &[], priority, 0.0);
                    setups.insert((c.engine, c.gpu), n);
                    n
                }
            };
            for idx in [dl, setup] {
                let node = &mut self.g[idx];
                node.priority = node.priority.max(priority);
            }
            let base = config_label(r, x, c);
            for (li, load) in w.load.iter().enumerate() {
                let mut inputs = Vec::with_capacity(2 * w.repeats as usize);
                for rep in 0..w.repeats {
                    let l = format!("{base}/{}/r{rep}", load.value.label());
                    let b = self.add(NodeKind::Bench, format!("bench/{l}"), Subject::Bench { config: ci as u32, load: li as u16, repeat: rep }, &[dl, setup], priority, cost);
                    let v = self.add(NodeKind::Validate, format!("validate/{l}"), Subject::Validate { config: ci as u32, load: li as u16, repeat: rep }, &[b], priority, 0.0);
                    inputs.push(b);
                    inputs.push(v);
                }
                let a = self.add(NodeKind::Aggregate, format!("aggregate/{base}/{}", load.value.label()), Subject::Aggregate { config: ci as u32, load: li as u16 }, &inputs, priority, 0.0);
                aggregates.push(a);
            }
        }
        if !aggregates.is_empty() {
            self.add(NodeKind::Optimize, "optimize".into(), Subject::Optimize, &aggregates, 0, 0.0);
        }
        self.g
    }
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
    let params = r.models[c.model as usize].facts.map_or(1e9, |f| f.active_params);
    gpus * requests * tokens * params / (gpu.fp16_tflops * 1e12)
}

/// `model/engine/quantization/dtype/kv/gpuxN/bB/sS[/flag=value...]/workload`
pub fn config_label(r: &Resolved<'_, '_>, x: &Expansion, c: &Config) -> String {
    let mut s = format!(
        "{}/{}/{}/{}/{}/{}x{}/b{}/s{}",
        r.models[c.model as usize].decl.name.value,
        r.engines[c.engine as usize].name,
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
            s.push_str(&format!("/{}={}", a.flag.trim_start_matches('-'), a.values[*v as usize]));
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
        args.insert(flag.clone(), v.as_ref().map_or(Value::Bool(true), scalar_json));
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
    serde_json::to_value(l).unwrap_or(Value::Null)
}

/// A node's parameters: exactly what its key hashes (besides the kind, versions, the
/// fingerprint and the input keys). No labels, no paths of this machine, no secrets.
pub fn params(r: &Resolved<'_, '_>, x: &Expansion, s: &Subject) -> Value {
    match *s {
        Subject::Download { model } => {
            let m = &r.models[model as usize];
            match &m.decl.source {
                ModelSource::Hub { id, revision } => json!({
                    "source": "hub",
                    "id": id,
                    "revision": revision.as_deref().unwrap_or("main"),
                }),
                ModelSource::Local { path } => json!({ "source": "local", "path": path }),
            }
        }
        Subject::Setup { engine, gpu } => json!({
            "engine": r.engines[engine as usize].name,
            "image": r.engines[engine as usize].image,
            "gpu": r.gpu.values[gpu as usize].name,
        }),
        Subject::Bench { config, load, repeat } => {
            let c = &x.valid[config as usize];
            let e = &r.engines[c.engine as usize];
            let w = &r.workloads[c.workload as usize];
            let d = &w.decl;
            let mut dataset = serde_json::to_value(&d.dataset).unwrap_or(Value::Null);
            if let (Some(digest), Value::Object(m)) = (&w.dataset_digest, &mut dataset) {
                // The file's content, not its path, identifies a dataset.
                m.remove("path");
                m.insert("digest".into(), json!(digest));
            }
            let stop = match d.stop {
                Stop::Requests(n) => json!({ "requests": n }),
                Stop::DurationSecs(s) => json!({ "duration-secs": s }),
            };
            json!({
                "engine": e.name,
                "quantization": r.quantization.values[c.quantization as usize].name(),
                "dtype": r.dtype.values[c.dtype as usize].name(),
                "kv-cache": r.kv_cache.values[c.kv_cache as usize].name(),
                "gpu": r.gpu.values[c.gpu as usize].name,
                "gpus": r.gpus.values[c.gpus as usize],
                "batch-size": r.batch_size.values[c.batch_size as usize],
                "seq-len": r.seq_len.values[c.seq_len as usize],
                "engine-args": engine_args(r, x, c),
                "env": e.env,
                "workload": {
                    "dataset": dataset,
                    "api": d.api,
                    "load": load_json(&d.load[load as usize].value),
                    "stop": stop,
                    "warmup": d.warmup,
                    "seed": d.seed,
                },
                "repeat": repeat,
            })
        }
        Subject::Validate { .. } => serde_json::to_value(&r.sweep.validate).unwrap_or(Value::Null),
        Subject::Aggregate { config, .. } => {
            let c = &x.valid[config as usize];
            let gpu = r.gpu.values[c.gpu as usize];
            let w = r.workloads[c.workload as usize].decl;
            json!({
                "percentiles": r.sweep.aggregate.percentiles,
                "confidence": r.sweep.aggregate.confidence,
                "slo": w.slo,
                "price-per-gpu-hour": price(r, gpu.name),
                "gpus": r.gpus.values[c.gpus as usize],
            })
        }
        Subject::Optimize => {
            let o = &r.sweep.optimize;
            json!({
                "objectives": o.objectives.iter().map(|x| json!({"metric": x.metric.value, "direction": x.direction, "weight": x.weight})).collect::<Vec<_>>(),
                "constraints": o.constraints.iter().map(|x| json!({"metric": x.metric.value, "min": x.min, "max": x.max})).collect::<Vec<_>>(),
                "method": o.method,
                "normalization": o.normalization,
                "profile": o.profile.as_ref().map(|p| p.value.clone()),
                "top": o.top,
            })
        }
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

fn fingerprint(r: &Resolved<'_, '_>, x: &Expansion, s: &Subject) -> String {
    match *s {
        Subject::Setup { engine, .. } => {
            let e = &r.engines[engine as usize];
            e.plugin.fingerprint(&e.image)
        }
        Subject::Bench { config, .. } => {
            let e = &r.engines[x.valid[config as usize].engine as usize];
            e.plugin.fingerprint(&e.image)
        }
        _ => String::new(),
    }
}

