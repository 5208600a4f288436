//! `bench-sim-engine`: the simulated engine as a standalone server.

use bench_sim::cli::SimArgs;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "bench-sim-engine", version)]
struct Args {
    #[command(flatten)]
    sim: SimArgs,
}

#[tokio::main]
async fn main() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    if let Err(e) = bench_sim::cli::run(Args::parse().sim).await {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
