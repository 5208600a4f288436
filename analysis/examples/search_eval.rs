//! How well each search strategy finds the front of a synthetic serving grid (see
//! `tests/common/grid.rs`): the fraction of the true front's hypervolume reached with 5 %,
//! 10 % and 15 % of the grid measured, mean and worst over seeds, batches of 16.
//! Run: `cargo run --release -p bench-analysis --example search_eval [SEEDS]`.

#[path = "../tests/common/grid.rs"]
mod grid;

use bench_analysis::search::{Search, Strategy};
use std::time::Instant;

fn main() {
    let seeds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let g = grid::grid();
    let n = g.space.points.len();
    let crashes = g.truth.iter().filter(|t| t.is_none()).count();
    println!("grid: {n} candidates ({crashes} crash), {seeds} seeds, batches of 16");
    println!(
        "{:<22} {:>7} {:>8} {:>8} {:>10}",
        "strategy", "budget", "mean", "worst", "s/search"
    );
    let runs = Strategy::ALL
        .iter()
        .map(|s| (*s, true))
        .chain([(Strategy::Surrogate, false)]);
    for (strategy, with_prior) in runs {
        let name = if with_prior {
            strategy.name().to_string()
        } else {
            format!("{} (no prior)", strategy.name())
        };
        for pct in [5usize, 10, 15] {
            let budget = n * pct / 100;
            let t0 = Instant::now();
            let mut fr = Vec::new();
            for seed in 0..seeds {
                let s = Search {
                    space: &g.space,
                    strategy,
                    seed,
                    batch: 16,
                    prior: with_prior.then_some(&g.prior[..]),
                };
                let obs = s.run(budget, |i| g.truth[i].clone());
                let measured: Vec<usize> = obs.iter().map(|o| o.point).collect();
                fr.push(grid::fraction(&g, &measured));
            }
            let mean = fr.iter().sum::<f64>() / fr.len() as f64;
            let worst = fr.iter().cloned().fold(f64::INFINITY, f64::min);
            println!(
                "{:<22} {:>6}% {:>8.4} {:>8.4} {:>10.2}",
                name,
                pct,
                mean,
                worst,
                t0.elapsed().as_secs_f64() / seeds as f64
            );
        }
    }
}
