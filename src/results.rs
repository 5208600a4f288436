//! `bench results` and `bench report`, and the table printed after `bench build`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bench_driver::results::{Results, collect};
use bench_plan::Plan;

use crate::cli::{ReportArgs, ResultsArgs};
use crate::error::CliError;

fn fmt(v: Option<&f64>, prec: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.prec$}"),
        _ => "—".into(),
    }
}

/// Prints the table: at most `limit` rows (all with `None`).
pub fn print(res: &Results, limit: Option<usize>) {
    if res.rows.is_empty() {
        println!(
            "no results yet for {}: `bench build` runs the sweep",
            res.sweep
        );
        return;
    }
    let simulated = res.rows.iter().any(|r| r.aggregate.simulated);
    println!(
        "\nresults of {}{} — latencies in ms (pooled over repeats), throughput the mean over repeats",
        res.sweep,
        if simulated {
            " (SIMULATED engines)"
        } else {
            ""
        }
    );
    let width = res
        .rows
        .iter()
        .take(limit.unwrap_or(usize::MAX))
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(10)
        .clamp(10, 90);
    println!(
        "{:>4}  {:<width$}  {:>8} {:>8} {:>8} {:>8} {:>10} {:>8} {:>8}",
        "rank",
        "configuration / load",
        "TTFT p50",
        "TTFT p95",
        "TPOT p50",
        "E2E p95",
        "out tok/s",
        "goodput",
        "$/Mtok"
    );
    let shown = limit.unwrap_or(usize::MAX);
    for row in res.rows.iter().take(shown) {
        let m = &row.aggregate.metrics;
        let rank = match row.rank {
            Some(r) => format!("{r}"),
            None if !row.feasible => "✗".into(),
            None => "".into(),
        };
        let thr = match row.aggregate.ci.get("output-throughput") {
            Some(c) if c.n > 1 => format!("{:.0}±{:.0}", c.mean, (c.high - c.mean).abs()),
            _ => fmt(m.get("output-throughput"), 0),
        };
        println!(
            "{rank:>4}  {:<width$}  {:>8} {:>8} {:>8} {:>8} {:>10} {:>8} {:>8}",
            row.label,
            fmt(m.get("ttft-p50"), 2),
            fmt(m.get("ttft-p95"), 2),
            fmt(m.get("tpot-p50"), 2),
            fmt(m.get("e2e-p95"), 1),
            thr,
            fmt(m.get("goodput"), 2),
            fmt(m.get("cost-per-mtok"), 3),
        );
        if !row.feasible {
            for why in &row.reasons {
                println!("{:>4}  {:<width$}  ✗ {why}", "", "");
            }
        }
    }
    if res.rows.len() > shown {
        println!(
            "      … {} more (`bench results SWEEP --all`)",
            res.rows.len() - shown
        );
    }
    if res.missing > 0 {
        println!(
            "      {} configuration/load points not built yet",
            res.missing
        );
    }
    if let Some(o) = &res.recommendations {
        let objectives: Vec<String> = o.objectives.iter().map(ToString::to_string).collect();
        println!(
            "ranked by {} ({}): {}",
            o.method,
            o.normalization,
            objectives.join(", ")
        );
        for n in &o.notes {
            println!("note: {n}");
        }
    }
}

pub fn results(a: ResultsArgs, plan: &Plan<'_, '_>) -> Result<ExitCode, CliError> {
    let dir = a.cache.dir(Some(&a.sweep));
    let cache = bench_driver::paths::existing_cache(&dir, &a.sweep)?;
    let res = collect(plan, &cache);
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&res).map_err(|e| CliError::Other(e.to_string()))?
        );
    } else {
        print(&res, if a.all { None } else { Some(20) });
    }
    Ok(ExitCode::SUCCESS)
}

/// After a build: the table, when there is anything to show.
pub fn after_build(plan: &Plan<'_, '_>, cache_dir: &Path) {
    if let Ok(cache) = bench_driver::paths::open_cache(cache_dir) {
        let res = collect(plan, &cache);
        if !res.rows.is_empty() {
            print(&res, Some(20));
        }
    }
}

/// `bench report`: the HTML report and its Markdown summary, written.
pub fn report(a: ReportArgs, plan: &Plan<'_, '_>) -> Result<ExitCode, CliError> {
    let dir = a.cache.dir(Some(&a.sweep));
    let cache = bench_driver::paths::open_cache(&dir)?;
    let res = collect(plan, &cache);
    if res.rows.is_empty() {
        return Err(CliError::Other(format!(
            "no results for {} yet: `bench build {}` runs it",
            res.sweep,
            a.sweep.display()
        )));
    }
    let out = a
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("report.html"));
    std::fs::write(&out, bench_driver::report::html(&res))
        .map_err(|e| CliError::Other(format!("cannot write {}: {e}", out.display())))?;
    let md = a
        .markdown
        .clone()
        .unwrap_or_else(|| out.with_extension("md"));
    std::fs::write(&md, bench_driver::report::markdown(&res))
        .map_err(|e| CliError::Other(format!("cannot write {}: {e}", md.display())))?;
    eprintln!("wrote {} and {}", out.display(), md.display());
    Ok(ExitCode::SUCCESS)
}
