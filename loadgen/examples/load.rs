//! The load generator alone, closed loop against a running server, for measuring its own
//! request-rate ceiling in any build profile (this crate builds without the results store:
//! `cargo run --release -p bench-loadgen --example load -- URL [CONCURRENCY] [REQUESTS]
//! [OUTPUT_TOKENS]`). Prints requests/s and TTFT p50/p99 as `bench load --json` computes them.

use std::time::Duration;

use bench_loadgen::{Dialect, Load, LoadConfig, Slo, Stop, compute, dataset, run_blocking};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).expect("URL").clone();
    let arg = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (concurrency, requests, output) = (arg(2, 64), arg(3, 4000), arg(4, 32));
    let warmup = concurrency;
    let prompts = dataset::random((requests + warmup) as usize, 8, output as u32, 0.0, 1);
    let cfg = LoadConfig {
        url,
        dialect: Dialect::OpenaiCompletions,
        model: "sim-model".into(),
        load: Load::Concurrency {
            concurrency: concurrency as u32,
        },
        stop: Stop::Requests(requests),
        warmup,
        ignore_eos: true,
        timeout: Duration::from_secs(60),
        seed: 1,
        simulated: false,
        tokenizer: None,
    };
    let records = run_blocking(cfg, prompts, None).expect("run");
    let m = compute(&records, &Slo::default(), &[50.0, 99.0], true);
    println!(
        "{{\"rps\": {:.0}, \"p50\": {:.3}, \"p99\": {:.3}, \"failed\": {}}}",
        m.request_throughput,
        m.ttft.percentile(50.0).unwrap_or(f64::NAN),
        m.ttft.percentile(99.0).unwrap_or(f64::NAN),
        m.failed
    );
}
