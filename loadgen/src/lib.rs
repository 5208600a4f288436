//! The load generator: drives an OpenAI- or TGI-compatible server and measures each request
//! at the points the metric definitions name, without distorting what it measures (one
//! thread, each HTTP/1.1 connection driven in the task that reads it; no per-request work
//! between the timestamps but parsing).

pub mod dataset;
pub mod dialect;
mod http;
pub mod metrics;
pub mod run;
pub mod tokens;

pub use dataset::{Prompt, Scoring};
pub use dialect::Dialect;
pub use metrics::{DEFINITIONS, Dist, Metrics, Slo, compute};
pub use run::{Load, LoadConfig, LoadError, Record, Stop, run, run_blocking, runtime};
pub use tokens::{TokenSource, Tokenizer};
