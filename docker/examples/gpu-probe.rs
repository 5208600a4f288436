//! The GPU path on a machine with GPUs, without Docker: discovery, the device request a
//! bench node's container would carry, and NVML telemetry sampled for a few seconds.
//!
//! ```sh
//! cargo run -p bench-docker --example gpu-probe -- [SECONDS] [GPU_IDS]   # e.g. 5 0
//! ```

use std::time::Duration;

use bench_docker::gpus::{Sampler, local};

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let ids: Vec<u32> = args
        .next()
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![0]);
    let d = local();
    println!(
        "discovery: {}",
        serde_json::to_string_pretty(&d).unwrap_or_default()
    );
    let spec = bench_engines::ContainerSpec {
        image: "vllm/vllm-openai:v0.9.2".into(),
        entrypoint: None,
        args: vec![],
        env: Default::default(),
        pass_env: vec![],
        port: 8000,
        gpus: ids.len() as u32,
        shm_size: 16 << 30,
        ipc_host: ids.len() > 1,
        volumes: vec![],
        health_path: "/health".into(),
    };
    let run = bench_docker::EngineRun {
        spec: &spec,
        name: "probe".into(),
        labels: Default::default(),
        gpu_ids: &ids,
        ready_timeout: Duration::from_secs(1),
        stop_grace: Duration::from_secs(1),
    };
    let body = bench_docker::container_body(&run, "127.0.0.1", &|_| None);
    println!(
        "device request: {}",
        serde_json::to_string(&body.host_config.and_then(|h| h.device_requests))
            .unwrap_or_default()
    );
    match Sampler::start(&ids, Duration::from_millis(500)) {
        None => println!("telemetry: NVML not available for GPUs {ids:?}"),
        Some(s) => {
            std::thread::sleep(Duration::from_secs_f64(secs));
            let t = s.finish().expect("telemetry");
            println!(
                "telemetry: {} samples over {:.1} s, energy {:.1} J",
                t.samples.len(),
                t.seconds,
                t.energy_j
            );
            for g in &t.gpus {
                println!(
                    "  GPU {} {}: mem max {} MiB, util mean {:.1} %, power mean {:.1} W (max {:.1}), energy {:.1} J",
                    g.gpu,
                    g.name,
                    g.memory_used_mib_max,
                    g.utilization_pct_mean,
                    g.power_w_mean,
                    g.power_w_max,
                    g.energy_j
                );
            }
        }
    }
}
