//! The action cache: a node key → the manifest of its outputs. An entry is created at most
//! once (compare-and-swap on absence: a link locally, a conditional create on an object
//! store), so two builds — on one machine or two — never both commit a key.

use crate::{CacheError, Manifest};

/// What a put found.
#[derive(Debug)]
pub enum PutOutcome {
    /// This manifest is now the key's.
    Created,
    /// Another commit got there first; its manifest is kept.
    Exists,
}

/// Key → manifest.
pub trait ActionCache: Send + Sync {
    /// The manifest of a key, as stored (its outputs not verified). `Err` when it is there
    /// but unreadable.
    fn get(&self, key: &str) -> Option<Result<Manifest, String>>;

    /// Several keys at once (one round trip for a remote cache on a no-op build).
    fn get_many(&self, keys: &[&str]) -> Vec<Option<Result<Manifest, String>>> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// Whether a key has a manifest, without reading it.
    fn contains(&self, key: &str) -> bool;

    /// Creates the key's entry unless one exists.
    fn put_if_absent(&self, m: &Manifest) -> Result<PutOutcome, CacheError>;
}
