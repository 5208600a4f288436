//! Executor implementations, one per file.

pub mod inproc;
pub mod local;

pub use inproc::InProcess;
pub use local::LocalProcess;
