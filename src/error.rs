//! The CLI's error: a sweep's diagnostics, or one sentence that says where and why.

#[derive(Debug)]
pub enum CliError {
    Sweep(bench_sweep::SweepError),
    Other(String),
}

impl From<bench_sweep::SweepError> for CliError {
    fn from(e: bench_sweep::SweepError) -> Self {
        CliError::Sweep(e)
    }
}

impl From<String> for CliError {
    fn from(e: String) -> Self {
        CliError::Other(e)
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Sweep(s) => write!(f, "{s}"),
            CliError::Other(m) => f.write_str(m),
        }
    }
}
