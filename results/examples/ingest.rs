//! Ingestion speed: 1,000,000 request rows into a fresh store through the Appender, in
//! Arrow batches (target < 2 s). Run: `cargo run -p bench-results --example ingest [ROWS]`.
//! The dev profile builds DuckDB's C++ optimized (see Cargo.toml), as release does.

use std::time::Instant;

use bench_node::outputs::RunInfo;
use bench_node::records::Record;
use bench_results::{Axes, Store};

fn main() {
    let rows: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("bench-ingest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut store = Store::open(&dir.join("r.duckdb")).expect("store");
    let run: RunInfo = serde_json::from_value(serde_json::json!({
        "engine": "sim", "simulated": true, "dialect": "openai-chat", "model": "m",
        "repeat": 0, "host": "h", "started_at": 1.7e9, "gpu_memory_gb": null,
        "metrics": bench_node::records::Metrics::default(),
    }))
    .expect("run");
    let records: Vec<Record> = (0..rows)
        .map(|i| Record {
            index: i,
            due_ns: i * 1000,
            send_ns: i * 1000 + 10,
            first_token_ns: Some(i * 1000 + 5_000_000),
            last_token_ns: Some(i * 1000 + 9_000_000),
            end_ns: i * 1000 + 9_000_100,
            status: 200,
            request_id: Some(format!("req-{i}")),
            prompt_tokens: 512,
            max_tokens: 128,
            server_prompt_tokens: Some(512),
            server_output_tokens: Some(128),
            client_output_tokens: 128,
            ..Record::default()
        })
        .collect();
    let t = Instant::now();
    store
        .add_run("k", &Axes::default(), 0, &run, &records)
        .expect("ingest");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "ingested {rows} request rows in {secs:.2} s ({:.0} rows/s)",
        rows as f64 / secs
    );
    let _ = std::fs::remove_dir_all(&dir);
}
