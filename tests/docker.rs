//! Engines in containers on this machine's real Docker Engine: the sim engine's image is
//! built locally (`bench sim-image`; there is no registry), then sweeps run through the
//! docker executor. Whatever happens to a build — success, an engine that exits at start,
//! a readiness timeout, Ctrl-C, SIGKILL — no container of it is left behind.
//!
//! Without a reachable Docker daemon these tests say so and pass, unless
//! `BENCH_REQUIRE_DOCKER=1` (set by `.ci/run`), which makes them fail instead.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bench"))
}

/// The tests of this file run one at a time: a starting build reaps every dead build's
/// containers on the host, which would race with a test that makes an orphan on purpose.
static SERIAL: Mutex<()> = Mutex::new(());

/// Whether Docker can be used; panics when it cannot but must.
fn docker_ready() -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("BENCH_REQUIRE_DOCKER").is_ok_and(|v| v == "1") {
            panic!("no Docker daemon reachable, and BENCH_REQUIRE_DOCKER=1");
        }
        eprintln!("skipped: no Docker daemon reachable (BENCH_REQUIRE_DOCKER=1 makes this fail)");
    }
    ok
}

/// Builds the sim engine's image once per test run, under `tag`.
fn sim_image(tag: &str) {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.iter().any(|t| t == tag) {
        return;
    }
    let o = Command::new(bin())
        .args(["sim-image", "--tag", tag])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    built.push(tag.to_string());
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// bench's containers of a sweep, `running` only or all.
fn containers(sweep: &str, running: bool) -> Vec<String> {
    let filter = format!("label=bench.sweep={sweep}");
    let mut args = vec!["ps", "-q", "--filter", &filter];
    if !running {
        args.push("-a");
    }
    let o = Command::new("docker").args(&args).output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct Project {
    dir: tempfile::TempDir,
    sweep: String,
}

impl Project {
    /// A one-configuration sweep named `name` on a Docker host of this machine.
    fn new(name: &str, engine_block: &str, requests: u32, image: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sweep = format!(
            r#"
sweep "{name}" {{
    model "Qwen/Qwen2.5-0.5B-Instruct" revision="main"
    matrix {{
        engine "sim"
        gpu "H100-80GB"
        batch-size 8
        seq-len 1024
    }}
    engine "sim" image="{image}" {engine_block}
    workload "chat" {{
        dataset "random" input-len=64 output-len=16 spread=0.1
        api "chat"
        concurrency 2
        requests {requests} warmup=1
        repeats 1
        seed 7
    }}
    hosts {{
        host "box" runtime="docker" gpu="H100-80GB" gpus=1 price-per-gpu-hour=2.0
    }}
    retry attempts=1
}}
"#
        );
        std::fs::write(dir.path().join("s.kdl"), sweep).unwrap();
        Self {
            dir,
            sweep: name.to_string(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.path())
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .env_remove("BENCH_CACHE")
            .args(args);
        c
    }

    fn bench(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn spawn_build(&self) -> Child {
        self.cmd(&["build", "s.kdl"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn status_text(&self) -> String {
        let o = self.bench(&["status", "s.kdl"]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    }

    fn logs(&self, node: &str) -> String {
        let o = self.bench(&["logs", "s.kdl", node]);
        String::from_utf8_lossy(&o.stdout).to_string()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // Never leave a container behind, even when an assertion failed.
        for id in containers(&self.sweep, false) {
            let _ = Command::new("docker").args(["rm", "-f", &id]).output();
        }
    }
}

fn bench_label(p: &Project) -> String {
    let o = p.bench(&["plan", "s.kdl", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "bench")
        .unwrap()["label"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn demo_sweep_runs_every_bench_node_in_a_container_and_leaves_none() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !docker_ready() {
        return;
    }
    sim_image("bench/sim-engine:1");
    let dir = tempfile::tempdir().unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("sweeps/demo.kdl");
    std::fs::copy(&demo, dir.path().join("demo.kdl")).unwrap();
    let run = |args: &[&str]| {
        Command::new(bin())
            .current_dir(dir.path())
            .env("CI", "true")
            .env_remove("BENCH_CACHE")
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["--docker", "build", "demo.kdl", "-j", "4"]);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("48 built") || err.contains(" built"), "{err}");
    assert!(containers("demo", false).is_empty(), "containers left");

    // Every bench node ran in a container of the locally built image.
    let cache = dir.path().join(".bench/cache");
    let mut in_containers = 0;
    for entry in walk(&cache.join("blobs")) {
        let Ok(bytes) = std::fs::read(&entry) else {
            continue;
        };
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && v.get("dialect").is_some()
            && v.get("metrics").is_some()
        {
            let c = &v["container"];
            assert!(
                c["name"].as_str().is_some_and(|n| n.starts_with("bench-")),
                "a run without its container: {v}"
            );
            assert_eq!(c["image"], "bench/sim-engine:1");
            assert!(c["image_id"].as_str().unwrap().starts_with("sha256:"));
            in_containers += 1;
        }
    }
    assert_eq!(in_containers, 48, "48 bench runs, each in a container");

    // The image's digest is in the setup output and the keys: a rerun is a no-op.
    let o = run(&["--docker", "build", "demo.kdl"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(" 0 built"),
        "{}",
        text(&o)
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn an_engine_that_exits_at_start_fails_at_once_with_its_last_lines() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !docker_ready() {
        return;
    }
    sim_image("bench/sim-engine:1");
    // A second --gpu: the simulator's command line refuses it and exits at once.
    let p = Project::new(
        "dock-exits",
        r#"{ arg "--gpu" "H100-80GB" }"#,
        8,
        "bench/sim-engine:1",
    );
    let start = Instant::now();
    let o = p.bench(&["build", "s.kdl"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "it should fail at once, not wait for readiness"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("exited before it was ready"), "{err}");
    let log = p.logs(&bench_label(&p));
    assert!(log.contains("exit code 2"), "{log}");
    assert!(
        log.contains("--gpu"),
        "the engine's own words are shown: {log}"
    );
    assert!(containers(&p.sweep, false).is_empty(), "containers left");
}

#[test]
fn an_engine_never_ready_times_out_and_is_removed() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !docker_ready() {
        return;
    }
    sim_image("bench/sim-engine:1");
    let p = Project::new(
        "dock-timeout",
        r#"ready-timeout="2s" { arg "--ready-after" 3600 }"#,
        8,
        "bench/sim-engine:1",
    );
    let o = p.bench(&["build", "s.kdl"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let status = p.status_text();
    assert!(status.contains("not ready within 2s"), "{status}");
    assert!(containers(&p.sweep, false).is_empty(), "containers left");
}

#[test]
fn ctrl_c_mid_run_stops_and_removes_the_engine() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !docker_ready() {
        return;
    }
    sim_image("bench/sim-engine:1");
    let p = Project::new("dock-sigint", "", 5000, "bench/sim-engine:1");
    let mut build = p.spawn_build();
    wait_for("the engine container", Duration::from_secs(60), || {
        !containers(&p.sweep, true).is_empty()
    });
    // A running build's container is not an orphan.
    let o = p.bench(&["clean", "--containers", "s.kdl"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("its build is running"));
    assert_eq!(containers(&p.sweep, true).len(), 1);
    // Ctrl-C twice: drain, then stop what runs.
    let pid = build.id() as i32;
    unsafe { libc::kill(pid, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc::kill(pid, libc::SIGINT) };
    let status = build.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    wait_for("the container's removal", Duration::from_secs(20), || {
        containers(&p.sweep, false).is_empty()
    });
}

#[test]
fn containers_of_a_killed_build_are_reaped_by_the_next_build_and_by_clean() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !docker_ready() {
        return;
    }
    sim_image("bench/sim-engine:1");
    let p = Project::new("dock-sigkill", "", 5000, "bench/sim-engine:1");
    let kill_everything = |build: &mut Child| {
        // The build and its node processes, at once: nothing gets to clean up.
        unsafe { libc::kill(build.id() as i32, libc::SIGSTOP) };
        let _ = Command::new("pkill")
            .args(["-KILL", "-P", &build.id().to_string()])
            .status();
        unsafe { libc::kill(build.id() as i32, libc::SIGKILL) };
        let _ = build.wait();
    };

    let mut build = p.spawn_build();
    wait_for("the engine container", Duration::from_secs(60), || {
        !containers(&p.sweep, true).is_empty()
    });
    kill_everything(&mut build);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        containers(&p.sweep, false).len(),
        1,
        "an orphan is left when everything is killed"
    );
    let o = p.bench(&["clean", "--containers", "s.kdl", "--dry-run"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("would remove"));
    assert_eq!(
        containers(&p.sweep, false).len(),
        1,
        "a dry run removes nothing"
    );
    let o = p.bench(&["clean", "--containers", "s.kdl"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(containers(&p.sweep, false).is_empty(), "{}", text(&o));

    // Again, and this time the next build reaps it as it starts.
    let mut build = p.spawn_build();
    wait_for("the engine container", Duration::from_secs(60), || {
        !containers(&p.sweep, true).is_empty()
    });
    kill_everything(&mut build);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(containers(&p.sweep, false).len(), 1);
    let mut next = p.spawn_build();
    wait_for("the orphan's removal", Duration::from_secs(30), || {
        let ids = containers(&p.sweep, false);
        // The new build's own container may already run; the orphan must be gone.
        ids.len() <= 1
            && Command::new("docker")
                .args([
                    "ps",
                    "-aq",
                    "--filter",
                    &format!("label=bench.sweep={}", p.sweep),
                    "--filter",
                    "status=exited",
                ])
                .output()
                .is_ok_and(|o| o.stdout.is_empty())
    });
    unsafe { libc::kill(next.id() as i32, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(next.id() as i32, libc::SIGINT) };
    let _ = next.wait();
    wait_for("no containers", Duration::from_secs(20), || {
        containers(&p.sweep, false).is_empty()
    });
}

#[test]
fn a_new_image_under_the_same_tag_reruns_the_benches() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !docker_ready() {
        return;
    }
    let tag = "bench/sim-engine:retag-test";
    sim_image(tag);
    let p = Project::new("dock-retag", "", 8, tag);
    let o = p.bench(&["build", "s.kdl"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = p.bench(&["plan", "s.kdl"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("6 cached, 0 will run"),
        "{}",
        text(&o)
    );
    // The same tag, a different image.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {tag}\nLABEL bench.test.rebuilt=\"yes\"\n"),
    )
    .unwrap();
    let o = Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = p.bench(&["plan", "s.kdl"]);
    let plan = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(plan.contains("1 cached, 5 will run"), "{plan}");
    let o = p.bench(&["build", "s.kdl"]);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    // Only the download (which knows nothing of images) is reused.
    assert!(
        err.contains(" 1 cached"),
        "setup, bench and downstream rerun: {err}"
    );
    assert!(containers(&p.sweep, false).is_empty());
}

#[test]
fn hosts_lists_each_host_and_its_gpus_or_says_it_has_none() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !docker_ready() {
        return;
    }
    let p = Project::new("dock-hosts", "", 8, "bench/sim-engine:1");
    let o = p.bench(&["hosts", "s.kdl"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("box  docker  1 × H100-80GB"), "{out}");
    assert!(out.contains("Docker answers"), "{out}");
    // This machine may or may not have a GPU; either way it is said plainly.
    assert!(
        out.contains("GPU 0:") || out.contains("no NVIDIA GPU found"),
        "{out}"
    );
    let o = p.bench(&["hosts", "s.kdl", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["runtime"], "docker");
    assert_eq!(v["reachable"], true);
}
