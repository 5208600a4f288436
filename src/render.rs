//! Presentation: diagnostics with source snippets, numbers for people, logging setup.

use std::io::IsTerminal;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};

use crate::error::CliError;

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

/// Renders a command's failure.
pub fn error(e: &CliError) {
    match e {
        CliError::Sweep(s) => {
            for d in &s.diags {
                diagnostic(d);
            }
            eprintln!("error: {s}");
        }
        CliError::Other(msg) => eprintln!("error: {msg}"),
    }
}

/// `12345` → `12,345`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
