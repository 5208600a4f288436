//! The scheduler: walks the DAG by readiness and priority within the concurrency limit and
//! the GPU slots of each host, retries what is worth retrying, and stops cleanly on Ctrl-C
//! or a spot-interruption notice.
//!
//! Build states: `Running` → (notice) `Checkpointing` (no new launches; in-flight nodes that
//! fit the notice window finish, the others are stopped and set aside) → `Paused` (the build
//! exits). The next build starts in `Resuming` (committed nodes are skipped) → `Running`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench_cache::{CacheBackend, Checked, CommitInfo, FailureRecord, Lookup, Manifest};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rayon::prelude::*;
use serde::Serialize;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio_util::sync::CancellationToken;

use crate::executor::{Job, Transfer};
use crate::executors::Executors;
use crate::state::{Pick, RunState};
use bench_node::{Actions, HostTarget, InputFile, JobInput, JobSpec, NodeKind, RuntimeKind};
use bench_node::{Failure, FailureClass, RetryPolicy};

/// A node as the scheduler sees it.
#[derive(Clone, Debug)]
pub struct SchedNode {
    pub key: String,
    pub kind: NodeKind,
    pub inputs: Vec<u32>,
    pub priority: i64,
    pub cost: f64,
    /// GPUs this node occupies while it runs (bench nodes).
    pub gpus: Option<GpuNeed>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuNeed {
    pub gpu: String,
    pub count: u32,
}

/// Details computed only for the nodes that run (a plan may hold 10⁵ nodes).
pub trait NodeDetails: Sync {
    fn label(&self, i: usize) -> String;
    fn params(&self, i: usize) -> serde_json::Value;
    /// What an attempt needs besides its params and is not keyed: file paths of this
    /// machine, the served model name, SLOs. Never secrets.
    fn context(&self, _i: usize) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// A host's GPUs, as slots; or a cluster pool, whose scheduler gives each job its GPUs.
#[derive(Clone, Debug)]
pub struct HostSlots {
    pub name: String,
    pub gpu: String,
    /// The host's GPUs; a pool's GPUs per node (the most one job can ask for).
    pub gpus: u32,
    /// How engines run there.
    pub runtime: RuntimeKind,
    /// The Docker endpoint or the endpoint's base URL.
    pub address: Option<String>,
    /// A Docker host's TLS client certificates (`ca.pem`, `cert.pem`, `key.pem`).
    pub tls_dir: Option<String>,
    /// A cluster pool: at most this many of its jobs in flight, each given its GPUs by the
    /// cluster (no GPU ids are assigned here). `None`: a host whose GPUs we own.
    pub max_jobs: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct BuildOptions {
    pub sweep: String,
    pub build_id: String,
    /// Nodes running at once.
    pub jobs: usize,
    pub keep_going: bool,
    pub retry: RetryPolicy,
    pub actions: Actions,
    /// Hosts and their GPUs; empty means no GPU limits (simulated or unknown hosts).
    pub hosts: Vec<HostSlots>,
}

/// What the outside world can ask of a running build.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Control {
    /// First Ctrl-C: no new launches; running nodes end cleanly.
    Drain,
    /// Second Ctrl-C: stop everything now.
    Abort,
    /// A spot-interruption notice: the machine goes away in `window`.
    Notice { window: Duration },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildState {
    Resuming,
    Running,
    Checkpointing,
    Draining,
    Paused,
}

#[derive(Clone, Debug)]
pub enum Event {
    Checked {
        total: usize,
        cached: usize,
        to_run: usize,
        corrupt: usize,
    },
    State(BuildState),
    Started {
        node: usize,
        label: String,
        attempt: u32,
    },
    Retrying {
        node: usize,
        label: String,
        attempt: u32,
        delay: Duration,
        failure: Failure,
    },
    Finished {
        node: usize,
        label: String,
        outcome: Outcome,
        secs: f64,
    },
    Skipped {
        node: usize,
        label: String,
        because: String,
    },
    Corrupt {
        node: usize,
        key: String,
        why: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Built,
    /// Another build committed it while this one waited for the claim.
    CachedMeanwhile,
    Failed(Failure),
    /// Stopped by a drain, an abort or a notice; nothing was committed.
    Aborted(Failure),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildStatus {
    Succeeded,
    Failed,
    Interrupted,
    Preempted,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeReport {
    pub label: String,
    pub key: String,
    pub message: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct BuildSummary {
    pub status: BuildStatus,
    pub total: usize,
    pub cached: usize,
    pub built: usize,
    pub failed: Vec<NodeReport>,
    pub skipped: usize,
    pub aborted: Vec<NodeReport>,
    pub pending: usize,
    pub corrupt: usize,
    pub secs: f64,
}

struct Running {
    started: Instant,
    cancel: CancellationToken,
    host: Option<usize>,
    gpu_ids: Vec<u32>,
    /// Its executor lets it finish when the build drains.
    finishes_on_drain: bool,
}

/// Checks which nodes are committed (every output verified, as cheaply as the cache can
/// tell: no manifest is read on a no-op), in parallel.
fn check(
    graph: &[SchedNode],
    cache: &dyn CacheBackend,
    events: &UnboundedSender<Event>,
) -> (Vec<bool>, usize) {
    let corrupt = std::sync::atomic::AtomicUsize::new(0);
    let found = graph
        .par_iter()
        .enumerate()
        .map(|(i, n)| match cache.check(&n.key) {
            Ok(Checked::Committed) => true,
            Ok(Checked::Missing) => false,
            Ok(Checked::Corrupt(why)) => {
                corrupt.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let _ = events.send(Event::Corrupt {
                    node: i,
                    key: n.key.clone(),
                    why,
                });
                false
            }
            Err(e) => {
                tracing::warn!(key = %n.key, "cache lookup failed: {e}");
                false
            }
        })
        .collect();
    (found, corrupt.into_inner())
}

/// Runs a build to completion (or until stopped) and says how it ended.
pub async fn build(
    graph: &[SchedNode],
    details: &dyn NodeDetails,
    cache: Arc<dyn CacheBackend>,
    executors: &Executors,
    opts: &BuildOptions,
    events: UnboundedSender<Event>,
    mut control: UnboundedReceiver<Control>,
) -> BuildSummary {
    let t0 = Instant::now();
    let (committed, corrupt) = check(graph, cache.as_ref(), &events);
    // Manifests of the nodes committed by this build; those committed before are read
    // when a node that needs them runs.
    let mut manifests: Vec<Option<Arc<Manifest>>> = vec![None; graph.len()];
    let cached = committed.iter().filter(|c| **c).count();
    let mut state = RunState::new(graph, &committed, &opts.hosts);
    let _ = events.send(Event::Checked {
        total: graph.len(),
        cached,
        to_run: graph.len() - cached,
        corrupt,
    });
    let _ = events.send(Event::State(BuildState::Running));
    if executors.clusters().next().is_some() {
        // Cluster executors find the work a killed build left there.
        let to_run: Vec<String> = graph
            .iter()
            .zip(&committed)
            .filter(|(_, c)| !**c)
            .map(|(n, _)| n.key.clone())
            .collect();
        for e in executors.clusters() {
            e.begin(&to_run).await;
        }
    }

    let mut running: HashMap<usize, Running> = HashMap::new();
    let mut futs = FuturesUnordered::new();
    let mut draining = false;
    let mut preempted = false;
    let mut interrupted = false;
    let mut failed_any = false;
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut durations: HashMap<NodeKind, (f64, u32)> = HashMap::new();
    let mut summary = BuildSummary {
        status: BuildStatus::Succeeded,
        total: graph.len(),
        cached,
        built: 0,
        failed: Vec::new(),
        skipped: 0,
        aborted: Vec::new(),
        pending: 0,
        corrupt: 0,
        secs: 0.0,
    };
    let skipped = |summary: &mut BuildSummary, nodes: Vec<usize>, because: &str| {
        for d in nodes {
            summary.skipped += 1;
            let _ = events.send(Event::Skipped {
                node: d,
                label: details.label(d),
                because: because.to_string(),
            });
        }
    };

    loop {
        // Launch what is ready, best first, within the limits.
        if !draining {
            for pick in state.pick(opts.jobs) {
                match pick {
                    Pick::Impossible {
                        idx,
                        failure,
                        skipped: s,
                    } => {
                        let label = details.label(idx);
                        failed_any = true;
                        summary.failed.push(NodeReport {
                            label: label.clone(),
                            key: graph[idx].key.clone(),
                            message: failure.to_string(),
                        });
                        skipped(&mut summary, s, &label);
                        let _ = events.send(Event::Finished {
                            node: idx,
                            label,
                            outcome: Outcome::Failed(failure),
                            secs: 0.0,
                        });
                        if !opts.keep_going {
                            draining = true;
                        }
                    }
                    Pick::Launch { idx, host, gpu_ids } => {
                        let n = &graph[idx];
                        let cancel = CancellationToken::new();
                        let inputs: Vec<InputRef> = n
                            .inputs
                            .iter()
                            .map(|x| InputRef {
                                kind: graph[*x as usize].kind,
                                key: graph[*x as usize].key.clone(),
                                manifest: manifests[*x as usize].clone(),
                            })
                            .collect();
                        let host_name = host
                            .and_then(|h| opts.hosts.get(h))
                            .map(|h| h.name.as_str());
                        let executor = executors.for_node(n.kind, host_name).clone();
                        let finishes_on_drain = executor.finishes_on_drain();
                        let target = host.and_then(|h| opts.hosts.get(h)).map(|h| HostTarget {
                            name: h.name.clone(),
                            runtime: h.runtime,
                            address: h.address.clone(),
                            tls_dir: h.tls_dir.clone(),
                        });
                        futs.push(run_node(NodeRun {
                            idx,
                            target,
                            context: details.context(idx),
                            key: n.key.clone(),
                            kind: n.kind,
                            label: details.label(idx),
                            params: details.params(idx),
                            inputs,
                            gpu_ids: gpu_ids.clone(),
                            gpus: n.gpus.as_ref().map_or(0, |g| g.count),
                            cache: cache.clone(),
                            executor,
                            cancel: cancel.clone(),
                            opts: opts.clone(),
                            events: events.clone(),
                            input_labels: n
                                .inputs
                                .iter()
                                .map(|x| {
                                    (details.label(*x as usize), graph[*x as usize].key.clone())
                                })
                                .collect(),
                        }));
                        running.insert(
                            idx,
                            Running {
                                started: Instant::now(),
                                cancel,
                                host,
                                gpu_ids,
                                finishes_on_drain,
                            },
                        );
                    }
                }
            }
        }
        if futs.is_empty() {
            break;
        }
        let sleep_until = deadline
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400 * 365));
        tokio::select! {
            Some((idx, result, secs)) = futs.next() => {
                let r = running.remove(&idx);
                let (host, gpu_ids) = r.map(|r| (r.host, r.gpu_ids)).unwrap_or((None, Vec::new()));
                let label = details.label(idx);
                match result {
                    Ok((manifest, fresh)) => {
                        state.succeeded(idx, host, &gpu_ids);
                        let e = durations.entry(graph[idx].kind).or_insert((0.0, 0));
                        e.0 += secs;
                        e.1 += 1;
                        manifests[idx] = Some(Arc::new(manifest));
                        if fresh { summary.built += 1 } else { summary.cached += 1 }
                        let _ = events.send(Event::Finished { node: idx, label, outcome: if fresh { Outcome::Built } else { Outcome::CachedMeanwhile }, secs });
                    }
                    Err(f) if matches!(f.class, FailureClass::Cancelled | FailureClass::Preemption) => {
                        state.aborted(idx, host, &gpu_ids);
                        summary.aborted.push(NodeReport { label: label.clone(), key: graph[idx].key.clone(), message: f.to_string() });
                        let _ = events.send(Event::Finished { node: idx, label, outcome: Outcome::Aborted(f), secs });
                    }
                    Err(f) => {
                        failed_any = true;
                        summary.failed.push(NodeReport { label: label.clone(), key: graph[idx].key.clone(), message: f.to_string() });
                        let s = state.failed(idx, host, &gpu_ids);
                        skipped(&mut summary, s, &label);
                        let _ = events.send(Event::Finished { node: idx, label, outcome: Outcome::Failed(f), secs });
                        if !opts.keep_going && !draining {
                            draining = true;
                            let _ = events.send(Event::State(BuildState::Draining));
                        }
                    }
                }
            }
            Some(c) = control.recv() => match c {
                Control::Drain => {
                    if draining {
                        abort_all(&running)
                    } else {
                        draining = true;
                        // Queued cluster jobs could keep the build waiting for hours.
                        for r in running.values().filter(|r| !r.finishes_on_drain) {
                            r.cancel.cancel();
                        }
                    }
                    interrupted = true;
                    let _ = events.send(Event::State(BuildState::Draining));
                }
                Control::Abort => {
                    draining = true;
                    interrupted = true;
                    abort_all(&running);
                }
                Control::Notice { window } => {
                    draining = true;
                    preempted = true;
                    let _ = events.send(Event::State(BuildState::Checkpointing));
                    for (idx, r) in &running {
                        let kind = graph[*idx].kind;
                        let fits = match durations.get(&kind) {
                            Some((sum, n)) if *n > 0 => {
                                let remaining = sum / *n as f64 - r.started.elapsed().as_secs_f64();
                                remaining <= window.as_secs_f64()
                            }
                            _ => true,
                        };
                        if !fits {
                            r.cancel.cancel();
                        }
                    }
                    deadline = Some(tokio::time::Instant::now() + window);
                }
            },
            () = tokio::time::sleep_until(sleep_until), if deadline.is_some() => {
                abort_all(&running);
                deadline = None;
            }
        }
    }
    for e in executors.clusters() {
        e.end().await;
    }
    // Everything committed is durable when the build says it is done.
    let c = cache.clone();
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || c.flush()).await {
        tracing::warn!("cannot make the last commits durable: {e}");
    }
    summary.pending = state.pending();
    summary.corrupt = corrupt;
    summary.secs = t0.elapsed().as_secs_f64();
    summary.status = if preempted {
        let _ = events.send(Event::State(BuildState::Paused));
        BuildStatus::Preempted
    } else if interrupted {
        BuildStatus::Interrupted
    } else if failed_any || !summary.aborted.is_empty() {
        BuildStatus::Failed
    } else {
        BuildStatus::Succeeded
    };
    summary
}

fn abort_all(running: &HashMap<usize, Running>) {
    for r in running.values() {
        r.cancel.cancel();
    }
}

/// An input of a node about to run: its manifest when this build committed it, else its key
/// (read when the node runs).
#[derive(Clone)]
struct InputRef {
    kind: NodeKind,
    key: String,
    manifest: Option<Arc<Manifest>>,
}

struct NodeRun {
    idx: usize,
    target: Option<HostTarget>,
    context: serde_json::Value,
    key: String,
    kind: NodeKind,
    label: String,
    params: serde_json::Value,
    inputs: Vec<InputRef>,
    input_labels: Vec<(String, String)>,
    gpu_ids: Vec<u32>,
    gpus: u32,
    cache: Arc<dyn CacheBackend>,
    executor: Arc<dyn crate::executor::Executor>,
    cancel: CancellationToken,
    opts: BuildOptions,
    events: UnboundedSender<Event>,
}

fn blocking_err(e: impl std::fmt::Display) -> Failure {
    Failure::new(FailureClass::Infrastructure, e.to_string())
}

/// One node: claim, check again, then attempts with retries; commit on success.
/// Returns (node, (manifest, built here?) or the failure, seconds).
async fn run_node(r: NodeRun) -> (usize, Result<(Manifest, bool), Failure>, f64) {
    let t0 = Instant::now();
    let idx = r.idx;
    let result = run_node_inner(r).await;
    (idx, result, t0.elapsed().as_secs_f64())
}

async fn run_node_inner(r: NodeRun) -> Result<(Manifest, bool), Failure> {
    // Claim the key (a second build on this cache waits here instead of duplicating the
    // work), check whether another build committed it meanwhile, and verify the inputs: one
    // trip to a blocking thread.
    enum Prepared {
        Committed(Manifest),
        Ready(Box<dyn bench_cache::Claim>, Vec<JobInput>),
    }
    let (cache, key) = (r.cache.clone(), r.key.clone());
    let inputs_src = r.inputs.clone();
    let prepare = tokio::task::spawn_blocking(move || -> Result<Prepared, Failure> {
        let claim = cache.claim(&key).map_err(blocking_err)?;
        if cache.contains(&key)
            && let Lookup::Hit(m) = cache.lookup(&key).map_err(blocking_err)?
        {
            return Ok(Prepared::Committed(m));
        }
        let inputs = inputs_src
            .iter()
            .map(|i| {
                let m = match &i.manifest {
                    Some(m) => m.clone(),
                    None => match cache.lookup(&i.key)? {
                        Lookup::Hit(m) => Arc::new(m),
                        _ => {
                            return Err(bench_cache::CacheError::CorruptBlob {
                                digest: i.key.clone(),
                                why: "the input is no longer committed".into(),
                            });
                        }
                    },
                };
                let kind = &i.kind;
                let outputs = m
                    .outputs
                    .iter()
                    .map(|o| {
                        cache.blob_path(&o.digest, o.size).map(|path| InputFile {
                            name: o.name.clone(),
                            digest: o.digest.clone(),
                            size: o.size,
                            path,
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(JobInput {
                    label: m.label.clone(),
                    kind: *kind,
                    key: m.key.clone(),
                    outputs,
                })
            })
            .collect::<Result<Vec<_>, bench_cache::CacheError>>()
            .map_err(|e| {
                Failure::new(
                    FailureClass::Infrastructure,
                    format!("an input is unreadable: {e}"),
                )
            })?;
        Ok(Prepared::Ready(claim, inputs))
    });
    let (claim, inputs) = tokio::select! {
        p = prepare => match p.map_err(blocking_err)?? {
            Prepared::Committed(m) => return Ok((m, false)),
            Prepared::Ready(claim, inputs) => (claim, inputs),
        },
        () = r.cancel.cancelled() => return Err(Failure::new(FailureClass::Cancelled, "stopped before it started")),
    };

    let policy: RetryPolicy = r.opts.retry;
    let mut attempt = 0;
    let mut preempted = 0;
    loop {
        attempt += 1;
        let _ = r.events.send(Event::Started {
            node: r.idx,
            label: r.label.clone(),
            attempt,
        });
        let staging = r
            .cache
            .stage(&r.key, attempt)
            .map_err(|e| Failure::classify(e.to_string()))?;
        let spec = JobSpec {
            key: r.key.clone(),
            kind: r.kind,
            label: r.label.clone(),
            params: r.params.clone(),
            attempt,
            inputs: inputs.clone(),
            out_dir: staging.out_dir.clone(),
            actions: r.opts.actions,
            target: r.target.clone(),
            context: r.context.clone(),
            gpu_ids: r.gpu_ids.clone(),
        };
        let spec_path = staging.root.join("job.json");
        spec.write(&spec_path)
            .map_err(|e| Failure::classify(format!("cannot write the job spec: {e}")))?;
        let log = r
            .cache
            .log_path(&r.key, attempt)
            .map_err(|e| Failure::classify(e.to_string()))?;
        let transfer = CacheTransfer {
            cache: r.cache.clone(),
            out_dir: staging.out_dir.clone(),
        };
        let job = Job {
            spec,
            spec_path,
            log,
            gpus: r.gpus,
        };
        let t0 = Instant::now();
        let outcome = r.executor.run(&job, &transfer, r.cancel.clone()).await;
        match outcome {
            Ok(()) => {
                let info = CommitInfo {
                    sweep: r.opts.sweep.clone(),
                    kind: r.kind.to_string(),
                    label: r.label.clone(),
                    params: r.params.clone(),
                    inputs: r.input_labels.clone(),
                    attempt,
                    duration_secs: t0.elapsed().as_secs_f64(),
                    build_id: r.opts.build_id.clone(),
                };
                let cache = r.cache.clone();
                let committed = tokio::task::spawn_blocking(move || cache.commit(staging, info))
                    .await
                    .map_err(blocking_err)?;
                drop(claim);
                return committed.map(|m| (m, true)).map_err(|e| {
                    if e.is_disk_full() {
                        Failure::new(
                            FailureClass::Infrastructure,
                            format!("disk full while committing; nothing was committed: {e}"),
                        )
                    } else {
                        Failure::classify(e.to_string())
                    }
                });
            }
            Err(f) => {
                r.cache.set_aside(staging, &f.to_string());
                if f.class != FailureClass::Cancelled {
                    r.cache.record_failure(&FailureRecord {
                        key: r.key.clone(),
                        label: r.label.clone(),
                        class: f.class.name().into(),
                        message: f.message.clone(),
                        attempts: attempt,
                        at: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                            .to_string(),
                    });
                }
                // A cluster preempted the job: the node is not at fault and this build's
                // machine stays (a notice here cancels its attempts itself), so the attempt
                // goes again at once, besides the retry budget.
                if f.class == FailureClass::Preemption
                    && !r.cancel.is_cancelled()
                    && preempted < policy.preemptions
                {
                    preempted += 1;
                    let _ = r.events.send(Event::Retrying {
                        node: r.idx,
                        label: r.label.clone(),
                        attempt,
                        delay: Duration::ZERO,
                        failure: f.clone(),
                    });
                    continue;
                }
                if !policy.retry(attempt - preempted, &f) || r.cancel.is_cancelled() {
                    return Err(f);
                }
                let delay = policy.backoff(attempt - preempted);
                let _ = r.events.send(Event::Retrying {
                    node: r.idx,
                    label: r.label.clone(),
                    attempt,
                    delay,
                    failure: f.clone(),
                });
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = r.cancel.cancelled() => return Err(Failure::new(FailureClass::Cancelled, format!("stopped while waiting to retry after: {f}"))),
                }
            }
        }
    }
}

/// The cache's transfer operations for one attempt: inputs by digest, outputs into its
/// staging directory.
struct CacheTransfer {
    cache: Arc<dyn CacheBackend>,
    out_dir: std::path::PathBuf,
}

impl Transfer for CacheTransfer {
    fn read_blob(&self, digest: &str) -> Result<Box<dyn std::io::Read + Send>, Failure> {
        self.cache.blobs().open(digest).map_err(blocking_err)
    }

    fn put_output(&self, name: &str, bytes: &mut dyn std::io::Read) -> Result<(), Failure> {
        let plain = !name.is_empty()
            && !name.contains('/')
            && !name.contains('\\')
            && name != "."
            && name != "..";
        if !plain {
            return Err(Failure::new(
                FailureClass::Permanent,
                format!("an output must be a plain file name, not `{name}`"),
            ));
        }
        let path = self.out_dir.join(name);
        let mut f = std::fs::File::create(&path)
            .map_err(|e| Failure::classify(format!("cannot write {}: {e}", path.display())))?;
        std::io::copy(bytes, &mut f)
            .map_err(|e| Failure::classify(format!("cannot write {}: {e}", path.display())))?;
        Ok(())
    }
}
