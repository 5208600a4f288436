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
    order.sort_unstable_by_key(|r| (r.rank.is_none(), r.rank, r.row));
    write!(
        out,
        "{:>6} {:>5} {:>9} {:>5} {:>9}",
        "rank", "row", "score", "front", "crowding"
    )?;
    for n in names {
        write!(out, " {n:>12}")?;
    }
    writeln!(out)?;
    // A million rows are written: nothing allocated per row, each cell formatted in place,
    // and the criteria of a block of rows gathered column by column first (rows in rank
    // order are scattered in the columns: one cache miss a cell, which a plain gathering
    // loop overlaps and the formatting loop would not).
    const BLOCK: usize = 1024;
    let mut digits = ryu::Buffer::new();
    let mut block = vec![0.0; BLOCK * cols.len()];
    for rows in order.chunks(BLOCK) {
        for (j, c) in cols.iter().enumerate() {
            for (k, r) in rows.iter().enumerate() {
                block[k * cols.len() + j] = c[r.row];
            }
        }
        for (k, r) in rows.iter().enumerate() {
            match r.rank {
                Some(x) => write!(out, "{x:>6}")?,
                None => write!(out, "{:>6}", "—")?,
            }
            write!(out, " {:>5}", r.row)?;
            match r.score {
                Some(x) => write!(out, " {x:>9.6}")?,
                None => write!(out, " {:>9}", "—")?,
            }
            match r.front {
                Some(x) => write!(out, " {x:>5}")?,
                None => write!(out, " {:>5}", "—")?,
            }
            match (r.front, r.crowding) {
                (Some(_), Some(x)) => write!(out, " {x:>9.6}")?,
                (Some(_), None) => write!(out, " {:>9}", "∞")?,
                (None, _) => write!(out, " {:>9}", "—")?,
            }
            for v in &block[k * cols.len()..(k + 1) * cols.len()] {
                write!(out, " {:>12}", shortest(&mut digits, *v))?;
            }
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

/// `x` as `{}` writes it (the shortest digits that read back as `x`, never an exponent),
/// through `ryu` where both say the same (several times faster on a million rows): in
/// decimal notation, `1.0` written `1`, and up to 15 significant digits (with 16 or 17 two
/// shortest candidates can be equally close, and the two libraries break that tie apart).
fn shortest(buf: &mut ryu::Buffer, x: f64) -> std::borrow::Cow<'_, str> {
    if x.is_finite() {
        let s = buf.format_finite(x);
        let s = s.strip_suffix(".0").unwrap_or(s);
        let significant = s
            .bytes()
            .filter(u8::is_ascii_digit)
            .skip_while(|b| *b == b'0')
            .count();
        if !s.contains('e') && significant <= 15 {
            return std::borrow::Cow::Borrowed(s);
        }
    }
    std::borrow::Cow::Owned(x.to_string())
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

#[cfg(test)]
mod tests {
    use super::shortest;

    #[test]
    fn shortest_writes_what_display_writes() {
        let mut buf = ryu::Buffer::new();
        let mut check = |x: f64| {
            assert_eq!(shortest(&mut buf, x), x.to_string(), "{x:e}");
        };
        for x in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            123.456,
            1e-5,
            9.99e-6,
            1e-7,
            1e15,
            1e16,
            1e17,
            123456789012345680.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            check(x);
        }
        // Values of every magnitude (xorshift over bit patterns), and decimals as CSVs hold
        // them.
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        for i in 0..200_000u64 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            check(f64::from_bits(s));
            check((s % 10_000_000) as f64 / 1000.0);
            check(i as f64 * 0.001);
        }
    }
}
