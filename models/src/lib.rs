//! Models on disk.
//!
//! * [`manifest`]: every file an engine needs, with its size and blake3 digest, hashed in
//!   parallel; a [`StatCache`] of size + mtime + inode skips rehashing files that did not
//!   change (as DVC does), so a second look at a 10 GB model costs a few `stat` calls.
//! * [`facts`]: the architecture facts of a checkpoint, from its `config.json` and the
//!   headers of its safetensors files (parameter counts exactly, experts included).
//! * [`hub`]: revisions resolved to commits and files fetched from a Hugging Face Hub,
//!   resumable and verified, into the standard cache layout.

pub mod facts;
pub mod hub;
pub mod manifest;

pub use facts::{ModelFacts, read_facts};
pub use manifest::{DEFAULT_PATTERNS, FileEntry, Manifest, StatCache, hash_dir};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("bad file pattern `{pattern}`: {message}")]
    Pattern { pattern: String, message: String },
}

impl ModelError {
    pub(crate) fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> ModelError + '_ {
        move |source| ModelError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn invalid(path: &std::path::Path, message: impl Into<String>) -> ModelError {
        ModelError::Invalid {
            path: path.display().to_string(),
            message: message.into(),
        }
    }
}
