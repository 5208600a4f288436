//! An Argo Workflows `Workflow` (`argoproj.io/v1alpha1`): a DAG template with one task per
//! node, its dependencies the plan's, and one container template per pod shape (GPU type
//! and count, priority) with the sweep's retry policy, GPU limits, node affinity and a
//! deadline. The sweep travels as a raw input artifact of each template.

use std::collections::BTreeMap;
use std::io::Write;

use bench_plan::Plan;
use serde_json::{Value, json};

use super::{ExportOptions, SWEEP_IN_POD, Shape, Task, build_args, dns_name, metadata};

/// Writes the workflow for `tasks` of `plan`: the DAG's tasks one per line (a full
/// matrix has 10⁵ of them), the rest pretty.
pub fn write(
    plan: &Plan<'_, '_>,
    tasks: &[Task],
    o: &ExportOptions,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    const TASKS: &str = "\"{{bench:tasks}}\"";
    let skeleton =
        serde_json::to_string_pretty(&workflow(plan, tasks, o, json!("{{bench:tasks}}")))?;
    let (before, after) = skeleton.split_once(TASKS).unwrap_or((&skeleton, ""));
    out.write_all(before.as_bytes())?;
    out.write_all(b"[")?;
    let shapes = shapes(tasks);
    for (i, t) in tasks.iter().enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *out, &task(t, tasks, &shapes))?;
    }
    out.write_all(b"\n]")?;
    out.write_all(after.as_bytes())?;
    out.write_all(b"\n")
}

/// The template of each pod shape.
fn shapes(tasks: &[Task]) -> BTreeMap<Shape, String> {
    let mut shapes = BTreeMap::new();
    for t in tasks {
        let s = Shape::of(t);
        let name = format!("node-{}", s.name());
        shapes.entry(s).or_insert(name);
    }
    shapes
}

/// One DAG task: the node's template, its key, the tasks it waits for.
fn task(t: &Task, tasks: &[Task], shapes: &BTreeMap<Shape, String>) -> Value {
    let mut task = json!({
        "name": t.name,
        "template": shapes[&Shape::of(t)],
        "arguments": {"parameters": [{"name": "key", "value": t.key}]},
    });
    if !t.deps.is_empty() {
        task["dependencies"] = json!(t.deps.iter().map(|d| &tasks[*d].name).collect::<Vec<_>>());
    }
    task
}

/// The workflow with `dag_tasks` as its DAG's tasks.
fn workflow(plan: &Plan<'_, '_>, tasks: &[Task], o: &ExportOptions, dag_tasks: Value) -> Value {
    let sweep = plan.resolved.sweep;
    let shapes = shapes(tasks);
    let retries = sweep.retry.attempts.saturating_sub(1);
    let mut templates = vec![json!({"name": "sweep", "dag": {"tasks": dag_tasks}})];
    for (shape, name) in &shapes {
        let args = build_args(plan, o, "{{inputs.parameters.key}}");
        let mut t = json!({
            "name": name,
            "inputs": {
                "parameters": [{"name": "key"}],
                "artifacts": [{"name": "sweep", "path": SWEEP_IN_POD, "raw": {"data": o.sweep_text}}],
            },
            "metadata": {"labels": {"bench.dev/shape": shape.name()}},
            "container": {
                "name": "node",
                "image": o.image,
                "command": ["bench"],
                "args": args,
                "env": [{"name": "CI", "value": "true"}],
                "resources": shape.resources(),
                "volumeMounts": [{"name": "cache", "mountPath": o.cache_dir.display().to_string()}],
            },
            "activeDeadlineSeconds": shape.deadline_secs(),
        });
        if retries > 0 {
            t["retryStrategy"] = json!({
                "limit": retries,
                "retryPolicy": "Always",
                "backoff": {
                    "duration": format!("{}s", sweep.retry.backoff_secs.max(1.0).round() as u64),
                    "factor": 2,
                },
            });
        }
        if let Value::Object(m) = &mut t {
            m.extend(shape.pod_fields());
        }
        templates.push(t);
    }
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": metadata(o, plan, json!({
            "generateName": format!("bench-{}-", dns_name(&sweep.name.value)),
        })),
        "spec": {
            "entrypoint": "sweep",
            "volumes": [{"name": "cache", "persistentVolumeClaim": {"claimName": o.pvc}}],
            "templates": templates,
        },
    })
}
