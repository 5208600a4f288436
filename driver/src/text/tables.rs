//! `bench query`, `bench rank` and `bench recommend`: tables of rows.

use std::io::{Result, Write};

use bench_analysis::Sense;
use bench_results::{Table, cell};

use crate::rank::RankedRow;
use crate::recommend::Recommended;

/// A query's rows in aligned columns (cells cut at 60 characters); the row count is the
/// caller's to print.
pub fn query(t: &Table, out: &mut dyn Write) -> Result<()> {
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
    writeln!(out, "{}", line(&t.columns))?;
    for r in &cells {
        writeln!(out, "{}", line(r))?;
    }
    Ok(())
}

/// `bench rank`'s rows, best first, with the criteria columns as read.
pub fn rank(
    rows: &[RankedRow],
    names: &[&str],
    cols: &[Vec<f64>],
    out: &mut dyn Write,
) -> Result<()> {
    let mut order: Vec<&RankedRow> = rows.iter().collect();
    order.sort_by_key(|r| (r.rank.is_none(), r.rank, r.row));
    write!(
        out,
        "{:>6} {:>5} {:>9} {:>5} {:>9}",
        "rank", "row", "score", "front", "crowding"
    )?;
    for n in names {
        write!(out, " {n:>12}")?;
    }
    writeln!(out)?;
    let opt = |v: Option<f64>, none: &str| v.map_or(none.to_string(), |x| format!("{x:.6}"));
    let dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    for r in order {
        write!(
            out,
            "{:>6} {:>5} {:>9} {:>5} {:>9}",
            dash(r.rank.map(|x| x.to_string())),
            r.row,
            opt(r.score, "—"),
            dash(r.front.map(|x| x.to_string())),
            if r.front.is_some() {
                opt(r.crowding, "∞")
            } else {
                "—".into()
            },
        )?;
        for c in cols {
            write!(out, " {:>12}", c[r.row])?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// `bench rank --format json`: an array in input order, one row per line (a million rows
/// are written, and read by tools, line by line).
pub fn rank_json(rows: &[RankedRow], out: &mut dyn Write) -> Result<()> {
    out.write_all(b"[")?;
    for (i, r) in rows.iter().enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *out, r)?;
    }
    out.write_all(b"\n]\n")
}

/// `bench recommend`'s top rows.
pub fn recommend(r: &Recommended, top: usize, out: &mut dyn Write) -> Result<()> {
    let objectives = r
        .objectives
        .iter()
        .map(|(m, s, w)| format!("{m} {} ×{w}", if *s == Sense::Max { "↑" } else { "↓" }))
        .collect::<Vec<_>>()
        .join(", ");
    writeln!(out, "{} — recommended by: {objectives}", r.sweep)?;
    write!(out, "{:>4}  {:>5} {:>6}  ", "rank", "front", "score")?;
    for n in &r.names {
        write!(out, "{n:>18} ")?;
    }
    writeln!(out, " configuration / load")?;
    for row in r.rows.iter().take(top) {
        write!(
            out,
            "{:>4}  {:>5} {:>6.3}  ",
            row.rank,
            row.front.map_or("—".into(), |f| f.to_string()),
            row.score.unwrap_or(f64::NAN)
        )?;
        for v in &row.values {
            write!(out, "{v:>18.3} ")?;
        }
        writeln!(out, " {}", row.label)?;
    }
    if r.infeasible > 0 {
        writeln!(
            out,
            "({} invalid or outside a constraint, not ranked: `bench results`)",
            r.infeasible
        )?;
    }
    Ok(())
}
