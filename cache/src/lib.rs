//! The content-addressed cache: node outputs stored as blobs named by their blake3 digest,
//! and one manifest per node key. The manifest is written last, atomically: it is the only
//! proof that a node completed. Reads verify digests, so a corrupted or truncated blob is
//! detected and the node recomputed, never used.
//!
//! The cache is what it is made of:
//!
//! * a content-addressed [`BlobStore`] (digest → bytes, existence checked in batches);
//! * an [`ActionCache`] (node key → manifest, created at most once);
//! * local concerns: staging, claims, attempt logs, failure and label indexes, gc.
//!
//! [`CacheBackend`] is what a build talks to: the two stores and the local concerns.
//! [`LocalCache`] is the local tier; a remote tier wraps its blob store and action cache.
//! Reads are verified: by hashing, or by a stat unchanged since the bytes were hashed.

/// A file an executor puts in an attempt's staging directory when the attempt runs outside
/// the build's process tree (a cluster job): the attempt outlives a killed build, so its
/// directory is not reclaimed with the build, and the next build may adopt it.
pub const DETACHED: &str = "detached";

pub mod actions;
pub mod blobs;
mod local;
pub mod remote;
pub mod tiered;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use actions::{ActionCache, PutOutcome};
pub use blobs::BlobStore;
pub use local::{BuildLease, LocalCache, VerifyReport, hash_file};
pub use remote::{Remote, RemoteError, RemoteStats};
pub use tiered::{RemoteOptions, Tiered};

/// Version of the on-disk layout.
pub const LAYOUT_VERSION: u32 = 1;

/// One output of a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputRef {
    /// File name inside the node's output directory.
    pub name: String,
    /// blake3 of the content, hex.
    pub digest: String,
    pub size: u64,
}

/// The proof that a node completed, and what it produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub layout: u32,
    pub key: String,
    pub kind: String,
    pub label: String,
    /// The params the key was computed from (for `bench explain`).
    pub params: serde_json::Value,
    /// Input keys by label.
    pub inputs: Vec<(String, String)>,
    pub outputs: Vec<OutputRef>,
    pub attempt: u32,
    /// RFC 3339.
    pub finished_at: String,
    pub duration_secs: f64,
    pub build_id: String,
}

impl Manifest {
    pub fn output(&self, name: &str) -> Option<&OutputRef> {
        self.outputs.iter().find(|o| o.name == name)
    }
}

/// What the build knows about a node before it commits.
#[derive(Clone, Debug)]
pub struct CommitInfo {
    /// The sweep's name, for the label index.
    pub sweep: String,
    pub kind: String,
    pub label: String,
    pub params: serde_json::Value,
    pub inputs: Vec<(String, String)>,
    pub attempt: u32,
    pub duration_secs: f64,
    pub build_id: String,
}

/// The result of looking a key up.
#[derive(Debug)]
pub enum Lookup {
    Hit(Manifest),
    Miss,
    /// A manifest exists but its outputs do not verify: the entry was set aside.
    Corrupt(String),
}

/// Whether a key is committed, as a build checks it before it starts (no manifest content).
#[derive(Debug, PartialEq)]
pub enum Checked {
    Committed,
    Missing,
    /// A manifest exists but it or its outputs do not verify: the entry was set aside.
    Corrupt(String),
}

/// How a node's last attempt failed, kept until it succeeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    pub key: String,
    pub label: String,
    pub class: String,
    pub message: String,
    pub attempts: u32,
    pub at: String,
}

/// The last committed key of a label, for `bench plan` (why a node runs) and `bench explain`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelRecord {
    pub key: String,
    pub params: serde_json::Value,
    pub inputs: Vec<(String, String)>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CacheStats {
    pub manifests: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
    pub failures: u64,
    pub aside: u64,
    pub aside_bytes: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct GcReport {
    pub manifests_removed: u64,
    pub blobs_removed: u64,
    pub bytes_freed: u64,
    pub dry_run: bool,
}

/// Which manifests garbage collection keeps.
#[derive(Clone, Debug, Default)]
pub struct GcPolicy {
    /// Keep these keys (what the given sweeps reference). `None`: keep by age and size only.
    pub keep: Option<std::collections::HashSet<String>>,
    /// Remove manifests older than this.
    pub older_than: Option<std::time::Duration>,
    /// Remove the oldest manifests until blobs fit in this many bytes.
    pub max_bytes: Option<u64>,
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cache at {0} has layout version {1}; this bench reads version {LAYOUT_VERSION}")]
    Layout(PathBuf, String),
    #[error("blob {digest} is corrupt: {why}")]
    CorruptBlob { digest: String, why: String },
    #[error("the cache is in use by a running build; stop it first")]
    Busy,
    #[error("{0}")]
    Remote(String),
}

impl CacheError {
    pub fn io(path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> CacheError {
        let path = path.as_ref().to_path_buf();
        move |source| CacheError::Io { path, source }
    }

    /// True for "no space left on device" and the like: nothing was committed.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, CacheError::Io { source, .. } if source.raw_os_error() == Some(28))
    }
}

/// A place where a node's attempt writes its outputs before they are committed.
#[derive(Debug)]
pub struct Staging {
    pub key: String,
    pub attempt: u32,
    /// The directory the node writes its output files into.
    pub out_dir: PathBuf,
    /// The staging root (removed or set aside after the attempt).
    pub root: PathBuf,
}

/// An exclusive claim on a key: while held, no other build executes the same node.
pub trait Claim: Send {}

/// What a build uses of a cache. Implementations must make [`CacheBackend::commit`]
/// atomic: a reader sees either no manifest or a complete, verified one.
pub trait CacheBackend: Send + Sync {
    /// Human-readable location.
    fn location(&self) -> String;

    fn blobs(&self) -> &dyn BlobStore;

    fn actions(&self) -> &dyn ActionCache;

    /// The committed manifest of a key, its outputs verified.
    fn lookup(&self, key: &str) -> Result<Lookup, CacheError>;

    /// Whether a key is committed with every output verified, as cheaply as the backend
    /// can tell (a no-op build checks every node of a plan).
    fn check(&self, key: &str) -> Result<Checked, CacheError> {
        Ok(match self.lookup(key)? {
            Lookup::Hit(_) => Checked::Committed,
            Lookup::Miss => Checked::Missing,
            Lookup::Corrupt(why) => Checked::Corrupt(why),
        })
    }

    /// Whether a manifest exists, without verifying outputs (cheap; for planning).
    fn contains(&self, key: &str) -> bool;

    /// Waits for an exclusive claim on a key.
    fn claim(&self, key: &str) -> Result<Box<dyn Claim>, CacheError>;

    /// A fresh, empty place for one attempt's outputs.
    fn stage(&self, key: &str, attempt: u32) -> Result<Staging, CacheError>;

    /// Stores the staged outputs as blobs, makes them durable, then creates the manifest:
    /// the commit point. Concurrent commits may share one sync.
    fn commit(&self, staging: Staging, info: CommitInfo) -> Result<Manifest, CacheError>;

    /// Makes everything committed so far durable (the end of a build).
    fn flush(&self) -> Result<(), CacheError>;

    /// Moves an attempt's partial outputs aside for diagnosis; they are never read as outputs.
    fn set_aside(&self, staging: Staging, why: &str);

    /// Where an attempt's log goes (kept for every attempt).
    fn log_path(&self, key: &str, attempt: u32) -> Result<PathBuf, CacheError>;

    /// Every kept log of a key, oldest first.
    fn logs(&self, key: &str) -> Vec<PathBuf>;

    /// The local path of a verified blob, for actions that read their inputs.
    fn blob_path(&self, digest: &str, size: u64) -> Result<PathBuf, CacheError>;

    fn record_failure(&self, f: &FailureRecord);
    fn failure(&self, key: &str) -> Option<FailureRecord>;

    /// The last committed key and params of a label within a sweep.
    fn label(&self, sweep: &str, label: &str) -> Option<LabelRecord>;

    fn stats(&self) -> Result<CacheStats, CacheError>;

    fn gc(&self, policy: &GcPolicy) -> Result<GcReport, CacheError>;
}
