//! Engine runtimes end to end: the default `process` runtime runs a real engine's own program
//! (here a stand-in `vllm` on PATH that serves through the simulated engine) as a child of the
//! attempt, on the GPUs the node was given, and stops it after the run; the `apptainer`
//! runtime runs it in its image (through a stand-in `apptainer`); an engine that is not
//! installed fails at once, naming the program and the host.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bench"))
}

const SWEEP: &str = r#"sweep "runtimes" {
    model "tiny" path="./tiny"
    matrix {
        engine "vllm"
        quantization "fp16"
        gpu "H100-80GB"
        batch-size 8
        seq-len 2048
    }
    workload "w" {
        dataset "random" input-len=64 output-len=16
        api "chat"
        concurrency 2
        requests 8
        seed 1
    }
    hosts {
        host "box" gpu="H100-80GB" gpus=2
    }
}
"#;

/// A `vllm` that serves through `bench sim-engine`, recording its GPUs and its pid.
const FAKE_VLLM: &str = r#"#!/bin/sh
echo "gpus=$CUDA_VISIBLE_DEVICES pid=$$ args=$*" >> "$FAKE_ENGINE_LOG"
port=; name=
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift ;;
    --served-model-name) name=$2; shift ;;
  esac
  shift
done
exec "$BENCH_BIN" sim-engine --host 127.0.0.1 --port "$port" --model "$name" --arch llama-3.1-8b
"#;

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.kdl"), SWEEP).unwrap();
        common::tiny_model(dir.path());
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn install_fake_vllm(&self) {
        let p = self.path().join("bin/vllm");
        std::fs::write(&p, FAKE_VLLM).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn install_serve_mine(&self) {
        let p = self.path().join("bin/serve-mine");
        std::fs::write(&p, SERVE_MINE).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        let path = format!(
            "{}:{}",
            self.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new(bin())
            .current_dir(self.path())
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .env("PATH", path)
            .env("BENCH_BIN", bin())
            .env("FAKE_ENGINE_LOG", self.path().join("engine.log"))
            .env_remove("BENCH_CACHE")
            .env_remove("HF_HUB_OFFLINE")
            .args(args)
            .output()
            .unwrap()
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks whether the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[test]
fn a_real_engine_runs_as_a_process_on_its_gpus_and_is_stopped_after_the_run() {
    let p = Project::new();
    p.install_fake_vllm();
    let plan = p.run(&["plan", "s.kdl", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("plan json");
    let bench = plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "bench")
        .expect("a bench node");
    let label = bench["label"].as_str().unwrap();
    assert!(
        label.contains("/vllm/"),
        "a real engine, not simulated: {label}"
    );

    let o = p.run(&["build", "s.kdl"]);
    assert!(o.status.success(), "{}", text(&o));
    let log = std::fs::read_to_string(p.path().join("engine.log")).expect("the engine ran");
    let line = log.lines().next().unwrap();
    assert!(
        line.starts_with("gpus=0 "),
        "on the GPU it was given: {line}"
    );
    assert!(
        line.contains("--served-model-name tiny") && line.contains("--tensor-parallel-size 1"),
        "the plugin's arguments: {line}"
    );
    assert!(
        line.contains(&format!("--model {}", p.path().join(".bench").display()))
            || line.contains("--model /"),
        "the verified weights by path: {line}"
    );
    stopped_and_measured(&p, line);
}

/// The engine's process (its `pid=` in the log line) is gone, and the run measured all 8
/// requests on a real (not simulated) engine. Returns the results row.
fn stopped_and_measured(p: &Project, line: &str) -> serde_json::Value {
    let pid: i32 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("pid="))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(!alive(pid), "the engine process is stopped after the run");
    let r = p.run(&["results", "s.kdl", "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&r.stdout).expect("results json");
    let row = r["rows"][0].clone();
    assert_eq!(row["aggregate"]["completed"], 8, "{row}");
    assert_eq!(row["aggregate"]["simulated"], false);
    row
}

/// An `apptainer` that logs its arguments and runs the command after the image, on this
/// machine as it is: no Apptainer is packaged for this Debian, so what is checked is what
/// bench asks of it, and that the engine it starts is measured and stopped.
const FAKE_APPTAINER: &str = r#"#!/bin/sh
echo "$*" >> "$FAKE_ENGINE_LOG.apptainer"
[ "$1" = exec ] || exit 2
shift
while [ $# -gt 0 ]; do
  case "$1" in
    --nv) shift ;;
    --bind) shift 2 ;;
    *) break ;;
  esac
done
shift
exec "$@"
"#;

#[test]
fn an_engine_in_its_image_through_apptainer_runs_on_its_gpus_with_the_weights_bound() {
    let p = Project::new();
    std::fs::write(
        p.path().join("s.kdl"),
        SWEEP.replace(
            r#"host "box" gpu="H100-80GB" gpus=2"#,
            r#"host "box" runtime="apptainer" gpu="H100-80GB" gpus=2"#,
        ),
    )
    .unwrap();
    p.install_fake_vllm();
    let fake = p.path().join("bin/apptainer");
    std::fs::write(&fake, FAKE_APPTAINER).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = p.run(&["build", "s.kdl"]);
    assert!(o.status.success(), "{}", text(&o));
    let asked = std::fs::read_to_string(p.path().join("engine.log.apptainer")).unwrap();
    let weights = std::fs::canonicalize(p.path().join("tiny")).unwrap();
    let words: Vec<&str> = asked.split_whitespace().collect();
    assert_eq!(&words[..2], ["exec", "--nv"], "{asked}");
    assert_eq!(
        words[2..4],
        ["--bind", &format!("{}:/models/tiny:ro", weights.display())],
        "the weights bound read-only where the engine reads them: {asked}"
    );
    assert!(
        words[4].starts_with("docker://vllm/vllm-openai:"),
        "the engine's image: {asked}"
    );
    assert_eq!(&words[5..7], ["vllm", "serve"], "{asked}");
    let log = std::fs::read_to_string(p.path().join("engine.log")).unwrap();
    let line = log.lines().next().unwrap();
    assert!(
        line.starts_with("gpus=0 "),
        "on the GPU it was given: {line}"
    );
    assert!(line.contains("--model /models/tiny"), "{line}");
    stopped_and_measured(&p, line);
}

#[test]
fn an_engine_that_is_not_installed_fails_at_once_naming_the_program_and_the_host() {
    let p = Project::new();
    let o = p.run(&["build", "s.kdl"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("`vllm` is not installed on host box (not on PATH)"),
        "{t}"
    );
    assert!(
        !t.contains("after attempt 1"),
        "a missing program is permanent: no retry: {t}"
    );
}

/// A server bench has no plugin for, declared by its command line: `serve-mine` logs what
/// it was given and serves through the simulated engine.
const SERVE_MINE: &str = r#"#!/bin/sh
weights=$1; shift
echo "gpus=$CUDA_VISIBLE_DEVICES pid=$$ weights=$weights args=$*" >> "$FAKE_ENGINE_LOG"
exec "$BENCH_BIN" sim-engine "$@"
"#;

#[test]
fn an_engine_declared_by_its_command_line_runs_as_a_process_with_its_values_filled_in() {
    let p = Project::new();
    p.install_serve_mine();
    let sweep = SWEEP.replace("engine \"vllm\"", "engine \"mine\"").replace(
        "    hosts {",
        r#"    engine "mine" command="serve-mine {model} --host {host} --port {port} --model {served-model-name} --arch llama-3.1-8b --max-batch {batch-size} --max-seq-len {seq-len}" api="openai" health="/health"
    hosts {"#,
    );
    std::fs::write(p.path().join("s.kdl"), &sweep).unwrap();

    let o = p.run(&["build", "s.kdl"]);
    assert!(o.status.success(), "{}", text(&o));
    let log = std::fs::read_to_string(p.path().join("engine.log")).expect("the engine ran");
    let line = log.lines().next().unwrap();
    assert!(
        line.starts_with("gpus=0 "),
        "on the GPU it was given: {line}"
    );
    assert!(
        line.contains(&format!("weights={}", p.path().join(".bench").display()))
            || line.contains("weights=/"),
        "{{model}} is the verified weights' path: {line}"
    );
    assert!(
        line.contains("--host 127.0.0.1 --port ")
            && line.contains("--model tiny --arch llama-3.1-8b --max-batch 8 --max-seq-len 2048"),
        "axis values and the attempt's own filled in: {line}"
    );
    let row = stopped_and_measured(&p, line);
    assert_eq!(row["engine"], "mine", "{row}");

    // Cached: nothing runs again. An edited command is a new engine: its nodes run again.
    let o = p.run(&["build", "s.kdl"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(p.path().join("engine.log"))
            .unwrap()
            .lines()
            .count(),
        1
    );
    std::fs::write(
        p.path().join("s.kdl"),
        sweep.replace(
            "--max-batch {batch-size}",
            "--max-batch {batch-size} --seed 3",
        ),
    )
    .unwrap();
    let o = p.run(&["build", "s.kdl"]);
    let log = std::fs::read_to_string(p.path().join("engine.log")).unwrap();
    assert_eq!(log.lines().count(), 2, "{}\n{log}", text(&o));
}

/// A search works through whatever serves a configuration: here an engine declared by its
/// command line, each proposal a process of its own.
#[test]
fn a_search_measures_its_budget_of_an_engine_declared_by_its_command_line() {
    let p = Project::new();
    p.install_serve_mine();
    let sweep = SWEEP
        .replace("engine \"vllm\"", "engine \"mine\"")
        .replace("batch-size 8", "batch-size 4 8 16 32")
        .replace("concurrency 2", "concurrency 1 2")
        .replace(
            "    hosts {",
            r#"    engine "mine" command="serve-mine {model} --host {host} --port {port} --model {served-model-name} --arch llama-3.1-8b --max-batch {batch-size}" api="openai"
    search {
        budget 3
        batch 2
    }
    hosts {"#,
        );
    std::fs::write(p.path().join("s.kdl"), &sweep).unwrap();

    let o = p.run(&["build", "s.kdl"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o)
            .contains("its budget is spent; 3 of 8 configurations × load points measured (37.5 %)"),
        "{}",
        text(&o)
    );
    let o = p.run(&["results", "s.kdl", "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{r}");
    assert!(rows.iter().all(|x| x["engine"] == "mine"), "{r}");
    assert_eq!(r["missing"], 5, "{r}");
    // One engine process per measured configuration × load point, each with its batch size.
    let log = std::fs::read_to_string(p.path().join("engine.log")).unwrap();
    assert_eq!(log.lines().count(), 3, "{log}");
    for row in rows {
        let label = row["label"].as_str().unwrap();
        let batch = label.split('/').find_map(|s| s.strip_prefix('b')).unwrap();
        assert!(
            log.contains(&format!("--max-batch {batch}")),
            "{label}:\n{log}"
        );
    }
}
