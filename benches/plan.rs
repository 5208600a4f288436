//! Planning speed: parse + expand + validate + DAG + keys.
//!
//! * `full-matrix`: `sweeps/full-matrix.kdl` (target: under 300 ms on a 2-core machine).
//! * `generated-100k`: a generated sweep of 100,000 valid configurations.
//!
//! Run: `cargo bench --bench plan`.

use std::hint::black_box;

use bench_plan::PlanOptions;
use bench_sweep::Source;
use criterion::{Criterion, criterion_group, criterion_main};

fn plan_nodes(source: &Source) -> (usize, usize) {
    let parsed = bench_sweep::parse(source).expect("parses");
    let registry = bench_engines::builtin();
    let plan =
        bench_plan::plan(&parsed.sweep, source, &registry, &PlanOptions::default()).expect("plans");
    (plan.expansion.valid.len(), plan.graph.node_count())
}

/// 10 models × 4 quantizations × 5 GPUs × 5 batch sizes × 4 sequence lengths × 5 values of
/// an engine argument × 5 workloads on the sim engine: 100,000 configurations, all valid.
pub fn generated_100k() -> String {
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
        "microsoft/Phi-3-mini-4k-instruct",
    ];
    let mut s = String::from("sweep \"generated\" {\n");
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
        engine-arg "--max-num-batched-tokens" 1024 2048 4096 8192 16384
    }
"#,
    );
    for w in 0..5 {
        s.push_str(&format!(
            "    workload \"w{w}\" {{\n        dataset \"random\" input-len={} output-len=64\n        concurrency 8\n        requests 200\n    }}\n",
            64 + 32 * w
        ));
    }
    s.push_str("}\n");
    s
}

fn benches(c: &mut Criterion) {
    let full = Source::new(
        "sweeps/full-matrix.kdl",
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sweeps/full-matrix.kdl"
        ))
        .expect("full matrix"),
    );
    let (valid, nodes) = plan_nodes(&full);
    eprintln!("full-matrix: {valid} valid configurations, {nodes} nodes");
    let generated = Source::new("generated.kdl", generated_100k());
    let (valid, nodes) = plan_nodes(&generated);
    eprintln!("generated-100k: {valid} valid configurations, {nodes} nodes");
    assert_eq!(valid, 100_000);

    let mut g = c.benchmark_group("plan");
    g.sample_size(10);
    g.bench_function("full-matrix", |b| b.iter(|| black_box(plan_nodes(&full))));
    g.bench_function("generated-100k", |b| {
        b.iter(|| black_box(plan_nodes(&generated)))
    });
    g.finish();
}

criterion_group!(plan, benches);
criterion_main!(plan);
