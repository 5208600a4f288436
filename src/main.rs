//! `bench`: a declarative, build-system-style DAG engine for LLM-inference benchmark sweeps.

mod build;
mod cli;
mod commands;
mod error;
mod load;
mod render;
mod results;

use std::process::ExitCode;

use clap::Parser;

use crate::error::CliError;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    render::init_logging(args.verbose);
    match commands::run(args) {
        Ok(code) => code,
        // The reader went away (`bench rank … | head`): what it wanted, it has.
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            render::error(&e);
            ExitCode::from(1)
        }
    }
}
