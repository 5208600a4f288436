//! `bench rank`: the driver's ranking of any table, printed.

use std::process::ExitCode;

use bench_analysis::{Criterion, Method, Normalization};
use bench_driver::rank::{RankedRow, rank_columns, read_columns};

use crate::cli::{RankArgs, RankFormat, RankMethod};
use crate::error::CliError;

pub fn rank(a: RankArgs) -> Result<ExitCode, CliError> {
    if a.criteria.is_empty() {
        return Err(CliError::Other(
            "give --criteria NAME:max|min[:WEIGHT],...".into(),
        ));
    }
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
        crate::cli::NormArg::Minmax => Normalization::MinMax,
        crate::cli::NormArg::Vector => Normalization::Vector,
    };
    let method = match a.method {
        RankMethod::Topsis => Method::Topsis,
        RankMethod::Pareto => Method::Pareto,
        RankMethod::Combined => Method::Combined,
    };
    let rows = rank_columns(&refs, &criteria, method, norm)?;
    match a.format {
        RankFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&rows).map_err(|e| CliError::Other(e.to_string()))?
        ),
        RankFormat::Table => {
            let mut order: Vec<&RankedRow> = rows.iter().collect();
            order.sort_by_key(|r| (r.rank.is_none(), r.rank, r.row));
            print!(
                "{:>6} {:>5} {:>9} {:>5} {:>9}",
                "rank", "row", "score", "front", "crowding"
            );
            for n in &names {
                print!(" {n:>12}");
            }
            println!();
            let opt = |v: Option<f64>, inf: &str| v.map_or(inf.to_string(), |x| format!("{x:.6}"));
            for r in order {
                print!(
                    "{:>6} {:>5} {:>9} {:>5} {:>9}",
                    r.rank.map_or("—".into(), |x| x.to_string()),
                    r.row,
                    opt(r.score, "—"),
                    r.front.map_or("—".into(), |x| x.to_string()),
                    if r.front.is_some() {
                        opt(r.crowding, "∞")
                    } else {
                        "—".into()
                    },
                );
                for c in &cols {
                    print!(" {:>12}", format!("{}", c[r.row]));
                }
                println!();
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
