//! Keys must not change by accident: every node key of the example sweeps, under the
//! options the binary uses (plain, simulated, models pinned to a commit), is compared with
//! the list committed in `tests/golden/`. A change of what a node means must bump a kind's
//! version or the cache version on purpose, and then these files are regenerated with
//! `BENCH_BLESS=1 cargo test -p bench-plan --test golden`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bench_plan::dag::label;
use bench_plan::{ModelPin, PlanOptions};
use bench_sweep::Source;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `label key` per node, sorted by label.
fn keys(sweep: &str, opts: &PlanOptions) -> String {
    let path = root().join("sweeps").join(sweep);
    let text = std::fs::read_to_string(&path).expect("example sweep");
    let source = Source::new(sweep, text);
    let parsed = bench_sweep::parse(&source).expect("parses");
    let registry = bench_engines::builtin();
    let opts = PlanOptions {
        base_dir: Some(root().join("sweeps")),
        ..opts.clone()
    };
    let plan = bench_plan::plan(&parsed.sweep, &source, &registry, &opts).expect("plans");
    let (r, x, g) = (&plan.resolved, &plan.expansion, &plan.graph);
    let lines: BTreeMap<String, String> = g
        .node_indices()
        .map(|i| (label(r, x, &g[i].subject), g[i].key.to_string()))
        .collect();
    let mut out = String::new();
    for (l, k) in lines {
        let _ = writeln!(out, "{l} {k}");
    }
    out
}

fn pinned(sweep: &str) -> PlanOptions {
    let text = std::fs::read_to_string(root().join("sweeps").join(sweep)).expect("sweep");
    let source = Source::new(sweep, text);
    let parsed = bench_sweep::parse(&source).expect("parses");
    let model_pins = parsed
        .sweep
        .models
        .iter()
        .map(|m| {
            (
                m.name.value.clone(),
                ModelPin::Commit("0123456789abcdef0123456789abcdef01234567".into()),
            )
        })
        .collect();
    PlanOptions {
        model_pins,
        ..PlanOptions::default()
    }
}

/// What is committed of a key list: the node count, the blake3 of the whole list, and every
/// n-th line (about 300), which name the labels whose keys moved when the digest differs.
fn summary(list: &str) -> String {
    let lines: Vec<&str> = list.lines().collect();
    let step = lines.len().div_ceil(300).max(1);
    let mut out = format!(
        "nodes {}\nblake3 {}\n",
        lines.len(),
        blake3::hash(list.as_bytes()).to_hex()
    );
    for l in lines.iter().step_by(step) {
        let _ = writeln!(out, "{l}");
    }
    out
}

fn check(name: &str, list: &str) {
    let actual = summary(list);
    let path = root().join("engine/plan/tests/golden").join(name);
    if std::env::var_os("BENCH_BLESS").is_some() {
        std::fs::write(&path, &actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).expect("golden file");
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .filter(|(a, b)| a != b)
            .take(6)
            .map(|(a, b)| format!("- {a}\n+ {b}"))
            .collect();
        panic!(
            "keys of {name} changed; first differences:\n{}",
            diff.join("\n")
        );
    }
}

#[test]
fn demo_keys_are_stable() {
    check("demo.keys", &keys("demo.kdl", &PlanOptions::default()));
}

#[test]
fn full_matrix_keys_are_stable() {
    let simulate = PlanOptions {
        simulate: true,
        ..PlanOptions::default()
    };
    check("full-matrix-sim.keys", &keys("full-matrix.kdl", &simulate));
    let mut pinned = pinned("full-matrix.kdl");
    pinned.image_digests = [(
        "vllm/vllm-openai:v0.9.2",
        "sha256:1111111111111111111111111111111111111111111111111111111111111111",
    )]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    check("full-matrix-pinned.keys", &keys("full-matrix.kdl", &pinned));
}
