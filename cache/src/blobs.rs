//! The blob store: content named by its blake3 digest. Blobs are immutable; whatever is
//! read is verified against its name (by hashing, or by a stat that has not changed since
//! the bytes were last hashed).

use std::io::Read;
use std::path::Path;

use crate::{CacheError, OutputRef};

/// Digest → bytes. A local directory, or an object store wrapping one.
pub trait BlobStore: Send + Sync {
    /// Which of `digests` are stored, in one call (one round trip for a remote store).
    fn has_many(&self, digests: &[&str]) -> Result<Vec<bool>, CacheError>;

    /// Stores a file under its digest (moved in when it is in the same filesystem); returns
    /// its name and size. Storing what is already there is a no-op. Not yet durable: the
    /// caller makes a group of puts durable at once (see [`crate::CacheBackend::commit`]).
    fn put_file(&self, name: &str, path: &Path) -> Result<OutputRef, CacheError>;

    /// The verified bytes of a blob.
    fn open(&self, digest: &str) -> Result<Box<dyn Read + Send>, CacheError>;

    /// Whether a blob is present with this size and content.
    fn verify(&self, digest: &str, size: u64) -> Result<(), String>;
}
