//! `bench compare` as a regression gate on the simulated engine: a real 20 % slowdown fails
//! it, a rerun with other seeds does not. The only test of its binary (test binaries run one
//! at a time): what it times runs alone, after an untimed warm-up build (on a clean clone the
//! first seconds of the suite carry the build's writeback: a first timed build there measured
//! 16 % slow). The engine is the simulator's fixed-latency mode ×4 (40 ms to the first token):
//! the roofline mode's TTFT p95 depends on which prefills happen to coincide in a batch, and
//! stretched ×4 against ×4.8 it once came out 13 % *lower*.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Project, bin, gate_sweep, text};

/// The simulated engine in its fixed-latency mode (10 ms to the first token, 2 ms per token),
/// every duration multiplied by `scale` (a slower engine build).
fn slowed(p: &Project, scale: f64) -> std::path::PathBuf {
    let path = p.path().join("slow-sim");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nexec '{}' sim-engine \"$@\" --fixed-ttft-ms {} --fixed-tpot-ms {}\n",
            bin().display(),
            10.0 * scale,
            2.0 * scale
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn build(p: &Project, engine: &std::path::Path) {
    let mut c = p.cmd(&["build", "s.kdl"]);
    c.env("BENCH_SIM_ENGINE", engine);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn compare_fails_on_a_real_slowdown_and_not_on_noise() {
    let warm_up = Project::new(&gate_sweep(3, 96));
    build(&warm_up, &slowed(&warm_up, 4.0));
    let base = Project::new(&gate_sweep(1, 96));
    build(&base, &slowed(&base, 4.0));
    let reseeded = Project::new(&gate_sweep(2, 96));
    build(&reseeded, &slowed(&reseeded, 4.0));
    // 20 % slower.
    let slow = Project::new(&gate_sweep(1, 96));
    build(&slow, &slowed(&slow, 4.8));
    let b = base.path().join("s.kdl");
    let b = b.to_str().unwrap();

    let o = reseeded.bench(&["compare", b, "s.kdl"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(out.contains("**0 regressed**"), "{out}");

    let md = slow.path().join("compare.md");
    let o = slow.bench(&["compare", b, "s.kdl", "--markdown", md.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        out.contains("**1 regressed**") || out.contains("**2 regressed**"),
        "{out}"
    );
    let ttft = out
        .lines()
        .find(|l| l.contains("ttft-p95"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(ttft.contains("**regressed**"), "{ttft}");
    assert_eq!(std::fs::read_to_string(&md).unwrap(), out);

    // The same gate from `bench results --json` exports (the repeats' intervals only).
    let export = |p: &Project| {
        let o = p.bench(&["results", "s.kdl", "--json"]);
        assert!(o.status.success(), "{}", text(&o));
        let path = p.path().join("results.json");
        std::fs::write(&path, &o.stdout).unwrap();
        path.to_str().unwrap().to_string()
    };
    // ... and from the results stores the builds filled (with their requests for the rank
    // test): the slowdown fails the gate, the reseeded rerun does not.
    let store = |p: &Project| {
        let path = p.path().join(".bench/results.duckdb");
        assert!(path.is_file(), "{}", path.display());
        path.to_str().unwrap().to_string()
    };
    let before = std::fs::read(store(&base)).unwrap();
    let o = slow.bench(&["compare", &store(&base), &store(&slow), "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // Read only: a baseline store is left as it was, byte for byte.
    assert!(
        std::fs::read(store(&base)).unwrap() == before,
        "the store changed"
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["metric"] == "ttft-p95" && l["verdict"] == "regressed"),
        "{v}"
    );
    let o = slow.bench(&["compare", &store(&base), &store(&reseeded)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("**0 regressed**"),
        "{}",
        text(&o)
    );
    let (eb, es) = (export(&base), export(&slow));
    let o = slow.bench(&["compare", &eb, &es, "--objective", "ttft-p95:min"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // ... and from exports of the stores' `aggregates` view, Parquet or CSV: the same
    // evidence as the JSON exports, so the same lines.
    let view = |p: &Project, format: &str| {
        let path = p.path().join(format!("aggregates.{format}"));
        let path = path.to_str().unwrap().to_string();
        let o = p.bench(&[
            "export",
            "--table",
            "aggregates",
            "--format",
            format,
            "-o",
            &path,
        ]);
        assert!(o.status.success(), "{}", text(&o));
        path
    };
    let lines = |o: &std::process::Output| {
        let v: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)));
        v["lines"].clone()
    };
    let (pb, cs) = (view(&base, "parquet"), view(&slow, "csv"));
    let from_json = slow.bench(&["compare", &eb, &es, "--objective", "ttft-p95:min", "--json"]);
    let from_files = slow.bench(&["compare", &pb, &cs, "--objective", "ttft-p95:min", "--json"]);
    assert_eq!(from_files.status.code(), Some(1), "{}", text(&from_files));
    assert_eq!(lines(&from_files), lines(&from_json));
    assert!(!lines(&from_files).as_array().unwrap().is_empty());
    let o = slow.bench(&["compare", &es, "aggregates.csv"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A file that is not such an export says what it lacks and how to make one.
    let o = slow.bench(&["export", "--format", "csv", "-o", "configs.csv"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = slow.bench(&["compare", &es, "configs.csv"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        err.contains("no column `metric`") && err.contains("--table aggregates"),
        "{err}"
    );
    let o = slow.bench(&["compare", &pb, &view(&slow, "parquet")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    let o = slow.bench(&["compare", &eb, &eb, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["verdict"] == "unchanged")
    );
}
