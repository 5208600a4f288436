//! Reports: one self-contained HTML file (no network: inline CSS and SVG) and a
//! Markdown summary fit for a CI comment, from the results the cache holds.

use std::fmt::Write as _;

use bench_node::outputs::TokenCounts;
use bench_node::records::TokenSource;

use crate::results::{Results, Row};

const PALETTE: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn metric(r: &Row, name: &str) -> Option<f64> {
    r.aggregate
        .metrics
        .get(name)
        .copied()
        .filter(|v| v.is_finite())
}

fn num(v: Option<f64>, prec: usize) -> String {
    v.map_or("—".into(), |v| format!("{v:.prec$}"))
}

/// Round tick steps: 1, 2, 5 × 10^k, about `n` of them over [lo, hi].
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 {
        out.push(t);
        t += step;
    }
    out
}

/// Output throughput against TTFT p95, coloured by engine, the first front joined.
fn scatter(rows: &[&Row], engines: &[String]) -> String {
    let (w, h, ml, mb, mt, mr) = (720.0, 420.0, 70.0, 50.0, 20.0, 20.0);
    let pts: Vec<(f64, f64, &Row)> = rows
        .iter()
        .filter_map(|r| Some((metric(r, "ttft-p95")?, metric(r, "output-throughput")?, *r)))
        .collect();
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="output throughput against TTFT p95">"#
    );
    if pts.is_empty() {
        s.push_str(
            r#"<text x="20" y="40">no point has both TTFT p95 and output throughput</text></svg>"#,
        );
        return s;
    }
    let (x0, x1) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| {
        (a.0.min(p.0), a.1.max(p.0))
    });
    let (y0, y1) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| {
        (a.0.min(p.1), a.1.max(p.1))
    });
    let (x0, x1) = (0.0f64.min(x0), x1 * 1.05 + 1e-9);
    let (y0, y1) = (0.0f64.min(y0), y1 * 1.05 + 1e-9);
    let px = |x: f64| ml + (x - x0) / (x1 - x0) * (w - ml - mr);
    let py = |y: f64| h - mb - (y - y0) / (y1 - y0) * (h - mb - mt);
    let _ = write!(
        s,
        r##"<rect x="{ml}" y="{mt}" width="{}" height="{}" fill="#fafafa" stroke="#999"/>"##,
        w - ml - mr,
        h - mb - mt
    );
    for t in ticks(x0, x1, 6) {
        let x = px(t);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{mt}" stroke="#e4e4e4"/><text x="{x:.1}" y="{}" font-size="11" text-anchor="middle">{t}</text>"##,
            h - mb,
            h - mb + 16.0
        );
    }
    for t in ticks(y0, y1, 6) {
        let y = py(t);
        let _ = write!(
            s,
            r##"<line x1="{ml}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{t}</text>"##,
            w - mr,
            ml - 6.0,
            y + 4.0
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">TTFT p95 (ms)</text><text x="16" y="{}" font-size="12" text-anchor="middle" transform="rotate(-90 16 {})">output throughput (tokens/s)</text>"#,
        (ml + w - mr) / 2.0,
        h - 10.0,
        (mt + h - mb) / 2.0,
        (mt + h - mb) / 2.0
    );
    // The first front as a line, from low latency to high.
    let mut front: Vec<&(f64, f64, &Row)> = pts.iter().filter(|p| p.2.front == Some(0)).collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    if front.len() > 1 {
        let path: Vec<String> = front
            .iter()
            .map(|p| format!("{:.1},{:.1}", px(p.0), py(p.1)))
            .collect();
        let _ = write!(
            s,
            r##"<polyline class="front" points="{}" fill="none" stroke="#444" stroke-dasharray="4 3"/>"##,
            path.join(" ")
        );
    }
    for (x, y, r) in &pts {
        let e = engines.iter().position(|e| *e == engine_of(r)).unwrap_or(0);
        let color = PALETTE[e % PALETTE.len()];
        let (radius, stroke) = if r.front == Some(0) {
            (6.0, "#000")
        } else {
            (4.5, "none")
        };
        let opacity = if r.feasible { "0.9" } else { "0.3" };
        let _ = write!(
            s,
            r#"<circle class="point" cx="{:.1}" cy="{:.1}" r="{radius}" fill="{color}" fill-opacity="{opacity}" stroke="{stroke}"><title>{} — TTFT p95 {x:.2} ms, {y:.0} tok/s{}</title></circle>"#,
            px(*x),
            py(*y),
            esc(&r.label),
            r.rank.map_or(String::new(), |k| format!(", rank {k}"))
        );
    }
    for (i, e) in engines.iter().enumerate() {
        let (lx, ly) = (w - mr - 150.0, mt + 16.0 + i as f64 * 18.0);
        let _ = write!(
            s,
            r#"<circle cx="{lx}" cy="{ly}" r="5" fill="{}"/><text x="{}" y="{}" font-size="12">{}</text>"#,
            PALETTE[i % PALETTE.len()],
            lx + 10.0,
            ly + 4.0,
            esc(e)
        );
    }
    s.push_str("</svg>");
    s
}

/// Hypervolume against candidates measured, one point per search generation.
fn curve(points: &[(usize, f64)]) -> String {
    let (w, h, ml, mb, mt, mr) = (520.0, 260.0, 60.0, 44.0, 14.0, 16.0);
    let x1 = points.iter().map(|p| p.0).max().unwrap_or(1).max(1) as f64;
    let y1 = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-9) * 1.05;
    let px = |x: f64| ml + x / x1 * (w - ml - mr);
    let py = |y: f64| h - mb - y / y1 * (h - mb - mt);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="hypervolume against evaluations"><rect x="{ml}" y="{mt}" width="{}" height="{}" fill="#fafafa" stroke="#999"/>"##,
        w - ml - mr,
        h - mb - mt
    );
    for t in ticks(0.0, x1, 5) {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" font-size="11" text-anchor="middle">{t}</text>"#,
            px(t),
            h - mb + 16.0
        );
    }
    for t in ticks(0.0, y1, 4) {
        let _ = write!(
            s,
            r#"<text x="{}" y="{:.1}" font-size="11" text-anchor="end">{t}</text>"#,
            ml - 6.0,
            py(t) + 4.0
        );
    }
    let path: Vec<String> = std::iter::once((0usize, 0.0))
        .chain(points.iter().copied())
        .map(|(x, y)| format!("{:.1},{:.1}", px(x as f64), py(y)))
        .collect();
    let _ = write!(
        s,
        r##"<polyline class="hypervolume" points="{}" fill="none" stroke="#1f77b4" stroke-width="2"/><text x="{}" y="{}" font-size="12" text-anchor="middle">configuration × load points measured</text><text x="14" y="{}" font-size="12" text-anchor="middle" transform="rotate(-90 14 {})">hypervolume</text></svg>"##,
        path.join(" "),
        (ml + w - mr) / 2.0,
        h - 8.0,
        (mt + h - mb) / 2.0,
        (mt + h - mb) / 2.0
    );
    s
}

fn engine_of(r: &Row) -> String {
    r.engine.clone()
}

/// `bench report`: the results of `plan` (the sweep at `sweep`) in `cache`, with a search's
/// generations replayed, as the HTML report at `html_path` and its Markdown summary at
/// `md_path`.
pub fn write(
    sweep: &std::path::Path,
    plan: &bench_plan::Plan<'_, '_>,
    cache: &dyn bench_cache::CacheBackend,
    html_path: &std::path::Path,
    md_path: &std::path::Path,
) -> crate::error::Result<()> {
    let mut res = crate::results::collect(plan, cache);
    if res.rows.is_empty() {
        return Err(crate::error::Error::Other(format!(
            "no results for {} yet: `bench build {}` runs it",
            res.sweep,
            sweep.display()
        )));
    }
    if res.searched {
        res.search = crate::search::replay(plan, cache)
            .iter()
            .map(|g| (g.used, g.hypervolume))
            .collect();
        if res.missing == 0 {
            res.reached = crate::search::reached(plan, cache);
        }
    }
    for (path, text) in [(html_path, html(&res)), (md_path, markdown(&res))] {
        std::fs::write(path, text).map_err(|e| {
            crate::error::Error::Other(format!("cannot write {}: {e}", path.display()))
        })?;
    }
    Ok(())
}

pub fn html(res: &Results) -> String {
    let rows: Vec<&Row> = res.rows.iter().collect();
    let mut engines: Vec<String> = rows.iter().map(|r| engine_of(r)).collect();
    engines.sort();
    engines.dedup();
    let simulated = rows.iter().any(|r| r.aggregate.simulated);
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bench report — {name}</title>
<style>body{{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222}}table{{border-collapse:collapse;margin:8px 0 24px}}td,th{{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}}td:first-child,th:first-child,td.l{{text-align:left}}.bad{{color:#b00}}.banner{{background:#fff4d6;padding:6px 10px;border:1px solid #e0c060}}</style></head><body>
<h1>bench report — {name}</h1>"#,
        name = esc(&res.sweep)
    );
    if simulated {
        h.push_str(r#"<p class="banner">These results come from the <b>simulated</b> engine: a rehearsal, not a measurement of hardware.</p>"#);
    }
    if let Some(t) = token_counts(res) {
        let _ = write!(h, "<p>Token counts: {}.</p>", esc(&t));
    }
    let ranked: Vec<&&Row> = rows.iter().filter(|r| r.rank.is_some()).collect();
    let _ = write!(
        h,
        "<p>{} configuration × load points, {} ranked, {} invalid or outside a constraint, {} {}.</p>",
        rows.len(),
        ranked.len(),
        rows.iter().filter(|r| !r.feasible).count(),
        res.missing,
        if res.searched {
            "skipped by the search"
        } else {
            "not built yet"
        }
    );
    if let Some(o) = &res.recommendations {
        let obj: Vec<String> = o.objectives.iter().map(|x| esc(&x.to_string())).collect();
        let _ = write!(
            h,
            "<h2>Recommendations</h2><p>Ranked by {} ({}): {}.</p>",
            esc(&o.method),
            esc(&o.normalization),
            obj.join(", ")
        );
    }
    h.push_str("<table id=\"recommendations\"><tr><th>rank</th><th>configuration / load</th><th>front</th><th>score</th><th>TTFT p50</th><th>TTFT p95</th><th>TPOT p50</th><th>E2E p95</th><th>out tok/s</th><th>goodput</th><th>$/Mtok</th></tr>");
    for r in ranked.iter().take(10) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.rank.unwrap_or(0),
            esc(&r.label),
            r.front.map_or("—".into(), |f| f.to_string()),
            num(r.score, 3),
            num(metric(r, "ttft-p50"), 2),
            num(metric(r, "ttft-p95"), 2),
            num(metric(r, "tpot-p50"), 2),
            num(metric(r, "e2e-p95"), 1),
            num(metric(r, "output-throughput"), 0),
            num(metric(r, "goodput"), 2),
            num(metric(r, "cost-per-mtok"), 3),
        );
    }
    h.push_str("</table><h2>Trade-off: output throughput against TTFT p95</h2><p>Outlined points form the first Pareto front (dashed); faded points are invalid or outside a constraint.</p>");
    h.push_str(&scatter(&rows, &engines));
    if !res.search.is_empty() {
        let _ = write!(
            h,
            "<h2>Search</h2><p>{} configuration × load points measured, {} skipped; the hypervolume of what was measured after each generation (objectives as logarithms, scaled by the estimate's range):</p>",
            rows.len(),
            res.missing
        );
        h.push_str(&curve(&res.search));
        if let Some(share) = res.reached {
            let _ = write!(
                h,
                "<p id=\"reached\">The whole grid is measured now: what the search chose reaches {share:.3} of its hypervolume.</p>"
            );
        }
        if !res.skipped.is_empty() {
            let _ = write!(
                h,
                "<details id=\"skipped\"><summary>{} skipped</summary><ul>",
                res.skipped.len()
            );
            for l in &res.skipped {
                let _ = write!(h, "<li>{}</li>", esc(l));
            }
            h.push_str("</ul></details>");
        }
    }
    let invalid: Vec<&&Row> = rows.iter().filter(|r| !r.feasible).collect();
    if !invalid.is_empty() {
        h.push_str("<h2>Invalid or outside a constraint</h2><ul id=\"invalid\">");
        for r in invalid {
            let _ = write!(
                h,
                "<li class=\"bad\">{}: {}</li>",
                esc(&r.label),
                esc(&r.reasons.join("; "))
            );
        }
        h.push_str("</ul>");
    }
    h.push_str("<h2>Every configuration</h2><table id=\"all\"><tr><th>configuration / load</th><th>valid</th><th>repeats</th><th>requests</th><th>TTFT p99</th><th>TPOT p99</th><th>ITL p99</th><th>E2E p99</th><th>out tok/s (CI)</th><th>error rate</th><th>GPU GiB</th></tr>");
    for r in &rows {
        let ci = r
            .aggregate
            .ci
            .get("output-throughput")
            .filter(|c| c.n > 1)
            .map_or(String::new(), |c| format!(" [{:.0}, {:.0}]", c.low, c.high));
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{ci}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.label),
            if r.aggregate.valid {
                "yes"
            } else {
                "<span class=\"bad\">no</span>"
            },
            r.aggregate.repeats_valid,
            r.aggregate.repeats,
            r.aggregate.requests,
            num(metric(r, "ttft-p99"), 2),
            num(metric(r, "tpot-p99"), 2),
            num(metric(r, "itl-p99"), 2),
            num(metric(r, "e2e-p99"), 1),
            num(metric(r, "output-throughput"), 0),
            num(metric(r, "error-rate"), 3),
            num(metric(r, "gpu-memory-gb"), 1),
        );
    }
    h.push_str("</table><p>Latencies in milliseconds, pooled over the valid repeats' requests; throughputs are the mean over repeats (95 % Student-t interval). Generated by bench.</p></body></html>\n");
    h
}

pub fn markdown(res: &Results) -> String {
    let mut m = String::new();
    let simulated = res.rows.iter().any(|r| r.aggregate.simulated);
    let _ = writeln!(
        m,
        "### bench: {}{}\n",
        res.sweep,
        if simulated { " (simulated)" } else { "" }
    );
    let _ = writeln!(
        m,
        "| rank | configuration / load | TTFT p95 (ms) | TPOT p50 (ms) | output tok/s | $/Mtok |"
    );
    let _ = writeln!(m, "|---:|---|---:|---:|---:|---:|");
    for r in res.rows.iter().filter(|r| r.rank.is_some()).take(5) {
        let _ = writeln!(
            m,
            "| {} | `{}` | {} | {} | {} | {} |",
            r.rank.unwrap_or(0),
            r.label,
            num(metric(r, "ttft-p95"), 2),
            num(metric(r, "tpot-p50"), 2),
            num(metric(r, "output-throughput"), 0),
            num(metric(r, "cost-per-mtok"), 3)
        );
    }
    let invalid: Vec<&Row> = res.rows.iter().filter(|r| !r.feasible).collect();
    let _ = writeln!(
        m,
        "\n{} points, {} invalid or outside a constraint.",
        res.rows.len(),
        invalid.len()
    );
    for r in invalid.iter().take(10) {
        let _ = writeln!(m, "- ✗ `{}`: {}", r.label, r.reasons.join("; "));
    }
    if let Some(t) = token_counts(res) {
        let _ = writeln!(m, "\nToken counts: {t}.");
    }
    m
}

/// Where the results' token counts come from: each distinct provenance, with the points
/// that have it when they differ (`input server-usage, output tokenizer (12 requests
/// without usage)`).
fn token_counts(res: &Results) -> Option<String> {
    // (input and output sources, requests without usage, points).
    type Seen = (Option<(TokenSource, TokenSource)>, u64, usize);
    let mut seen: Vec<Seen> = Vec::new();
    for r in &res.rows {
        let t = r.aggregate.tokens_from;
        let key = t.map(|t| (t.input, t.output));
        let missing = t.map_or(0, |t| t.without_usage);
        match seen.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, m, n)) => (*m, *n) = (*m + missing, *n + 1),
            None => seen.push((key, missing, 1)),
        }
    }
    let say = |(k, missing, _): &Seen| match k {
        Some((input, output)) => TokenCounts {
            input: *input,
            output: *output,
            without_usage: *missing,
        }
        .to_string(),
        None => "not recorded".into(),
    };
    match seen.as_slice() {
        [] => None,
        [one] => Some(say(one)),
        many => Some(
            many.iter()
                .map(|e| format!("{} in {} points", say(e), e.2))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}
