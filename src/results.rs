//! `bench results`, `report`, `recommend`, `rank`, `query` and `export`: what was measured.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bench_analysis::{Criterion, Method, Normalization};
use bench_driver::paths::{default_db, existing_cache, open_cache};
use bench_driver::rank::{rank_columns, read_columns};
use bench_driver::results::collect;
use bench_driver::store::{existing, open};
use bench_driver::text;
use bench_plan::Plan;

use bench_driver::compare::Side;

use crate::cli::{
    CompareArgs, ExportArgs, NormArg, QueryArgs, RankArgs, RankFormat, RankMethod, RecommendArgs,
    ReportArgs, ResultsArgs,
};
use crate::error::CliError;
use crate::render::{json, show};

fn other(e: impl ToString) -> CliError {
    CliError::Other(e.to_string())
}

pub fn results(a: ResultsArgs, plan: &Plan<'_, '_>, dir: &Path) -> Result<ExitCode, CliError> {
    let res = collect(plan, &existing_cache(dir, &a.sweep)?);
    if a.json {
        json(&res)
    } else {
        show(|out| text::results::table(&res, (!a.all).then_some(20), out))
    }
}

/// `bench report`: the HTML report and its Markdown summary, written.
pub fn report(a: ReportArgs, plan: &Plan<'_, '_>, dir: &Path) -> Result<ExitCode, CliError> {
    let html = a.output.unwrap_or_else(|| PathBuf::from("report.html"));
    let md = a.markdown.unwrap_or_else(|| html.with_extension("md"));
    bench_driver::report::write(&a.sweep, plan, &open_cache(dir)?, &html, &md)?;
    eprintln!("wrote {} and {}", html.display(), md.display());
    Ok(ExitCode::SUCCESS)
}

/// `bench recommend`: the stored results of a sweep ranked by a profile or given weights.
pub fn recommend(a: RecommendArgs, plan: &Plan<'_, '_>) -> Result<ExitCode, CliError> {
    let db = a.db.clone().unwrap_or_else(|| default_db(Some(&a.sweep)));
    let weights: Vec<_> = a
        .weights
        .iter()
        .map(|c| (c.name.clone(), c.sense, c.weight))
        .collect();
    let r = bench_driver::recommend::recommend(plan, &db, &a.sweep, &weights, a.profile)?;
    for n in &r.notes {
        eprintln!("note: {n}");
    }
    show(|out| text::tables::recommend(&r, a.top.unwrap_or(r.top), out))
}

/// `bench compare`: the table (or JSON), and exit status 1 on a regression.
pub fn compare(a: CompareArgs, base: &Side, cand: &Side) -> Result<ExitCode, CliError> {
    let objectives = bench_driver::compare::objectives(&a.objectives, base, cand);
    let c = bench_driver::compare::gate(base, cand, &objectives, a.threshold, a.alpha)?;
    if let Some(path) = &a.markdown {
        let mut f = std::fs::File::create(path).map_err(other)?;
        text::compare::markdown(&c, &mut f).map_err(other)?;
    }
    if a.json {
        json(&c)?;
    } else {
        show(|out| text::compare::markdown(&c, out))?;
    }
    let regressed = c.count(bench_analysis::compare::Verdict::Regressed);
    Ok(ExitCode::from(u8::from(regressed > 0)))
}

/// `bench rank`: the rows of any table ranked by the given criteria.
pub fn rank(a: RankArgs) -> Result<ExitCode, CliError> {
    let names: Vec<&str> = a.criteria.iter().map(|c| c.name.as_str()).collect();
    let cols = read_columns(&a.input, &names)?;
    let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
    let criteria: Vec<Criterion> = a
        .criteria
        .iter()
        .map(|c| Criterion {
            sense: c.sense,
            weight: c.weight,
        })
        .collect();
    let norm = match a.normalization {
        NormArg::Minmax => Normalization::MinMax,
        NormArg::Vector => Normalization::Vector,
    };
    let method = match a.method {
        RankMethod::Topsis => Method::Topsis,
        RankMethod::Pareto => Method::Pareto,
        RankMethod::Combined => Method::Combined,
    };
    let rows = rank_columns(&refs, &criteria, method, norm)?;
    match a.format {
        RankFormat::Json => show(|out| text::tables::rank_json(&rows, out)),
        RankFormat::Table => show(|out| text::tables::rank(&rows, &names, &cols, out)),
    }
}

/// `bench query`: SQL over the results store.
pub fn query(a: QueryArgs) -> Result<ExitCode, CliError> {
    let db = a.db.unwrap_or_else(|| default_db(None));
    let t = existing(&db, "SWEEP")?.query(&a.sql).map_err(other)?;
    if a.json {
        return json(&t.json_rows());
    }
    show(|out| text::tables::query(&t, out))?;
    eprintln!("({} rows)", t.rows.len());
    Ok(ExitCode::SUCCESS)
}

/// `bench export`: a table or a query to Parquet, CSV or JSON lines.
pub fn export(a: ExportArgs) -> Result<ExitCode, CliError> {
    let store = open(&a.db.unwrap_or_else(|| default_db(None)))?;
    let what = a.sql.as_deref().unwrap_or(&a.table);
    let (Some(format), Some(output)) = (a.format, &a.output) else {
        return Err(CliError::Other(
            "`bench export` needs --format and --output".into(),
        ));
    };
    let format = format!("{format:?}").to_lowercase();
    store.export(what, &format, output).map_err(other)?;
    eprintln!("wrote {}", output.display());
    Ok(ExitCode::SUCCESS)
}

/// `bench export argo|k8s SWEEP`: the sweep's remaining work as cluster objects.
pub fn export_workflow(
    a: ExportArgs,
    plan: &bench_plan::Plan<'_, '_>,
    dir: &std::path::Path,
) -> Result<ExitCode, CliError> {
    use bench_driver::workflows::{ExportOptions, Target, export};
    let target = match a.workflow {
        Some(crate::cli::WorkflowKind::K8s) => Target::Kubernetes {
            parallelism: a.parallelism,
            max_tasks: a.max_tasks,
        },
        _ => Target::Argo {
            max_tasks: a.max_tasks,
        },
    };
    let o = ExportOptions {
        image: a.image,
        pvc: a.pvc,
        cache_dir: PathBuf::new(),
        namespace: a.namespace,
        all: a.all,
        sweep_text: String::new(),
    };
    let sweep = a.sweep.unwrap_or_default();
    let w = export(plan, dir, &sweep, target, o, a.output.as_deref())?;
    bench_driver::text::export::written(
        &w,
        target,
        a.output.as_deref(),
        &mut std::io::stderr().lock(),
    )?;
    Ok(ExitCode::SUCCESS)
}
