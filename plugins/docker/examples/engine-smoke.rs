//! Runs one sim engine container through the executor's code path, on the local Docker
//! Engine, and removes it: `engine-smoke PROGRAM` where PROGRAM is a `bench-sim-engine`
//! binary. A development aid; the tests in the bench crate cover the same path end to end.

use std::path::PathBuf;
use std::time::Duration;

use bench_docker::images::ImageFile;
use bench_docker::{DockerHost, Endpoint, EngineRun, Labels};

fn main() {
    let program = PathBuf::from(std::env::args().nth(1).expect("PROGRAM"));
    let out = std::process::Command::new("ldd")
        .arg(&program)
        .output()
        .unwrap();
    let mut files = vec![ImageFile {
        path_in_image: "/bench-sim-engine".into(),
        source: program.clone(),
    }];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let p = match line.split_once("=>") {
            Some((_, r)) => r.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = p.filter(|p| p.starts_with('/')) {
            files.push(ImageFile {
                path_in_image: p.into(),
                source: std::fs::canonicalize(p).unwrap(),
            });
        }
    }
    let host = DockerHost::connect(&Endpoint::local()).unwrap();
    let img = host
        .build_scratch_image(
            "bench/sim-engine:smoke",
            &files,
            &["/bench-sim-engine".to_string()],
            &[],
            &mut |l| println!("  {l}"),
        )
        .unwrap();
    println!("image {}", img.id);
    let spec = bench_engines::ContainerSpec {
        image: img.id.clone(),
        args: "--host 0.0.0.0 --port 8000 --model m --arch llama-3.1-8b"
            .split(' ')
            .map(String::from)
            .collect(),
        env: Default::default(),
        pass_env: vec![],
        port: 8000,
        gpus: 0,
        shm_size: 64 << 20,
        ipc_host: false,
        volumes: vec![],
        health_path: "/health",
    };
    let run = EngineRun {
        spec: &spec,
        name: format!("bench-smoke-{}", std::process::id()),
        labels: Labels {
            node: "smoke".into(),
            label: "smoke".into(),
            sweep: "smoke".into(),
            build: "smoke".into(),
            cache: "smoke:/".into(),
        },
        gpu_ids: &[],
        ready_timeout: Duration::from_secs(30),
        stop_grace: Duration::from_secs(5),
    };
    let e = host.start_engine(&run).unwrap();
    println!("ready at {}", e.url);
    e.stop().unwrap();
    println!(
        "left: {}",
        host.bench_containers()
            .unwrap()
            .iter()
            .filter(|c| c.label("bench.sweep") == "smoke")
            .count()
    );
}
