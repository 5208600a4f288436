//! `bench build`, `status`, `explain`, `logs`, `gc`, `cache stats`: the plan meets the cache
//! and the scheduler.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use bench_cache::{CacheBackend, GcPolicy, LocalCache};
use bench_exec::job::HostTarget;
use bench_exec::spot::{Provider, poll_metadata};
use bench_exec::{
    BuildOptions, BuildStatus, BuildSummary, Control, Executor, GpuNeed, HostSlots, NodeDetails,
    RetryPolicy, SchedNode,
};
use bench_plan::dag::{fingerprint, inputs, label, params};
use bench_plan::{NodeKind, Plan, Subject};
use petgraph::graph::NodeIndex;
use serde::Serialize;

use crate::cli::{
    Actions, BuildArgs, CacheArgs, CacheCommand, CacheDir, ExecutorKind, GcArgs, NodeArgs,
    SpotNotice, StatusArgs,
};
use crate::error::CliError;
use crate::progress;
use crate::render::thousands;

/// Exit status of a build stopped by a spot-interruption notice: rerun to resume.
pub const EXIT_PREEMPTED: u8 = 3;
/// Exit status of a build stopped by Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

/// The cache directory for a sweep.
pub fn cache_dir(flag: &CacheDir, sweep: Option<&Path>) -> PathBuf {
    if let Some(c) = &flag.cache {
        return c.clone();
    }
    let base = sweep
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    base.join(".bench").join("cache")
}

fn open_cache(dir: &Path) -> Result<LocalCache, CliError> {
    LocalCache::open(dir)
        .map_err(|e| CliError::Other(format!("cannot open the cache at {}: {e}", dir.display())))
}

/// The plan, as the scheduler sees it, and the build it runs in.
struct View<'a, 's, 'r>(&'a Plan<'s, 'r>, Option<BuildCtx>);

/// What containers of a build are labelled with.
#[derive(Clone)]
struct BuildCtx {
    build: String,
    /// `HOSTNAME:PATH` of the cache.
    cache: String,
    /// The cache directory.
    dir: PathBuf,
}

/// A started engine's default time to become ready.
const DEFAULT_READY_TIMEOUT_SECS: f64 = 15.0 * 60.0;

impl NodeDetails for View<'_, '_, '_> {
    fn label(&self, i: usize) -> String {
        let p = self.0;
        label(
            &p.resolved,
            &p.expansion,
            &p.graph[NodeIndex::new(i)].subject,
        )
    }

    fn params(&self, i: usize) -> serde_json::Value {
        let p = self.0;
        params(
            &p.resolved,
            &p.expansion,
            &p.graph[NodeIndex::new(i)].subject,
        )
    }

    fn context(&self, i: usize) -> serde_json::Value {
        let (r, x) = (&self.0.resolved, &self.0.expansion);
        match self.0.graph[NodeIndex::new(i)].subject {
            Subject::Download { model } => {
                let m = &r.models[model as usize];
                let (revision, path) = match (&m.decl.source, r.model_pins.get(&m.decl.name.value))
                {
                    (_, Some(bench_plan::ModelPin::Digest { path, .. })) => {
                        (None, Some(path.clone()))
                    }
                    (bench_sweep::ast::ModelSource::Hub { revision, .. }, _) => (
                        Some(revision.clone().unwrap_or_else(|| "main".into())),
                        None,
                    ),
                    _ => (None, None),
                };
                serde_json::to_value(bench_actions::DownloadContext {
                    revision,
                    path,
                    state_dir: self.1.as_ref().map(|b| crate::models::state_dir(&b.dir)),
                    planned_facts: m.facts,
                })
                .unwrap_or_default()
            }
            Subject::Setup { engine, gpu } => {
                let docker: Vec<HostTarget> = if r.in_containers(gpu) {
                    r.hosts_of(gpu)
                        .map(|h| HostTarget {
                            name: h.name.value.clone(),
                            executor: "docker".into(),
                            address: h.address.as_ref().map(|a| a.value.clone()),
                            tls_dir: h.tls_dir.as_ref().map(|t| t.value.clone()),
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                serde_json::json!({
                    "simulated": r.simulated(engine, gpu),
                    "endpoint": r.on_endpoints(gpu),
                    "docker": docker,
                })
            }
            Subject::Bench { config, .. } => {
                let c = &x.valid[config as usize];
                let w = &r.workloads[c.workload as usize];
                serde_json::to_value(bench_actions::BenchContext {
                    model: r.models[c.model as usize].decl.name.value.clone(),
                    simulated: r.simulated(c.engine, c.gpu),
                    dataset_path: w.dataset_path.clone(),
                    timeout_secs: None,
                    container: match &self.1 {
                        Some(b) if r.in_containers(c.gpu) => {
                            let engine = &r.engines[c.engine as usize];
                            Some(bench_actions::ContainerContext {
                                build: b.build.clone(),
                                sweep: r.sweep.name.value.clone(),
                                cache: b.cache.clone(),
                                ready_timeout_secs: engine
                                    .ready_timeout_secs
                                    .unwrap_or(DEFAULT_READY_TIMEOUT_SECS),
                                secrets: engine.secrets.clone(),
                            })
                        }
                        _ => None,
                    },
                })
                .unwrap_or_default()
            }
            _ => serde_json::Value::Null,
        }
    }
}

fn sched_nodes(p: &Plan<'_, '_>) -> Vec<SchedNode> {
    let g = &p.graph;
    g.node_indices()
        .map(|i| {
            let n = &g[i];
            let gpus = match n.subject {
                Subject::Bench { config, .. } => {
                    let c = &p.expansion.valid[config as usize];
                    Some(GpuNeed {
                        gpu: p.resolved.gpu.values[c.gpu as usize].name.to_string(),
                        count: p.resolved.gpus.values[c.gpus as usize],
                    })
                }
                _ => None,
            };
            SchedNode {
                key: n.key.hex(),
                kind: n.kind.name(),
                inputs: inputs(g, i).into_iter().map(|x| x.index() as u32).collect(),
                priority: n.priority,
                cost: n.cost,
                gpus,
            }
        })
        .collect()
}

/// Whether a node will run, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Why {
    Cached,
    New,
    ParamsChanged,
    InputChanged,
    FailedBefore,
}

impl Why {
    pub fn status(&self) -> &'static str {
        if *self == Why::Cached {
            "cached"
        } else {
            "will-run"
        }
    }

    pub fn phrase(&self) -> &'static str {
        match self {
            Why::Cached => "cached",
            Why::New => "new",
            Why::ParamsChanged => "a parameter changed",
            Why::InputChanged => "an input changed",
            Why::FailedBefore => "the previous attempt failed",
        }
    }
}

/// Status of every node of a plan against a cache (cheap: no output verification).
pub fn statuses(p: &Plan<'_, '_>, cache: Option<&LocalCache>) -> Vec<Why> {
    let Some(cache) = cache else {
        return vec![Why::New; p.graph.node_count()];
    };
    // An empty label index (a fresh cache) spares a file lookup per node.
    let has_labels = std::fs::read_dir(cache.root().join("labels"))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    p.graph
        .node_indices()
        .map(|i| why(p, cache, i, has_labels))
        .collect()
}

/// Whether one node is cached, and if not, why it runs.
fn why(p: &Plan<'_, '_>, cache: &LocalCache, i: NodeIndex, has_labels: bool) -> Why {
    let n = &p.graph[i];
    let key = n.key.hex();
    if cache.contains(&key) {
        return Why::Cached;
    }
    if cache.failure(&key).is_some() {
        return Why::FailedBefore;
    }
    if !has_labels {
        return Why::New;
    }
    let (r, x) = (&p.resolved, &p.expansion);
    match cache.label(&r.sweep.name.value, &label(r, x, &n.subject)) {
        None => Why::New,
        Some(rec) if rec.params != params(r, x, &n.subject) => Why::ParamsChanged,
        Some(_) => Why::InputChanged,
    }
}

fn executor(kind: ExecutorKind) -> Result<Arc<dyn Executor>, CliError> {
    let actions = bench_actions::action_for;
    Ok(match kind {
        ExecutorKind::Local => Arc::new(
            bench_exec::executors::LocalProcess::current_exe()
                .map_err(|e| CliError::Other(format!("cannot find the bench executable: {e}")))?,
        ),
        ExecutorKind::InProcess => Arc::new(bench_exec::executors::InProcess { actions }),
    })
}

/// Where a build's summary goes: the next build reads it to say it is resuming.
fn summary_path(cache: &Path, sweep: &str) -> PathBuf {
    let safe: String = sweep
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    cache.join("builds").join(format!("{safe}.json"))
}

#[derive(Serialize, serde::Deserialize)]
struct LastBuild {
    build_id: String,
    status: String,
    summary: serde_json::Value,
}

pub fn build(a: BuildArgs, plan: &Plan<'_, '_>) -> Result<ExitCode, CliError> {
    let dir = cache_dir(&a.cache, Some(&a.sweep));
    let cache = LocalCache::open_for_build(&dir)
        .map_err(|e| CliError::Other(format!("cannot open the cache at {}: {e}", dir.display())))?;
    let sweep = plan.resolved.sweep;
    let build_id = uuid::Uuid::new_v4().to_string();
    let opts = BuildOptions {
        sweep: sweep.name.value.clone(),
        build_id: build_id.clone(),
        jobs: a.jobs,
        keep_going: a.keep_going,
        retry: RetryPolicy {
            attempts: sweep.retry.attempts,
            first_backoff: std::time::Duration::from_secs_f64(sweep.retry.backoff_secs),
            ..RetryPolicy::default()
        },
        actions: match a.actions {
            Actions::Real => "real".into(),
            Actions::Test => "test".into(),
        },
        hosts: sweep
            .hosts
            .iter()
            .map(|h| HostSlots {
                name: h.name.value.clone(),
                gpu: h.gpu.value.clone(),
                gpus: h.gpus,
                executor: if plan.resolved.simulate {
                    "sim".into()
                } else {
                    h.executor.name().into()
                },
                address: h.address.as_ref().map(|a| a.value.clone()),
                tls_dir: h.tls_dir.as_ref().map(|t| t.value.clone()),
            })
            .collect(),
    };
    // The build's lease: containers labelled with its id are its own while it runs.
    let _lease = cache
        .lease_build(&build_id)
        .map_err(|e| CliError::Other(format!("cannot register the build in the cache: {e}")))?;
    let containers = a.actions == Actions::Real
        && sweep
            .hosts
            .iter()
            .any(|h| h.executor == bench_sweep::ast::ExecutorKind::Docker)
        && !plan.resolved.simulate;
    if containers {
        // Engines left running by builds that died (SIGKILL, a reboot) go first.
        crate::docker::reap_orphans(sweep)?;
    }
    let build_ctx = BuildCtx {
        build: build_id.clone(),
        cache: bench_docker::hygiene::cache_label(&dir),
        dir: dir.clone(),
    };
    let mode = progress::Mode::detect(a.quiet);
    let last = summary_path(&dir, &sweep.name.value);
    if let Some(prev) = std::fs::read(&last)
        .ok()
        .and_then(|b| serde_json::from_slice::<LastBuild>(&b).ok())
        && prev.status == "preempted"
        && mode != progress::Mode::Quiet
    {
        eprintln!(
            "build state: resuming (the last build, {}, was preempted)",
            prev.build_id
        );
    }
    let graph = sched_nodes(plan);
    let view = View(plan, Some(build_ctx));
    let exec = executor(a.executor)?;
    let cache: Arc<dyn CacheBackend> = Arc::new(cache);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Other(format!("cannot start the runtime: {e}")))?;
    let summary: BuildSummary = rt.block_on(async {
        let (etx, erx) = tokio::sync::mpsc::unbounded_channel();
        let (ctx, crx) = tokio::sync::mpsc::unbounded_channel();
        let reporter = tokio::spawn(progress::report(mode, erx));
        // Ctrl-C: drain, then abort. SIGTERM: a spot notice.
        let c2 = ctx.clone();
        let signals = tokio::spawn(async move {
            let mut n = 0;
            while tokio::signal::ctrl_c().await.is_ok() {
                n += 1;
                let _ = c2.send(if n == 1 {
                    Control::Drain
                } else {
                    Control::Abort
                });
            }
        });
        let c3 = ctx.clone();
        let window = a.notice_window;
        let term = tokio::spawn(async move {
            if let Ok(mut s) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                while s.recv().await.is_some() {
                    let _ = c3.send(Control::Notice { window });
                }
            }
        });
        let poller = match a.spot_notice {
            SpotNotice::Off => None,
            p => {
                let provider = if p == SpotNotice::Aws {
                    Provider::Aws
                } else {
                    Provider::Gcp
                };
                let base = a
                    .metadata_url
                    .clone()
                    .unwrap_or_else(|| provider.default_base().to_string());
                Some(tokio::spawn(poll_metadata(
                    provider,
                    base,
                    a.poll_interval,
                    window,
                    ctx.clone(),
                )))
            }
        };
        let summary = bench_exec::build(&graph, &view, cache.clone(), exec, &opts, etx, crx).await;
        signals.abort();
        term.abort();
        if let Some(p) = poller {
            p.abort();
        }
        let _ = reporter.await;
        summary
    });
    // Attempts run in this process (--executor in-process) leave nothing running either.
    bench_docker::engine::remove_live_containers();
    let status = serde_json::to_value(summary.status)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let record = LastBuild {
        build_id,
        status: status.clone(),
        summary: serde_json::to_value(&summary).unwrap_or_default(),
    };
    if let Some(parent) = last.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let _ = std::fs::write(
        &last,
        serde_json::to_vec_pretty(&record).unwrap_or_default(),
    );
    print_summary(&summary, &last);
    if a.actions == Actions::Real {
        let db =
            a.db.clone()
                .unwrap_or_else(|| crate::store::default_db(Some(&a.sweep)));
        match LocalCache::open(&dir)
            .map_err(|e| CliError::Other(e.to_string()))
            .and_then(|c| crate::store::ingest(plan, &c, &db))
        {
            Ok(n) if n > 0 && mode != progress::Mode::Quiet => {
                eprintln!("results: {n} new nodes in {}", db.display())
            }
            Ok(_) => {}
            // The cache holds every result: a store that cannot be written loses nothing.
            Err(e) => eprintln!("warning: results not stored: {e}"),
        }
    }
    if mode != progress::Mode::Quiet {
        crate::results::after_build(plan, &dir);
    }
    Ok(match summary.status {
        BuildStatus::Succeeded => ExitCode::SUCCESS,
        BuildStatus::Failed => ExitCode::from(1),
        BuildStatus::Interrupted => ExitCode::from(EXIT_INTERRUPTED),
        BuildStatus::Preempted => ExitCode::from(EXIT_PREEMPTED),
    })
}

fn print_summary(s: &BuildSummary, path: &Path) {
    let status = match s.status {
        BuildStatus::Succeeded => "succeeded",
        BuildStatus::Failed => "failed",
        BuildStatus::Interrupted => "interrupted",
        BuildStatus::Preempted => "preempted by a spot notice; rerun to resume",
    };
    eprintln!(
        "build {status} in {:.2}s: {} nodes, {} cached, {} built, {} failed, {} skipped, {} stopped, {} not started",
        s.secs,
        thousands(s.total),
        thousands(s.cached),
        thousands(s.built),
        s.failed.len(),
        s.skipped,
        s.aborted.len(),
        s.pending
    );
    for f in &s.failed {
        eprintln!("  failed {}: {}", f.label, f.message);
    }
    if s.status == BuildStatus::Preempted || s.status == BuildStatus::Interrupted {
        for f in &s.aborted {
            eprintln!("  stopped {}", f.label);
        }
        eprintln!("  summary written to {}", path.display());
    }
}

#[derive(Serialize, Default)]
struct KindStatus {
    done: usize,
    pending: usize,
    failed: usize,
}

#[derive(Serialize)]
struct FailedNode {
    label: String,
    key: String,
    class: String,
    message: String,
    attempts: u32,
    at: String,
}

#[derive(Serialize)]
struct StatusReport {
    sweep: String,
    cache: String,
    kinds: BTreeMap<NodeKind, KindStatus>,
    failed: Vec<FailedNode>,
    /// Runs that completed but failed validation: excluded from ranking.
    invalid: Vec<InvalidRun>,
}

#[derive(Serialize)]
struct InvalidRun {
    label: String,
    key: String,
    reasons: Vec<String>,
}

pub fn status(a: StatusArgs, plan: &Plan<'_, '_>) -> Result<ExitCode, CliError> {
    let dir = cache_dir(&a.cache, Some(&a.sweep));
    let cache = open_cache(&dir)?;
    let mut kinds: BTreeMap<NodeKind, KindStatus> = NodeKind::ALL
        .iter()
        .map(|k| (*k, KindStatus::default()))
        .collect();
    let mut failed = Vec::new();
    let mut invalid = Vec::new();
    for i in plan.graph.node_indices() {
        let n = &plan.graph[i];
        let key = n.key.hex();
        let k = kinds.entry(n.kind).or_default();
        if cache.contains(&key) {
            k.done += 1;
            if n.kind == NodeKind::Validate
                && let Some(v) = crate::results::read_output::<bench_actions::Validation>(
                    &cache,
                    &key,
                    bench_actions::outputs::VALIDATION,
                )
                && !v.passed
            {
                invalid.push(InvalidRun {
                    label: label(&plan.resolved, &plan.expansion, &n.subject),
                    key: key.clone(),
                    reasons: v.reasons,
                });
            }
        } else if let Some(f) = cache.failure(&key) {
            k.failed += 1;
            failed.push(FailedNode {
                label: f.label,
                key,
                class: f.class,
                message: f.message,
                attempts: f.attempts,
                at: f.at,
            });
        } else {
            k.pending += 1;
        }
    }
    let report = StatusReport {
        sweep: plan.resolved.sweep.name.value.clone(),
        cache: dir.display().to_string(),
        kinds,
        failed,
        invalid,
    };
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        println!("sweep {}  (cache {})", report.sweep, report.cache);
        println!(
            "  {:<10} {:>10} {:>10} {:>10}",
            "kind", "done", "pending", "failed"
        );
        for (k, s) in &report.kinds {
            println!(
                "  {:<10} {:>10} {:>10} {:>10}",
                k.name(),
                thousands(s.done),
                thousands(s.pending),
                thousands(s.failed)
            );
        }
        for f in &report.failed {
            println!(
                "\nfailed {} ({} failure after {} attempt(s), {})\n  {}",
                f.label, f.class, f.attempts, f.at, f.message
            );
        }
        if !report.invalid.is_empty() {
            println!(
                "\n{} run(s) failed validation (kept, excluded from ranking):",
                report.invalid.len()
            );
            for r in &report.invalid {
                println!("  {}: {}", r.label, r.reasons.join("; "));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn find_node(plan: &Plan<'_, '_>, what: &str) -> Result<NodeIndex, CliError> {
    let found = plan.find(what);
    match found.len() {
        1 => Ok(found[0]),
        0 => Err(CliError::Other(format!(
            "no node of this sweep is labelled `{what}` or has a key starting with it (`bench plan --json` lists labels and keys)"
        ))),
        n => Err(CliError::Other(format!(
            "{n} nodes match `{what}`: give more of the key"
        ))),
    }
}

/// Paths where two JSON values differ, with both values.
fn diff(
    a: &serde_json::Value,
    b: &serde_json::Value,
    path: &str,
    out: &mut Vec<(String, String, String)>,
) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &p,
                    out,
                );
            }
        }
        _ if a != b => out.push((path.to_string(), a.to_string(), b.to_string())),
        _ => {}
    }
}

pub fn explain(a: NodeArgs, plan: &Plan<'_, '_>) -> Result<ExitCode, CliError> {
    let i = find_node(plan, &a.node)?;
    let dir = cache_dir(&a.cache, Some(&a.sweep));
    let cache = open_cache(&dir)?;
    let (r, x, g) = (&plan.resolved, &plan.expansion, &plan.graph);
    let n = &g[i];
    let l = label(r, x, &n.subject);
    let p = params(r, x, &n.subject);
    println!("{l}");
    println!("  key          {}", n.key.hex());
    println!(
        "  kind         {} (version {}), key schema {}",
        n.kind.name(),
        n.kind.version(),
        bench_plan::KEY_SCHEMA_VERSION
    );
    println!("  cache-version {}", r.sweep.cache_version);
    let fp = fingerprint(r, x, &n.subject);
    if !fp.is_empty() {
        println!("  fingerprint  {fp}");
    }
    println!(
        "  params       {}",
        serde_json::to_string_pretty(&p)
            .unwrap_or_default()
            .replace('\n', "\n               ")
    );
    let ins = inputs(g, i);
    if !ins.is_empty() {
        println!("  inputs");
        for j in &ins {
            println!("    {} {}", g[*j].key.short(), label(r, x, &g[*j].subject));
        }
    }
    let key = n.key.hex();
    let why = why(plan, &cache, i, true);
    println!("  status       {} ({})", why.status(), why.phrase());
    if let Some(f) = cache.failure(&key) {
        println!(
            "  last failure {} after {} attempt(s): {}",
            f.class, f.attempts, f.message
        );
    }
    match cache.label(&r.sweep.name.value, &l) {
        Some(rec) if rec.key != key => {
            println!("  last committed key of this node: {}", &rec.key);
            let mut d = Vec::new();
            diff(&rec.params, &p, "", &mut d);
            for (path, old, new) in &d {
                println!("    param {path}: {old} -> {new}");
            }
            let now: BTreeMap<String, String> = ins
                .iter()
                .map(|j| (label(r, x, &g[*j].subject), g[*j].key.hex()))
                .collect();
            for (il, old) in &rec.inputs {
                match now.get(il) {
                    Some(new) if new != old => println!(
                        "    input {il}: {} -> {}",
                        &old[..12.min(old.len())],
                        &new[..12]
                    ),
                    None => println!("    input {il}: removed"),
                    _ => {}
                }
            }
            if d.is_empty() && rec.inputs.iter().all(|(il, old)| now.get(il) == Some(old)) {
                println!(
                    "    params and inputs are equal: a version, fingerprint or cache-version changed"
                );
            }
        }
        Some(_) => println!("  committed with this key"),
        None => println!("  never committed before"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn logs(a: NodeArgs, plan: &Plan<'_, '_>) -> Result<ExitCode, CliError> {
    let i = find_node(plan, &a.node)?;
    let dir = cache_dir(&a.cache, Some(&a.sweep));
    let cache = open_cache(&dir)?;
    let key = plan.graph[i].key.hex();
    let logs = cache.logs(&key);
    if logs.is_empty() {
        eprintln!(
            "no logs for {}: it never ran against {}",
            plan.graph[i].key.short(),
            dir.display()
        );
        return Ok(ExitCode::from(1));
    }
    for p in logs {
        println!("==> {} <==", p.display());
        match std::fs::read_to_string(&p) {
            Ok(t) => print!("{t}"),
            Err(e) => println!("(cannot read: {e})"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn gc(
    a: GcArgs,
    keep: Option<std::collections::HashSet<String>>,
) -> Result<ExitCode, CliError> {
    let dir = cache_dir(&a.cache, a.sweeps.first().map(PathBuf::as_path));
    let cache = open_cache(&dir)?;
    if keep.is_none() && a.older_than.is_none() && a.max_size.is_none() {
        return Err(CliError::Other(
            "say what to keep: sweeps whose entries stay, --older-than or --max-size".into(),
        ));
    }
    let report = cache
        .gc(&GcPolicy {
            keep,
            older_than: a.older_than,
            max_bytes: a.max_size,
            dry_run: a.dry_run,
        })
        .map_err(|e| CliError::Other(e.to_string()))?;
    let verb = if a.dry_run { "would remove" } else { "removed" };
    println!(
        "{verb} {} entries and {} blobs ({:.1} MB) from {}",
        report.manifests_removed,
        report.blobs_removed,
        report.bytes_freed as f64 / 1e6,
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn cache_cmd(a: CacheArgs) -> Result<ExitCode, CliError> {
    let dir = cache_dir(&a.cache, None);
    let cache = open_cache(&dir)?;
    match a.command {
        CacheCommand::Stats { json } => {
            let s = cache.stats().map_err(|e| CliError::Other(e.to_string()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            } else {
                println!("cache {}", dir.display());
                println!("  entries     {}", thousands(s.manifests as usize));
                println!(
                    "  blobs       {} ({:.1} MB)",
                    thousands(s.blobs as usize),
                    s.blob_bytes as f64 / 1e6
                );
                println!("  failures    {}", thousands(s.failures as usize));
                println!(
                    "  set aside   {} files ({:.1} MB)",
                    thousands(s.aside as usize),
                    s.aside_bytes as f64 / 1e6
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
