//! `bench load`: one load against a running server, no DAG.

use std::io::IsTerminal;
use std::process::ExitCode;

use bench_driver::load::measure;
use bench_driver::text::load::{LoadHeader, table};
use bench_driver::tokenizer::tokenizer;
use bench_loadgen::{Load, LoadConfig, Slo, Stop, dataset};

use crate::cli::LoadArgs;
use crate::error::CliError;
use crate::render::show;

pub fn load(a: LoadArgs) -> Result<ExitCode, CliError> {
    let dialect = a.dialect;
    let load = match (a.concurrency, a.rate) {
        (Some(c), None) => Load::Concurrency {
            concurrency: c.max(1),
        },
        (None, Some(r)) if r > 0.0 => Load::Rate {
            rate: r,
            burstiness: a.burstiness,
            max_concurrency: a.max_concurrency,
        },
        _ => {
            return Err(CliError::Other(
                "give --concurrency N or a positive --rate R".into(),
            ));
        }
    };
    let stop = match a.duration {
        Some(d) => Stop::Duration(d.as_secs_f64()),
        None => Stop::Requests(a.requests),
    };
    let tokenizer = a.tokenizer.as_deref().map(tokenizer).transpose()?;
    let prompts = dataset::from_spec(
        a.dataset.as_deref(),
        tokenizer.as_ref(),
        (a.requests + a.warmup).clamp(1, 100_000) as usize,
        a.input_len,
        a.output_len,
        a.spread,
        a.seed,
    )?;
    let cfg = LoadConfig {
        url: a.url.clone(),
        dialect,
        model: a.model.clone(),
        load: load.clone(),
        stop,
        warmup: a.warmup,
        ignore_eos: !a.no_ignore_eos,
        timeout: a.timeout,
        seed: a.seed,
        simulated: false,
        tokenizer: tokenizer.map(std::sync::Arc::new),
    };
    let progress = (!a.json && std::io::stderr().is_terminal())
        .then(|| bench_driver::progress::requests(a.requests + a.warmup));
    let slo = Slo {
        ttft_ms: a.slo_ttft_ms,
        tpot_ms: a.slo_tpot_ms,
        e2e_ms: a.slo_e2e_ms,
    };
    let measured = measure(cfg.clone(), prompts, progress, &slo, &a.percentiles)?;
    if a.json {
        let doc = bench_driver::load::json(&cfg, &slo, &measured);
        show(|out| writeln!(out, "{doc}"))?;
    } else {
        let header = LoadHeader {
            url: &a.url,
            dialect,
            model: &a.model,
            load: load.to_string(),
            warmup: a.warmup,
            percentiles: &a.percentiles,
        };
        show(|out| table(&header, &measured.metrics, out))?;
    }
    Ok(if measured.metrics.completed == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
