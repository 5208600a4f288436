//! Hashing speed: a model directory of SIZE_GB (shards of 2 GB of random-ish bytes) is
//! written under DIR, hashed once from the page cache (throughput), then looked at again
//! with the stat cache (the no-change rebuild). Run:
//! `cargo run --release -p bench-models --example hash-bench -- DIR [SIZE_GB]`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use bench_models::{DEFAULT_PATTERNS, StatCache, hash_dir};

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("DIR"));
    let gb: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), b"{}").unwrap();
    let shard = 2u64 << 30;
    let shards = (gb << 30).div_ceil(shard);
    let mut block = vec![0u8; 8 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in block.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b.copy_from_slice(&x.to_le_bytes());
    }
    for i in 0..shards {
        let p = dir.join(format!("model-{:05}-of-{shards:05}.safetensors", i + 1));
        if std::fs::metadata(&p).is_ok_and(|m| m.len() == shard) {
            continue;
        }
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        for j in 0..shard / block.len() as u64 {
            block[0..8].copy_from_slice(&(i * 1000 + j).to_le_bytes());
            f.write_all(&block).unwrap();
        }
    }
    let bytes = shards * shard;
    // Warm the page cache, then measure.
    let _ = hash_dir(&dir, DEFAULT_PATTERNS, &mut StatCache::default()).unwrap();
    let t = Instant::now();
    let mut cache = StatCache::default();
    let m = hash_dir(&dir, DEFAULT_PATTERNS, &mut cache).unwrap();
    let s = t.elapsed().as_secs_f64();
    println!(
        "hashed {} files, {:.1} GB in {:.2} s: {:.2} GB/s (blake3, {} threads)",
        m.files.len(),
        bytes as f64 / 1e9,
        s,
        bytes as f64 / 1e9 / s,
        rayon::current_num_threads()
    );
    let mut best = f64::MAX;
    for _ in 0..20 {
        let t = Instant::now();
        let again = hash_dir(&dir, DEFAULT_PATTERNS, &mut cache).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(again, m);
    }
    println!(
        "no-change rebuild of {:.1} GB with the stat cache: {:.3} ms (best of 20)",
        bytes as f64 / 1e9,
        best * 1e3
    );
}
