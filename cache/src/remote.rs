//! The remote tier's storage: blobs and manifests in an object store — S3 and
//! S3-compatible stores, GCS, Azure, or a directory (NFS) — through the `object_store` crate.
//!
//! ```text
//! PREFIX/blobs/DIGEST           content, named by its blake3 digest; verified when read
//! PREFIX/manifests/KEY.json     created once, after its blobs (a conditional create)
//! ```
//!
//! Credentials come from the standard environment of each store (`AWS_*`, `GOOGLE_*`,
//! `AZURE_*`); they are never part of the URL this module shows, a key, or a log line.
//! Requests have timeouts and are retried with backoff on throttling and 5xx by the crate.

use std::collections::HashSet;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::{
    ObjectStore, ObjectStoreExt, PutMode, PutOptions, RetryConfig, aws::AmazonS3Builder,
    azure::MicrosoftAzureBuilder, gcp::GoogleCloudStorageBuilder,
};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::{Manifest, PutOutcome};

/// How many requests run at once for one batch (existence checks, uploads).
const CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}")]
    Store(#[from] object_store::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// What was read does not match its name: the object is corrupt.
    #[error("{what} is corrupt: {why}")]
    Corrupt { what: String, why: String },
    #[error("{0}")]
    Url(String),
}

/// Requests made and bytes moved, for the build summary.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    pub(crate) requests: AtomicU64,
    pub(crate) bytes_up: AtomicU64,
    pub(crate) bytes_down: AtomicU64,
}

impl Traffic {
    fn request(&self, n: u64) {
        self.requests.fetch_add(n, Ordering::Relaxed);
    }
}

/// A bucket (and prefix) that holds a cache.
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: ObjPath,
    url: String,
    rt: tokio::runtime::Runtime,
    pub(crate) traffic: Arc<Traffic>,
}

/// What the remote tier did in one build.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RemoteStats {
    /// The remote cache's URL (no credentials).
    pub url: String,
    /// Nodes missing locally and found committed remotely.
    pub hits: u64,
    /// Nodes looked for remotely and not found.
    pub misses: u64,
    /// Nodes whose outputs were downloaded.
    pub pulled: u64,
    /// Nodes committed remotely by this build.
    pub pushed: u64,
    /// Nodes another machine committed first; this build adopted their outputs.
    pub adopted: u64,
    /// Remote entries found corrupt (removed; recomputed).
    pub corrupt: u64,
    pub requests: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Why the remote tier stopped being used during the build, if it did.
    pub unavailable: Option<String>,
    pub read_only: bool,
}

/// The object store and prefix a URL names, its credentials and settings from the
/// environment.
fn store_for(url: &url::Url) -> Result<Arc<dyn ObjectStore>, RemoteError> {
    let retry = RetryConfig {
        max_retries: 4,
        retry_timeout: Duration::from_secs(30),
        backoff: object_store::BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(4),
            base: 2.0,
        },
    };
    let s = url.as_str();
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "s3" | "s3a" => Arc::new(
            AmazonS3Builder::from_env()
                .with_url(s)
                .with_retry(retry)
                .with_config("aws_timeout".parse()?, "60s")
                .with_config("aws_connect_timeout".parse()?, "5s")
                .build()?,
        ),
        "gs" => Arc::new(
            GoogleCloudStorageBuilder::from_env()
                .with_url(s)
                .with_retry(retry)
                .build()?,
        ),
        "az" | "azure" | "abfs" | "abfss" => Arc::new(
            MicrosoftAzureBuilder::from_env()
                .with_url(s)
                .with_retry(retry)
                .build()?,
        ),
        "file" => {
            let dir = url
                .to_file_path()
                .map_err(|()| RemoteError::Url(format!("{s} is not a local path")))?;
            std::fs::create_dir_all(&dir)?;
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir)?)
        }
        other => {
            return Err(RemoteError::Url(format!(
                "unknown remote cache scheme `{other}:` (s3://, gs://, az://, file:// are known)"
            )));
        }
    };
    Ok(store)
}

impl Remote {
    /// Opens the cache at `url` (`s3://bucket/prefix`, `gs://…`, `az://…`, `file:///dir`).
    /// Nothing is requested yet.
    pub fn open(url: &str) -> Result<Self, RemoteError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| RemoteError::Url(format!("`{url}` is not a URL: {e}")))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(RemoteError::Url(
                "the remote cache URL must not hold credentials: they come from the environment"
                    .into(),
            ));
        }
        let store = store_for(&parsed)?;
        let prefix = if parsed.scheme() == "file" {
            ObjPath::default()
        } else {
            ObjPath::from(parsed.path().trim_matches('/'))
        };
        let mut shown = parsed.clone();
        shown.set_query(None);
        shown.set_fragment(None);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bench-remote-cache")
            .enable_all()
            .build()?;
        Ok(Self {
            store,
            prefix,
            url: shown.to_string(),
            rt,
            traffic: Arc::default(),
        })
    }

    /// The URL, without credentials or query.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs a request on this tier's runtime and waits for it; callable from anywhere,
    /// including a thread of another runtime.
    fn run<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.rt.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv().expect("the remote cache's runtime stopped")
    }

    fn blob(&self, digest: &str) -> ObjPath {
        self.prefix.clone().join("blobs").join(digest)
    }

    fn manifest(&self, key: &str) -> ObjPath {
        self.prefix
            .clone()
            .join("manifests")
            .join(format!("{key}.json").as_str())
    }

    /// The keys of every manifest, by listing (a page of up to 1,000 names per request).
    pub fn list_manifests(&self) -> Result<HashSet<String>, RemoteError> {
        let (store, prefix) = (self.store.clone(), self.prefix.clone().join("manifests"));
        let metas: Vec<_> =
            self.run(async move { store.list(Some(&prefix)).try_collect::<Vec<_>>().await })?;
        self.traffic
            .request(metas.len().div_ceil(1000).max(1) as u64);
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                m.location
                    .filename()
                    .and_then(|f| f.strip_suffix(".json"))
                    .map(String::from)
            })
            .collect())
    }

    /// Whether a key's manifest exists (one request).
    pub fn has_manifest(&self, key: &str) -> Result<bool, RemoteError> {
        let (store, path) = (self.store.clone(), self.manifest(key));
        self.traffic.request(1);
        match self.run(async move { store.head(&path).await }) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A key's manifest: `None` when absent, `Some(Err)` when it does not parse or names
    /// another key.
    pub fn get_manifest(&self, key: &str) -> Result<Option<Result<Manifest, String>>, RemoteError> {
        let (store, path) = (self.store.clone(), self.manifest(key));
        self.traffic.request(1);
        let bytes = match self.run(async move { store.get(&path).await?.bytes().await }) {
            Ok(b) => b,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        self.traffic
            .bytes_down
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(Some(match serde_json::from_slice::<Manifest>(&bytes) {
            Ok(m) if m.key == key => Ok(m),
            Ok(m) => Err(format!("the manifest names key {}", m.key)),
            Err(e) => Err(format!("the manifest does not parse: {e}")),
        }))
    }

    /// Creates a key's manifest unless one exists (`If-None-Match: *` on S3, the
    /// equivalent elsewhere): two machines committing one key commit it once.
    pub fn put_manifest_if_absent(&self, m: &Manifest) -> Result<PutOutcome, RemoteError> {
        let bytes = serde_json::to_vec(m).map_err(std::io::Error::other)?;
        let n = bytes.len() as u64;
        let (store, path) = (self.store.clone(), self.manifest(&m.key));
        self.traffic.request(1);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self.run(async move { store.put_opts(&path, bytes.into(), opts).await }) {
            Ok(_) => {
                self.traffic.bytes_up.fetch_add(n, Ordering::Relaxed);
                Ok(PutOutcome::Created)
            }
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(PutOutcome::Exists),
            Err(e) => Err(e.into()),
        }
    }

    /// Which of `digests` are stored, by concurrent existence checks.
    pub fn has_blobs(&self, digests: &[String]) -> Result<Vec<bool>, RemoteError> {
        let paths: Vec<ObjPath> = digests.iter().map(|d| self.blob(d)).collect();
        let store = self.store.clone();
        self.traffic.request(paths.len() as u64);
        self.run(async move {
            futures::stream::iter(paths)
                .map(|p| {
                    let store = store.clone();
                    async move {
                        match store.head(&p).await {
                            Ok(_) => Ok(true),
                            Err(object_store::Error::NotFound { .. }) => Ok(false),
                            Err(e) => Err(RemoteError::from(e)),
                        }
                    }
                })
                .buffered(CONCURRENCY)
                .try_collect()
                .await
        })
    }

    /// Uploads a file as the blob `digest`: one request, or a multipart upload (invisible
    /// until complete) for a large one.
    pub fn put_blob(&self, digest: &str, file: &Path) -> Result<u64, RemoteError> {
        let (store, path, file) = (self.store.clone(), self.blob(digest), file.to_path_buf());
        let n = self.run(async move {
            let mut src = tokio::fs::File::open(&file).await?;
            let mut dst = object_store::buffered::BufWriter::new(store, path);
            let n = tokio::io::copy(&mut src, &mut dst).await?;
            dst.shutdown().await?;
            Ok::<u64, RemoteError>(n)
        })?;
        self.traffic.request(1 + n / (10 << 20));
        self.traffic.bytes_up.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }

    /// Downloads the blob `digest` into `dest`, hashing as it streams: a blob whose bytes
    /// do not match its digest and size is an error, and `dest` is removed.
    pub fn get_blob(&self, digest: &str, size: u64, dest: &Path) -> Result<(), RemoteError> {
        let (store, path, file) = (self.store.clone(), self.blob(digest), dest.to_path_buf());
        self.traffic.request(1);
        let got = self.run(async move {
            let mut stream = store.get(&path).await?.into_stream();
            let mut out = tokio::fs::File::create(&file).await?;
            let mut h = blake3::Hasher::new();
            let mut n = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                h.update(&chunk);
                n += chunk.len() as u64;
                out.write_all(&chunk).await?;
            }
            out.flush().await?;
            Ok::<_, RemoteError>((h.finalize().to_hex().to_string(), n))
        });
        let (d, n) = got.inspect_err(|_| {
            let _ = std::fs::remove_file(dest);
        })?;
        self.traffic.bytes_down.fetch_add(n, Ordering::Relaxed);
        if d != digest || n != size {
            let _ = std::fs::remove_file(dest);
            return Err(RemoteError::Corrupt {
                what: format!("remote blob {digest}"),
                why: if n != size {
                    format!("{n} bytes where the manifest says {size}")
                } else {
                    "its content does not match its digest".into()
                },
            });
        }
        Ok(())
    }

    /// Removes a corrupt entry: its manifest, then the blobs named (the next commit of
    /// the key uploads them again).
    pub fn remove(&self, key: &str, digests: &[String]) -> Result<(), RemoteError> {
        let mut paths = vec![self.manifest(key)];
        paths.extend(digests.iter().map(|d| self.blob(d)));
        let store = self.store.clone();
        self.traffic.request(paths.len() as u64);
        self.run(async move {
            for p in paths {
                match store.delete(&p).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(RemoteError::from(e)),
                }
            }
            Ok(())
        })
    }
}
