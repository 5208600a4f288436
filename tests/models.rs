//! Model downloads end to end: `bench` against a Hub-compatible server on loopback
//! (bench-testhub) with the real hf-hub client, and local model directories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bench_testhub::TestHub;
use bench_testhub::fixtures::{llama_config as config_json, model_files, shard};
use serde_json::Value;

const REPO: &str = "acme/tiny-llama";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bench"))
}

fn sweep(model_line: &str) -> String {
    format!(
        r#"sweep "models" {{
    {model_line}
    matrix {{
        engine "sim"
        gpu "H100-80GB"
        batch-size 8
        seq-len 2048
    }}
    workload "w" {{
        dataset "random" input-len=64 output-len=16
        api "chat"
        concurrency 2
        requests 8
        seed 1
    }}
    hosts {{
        host "h" runtime="sim" gpu="H100-80GB" gpus=1
    }}
}}
"#
    )
}

struct Project {
    dir: tempfile::TempDir,
    endpoint: String,
}

impl Project {
    fn new(hub: &TestHub, sweep: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("models.kdl"), sweep).unwrap();
        Self {
            dir,
            endpoint: hub.endpoint(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn hf_home(&self) -> PathBuf {
        self.path().join("hf")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.path())
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .env("HF_ENDPOINT", &self.endpoint)
            .env("HF_HOME", self.hf_home())
            .env("BENCH_HF_CHUNK_BYTES", (256 << 10).to_string())
            .env_remove("HF_TOKEN")
            .env_remove("HF_HUB_CACHE")
            .env_remove("HF_HUB_OFFLINE")
            .env_remove("BENCH_CACHE")
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "bench {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Node label → (kind, status, key) from `bench plan --json`.
    fn plan(&self) -> Vec<(String, String, String, Value)> {
        let out = self.ok(&["plan", "models.kdl", "--json"]);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["label"].as_str().unwrap().to_string(),
                    n["kind"].as_str().unwrap().to_string(),
                    n["status"].as_str().unwrap().to_string(),
                    n["params"].clone(),
                )
            })
            .collect()
    }

    /// The committed model.json of the download node.
    fn model_json(&self) -> Value {
        let dl = self
            .plan()
            .into_iter()
            .find(|n| n.1 == "download")
            .expect("a download node");
        assert_eq!(dl.2, "cached", "{} is committed", dl.0);
        let cache = self.path().join(".bench/cache");
        let digests = find_output(&cache, "model.json");
        // The newest committed model.json.
        let newest = digests
            .iter()
            .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .expect("a committed model.json");
        serde_json::from_slice(&std::fs::read(newest).unwrap()).unwrap()
    }
}

/// The blobs of every committed output called `name` (from the cache's manifests).
fn find_output(cache: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for m in walk(&cache.join("manifests")) {
        if m.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&std::fs::read(&m).unwrap()) else {
            continue;
        };
        for o in v["outputs"].as_array().into_iter().flatten() {
            if o["name"] == name {
                let d = o["digest"].as_str().unwrap();
                out.push(cache.join("blobs").join(&d[..2]).join(d));
            }
        }
    }
    out
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => out.extend(walk(&path)),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_hub_model_is_fetched_pinned_and_a_moved_branch_reruns_exactly_what_depends_on_it() {
    let hub = TestHub::start();
    let first = hub.commit(REPO, "main", &model_files(200_000));
    let p = Project::new(&hub, &sweep(r#"model "acme/tiny-llama" fetch=#true"#));

    // The plan keys the commit main names, not `main`.
    let plan = p.plan();
    let dl = plan.iter().find(|n| n.1 == "download").unwrap();
    assert_eq!(dl.3["revision"], first.as_str(), "{}", dl.3);
    assert!(dl.3["files"].as_array().unwrap().len() > 3);

    p.ok(&["build", "models.kdl"]);
    let snap = p
        .hf_home()
        .join("hub/models--acme--tiny-llama/snapshots")
        .join(&first);
    assert!(snap.join("model-00001-of-00002.safetensors").exists());
    assert!(!snap.join("README.md").exists(), "only engine files");
    let m = p.model_json();
    assert_eq!(m["revision"], first.as_str());
    assert_eq!(m["path"], snap.display().to_string());
    assert_eq!(
        m["facts"]["layers"], 4,
        "facts from the model's config.json"
    );
    assert_eq!(m["architecture"], "LlamaForCausalLM");
    let files = m["manifest"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 4);
    for f in files {
        assert_eq!(f["blake3"].as_str().unwrap().len(), 64);
    }
    assert!(p.plan().iter().all(|n| n.2 == "cached"));
    // The store says which weights each run measured.
    let q = |sql: &str| -> Value {
        let out = p.ok(&["query", sql, "--json", "--db", ".bench/results.duckdb"]);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let rows = q("SELECT DISTINCT model_revision FROM runs");
    assert_eq!(
        rows,
        serde_json::json!([{ "model_revision": first }]),
        "{rows}"
    );

    // The branch moves: the download and everything downstream of it run again, nothing
    // else (the engine's setup does not depend on the model).
    let second = hub.commit(REPO, "main", &[("config.json", config_json(6))]);
    let plan = p.plan();
    for (label, kind, status, _) in &plan {
        let expect = if kind == "setup" {
            "cached"
        } else {
            "will-run"
        };
        assert_eq!(status, expect, "{label} ({kind})");
    }
    let dl = plan.iter().find(|n| n.1 == "download").unwrap();
    assert_eq!(dl.3["revision"], second.as_str());
    hub.reset_counters();
    let out = p.ok(&["build", "models.kdl"]);
    let t = text(&out);
    assert!(
        t.contains(&format!(
            "{} nodes: 1 cached, {} to run",
            plan.len(),
            plan.len() - 1
        )),
        "{t}"
    );
    assert_eq!(
        hub.served("model-00001-of-00002.safetensors"),
        0,
        "unchanged weights are not fetched again"
    );
    assert!(hub.served("config.json") > 0);
    assert_eq!(p.model_json()["facts"]["layers"], 6);
    let rows = q("SELECT model_revision, count(*) AS n FROM runs GROUP BY 1 ORDER BY 1");
    let mut want = vec![
        serde_json::json!({ "model_revision": first, "n": 1 }),
        serde_json::json!({ "model_revision": second, "n": 1 }),
    ];
    want.sort_by_key(|v| v["model_revision"].as_str().unwrap().to_string());
    assert_eq!(rows, Value::Array(want), "both commits' runs are kept");
}

#[test]
fn a_killed_fetch_resumes_without_fetching_completed_files_again() {
    let hub = TestHub::start();
    let size = 3 << 20;
    hub.commit(REPO, "main", &model_files(size));
    hub.throttle("model-00002-of-00002.safetensors", 1 << 20);
    let p = Project::new(&hub, &sweep(r#"model "acme/tiny-llama" fetch=#true"#));
    let mut child = p
        .cmd(&["build", "models.kdl"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while hub.served("model-00002-of-00002.safetensors") < (1 << 20) + (256 << 10) {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the fetch did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGKILL: no clean-up of any kind (the node process dies with its parent).
    child.kill().unwrap();
    child.wait().unwrap();
    let before = hub.served("model-00002-of-00002.safetensors");
    assert!(before < shard(size, 2).len() as u64, "killed midway");
    assert!(
        hub.served("model-00001-of-00002.safetensors") >= size as u64,
        "the fast shard completed"
    );

    hub.throttle("model-00002-of-00002.safetensors", 0);
    hub.reset_counters();
    p.ok(&["build", "models.kdl"]);
    assert_eq!(
        hub.served("model-00001-of-00002.safetensors"),
        0,
        "completed files are kept"
    );
    let again = hub.served("model-00002-of-00002.safetensors");
    assert!(
        again < shard(size, 2).len() as u64 - (256 << 10),
        "resumed from what was committed: {again} bytes fetched again"
    );
    let m = p.model_json();
    let dir = PathBuf::from(m["path"].as_str().unwrap());
    assert_eq!(
        std::fs::read(dir.join("model-00002-of-00002.safetensors")).unwrap(),
        shard(size, 2)
    );
}

#[test]
fn a_corrupted_transfer_fails_the_download_naming_the_file_and_commits_nothing() {
    let hub = TestHub::start();
    hub.commit(REPO, "main", &model_files(100_000));
    hub.corrupt("model-00002-of-00002.safetensors", true);
    let p = Project::new(&hub, &sweep(r#"model "acme/tiny-llama" fetch=#true"#));
    let out = p.run(&["build", "models.kdl"]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("model-00002-of-00002.safetensors"), "{t}");
    assert!(t.contains("checksum"), "{t}");
    assert!(find_output(&p.path().join(".bench/cache"), "model.json").is_empty());
    // Fixed upstream: the next build fetches only that file.
    hub.corrupt("model-00002-of-00002.safetensors", false);
    hub.reset_counters();
    p.ok(&["build", "models.kdl"]);
    assert_eq!(hub.served("model-00001-of-00002.safetensors"), 0);
    assert!(hub.served("model-00002-of-00002.safetensors") > 0);
}

#[test]
fn gated_models_need_hf_token_which_is_never_recorded() {
    let hub = TestHub::start();
    hub.commit(REPO, "main", &model_files(50_000));
    let secret = "hf_TopSecret0987654321";
    hub.gate(REPO, secret);
    let p = Project::new(&hub, &sweep(r#"model "acme/tiny-llama" fetch=#true"#));

    let out = p.run(&["build", "models.kdl"]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("gated"), "{t}");
    assert!(t.contains("HF_TOKEN"), "{t}");
    assert!(t.contains("models.kdl:2:"), "points at the model: {t}");

    let out = p
        .cmd(&["build", "models.kdl"])
        .env("HF_TOKEN", secret)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(secret));
    assert!(hub.authorizations().iter().any(|a| a.ends_with(secret)));
    // Not in the cache (keys, outputs, logs), not in the database, not in the HF cache.
    for f in walk(p.path()) {
        let data = std::fs::read(&f).unwrap_or_default();
        assert!(
            !data.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} holds the token",
            f.display()
        );
    }
}

#[test]
fn unknown_models_and_revisions_are_errors_at_their_line() {
    let hub = TestHub::start();
    hub.commit(REPO, "main", &model_files(10_000));
    let p = Project::new(
        &hub,
        &sweep(r#"model "acme/tiny-llama" revision="v9" fetch=#true"#),
    );
    let out = p.run(&["plan", "models.kdl"]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("no revision `v9`"), "{t}");
    assert!(t.contains("models.kdl:2:"), "{t}");

    let p = Project::new(&hub, &sweep(r#"model "acme/absent" fetch=#true"#));
    let t = text(&p.run(&["plan", "models.kdl"]));
    assert!(t.contains("acme/absent") && t.contains("not on"), "{t}");
}

#[test]
fn offline_the_last_resolution_is_used_with_a_warning_and_without_one_it_is_an_error() {
    let hub = TestHub::start();
    let commit = hub.commit(REPO, "main", &model_files(10_000));
    let mut p = Project::new(&hub, &sweep(r#"model "acme/tiny-llama" fetch=#true"#));
    p.ok(&["build", "models.kdl"]);

    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    p.endpoint = format!("http://127.0.0.1:{dead}");
    let out = p.ok(&["plan", "models.kdl"]);
    let t = text(&out);
    assert!(t.contains("cannot reach"), "{t}");
    assert!(t.contains(&format!("using commit {commit}")), "{t}");
    assert!(
        p.plan().iter().all(|n| n.2 == "cached"),
        "same keys offline"
    );
    // HF_HUB_OFFLINE: no request at all, same answer.
    let out = p
        .cmd(&["build", "models.kdl"])
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));

    // A cache that never saw the hub has nothing to fall back on: a look at the plan says
    // the model is not pinned; a build refuses.
    let q = Project::new(&hub, &sweep(r#"model "acme/tiny-llama" fetch=#true"#));
    let out = q
        .cmd(&["plan", "models.kdl"])
        .env("HF_ENDPOINT", format!("http://127.0.0.1:{dead}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("not pinned"), "{}", text(&out));
    let out = q
        .cmd(&["build", "models.kdl"])
        .env("HF_ENDPOINT", format!("http://127.0.0.1:{dead}"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("cannot tell which commit `main`"), "{t}");
    assert!(t.contains("models.kdl:2:"), "{t}");
}

#[test]
fn a_local_directory_is_identified_by_its_files_not_its_path_or_mtimes() {
    let hub = TestHub::start();
    let p = Project::new(&hub, &sweep(r#"model "tiny" path="./tiny" fetch=#true"#));
    let dir = p.path().join("tiny");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, data) in model_files(100_000) {
        std::fs::write(dir.join(name), data).unwrap();
    }
    let plan = p.plan();
    let dl = plan.iter().find(|n| n.1 == "download").unwrap();
    assert_eq!(dl.3["digest"].as_str().unwrap().len(), 64, "{}", dl.3);
    assert!(
        dl.3.get("path").is_none(),
        "no path of this machine in the key"
    );
    p.ok(&["build", "models.kdl"]);
    let m = p.model_json();
    assert_eq!(m["facts"]["layers"], 4);
    assert_eq!(m["digest"], dl.3["digest"]);

    // Rewritten with the same bytes (new mtimes): still cached.
    for (name, data) in model_files(100_000) {
        std::fs::write(dir.join(name), data).unwrap();
    }
    assert!(p.plan().iter().all(|n| n.2 == "cached"));
    // A README is not a model file: still cached.
    std::fs::write(dir.join("NOTES.md"), "hello").unwrap();
    assert!(p.plan().iter().all(|n| n.2 == "cached"));
    // New weights: the download and what depends on it run again.
    std::fs::write(
        dir.join("model-00002-of-00002.safetensors"),
        shard(100_000, 9),
    )
    .unwrap();
    let plan = p.plan();
    let dl2 = plan.iter().find(|n| n.1 == "download").unwrap();
    assert_eq!(dl2.2, "will-run");
    assert_ne!(dl2.3["digest"], dl.3["digest"]);
    assert_eq!(hub.served_total(), 0, "a local model never touches the hub");
}
