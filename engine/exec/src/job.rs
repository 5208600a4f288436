//! What a node's attempt is given (the job spec, written as JSON for the process that runs
//! it) and the actions that do the work of each node kind.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::failure::{Failure, FailureClass};

/// An input of a node: another node's committed outputs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobInput {
    pub label: String,
    pub kind: String,
    pub key: String,
    /// (output name, path of the verified blob)
    pub outputs: Vec<(String, PathBuf)>,
}

/// Everything one attempt of a node needs, independent of where it runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobSpec {
    pub key: String,
    pub kind: String,
    pub label: String,
    pub params: serde_json::Value,
    pub attempt: u32,
    pub inputs: Vec<JobInput>,
    /// Where outputs go; nothing else is committed.
    pub out_dir: PathBuf,
    /// Which actions run the node: `real`, or `test` (a deterministic stand-in used to
    /// exercise the DAG machinery).
    pub actions: String,
    /// The host the attempt was placed on (empty when hosts are not modelled).
    pub host: String,
    /// How to reach the host the attempt was placed on (bench nodes).
    #[serde(default)]
    pub target: Option<HostTarget>,
    /// Unkeyed details the action needs (see [`crate::NodeDetails::context`]).
    #[serde(default)]
    pub context: serde_json::Value,
    /// GPU ids assigned to this attempt on its host.
    pub gpu_ids: Vec<u32>,
}

/// A host as an attempt sees it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HostTarget {
    pub name: String,
    /// `local`, `docker`, `sim` or `endpoint`.
    pub executor: String,
    pub address: Option<String>,
    /// A Docker host's TLS client certificates.
    #[serde(default)]
    pub tls_dir: Option<String>,
}

impl JobSpec {
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(
            path,
            serde_json::to_vec(self).map_err(std::io::Error::other)?,
        )
    }

    pub fn read(path: &Path) -> std::io::Result<Self> {
        serde_json::from_slice(&std::fs::read(path)?).map_err(std::io::Error::other)
    }
}

/// File a failing attempt leaves beside its job spec to say how it failed.
pub const FAILURE_FILE: &str = "failure.json";

/// The work of a node kind.
pub trait Action: Send + Sync {
    fn run(&self, job: &JobSpec) -> Result<(), Failure>;
}

/// The test action: output `result` = blake3(key, input digests); optionally sleeps and
/// fails on purpose, driven by the environment:
///
/// * `BENCH_TEST_NODE_MS`: sleep per node (default 0);
/// * `BENCH_TEST_FAIL`: `LABEL_PART:CLASS:TIMES` — the first TIMES attempts of nodes whose
///   label contains LABEL_PART fail with CLASS;
/// * `BENCH_TEST_JOURNAL`: a file to which every run appends
///   `run KEY ATTEMPT HOST GPU_IDS START_NS END_NS` when it ends (successfully or not).
pub struct TestAction;

impl Action for TestAction {
    fn run(&self, job: &JobSpec) -> Result<(), Failure> {
        let start = now_ns();
        let result = self.work(job);
        if let Ok(path) = std::env::var("BENCH_TEST_JOURNAL") {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let gpus = job
                    .gpu_ids
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                let host = if job.host.is_empty() {
                    "-"
                } else {
                    job.host.as_str()
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

impl TestAction {
    fn work(&self, job: &JobSpec) -> Result<(), Failure> {
        println!("test action for {} (attempt {})", job.label, job.attempt);
        if let Ok(spec) = std::env::var("BENCH_TEST_FAIL") {
            let mut parts = spec.splitn(3, ':');
            if let (Some(part), Some(class), Some(times)) =
                (parts.next(), parts.next(), parts.next())
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
        let ms: u64 = std::env::var("BENCH_TEST_NODE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        let mut h = blake3::Hasher::new();
        h.update(job.key.as_bytes());
        let mut inputs: Vec<(String, String)> = Vec::new();
        for i in &job.inputs {
            for (name, path) in &i.outputs {
                let bytes = std::fs::read(path).map_err(|e| {
                    Failure::new(
                        FailureClass::Infrastructure,
                        format!("cannot read input {}: {e}", path.display()),
                    )
                })?;
                inputs.push((
                    format!("{}/{name}", i.key),
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
}

/// The action for a node kind whose real implementation has not landed yet.
pub struct Unavailable(pub &'static str);

impl Action for Unavailable {
    fn run(&self, job: &JobSpec) -> Result<(), Failure> {
        Err(Failure::new(
            FailureClass::Permanent,
            format!(
                "no `{}` action in this build of bench yet ({}); `--actions test` rehearses the DAG",
                job.kind, self.0
            ),
        ))
    }
}

/// Finds the action for a job. The crate that links the real actions (bench-actions)
/// supplies its own; [`action_for`] knows only the test action.
pub type ActionLookup = fn(&JobSpec) -> Box<dyn Action>;

/// The actions this crate knows: the test action, and [`Unavailable`] for every real kind.
pub fn action_for(job: &JobSpec) -> Box<dyn Action> {
    if job.actions == "test" {
        return Box::new(TestAction);
    }
    match job.kind.as_str() {
        "download" => Box::new(Unavailable("model download")),
        "setup" => Box::new(Unavailable("engine setup")),
        "bench" => Box::new(Unavailable("load generator")),
        _ => Box::new(Unavailable("results analysis")),
    }
}

/// Runs a job in this process (the far side of an executor): the action, then a failure
/// file on error. Returns the process exit status.
pub fn run_job(spec_path: &Path, lookup: ActionLookup) -> i32 {
    let job = match JobSpec::read(spec_path) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("cannot read job {}: {e}", spec_path.display());
            return 2;
        }
    };
    match lookup(&job).run(&job) {
        Ok(()) => 0,
        Err(f) => {
            eprintln!("{f}");
            let path = spec_path.with_file_name(FAILURE_FILE);
            let _ = std::fs::write(&path, serde_json::to_vec(&f).unwrap_or_default());
            1
        }
    }
}
