//! The whole `bench build` process on a fully cached sweep of 10,815 nodes (target: under
//! 300 ms, a ninja-class no-op): plan, verify every committed output, decide nothing runs.
//!
//! Run: `cargo bench --bench build`. The first (uncached) build that fills the cache is
//! done once in setup with the test actions and the in-process executor.

use std::path::Path;
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};

/// 9 models × 4 quantizations × 5 GPUs × 5 batch sizes × 4 sequence lengths on the sim
/// engine: 3,600 configurations, 10,815 nodes.
fn sweep() -> String {
    let models = [
        "Qwen/Qwen2.5-0.5B-Instruct",
        "Qwen/Qwen2.5-1.5B-Instruct",
        "Qwen/Qwen2.5-3B-Instruct",
        "Qwen/Qwen2.5-7B-Instruct",
        "meta-llama/Llama-3.2-1B-Instruct",
        "meta-llama/Llama-3.2-3B-Instruct",
        "meta-llama/Llama-3.1-8B-Instruct",
        "mistralai/Mistral-7B-Instruct-v0.3",
        "Qwen/Qwen3-8B",
    ];
    let mut s = String::from("sweep \"cached-10k\" {\n");
    for m in models {
        s.push_str(&format!("    model \"{m}\" revision=\"main\"\n"));
    }
    s.push_str(
        r#"    matrix {
        engine "sim"
        quantization "fp16" "int8" "int4" "awq"
        gpu "A100-80GB" "H100-80GB" "H100-NVL-94GB" "H200-141GB" "B200-180GB"
        batch-size 1 2 4 8 16
        seq-len 512 1024 2048 4096
    }
    workload "w" {
        dataset "random" input-len=128 output-len=64
        concurrency 8
        requests 100
    }
}
"#,
    );
    s
}

fn build(dir: &Path, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bench"))
        .current_dir(dir)
        .env("CI", "true")
        .env_remove("BENCH_CACHE")
        .args(["build", "sweep.kdl", "--actions", "test", "-q"])
        .args(extra)
        .output()
        .expect("bench runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("sweep.kdl"), sweep()).expect("sweep");
    let first = build(dir.path(), &["--executor", "in-process", "-j", "8"]);
    eprintln!("filled the cache: {}", first.trim());
    let noop = build(dir.path(), &[]);
    assert!(
        noop.contains("10,815 nodes, 10,815 cached, 0 built"),
        "{noop}"
    );
    let mut g = c.benchmark_group("build");
    g.sample_size(20);
    g.bench_function("no-op-10815-nodes", |b| b.iter(|| build(dir.path(), &[])));
    g.finish();
}

criterion_group!(build_benches, benches);
criterion_main!(build_benches);
