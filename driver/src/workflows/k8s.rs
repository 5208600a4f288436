//! Plain Kubernetes objects, for clusters without Argo: a PriorityClass per node priority
//! other than 0, and per shape of the bench nodes (GPU type and count, priority) an indexed
//! `Job` (several for many nodes) whose pod `i` builds the `i`-th key of the list in the
//! Job's ConfigMap, beside the sweep. Jobs have no dependencies: a bench pod builds the download and
//! setup it needs when they are missing (the cache's claims keep two pods from building one
//! key), and validations, aggregates and recommendations are the next `bench build` of the
//! sweep where the results go (everything measured is in the shared cache by then).

use std::collections::BTreeMap;

use bench_node::NodeKind;
use bench_plan::Plan;
use serde_json::{Value, json};

use super::{ExportOptions, SWEEP_IN_POD, Shape, Task, build_args, dns_name, labels, metadata};

/// At most this many pods in one indexed Job (Kubernetes refuses more than 100,000).
pub const MAX_COMPLETIONS: usize = 100_000;

/// The objects for the bench nodes among `tasks`, in the order `kubectl apply` needs them:
/// per shape, Jobs of at most `max_tasks` pods (0: as many as Kubernetes allows), each with
/// a ConfigMap of its own holding the sweep and its keys (a ConfigMap holds at most 1 MiB:
/// about 16,000 keys).
pub fn objects(
    plan: &Plan<'_, '_>,
    tasks: &[Task],
    o: &ExportOptions,
    parallelism: u32,
    max_tasks: usize,
) -> Vec<Value> {
    let sweep = plan.resolved.sweep;
    let base = format!("bench-{}", dns_name(&sweep.name.value));
    let mut by_shape: BTreeMap<Shape, Vec<&Task>> = BTreeMap::new();
    for t in tasks.iter().filter(|t| t.kind == NodeKind::Bench) {
        by_shape.entry(Shape::of(t)).or_default().push(t);
    }
    let per_job = match max_tasks {
        0 => MAX_COMPLETIONS,
        n => n.min(MAX_COMPLETIONS),
    };
    // (shape, the Job's name, its keys)
    let mut jobs: Vec<(&Shape, String, Vec<&str>)> = Vec::new();
    for (shape, ts) in &by_shape {
        let parts = ts.len().div_ceil(per_job);
        for (i, chunk) in ts.chunks(per_job).enumerate() {
            let tail = match parts {
                1 => shape.name(),
                _ => format!("{}-{}", shape.name(), i + 1),
            };
            let room = 63usize.saturating_sub(tail.len() + 1).min(base.len());
            let name = format!("{}-{tail}", base[..room].trim_end_matches('-'));
            jobs.push((shape, name, chunk.iter().map(|t| t.key.as_str()).collect()));
        }
    }
    let mut out = Vec::new();
    for shape in by_shape.keys() {
        if let Some(class) = shape.priority_class() {
            out.push(json!({
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": {"name": class, "labels": labels(plan)},
                "value": shape.priority,
                "globalDefault": false,
                "description": "bench node priority (the sweep's priority=)",
            }));
        }
    }
    let retries = sweep.retry.attempts.saturating_sub(1);
    let sweep_dir = std::path::Path::new(SWEEP_IN_POD)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    for (shape, name, keys) in &jobs {
        let n = keys.len() as u32;
        out.push(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(o, plan, json!({"name": name})),
            "data": {"sweep.kdl": o.sweep_text, "keys": keys.join("\n") + "\n"},
        }));
        // The pod's key: line JOB_COMPLETION_INDEX + 1 of its Job's list.
        let args = build_args(plan, o, "$KEY")
            .iter()
            .map(|a| {
                if a == "$KEY" {
                    "\"$KEY\"".to_string()
                } else {
                    format!("'{a}'")
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        let script = format!(
            "KEY=$(sed -n \"$((JOB_COMPLETION_INDEX + 1))p\" '{sweep_dir}/keys') && exec bench {args}"
        );
        let mut pod = json!({
            "restartPolicy": "Never",
            "activeDeadlineSeconds": shape.deadline_secs(),
            "containers": [{
                "name": "node",
                "image": o.image,
                "command": ["sh", "-c", script],
                "env": [{"name": "CI", "value": "true"}],
                "resources": shape.resources(),
                "volumeMounts": [
                    {"name": "cache", "mountPath": o.cache_dir.display().to_string()},
                    {"name": "sweep", "mountPath": sweep_dir, "readOnly": true},
                ],
            }],
            "volumes": [
                {"name": "cache", "persistentVolumeClaim": {"claimName": o.pvc}},
                {"name": "sweep", "configMap": {"name": name}},
            ],
        });
        if let Value::Object(m) = &mut pod {
            m.extend(shape.pod_fields());
        }
        out.push(json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": metadata(o, plan, json!({"name": name})),
            "spec": {
                "completionMode": "Indexed",
                "completions": n,
                "parallelism": n.min(parallelism.max(1)),
                // Retries per pod (per index: one pod cannot use up another's) from the
                // sweep's policy (Kubernetes 1.29 and later).
                "backoffLimitPerIndex": retries,
                "template": {
                    "metadata": {"labels": {"bench.dev/shape": shape.name()}},
                    "spec": pod,
                },
            },
        }));
    }
    out
}
