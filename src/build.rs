//! `bench build`, `status`, `explain`, `logs`, `gc`, `cache`: the driver's answers, rendered.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bench_cache::{CacheBackend, GcPolicy};
use bench_driver::explain::Since;
use bench_driver::paths::open_cache;
use bench_driver::session::{BuildRequest, resuming};
use bench_driver::status::find_node;
use bench_exec::spot::Provider;
use bench_exec::{BuildStatus, BuildSummary};
use bench_plan::Plan;

use crate::cli::{BuildArgs, CacheArgs, CacheCommand, GcArgs, NodeArgs, SpotNotice, StatusArgs};
use crate::error::CliError;
use crate::progress;
use crate::render::thousands;

/// Exit status of a build stopped by a spot-interruption notice: rerun to resume.
pub const EXIT_PREEMPTED: u8 = 3;
/// Exit status of a build stopped by Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

pub fn build(a: BuildArgs, plan: &Plan<'_, '_>) -> Result<ExitCode, CliError> {
    let dir = a.cache.dir(Some(&a.sweep));
    let mode = progress::Mode::detect(a.quiet);
    let sweep = &plan.resolved.sweep.name.value;
    if let Some(prev) = resuming(&dir, sweep)
        && mode != progress::Mode::Quiet
    {
        eprintln!("build state: resuming (the last build, {prev}, was preempted)");
    }
    let spot = match a.spot_notice {
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
            Some((provider, base, a.poll_interval))
        }
    };
    let req = BuildRequest {
        sweep_path: a.sweep.clone(),
        cache_dir: dir.clone(),
        db: a
            .db
            .clone()
            .unwrap_or_else(|| bench_driver::paths::default_db(Some(&a.sweep))),
        jobs: a.jobs,
        keep_going: a.keep_going,
        actions: a.actions,
        executor: a.executor,
        notice_window: a.notice_window,
        spot,
    };
    let report = bench_driver::session::run(&req, plan, &|line| eprintln!("{line}"), move |rx| {
        progress::report(mode, rx)
    })?;
    print_summary(&report.summary, &report.summary_path);
    match &report.ingested {
        Some(Ok(n)) if *n > 0 && mode != progress::Mode::Quiet => {
            eprintln!("results: {n} new nodes in {}", req.db.display())
        }
        // The cache holds every result: a store that cannot be written loses nothing.
        Some(Err(e)) => eprintln!("warning: results not stored: {e}"),
        _ => {}
    }
    if mode != progress::Mode::Quiet {
        crate::results::after_build(plan, &dir);
    }
    Ok(match report.summary.status {
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

pub fn status(a: StatusArgs, plan: &Plan<'_, '_>) -> Result<ExitCode, CliError> {
    let dir = a.cache.dir(Some(&a.sweep));
    let cache = open_cache(&dir)?;
    let report = bench_driver::status::status(plan, &cache);
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

pub fn explain(a: NodeArgs, plan: &Plan<'_, '_>) -> Result<ExitCode, CliError> {
    let i = find_node(plan, &a.node)?;
    let cache = open_cache(&a.cache.dir(Some(&a.sweep)))?;
    let e = bench_driver::explain::explain(plan, &cache, i);
    println!("{}", e.label);
    println!("  key          {}", e.key);
    println!(
        "  kind         {} (version {}), key schema {}",
        e.kind.name(),
        e.kind.version(),
        bench_plan::KEY_SCHEMA_VERSION
    );
    println!("  cache-version {}", e.cache_version);
    if !e.fingerprint.is_empty() {
        println!("  fingerprint  {}", e.fingerprint);
    }
    println!(
        "  params       {}",
        serde_json::to_string_pretty(&e.params)
            .unwrap_or_default()
            .replace('\n', "\n               ")
    );
    if !e.inputs.is_empty() {
        println!("  inputs");
        for (short, l) in &e.inputs {
            println!("    {short} {l}");
        }
    }
    println!("  status       {} ({})", e.why.status(), e.why.phrase());
    if let Some(f) = &e.last_failure {
        println!(
            "  last failure {} after {} attempt(s): {}",
            f.class, f.attempts, f.message
        );
    }
    match &e.since {
        Since::Changed {
            key,
            params,
            inputs,
        } => {
            println!("  last committed key of this node: {key}");
            for (path, old, new) in params {
                println!("    param {path}: {old} -> {new}");
            }
            for (il, old, new) in inputs {
                match new {
                    Some(new) => println!(
                        "    input {il}: {} -> {}",
                        &old[..12.min(old.len())],
                        &new[..12.min(new.len())]
                    ),
                    None => println!("    input {il}: removed"),
                }
            }
            if params.is_empty() && inputs.is_empty() {
                println!(
                    "    params and inputs are equal: a version, fingerprint or cache-version changed"
                );
            }
        }
        Since::Same => println!("  committed with this key"),
        Since::Never => println!("  never committed before"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn logs(a: NodeArgs, plan: &Plan<'_, '_>) -> Result<ExitCode, CliError> {
    let i = find_node(plan, &a.node)?;
    let dir = a.cache.dir(Some(&a.sweep));
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
    let dir = a.cache.dir(a.sweeps.first().map(PathBuf::as_path));
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
    let dir = a.cache.dir(None);
    let cache = open_cache(&dir)?;
    match a.command {
        CacheCommand::Verify { json } => {
            let r = cache.verify_all();
            if json {
                println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            } else {
                println!(
                    "verified {} entries of {}: {} corrupt",
                    thousands(r.manifests as usize),
                    dir.display(),
                    r.corrupt.len()
                );
                for (key, why) in &r.corrupt {
                    println!("  set aside {}: {why}", &key[..12.min(key.len())]);
                }
            }
            if !r.corrupt.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
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
