//! `bench load`: one load against a running server, no DAG.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use bench_loadgen::{
    DEFINITIONS, Dialect, Dist, Load, LoadConfig, Metrics, Slo, Stop, compute, dataset, run,
};
use serde_json::json;

use crate::cli::{DialectArg, LoadArgs};
use crate::error::CliError;
use crate::render::thousands;

pub fn load(a: LoadArgs) -> Result<ExitCode, CliError> {
    let dialect = match a.dialect {
        DialectArg::OpenaiCompletions => Dialect::OpenaiCompletions,
        DialectArg::OpenaiChat => Dialect::OpenaiChat,
        DialectArg::Tgi => Dialect::Tgi,
    };
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
    let prompts = dataset::from_spec(
        a.dataset.as_deref(),
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
    };
    let progress: Option<bench_loadgen::run::Progress> =
        if !a.json && std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(a.requests + a.warmup);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {pos}/{len} requests {elapsed_precise}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            Some(Arc::new(move |done, _| bar.set_position(done)))
        } else {
            None
        };
    let rt = bench_loadgen::runtime_for(&cfg.load)
        .map_err(|e| CliError::Other(format!("cannot start the runtime: {e}")))?;
    let records = rt
        .block_on(run(cfg, prompts, progress))
        .map_err(|e| CliError::Other(e.to_string()))?;
    let slo = Slo {
        ttft_ms: a.slo_ttft_ms,
        tpot_ms: a.slo_tpot_ms,
        e2e_ms: a.slo_e2e_ms,
    };
    let m = compute(
        &records,
        &slo,
        &a.percentiles,
        !a.no_ignore_eos && dialect != Dialect::Tgi,
    );
    if a.json {
        let defs: serde_json::Map<String, serde_json::Value> = DEFINITIONS
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let doc = json!({
            "url": a.url, "dialect": dialect, "model": a.model, "load": load, "slo": slo,
            "metrics": m, "definitions": defs, "records": records,
        });
        println!("{doc}");
    } else {
        print_table(&a, &m);
    }
    Ok(if m.completed == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_table(a: &LoadArgs, m: &Metrics) {
    let load = match (a.concurrency, a.rate) {
        (Some(c), _) => format!("concurrency {c}"),
        (_, Some(r)) => format!("rate {r}/s"),
        _ => String::new(),
    };
    println!(
        "bench load  {}  {:?}  model {}  {load}",
        a.url, a.dialect, a.model
    );
    println!(
        "requests    {} measured ({} warmup), {} completed, {} failed in {:.2} s",
        thousands(m.requests as usize),
        a.warmup,
        thousands(m.completed as usize),
        m.failed,
        m.duration_s
    );
    println!(
        "throughput  {:.2} req/s · {:.1} output tok/s · {:.1} total tok/s · goodput {:.2} req/s",
        m.request_throughput, m.output_throughput, m.total_throughput, m.goodput
    );
    let header: Vec<String> = a.percentiles.iter().map(|p| format!("p{p}")).collect();
    println!(
        "{:<22}{:>9}{:>9}{}{:>9}{:>9}",
        "latency (ms)",
        "mean",
        "std",
        header.iter().map(|h| format!("{h:>9}")).collect::<String>(),
        "min",
        "max"
    );
    let row = |name: &str, d: &Dist| {
        if d.count == 0 {
            println!("{name:<22}{:>9}", "—");
            return;
        }
        let ps: String = d
            .percentiles
            .iter()
            .map(|(_, v)| format!("{v:>9.2}"))
            .collect();
        println!(
            "{name:<22}{:>9.2}{:>9.2}{ps}{:>9.2}{:>9.2}",
            d.mean, d.std, d.min, d.max
        );
    };
    row("TTFT", &m.ttft);
    row("TPOT", &m.tpot);
    row("ITL (per event)", &m.itl_chunk);
    row("ITL (per token)", &m.itl_token);
    row("E2E", &m.e2e);
    row("queue", &m.queue);
    println!(
        "tokens      {} input, {} output (server-reported where given), {} mismatched requests",
        thousands(m.input_tokens as usize),
        thousands(m.output_tokens as usize),
        m.token_mismatches
    );
    if let Some(acc) = m.accuracy {
        println!("accuracy    {:.1} %", acc * 100.0);
    }
    for (e, n) in &m.errors {
        println!("error       {n} × {e}");
    }
    println!(
        "(TPOT is vLLM's name; GuideLLM and AIPerf call it ITL. `--json` prints every definition.)"
    );
}
