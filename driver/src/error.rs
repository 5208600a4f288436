//! The driver's error: a sweep's diagnostics (rendered with their spans by the binary), or
//! one sentence that says where and why.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Sweep(#[from] bench_sweep::SweepError),
    #[error("{0}")]
    Other(String),
    /// Writing the answer failed (a closed pipe: `bench rank … | head`).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl From<String> for Error {
    fn from(e: String) -> Self {
        Error::Other(e)
    }
}

pub type Result<T> = std::result::Result<T, Error>;
