//! `bench plan`: a plan's summary with each node's status, as text or streamed JSON.

use std::collections::BTreeMap;
use std::io::{Result, Write};

use bench_plan::{NodeKind, Plan, output};
use bench_sweep::Source;

use super::thousands;
use crate::status::Why;

/// Every node with its status, streamed: a large sweep has hundreds of thousands of nodes.
pub fn json(plan: &Plan<'_, '_>, why: &[Why], out: &mut dyn Write) -> Result<()> {
    let summary = output::summary(plan);
    out.write_all(b"{\"summary\":")?;
    serde_json::to_writer(&mut *out, &summary)?;
    out.write_all(b",\"nodes\":[")?;
    for (n, i) in plan.graph.node_indices().enumerate() {
        if n > 0 {
            out.write_all(b",")?;
        }
        let w = &why[i.index()];
        serde_json::to_writer(
            &mut *out,
            &output::node_json(plan, i, w.status(), w.phrase()),
        )?;
    }
    out.write_all(b"],\"pruned\":[")?;
    for (n, p) in output::pruned_json(plan).enumerate() {
        if n > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &p)?;
    }
    out.write_all(b"]}\n")
}

/// The summary: matrix, valid and pruned configurations, nodes by kind, what will run and
/// why, pruning by reason (every pruned configuration with `show_pruned`).
pub fn human(
    plan: &Plan<'_, '_>,
    source: &Source,
    why: &[Why],
    show_pruned: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let s = output::summary(plan);
    writeln!(out, "sweep {}  ({})", s.sweep, source.name)?;
    let mut matrix = format!("{} points", thousands(s.matrix_points));
    if s.excluded > 0 || s.included > 0 {
        matrix.push_str(&format!(
            " ({} excluded, {} included)",
            thousands(s.excluded),
            thousands(s.included)
        ));
    }
    writeln!(out, "  matrix      {matrix}")?;
    writeln!(out, "  valid       {} configurations", thousands(s.valid))?;
    writeln!(out, "  pruned      {} configurations", thousands(s.pruned))?;
    let nodes = NodeKind::ALL
        .iter()
        .map(|k| {
            format!(
                "{} {}",
                k.name(),
                thousands(s.nodes.get(k).copied().unwrap_or(0))
            )
        })
        .collect::<Vec<_>>()
        .join(" · ");
    writeln!(
        out,
        "  nodes       {nodes}  ({} in all)",
        thousands(s.total_nodes)
    )?;
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for w in why {
        *counts.entry(w.phrase()).or_default() += 1;
    }
    let cached = counts.remove("cached").unwrap_or(0);
    let runs = counts
        .iter()
        .map(|(k, n)| format!("{} {k}", thousands(*n)))
        .collect::<Vec<_>>()
        .join(", ");
    let runs = if runs.is_empty() {
        String::new()
    } else {
        format!(" ({runs})")
    };
    let Some(search) = &plan.resolved.sweep.search else {
        writeln!(
            out,
            "  status      {} cached, {} will run{runs}",
            thousands(cached),
            thousands(s.total_nodes - cached)
        )?;
        return pruned(plan, &s, show_pruned, out);
    };
    // A search builds the nodes of the points it measures (each point's bench, validate
    // and aggregate nodes) and what they share (download, setup, optimize).
    let candidates = plan
        .graph
        .node_weights()
        .filter(|n| n.kind == NodeKind::Aggregate)
        .count();
    let of_points = plan
        .graph
        .node_weights()
        .filter(|n| {
            matches!(
                n.kind,
                NodeKind::Bench | NodeKind::Validate | NodeKind::Aggregate
            )
        })
        .count();
    let shared = plan
        .graph
        .node_indices()
        .filter(|i| {
            !matches!(
                plan.graph[*i].kind,
                NodeKind::Bench | NodeKind::Validate | NodeKind::Aggregate
            ) && why[i.index()] != Why::Cached
        })
        .count();
    let budget = search.budget.of(candidates);
    let at_most = (shared + budget * of_points / candidates.max(1)).min(s.total_nodes - cached);
    writeln!(
        out,
        "  status      {} cached, at most {} will run ({} for the whole grid)",
        thousands(cached),
        thousands(at_most),
        thousands(s.total_nodes - cached)
    )?;
    writeln!(
        out,
        "  search      {}: {} of {} configuration × load points, {} a generation (`bench build` runs only those; `--grid` all)",
        search.strategy,
        thousands(budget),
        thousands(candidates),
        search.batch
    )?;
    pruned(plan, &s, show_pruned, out)
}

/// Pruning by reason, and every pruned configuration with `show_pruned`.
fn pruned(
    plan: &Plan<'_, '_>,
    s: &output::Summary,
    show_pruned: bool,
    out: &mut dyn Write,
) -> Result<()> {
    if !s.pruned_by_reason.is_empty() {
        writeln!(out)?;
        writeln!(out, "pruned, by reason:")?;
        let width = thousands(s.pruned_by_reason[0].count).len();
        for g in &s.pruned_by_reason {
            writeln!(out, "  {:>width$}  {}", thousands(g.count), g.class)?;
            writeln!(
                out,
                "  {:>width$}  e.g. {}: {}",
                "", g.example, g.example_detail
            )?;
        }
    }
    if show_pruned && !plan.expansion.pruned.is_empty() {
        writeln!(out)?;
        writeln!(out, "pruned configurations:")?;
        for (c, why) in &plan.expansion.pruned {
            writeln!(
                out,
                "  {}: {}",
                bench_plan::dag::config_label(&plan.resolved, &plan.expansion, c),
                why
            )?;
        }
    } else if !s.pruned_by_reason.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "(--show-pruned lists every pruned configuration; --json prints every node)"
        )?;
    }
    Ok(())
}
