//! The local cache with a remote tier behind it: a build on a fresh machine finds what
//! other machines committed, and commits what it runs for them.
//!
//! * **Checks** use one listing of the remote manifests, made when the tier opens (a page
//!   per 1,000 keys; it is also the test that the store answers) — a fresh runner decides
//!   a whole sweep is done without downloading anything.
//! * **Reads through**: a node's outputs are downloaded when something reads them (an
//!   input of a node that runs, a result the store ingests), verified against their blake3
//!   digests, and kept in the local tier. A corrupt remote entry is reported, removed (so
//!   that the next commit replaces it) and recomputed.
//! * **Writes behind**: a commit is local first; a bounded queue uploads the blobs the
//!   store lacks, then creates the manifest with a conditional create. When another machine
//!   committed the key first, this one adopts its outputs. [`CacheBackend::flush`] waits
//!   for the queue. Nodes committed locally but missing remotely (a build that ran while
//!   the remote was down) are pushed by the next build's check.
//! * **Trouble**: the first failing request (after the store client's retries) is one
//!   warning, and the build goes on with the local tier alone; in strict mode the failure
//!   is the build's error. Read-only mode never writes.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};

use crate::remote::{Remote, RemoteError, RemoteStats};
use crate::{
    ActionCache, BlobStore, CacheBackend, CacheError, CacheStats, Checked, Claim, CommitInfo,
    FailureRecord, GcPolicy, GcReport, LabelRecord, LocalCache, Lookup, Manifest, PutOutcome,
    Staging,
};

/// How the remote tier is used.
#[derive(Clone, Debug)]
pub struct RemoteOptions {
    /// Never write (pull requests from forks).
    pub read_only: bool,
    /// A remote failure fails the build instead of falling back to the local tier.
    pub strict: bool,
    /// Commits waiting for upload before a commit waits for room.
    pub queue: usize,
    /// Uploads at once.
    pub uploaders: usize,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        Self {
            read_only: false,
            strict: false,
            queue: 64,
            uploaders: 4,
        }
    }
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    pulled: AtomicU64,
    pushed: AtomicU64,
    adopted: AtomicU64,
    corrupt: AtomicU64,
}

/// What the uploaders share with the cache.
struct Shared {
    local: LocalCache,
    remote: Remote,
    opts: RemoteOptions,
    down: AtomicBool,
    unavailable: Mutex<Option<String>>,
    counters: Counters,
    /// The remote manifests, listed when the tier opens (`None`: the listing failed); a
    /// key found corrupt leaves it.
    listed: OnceLock<Option<RwLock<HashSet<String>>>>,
    /// Commits queued or uploading; `flush` waits for zero.
    pending: Mutex<usize>,
    idle: Condvar,
}

/// [`LocalCache`] with a remote tier: see the module documentation.
pub struct Tiered {
    shared: Arc<Shared>,
    /// Keys queued for upload by this build (each once).
    queued: Mutex<HashSet<String>>,
    tx: Option<SyncSender<Manifest>>,
}

impl Shared {
    fn usable(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }

    /// The first failure: one warning, and the remote tier is not used again this build.
    fn fail(&self, what: &str, e: &RemoteError) {
        if self.down.swap(true, Ordering::Relaxed) {
            return;
        }
        let why = format!("{what}: {e}");
        if self.opts.strict {
            tracing::error!("remote cache {}: {why}", self.remote.url());
        } else {
            tracing::warn!(
                "remote cache {}: {why}; the build goes on with the local cache only",
                self.remote.url()
            );
        }
        *self.unavailable.lock().unwrap() = Some(why);
    }

    fn writable(&self) -> bool {
        !self.opts.read_only && self.usable()
    }

    /// Downloads a key's entry into the local tier. `Ok(None)`: not there.
    fn pull(&self, key: &str) -> Result<Option<Manifest>, RemoteError> {
        let Some(got) = self.remote.get_manifest(key)? else {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        };
        let m = match got {
            Ok(m) => m,
            Err(why) => return Err(self.corrupt(key, &[], format!("its manifest: {why}"))),
        };
        for o in &m.outputs {
            if self.local.blobs().verify(&o.digest, o.size).is_ok() {
                continue;
            }
            let tmp = self.local.scratch_path();
            match self.remote.get_blob(&o.digest, o.size, &tmp) {
                Ok(()) => {}
                Err(RemoteError::Corrupt { why, .. }) => {
                    let why = format!("output {} ({}): {why}", o.name, o.digest);
                    return Err(self.corrupt(key, std::slice::from_ref(&o.digest), why));
                }
                Err(e) => return Err(e),
            }
            self.local
                .import_blob(&tmp)
                .map_err(|e| RemoteError::Io(std::io::Error::other(e.to_string())))?;
        }
        self.local
            .import_manifest(&m, true)
            .map_err(|e| RemoteError::Io(std::io::Error::other(e.to_string())))?;
        self.counters.pulled.fetch_add(1, Ordering::Relaxed);
        Ok(Some(m))
    }

    /// Reports a corrupt remote entry and removes it (unless read-only), so that the key
    /// is recomputed and its next commit replaces it.
    fn corrupt(&self, key: &str, digests: &[String], why: String) -> RemoteError {
        self.counters.corrupt.fetch_add(1, Ordering::Relaxed);
        if let Some(Some(l)) = self.listed.get() {
            l.write().unwrap().remove(key);
        }
        tracing::warn!(
            key,
            "remote cache entry is corrupt ({why}); it is ignored and will be recomputed"
        );
        if !self.opts.read_only
            && let Err(e) = self.remote.remove(key, digests)
        {
            self.fail("removing a corrupt entry", &e);
        }
        RemoteError::Corrupt {
            what: format!("remote entry {key}"),
            why,
        }
    }

    /// Uploads a committed node: the blobs the store lacks, then its manifest.
    fn push(&self, m: &Manifest) -> Result<(), RemoteError> {
        let digests: Vec<String> = m.outputs.iter().map(|o| o.digest.clone()).collect();
        let have = self.remote.has_blobs(&digests)?;
        for (o, have) in m.outputs.iter().zip(have) {
            if !have {
                self.remote
                    .put_blob(&o.digest, &self.local.blob_file(&o.digest))?;
            }
        }
        match self.remote.put_manifest_if_absent(m)? {
            PutOutcome::Created => {
                self.counters.pushed.fetch_add(1, Ordering::Relaxed);
            }
            PutOutcome::Exists => {
                // Another machine committed this key first: its outputs are the key's.
                if let Some(Ok(theirs)) = self.remote.get_manifest(&m.key)?
                    && theirs.outputs != m.outputs
                {
                    self.pull(&m.key)?;
                    self.counters.adopted.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    fn uploader(self: Arc<Self>, rx: Arc<Mutex<Receiver<Manifest>>>) {
        loop {
            let next = rx.lock().unwrap().recv();
            let Ok(m) = next else { return };
            if self.writable()
                && let Err(e) = self.push(&m)
            {
                self.fail("uploading", &e);
            }
            let mut n = self.pending.lock().unwrap();
            *n -= 1;
            if *n == 0 {
                self.idle.notify_all();
            }
        }
    }
}

impl Tiered {
    /// Layers `remote` behind `local`. In strict mode an unreachable remote is an error
    /// here; otherwise it is a warning and the build uses the local tier.
    pub fn new(local: LocalCache, remote: Remote, opts: RemoteOptions) -> Result<Self, CacheError> {
        let shared = Arc::new(Shared {
            local,
            remote,
            opts,
            down: AtomicBool::new(false),
            unavailable: Mutex::new(None),
            counters: Counters::default(),
            listed: OnceLock::new(),
            pending: Mutex::new(0),
            idle: Condvar::new(),
        });
        // The listing every build's check needs is also the test that the store answers.
        let listed = shared.remote.list_manifests();
        if let Err(e) = &listed {
            if shared.opts.strict {
                return Err(CacheError::Remote(format!(
                    "remote cache {} is unreachable: {e}",
                    shared.remote.url()
                )));
            }
            shared.fail("unreachable", e);
        }
        let _ = shared.listed.set(listed.ok().map(RwLock::new));
        let tx = (!shared.opts.read_only).then(|| {
            let (tx, rx) = sync_channel(shared.opts.queue.max(1));
            let rx = Arc::new(Mutex::new(rx));
            for _ in 0..shared.opts.uploaders.max(1) {
                let (s, rx) = (shared.clone(), rx.clone());
                std::thread::Builder::new()
                    .name("bench-cache-upload".into())
                    .spawn(move || s.uploader(rx))
                    .expect("cannot start an upload thread");
            }
            tx
        });
        Ok(Self {
            shared,
            queued: Mutex::new(HashSet::new()),
            tx,
        })
    }

    /// The local tier.
    pub fn local(&self) -> &LocalCache {
        &self.shared.local
    }

    /// What the remote tier did so far.
    pub fn remote_stats(&self) -> RemoteStats {
        let (c, t) = (&self.shared.counters, &self.shared.remote.traffic);
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RemoteStats {
            url: self.shared.remote.url().to_string(),
            hits: get(&c.hits),
            misses: get(&c.misses),
            pulled: get(&c.pulled),
            pushed: get(&c.pushed),
            adopted: get(&c.adopted),
            corrupt: get(&c.corrupt),
            requests: get(&t.requests),
            bytes_up: get(&t.bytes_up),
            bytes_down: get(&t.bytes_down),
            unavailable: self.shared.unavailable.lock().unwrap().clone(),
            read_only: self.shared.opts.read_only,
        }
    }

    /// Whether the remote listing holds `key`; `None` when there is no listing.
    fn listed(&self, key: &str) -> Option<bool> {
        let l = self.shared.listed.get()?.as_ref()?;
        Some(l.read().unwrap().contains(key))
    }

    /// Queues a committed node for upload (once per build); waits while the queue is full.
    fn enqueue(&self, m: Manifest) {
        let Some(tx) = &self.tx else { return };
        if !self.shared.writable() || !self.queued.lock().unwrap().insert(m.key.clone()) {
            return;
        }
        *self.shared.pending.lock().unwrap() += 1;
        if tx.send(m).is_err() {
            *self.shared.pending.lock().unwrap() -= 1;
        }
    }
}

impl CacheBackend for Tiered {
    fn location(&self) -> String {
        format!(
            "{} (remote: {})",
            self.shared.local.location(),
            self.shared.remote.url()
        )
    }

    fn blobs(&self) -> &dyn BlobStore {
        self.shared.local.blobs()
    }

    fn actions(&self) -> &dyn ActionCache {
        self.shared.local.actions()
    }

    fn lookup(&self, key: &str) -> Result<Lookup, CacheError> {
        let local = self.shared.local.lookup(key)?;
        if matches!(local, Lookup::Hit(_)) || !self.shared.usable() {
            return Ok(local);
        }
        match self.shared.pull(key) {
            Ok(Some(_)) => self.shared.local.lookup(key),
            Ok(None) => Ok(local),
            Err(RemoteError::Corrupt { why, .. }) => Ok(Lookup::Corrupt(why)),
            Err(e) => {
                self.shared.fail("downloading", &e);
                Ok(local)
            }
        }
    }

    fn check(&self, key: &str) -> Result<Checked, CacheError> {
        let local = self.shared.local.check(key)?;
        let listed = self.listed(key);
        if local == Checked::Committed {
            // Committed here but not there (the remote was down when it ran): push it.
            if listed == Some(false)
                && let Some(Ok(m)) = self.shared.local.actions().get(key)
            {
                self.enqueue(m);
            }
            return Ok(local);
        }
        if listed == Some(true) {
            self.shared.counters.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Checked::Committed);
        }
        Ok(local)
    }

    fn contains(&self, key: &str) -> bool {
        self.shared.local.contains(key)
            || (self.shared.usable()
                && self
                    .shared
                    .remote
                    .has_manifest(key)
                    .inspect_err(|e| self.shared.fail("checking a key", e))
                    .unwrap_or(false))
    }

    fn claim(&self, key: &str) -> Result<Box<dyn Claim>, CacheError> {
        self.shared.local.claim(key)
    }

    fn stage(&self, key: &str, attempt: u32) -> Result<Staging, CacheError> {
        self.shared.local.stage(key, attempt)
    }

    fn commit(&self, staging: Staging, info: CommitInfo) -> Result<Manifest, CacheError> {
        let m = self.shared.local.commit(staging, info)?;
        self.enqueue(m.clone());
        Ok(m)
    }

    fn flush(&self) -> Result<(), CacheError> {
        self.shared.local.flush()?;
        let mut n = self.shared.pending.lock().unwrap();
        while *n > 0 {
            n = self.shared.idle.wait(n).unwrap();
        }
        drop(n);
        match self.shared.unavailable.lock().unwrap().clone() {
            Some(why) if self.shared.opts.strict => Err(CacheError::Remote(format!(
                "remote cache {}: {why}",
                self.shared.remote.url()
            ))),
            _ => Ok(()),
        }
    }

    fn set_aside(&self, staging: Staging, why: &str) {
        self.shared.local.set_aside(staging, why)
    }

    fn log_path(&self, key: &str, attempt: u32) -> Result<PathBuf, CacheError> {
        self.shared.local.log_path(key, attempt)
    }

    fn logs(&self, key: &str) -> Vec<PathBuf> {
        self.shared.local.logs(key)
    }

    fn blob_path(&self, digest: &str, size: u64) -> Result<PathBuf, CacheError> {
        self.shared.local.blob_path(digest, size)
    }

    fn record_failure(&self, f: &FailureRecord) {
        self.shared.local.record_failure(f)
    }

    fn failure(&self, key: &str) -> Option<FailureRecord> {
        self.shared.local.failure(key)
    }

    fn label(&self, sweep: &str, label: &str) -> Option<LabelRecord> {
        self.shared.local.label(sweep, label)
    }

    fn stats(&self) -> Result<CacheStats, CacheError> {
        self.shared.local.stats()
    }

    fn gc(&self, policy: &GcPolicy) -> Result<GcReport, CacheError> {
        self.shared.local.gc(policy)
    }
}
