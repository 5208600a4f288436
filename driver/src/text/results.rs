//! `bench results` and the table after `bench build`: one row per configuration and load
//! point, in recommendation order.

use std::io::{Result, Write};

use crate::results::Results;

fn fmt(v: Option<&f64>, prec: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.prec$}"),
        _ => "—".into(),
    }
}

/// The table: at most `limit` rows (all with `None`).
pub fn table(res: &Results, limit: Option<usize>, out: &mut dyn Write) -> Result<()> {
    if res.rows.is_empty() {
        return writeln!(
            out,
            "no results yet for {}: `bench build` runs the sweep",
            res.sweep
        );
    }
    let simulated = res.rows.iter().any(|r| r.aggregate.simulated);
    writeln!(
        out,
        "\nresults of {}{} — latencies in ms (pooled over repeats), throughput the mean over repeats",
        res.sweep,
        if simulated {
            " (SIMULATED engines)"
        } else {
            ""
        }
    )?;
    let shown = limit.unwrap_or(usize::MAX);
    let width = res
        .rows
        .iter()
        .take(shown)
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(10)
        .clamp(10, 90);
    writeln!(
        out,
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
    )?;
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
        writeln!(
            out,
            "{rank:>4}  {:<width$}  {:>8} {:>8} {:>8} {:>8} {:>10} {:>8} {:>8}",
            row.label,
            fmt(m.get("ttft-p50"), 2),
            fmt(m.get("ttft-p95"), 2),
            fmt(m.get("tpot-p50"), 2),
            fmt(m.get("e2e-p95"), 1),
            thr,
            fmt(m.get("goodput"), 2),
            fmt(m.get("cost-per-mtok"), 3),
        )?;
        if !row.feasible {
            for why in &row.reasons {
                writeln!(out, "{:>4}  {:<width$}  ✗ {why}", "", "")?;
            }
        }
    }
    if res.rows.len() > shown {
        writeln!(
            out,
            "      … {} more (`bench results SWEEP --all`)",
            res.rows.len() - shown
        )?;
    }
    if res.missing > 0 && res.searched {
        writeln!(
            out,
            "      {} configuration/load points not measured: skipped by the search (`bench build --grid` runs them)",
            res.missing
        )?;
    } else if res.missing > 0 {
        writeln!(
            out,
            "      {} configuration/load points not built yet",
            res.missing
        )?;
    }
    if let Some(o) = &res.recommendations {
        let objectives: Vec<String> = o.objectives.iter().map(ToString::to_string).collect();
        writeln!(
            out,
            "ranked by {} ({}): {}",
            o.method,
            o.normalization,
            objectives.join(", ")
        )?;
        for n in &o.notes {
            writeln!(out, "note: {n}")?;
        }
    }
    Ok(())
}
