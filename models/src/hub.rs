//! Models from a Hugging Face Hub (or any server speaking its API: `HF_ENDPOINT`), through
//! the `hf-hub` client.
//!
//! * [`resolve`]: a revision (branch, tag or commit) → the commit it names now, with the
//!   size and checksum of every file (the Hub's `?blobs=true` listing).
//! * [`fetch`]: the files an engine needs, several at a time, each in ranged chunks that
//!   resume after an interruption (hf-hub keeps a `.sync.part` file with its committed
//!   offset), verified against the listed size and checksum (sha256 for LFS files, the git
//!   blob id otherwise), into the standard cache layout
//!   `models--ORG--NAME/{blobs,snapshots/COMMIT,refs}` that engines read offline.
//!
//! The token (`HF_TOKEN`, else `$HF_HOME/token`) is sent as a header and appears in no
//! error, log line or `Debug` output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hf_hub::api::tokio::{ApiBuilder, ApiError};
use hf_hub::{Repo, RepoType};
use serde::{Deserialize, Serialize};
use sha1::Digest as _;

/// Where and how to reach the Hub.
#[derive(Clone)]
pub struct HubConfig {
    /// `HF_ENDPOINT`, else `https://huggingface.co`.
    pub endpoint: String,
    /// The hub cache: `HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
    pub cache_dir: PathBuf,
    /// `HF_TOKEN`, else the token file `$HF_HOME/token`. Never printed.
    pub token: Option<String>,
    /// `HF_HUB_OFFLINE=1`: no network at all.
    pub offline: bool,
    /// Files fetched at once.
    pub parallel_files: usize,
    /// Ranged requests at once per file.
    pub parallel_chunks: usize,
    /// Bytes per ranged request, the unit of resumption (`BENCH_HF_CHUNK_BYTES`).
    pub chunk_bytes: usize,
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("endpoint", &self.endpoint)
            .field("cache_dir", &self.cache_dir)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("offline", &self.offline)
            .finish()
    }
}

pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

impl HubConfig {
    /// From the environment, as the Hugging Face tools read it.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let home = var("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let base = var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .unwrap_or_else(|| PathBuf::from(".cache"));
            base.join("huggingface")
        });
        let cache_dir = var("HF_HUB_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("hub"));
        let token = var("HF_TOKEN").or_else(|| {
            std::fs::read_to_string(home.join("token"))
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        });
        let offline = var("HF_HUB_OFFLINE").is_some_and(|v| v == "1" || v == "true");
        Self {
            endpoint: var("HF_ENDPOINT")
                .map(|e| e.trim_end_matches('/').to_string())
                .unwrap_or_else(|| DEFAULT_ENDPOINT.into()),
            cache_dir,
            token,
            offline,
            parallel_files: 4,
            parallel_chunks: 2,
            chunk_bytes: var("BENCH_HF_CHUNK_BYTES")
                .and_then(|v| v.parse().ok())
                .filter(|&n: &usize| n >= 4096)
                .unwrap_or(10_000_000),
        }
    }

    /// The directory of a repository in the cache: `models--ORG--NAME`.
    pub fn repo_dir(&self, id: &str) -> PathBuf {
        self.cache_dir
            .join(format!("models--{}", id.replace('/', "--")))
    }

    /// Where a commit's files are: `models--ORG--NAME/snapshots/COMMIT`.
    pub fn snapshot_dir(&self, id: &str, commit: &str) -> PathBuf {
        self.repo_dir(id).join("snapshots").join(commit)
    }

    fn api(&self) -> Result<hf_hub::api::tokio::Api, HubError> {
        ApiBuilder::from_cache(hf_hub::Cache::new(self.cache_dir.clone()))
            .with_endpoint(self.endpoint.clone())
            .with_token(self.token.clone())
            .with_progress(false)
            .with_max_files(self.parallel_chunks.max(1))
            .with_chunk_size(Some(self.chunk_bytes))
            .with_user_agent("bench", env!("CARGO_PKG_VERSION"))
            .build()
            .map_err(|e| HubError::Client(e.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("model `{id}` is not on {endpoint} (or is private: a token with access is needed)")]
    RepoNotFound { id: String, endpoint: String },
    #[error("model `{id}` has no revision `{revision}` (a branch, tag or commit hash)")]
    RevisionNotFound { id: String, revision: String },
    #[error("model `{id}` at {commit} has no file `{file}`")]
    FileNotFound {
        id: String,
        commit: String,
        file: String,
    },
    #[error(
        "model `{id}` is gated: set HF_TOKEN to a token that was granted access (request access at {endpoint}/{id})"
    )]
    Gated { id: String, endpoint: String },
    #[error(
        "model `{id}` is gated and the token in HF_TOKEN has no access to it: request access at {endpoint}/{id}"
    )]
    Forbidden { id: String, endpoint: String },
    #[error("cannot reach {endpoint}: {message}")]
    Unreachable { endpoint: String, message: String },
    #[error("HF_HUB_OFFLINE is set: no request to {endpoint}")]
    Offline { endpoint: String },
    #[error("{url}: HTTP {status}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Http {
        url: String,
        status: u16,
        message: Option<String>,
    },
    #[error(
        "{file}: the content does not match the checksum the hub lists ({kind} {expected}, got {got}), after {attempts} attempts"
    )]
    Checksum {
        file: String,
        kind: &'static str,
        expected: String,
        got: String,
        attempts: u32,
    },
    #[error("{file}: {got} bytes where the hub lists {expected}")]
    Size {
        file: String,
        expected: u64,
        got: u64,
    },
    #[error("disk full writing {path}: free space and build again (completed files are kept)")]
    DiskFull { path: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Client(String),
    #[error("the hub's answer for `{id}` is not understood: {message}")]
    Protocol { id: String, message: String },
}

impl HubError {
    /// Whether the failure may pass on its own (network, server errors).
    pub fn is_transient(&self) -> bool {
        match self {
            HubError::Unreachable { .. } => true,
            HubError::Http { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// Whether the hub could not be asked at all (the caller may fall back to what it
    /// resolved before).
    pub fn is_offline(&self) -> bool {
        matches!(
            self,
            HubError::Unreachable { .. } | HubError::Offline { .. }
        )
    }
}

/// How a file's content is checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "hex", rename_all = "kebab-case")]
pub enum Checksum {
    /// LFS files: the sha256 of the content (also the name of the blob in the cache).
    Sha256(String),
    /// Other files: the git blob id, sha1 of `blob LEN\0` + content.
    GitSha1(String),
}

impl Checksum {
    /// The name of the blob in the cache (the Hub's ETag).
    pub fn etag(&self) -> &str {
        match self {
            Checksum::Sha256(h) | Checksum::GitSha1(h) => h,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Checksum::Sha256(_) => "sha256",
            Checksum::GitSha1(_) => "git sha1",
        }
    }

    /// The digest of a file on disk, in this checksum's kind.
    pub fn compute(&self, path: &Path) -> Result<String, HubError> {
        let io = |source| HubError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        // SAFETY: read-only mapping of a file in the cache; a concurrent writer would
        // only make the check fail, which is what it is for.
        let map = if len == 0 {
            None
        } else {
            Some(unsafe { memmap2::Mmap::map(&file) }.map_err(io)?)
        };
        let bytes: &[u8] = map.as_deref().unwrap_or(&[]);
        Ok(match self {
            Checksum::Sha256(_) => hex(&sha2::Sha256::digest(bytes)),
            Checksum::GitSha1(_) => {
                let mut h = sha1::Sha1::new();
                h.update(format!("blob {}\0", bytes.len()).as_bytes());
                h.update(bytes);
                hex(&h.finalize())
            }
        })
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A file of a commit as the Hub lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteFile {
    pub path: String,
    pub size: u64,
    pub checksum: Checksum,
}

/// What a revision names now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: String,
    /// As asked (a branch, a tag or a commit).
    pub revision: String,
    /// The commit hash.
    pub commit: String,
    pub files: Vec<RemoteFile>,
}

impl Snapshot {
    /// The files matching `patterns` (against the name and the path).
    pub fn select(&self, patterns: &[&str]) -> Result<Vec<RemoteFile>, crate::ModelError> {
        let set = crate::manifest::globs(patterns)?;
        Ok(self
            .files
            .iter()
            .filter(|f| {
                let name = f.path.rsplit('/').next().unwrap_or(&f.path);
                set.is_match(name) || set.is_match(&f.path)
            })
            .cloned()
            .collect())
    }
}

/// Whether a revision is already a full commit hash.
pub fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

#[derive(Deserialize)]
struct InfoJson {
    sha: Option<String>,
    #[serde(default)]
    siblings: Vec<SiblingJson>,
}

#[derive(Deserialize)]
struct SiblingJson {
    rfilename: String,
    size: Option<u64>,
    #[serde(rename = "blobId")]
    blob_id: Option<String>,
    lfs: Option<LfsJson>,
}

#[derive(Deserialize)]
struct LfsJson {
    sha256: String,
    size: u64,
}

/// A reqwest error as the hub's answer: no status means the hub was not reached.
fn request_error(cfg: &HubConfig, id: &str, e: &reqwest::Error) -> HubError {
    match e.status().map(|s| s.as_u16()) {
        Some(401) if cfg.token.is_none() => HubError::Gated {
            id: id.into(),
            endpoint: cfg.endpoint.clone(),
        },
        Some(401) | Some(403) => HubError::Forbidden {
            id: id.into(),
            endpoint: cfg.endpoint.clone(),
        },
        Some(status) => HubError::Http {
            url: e.url().map(|u| u.to_string()).unwrap_or_default(),
            status,
            message: None,
        },
        None => HubError::Unreachable {
            endpoint: cfg.endpoint.clone(),
            message: root_cause(e),
        },
    }
}

/// The innermost error's words (reqwest nests the useful part).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// What a revision of `id` names now.
pub async fn resolve(cfg: &HubConfig, id: &str, revision: &str) -> Result<Snapshot, HubError> {
    if cfg.offline {
        return Err(HubError::Offline {
            endpoint: cfg.endpoint.clone(),
        });
    }
    let api = cfg.api()?;
    let repo = api.repo(Repo::with_revision(
        id.to_string(),
        RepoType::Model,
        revision.to_string(),
    ));
    let resp = repo
        .info_request()
        .query(&[("blobs", "true")])
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .map_err(|e| request_error(cfg, id, &e))?;
    let status = resp.status().as_u16();
    if status != 200 {
        let code = resp
            .headers()
            .get("x-error-code")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let message = resp
            .headers()
            .get("x-error-message")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        return Err(match (status, code.as_str()) {
            (_, "RevisionNotFound") => HubError::RevisionNotFound {
                id: id.into(),
                revision: revision.into(),
            },
            (_, "GatedRepo") | (401, _) | (403, _) if cfg.token.is_some() => HubError::Forbidden {
                id: id.into(),
                endpoint: cfg.endpoint.clone(),
            },
            (_, "GatedRepo") => HubError::Gated {
                id: id.into(),
                endpoint: cfg.endpoint.clone(),
            },
            (_, "RepoNotFound") | (404, _) | (401, _) => HubError::RepoNotFound {
                id: id.into(),
                endpoint: cfg.endpoint.clone(),
            },
            _ => HubError::Http {
                url: format!("{}/api/models/{id}/revision/{revision}", cfg.endpoint),
                status,
                message,
            },
        });
    }
    let info: InfoJson = resp.json().await.map_err(|e| HubError::Protocol {
        id: id.into(),
        message: root_cause(&e),
    })?;
    let commit = info.sha.ok_or_else(|| HubError::Protocol {
        id: id.into(),
        message: "no commit hash (`sha`)".into(),
    })?;
    let mut files = Vec::with_capacity(info.siblings.len());
    for s in info.siblings {
        let (size, checksum) = match (s.lfs, s.blob_id, s.size) {
            (Some(l), _, _) => (l.size, Checksum::Sha256(l.sha256)),
            (None, Some(b), Some(size)) => (size, Checksum::GitSha1(b)),
            _ => {
                return Err(HubError::Protocol {
                    id: id.into(),
                    message: format!("no size or checksum for `{}`", s.rfilename),
                });
            }
        };
        files.push(RemoteFile {
            path: s.rfilename,
            size,
            checksum,
        });
    }
    Ok(Snapshot {
        id: id.into(),
        revision: revision.into(),
        commit,
        files,
    })
}

pub use bench_node::outputs::FetchReport;

/// Byte progress shared by the files of a fetch; `bar` is an indicatif bar (drawn where
/// the caller chose), `on_tick` a line for logs.
#[derive(Clone)]
pub struct Progress {
    pub bar: indicatif::ProgressBar,
    done: Arc<AtomicU64>,
}

impl Progress {
    pub fn new(bar: indicatif::ProgressBar) -> Self {
        Self {
            bar,
            done: Arc::default(),
        }
    }

    pub fn received(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
}

impl hf_hub::api::tokio::Progress for Progress {
    async fn init(&mut self, _size: usize, _filename: &str) {}
    async fn update(&mut self, size: usize) {
        self.done.fetch_add(size as u64, Ordering::Relaxed);
        self.bar.inc(size as u64);
    }
    async fn finish(&mut self) {}
}

/// Verified checksums of blobs, by blob path: a blob whose size, mtime and inode did not
/// change since it was verified is not read again.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Verified {
    blobs: BTreeMap<String, (u64, i128, u64)>,
}

impl Verified {
    pub fn load(path: &Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec(self).unwrap_or_default())?;
        std::fs::rename(tmp, path)
    }

    fn stat(path: &Path) -> Option<(u64, i128, u64)> {
        std::fs::metadata(path)
            .ok()
            .map(|m| crate::manifest::identity(&m))
    }

    fn is_verified(&self, blob: &Path) -> bool {
        let k = blob.display().to_string();
        Self::stat(blob).is_some_and(|s| self.blobs.get(&k) == Some(&s))
    }

    fn mark(&mut self, blob: &Path) {
        if let Some(s) = Self::stat(blob) {
            self.blobs.insert(blob.display().to_string(), s);
        }
    }
}

fn io_error(path: &Path, e: std::io::Error) -> HubError {
    if e.kind() == std::io::ErrorKind::StorageFull {
        HubError::DiskFull {
            path: path.display().to_string(),
        }
    } else {
        HubError::Io {
            path: path.display().to_string(),
            source: e,
        }
    }
}

fn api_error(cfg: &HubConfig, snap: &Snapshot, file: &str, e: ApiError) -> HubError {
    match e {
        ApiError::RequestError(r) => match r.status().map(|s| s.as_u16()) {
            Some(404) => HubError::FileNotFound {
                id: snap.id.clone(),
                commit: snap.commit.clone(),
                file: file.into(),
            },
            _ => request_error(cfg, &snap.id, &r),
        },
        ApiError::IoError(io) => io_error(&cfg.repo_dir(&snap.id), io),
        ApiError::TooManyRetries(inner) => api_error(cfg, snap, file, *inner),
        ApiError::LockAcquisition(p) => HubError::Client(format!(
            "{} is locked: another process is fetching the same file",
            p.display()
        )),
        other => HubError::Client(format!("{file}: {other}")),
    }
}

/// Fetches `files` of `snap` into the cache (those already there, verified, are only
/// linked into the snapshot) and returns the snapshot directory.
///
/// Each file is checked against the hub's size and checksum; a mismatch is fetched once
/// more, then fails naming the file. A failure leaves completed files in place and
/// partial ones resumable; nothing half-written appears under `snapshots/`.
pub async fn fetch(
    cfg: &HubConfig,
    snap: &Snapshot,
    files: &[RemoteFile],
    verified: &mut Verified,
    progress: &Progress,
) -> Result<(PathBuf, FetchReport), HubError> {
    let t0 = Instant::now();
    let repo_dir = cfg.repo_dir(&snap.id);
    let snapshot = cfg.snapshot_dir(&snap.id, &snap.commit);
    let blobs = repo_dir.join("blobs");
    for d in [&snapshot, &blobs] {
        std::fs::create_dir_all(d).map_err(|e| io_error(d, e))?;
    }
    // What is there already: a verified blob under its checksum's name.
    let mut report = FetchReport::default();
    let mut todo = Vec::new();
    for f in files {
        let blob = blobs.join(f.checksum.etag());
        let size_ok = std::fs::metadata(&blob).is_ok_and(|m| m.len() == f.size);
        let good = size_ok
            && (verified.is_verified(&blob)
                || match f.checksum.compute(&blob) {
                    Ok(d) if d == f.checksum.etag() => {
                        verified.mark(&blob);
                        true
                    }
                    _ => false,
                });
        if good {
            link(&blob, &snapshot.join(&f.path))?;
            progress.bar.inc(f.size);
            report.reused.push(f.path.clone());
        } else {
            if std::fs::symlink_metadata(&blob).is_ok() {
                // A blob that is not what its name says: fetched again below.
                std::fs::remove_file(&blob).map_err(|e| io_error(&blob, e))?;
            }
            todo.push(f.clone());
        }
    }
    if todo.is_empty() {
        report.seconds = t0.elapsed().as_secs_f64();
        return Ok((snapshot, report));
    }
    if cfg.offline {
        return Err(HubError::Offline {
            endpoint: cfg.endpoint.clone(),
        });
    }
    // Two paths with the same content are one blob: fetched once, linked twice.
    let mut unique: Vec<RemoteFile> = Vec::new();
    let mut twins: Vec<RemoteFile> = Vec::new();
    for f in todo {
        if unique.iter().any(|u| u.checksum == f.checksum) {
            twins.push(f);
        } else {
            unique.push(f);
        }
    }
    let api = cfg.api()?;
    let before = progress.received();
    let results: Vec<Result<RemoteFile, HubError>> = futures::stream::iter(unique)
        .map(|f| {
            let api = api.clone();
            let progress = progress.clone();
            let blobs = blobs.clone();
            let snapshot = snapshot.clone();
            async move {
                let repo = api.repo(Repo::with_revision(
                    snap.id.clone(),
                    RepoType::Model,
                    snap.commit.clone(),
                ));
                let blob = blobs.join(f.checksum.etag());
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    repo.download_with_progress(&f.path, progress.clone())
                        .await
                        .map_err(|e| api_error(cfg, snap, &f.path, e))?;
                    let size = std::fs::metadata(&blob).map(|m| m.len()).unwrap_or(0);
                    let digest = if size == f.size {
                        let b = blob.clone();
                        let c = f.checksum.clone();
                        tokio::task::spawn_blocking(move || c.compute(&b))
                            .await
                            .map_err(|e| HubError::Client(e.to_string()))??
                    } else {
                        String::new()
                    };
                    if size == f.size && digest == f.checksum.etag() {
                        // hf-hub linked the file; make sure the link is ours.
                        link(&blob, &snapshot.join(&f.path))?;
                        return Ok(f.clone());
                    }
                    // Wrong bytes: neither the blob nor its link may stay.
                    let _ = std::fs::remove_file(snapshot.join(&f.path));
                    let _ = std::fs::remove_file(&blob);
                    progress
                        .bar
                        .set_position(progress.bar.position().saturating_sub(size));
                    if attempts >= 2 {
                        return Err(if size != f.size {
                            HubError::Size {
                                file: f.path.clone(),
                                expected: f.size,
                                got: size,
                            }
                        } else {
                            HubError::Checksum {
                                file: f.path.clone(),
                                kind: f.checksum.kind(),
                                expected: f.checksum.etag().to_string(),
                                got: digest,
                                attempts,
                            }
                        });
                    }
                    eprintln!(
                        "warning: {} did not match its checksum; fetching it again",
                        f.path
                    );
                }
            }
        })
        .buffer_unordered(cfg.parallel_files.max(1))
        .collect()
        .await;
    // hf-hub records the commit as a ref named after itself; the ref that matters is the
    // revision's.
    let refs = repo_dir.join("refs");
    if snap.revision != snap.commit {
        let _ = std::fs::remove_file(refs.join(&snap.commit));
    }
    let mut first_err = None;
    for r in results {
        match r {
            Ok(f) => {
                verified.mark(&blobs.join(f.checksum.etag()));
                report.fetched.push(f.path);
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    for t in twins {
        link(&blobs.join(t.checksum.etag()), &snapshot.join(&t.path))?;
        progress.bar.inc(t.size);
        report.reused.push(t.path);
    }
    write_ref(&refs, &snap.revision, &snap.commit)?;
    report.bytes_received = progress.received() - before;
    report.seconds = t0.elapsed().as_secs_f64();
    report.fetched.sort();
    report.reused.sort();
    Ok((snapshot, report))
}

/// `refs/REVISION` = commit, as the Hugging Face tools write it (not for commit hashes).
fn write_ref(refs: &Path, revision: &str, commit: &str) -> Result<(), HubError> {
    if is_commit(revision) {
        return Ok(());
    }
    let p = refs.join(revision);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(|e| io_error(d, e))?;
    }
    std::fs::write(&p, commit).map_err(|e| io_error(&p, e))
}

/// `snapshots/COMMIT/PATH` → `../../blobs/ETAG` (relative, as the Hugging Face tools do).
fn link(blob: &Path, at: &Path) -> Result<(), HubError> {
    if let Some(d) = at.parent() {
        std::fs::create_dir_all(d).map_err(|e| io_error(d, e))?;
    }
    let depth = at
        .strip_prefix(
            blob.parent()
                .and_then(Path::parent)
                .unwrap_or(Path::new("/")),
        )
        .map(|r| r.components().count().saturating_sub(1))
        .unwrap_or(0);
    let mut rel = PathBuf::new();
    for _ in 0..depth {
        rel.push("..");
    }
    rel.push("blobs");
    rel.push(blob.file_name().unwrap_or_default());
    if std::fs::read_link(at).is_ok_and(|t| t == rel) {
        return Ok(());
    }
    let _ = std::fs::remove_file(at);
    std::os::unix::fs::symlink(&rel, at).map_err(|e| io_error(at, e))
}
