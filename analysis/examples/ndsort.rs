//! Times non-dominated sorting of uniform random points: `cargo run --release -p
//! bench-analysis --example ndsort -- [N] [M...]` (default 100,000 points, 4 to 6 objectives).

use std::time::Instant;

use bench_analysis::non_dominated_fronts;

fn columns(n: usize, m: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut s = seed | 1;
    (0..m)
        .map(|_| {
            (0..n)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 11) as f64 / (1u64 << 53) as f64
                })
                .collect()
        })
        .collect()
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(100_000);
    let ms = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        vec![4, 5, 6]
    };
    for m in ms {
        let cols = columns(n, m, 11 + m as u64);
        let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let t = Instant::now();
        let f = non_dominated_fronts(&refs);
        let secs = t.elapsed().as_secs_f64();
        let fronts = f.iter().flatten().max().map_or(0, |x| x + 1);
        let first = f.iter().filter(|x| **x == Some(0)).count();
        println!("{n} x {m}: {secs:.3} s, {fronts} fronts, first front {first}");
    }
}
