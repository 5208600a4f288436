//! Where a sweep's state lives: its cache, its results store, its last build's summary.

use std::path::{Path, PathBuf};

use bench_cache::LocalCache;

use crate::error::{Error, Result};

fn beside(sweep: Option<&Path>) -> &Path {
    sweep
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The cache directory: the one given (`--cache`, `$BENCH_CACHE`), else `.bench/cache`
/// beside the sweep (or here).
pub fn cache_dir(given: Option<&Path>, sweep: Option<&Path>) -> PathBuf {
    match given {
        Some(c) => c.to_path_buf(),
        None => beside(sweep).join(".bench").join("cache"),
    }
}

/// The default results store: `.bench/results.duckdb` beside the sweep (or here).
pub fn default_db(sweep: Option<&Path>) -> PathBuf {
    beside(sweep).join(".bench").join("results.duckdb")
}

/// Where pins and stat caches of models live under a cache directory.
pub fn models_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("models")
}

/// Where answers from the network are remembered (see [`crate::remember`]).
pub fn answers_dir(cache_dir: &Path) -> PathBuf {
    models_dir(cache_dir)
}

/// Where a build's summary goes: the next build reads it to say it is resuming.
pub fn summary_path(cache: &Path, sweep: &str) -> PathBuf {
    let safe: String = sweep
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    cache.join("builds").join(format!("{safe}.json"))
}

/// Opens (creating) a cache, the error naming it.
pub fn open_cache(dir: &Path) -> Result<LocalCache> {
    LocalCache::open(dir)
        .map_err(|e| Error::Other(format!("cannot open the cache at {}: {e}", dir.display())))
}

/// The cache, when one was made there already (`bench plan` marks what it holds; a plan
/// made before any build has none to ask).
pub fn cache_if_any(dir: &Path) -> Option<LocalCache> {
    dir.join("layout")
        .exists()
        .then(|| LocalCache::open(dir).ok())
        .flatten()
}

/// Opens a cache that must exist already (a command that reads results).
pub fn existing_cache(dir: &Path, sweep: &Path) -> Result<LocalCache> {
    if !dir.join("layout").exists() {
        return Err(Error::Other(format!(
            "no cache at {}: `bench build {}` runs the sweep",
            dir.display(),
            sweep.display()
        )));
    }
    open_cache(dir)
}
