//! The CLI's error is the driver's: a sweep's diagnostics, or one sentence that says where
//! and why.

pub use bench_driver::Error as CliError;
