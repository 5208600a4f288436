//! `bench estimate`'s numbers: every valid configuration at every load point, through the
//! roofline in closed form.

use bench_plan::PlanOptions;
use bench_plan::dag::config_label;
use bench_sweep::Source;

const SWEEP: &str = r#"sweep "t" {
    model "meta-llama/Llama-3.1-8B-Instruct" revision="main"
    model "meta-llama/Llama-3.1-70B-Instruct" revision="main"
    matrix {
        engine "vllm"
        quantization "fp16" "awq"
        gpu "H100-80GB" "A100-80GB"
        gpus 1 4
        batch-size 8 64
        seq-len 4096
    }
    workload "chat" {
        dataset "random" input-len=1024 output-len=128
        concurrency 1 8 32
        rate 0.5 1000
        requests 100
    }
    hosts {
        host "h" gpu="H100-80GB" gpus=4 price-per-gpu-hour=2.5
        host "a" gpu="A100-80GB" gpus=4
    }
}
"#;

#[test]
fn every_valid_configuration_at_every_load_point() {
    let source = Source::new("sweep.kdl", SWEEP);
    let parsed = bench_sweep::parse(&source).unwrap();
    let registry = bench_engines::builtin();
    let plan =
        bench_plan::plan(&parsed.sweep, &source, &registry, &PlanOptions::default()).unwrap();
    let est = plan.estimates();
    let (r, x) = (&plan.resolved, &plan.expansion);
    assert!(
        !x.pruned.is_empty(),
        "the 70B model in fp16 on one GPU does not fit"
    );
    assert_eq!(est.len(), x.valid.len() * 5);
    let find = |label: &str, load: u16| {
        est.iter()
            .find(|e| config_label(r, x, &x.valid[e.config as usize]) == label && e.load == load)
            .unwrap_or_else(|| panic!("no estimate for {label} at load {load}"))
    };
    let small = "meta-llama/Llama-3.1-8B-Instruct/vllm/fp16/auto/auto/H100-80GBx1/b64/s4096/chat";
    let (c1, c8, c32) = (find(small, 0), find(small, 1), find(small, 2));
    // Batching: more throughput, slower tokens.
    assert!(c8.output_throughput > 4.0 * c1.output_throughput);
    assert!(c32.output_throughput > c8.output_throughput);
    assert!(c32.tpot_ms > c1.tpot_ms && c32.ttft_ms > c1.ttft_ms);
    // Prices only where a host says one; cost falls as throughput rises.
    let c = |e: &bench_plan::Estimate| e.cost_per_mtok.unwrap();
    assert!(c(c32) < c(c1));
    let a100 = find(
        "meta-llama/Llama-3.1-8B-Instruct/vllm/fp16/auto/auto/A100-80GBx1/b64/s4096/chat",
        0,
    );
    assert_eq!(a100.cost_per_mtok, None);
    assert!(a100.tpot_ms > c1.tpot_ms, "slower memory, slower decode");
    // An open-loop rate: served at 0.5/s, saturated at 1000/s.
    let (slow, flood) = (find(small, 3), find(small, 4));
    assert!(!slow.saturated && (slow.request_throughput - 0.5).abs() < 1e-9);
    assert!(flood.saturated && flood.request_throughput < 1000.0);
    // Memory: the configuration's estimate, larger with a larger batch.
    let b8 = find(
        "meta-llama/Llama-3.1-8B-Instruct/vllm/fp16/auto/auto/H100-80GBx1/b8/s4096/chat",
        0,
    );
    assert!(c1.gpu_memory_gb > b8.gpu_memory_gb && b8.gpu_memory_gb > 15.0);
    // Quantized weights decode faster (fewer bytes a step).
    let awq = find(
        "meta-llama/Llama-3.1-8B-Instruct/vllm/awq/auto/auto/H100-80GBx1/b64/s4096/chat",
        0,
    );
    assert!(awq.tpot_ms < 0.6 * c1.tpot_ms);
    assert!(
        est.iter()
            .all(|e| e.ttft_ms.is_finite() && e.ttft_ms > 0.0 && !e.input_assumed)
    );
    assert_eq!(c1.metric("ttft-p95"), Some(c1.ttft_ms));
    assert_eq!(c1.metric("output-throughput"), Some(c1.output_throughput));
}
