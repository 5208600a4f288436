//! `bench load`: one load's metrics as a table.

use std::io::{Result, Write};

use bench_node::records::{Dialect, Dist, Metrics, TokenSource};

use super::thousands;

/// What the load was, for the table's header.
pub struct LoadHeader<'a> {
    pub url: &'a str,
    pub dialect: Dialect,
    pub model: &'a str,
    /// `concurrency 8` or `rate 4/s`.
    pub load: String,
    pub warmup: u64,
    pub percentiles: &'a [f64],
}

pub fn table(h: &LoadHeader<'_>, m: &Metrics, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "bench load  {}  {}  model {}  {}",
        h.url, h.dialect, h.model, h.load
    )?;
    writeln!(
        out,
        "requests    {} measured ({} warmup), {} completed, {} failed in {:.2} s",
        thousands(m.requests as usize),
        h.warmup,
        thousands(m.completed as usize),
        m.failed,
        m.duration_s
    )?;
    writeln!(
        out,
        "throughput  {:.2} req/s · {:.1} output tok/s · {:.1} total tok/s · goodput {:.2} req/s",
        m.request_throughput, m.output_throughput, m.total_throughput, m.goodput
    )?;
    let header: String = h
        .percentiles
        .iter()
        .map(|p| format!("{:>9}", format!("p{p}")))
        .collect();
    writeln!(
        out,
        "{:<22}{:>9}{:>9}{header}{:>9}{:>9}",
        "latency (ms)", "mean", "std", "min", "max"
    )?;
    let row = |out: &mut dyn Write, name: &str, d: &Dist| {
        if d.count == 0 {
            return writeln!(out, "{name:<22}{:>9}", "—");
        }
        let ps: String = d
            .percentiles
            .iter()
            .map(|(_, v)| format!("{v:>9.2}"))
            .collect();
        writeln!(
            out,
            "{name:<22}{:>9.2}{:>9.2}{ps}{:>9.2}{:>9.2}",
            d.mean, d.std, d.min, d.max
        )
    };
    row(out, "TTFT", &m.ttft)?;
    row(out, "TPOT", &m.tpot)?;
    row(out, "ITL (per event)", &m.itl_chunk)?;
    row(out, "ITL (per token)", &m.itl_token)?;
    row(out, "E2E", &m.e2e)?;
    row(out, "queue", &m.queue)?;
    writeln!(
        out,
        "tokens      {} input ({}), {} output ({}), {} mismatched requests",
        thousands(m.input_tokens as usize),
        m.input_tokens_from,
        thousands(m.output_tokens as usize),
        m.output_tokens_from,
        m.token_mismatches
    )?;
    if m.without_usage > 0 {
        let counted = match m.output_tokens_from {
            TokenSource::Tokenizer => "counted with the model's tokenizer",
            _ => "counted as stream events (--tokenizer counts them exactly)",
        };
        writeln!(
            out,
            "            {} of {} requests came without usage from the server: their output {counted}",
            m.without_usage, m.completed
        )?;
    }
    if let Some(acc) = m.accuracy {
        writeln!(out, "accuracy    {:.1} %", acc * 100.0)?;
    }
    for (e, n) in &m.errors {
        writeln!(out, "error       {n} × {e}")?;
    }
    writeln!(
        out,
        "(TPOT is vLLM's name; GuideLLM and AIPerf call it ITL. `--json` prints every definition.)"
    )
}
