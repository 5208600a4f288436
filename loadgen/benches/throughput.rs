//! The load generator against the simulated engine on loopback (both on this machine):
//!
//! 1. sustained request rate: closed loop, concurrency 64, 64 output tokens per request, the
//!    engine emitting tokens as fast as it can (fixed mode, zero latencies);
//! 2. TTFT error at half that rate: open loop at rate / 2 against TTFT 5 ms, TPOT 0.05 ms;
//!    error = measured TTFT − 5 ms, reported at p50 and p99.
//!
//! Targets: ≥ 2,000 requests/s; p99 TTFT error under 1 ms.
//! Run: `cargo bench -p bench-loadgen --bench throughput`.

use std::time::Duration;

use bench_catalog::Quantization;
use bench_loadgen::{Dialect, Load, LoadConfig, Slo, Stop, compute, dataset, run};
use bench_sim::{EngineConfig, Mode, ServerConfig};

fn sim(ttft: Duration, tpot: Duration) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            let engine = EngineConfig {
                mode: Mode::Fixed { ttft, tpot },
                max_batch: 1,
                noise: 0.0,
                seed: 0,
                time_scale: 1.0,
            };
            let server = ServerConfig {
                model: "m".into(),
                max_seq_len: 4096,
                max_batch: 1024,
                quantization: Quantization::Fp16,
                seed: 0,
                ready_at: None,
                usage: true,
            };
            bench_sim::serve(listener, engine, server)
                .await
                .expect("serve");
        });
    });
    format!("http://{}", rx.recv().expect("address"))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let prompts = dataset::random(256, 32, 64, 0.0, 1);
    let cfg = |url: &str, load: Load, n: u64| LoadConfig {
        url: url.into(),
        dialect: Dialect::OpenaiCompletions,
        model: "m".into(),
        load,
        stop: Stop::Requests(n),
        warmup: 128,
        ignore_eos: true,
        timeout: Duration::from_secs(60),
        seed: 1,
        simulated: false,
        tokenizer: None,
    };

    let fast = sim(Duration::ZERO, Duration::ZERO);
    let records = rt
        .block_on(run(
            cfg(&fast, Load::Concurrency { concurrency: 64 }, 6000),
            prompts.clone(),
            None,
        ))
        .expect("run");
    let m = compute(&records, &Slo::default(), &[50.0, 99.0], true);
    assert_eq!(m.failed, 0, "{:?}", m.errors);
    let rate = m.request_throughput;
    println!(
        "sustained: {rate:.0} requests/s ({:.0} output tokens/s) at concurrency 64, 64 tokens per request",
        m.output_throughput
    );

    let timed = sim(Duration::from_millis(5), Duration::from_micros(50));
    let half = rate / 2.0;
    let n = (half * 5.0) as u64;
    let records = rt
        .block_on(run(
            cfg(
                &timed,
                Load::Rate {
                    rate: half,
                    burstiness: 1.0,
                    max_concurrency: None,
                },
                n,
            ),
            prompts,
            None,
        ))
        .expect("run");
    let m = compute(&records, &Slo::default(), &[50.0, 99.0], true);
    assert_eq!(m.failed, 0, "{:?}", m.errors);
    let err = |p: f64| m.ttft.percentile(p).unwrap_or(f64::NAN) - 5.0;
    println!(
        "TTFT error at {half:.0} requests/s (open loop, {n} requests): mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms",
        m.ttft.mean - 5.0,
        err(50.0),
        err(99.0)
    );
}
