//! `bench estimate` (and `bench plan --estimate`): the roofline's predictions for every
//! configuration and load point, and what running them all would take.

use std::io::{Result, Write};

use bench_plan::Plan;
use bench_plan::dag::{config_json, config_label};
use bench_plan::estimate::{Estimate, Totals, totals};

use super::thousands;

fn load_label(plan: &Plan<'_, '_>, e: &Estimate) -> String {
    let (r, x) = (&plan.resolved, &plan.expansion);
    let c = &x.valid[e.config as usize];
    r.workloads[c.workload as usize].decl.load[e.load as usize]
        .value
        .label()
}

/// One row per configuration and load point, then the totals.
pub fn table(plan: &Plan<'_, '_>, est: &[Estimate], out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "{:>7} {:>9} {:>8} {:>9} {:>8} {:>9} {:>7} {:>8}  configuration",
        "load", "ttft ms", "tpot ms", "e2e ms", "req/s", "tok/s", "GiB", "$/Mtok"
    )?;
    let (r, x) = (&plan.resolved, &plan.expansion);
    for e in est {
        let cost = e
            .cost_per_mtok
            .map_or("-".to_string(), |c| format!("{c:.3}"));
        let mut notes = Vec::new();
        if e.saturated {
            notes.push("saturated: latencies at capacity");
        }
        if e.input_assumed {
            notes.push("prompt length assumed");
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("  ({})", notes.join("; "))
        };
        writeln!(
            out,
            "{:>7} {:>9.1} {:>8.2} {:>9.0} {:>8.2} {:>9.0} {:>7.1} {:>8}  {}{notes}",
            load_label(plan, e),
            e.ttft_ms,
            e.tpot_ms,
            e.e2e_ms,
            e.request_throughput,
            e.output_throughput,
            e.gpu_memory_gb,
            cost,
            config_label(r, x, &x.valid[e.config as usize]),
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{} estimates by the roofline model (the simulated engine's, in closed form): a prior, not a measurement",
        thousands(est.len())
    )?;
    total_line(&totals(r, x, est), out)
}

/// What running every bench node would take.
pub fn total_line(t: &Totals, out: &mut dyn Write) -> Result<()> {
    let mut line = format!(
        "running them: {} runs, {} of GPU time under load ({} one after another)",
        thousands(t.runs),
        span(t.gpu_hours * 3600.0),
        span(t.load_seconds)
    );
    if t.cost > 0.0 {
        line.push_str(&format!(", ${:.2} on priced hosts", t.cost));
    }
    if t.unpriced_runs > 0 {
        line.push_str(&format!(
            ", {} runs on hosts without a price",
            thousands(t.unpriced_runs)
        ));
    }
    if t.saturated_runs > 0 {
        line.push_str(&format!(
            "; {} runs at saturated rates (at least this long)",
            thousands(t.saturated_runs)
        ));
    }
    writeln!(
        out,
        "{line}; engine start-up and model loading not included"
    )
}

/// `42 s`, `3.5 min`, `12.0 h`.
fn span(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.0} s")
    } else if secs < 3600.0 {
        format!("{:.1} min", secs / 60.0)
    } else {
        format!("{:.1} h", secs / 3600.0)
    }
}

/// One JSON object per line: the configuration, the load point and the estimate.
pub fn json_lines(plan: &Plan<'_, '_>, est: &[Estimate], out: &mut dyn Write) -> Result<()> {
    let (r, x) = (&plan.resolved, &plan.expansion);
    for e in est {
        let c = &x.valid[e.config as usize];
        let mut v = serde_json::to_value(e)?;
        if let Some(o) = v.as_object_mut() {
            o.remove("config");
            o.remove("load");
            o.insert("label".into(), config_label(r, x, c).into());
            o.insert("configuration".into(), config_json(r, x, c));
            o.insert("load".into(), load_label(plan, e).into());
        }
        serde_json::to_writer(&mut *out, &v)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
