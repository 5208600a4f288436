//! `bench query`, `bench export`, `bench recommend`: the results store from the command
//! line.

use std::process::ExitCode;

use bench_analysis::Sense;
use bench_driver::paths::default_db;
use bench_driver::store::{existing, json_cell, open};
use bench_plan::Plan;
use bench_results::cell;

use crate::cli::{ExportArgs, QueryArgs};
use crate::error::CliError;

pub fn query(a: QueryArgs) -> Result<ExitCode, CliError> {
    let db = a.db.unwrap_or_else(|| default_db(None));
    let store = existing(&db, "SWEEP")?;
    let t = store
        .query(&a.sql)
        .map_err(|e| CliError::Other(e.to_string()))?;
    if a.json {
        let rows: Vec<serde_json::Map<String, serde_json::Value>> = t
            .rows
            .iter()
            .map(|r| {
                t.columns
                    .iter()
                    .zip(r)
                    .map(|(c, v)| (c.clone(), json_cell(v)))
                    .collect()
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).map_err(|e| CliError::Other(e.to_string()))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let cells: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| r.iter().map(cell).collect())
        .collect();
    let widths: Vec<usize> = (0..t.columns.len())
        .map(|j| {
            cells
                .iter()
                .map(|r| r[j].chars().count())
                .chain([t.columns[j].chars().count()])
                .max()
                .unwrap_or(0)
                .min(60)
        })
        .collect();
    let line = |r: &[String]| {
        r.iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!("{}", line(&t.columns));
    for r in &cells {
        println!("{}", line(r));
    }
    eprintln!("({} rows)", cells.len());
    Ok(ExitCode::SUCCESS)
}

pub fn export(a: ExportArgs) -> Result<ExitCode, CliError> {
    let db = a.db.unwrap_or_else(|| default_db(None));
    let store = open(&db)?;
    let what = a.sql.as_deref().unwrap_or(&a.table);
    if a.format == crate::cli::ExportFormat::Json {
        // Newline-delimited JSON, written here (DuckDB's json extension is not bundled).
        let sql = if a.sql.is_some() {
            what.to_string()
        } else {
            format!("SELECT * FROM {what}")
        };
        let t = store
            .query(&sql)
            .map_err(|e| CliError::Other(e.to_string()))?;
        let mut out = String::new();
        for r in &t.rows {
            let obj: serde_json::Map<String, serde_json::Value> = t
                .columns
                .iter()
                .zip(r)
                .map(|(c, v)| (c.clone(), json_cell(v)))
                .collect();
            out.push_str(&serde_json::Value::Object(obj).to_string());
            out.push('\n');
        }
        std::fs::write(&a.output, out)
            .map_err(|e| CliError::Other(format!("cannot write {}: {e}", a.output.display())))?;
        eprintln!("wrote {}", a.output.display());
        return Ok(ExitCode::SUCCESS);
    }
    store
        .export(what, a.format.name(), &a.output)
        .map_err(|e| CliError::Other(e.to_string()))?;
    eprintln!("wrote {}", a.output.display());
    Ok(ExitCode::SUCCESS)
}

/// `bench recommend`: the stored results of a sweep ranked by a profile or given weights.
pub fn recommend(a: crate::cli::RecommendArgs, plan: &Plan<'_, '_>) -> Result<ExitCode, CliError> {
    let db = a.db.clone().unwrap_or_else(|| default_db(Some(&a.sweep)));
    let weights: Vec<(String, Sense, f64)> = a
        .weights
        .iter()
        .map(|c| (c.name.clone(), c.sense, c.weight))
        .collect();
    let r = bench_driver::recommend::recommend(plan, &db, &a.sweep, &weights, a.profile.clone())?;
    for n in &r.notes {
        eprintln!("note: {n}");
    }
    let top = a.top.unwrap_or(r.top);
    println!(
        "{} — recommended by: {}",
        r.sweep,
        r.objectives
            .iter()
            .map(|(m, s, w)| format!("{m} {} ×{w}", if *s == Sense::Max { "↑" } else { "↓" }))
            .collect::<Vec<_>>()
            .join(", ")
    );
    print!("{:>4}  {:>5} {:>6}  ", "rank", "front", "score");
    for n in &r.names {
        print!("{n:>18} ");
    }
    println!(" configuration / load");
    for row in r.rows.iter().take(top) {
        print!(
            "{:>4}  {:>5} {:>6.3}  ",
            row.rank,
            row.front.map_or("—".into(), |f| f.to_string()),
            row.score.unwrap_or(f64::NAN)
        );
        for v in &row.values {
            print!("{v:>18.3} ");
        }
        println!(" {}", row.label);
    }
    if r.infeasible > 0 {
        println!(
            "({} invalid or outside a constraint, not ranked: `bench results`)",
            r.infeasible
        );
    }
    Ok(ExitCode::SUCCESS)
}
