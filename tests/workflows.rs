//! `bench export argo|k8s`: the exported objects validate strictly against the official
//! Kubernetes schemas and Argo's (scripts/lib/validate_k8s.py, with the validators
//! scripts/test installs), and say what the plan says: one task per node not yet committed,
//! its dependencies the plan's, GPU limits from the configuration. No cluster runs here.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Project, text};

/// The validator's Python, or None (skipped) when scripts/test could not install it.
fn python() -> Option<PathBuf> {
    match std::env::var_os("BENCH_TEST_K8S_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("BENCH_REQUIRE_K8S_SCHEMAS").is_some() => {
            panic!("BENCH_TEST_K8S_PYTHON is not set: run the tests with scripts/test")
        }
        None => {
            eprintln!("skipping: no schema validator (run the tests with scripts/test)");
            None
        }
    }
}

fn validate(py: &Path, file: &Path) -> std::process::Output {
    Command::new(py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lib/validate_k8s.py"))
        .arg(file)
        .output()
        .unwrap()
}

fn docs(file: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .split("\n---\n")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// The node key an Argo DAG task builds.
fn task_key(t: &serde_json::Value) -> &str {
    t["arguments"]["parameters"][0]["value"].as_str().unwrap()
}

fn demo() -> Project {
    Project::new(include_str!("../sweeps/demo.kdl"))
}

#[test]
fn the_demo_as_an_argo_workflow_validates_and_mirrors_the_plan() {
    let Some(py) = python() else { return };
    let p = demo();
    let out = p.bench(&[
        "export",
        "argo",
        "s.kdl",
        "-o",
        "wf.json",
        "--namespace",
        "ml",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let v = validate(&py, &p.path().join("wf.json"));
    assert!(v.status.success(), "{}", text(&v));
    let wf = &docs(&p.path().join("wf.json"))[0];
    let templates = wf["spec"]["templates"].as_array().unwrap();
    let dag = templates[0]["dag"]["tasks"].as_array().unwrap();
    // The plan, as `bench plan --json` lists it.
    let plan = p.bench(&["plan", "s.kdl", "--json"]);
    let plan_json: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let keys: BTreeSet<String> = plan_json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["key"].as_str().map(String::from))
        .collect();
    let task_keys: BTreeSet<String> = dag.iter().map(|t| task_key(t).to_string()).collect();
    assert!(!keys.is_empty(), "{}", text(&plan));
    assert_eq!(task_keys, keys, "one task per node of the plan");
    // Bench tasks ask for one GPU and wait for their setup; validations wait for a bench.
    let by_name: BTreeMap<&str, &serde_json::Value> = dag
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t))
        .collect();
    let template = |name: &str| templates.iter().find(|t| t["name"] == name).unwrap();
    let bench = dag
        .iter()
        .find(|t| t["name"].as_str().unwrap().starts_with("bench-"))
        .unwrap();
    let bt = template(bench["template"].as_str().unwrap());
    assert_eq!(
        bt["container"]["resources"]["limits"]["nvidia.com/gpu"],
        "1"
    );
    assert!(bt["retryStrategy"]["limit"].as_u64().is_some());
    let deps: Vec<&str> = bench["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(
        deps.iter().any(|d| d.starts_with("setup-"))
            && deps.iter().all(|d| by_name.contains_key(d))
    );
    assert_eq!(wf["metadata"]["namespace"], "ml");
    // What the pods run builds exactly that node here too.
    let key = task_key(bench);
    let one = p.bench(&["build", "s.kdl", "--node", key, "--actions", "test"]);
    assert!(one.status.success(), "{}", text(&one));
    let again = p.bench(&["export", "argo", "s.kdl", "-o", "wf2.json"]);
    assert!(again.status.success(), "{}", text(&again));
    let wf2 = &docs(&p.path().join("wf2.json"))[0];
    let left = wf2["spec"]["templates"][0]["dag"]["tasks"]
        .as_array()
        .unwrap()
        .len();
    assert!(
        left < dag.len() && left > 0,
        "committed nodes leave the workflow: {left} of {}",
        dag.len()
    );
}

/// Split into parts, the configurations of the more urgent model go first, in a workflow
/// of that priority (for a controller that runs only so many workflows at once).
#[test]
fn a_split_demo_puts_its_most_urgent_configurations_first_and_validates() {
    let Some(py) = python() else { return };
    let tiny = r#"model "TinyLlama/TinyLlama-1.1B-Chat-v1.0" revision="main""#;
    let sweep_text = include_str!("../sweeps/demo.kdl");
    assert!(sweep_text.contains(tiny));
    let p = Project::new(&sweep_text.replace(tiny, &format!("{tiny} priority=3")));
    let out = p.bench(&[
        "export",
        "argo",
        "s.kdl",
        "-o",
        "wf.json",
        "--max-tasks",
        "6",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let v = validate(&py, &p.path().join("wf.json"));
    assert!(v.status.success(), "{}", text(&v));
    let d = docs(&p.path().join("wf.json"));
    assert!(d.len() > 2, "{} parts", d.len());
    assert_eq!(d[0]["spec"]["priority"], 3);
    assert!(d[d.len() - 1]["spec"].get("priority").is_none());
    let plan = p.bench(&["plan", "s.kdl", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let label = |key: &str| -> String {
        plan["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["key"] == key)
            .map(|n| n["label"].as_str().unwrap().to_string())
            .unwrap()
    };
    let benches = d[0]["spec"]["templates"][0]["dag"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"].as_str().unwrap().starts_with("bench-"))
        .map(|t| label(task_key(t)))
        .collect::<Vec<_>>();
    assert!(!benches.is_empty());
    assert!(
        benches.iter().all(|l| l.contains("TinyLlama")),
        "{benches:?}"
    );
}

/// The Jobs of a `k8s` export: per Job its shape, its completions and the keys of its
/// ConfigMap (checked: one key per completion index, the ConfigMap under 1 MiB).
fn jobs(file: &Path, parallelism: u64) -> Vec<(String, u64, Vec<String>)> {
    let d = docs(file);
    let mut out = Vec::new();
    for j in d.iter().filter(|x| x["kind"] == "Job") {
        let n = j["spec"]["completions"].as_u64().unwrap();
        assert_eq!(
            j["spec"]["parallelism"].as_u64().unwrap(),
            n.min(parallelism)
        );
        // The sweep's retry policy (3 attempts by default), per pod.
        assert_eq!(j["spec"]["backoffLimitPerIndex"], 2, "{}", j["spec"]);
        let pod = &j["spec"]["template"]["spec"];
        let map = pod["volumes"][1]["configMap"]["name"].as_str().unwrap();
        let cm = d
            .iter()
            .find(|x| x["kind"] == "ConfigMap" && x["metadata"]["name"] == map)
            .unwrap_or_else(|| panic!("no ConfigMap {map}"));
        assert!(cm.to_string().len() < 1 << 20, "{map}");
        let keys: Vec<String> = cm["data"]["keys"]
            .as_str()
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(keys.len() as u64, n, "one key per completion index");
        let shape = pod["containers"][0]["resources"].to_string();
        out.push((shape, n, keys));
    }
    out
}

#[test]
fn the_demo_as_kubernetes_jobs_validates_with_indexed_jobs_per_gpu_shape() {
    let Some(py) = python() else { return };
    let p = demo();
    let export = |file: &str, max: &str| {
        let out = p.bench(&[
            "export",
            "k8s",
            "s.kdl",
            "-o",
            file,
            "--parallelism",
            "3",
            "--max-tasks",
            max,
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let v = validate(&py, &p.path().join(file));
        assert!(v.status.success(), "{}", text(&v));
        jobs(&p.path().join(file), 3)
    };
    let whole = export("k8s.json", "0");
    assert_eq!(whole.len(), 2, "H100 × 1 and A100 × 1");
    // At most 2 pods a Job: more Jobs, the same keys.
    let split = export("split.json", "2");
    assert!(
        split.len() > 2 && split.iter().all(|j| j.1 <= 2),
        "{split:?}"
    );
    let keys = |jobs: &[(String, u64, Vec<String>)]| -> BTreeSet<String> {
        jobs.iter().flat_map(|j| j.2.iter().cloned()).collect()
    };
    let total: u64 = whole.iter().map(|j| j.1).sum();
    assert!(total > 2);
    assert_eq!(keys(&whole).len() as u64, total, "no key twice");
    assert_eq!(keys(&split), keys(&whole));
    assert_eq!(split.iter().map(|j| j.1).sum::<u64>(), total);
}

#[test]
fn the_validator_rejects_an_unknown_field() {
    let Some(py) = python() else { return };
    let p = demo();
    let out = p.bench(&["export", "argo", "s.kdl", "-o", "wf.json"]);
    assert!(out.status.success(), "{}", text(&out));
    let mut wf = docs(&p.path().join("wf.json")).remove(0);
    wf["spec"]["templates"][1]["container"]["gpus"] = serde_json::json!(1);
    std::fs::write(p.path().join("bad.json"), wf.to_string()).unwrap();
    let v = validate(&py, &p.path().join("bad.json"));
    assert!(!v.status.success(), "strict: {}", text(&v));
}

/// The full matrix (346,246 nodes) as Argo workflows of at most 1,000 tasks (the default):
/// each validates, is far under the 1 MiB an etcd object may hold, and holds whole
/// configurations with the downloads and setups they need; together they run every node
/// of the one-workflow export (`--max-tasks 0`) but the optimize, which the next local
/// `bench build` runs.
#[test]
fn the_full_matrix_as_argo_workflows_validates_in_parts() {
    let Some(py) = python() else { return };
    let p = Project::new(include_str!("../sweeps/full-matrix.kdl"));
    // Simulated: the models' revisions need no hub, and the pods plan the same way.
    let out = p.bench(&["--simulate", "export", "argo", "s.kdl", "-o", "wf.json"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(said.contains("optimize node"), "{said}");
    let raw = std::fs::read_to_string(p.path().join("wf.json")).unwrap();
    let mut keys = BTreeSet::new();
    let mut parts = 0;
    for doc in raw.split("\n---\n") {
        parts += 1;
        assert!(doc.len() < 1 << 20, "part {parts}: {} bytes", doc.len());
        let wf: serde_json::Value = serde_json::from_str(doc).unwrap();
        assert_eq!(
            wf["metadata"]["labels"]["bench.dev/part"],
            parts.to_string()
        );
        let dag = wf["spec"]["templates"][0]["dag"]["tasks"]
            .as_array()
            .unwrap();
        assert!(!dag.is_empty() && dag.len() <= 1000, "{}", dag.len());
        let names: BTreeSet<&str> = dag.iter().map(|t| t["name"].as_str().unwrap()).collect();
        for t in dag {
            for d in t["dependencies"].as_array().into_iter().flatten() {
                assert!(names.contains(d.as_str().unwrap()), "part {parts}: {d}");
            }
            keys.insert(task_key(t).to_string());
        }
    }
    assert!(parts > 100, "{parts} parts");
    assert!(
        said.contains(&format!(
            "({} nodes to run, in {parts} workflows",
            keys.len()
        )),
        "{said}"
    );
    let one = p.bench(&[
        "--simulate",
        "export",
        "argo",
        "s.kdl",
        "-o",
        "one.json",
        "--max-tasks",
        "0",
    ]);
    assert!(one.status.success(), "{}", text(&one));
    let whole = &docs(&p.path().join("one.json"))[0];
    let all: Vec<&serde_json::Value> = whole["spec"]["templates"][0]["dag"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert!(all.len() > 100_000);
    let but_optimize: BTreeSet<String> = all
        .iter()
        .filter(|t| !t["name"].as_str().unwrap().starts_with("optimize-"))
        .map(|t| task_key(t).to_string())
        .collect();
    assert_eq!(but_optimize.len(), all.len() - 1);
    assert!(
        keys == but_optimize,
        "the parts run every node but the optimize"
    );
    let v = validate(&py, &p.path().join("wf.json"));
    assert!(v.status.success(), "{}", text(&v));
    // As Kubernetes Jobs: every bench node once, no Job over 1,000 pods, no ConfigMap over
    // 1 MiB (`jobs` checks).
    let k8s = p.bench(&["--simulate", "export", "k8s", "s.kdl", "-o", "k8s.json"]);
    assert!(k8s.status.success(), "{}", text(&k8s));
    let jobs = jobs(&p.path().join("k8s.json"), 8);
    assert!(jobs.iter().all(|j| j.1 <= 1000));
    let bench: BTreeSet<String> = all
        .iter()
        .filter(|t| t["name"].as_str().unwrap().starts_with("bench-"))
        .map(|t| task_key(t).to_string())
        .collect();
    let in_jobs: Vec<&String> = jobs.iter().flat_map(|j| &j.2).collect();
    assert_eq!(in_jobs.len(), bench.len(), "every bench node once");
    assert!(in_jobs.into_iter().all(|k| bench.contains(k)));
}
