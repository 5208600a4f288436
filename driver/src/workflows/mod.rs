//! A sweep's remaining work as objects for a Kubernetes cluster: an Argo `Workflow` (one DAG
//! task per node not yet committed, dependencies as in the plan) or plain Kubernetes `Job`s
//! (indexed Jobs per GPU shape of the bench nodes). Every pod runs
//! `bench build SWEEP --node KEY` in the bench image against the shared cache, a volume
//! mounted at the cache's own path: the pod recompiles the sweep (shipped inside the
//! objects), finds the node by its key, builds it (and whatever it needs that is missing,
//! under the cache's claims) and commits it. Nothing here talks to a cluster.
//!
//! One file per target: [`argo`], [`k8s`]; what they share is here.

pub mod argo;
pub mod k8s;

use std::path::PathBuf;

use bench_cache::{CacheBackend, Checked, LocalCache};
use bench_exec::SchedNode;
use bench_node::NodeKind;
use bench_plan::Plan;
use serde_json::{Value, json};

use crate::details::sched_nodes;

/// Where the sweep file is inside a pod.
pub const SWEEP_IN_POD: &str = "/bench/sweep.kdl";

/// What the exported objects need to know about the cluster.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// The image holding `bench` (and the engines, or `bench-sim-engine`).
    pub image: String,
    /// A ReadWriteMany PersistentVolumeClaim holding the cache.
    pub pvc: String,
    /// The cache's path: where the claim is mounted in every pod (set by [`export`]).
    pub cache_dir: PathBuf,
    pub namespace: Option<String>,
    /// Include nodes already committed in the local cache.
    pub all: bool,
    /// The sweep's text, shipped inside the objects (set by [`export`]).
    pub sweep_text: String,
}

/// `bench export argo|k8s`: the objects for `plan`'s remaining work (against the cache in
/// `cache_dir`, when it exists) written to `output` or standard output; says what it wrote.
pub fn export(
    plan: &Plan<'_, '_>,
    cache_dir: &std::path::Path,
    sweep: &std::path::Path,
    target: Target,
    mut o: ExportOptions,
    output: Option<&std::path::Path>,
) -> crate::error::Result<Written> {
    use crate::error::Error;
    o.cache_dir = std::path::absolute(cache_dir).map_err(|e| Error::Other(e.to_string()))?;
    o.sweep_text = std::fs::read_to_string(sweep)
        .map_err(|e| Error::Other(format!("cannot read {}: {e}", sweep.display())))?;
    let cache = cache_dir
        .join("layout")
        .exists()
        .then(|| LocalCache::open(cache_dir).ok())
        .flatten();
    let Some(path) = output else {
        let mut w = std::io::BufWriter::new(std::io::stdout().lock());
        let n = render(plan, cache.as_ref(), target, &o, &mut w)?;
        std::io::Write::flush(&mut w)?;
        return Ok(n);
    };
    let fail = |e: std::io::Error| Error::Other(format!("cannot write {}: {e}", path.display()));
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).map_err(fail)?);
    let n = render(plan, cache.as_ref(), target, &o, &mut w).map_err(fail)?;
    std::io::Write::flush(&mut w).map_err(fail)?;
    Ok(n)
}

/// What to write.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// Workflows of at most `max_tasks` tasks each (0: one workflow).
    Argo { max_tasks: usize },
    /// Indexed Jobs of at most `max_tasks` pods (0: Kubernetes' limit), running at most
    /// `parallelism` pods each.
    Kubernetes { parallelism: u32, max_tasks: usize },
}

/// Writes the objects for `plan`'s remaining work (JSON, which kubectl and argo read as
/// YAML; `---` between the objects); says what it wrote.
pub fn render(
    plan: &Plan<'_, '_>,
    cache: Option<&LocalCache>,
    target: Target,
    o: &ExportOptions,
    out: &mut dyn std::io::Write,
) -> std::io::Result<Written> {
    let tasks = tasks(plan, cache, o.all);
    match target {
        Target::Argo { max_tasks } => argo::write_all(plan, &tasks, o, max_tasks, out),
        Target::Kubernetes {
            parallelism,
            max_tasks,
        } => {
            let objects = k8s::objects(plan, &tasks, o, parallelism, max_tasks);
            for (i, d) in objects.iter().enumerate() {
                if i > 0 {
                    out.write_all(b"---\n")?;
                }
                serde_json::to_writer_pretty(&mut *out, d)?;
                out.write_all(b"\n")?;
            }
            Ok(Written {
                nodes: tasks.iter().filter(|t| t.kind == NodeKind::Bench).count(),
                objects: objects.len(),
                optimize_left_out: false,
            })
        }
    }
}

/// What [`render`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// The nodes the objects run (one that several workflows share, once).
    pub nodes: usize,
    /// The objects: workflows (Argo), or Jobs, ConfigMap and PriorityClasses (Kubernetes).
    pub objects: usize,
    /// Whether the optimize node was left out (a split workflow: the optimize node waits
    /// for every part, so it runs at the next `bench build`, which ingests the results).
    pub optimize_left_out: bool,
}

/// A node to run on the cluster.
#[derive(Clone, Debug)]
pub struct Task {
    pub name: String,
    pub key: String,
    pub kind: NodeKind,
    /// Tasks (indices) it waits for.
    pub deps: Vec<usize>,
    pub gpu: Option<(String, u32)>,
    pub priority: i64,
}

/// The nodes not yet committed in `cache` (every node with `all`), in plan order, with
/// their dependencies among themselves.
pub fn tasks(plan: &Plan<'_, '_>, cache: Option<&LocalCache>, all: bool) -> Vec<Task> {
    let nodes: Vec<SchedNode> = sched_nodes(plan);
    let done: Vec<bool> = nodes
        .iter()
        .map(|n| !all && cache.is_some_and(|c| matches!(c.check(&n.key), Ok(Checked::Committed))))
        .collect();
    let mut at = vec![usize::MAX; nodes.len()];
    let mut out = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if done[i] {
            continue;
        }
        at[i] = out.len();
        out.push(Task {
            name: format!("{}-{}", n.kind, &n.key[..16]),
            key: n.key.clone(),
            kind: n.kind,
            deps: n
                .inputs
                .iter()
                .filter(|x| !done[**x as usize])
                .map(|x| at[*x as usize])
                .collect(),
            gpu: n.gpus.as_ref().map(|g| (g.gpu.clone(), g.count)),
            priority: n.priority,
        });
    }
    out
}

/// A name Kubernetes accepts (RFC 1123 label: lower case, digits, `-`, at most 63).
pub fn dns_name(s: &str) -> String {
    let mut out: String = s
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let out = out.trim_matches('-');
    let out = &out[..out.len().min(63)];
    out.trim_end_matches('-').to_string()
}

/// The pod's shape: which GPUs, how many, what priority. Tasks of one shape share a
/// template (Argo) or a Job (Kubernetes).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shape {
    pub gpu: Option<(String, u32)>,
    pub priority: i64,
}

impl Shape {
    pub fn of(t: &Task) -> Self {
        Self {
            gpu: t.gpu.clone(),
            priority: t.priority,
        }
    }

    pub fn name(&self) -> String {
        let base = match &self.gpu {
            Some((g, n)) => format!("gpu-{}-x{n}", dns_name(g)),
            None => "cpu".into(),
        };
        if self.priority == 0 {
            base
        } else {
            format!("{base}-p{}", dns_name(&self.priority.to_string()))
        }
    }

    /// The PriorityClass its pods use (the Kubernetes export creates it), when not 0.
    pub fn priority_class(&self) -> Option<String> {
        (self.priority != 0)
            .then(|| format!("bench-priority-{}", dns_name(&self.priority.to_string())))
    }

    /// GPU limits, node affinity and the NVIDIA taint's toleration for a GPU shape.
    pub fn pod_fields(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        if let Some(class) = self.priority_class() {
            m.insert("priorityClassName".into(), json!(class));
        }
        let Some((gpu, _)) = &self.gpu else {
            return m;
        };
        // Labels of NVIDIA's GPU feature discovery: the family and the memory (MiB) tell the
        // catalog's types apart without guessing product strings.
        if let Some(spec) = bench_catalog::GpuSpec::find(gpu) {
            let family = match spec.compute_capability {
                90..=99 => "hopper",
                89 => "ada-lovelace",
                80..=88 => "ampere",
                75 => "turing",
                70..=72 => "volta",
                _ => "",
            };
            let mut exprs = vec![json!({
                "key": "nvidia.com/gpu.memory",
                "operator": "Gt",
                "values": [format!("{}", (spec.memory_gib * 1024.0 * 0.9) as u64)],
            })];
            if !family.is_empty() {
                exprs.push(
                    json!({"key": "nvidia.com/gpu.family", "operator": "In", "values": [family]}),
                );
            }
            m.insert(
                "affinity".into(),
                json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": exprs}]
                }}}),
            );
        }
        m.insert(
            "tolerations".into(),
            json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]),
        );
        m
    }

    /// The container's resources.
    pub fn resources(&self) -> Value {
        match &self.gpu {
            Some((_, n)) => json!({"limits": {"nvidia.com/gpu": n.to_string()}}),
            None => json!({"requests": {"cpu": "500m", "memory": "512Mi"}}),
        }
    }

    /// How long one attempt may run before the cluster stops it: an engine's load and a
    /// long workload for bench nodes, an hour for the rest.
    pub fn deadline_secs(&self) -> u64 {
        if self.gpu.is_some() { 4 * 3600 } else { 3600 }
    }
}

/// `bench build` for one node, as a pod runs it: the node by key, the shared cache, a
/// results store of the pod's own (the machine that exported ingests the results with its
/// next `bench build`).
pub fn build_args(plan: &Plan<'_, '_>, o: &ExportOptions, key: &str) -> Vec<String> {
    // A plan of simulated engines keys nodes apart from real ones: the pods plan the same.
    let simulate = plan.resolved.simulate.then(|| "--simulate".to_string());
    simulate
        .into_iter()
        .chain([
            "build".into(),
            SWEEP_IN_POD.into(),
            "--cache".into(),
            o.cache_dir.display().to_string(),
            "--node".into(),
            key.into(),
            "--jobs".into(),
            "1".into(),
            "--db".into(),
            "/tmp/bench-results.duckdb".into(),
        ])
        .collect()
}

/// The labels every object carries.
pub fn labels(plan: &Plan<'_, '_>) -> Value {
    json!({
        "app.kubernetes.io/name": "bench",
        "bench.dev/sweep": dns_name(&plan.resolved.sweep.name.value),
    })
}

pub fn metadata(o: &ExportOptions, plan: &Plan<'_, '_>, name: Value) -> Value {
    let mut m = json!({"labels": labels(plan)});
    if let (Value::Object(map), Value::Object(n)) = (&mut m, name) {
        map.extend(n);
        if let Some(ns) = &o.namespace {
            map.insert("namespace".into(), json!(ns));
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::dns_name;

    #[test]
    fn names_are_rfc_1123_labels() {
        assert_eq!(dns_name("H100-80GB"), "h100-80gb");
        assert_eq!(dns_name("demo sweep/№1"), "demo-sweep-1");
        assert_eq!(dns_name(&"x".repeat(80)).len(), 63);
        assert_eq!(dns_name("-a--b-"), "a-b");
    }
}
