//! `bench build`: the request from the flags, the driver's build, the summary and the exit
//! status.

use std::path::Path;
use std::process::ExitCode;

use bench_cache::RemoteOptions;
use bench_driver::progress;
use bench_driver::search::Stop;
use bench_driver::session::{BuildRequest, RemoteCache, resuming};
use bench_exec::BuildStatus;
use bench_exec::spot::Provider;
use bench_plan::Plan;

use crate::cli::{BuildArgs, SpotNotice};
use crate::error::CliError;

/// Exit status of a build stopped by a spot-interruption notice: rerun to resume.
pub const EXIT_PREEMPTED: u8 = 3;
/// Exit status of a build stopped by Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

pub fn build(a: BuildArgs, plan: &Plan<'_, '_>, dir: &Path) -> Result<ExitCode, CliError> {
    let mode = progress::Mode::detect(a.quiet, a.ci);
    let loud = mode != progress::Mode::Quiet;
    let sweep = &plan.resolved.sweep.name.value;
    if let Some(prev) = resuming(dir, sweep)
        && loud
    {
        eprintln!("build state: resuming (the last build, {prev}, was preempted)");
    }
    let spot = match a.spot_notice {
        SpotNotice::Off => None,
        SpotNotice::Aws => Some(Provider::Aws),
        SpotNotice::Gcp => Some(Provider::Gcp),
    }
    .map(|p| {
        let base = a.metadata_url.clone();
        (
            p,
            base.unwrap_or_else(|| p.default_base().to_string()),
            a.poll_interval,
        )
    });
    let req = BuildRequest {
        sweep_path: a.sweep.clone(),
        cache_dir: dir.to_path_buf(),
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
        only: bench_driver::status::nodes_mask(plan, &a.nodes)?,
        remote: a.remote_cache.clone().map(|url| RemoteCache {
            url,
            options: RemoteOptions {
                read_only: a.remote_cache_read_only,
                strict: a.remote_cache_strict,
                ..RemoteOptions::default()
            },
        }),
    };
    let reporter = move |rx| progress::report(mode, rx);
    let note = |line: &str| eprintln!("{line}");
    let (report, searched) = bench_driver::search::build_or_search(
        &req,
        plan,
        a.grid || !a.nodes.is_empty(),
        &note,
        reporter,
    )?;
    // A search that ends its generations succeeds: a configuration that failed is one of
    // its observations.
    let Some(report) = report else {
        return Ok(ExitCode::from(u8::from(searched == Some(Stop::Unfinished))));
    };
    let s = &report.summary;
    bench_driver::text::build::summary(s, &report.summary_path, &mut std::io::stderr())?;
    if let Some(r) = &report.remote {
        bench_driver::text::build::remote(r, &mut std::io::stderr())?;
    }
    let summary_to = bench_driver::ci::summary_path(a.summary.as_deref(), a.ci);
    bench_driver::ci::write(
        plan,
        dir,
        &report,
        summary_to.as_deref(),
        a.junit.as_deref(),
    )?;
    match &report.ingested {
        Some(Ok(n)) if *n > 0 && loud => {
            eprintln!("results: {n} new nodes in {}", req.db.display())
        }
        // The cache holds every result: a store that cannot be written loses nothing.
        Some(Err(e)) => eprintln!("warning: results not stored: {e}"),
        _ => {}
    }
    if loud && let Ok(cache) = bench_driver::paths::open_cache(dir) {
        let res = bench_driver::results::collect(plan, &cache);
        if !res.rows.is_empty() {
            crate::render::show(|out| bench_driver::text::results::table(&res, Some(20), out))?;
        }
    }
    Ok(match s.status {
        _ if searched.is_some_and(|stop| stop != Stop::Unfinished) => ExitCode::SUCCESS,
        BuildStatus::Succeeded => ExitCode::SUCCESS,
        BuildStatus::Failed => ExitCode::from(1),
        BuildStatus::Interrupted => ExitCode::from(EXIT_INTERRUPTED),
        BuildStatus::Preempted => ExitCode::from(EXIT_PREEMPTED),
    })
}
