//! Speed of the analysis: TOPSIS over 1,000,000 alternatives × 6 criteria (target < 100 ms),
//! non-dominated sorting of 10,000 points with 2 objectives (< 2 ms) and 3 (< 10 ms), and of
//! 100,000 points with 4 and 6 objectives (< 1 s; moocore's C takes 0.77 s for 6), NSGA-II
//! on ZDT1 (30 variables, population 100, 200 generations: < 0.1 s; the reference Python
//! library takes 0.76–0.91 s) and the hypervolume of 1,000 points in 3 and 4 objectives.
//! Run: `cargo bench -p bench-analysis --bench analysis`.

use bench_analysis::{
    Axis, Criterion as Crit, Normalization, Nsga2, Sense, hypervolume, non_dominated_fronts, topsis,
};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// Deterministic pseudo-random columns (xorshift), no dependency.
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

fn bench(c: &mut Criterion) {
    let cols = columns(1_000_000, 6, 7);
    let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
    let crit: Vec<Crit> = (0..6)
        .map(|j| Crit {
            sense: if j % 2 == 0 { Sense::Max } else { Sense::Min },
            weight: 1.0 + j as f64,
        })
        .collect();
    let mut g = c.benchmark_group("topsis");
    g.sample_size(20);
    g.bench_function("1M x 6 minmax", |b| {
        b.iter(|| topsis(black_box(&refs), &crit, Normalization::MinMax).unwrap())
    });
    g.bench_function("1M x 6 vector", |b| {
        b.iter(|| topsis(black_box(&refs), &crit, Normalization::Vector).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("non-dominated sort");
    for m in [2usize, 3] {
        let cols = columns(10_000, m, 11 + m as u64);
        let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        g.bench_function(format!("10k x {m}"), |b| {
            b.iter(|| non_dominated_fronts(black_box(&refs)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("non-dominated sort, many objectives");
    g.sample_size(10);
    for m in [4usize, 6] {
        let cols = columns(100_000, m, 11 + m as u64);
        let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        g.bench_function(format!("100k x {m}"), |b| {
            b.iter(|| non_dominated_fronts(black_box(&refs)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("search");
    g.sample_size(10);
    let axes = vec![Axis::Real { lo: 0.0, hi: 1.0 }; 30];
    let zdt1 = |x: &[f64]| bench_analysis::nsga2::zdt(1, x);
    g.bench_function("nsga2 zdt1 100 x 200", |b| {
        b.iter(|| Nsga2::default().minimize(&axes, 200, black_box(1), zdt1))
    });
    for m in [3usize, 4] {
        // Points on the simplex: all mutually non-dominated, the hardest case.
        let cols = columns(1_000, m, 5);
        let rows: Vec<Vec<f64>> = (0..1_000)
            .map(|i| {
                let sum: f64 = cols.iter().map(|c| c[i]).sum();
                cols.iter().map(|c| c[i] / sum).collect()
            })
            .collect();
        let r = vec![1.0; m];
        g.bench_function(format!("hypervolume 1k x {m}"), |b| {
            b.iter(|| hypervolume(black_box(&rows), &r))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
