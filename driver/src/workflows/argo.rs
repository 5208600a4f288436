//! An Argo Workflows `Workflow` (`argoproj.io/v1alpha1`): a DAG template with one task per
//! node, its dependencies the plan's, and one container template per pod shape (GPU type
//! and count, priority) with the sweep's retry policy, GPU limits, node affinity and a
//! deadline. The sweep travels as a raw input artifact of each template.
//!
//! A large sweep goes out as several workflows ([`parts`]): Argo keeps a workflow, its
//! status included, in one etcd object (at most 1 MiB) and its controller slows with
//! thousands of nodes per workflow, so each part holds whole aggregate units (a
//! configuration's benches, validations and aggregate) with the downloads and setups they
//! need. A download or setup several parts share runs once: the pods build under the
//! cache's claims, and a part that finds it committed goes on.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use bench_plan::Plan;
use serde_json::{Value, json};

use bench_node::NodeKind;

use super::{ExportOptions, SWEEP_IN_POD, Shape, Task, Written, build_args, dns_name, metadata};

/// Writes `tasks` as workflows of at most `max_tasks` tasks each (0: one workflow), `---`
/// between them.
pub fn write_all(
    plan: &Plan<'_, '_>,
    tasks: &[Task],
    o: &ExportOptions,
    max_tasks: usize,
    out: &mut dyn Write,
) -> std::io::Result<Written> {
    let parts = parts(tasks, max_tasks);
    if parts.len() == 1 && parts[0].len() == tasks.len() {
        write(plan, tasks, o, None, out)?;
        return Ok(Written {
            nodes: tasks.len(),
            objects: 1,
            optimize_left_out: false,
        });
    }
    let n = parts.len();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.write_all(b"---\n")?;
        }
        write(plan, &subset(tasks, part), o, Some((i + 1, n)), out)?;
    }
    Ok(Written {
        nodes: tasks
            .iter()
            .filter(|t| t.kind != NodeKind::Optimize)
            .count(),
        objects: n,
        optimize_left_out: tasks.iter().any(|t| t.kind == NodeKind::Optimize),
    })
}

/// `tasks` split into parts of at most `max` tasks (0: no limit), as indices in plan order.
/// A part holds whole units: tasks joined by dependencies other than on a download or a
/// setup (in a sweep, one configuration's benches, validations and aggregate), with the
/// downloads and setups they need, which several parts may then each hold; the most urgent
/// units (by their nodes' highest priority) first, then in plan order. A unit larger than
/// `max` is a part of its own. Split, the optimize task is in no part; one part is every
/// task.
pub fn parts(tasks: &[Task], max: usize) -> Vec<Vec<usize>> {
    if max == 0 || tasks.len() <= max {
        return vec![(0..tasks.len()).collect()];
    }
    let shared = |i: usize| matches!(tasks[i].kind, NodeKind::Download | NodeKind::Setup);
    let optimize = |i: usize| tasks[i].kind == NodeKind::Optimize;
    // Units: union-find over the dependencies between tasks that are neither.
    let mut parent: Vec<usize> = (0..tasks.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (i, t) in tasks.iter().enumerate() {
        if shared(i) || optimize(i) {
            continue;
        }
        for &d in &t.deps {
            if !shared(d) && !optimize(d) {
                let (a, b) = (root(&mut parent, i), root(&mut parent, d));
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut units: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..tasks.len() {
        if !shared(i) && !optimize(i) {
            let r = root(&mut parent, i);
            units.entry(r).or_default().push(i);
        }
    }
    // The downloads and setups a unit needs, transitively.
    let needs = |unit: &[usize]| -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<usize> = unit.iter().flat_map(|&i| tasks[i].deps.clone()).collect();
        while let Some(d) = stack.pop() {
            if shared(d) && seen.insert(d) {
                stack.extend(tasks[d].deps.iter().copied());
            }
        }
        seen
    };
    // The most urgent units first (a unit's priority is its highest node's), then in plan
    // order: the first parts hold what the sweep wants soonest.
    let mut units: Vec<Vec<usize>> = units.into_values().collect();
    units.sort_by_key(|u| std::cmp::Reverse(u.iter().map(|&i| tasks[i].priority).max()));
    let mut parts: Vec<BTreeSet<usize>> = Vec::new();
    let mut current = BTreeSet::new();
    let mut used = vec![false; tasks.len()];
    for unit in units {
        let extra: Vec<usize> = needs(&unit)
            .into_iter()
            .filter(|d| !current.contains(d))
            .collect();
        if !current.is_empty() && current.len() + extra.len() + unit.len() > max {
            parts.push(std::mem::take(&mut current));
            current.extend(needs(&unit));
        } else {
            current.extend(extra);
        }
        current.extend(unit);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    for p in &parts {
        for &i in p {
            used[i] = true;
        }
    }
    // Downloads and setups no unit needs (their benches committed) go in the first part.
    let orphans: Vec<usize> = (0..tasks.len())
        .filter(|&i| shared(i) && !used[i])
        .collect();
    if parts.is_empty() {
        parts.push(BTreeSet::new());
    }
    parts[0].extend(orphans);
    parts.into_iter().map(|p| p.into_iter().collect()).collect()
}

/// The tasks at `part` (plan order), their dependencies renumbered among themselves.
fn subset(tasks: &[Task], part: &[usize]) -> Vec<Task> {
    let at: BTreeMap<usize, usize> = part.iter().enumerate().map(|(j, &i)| (i, j)).collect();
    part.iter()
        .map(|&i| {
            let t = &tasks[i];
            Task {
                deps: t.deps.iter().filter_map(|d| at.get(d).copied()).collect(),
                ..t.clone()
            }
        })
        .collect()
}

/// Writes the workflow for `tasks` of `plan` (part `i` of `n`, when split): the DAG's
/// tasks one per line (a full matrix has 10⁵ of them), the rest pretty.
fn write(
    plan: &Plan<'_, '_>,
    tasks: &[Task],
    o: &ExportOptions,
    part: Option<(usize, usize)>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    const TASKS: &str = "\"{{bench:tasks}}\"";
    let skeleton =
        serde_json::to_string_pretty(&workflow(plan, tasks, o, part, json!("{{bench:tasks}}")))?;
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
fn workflow(
    plan: &Plan<'_, '_>,
    tasks: &[Task],
    o: &ExportOptions,
    part: Option<(usize, usize)>,
    dag_tasks: Value,
) -> Value {
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
    let name = dns_name(&sweep.name.value);
    let mut meta = match part {
        None => metadata(o, plan, json!({"generateName": format!("bench-{name}-")})),
        Some((i, n)) => metadata(
            o,
            plan,
            json!({"generateName": format!("bench-{}-{i}of{n}-", &name[..name.len().min(40)])}),
        ),
    };
    if let Some((i, _)) = part {
        meta["labels"]["bench.dev/part"] = json!(i.to_string());
    }
    let mut wf = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": meta,
        "spec": {
            "entrypoint": "sweep",
            "volumes": [{"name": "cache", "persistentVolumeClaim": {"claimName": o.pvc}}],
            "templates": templates,
        },
    });
    // Parts of a split sweep: where the controller runs only so many workflows at once,
    // the part holding the most urgent configurations goes first (downloads and setups,
    // which parts share, take the priority of their most urgent user: not theirs).
    let priority = tasks
        .iter()
        .filter(|t| !matches!(t.kind, NodeKind::Download | NodeKind::Setup))
        .map(|t| t.priority)
        .max()
        .unwrap_or(0);
    if part.is_some() && priority != 0 {
        wf["spec"]["priority"] = json!(priority.clamp(i32::MIN as i64, i32::MAX as i64));
    }
    wf
}

#[cfg(test)]
mod tests {
    use bench_node::NodeKind;

    use super::{Task, parts};

    fn task(kind: NodeKind, deps: &[usize]) -> Task {
        Task {
            name: String::new(),
            key: String::new(),
            kind,
            deps: deps.to_vec(),
            gpu: None,
            priority: 0,
        }
    }

    /// Two models' download and setup, four configurations (bench, validate, aggregate)
    /// alternating between them, and the optimize over all.
    fn sweep() -> Vec<Task> {
        use NodeKind::*;
        let mut t = vec![
            task(Download, &[]),
            task(Setup, &[0]),
            task(Download, &[]),
            task(Setup, &[2]),
        ];
        let mut aggregates = vec![];
        for u in 0..4 {
            let b = t.len();
            t.push(task(Bench, &[1 + 2 * (u % 2)]));
            t.push(task(Validate, &[b]));
            t.push(task(Aggregate, &[b + 1]));
            aggregates.push(b + 2);
        }
        t.push(task(Optimize, &aggregates));
        t
    }

    #[test]
    fn parts_hold_whole_configurations_with_what_they_need() {
        let t = sweep();
        assert_eq!(parts(&t, 0), vec![(0..t.len()).collect::<Vec<_>>()]);
        assert_eq!(parts(&t, t.len()).len(), 1);
        let p = parts(&t, 7);
        assert_eq!(
            p,
            vec![
                vec![0, 1, 4, 5, 6],
                vec![2, 3, 7, 8, 9],
                vec![0, 1, 10, 11, 12],
                vec![2, 3, 13, 14, 15],
            ]
        );
        // Room for two configurations with both models' downloads and setups.
        let p = parts(&t, 10);
        assert_eq!(p.len(), 2, "{p:?}");
        for part in &p {
            assert!(part.len() <= 10);
            for &i in part {
                assert!(t[i].deps.iter().all(|d| part.contains(d)), "{part:?}");
            }
        }
        assert!(
            p.iter().all(|part| !part.contains(&16)),
            "no optimize when split"
        );
    }

    #[test]
    fn the_most_urgent_configurations_go_in_the_first_part() {
        let mut t = sweep();
        // The last configuration's bench node (and so its unit) is urgent.
        t[13].priority = 5;
        let p = parts(&t, 7);
        assert_eq!(p[0], vec![2, 3, 13, 14, 15], "{p:?}");
        assert_eq!(p[1], vec![0, 1, 4, 5, 6], "then plan order: {p:?}");
    }

    #[test]
    fn a_configuration_larger_than_the_limit_is_a_part_of_its_own() {
        let t = sweep();
        let p = parts(&t, 2);
        assert_eq!(p.len(), 4);
        assert!(p.iter().all(|part| part.len() == 5));
    }
}
