//! One build: the plan handed to the scheduler with its executors, Ctrl-C and SIGTERM and
//! spot notices turned into controls, the build's lease and summary, engines left by dead
//! builds reaped first, and the results ingested into the store at the end.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bench_cache::{CacheBackend, LocalCache, Remote, RemoteOptions, RemoteStats, Tiered};
use bench_exec::executors::InProcess;
use bench_exec::spot::{Provider, poll_metadata};
use bench_exec::{
    BuildOptions, BuildSummary, Control, Event, ExecutorKind, Executors, HostSlots, NodeDetails,
    RetryPolicy, SchedNode,
};
use bench_node::{Actions, NodeKind, RuntimeKind};
use bench_plan::Plan;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::details::{BuildCtx, View, sched_nodes};
use crate::error::{Error, Result};

/// What a build is asked to do.
#[derive(Clone)]
pub struct BuildRequest {
    pub sweep_path: PathBuf,
    pub cache_dir: PathBuf,
    /// The results store it fills (real actions only).
    pub db: PathBuf,
    pub jobs: usize,
    pub keep_going: bool,
    pub actions: Actions,
    /// Where attempts run.
    pub executor: ExecutorKind,
    /// How long a spot notice gives (SIGTERM or the metadata service).
    pub notice_window: Duration,
    /// Poll a cloud metadata service for spot notices: provider, base URL, interval.
    pub spot: Option<(Provider, String, Duration)>,
    /// Build only these nodes of the plan (by node index) and what they need; all of it
    /// when `None`. A search builds each generation this way.
    pub only: Option<Vec<bool>>,
    /// A cache shared through object storage, behind the local one.
    pub remote: Option<RemoteCache>,
}

/// Where the shared cache is and how it is used.
#[derive(Clone, Debug)]
pub struct RemoteCache {
    /// `s3://bucket/prefix`, `gs://…`, `az://…`, `file:///dir`; no credentials.
    pub url: String,
    pub options: RemoteOptions,
}

/// How a build went.
pub struct BuildReport {
    pub summary: BuildSummary,
    /// Where the summary was written (the next build reads it).
    pub summary_path: PathBuf,
    /// Nodes newly stored in the results store, or why nothing could be stored (the cache
    /// holds every result: nothing is lost).
    pub ingested: Option<std::result::Result<usize, String>>,
    /// What the remote cache did, when there is one.
    pub remote: Option<RemoteStats>,
}

#[derive(Serialize, Deserialize)]
struct LastBuild {
    build_id: String,
    status: String,
    summary: serde_json::Value,
}

/// Whether the last build of this sweep on this cache was preempted (this one resumes it).
pub fn resuming(cache_dir: &std::path::Path, sweep: &str) -> Option<String> {
    let last = crate::paths::summary_path(cache_dir, sweep);
    std::fs::read(&last)
        .ok()
        .and_then(|b| serde_json::from_slice::<LastBuild>(&b).ok())
        .filter(|prev| prev.status == "preempted")
        .map(|prev| prev.build_id)
}

/// The executor of each kind: the one asked for, except that light kinds (they read
/// committed outputs and compute for milliseconds: no engine, no GPU, no network) run on a
/// thread of this process rather than paying a process start each.
fn executors(kind: ExecutorKind) -> Result<Executors> {
    let actions = bench_actions::action_for;
    let e = kind
        .executor(actions)
        .map_err(|e| Error::Other(format!("cannot find the bench executable: {e}")))?;
    let light: Vec<NodeKind> = NodeKind::ALL.into_iter().filter(|k| k.is_light()).collect();
    Ok(Executors::all(e).with(&light, Arc::new(InProcess { actions })))
}

/// The scheduler's nodes for `only` and every node they need (inputs renumbered), with the
/// plan index of each; the whole plan when `only` is `None`.
fn subset(all: Vec<SchedNode>, only: Option<&[bool]>) -> (Vec<SchedNode>, Option<Vec<usize>>) {
    let Some(only) = only else {
        return (all, None);
    };
    let mut keep: Vec<bool> = (0..all.len()).map(|i| only.get(i) == Some(&true)).collect();
    // Inputs come before their dependents in plan order: one backward pass closes the set.
    for i in (0..all.len()).rev() {
        if keep[i] {
            for &j in &all[i].inputs {
                keep[j as usize] = true;
            }
        }
    }
    let map: Vec<usize> = (0..all.len()).filter(|i| keep[*i]).collect();
    let mut at = vec![u32::MAX; all.len()];
    for (k, &i) in map.iter().enumerate() {
        at[i] = k as u32;
    }
    let nodes = map
        .iter()
        .map(|&i| {
            let mut n = all[i].clone();
            n.inputs = n.inputs.iter().map(|j| at[*j as usize]).collect();
            n
        })
        .collect();
    (nodes, Some(map))
}

/// The plan's node details under the scheduler's numbering of a subset.
struct Mapped<'a, 's, 'r> {
    view: View<'a, 's, 'r>,
    map: Option<Vec<usize>>,
}

impl Mapped<'_, '_, '_> {
    fn at(&self, i: usize) -> usize {
        self.map.as_ref().map_or(i, |m| m[i])
    }
}

impl NodeDetails for Mapped<'_, '_, '_> {
    fn label(&self, i: usize) -> String {
        self.view.label(self.at(i))
    }
    fn params(&self, i: usize) -> serde_json::Value {
        self.view.params(self.at(i))
    }
    fn context(&self, i: usize) -> serde_json::Value {
        self.view.context(self.at(i))
    }
}

/// Runs a build of `plan`. `note` hears what happens before the scheduler starts (reaped
/// containers); `reporter` consumes the scheduler's events (the progress display).
pub fn run<R, F>(
    req: &BuildRequest,
    plan: &Plan<'_, '_>,
    note: &dyn Fn(&str),
    reporter: R,
) -> Result<BuildReport>
where
    R: FnOnce(UnboundedReceiver<Event>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let dir = &req.cache_dir;
    let cache = LocalCache::open_for_build(dir)
        .map_err(|e| Error::Other(format!("cannot open the cache at {}: {e}", dir.display())))?;
    let sweep = plan.resolved.sweep;
    let build_id = uuid::Uuid::new_v4().to_string();
    let opts = BuildOptions {
        sweep: sweep.name.value.clone(),
        build_id: build_id.clone(),
        jobs: req.jobs,
        keep_going: req.keep_going,
        retry: RetryPolicy {
            attempts: sweep.retry.attempts,
            first_backoff: Duration::from_secs_f64(sweep.retry.backoff_secs),
            ..RetryPolicy::default()
        },
        actions: req.actions,
        hosts: sweep
            .hosts
            .iter()
            .map(|h| HostSlots {
                name: h.name.value.clone(),
                gpu: h.gpu.value.clone(),
                gpus: h.gpus,
                runtime: if plan.resolved.simulate {
                    RuntimeKind::Sim
                } else {
                    h.runtime
                },
                address: h.address.as_ref().map(|a| a.value.clone()),
                tls_dir: h.tls_dir.as_ref().map(|t| t.value.clone()),
                max_jobs: h.cluster.as_ref().map(|c| c.max_jobs),
            })
            .collect(),
    };
    // The build's lease: containers labelled with its id are its own while it runs.
    let _lease = cache
        .lease_build(&build_id)
        .map_err(|e| Error::Other(format!("cannot register the build in the cache: {e}")))?;
    let containers = req.actions == Actions::Real
        && sweep.hosts.iter().any(|h| h.runtime == RuntimeKind::Docker)
        && !plan.resolved.simulate;
    if containers {
        // Engines left running by builds that died (SIGKILL, a reboot) go first.
        for line in crate::docker::reap_orphans(sweep)? {
            note(&line);
        }
    }
    let build_ctx = BuildCtx {
        build: build_id.clone(),
        cache: bench_docker::hygiene::cache_label(dir),
        dir: dir.clone(),
    };
    let last = crate::paths::summary_path(dir, &sweep.name.value);
    let (graph, map) = subset(sched_nodes(plan), req.only.as_deref());
    let view = View {
        plan,
        build: Some(build_ctx),
    };
    let view = Mapped { view, map };
    let exec = crate::pools::with_pools(executors(req.executor)?, &sweep.hosts, dir, &build_id)?;
    let (cache, tiered) = with_remote(cache, req.remote.as_ref())?;
    if let Some(t) = &tiered
        && req.actions == Actions::Real
    {
        // The results the store lacks are read before the build: a corrupt remote entry
        // among them is found now, and recomputed by this build.
        crate::store::prefetch(plan, t.as_ref(), &req.db);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the runtime: {e}")))?;
    let summary: BuildSummary = rt.block_on(async {
        let (etx, erx) = tokio::sync::mpsc::unbounded_channel();
        let (ctx, crx) = tokio::sync::mpsc::unbounded_channel();
        let reporter = tokio::spawn(reporter(erx));
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
        let window = req.notice_window;
        let term = tokio::spawn(async move {
            if let Ok(mut s) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                while s.recv().await.is_some() {
                    let _ = c3.send(Control::Notice { window });
                }
            }
        });
        let poller = req.spot.clone().map(|(provider, base, every)| {
            tokio::spawn(poll_metadata(provider, base, every, window, ctx.clone()))
        });
        let summary = bench_exec::build(&graph, &view, cache.clone(), &exec, &opts, etx, crx).await;
        signals.abort();
        term.abort();
        if let Some(p) = poller {
            p.abort();
        }
        let _ = reporter.await;
        summary
    });
    // Attempts run in this process (in-process executors) leave nothing running either.
    bench_docker::engine::remove_live_containers();
    let status = serde_json::to_value(summary.status)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let record = LastBuild {
        build_id,
        status,
        summary: serde_json::to_value(&summary).unwrap_or_default(),
    };
    if let Some(parent) = last.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let _ = std::fs::write(
        &last,
        serde_json::to_vec_pretty(&record).unwrap_or_default(),
    );
    let ingested = (req.actions == Actions::Real)
        .then(|| crate::store::ingest(plan, cache.as_ref(), &req.db).map_err(|e| e.to_string()));
    let remote = tiered.map(|t| t.remote_stats());
    if let (Some(r), Some(stats)) = (&req.remote, &remote)
        && r.options.strict
        && let Some(why) = &stats.unavailable
    {
        return Err(Error::Other(format!(
            "remote cache {} failed (--remote-cache-strict): {why}; every result is in the local cache",
            stats.url
        )));
    }
    Ok(BuildReport {
        summary,
        summary_path: last,
        ingested,
        remote,
    })
}

/// The build's cache: the local one, behind which the remote tier goes when there is one.
#[allow(clippy::type_complexity)]
/// The local cache behind a shared one, for commands that only read (`bench compare`):
/// what they read is pulled into the local tier; nothing is written remotely.
pub fn read_through(local: LocalCache, url: &str) -> Result<Arc<dyn CacheBackend>> {
    let remote = RemoteCache {
        url: url.to_string(),
        options: RemoteOptions {
            read_only: true,
            ..RemoteOptions::default()
        },
    };
    Ok(with_remote(local, Some(&remote))?.0)
}

/// The cache a build uses, and its shared tier when it has one.
type Caches = (Arc<dyn CacheBackend>, Option<Arc<Tiered>>);

fn with_remote(local: LocalCache, remote: Option<&RemoteCache>) -> Result<Caches> {
    let Some(r) = remote else {
        return Ok((Arc::new(local), None));
    };
    let store =
        Remote::open(&r.url).map_err(|e| Error::Other(format!("remote cache {}: {e}", r.url)))?;
    let t = Arc::new(
        Tiered::new(local, store, r.options.clone()).map_err(|e| Error::Other(e.to_string()))?,
    );
    Ok((t.clone(), Some(t)))
}
