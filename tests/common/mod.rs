//! What the integration tests share: a project directory with a sweep, the `bench` binary
//! run in it, and outputs shown whole when an assertion fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bench"))
}

/// A directory holding `s.kdl`; its cache and results store go beside it.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.kdl"), text).unwrap();
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, text: &str) {
        std::fs::write(self.path().join("s.kdl"), text).unwrap();
    }

    /// `bench ARGS` in the project, in CI's plain line output, with no cache or engine
    /// settings inherited from the caller.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.path())
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .env_remove("BENCH_CACHE")
            .env_remove("BENCH_SIM_ENGINE")
            .env_remove("BENCH_REMOTE_CACHE")
            .args(args);
        c
    }

    pub fn bench(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
}

/// A small local model (`DIR/tiny`: a config, a tokenizer, safetensors weights) for real,
/// not simulated, engines.
pub fn tiny_model(dir: &Path) {
    let model = dir.join("tiny");
    std::fs::create_dir_all(&model).unwrap();
    for (name, data) in bench_testhub::fixtures::model_files(10_000) {
        std::fs::write(model.join(name), data).unwrap();
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The counts of the first stderr line that starts with `prefix`, by the word after each
/// number (`build succeeded in 1.2s: 9 nodes, 0 cached, 9 built, …` → nodes 9, cached 0,
/// built 9, …).
pub fn counts(o: &Output, prefix: &str) -> std::collections::HashMap<String, u64> {
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with `{prefix}`:\n{}", text(o)));
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .filter_map(|w| {
            let n = w[0].replace(',', "").parse().ok()?;
            let name = w[1].trim_end_matches([',', ';', ':']);
            Some((name.to_string(), n))
        })
        .collect()
}

/// One simulated configuration at one load point, with an optimize block: what the CI-mode
/// and regression-gate tests build (`seed` reseeds the workload and the simulator).
pub fn gate_sweep(seed: u32, requests: u32) -> String {
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
        requests {requests} warmup=2
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
