//! `bench`: a declarative, build-system-style DAG engine for LLM-inference benchmark sweeps.

mod build;
mod cli;
mod commands;
mod docker;
mod error;
mod load;
mod progress;
mod rank;
mod render;
mod results;
mod store;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    render::init_logging(args.verbose);
    match commands::run(args) {
        Ok(code) => code,
        Err(e) => {
            render::error(&e);
            ExitCode::from(1)
        }
    }
}
