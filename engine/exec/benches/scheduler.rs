//! Scheduler overhead per trivial node (target: under 200 µs): 2,000 nodes (a fan of
//! chains) whose action only hashes its inputs, run in-process against a local cache on
//! tmpfs when there is one (so that fsync, which the scheduler cannot avoid on a real disk,
//! is not what is measured). Per-node time = total / nodes.
//!
//! Run: `cargo bench -p bench-exec --bench scheduler`.

use std::sync::Arc;

use bench_cache::{CacheBackend, LocalCache};
use bench_exec::executors::{Executors, InProcess};
use bench_exec::{BuildOptions, Executor, NodeDetails, RetryPolicy, SchedNode};
use criterion::{Criterion, criterion_group, criterion_main};

struct Labels;

impl NodeDetails for Labels {
    fn label(&self, i: usize) -> String {
        format!("n{i}")
    }

    fn params(&self, i: usize) -> serde_json::Value {
        serde_json::json!({ "i": i })
    }
}

const NODES: usize = 2000;

fn test_action(_: &bench_node::JobSpec) -> Box<dyn bench_node::Action> {
    Box::new(bench_node::TestAction)
}

/// 200 chains of 10: node i depends on node i-1 within its chain.
fn graph(salt: u64) -> Vec<SchedNode> {
    (0..NODES)
        .map(|i| SchedNode {
            key: blake3::hash(format!("{salt}/{i}").as_bytes())
                .to_hex()
                .to_string(),
            kind: bench_node::NodeKind::Bench,
            inputs: if i % 10 == 0 {
                vec![]
            } else {
                vec![(i - 1) as u32]
            },
            priority: 0,
            cost: 0.0,
            gpus: None,
        })
        .collect()
}

fn temp_root() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).expect("tmpfs dir")
    } else {
        tempfile::tempdir().expect("temp dir")
    }
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let opts = BuildOptions {
        sweep: "bench".into(),
        build_id: "b".into(),
        jobs: 8,
        keep_going: false,
        retry: RetryPolicy::default(),
        actions: bench_node::Actions::Test,
        hosts: vec![],
    };
    let mut salt = 0u64;
    let mut g = c.benchmark_group("scheduler");
    g.sample_size(10);
    g.bench_function("2000-trivial-nodes", |b| {
        b.iter_batched(
            || {
                salt += 1;
                let dir = temp_root();
                let cache: Arc<dyn CacheBackend> =
                    Arc::new(LocalCache::open(dir.path()).expect("cache"));
                (dir, cache, graph(salt))
            },
            |(dir, cache, graph)| {
                let exec: Arc<dyn Executor> = Arc::new(InProcess {
                    actions: test_action,
                });
                let exec = Executors::all(exec);
                let summary = rt.block_on(async {
                    let (etx, mut erx) = tokio::sync::mpsc::unbounded_channel();
                    let (_ctx, crx) = tokio::sync::mpsc::unbounded_channel();
                    let drain = tokio::spawn(async move { while erx.recv().await.is_some() {} });
                    let s = bench_exec::build(&graph, &Labels, cache, &exec, &opts, etx, crx).await;
                    let _ = drain.await;
                    s
                });
                assert_eq!(summary.built, NODES);
                drop(dir);
            },
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(scheduler, benches);
criterion_main!(scheduler);
