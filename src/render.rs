//! Presentation that stays in the binary: where answers go (stdout, buffered), diagnostics
//! with source snippets, errors, logging.

use std::io::{BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};

use crate::error::CliError;

/// Writes a value as pretty JSON to stdout.
pub fn json(v: &impl serde::Serialize) -> Result<ExitCode, CliError> {
    show(|out| {
        serde_json::to_writer_pretty(&mut *out, v)?;
        writeln!(out)
    })
}

/// Writes text to stdout (buffered) with a writer from [`bench_driver::text`]. A closed
/// pipe surfaces as an error that `main` ends on quietly.
pub fn show(f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<ExitCode, CliError> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    f(&mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BENCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn handler() -> GraphicalReportHandler {
    let tty = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let theme = if tty {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    GraphicalReportHandler::new_themed(theme).with_context_lines(1)
}

/// Renders one diagnostic (with its related ones) to stderr.
pub fn diagnostic(d: &dyn Diagnostic) {
    let mut out = String::new();
    if handler().render_report(&mut out, d).is_ok() {
        eprint!("{out}");
    } else {
        eprintln!("{d}");
    }
}

/// Renders warnings (or any diagnostics) to stderr.
pub fn diagnostics<D: Diagnostic>(ds: &[D]) {
    for d in ds {
        diagnostic(d);
    }
}

/// Renders a command's failure.
pub fn error(e: &CliError) {
    match e {
        CliError::Sweep(s) => {
            for d in &s.diags {
                diagnostic(d);
            }
            eprintln!("error: {s}");
        }
        e => eprintln!("error: {e}"),
    }
}
