//! Fetch throughput through the whole client path (hf-hub ranged chunks, several files at
//! once, checksum verification, HF cache layout) from a Hub-compatible server on loopback,
//! and the no-change look that a rebuild does.
//!
//! ```sh
//! cargo run --release -p bench-models --example fetch-bench -- [SHARDS] [MB_PER_SHARD]   # e.g. 4 256
//! ```

use std::time::Instant;

use bench_models::hub::{self, HubConfig, Progress, Verified};
use bench_testhub::TestHub;

fn main() {
    let mut args = std::env::args().skip(1);
    let shards: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(4);
    let mb: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(256);
    let hub = TestHub::start();
    let mut files: Vec<(String, Vec<u8>)> = vec![("config.json".into(), b"{}".to_vec())];
    for i in 0..shards {
        let mut x = 0x9e3779b97f4a7c15u64 ^ i as u64;
        let data: Vec<u8> = (0..mb << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        files.push((format!("model-{i:05}.safetensors"), data));
    }
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    hub.commit("bench/fetch", "main", &refs);
    drop(refs);
    let home = tempfile::tempdir().unwrap();
    let mut cfg = HubConfig::from_env();
    cfg.endpoint = hub.endpoint();
    cfg.cache_dir = home.path().join("hub");
    cfg.token = None;
    cfg.offline = false;
    // As the download node runs it: one network thread.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let total: u64 = (shards * (mb << 20)) as u64;
    let snap = rt
        .block_on(hub::resolve(&cfg, "bench/fetch", "main"))
        .unwrap();
    let sel = snap.select(&["*.safetensors", "config.json"]).unwrap();
    let mut v = Verified::default();
    let mut timed_fetch = || {
        let t0 = Instant::now();
        let (_, r) = rt
            .block_on(hub::fetch(
                &cfg,
                &snap,
                &sel,
                &mut v,
                &Progress::new(indicatif::ProgressBar::hidden()),
            ))
            .unwrap();
        (r, t0.elapsed().as_secs_f64())
    };
    let (r, s) = timed_fetch();
    println!(
        "fetched {} files, {:.2} GB in {s:.2} s: {:.0} MB/s (download + sha256 verification, server and client on the same {} cores)",
        r.fetched.len(),
        total as f64 / 1e9,
        total as f64 / 1e6 / s,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let (r, s) = timed_fetch();
    println!(
        "again: {} fetched, {} reused in {:.2} ms (verified blobs are only stat-ed)",
        r.fetched.len(),
        r.reused.len(),
        s * 1e3
    );
}
