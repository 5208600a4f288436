//! What a CI pipeline uses: `bench build --ci` with its Markdown summary and JUnit XML, and
//! `bench compare` as a regression gate on the simulated engine — a real 20 % slowdown
//! fails it, a rerun with other seeds does not.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Project, bin, text};

fn sweep(seed: u32) -> String {
    format!(
        r#"
sweep "gate" {{
    model "Qwen/Qwen2.5-0.5B-Instruct" revision="main"
    matrix {{
        engine "sim"
        gpu "H100-80GB"
        batch-size 8
        seq-len 4096
    }}
    workload "chat" {{
        dataset "random" input-len=2048 output-len=24 spread=0.1
        concurrency 4
        requests 48 warmup=2
        seed {seed}
    }}
    hosts {{
        host "sim" runtime="sim" gpu="H100-80GB" gpus=1 price-per-gpu-hour=2.0
    }}
    optimize {{
        objective "output-throughput" maximize weight=0.5
        objective "ttft-p95" minimize weight=0.5
    }}
}}
"#
    )
}

/// The simulated engine, every duration multiplied by `scale` (a slower engine build).
fn slowed(p: &Project, scale: f64) -> std::path::PathBuf {
    let path = p.path().join("slow-sim");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nexec '{}' sim-engine --time-scale {scale} \"$@\"\n",
            bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn build(p: &Project, engine: Option<&std::path::Path>) {
    let mut c = p.cmd(&["build", "s.kdl"]);
    if let Some(e) = engine {
        c.env("BENCH_SIM_ENGINE", e);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn compare_fails_on_a_real_slowdown_and_not_on_noise() {
    let base = Project::new(&sweep(1));
    build(&base, None);
    let reseeded = Project::new(&sweep(2));
    build(&reseeded, None);
    let slow = Project::new(&sweep(1));
    let engine = slowed(&slow, 1.2);
    build(&slow, Some(&engine));
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
    let (eb, es) = (export(&base), export(&slow));
    let o = slow.bench(&["compare", &eb, &es, "--objective", "ttft-p95:min"]);
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

#[test]
fn ci_mode_writes_a_summary_and_junit_xml() {
    let p = Project::new(&sweep(1));
    let o = p.bench(&[
        "build",
        "s.kdl",
        "--ci",
        "--summary",
        "summary.md",
        "--junit",
        "junit.xml",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // Plain lines, one per event.
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("] built bench/"),
        "{}",
        text(&o)
    );
    let md = std::fs::read_to_string(p.path().join("summary.md")).unwrap();
    assert!(md.starts_with("## bench build gate: ✅ succeeded"), "{md}");
    assert!(md.contains("| rank | configuration / load |"), "{md}");
    let xml = std::fs::read_to_string(p.path().join("junit.xml")).unwrap();
    assert!(
        xml.contains(r#"<testsuite name="gate: validations" tests="1""#),
        "{xml}"
    );
    assert!(xml.contains(r#"failures="0""#), "{xml}");
    // The summary is appended to (GitHub's step summary collects several steps).
    let o = p
        .cmd(&["build", "s.kdl", "--ci"])
        .env("GITHUB_STEP_SUMMARY", p.path().join("summary.md"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(p.path().join("summary.md")).unwrap();
    assert_eq!(md.matches("## bench build gate").count(), 2, "{md}");
    assert!(md.contains("0 built"), "{md}");
}
