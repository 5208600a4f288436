//! The test action: a deterministic stand-in for every kind, which exercises the DAG
//! machinery (keys, cache, scheduler, executors, resume) without engines.

use crate::failure::{Failure, FailureClass};
use crate::job::{Action, JobSpec};

/// Output `result` = blake3(key, input digests); optionally sleeps and fails on purpose,
/// driven by the environment:
///
/// * `BENCH_TEST_NODE_MS`: sleep per node (default 0); `BENCH_TEST_SLEEP_KINDS`: only
///   nodes of these kinds sleep (comma-separated, e.g. `bench`; default every kind);
/// * `BENCH_TEST_FAIL`: `LABEL_PART:CLASS:TIMES` — the first TIMES attempts of nodes whose
///   label contains LABEL_PART fail with CLASS;
/// * `BENCH_TEST_JOURNAL`: a file to which every run appends
///   `run KEY ATTEMPT HOST GPU_IDS START_NS END_NS` when it ends (HOST is
///   [`JobSpec::placement`], GPU_IDS [`JobSpec::visible_gpus`]) (successfully or not).
pub struct TestAction;

impl Action for TestAction {
    fn run(&self, job: &JobSpec) -> Result<(), Failure> {
        let start = now_ns();
        let result = work(job);
        if let Ok(path) = std::env::var("BENCH_TEST_JOURNAL") {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let gpus = job.visible_gpus().join(",");
                let placement = job.placement();
                let host = if placement.is_empty() {
                    "-"
                } else {
                    placement.as_str()
                };
                let gpus = if gpus.is_empty() {
                    "-".to_string()
                } else {
                    gpus
                };
                let line = format!(
                    "run {} {} {host} {gpus} {start} {}\n",
                    job.key,
                    job.attempt,
                    now_ns()
                );
                let _ = f.write_all(line.as_bytes());
            }
        }
        result
    }
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn work(job: &JobSpec) -> Result<(), Failure> {
    crate::say!("test action for {} (attempt {})", job.label, job.attempt);
    if let Ok(spec) = std::env::var("BENCH_TEST_FAIL") {
        let mut parts = spec.splitn(3, ':');
        if let (Some(part), Some(class), Some(times)) = (parts.next(), parts.next(), parts.next())
            && job.label.contains(part)
            && job.attempt <= times.parse().unwrap_or(0)
        {
            let class = FailureClass::parse(class).unwrap_or(FailureClass::Permanent);
            return Err(Failure::new(
                class,
                format!("injected {} failure", class.name()),
            ));
        }
    }
    let sleeps = std::env::var("BENCH_TEST_SLEEP_KINDS")
        .map(|kinds| kinds.split(',').any(|k| k == job.kind.to_string()))
        .unwrap_or(true);
    let ms: u64 = std::env::var("BENCH_TEST_NODE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|_| sleeps)
        .unwrap_or(0);
    if ms > 0 {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    let mut h = blake3::Hasher::new();
    h.update(job.key.as_bytes());
    let mut inputs: Vec<(String, String)> = Vec::new();
    for i in &job.inputs {
        for o in &i.outputs {
            let bytes = std::fs::read(&o.path).map_err(|e| {
                Failure::new(
                    FailureClass::Infrastructure,
                    format!("cannot read input {}: {e}", o.path.display()),
                )
            })?;
            inputs.push((
                format!("{}/{}", i.key, o.name),
                blake3::hash(&bytes).to_hex().to_string(),
            ));
        }
    }
    inputs.sort();
    for (n, d) in &inputs {
        h.update(n.as_bytes());
        h.update(d.as_bytes());
    }
    let out = job.out_dir.join("result");
    std::fs::write(&out, format!("{}\n", h.finalize().to_hex()))
        .map_err(|e| Failure::classify(format!("cannot write {}: {e}", out.display())))?;
    Ok(())
}
