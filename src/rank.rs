//! `bench rank`: TOPSIS or Pareto ranking over any table, so results can be re-ranked with
//! new weights without rerunning anything.

use std::path::Path;
use std::process::ExitCode;

use bench_analysis::{
    Criterion, Normalization, Sense, crowding_distance, non_dominated_fronts, rank_descending,
    recommend, topsis,
};
use serde::Serialize;

use crate::cli::{RankArgs, RankFormat, RankMethod};
use crate::error::CliError;

/// One criterion as written: `NAME:max|min[:WEIGHT]`.
#[derive(Clone, Debug, PartialEq)]
pub struct CriterionArg {
    pub name: String,
    pub sense: Sense,
    pub weight: f64,
}

pub fn parse_criterion(s: &str) -> Result<CriterionArg, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (name, sense, weight) = match parts.as_slice() {
        [n, d] => (*n, *d, None),
        [n, d, w] => (*n, *d, Some(*w)),
        _ => return Err(format!("`{s}`: write NAME:max|min[:WEIGHT]")),
    };
    if name.is_empty() {
        return Err(format!("`{s}`: the column name is empty"));
    }
    let sense = match sense {
        "max" | "maximize" => Sense::Max,
        "min" | "minimize" => Sense::Min,
        other => return Err(format!("`{s}`: `{other}` is not max or min")),
    };
    let weight = match weight {
        None => 1.0,
        Some(w) => match w.parse::<f64>() {
            Ok(w) if w.is_finite() && w >= 0.0 => w,
            _ => return Err(format!("`{s}`: weight `{w}` is not a non-negative number")),
        },
    };
    Ok(CriterionArg {
        name: name.to_string(),
        sense,
        weight,
    })
}

/// One output row (input order).
#[derive(Serialize, Debug)]
pub struct RankedRow {
    pub row: usize,
    pub score: Option<f64>,
    pub rank: Option<usize>,
    pub front: Option<u32>,
    pub crowding: Option<f64>,
}

/// Reads the criteria columns of a CSV file. Empty cells are missing values (NaN).
fn read_csv(path: &Path, names: &[&str]) -> Result<Vec<Vec<f64>>, CliError> {
    let mut rdr = csv::Reader::from_path(path)
        .map_err(|e| CliError::Other(format!("cannot read {}: {e}", path.display())))?;
    let headers = rdr
        .headers()
        .map_err(|e| CliError::Other(format!("{}: {e}", path.display())))?
        .clone();
    let idx: Vec<usize> = names
        .iter()
        .map(|n| {
            headers.iter().position(|h| h.trim() == *n).ok_or_else(|| {
                let cols: Vec<&str> = headers.iter().collect();
                let hint = bench_sweep::did_you_mean(n, cols.iter().copied())
                    .map(|d| format!("; {d}"))
                    .unwrap_or_default();
                CliError::Other(format!(
                    "{}: no column `{n}`{hint} (columns: {})",
                    path.display(),
                    cols.join(", ")
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let mut cols = vec![Vec::new(); names.len()];
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| CliError::Other(format!("{}: {e}", path.display())))?;
        let line = rec.position().map_or(i + 2, |p| p.line() as usize);
        for (k, &j) in idx.iter().enumerate() {
            let cell = rec.get(j).unwrap_or("").trim();
            let v = if cell.is_empty() || cell.eq_ignore_ascii_case("nan") || cell == "null" {
                f64::NAN
            } else {
                cell.parse::<f64>().map_err(|_| {
                    CliError::Other(format!(
                        "{}:{line}: `{cell}` in column `{}` is not a number",
                        path.display(),
                        names[k]
                    ))
                })?
            };
            cols[k].push(v);
        }
    }
    Ok(cols)
}

/// Reads the criteria columns of a Parquet file (through DuckDB).
fn read_parquet(path: &Path, names: &[&str]) -> Result<Vec<Vec<f64>>, CliError> {
    let have = bench_results::parquet_names(path).map_err(|e| CliError::Other(e.to_string()))?;
    for n in names {
        if !have.iter().any(|h| h == n) {
            let hint = bench_sweep::did_you_mean(n, have.iter().map(String::as_str))
                .map(|d| format!("; {d}"))
                .unwrap_or_default();
            return Err(CliError::Other(format!(
                "{}: no column `{n}`{hint} (columns: {})",
                path.display(),
                have.join(", ")
            )));
        }
    }
    bench_results::parquet_columns(path, names).map_err(|e| CliError::Other(e.to_string()))
}

/// Ranks columns; see `bench rank --help`.
pub fn rank_columns(
    cols: &[&[f64]],
    criteria: &[Criterion],
    method: RankMethod,
    normalization: Normalization,
) -> Result<Vec<RankedRow>, CliError> {
    let n = cols.first().map_or(0, |c| c.len());
    let err = |e: bench_analysis::TopsisError| CliError::Other(format!("cannot rank: {e}"));
    // Fronts over the weighted criteria, minimised.
    let objs: Vec<Vec<f64>> = criteria
        .iter()
        .zip(cols)
        .filter(|(c, _)| c.weight > 0.0)
        .map(|(c, col)| match c.sense {
            Sense::Min => col.to_vec(),
            Sense::Max => col.iter().map(|x| -x).collect(),
        })
        .collect();
    let obj_refs: Vec<&[f64]> = objs.iter().map(Vec::as_slice).collect();
    let fronts = non_dominated_fronts(&obj_refs);
    let crowding = crowding_distance(&obj_refs, &fronts);
    let (scores, ranks): (Vec<Option<f64>>, Vec<Option<usize>>) = match method {
        RankMethod::Topsis => {
            let s = topsis(cols, criteria, normalization).map_err(err)?;
            let r = rank_descending(&s);
            (s, r)
        }
        RankMethod::Combined => {
            let rec = recommend(cols, criteria, normalization, &[]).map_err(err)?;
            (
                rec.iter().map(|r| r.score).collect(),
                rec.iter().map(|r| r.rank).collect(),
            )
        }
        RankMethod::Pareto => {
            // Crowded comparison: lower front, then larger crowding distance; equal pairs
            // share a rank.
            let key = |i: usize| (fronts[i].unwrap_or(u32::MAX), crowding[i].unwrap_or(0.0));
            let mut order: Vec<usize> = (0..n).filter(|i| fronts[*i].is_some()).collect();
            order.sort_by(|a, b| {
                let (fa, ca) = key(*a);
                let (fb, cb) = key(*b);
                fa.cmp(&fb).then(cb.total_cmp(&ca)).then(a.cmp(b))
            });
            let mut ranks = vec![None; n];
            let mut prev = None;
            let mut rank = 0;
            for (pos, i) in order.iter().enumerate() {
                let k = key(*i);
                if prev != Some(k) {
                    rank = pos + 1;
                    prev = Some(k);
                }
                ranks[*i] = Some(rank);
            }
            (vec![None; n], ranks)
        }
    };
    Ok((0..n)
        .map(|row| RankedRow {
            row,
            score: scores[row],
            rank: ranks[row],
            front: fronts[row],
            crowding: crowding[row].filter(|c| c.is_finite()),
        })
        .collect())
}

pub fn rank(a: RankArgs) -> Result<ExitCode, CliError> {
    let ext = a
        .input
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if a.criteria.is_empty() {
        return Err(CliError::Other(
            "give --criteria NAME:max|min[:WEIGHT],...".into(),
        ));
    }
    let names: Vec<&str> = a.criteria.iter().map(|c| c.name.as_str()).collect();
    let cols = if ext == "parquet" {
        read_parquet(&a.input, &names)?
    } else {
        read_csv(&a.input, &names)?
    };
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
    let rows = rank_columns(&refs, &criteria, a.method, norm)?;
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
