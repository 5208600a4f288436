//! `bench build --remote-cache`: machines (project directories with their own local cache
//! and results store) sharing one bucket on a real S3-compatible server on loopback (moto,
//! started by `scripts/test`): nothing runs twice, an edit runs only what it changed, two
//! concurrent builds commit each key once, and a server that stops mid-build costs a
//! warning, not the build.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

use common::{Project, counts, text};

const SECRET: &str = "bench-test-secret-3f9a";

fn sweep(requests: u32) -> String {
    format!(
        r#"
sweep "shared" {{
    model "Qwen/Qwen2.5-0.5B-Instruct" revision="main"
    matrix {{
        engine "sim"
        gpu "H100-80GB"
        batch-size 4 16
        seq-len 1024
    }}
    workload "chat" {{
        dataset "random" input-len=64 output-len=8 spread=0.1
        concurrency 4
        requests {requests} warmup=1
    }}
    workload "batch" {{
        dataset "random" input-len=256 output-len=8 spread=0.1
        concurrency 8
        requests 6 warmup=1
    }}
    hosts {{
        host "sim" runtime="sim" gpu="H100-80GB" gpus=1 price-per-gpu-hour=2.0
    }}
}}
"#
    )
}

/// The loopback S3 server's address, or `None` (skipped, loudly) when none runs.
fn endpoint() -> Option<String> {
    match std::env::var("BENCH_TEST_S3_ENDPOINT") {
        Ok(e) => Some(e),
        Err(_) => {
            assert!(
                std::env::var_os("BENCH_REQUIRE_S3").is_none(),
                "BENCH_REQUIRE_S3 is set but no S3 server runs (scripts/test starts one)"
            );
            eprintln!("skipped: no S3 server (BENCH_TEST_S3_ENDPOINT); scripts/test starts one");
            None
        }
    }
}

/// A new bucket; its `s3://` URL with a prefix.
fn bucket(endpoint: &str, name: &str) -> String {
    let name = format!("{name}-{}", std::process::id());
    // A server just started may refuse its first requests: a few tries.
    let ok = (0..50).any(|i| {
        if i > 0 {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Command::new("curl")
            .args([
                "-sf",
                "-o",
                "/dev/null",
                "-X",
                "PUT",
                &format!("{endpoint}/{name}"),
            ])
            .status()
            .unwrap()
            .success()
    });
    assert!(ok, "cannot create bucket {name} at {endpoint}");
    format!("s3://{name}/ci")
}

/// `bench ARGS` in a project, sharing `url` on the server at `endpoint`.
fn shared(p: &Project, endpoint: &str, url: &str, args: &[&str]) -> Command {
    let mut c = p.cmd(args);
    c.env("BENCH_REMOTE_CACHE", url)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "bench-test-key")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "us-east-1");
    c
}

fn build(p: &Project, endpoint: &str, url: &str) -> Output {
    let o = shared(p, endpoint, url, &["build", "s.kdl"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    o
}

fn built(o: &Output) -> HashMap<String, u64> {
    counts(o, "build ")
}

fn remote(o: &Output) -> HashMap<String, u64> {
    counts(o, "remote cache ")
}

/// The results table as JSON rows, by label.
fn results(p: &Project) -> Vec<serde_json::Value> {
    let o = p.bench(&["results", "s.kdl", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut rows = v["rows"].as_array().unwrap().clone();
    rows.sort_by_key(|r| r["label"].as_str().unwrap().to_string());
    rows
}

/// No file the run wrote holds the secret.
fn no_secret_in(p: &Project, outputs: &[&Output]) {
    for o in outputs {
        assert!(!text(o).contains(SECRET), "the secret is in the output");
    }
    let mut stack = vec![p.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                let hit = bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
                assert!(!hit, "the secret is in {}", path.display());
            }
        }
    }
}

#[test]
fn machines_sharing_a_bucket_never_run_a_node_twice() {
    let Some(ep) = endpoint() else { return };
    let url = bucket(&ep, "share");
    let (a, b) = (Project::new(&sweep(6)), Project::new(&sweep(6)));

    let oa = build(&a, &ep, &url);
    let (ba, ra) = (built(&oa), remote(&oa));
    let total = ba["nodes"];
    assert_eq!(ba["built"], total, "{}", text(&oa));
    assert_eq!(ra["pushed"], total, "{}", text(&oa));

    // A fresh machine: every node committed remotely, nothing runs; its results store
    // holds the same results (the aggregates pulled, a few kB).
    let ob = build(&b, &ep, &url);
    let (bb, rb) = (built(&ob), remote(&ob));
    assert_eq!((bb["built"], bb["cached"]), (0, total), "{}", text(&ob));
    assert_eq!((rb["hits"], rb["pushed"]), (total, 0), "{}", text(&ob));
    assert!(rb["pulled"] > 0 && rb["pulled"] < total, "{}", text(&ob));
    assert_eq!(results(&b), results(&a));

    // B edits one workload: only its bench, validate, aggregate nodes and the optimize
    // node run; A then pulls them and runs nothing.
    b.write(&sweep(7));
    let ob = build(&b, &ep, &url);
    let bb = built(&ob);
    assert_eq!(bb["built"], 2 * 3 + 1, "{}", text(&ob));
    assert_eq!(remote(&ob)["pushed"], 7, "{}", text(&ob));
    a.write(&sweep(7));
    let oa2 = build(&a, &ep, &url);
    assert_eq!(built(&oa2)["built"], 0, "{}", text(&oa2));
    assert_eq!(results(&a), results(&b));
    no_secret_in(&a, &[&oa, &oa2]);
    no_secret_in(&b, &[&ob]);

    // A runner that never built the sweep compares against it through the bucket: the
    // aggregates and runs are read from it (nothing to compare without it).
    let c = Project::new(&sweep(7));
    let alone = c.bench(&["compare", "s.kdl", "s.kdl"]);
    assert!(
        !alone.status.success() && text(&alone).contains("no cache at"),
        "{}",
        text(&alone)
    );
    let o = shared(&c, &ep, &url, &["compare", "s.kdl", "s.kdl", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let lines = v["lines"].as_array().unwrap();
    assert!(
        !lines.is_empty() && lines.iter().all(|l| l["verdict"] == "unchanged"),
        "{v}"
    );
}

#[test]
fn two_concurrent_builds_commit_each_key_once() {
    let Some(ep) = endpoint() else { return };
    let url = bucket(&ep, "race");
    let (a, b) = (Project::new(&sweep(5)), Project::new(&sweep(5)));
    let spawn = |p: &Project| {
        shared(p, &ep, &url, &["build", "s.kdl"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (ca, cb) = (spawn(&a), spawn(&b));
    let (oa, ob) = (
        ca.wait_with_output().unwrap(),
        cb.wait_with_output().unwrap(),
    );
    assert!(
        oa.status.success() && ob.status.success(),
        "{}\n{}",
        text(&oa),
        text(&ob)
    );
    let total = built(&oa)["nodes"];
    let (ra, rb) = (remote(&oa), remote(&ob));
    assert_eq!(
        ra["pushed"] + rb["pushed"],
        total,
        "{}\n{}",
        text(&oa),
        text(&ob)
    );
    // Whatever both ran, one adopted the other's outputs: the two stores agree.
    assert_eq!(results(&a), results(&b));
    let c = Project::new(&sweep(5));
    let oc = build(&c, &ep, &url);
    assert_eq!(built(&oc)["built"], 0, "{}", text(&oc));
    assert_eq!(results(&c), results(&a));
}

/// A moto server of the test's own, which it can stop.
struct Server {
    child: Child,
    endpoint: String,
}

impl Server {
    fn start(port: u16) -> Option<Server> {
        let exe = std::env::var("BENCH_TEST_MOTO_SERVER").ok()?;
        let child = Command::new(exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Dropped (killed and waited for) whether or not it comes up.
        let server = Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("moto did not start on port {port}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_server_stopped_mid_build_costs_a_warning_and_the_next_build_pushes_what_was_missing() {
    if endpoint().is_none() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Server::start(port).expect("BENCH_TEST_MOTO_SERVER names moto_server");
    let url = bucket(&server.endpoint, "stop");
    let ep = server.endpoint.clone();
    let a = Project::new(&sweep(6));
    let mut child = shared(&a, &ep, &url, &["build", "s.kdl"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Stop the server when the first bench node has been built (its upload is under way
    // or done), with the rest of the build still to run.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for l in lines.by_ref() {
        let l = l.unwrap();
        let first_bench = l.contains("] built bench/");
        seen.push(l);
        if first_bench {
            break;
        }
    }
    drop(server);
    seen.extend(lines.map(|l| l.unwrap()));
    let status = child.wait().unwrap();
    let err = seen.join("\n");
    assert!(status.success(), "{err}");
    let summary = err.lines().find(|l| l.starts_with("build ")).unwrap();
    assert!(summary.contains("0 failed"), "{err}");
    assert!(err.contains("unavailable during the build"), "{err}");
    assert_eq!(
        err.matches("the build goes on with the local cache only")
            .count(),
        1,
        "one warning: {err}"
    );
    let results_before = results(&a);

    // The server back (empty: moto keeps nothing): the next build runs nothing and pushes
    // every node the bucket lacks.
    let server = Server::start(port).unwrap();
    let url = bucket(&server.endpoint, "stop");
    let o = build(&a, &server.endpoint, &url);
    let total = built(&o)["nodes"];
    assert_eq!(built(&o)["built"], 0, "{}", text(&o));
    assert_eq!(remote(&o)["pushed"], total, "{}", text(&o));
    assert_eq!(results(&a), results_before);
    // A fresh machine now finds everything.
    let b = Project::new(&sweep(6));
    let ob = build(&b, &server.endpoint, &url);
    assert_eq!(built(&ob)["built"], 0, "{}", text(&ob));
}

#[test]
fn strict_mode_fails_on_an_unreachable_remote_and_read_only_never_writes() {
    let Some(ep) = endpoint() else { return };
    let a = Project::new(&sweep(6));
    let o = shared(
        &a,
        &ep,
        "s3://no-such-bucket-anywhere/ci",
        &["build", "s.kdl", "--remote-cache-strict"],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no-such-bucket-anywhere"), "{}", text(&o));

    let url = bucket(&ep, "ro");
    let o = shared(
        &a,
        &ep,
        &url,
        &["build", "s.kdl", "--remote-cache-read-only"],
    )
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let r = remote(&o);
    assert_eq!(r["pushed"], 0, "{}", text(&o));
    assert!(text(&o).contains("(read-only)"), "{}", text(&o));
    // Nothing reached the bucket: another machine runs everything.
    let b = Project::new(&sweep(6));
    let ob = build(&b, &ep, &url);
    assert_eq!(built(&ob)["built"], built(&ob)["nodes"], "{}", text(&ob));
}
