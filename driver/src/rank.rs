//! `bench rank`: any table ranked (TOPSIS, Pareto, or both) without rerunning anything.

use std::path::Path;

use bench_analysis::{Criterion, Method, Normalization, Sense, ranks, recommend_by};
use serde::Serialize;

use crate::error::{Error, Result};

/// One criterion as written: `NAME:max|min[:WEIGHT]`.
#[derive(Clone, Debug, PartialEq)]
pub struct CriterionArg {
    pub name: String,
    pub sense: Sense,
    pub weight: f64,
}

pub fn parse_criterion(s: &str) -> std::result::Result<CriterionArg, String> {
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
fn read_csv(path: &Path, names: &[&str]) -> Result<Vec<Vec<f64>>> {
    let mut rdr = csv::Reader::from_path(path)
        .map_err(|e| Error::Other(format!("cannot read {}: {e}", path.display())))?;
    let headers = rdr
        .headers()
        .map_err(|e| Error::Other(format!("{}: {e}", path.display())))?
        .clone();
    let idx: Vec<usize> = names
        .iter()
        .map(|n| {
            headers.iter().position(|h| h.trim() == *n).ok_or_else(|| {
                let cols: Vec<&str> = headers.iter().collect();
                let hint = bench_sweep::did_you_mean(n, cols.iter().copied())
                    .map(|d| format!("; {d}"))
                    .unwrap_or_default();
                Error::Other(format!(
                    "{}: no column `{n}`{hint} (columns: {})",
                    path.display(),
                    cols.join(", ")
                ))
            })
        })
        .collect::<Result<_>>()?;
    let mut cols = vec![Vec::new(); names.len()];
    // One record reused for every row, read as bytes: no allocation per row.
    let mut rec = csv::ByteRecord::new();
    let mut i = 0usize;
    while rdr
        .read_byte_record(&mut rec)
        .map_err(|e| Error::Other(format!("{}: {e}", path.display())))?
    {
        i += 1;
        let line = rec.position().map_or(i + 1, |p| p.line() as usize);
        for (k, &j) in idx.iter().enumerate() {
            let cell = std::str::from_utf8(rec.get(j).unwrap_or(b""))
                .unwrap_or("?")
                .trim();
            let v = if cell.is_empty() || cell.eq_ignore_ascii_case("nan") || cell == "null" {
                f64::NAN
            } else {
                cell.parse::<f64>().map_err(|_| {
                    Error::Other(format!(
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
fn read_parquet(path: &Path, names: &[&str]) -> Result<Vec<Vec<f64>>> {
    let have = bench_results::parquet_names(path).map_err(|e| Error::Other(e.to_string()))?;
    for n in names {
        if !have.iter().any(|h| h == n) {
            let hint = bench_sweep::did_you_mean(n, have.iter().map(String::as_str))
                .map(|d| format!("; {d}"))
                .unwrap_or_default();
            return Err(Error::Other(format!(
                "{}: no column `{n}`{hint} (columns: {})",
                path.display(),
                have.join(", ")
            )));
        }
    }
    bench_results::parquet_columns(path, names).map_err(|e| Error::Other(e.to_string()))
}

/// The named columns of a table: Parquet (by extension) or CSV.
pub fn read_columns(path: &Path, names: &[&str]) -> Result<Vec<Vec<f64>>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext == "parquet" {
        read_parquet(path, names)
    } else {
        read_csv(path, names)
    }
}

/// Ranks columns in the one recommendation order ([`bench_analysis::ranks`]); scores are
/// reported for the TOPSIS-based methods, fronts and crowding for those that sort fronts.
pub fn rank_columns(
    cols: &[&[f64]],
    criteria: &[Criterion],
    method: Method,
    normalization: Normalization,
) -> Result<Vec<RankedRow>> {
    let recs = recommend_by(method, cols, criteria, normalization, &[])
        .map_err(|e| Error::Other(format!("cannot rank: {e}")))?;
    let ranks = ranks(method, &recs);
    Ok(recs
        .iter()
        .zip(ranks)
        .map(|(r, rank)| RankedRow {
            row: r.row,
            score: if method == Method::Pareto {
                None
            } else {
                r.score
            },
            rank,
            front: r.front,
            crowding: r.crowding_finite(),
        })
        .collect())
}
