//! The bench driver: what the binary drives, as a library.
//!
//! * [`attempt`]: the far side of an attempt (`bench exec-node`);
//! * [`compile`]: a sweep file to a plan (engine images resolved to digests, models pinned);
//! * [`status`]: each node against the cache (cached, or why it runs);
//! * [`session`]: one build (scheduler, executors, signals, spot notices, lease, summary,
//!   ingestion);
//! * [`store`], [`results`], [`recommend`], [`rank`], [`report`]: the results of a sweep;
//! * [`tokenizer`]: a model's tokenizer by path or hub id (`bench load`);
//! * [`docker`]: Docker hosts of a sweep (image digests, dead builds' containers);
//! * [`paths`]: where a sweep's cache and store live; [`remember`]: network answers kept;
//! * [`progress`] and [`text`]: a build's progress and the answers above as a terminal shows
//!   them, written to any stream.
//!
//! The binary adds the CLI (clap), diagnostics (miette), the choice of stream and exit codes.

pub mod attempt;
pub mod ci;
pub mod compare;
pub mod compile;
pub mod details;
pub mod docker;
pub mod error;
pub mod explain;
pub mod load;
pub mod outputs;
pub mod paths;
pub mod pin;
pub mod pools;
pub mod progress;
pub mod rank;
pub mod recommend;
pub mod remember;
pub mod report;
pub mod results;
pub mod search;
pub mod session;
pub mod status;
pub mod store;
pub mod text;
pub mod tokenizer;
pub mod workflows;

pub use error::{Error, Result};
