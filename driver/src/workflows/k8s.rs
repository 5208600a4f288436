//! Plain Kubernetes objects, for clusters without Argo: a ConfigMap holding the sweep and
//! the keys to run, a PriorityClass per node priority other than 0, and one indexed `Job`
//! per shape of the bench nodes (GPU type and count, priority) whose pod `i` builds the
//! `i`-th key of its list. Jobs have no dependencies: a bench pod builds the download and
//! setup it needs when they are missing (the cache's claims keep two pods from building one
//! key), and validations, aggregates and recommendations are the next `bench build` of the
//! sweep where the results go (everything measured is in the shared cache by then).

use std::collections::BTreeMap;

use bench_node::NodeKind;
use bench_plan::Plan;
use serde_json::{Value, json};

use super::{ExportOptions, SWEEP_IN_POD, Shape, Task, build_args, dns_name, labels, metadata};

/// The objects for the bench nodes among `tasks`, in the order `kubectl apply` needs them.
pub fn objects(
    plan: &Plan<'_, '_>,
    tasks: &[Task],
    o: &ExportOptions,
    parallelism: u32,
) -> Vec<Value> {
    let sweep = plan.resolved.sweep;
    let base = format!("bench-{}", dns_name(&sweep.name.value));
    let base = &base[..base.len().min(40)];
    let mut by_shape: BTreeMap<Shape, Vec<&Task>> = BTreeMap::new();
    for t in tasks.iter().filter(|t| t.kind == NodeKind::Bench) {
        by_shape.entry(Shape::of(t)).or_default().push(t);
    }
    let mut data = serde_json::Map::new();
    data.insert("sweep.kdl".into(), json!(o.sweep_text));
    for (shape, ts) in &by_shape {
        let keys: Vec<&str> = ts.iter().map(|t| t.key.as_str()).collect();
        data.insert(
            format!("keys-{}", shape.name()),
            json!(keys.join("\n") + "\n"),
        );
    }
    let mut out = vec![json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(o, plan, json!({"name": base})),
        "data": data,
    })];
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
    for (shape, ts) in &by_shape {
        let n = ts.len() as u32;
        let keys_file = format!("{sweep_dir}/keys-{}", shape.name());
        // The pod's key: line JOB_COMPLETION_INDEX + 1 of its shape's list.
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
            "KEY=$(sed -n \"$((JOB_COMPLETION_INDEX + 1))p\" '{keys_file}') && exec bench {args}"
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
                {"name": "sweep", "configMap": {"name": base}},
            ],
        });
        if let Value::Object(m) = &mut pod {
            m.extend(shape.pod_fields());
        }
        out.push(json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": metadata(o, plan, json!({"name": format!("{base}-{}", shape.name())})),
            "spec": {
                "completionMode": "Indexed",
                "completions": n,
                "parallelism": n.min(parallelism.max(1)),
                // Retries per pod come from the sweep's policy; the Job's budget is theirs.
                "backoffLimit": retries * n,
                "template": {
                    "metadata": {"labels": {"bench.dev/shape": shape.name()}},
                    "spec": pod,
                },
            },
        }));
    }
    out
}
