//! Command-line interface: every command and flag, with the help text users read.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// A declarative, build-system-style engine for LLM-inference benchmark sweeps.
///
/// A sweep (KDL) of models × engines × quantizations × GPUs × batch sizes × sequence lengths ×
/// workloads compiles into a content-hashed DAG: download → setup → bench → validate →
/// aggregate → optimize. Keys decide what runs again.
#[derive(Debug, Parser)]
#[command(
    name = "bench",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// More log output (-v: debug, -vv: trace). Logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile a sweep and show what would run: node counts, pruned configurations and why.
    Plan(PlanArgs),
    /// Validate a sweep: exit status 0 when it compiles, 1 when it has errors.
    Check(CheckArgs),
    /// Print the DAG in Graphviz dot or Mermaid.
    Graph(GraphArgs),
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The sweep file.
    pub sweep: PathBuf,
    /// Print every node (key, kind, label, params, inputs, status) and every pruned
    /// configuration as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// List every pruned configuration with its reason, not only the count per reason.
    #[arg(long)]
    pub show_pruned: bool,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The sweep files.
    #[arg(required = true)]
    pub sweeps: Vec<PathBuf>,
    /// Treat warnings as errors.
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// The sweep file.
    pub sweep: PathBuf,
    #[arg(long, value_enum, default_value = "dot")]
    pub format: GraphFormat,
}
