//! Reading committed outputs back from the cache.

use std::path::PathBuf;

use bench_cache::{CacheBackend, Lookup, Manifest};
use serde::de::DeserializeOwned;

/// Where one output of a committed node is (verified).
pub fn output_path(cache: &dyn CacheBackend, m: &Manifest, name: &str) -> Option<PathBuf> {
    let o = m.outputs.iter().find(|o| o.name == name)?;
    cache.blob_path(&o.digest, o.size).ok()
}

/// One JSON output of a committed node.
pub fn read<T: DeserializeOwned>(cache: &dyn CacheBackend, m: &Manifest, name: &str) -> Option<T> {
    serde_json::from_slice(&std::fs::read(output_path(cache, m, name)?).ok()?).ok()
}

/// One JSON output of a key, when it is committed.
pub fn read_output<T: DeserializeOwned>(
    cache: &dyn CacheBackend,
    key: &str,
    name: &str,
) -> Option<T> {
    let Ok(Lookup::Hit(m)) = cache.lookup(key) else {
        return None;
    };
    read(cache, &m, name)
}
