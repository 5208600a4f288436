//! The bench driver: what the binary drives, as a library.
//!
//! * [`compile`]: a sweep file to a plan (engine images resolved to digests, models pinned);
//! * [`status`]: each node against the cache (cached, or why it runs);
//! * [`session`]: one build (scheduler, executors, signals, spot notices, lease, summary,
//!   ingestion);
//! * [`store`], [`results`], [`recommend`], [`rank`], [`report`]: the results of a sweep;
//! * [`docker`]: Docker hosts of a sweep (image digests, dead builds' containers);
//! * [`paths`]: where a sweep's cache and store live.
//!
//! The binary adds the CLI (clap), rendering (miette, indicatif, tables) and exit codes.

pub mod compile;
pub mod details;
pub mod docker;
pub mod error;
pub mod explain;
pub mod outputs;
pub mod paths;
pub mod pin;
pub mod rank;
pub mod recommend;
pub mod report;
pub mod results;
pub mod session;
pub mod status;
pub mod store;

pub use error::{Error, Result};
