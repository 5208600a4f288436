//! How each search strategy does on a real measured grid: build a searching sweep's whole
//! grid once (`bench build --grid SWEEP`), then this replays, from the cache and without
//! running anything, what `random`, `nsga2` and `surrogate` would have measured with each
//! budget and seed, and prints the share of the grid's hypervolume they reach (objectives
//! as the search sees them: logarithms of the optimize block's objectives, constraints
//! applied, scaled by the grid's range, reference point 1.1), mean and worst over seeds.
//!
//! Run: `cargo run --example search-eval -- SWEEP [--simulate] [--seeds 10]
//! [--budgets 10,15,25] [--batch N]` (the batch defaults to the sweep's).

use std::path::PathBuf;

use bench_analysis::search::Strategy;
use bench_driver::compile::{Loaded, Mode};
use bench_driver::search::measured_grid;
use clap::Parser;

#[derive(Parser)]
struct Args {
    sweep: PathBuf,
    /// The mode the grid was built in.
    #[arg(long)]
    simulate: bool,
    /// The cache the grid was built in.
    #[arg(long, env = "BENCH_CACHE")]
    cache: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// Budgets, in percent of the candidates.
    #[arg(long, value_delimiter = ',', default_values_t = [10usize, 15, 25])]
    budgets: Vec<usize>,
    #[arg(long)]
    batch: Option<usize>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let mode = Mode {
        simulate: a.simulate,
        docker: false,
        offline: true,
    };
    let loaded = Loaded::read(&a.sweep, mode)?;
    let dir = bench_driver::paths::cache_dir(a.cache.as_deref(), Some(&a.sweep));
    let (plan, _) = loaded.plan(&dir, false)?;
    let cache = bench_driver::paths::open_cache(&dir)?;
    let search = plan
        .resolved
        .sweep
        .search
        .as_ref()
        .ok_or("the sweep has no `search` block")?;
    let grid = measured_grid(&plan, &cache)
        .ok_or("the grid is not measured whole yet: `bench build --grid SWEEP` first")?;
    let n = grid.observed.len();
    let failed = grid.observed.iter().filter(|o| o.is_none()).count();
    let batch = a.batch.unwrap_or(search.batch.max(1) as usize);
    println!(
        "grid: {n} configuration × load points ({failed} failed or outside a constraint), {} seeds, batches of {batch}",
        a.seeds
    );
    println!(
        "{:<10} {:>7} {:>7} {:>8} {:>8}",
        "strategy", "budget", "points", "mean", "worst"
    );
    for strategy in Strategy::ALL {
        for pct in &a.budgets {
            let budget = (n * pct).div_ceil(100);
            let shares: Vec<f64> = (0..a.seeds)
                .map(|seed| grid.share(&grid.search(strategy, seed, batch, budget)))
                .collect();
            let mean = shares.iter().sum::<f64>() / shares.len().max(1) as f64;
            let worst = shares.iter().copied().fold(f64::INFINITY, f64::min);
            println!(
                "{:<10} {:>6}% {:>7} {:>8.4} {:>8.4}",
                strategy.name(),
                pct,
                budget,
                mean,
                worst
            );
        }
    }
    Ok(())
}
