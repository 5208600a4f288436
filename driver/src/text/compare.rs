//! `bench compare` as a Markdown table (a terminal reads it as well as a PR comment).

use std::io::{Result, Write};

use bench_analysis::Sense;
use bench_analysis::compare::Verdict;

use crate::compare::Comparison;

fn pct(x: f64) -> String {
    format!("{:+.1} %", 100.0 * x)
}

fn num(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

/// The verdict line, then one row per configuration × objective, regressions first.
pub fn markdown(c: &Comparison, out: &mut dyn Write) -> Result<()> {
    let configs: std::collections::BTreeSet<&str> =
        c.lines.iter().map(|l| l.label.as_str()).collect();
    writeln!(
        out,
        "### bench compare: `{}` → `{}`",
        c.baseline, c.candidate
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{} configurations compared (threshold {:.1} %, rank test α {}): **{} regressed**, {} improved, {} unchanged.",
        configs.len(),
        100.0 * c.threshold,
        c.alpha,
        c.count(Verdict::Regressed),
        c.count(Verdict::Improved),
        c.count(Verdict::Unchanged),
    )?;
    if !c.only_baseline.is_empty() || !c.only_candidate.is_empty() {
        writeln!(
            out,
            "Not compared: {} only in the baseline, {} only in the candidate.",
            c.only_baseline.len(),
            c.only_candidate.len()
        )?;
    }
    if c.lines.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "| configuration | objective | baseline | candidate | change | interval | p | verdict |"
    )?;
    writeln!(out, "|---|---|---:|---:|---:|---|---:|---|")?;
    let order = |v: Verdict| match v {
        Verdict::Regressed => 0,
        Verdict::Improved => 1,
        Verdict::Unchanged => 2,
    };
    let mut lines: Vec<_> = c.lines.iter().collect();
    lines.sort_by_key(|l| (order(l.change.verdict), l.label.clone(), l.metric.clone()));
    for l in lines {
        let arrow = if l.sense == Sense::Max { "↑" } else { "↓" };
        let verdict = match l.change.verdict {
            Verdict::Regressed => "**regressed**",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
        };
        writeln!(
            out,
            "| {} | {} {arrow} | {} | {} | {} | {} | {} | {verdict} |",
            l.label,
            l.metric,
            num(l.baseline),
            num(l.candidate),
            pct(l.change.relative),
            l.change
                .ci
                .map(|(a, b)| format!("{} … {}", pct(a), pct(b)))
                .unwrap_or_default(),
            l.change
                .p_value
                .map(|p| format!("{p:.2e}"))
                .unwrap_or_default(),
        )?;
    }
    Ok(())
}
