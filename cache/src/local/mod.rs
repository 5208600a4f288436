//! The local-disk backend.
//!
//! ```text
//! ROOT/layout                      layout version
//! ROOT/lock                        shared by running builds, exclusive for gc
//! ROOT/blobs/ab/abcdef…            immutable content, named by blake3
//! ROOT/manifests/ab/KEY.json       the proof of completion, written last
//! ROOT/tmp/…                       staging of running attempts
//! ROOT/aside/KEY/…                 partial or corrupt data kept for diagnosis, never read
//! ROOT/logs/ab/KEY.attempt-N.log   every attempt's log
//! ROOT/failures/KEY.json           the last failure of a key, until it succeeds
//! ROOT/labels/H.json               last committed key of a (sweep, label)
//! ROOT/claims/KEY.lock             per-key exclusive claims between builds
//! ROOT/journal.log                 one line per commit: `commit KEY BUILD TIME_NS LABEL`
//! ROOT/index/verified              blobs hashed and found right, with their stat
//! ```
//!
//! The blob store ([`blobs`]) and the action cache ([`actions`]) are the two halves a
//! remote tier can wrap; the rest (staging, claims, logs, failures, labels, gc) is local.

mod actions;
mod append;
mod blobs;
mod durable;
mod index;

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;

use crate::actions::{ActionCache, PutOutcome};
use crate::blobs::BlobStore;
use crate::{
    CacheBackend, CacheError, CacheStats, Checked, Claim, CommitInfo, FailureRecord, GcPolicy,
    GcReport, LAYOUT_VERSION, LabelRecord, Lookup, Manifest, Staging,
};
use actions::{LocalActions, valid_key};
use blobs::LocalBlobs;
pub use blobs::hash_file;
use durable::Durable;
use index::OutputsIndex;

/// The local tier: a directory of blobs and manifests, and the build's local concerns.
pub struct LocalCache {
    root: PathBuf,
    blobs: LocalBlobs,
    actions: LocalActions,
    durable: Durable,
    outputs_index: OutputsIndex,
    journal: append::AppendLog,
    /// Held (shared) for the life of a build so that gc cannot run underneath it.
    _build_lock: Option<File>,
}

struct FileClaim(#[allow(dead_code)] File);
impl Claim for FileClaim {}

pub(crate) fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn fsync_dir(dir: &Path) -> Result<(), CacheError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(CacheError::io(dir))
}

/// Writes `bytes` to `path` atomically: a temporary file in `tmp_dir` (same filesystem, so
/// that a killed build leaves debris only there), fsync, rename, fsync the directory.
fn write_atomic(path: &Path, bytes: &[u8], tmp_dir: &Path) -> Result<(), CacheError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.is_dir() {
        fs::create_dir_all(dir).map_err(CacheError::io(dir))?;
    }
    let tmp = tmp_dir.join(format!(".{}.{}.tmp", std::process::id(), nanos()));
    let result = (|| {
        let mut f = File::create(&tmp).map_err(CacheError::io(&tmp))?;
        f.write_all(bytes).map_err(CacheError::io(&tmp))?;
        f.sync_all().map_err(CacheError::io(&tmp))?;
        fs::rename(&tmp, path).map_err(CacheError::io(path))?;
        fsync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Opens (creating) a file that exists only to be locked.
fn lock_file(path: &Path) -> Result<File, CacheError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(CacheError::io(path))
}

/// Writes through a temporary file and a rename, without fsync.
fn write_renamed(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("{}.{}.tmp", std::process::id(), nanos()));
    fs::write(&tmp, bytes).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })?;
    fs::rename(&tmp, path)
}

impl LocalCache {
    /// Opens (creating if needed) a cache directory.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, CacheError> {
        let root = root.into();
        for d in [
            "blobs",
            "manifests",
            "tmp",
            "aside",
            "logs",
            "failures",
            "labels",
            "claims",
        ] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(CacheError::io(&p))?;
        }
        let layout = root.join("layout");
        match fs::read_to_string(&layout) {
            Ok(v) if v.trim() == LAYOUT_VERSION.to_string() => {}
            Ok(v) => return Err(CacheError::Layout(root, v.trim().to_string())),
            Err(_) => write_atomic(
                &layout,
                LAYOUT_VERSION.to_string().as_bytes(),
                &root.join("tmp"),
            )?,
        }
        Ok(Self {
            blobs: LocalBlobs::new(&root),
            actions: LocalActions::new(&root),
            durable: Durable::new(&root)?,
            outputs_index: OutputsIndex::new(&root),
            journal: append::AppendLog::new(root.join("journal.log")),
            root,
            _build_lock: None,
        })
    }

    /// Opens the cache for a build: holds a shared lock so that gc waits for the build.
    pub fn open_for_build(root: impl Into<PathBuf>) -> Result<Self, CacheError> {
        let mut c = Self::open(root)?;
        let path = c.root.join("lock");
        let f = lock_file(&path)?;
        f.lock_shared().map_err(CacheError::io(&path))?;
        c._build_lock = Some(f);
        c.reclaim_dead_staging();
        Ok(c)
    }

    /// Moves the staging of attempts whose build process is gone (killed) aside: their
    /// partial output is kept for diagnosis and never read as a result. Detached attempts
    /// (cluster jobs, [`crate::DETACHED`]) stay: they may still be running, and the next
    /// build may adopt them.
    fn reclaim_dead_staging(&self) {
        let Ok(rd) = fs::read_dir(self.root.join("tmp")) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            // KEY-ATTEMPT-PID-NANOS
            let parts: Vec<&str> = name.split('-').collect();
            let (Some(key), Some(pid)) = (
                parts.first(),
                parts.get(2).and_then(|p| p.parse::<i32>().ok()),
            ) else {
                continue;
            };
            // SAFETY: signal 0 only checks whether the process exists.
            let alive = unsafe { libc::kill(pid, 0) } == 0
                || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
            if alive || !valid_key(key) || e.path().join(crate::DETACHED).exists() {
                continue;
            }
            let dir = self.root.join("aside").join(key);
            let _ = fs::create_dir_all(&dir);
            let target = dir.join(format!("killed-{}", parts[1..].join("-")));
            if fs::rename(e.path(), &target).is_ok() {
                let _ = fs::write(
                    target.join("WHY"),
                    format!("the build (pid {pid}) died during this attempt"),
                );
            }
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of a stored blob (a remote tier uploads it).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        self.blob(digest)
    }

    /// A fresh path in the cache's filesystem for a file that [`Self::import_blob`] moves in.
    pub fn scratch_path(&self) -> PathBuf {
        self.root
            .join("tmp")
            .join(format!(".pull.{}.{}", std::process::id(), nanos()))
    }

    /// Moves a downloaded file into the blob store (it is hashed on the way in).
    pub fn import_blob(&self, path: &Path) -> Result<crate::OutputRef, CacheError> {
        self.blobs.put_file("", path).inspect_err(|_| {
            let _ = fs::remove_file(path);
        })
    }

    /// Stores a manifest pulled from a remote tier, its blobs already imported: created,
    /// or, with `replace`, replacing the local one (another machine's commit of the key won).
    pub fn import_manifest(&self, m: &Manifest, replace: bool) -> Result<PutOutcome, CacheError> {
        let pending = self.actions.write_pending(m)?;
        self.durable.barrier()?;
        if replace {
            let path = self.manifest_path(&m.key);
            fs::rename(&pending, &path).map_err(CacheError::io(&path))?;
            return Ok(PutOutcome::Created);
        }
        self.actions.publish(&pending, &m.key)
    }

    /// Takes a build's lease: an exclusive lock on `builds/live/ID` held while the build
    /// runs. Resources a build labels with its id (engine containers) whose lease is no
    /// longer held belong to a dead build and may be reaped.
    pub fn lease_build(&self, id: &str) -> Result<BuildLease, CacheError> {
        let dir = self.root.join("builds").join("live");
        fs::create_dir_all(&dir).map_err(CacheError::io(&dir))?;
        let path = dir.join(format!("{id}.lock"));
        let f = lock_file(&path)?;
        f.lock().map_err(CacheError::io(&path))?;
        Ok(BuildLease { _file: f, path })
    }

    /// Whether the build `id` is running: its lease is held by a live process.
    pub fn build_is_live(&self, id: &str) -> bool {
        if id.is_empty() || id.contains(['/', '.']) {
            return false;
        }
        let path = self
            .root
            .join("builds")
            .join("live")
            .join(format!("{id}.lock"));
        let Ok(f) = File::open(&path) else {
            return false;
        };
        match f.try_lock() {
            Ok(()) => {
                // Nobody held it: a dead build's lease, removed.
                let _ = fs::remove_file(&path);
                false
            }
            Err(std::fs::TryLockError::WouldBlock) => true,
            Err(std::fs::TryLockError::Error(_)) => false,
        }
    }

    fn shard(&self, dir: &str, name: &str, ext: &str) -> PathBuf {
        let prefix = name.get(..2).unwrap_or("00");
        self.root
            .join(dir)
            .join(prefix)
            .join(format!("{name}{ext}"))
    }

    fn manifest_path(&self, key: &str) -> PathBuf {
        self.actions.path(key)
    }

    fn blob(&self, digest: &str) -> PathBuf {
        self.blobs.path(digest)
    }

    fn label_path(&self, sweep: &str, label: &str) -> PathBuf {
        let mut h = blake3::Hasher::new();
        h.update(sweep.as_bytes());
        h.update(b"\0");
        h.update(label.as_bytes());
        self.root
            .join("labels")
            .join(format!("{}.json", h.finalize().to_hex()))
    }

    fn verify(&self, m: &Manifest) -> Result<(), String> {
        for o in &m.outputs {
            self.blobs
                .verify(&o.digest, o.size)
                .map_err(|why| match why.as_str() {
                    "does not match its digest" => {
                        format!("output {} does not match its digest", o.name)
                    }
                    w if w.starts_with("is ") => format!("output {} {w}", o.name),
                    w => format!("output {}: {w}", o.name),
                })?;
        }
        Ok(())
    }

    /// Re-hashes every blob the manifests name, whatever the stat index says: what
    /// `bench cache verify` runs. Corrupt entries are set aside (their nodes rerun).
    pub fn verify_all(&self) -> VerifyReport {
        self.blobs.forget_all();
        self.outputs_index.clear();
        let manifests: Vec<PathBuf> = self.all_manifests();
        let corrupt: Vec<(String, String)> = manifests
            .par_iter()
            .filter_map(|p| {
                let key = p.file_stem()?.to_string_lossy().to_string();
                match self.actions.get(&key)? {
                    Err(why) => Some((key, why)),
                    Ok(m) => self.verify(&m).err().map(|why| (key, why)),
                }
            })
            .collect();
        for (key, why) in &corrupt {
            self.quarantine(key, why);
        }
        VerifyReport {
            manifests: manifests.len() as u64,
            corrupt,
        }
    }

    /// Moves a corrupt manifest (and a bad blob) aside so that the node is recomputed.
    fn quarantine(&self, key: &str, why: &str) {
        let aside = self.root.join("aside").join(key);
        let _ = fs::create_dir_all(&aside);
        let stamp = nanos();
        let _ = fs::rename(
            self.manifest_path(key),
            aside.join(format!("corrupt-{stamp}.json")),
        );
        let _ = fs::write(aside.join(format!("corrupt-{stamp}.why")), why);
        if let Some(Ok(m)) = self.read_manifest_aside(&aside.join(format!("corrupt-{stamp}.json")))
        {
            for o in &m.outputs {
                let p = self.blob(&o.digest);
                if let Ok((d, _)) = hash_file(&p)
                    && d != o.digest
                {
                    let _ = fs::rename(&p, aside.join(format!("blob-{}-{stamp}", o.digest)));
                }
            }
        }
    }

    fn read_manifest_aside(&self, path: &Path) -> Option<Result<Manifest, String>> {
        let bytes = fs::read(path).ok()?;
        Some(serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    }

    fn journal(&self, line: &str) {
        self.journal.append(line);
    }

    fn all_manifests(&self) -> Vec<PathBuf> {
        self.actions.all()
    }

    fn all_blobs(&self) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        if let Ok(shards) = fs::read_dir(self.root.join("blobs")) {
            for s in shards.flatten() {
                if let Ok(files) = fs::read_dir(s.path()) {
                    for f in files.flatten() {
                        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
                        out.push((f.path(), size));
                    }
                }
            }
        }
        out
    }

    /// Every committed manifest that parses.
    pub fn manifests(&self) -> Vec<Manifest> {
        self.all_manifests()
            .par_iter()
            .filter_map(|p| {
                fs::read(p)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
            })
            .collect()
    }

    fn walk_size(path: &Path) -> (u64, u64) {
        let mut files = 0;
        let mut bytes = 0;
        let mut stack = vec![path.to_path_buf()];
        while let Some(p) = stack.pop() {
            if let Ok(rd) = fs::read_dir(&p) {
                for e in rd.flatten() {
                    match e.file_type() {
                        Ok(t) if t.is_dir() => stack.push(e.path()),
                        Ok(_) => {
                            files += 1;
                            bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        (files, bytes)
    }
}

fn list_files(
    dir: &Path,
    prefix: &str,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), CacheError> {
    let rd = fs::read_dir(dir).map_err(CacheError::io(dir))?;
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        let t = e.file_type().map_err(CacheError::io(e.path()))?;
        if t.is_dir() {
            list_files(&e.path(), &format!("{name}/"), out)?;
        } else {
            out.push((name, e.path()));
        }
    }
    Ok(())
}

impl CacheBackend for LocalCache {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn blobs(&self) -> &dyn BlobStore {
        &self.blobs
    }

    fn actions(&self) -> &dyn ActionCache {
        &self.actions
    }

    fn lookup(&self, key: &str) -> Result<Lookup, CacheError> {
        if !valid_key(key) {
            return Ok(Lookup::Miss);
        }
        match self.actions.get(key) {
            None => Ok(Lookup::Miss),
            Some(Err(why)) => {
                self.quarantine(key, &why);
                Ok(Lookup::Corrupt(why))
            }
            Some(Ok(m)) => match self.verify(&m) {
                Ok(()) => {
                    self.outputs_index.remember(
                        &m,
                        &self.manifest_path(key),
                        self.blobs
                            .racy_ns
                            .load(std::sync::atomic::Ordering::Relaxed),
                    );
                    Ok(Lookup::Hit(m))
                }
                Err(why) => {
                    tracing::warn!(key, %why, "cache entry is corrupt; it will be recomputed");
                    self.quarantine(key, &why);
                    Ok(Lookup::Corrupt(why))
                }
            },
        }
    }

    fn check(&self, key: &str) -> Result<Checked, CacheError> {
        // The no-op path: the manifest's stat unchanged since it was read whole, and its
        // outputs verified by their stats — no file read.
        if let Some(e) = self.outputs_index.get(key)
            && fs::metadata(self.manifest_path(key))
                .is_ok_and(|m| blobs::Stat::of(&m) == e.manifest)
            && e.outputs
                .iter()
                .all(|(d, s)| self.blobs.verify(d, *s).is_ok())
        {
            return Ok(Checked::Committed);
        }
        Ok(match self.lookup(key)? {
            Lookup::Hit(_) => Checked::Committed,
            Lookup::Miss => Checked::Missing,
            Lookup::Corrupt(why) => Checked::Corrupt(why),
        })
    }

    fn contains(&self, key: &str) -> bool {
        self.actions.contains(key)
    }

    fn claim(&self, key: &str) -> Result<Box<dyn Claim>, CacheError> {
        let path = self.root.join("claims").join(format!("{key}.lock"));
        let f = lock_file(&path)?;
        f.lock().map_err(CacheError::io(&path))?;
        Ok(Box::new(FileClaim(f)))
    }

    fn stage(&self, key: &str, attempt: u32) -> Result<Staging, CacheError> {
        let root = self.root.join("tmp").join(format!(
            "{key}-{attempt}-{}-{}",
            std::process::id(),
            nanos()
        ));
        let out_dir = root.join("out");
        fs::create_dir_all(&out_dir).map_err(CacheError::io(&out_dir))?;
        Ok(Staging {
            key: key.to_string(),
            attempt,
            out_dir,
            root,
        })
    }

    fn commit(&self, staging: Staging, info: CommitInfo) -> Result<Manifest, CacheError> {
        let mut files = Vec::new();
        list_files(&staging.out_dir, "", &mut files)?;
        let outputs = files
            .iter()
            .map(|(name, path)| self.blobs.put_file(name, path))
            .collect::<Result<Vec<_>, _>>()?;
        let manifest = Manifest {
            layout: LAYOUT_VERSION,
            key: staging.key.clone(),
            kind: info.kind,
            label: info.label.clone(),
            params: info.params.clone(),
            inputs: info.inputs.clone(),
            outputs,
            attempt: info.attempt,
            finished_at: now_rfc3339(),
            duration_secs: info.duration_secs,
            build_id: info.build_id.clone(),
        };
        let pending = self.actions.write_pending(&manifest)?;
        // The blobs and the manifest's bytes on disk (one sync for every commit waiting
        // now), then the manifest's name: the commit point.
        if let Err(e) = self.durable.barrier() {
            let _ = fs::remove_file(&pending);
            return Err(e);
        }
        match self.actions.publish(&pending, &staging.key)? {
            PutOutcome::Created => self.journal(&format!(
                "commit {} {} {} {}",
                staging.key,
                info.build_id,
                nanos(),
                info.label
            )),
            PutOutcome::Exists => {
                tracing::warn!(key = %staging.key, "a manifest already exists; keeping the first commit")
            }
        }
        let label = LabelRecord {
            key: staging.key.clone(),
            params: info.params,
            inputs: info.inputs,
        };
        if let Ok(b) = serde_json::to_vec(&label) {
            // Advisory (it explains reruns), so not fsynced: a rename is enough to never
            // leave it half-written.
            let _ = write_renamed(&self.label_path(&info.sweep, &info.label), &b);
        }
        let _ = fs::remove_file(
            self.root
                .join("failures")
                .join(format!("{}.json", staging.key)),
        );
        let _ = fs::remove_dir_all(&staging.root);
        Ok(manifest)
    }

    fn flush(&self) -> Result<(), CacheError> {
        self.durable.barrier()
    }

    fn set_aside(&self, staging: Staging, why: &str) {
        let dir = self.root.join("aside").join(&staging.key);
        let _ = fs::create_dir_all(&dir);
        let target = dir.join(format!("attempt-{}-{}", staging.attempt, nanos()));
        if fs::rename(&staging.root, &target).is_ok() {
            let _ = fs::write(target.join("WHY"), why);
        } else {
            let _ = fs::remove_dir_all(&staging.root);
        }
    }

    fn log_path(&self, key: &str, attempt: u32) -> Result<PathBuf, CacheError> {
        let path = self.shard("logs", key, &format!(".attempt-{attempt}.log"));
        if let Some(dir) = path.parent()
            && !dir.is_dir()
        {
            fs::create_dir_all(dir).map_err(CacheError::io(dir))?;
        }
        Ok(path)
    }

    fn logs(&self, key: &str) -> Vec<PathBuf> {
        let dir = self.shard("logs", key, "");
        let dir = dir.parent().unwrap_or(&self.root);
        let prefix = format!("{key}.attempt-");
        let mut v: Vec<(u32, PathBuf)> = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let n = name
                    .strip_prefix(&prefix)?
                    .strip_suffix(".log")?
                    .parse()
                    .ok()?;
                Some((n, e.path()))
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, p)| p).collect()
    }

    fn blob_path(&self, digest: &str, size: u64) -> Result<PathBuf, CacheError> {
        self.blobs
            .verify(digest, size)
            .map_err(|why| CacheError::CorruptBlob {
                digest: digest.into(),
                why,
            })?;
        Ok(self.blob(digest))
    }

    fn record_failure(&self, f: &FailureRecord) {
        if let Ok(b) = serde_json::to_vec_pretty(f) {
            let _ = write_atomic(
                &self.root.join("failures").join(format!("{}.json", f.key)),
                &b,
                &self.root.join("tmp"),
            );
        }
    }

    fn failure(&self, key: &str) -> Option<FailureRecord> {
        let b = fs::read(self.root.join("failures").join(format!("{key}.json"))).ok()?;
        serde_json::from_slice(&b).ok()
    }

    fn label(&self, sweep: &str, label: &str) -> Option<LabelRecord> {
        let b = fs::read(self.label_path(sweep, label)).ok()?;
        serde_json::from_slice(&b).ok()
    }

    fn stats(&self) -> Result<CacheStats, CacheError> {
        let blobs = self.all_blobs();
        let (aside, aside_bytes) = Self::walk_size(&self.root.join("aside"));
        Ok(CacheStats {
            manifests: self.all_manifests().len() as u64,
            blobs: blobs.len() as u64,
            blob_bytes: blobs.iter().map(|b| b.1).sum(),
            failures: fs::read_dir(self.root.join("failures"))
                .map(|r| r.count() as u64)
                .unwrap_or(0),
            aside,
            aside_bytes,
        })
    }

    fn gc(&self, policy: &GcPolicy) -> Result<GcReport, CacheError> {
        let lock = lock_file(&self.root.join("lock"))?;
        if lock.try_lock().is_err() {
            return Err(CacheError::Busy);
        }
        let now = SystemTime::now();
        let mut entries: Vec<(PathBuf, Manifest, SystemTime)> = self
            .all_manifests()
            .into_iter()
            .filter_map(|p| {
                let m: Manifest = serde_json::from_slice(&fs::read(&p).ok()?).ok()?;
                let t = humantime::parse_rfc3339_weak(&m.finished_at).unwrap_or(now);
                Some((p, m, t))
            })
            .collect();
        entries.sort_by_key(|e| e.2);
        let mut remove: HashSet<PathBuf> = HashSet::new();
        for (p, m, t) in &entries {
            let unreferenced = policy.keep.as_ref().is_some_and(|k| !k.contains(&m.key));
            let old = policy
                .older_than
                .is_some_and(|age| now.duration_since(*t).map(|d| d > age).unwrap_or(false));
            if unreferenced || old {
                remove.insert(p.clone());
            }
        }
        let blob_sizes: std::collections::HashMap<String, u64> = self
            .all_blobs()
            .into_iter()
            .map(|(p, s)| {
                (
                    p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .to_string(),
                    s,
                )
            })
            .collect();
        let live = |remove: &HashSet<PathBuf>| -> HashSet<String> {
            entries
                .iter()
                .filter(|e| !remove.contains(&e.0))
                .flat_map(|e| e.1.outputs.iter().map(|o| o.digest.clone()))
                .collect()
        };
        if let Some(max) = policy.max_bytes {
            for (p, _, _) in &entries {
                let used: u64 = live(&remove).iter().filter_map(|d| blob_sizes.get(d)).sum();
                if used <= max {
                    break;
                }
                remove.insert(p.clone());
            }
        }
        let keep_blobs = live(&remove);
        let mut report = GcReport {
            dry_run: policy.dry_run,
            ..GcReport::default()
        };
        for p in &remove {
            report.manifests_removed += 1;
            if !policy.dry_run {
                let _ = fs::remove_file(p);
            }
        }
        for (digest, size) in &blob_sizes {
            if !keep_blobs.contains(digest) {
                report.blobs_removed += 1;
                report.bytes_freed += size;
                if !policy.dry_run {
                    let _ = fs::remove_file(self.blob(digest));
                }
            }
        }
        if !policy.dry_run {
            self.outputs_index.clear();
            // No build runs (we hold the exclusive lock): staging left by killed builds goes.
            if let Ok(rd) = fs::read_dir(self.root.join("tmp")) {
                for e in rd.flatten() {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        Ok(report)
    }
}

/// What `bench cache verify` found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct VerifyReport {
    pub manifests: u64,
    /// (key, why) of every entry set aside.
    pub corrupt: Vec<(String, String)>,
}

/// A running build's lease (see [`LocalCache::lease_build`]); released when dropped.
pub struct BuildLease {
    _file: File,
    path: PathBuf,
}

impl Drop for BuildLease {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(label: &str) -> CommitInfo {
        CommitInfo {
            sweep: "s".into(),
            kind: "bench".into(),
            label: label.into(),
            params: serde_json::json!({"x": 1}),
            inputs: vec![],
            attempt: 1,
            duration_secs: 0.1,
            build_id: "b1".into(),
        }
    }

    const KEY: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn commit_then_lookup_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let c = LocalCache::open(dir.path()).unwrap();
        assert!(matches!(c.lookup(KEY).unwrap(), Lookup::Miss));
        let s = c.stage(KEY, 1).unwrap();
        fs::write(s.out_dir.join("result.json"), b"{\"ok\":true}").unwrap();
        fs::create_dir_all(s.out_dir.join("sub")).unwrap();
        fs::write(s.out_dir.join("sub/x"), b"x").unwrap();
        let m = c.commit(s, info("bench/a")).unwrap();
        assert_eq!(
            m.outputs
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>(),
            vec!["result.json", "sub/x"]
        );
        match c.lookup(KEY).unwrap() {
            Lookup::Hit(h) => assert_eq!(h, m),
            other => panic!("{other:?}"),
        }
        assert_eq!(c.label("s", "bench/a").unwrap().key, KEY);
        assert!(
            fs::read_dir(dir.path().join("tmp"))
                .unwrap()
                .next()
                .is_none(),
            "staging removed"
        );
    }

    #[test]
    fn a_flipped_byte_is_detected_and_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let c = LocalCache::open(dir.path()).unwrap();
        let s = c.stage(KEY, 1).unwrap();
        fs::write(s.out_dir.join("r"), b"hello world").unwrap();
        let m = c.commit(s, info("l")).unwrap();
        let blob = c.blob(&m.outputs[0].digest);
        let mut bytes = fs::read(&blob).unwrap();
        bytes[3] ^= 0x01;
        fs::write(&blob, bytes).unwrap();
        match c.lookup(KEY).unwrap() {
            Lookup::Corrupt(why) => assert_eq!(why, "output r does not match its digest"),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(c.lookup(KEY).unwrap(), Lookup::Miss),
            "the corrupt entry no longer counts"
        );
        assert!(!blob.exists(), "the bad blob was moved aside");
    }

    fn trusting(c: &LocalCache) {
        c.blobs
            .racy_ns
            .store(0, std::sync::atomic::Ordering::Relaxed);
    }

    fn hashed(c: &LocalCache) -> u64 {
        c.blobs.hashed.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[test]
    fn a_no_op_lookup_hashes_no_blob_once_its_stat_is_known_even_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let c = LocalCache::open(dir.path()).unwrap();
        trusting(&c);
        let s = c.stage(KEY, 1).unwrap();
        fs::write(s.out_dir.join("r"), b"hello world").unwrap();
        let m = c.commit(s, info("l")).unwrap();
        assert!(matches!(c.lookup(KEY).unwrap(), Lookup::Hit(_)));
        assert!(c.blob_path(&m.outputs[0].digest, 11).is_ok());
        assert_eq!(
            hashed(&c),
            0,
            "stored by this cache: its stat was remembered"
        );
        let again = LocalCache::open(dir.path()).unwrap();
        trusting(&again);
        assert!(matches!(again.lookup(KEY).unwrap(), Lookup::Hit(_)));
        assert_eq!(hashed(&again), 0, "the index is on disk");
        // `bench cache verify` hashes whatever the index says.
        let report = again.verify_all();
        assert_eq!((report.manifests, report.corrupt.len()), (1, 0));
        assert_eq!(hashed(&again), 1);
    }

    #[test]
    fn a_blob_changed_after_its_stat_was_remembered_is_hashed_and_caught() {
        let dir = tempfile::tempdir().unwrap();
        let c = LocalCache::open(dir.path()).unwrap();
        trusting(&c);
        let s = c.stage(KEY, 1).unwrap();
        fs::write(s.out_dir.join("r"), b"hello world").unwrap();
        let m = c.commit(s, info("l")).unwrap();
        let blob = c.blob(&m.outputs[0].digest);
        // Same size, later change time (past the clock's tick).
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&blob, b"hellO world").unwrap();
        match c.lookup(KEY).unwrap() {
            Lookup::Corrupt(why) => assert_eq!(why, "output r does not match its digest"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_fresh_stat_is_not_trusted_so_a_change_in_the_same_tick_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let c = LocalCache::open(dir.path()).unwrap();
        let s = c.stage(KEY, 1).unwrap();
        fs::write(s.out_dir.join("r"), b"hello world").unwrap();
        let m = c.commit(s, info("l")).unwrap();
        assert!(matches!(c.lookup(KEY).unwrap(), Lookup::Hit(_)));
        assert_eq!(hashed(&c), 1, "changed within 2 s: hashed, not trusted");
        fs::write(c.blob(&m.outputs[0].digest), b"hellO world").unwrap();
        assert!(matches!(c.lookup(KEY).unwrap(), Lookup::Corrupt(_)));
    }

    #[test]
    fn a_no_op_check_reads_no_manifest_but_a_changed_one_is_read_and_caught() {
        let dir = tempfile::tempdir().unwrap();
        let c = LocalCache::open(dir.path()).unwrap();
        trusting(&c);
        assert_eq!(c.check(KEY).unwrap(), Checked::Missing);
        let s = c.stage(KEY, 1).unwrap();
        fs::write(s.out_dir.join("r"), b"hello world").unwrap();
        c.commit(s, info("l")).unwrap();
        assert_eq!(c.check(KEY).unwrap(), Checked::Committed, "read whole once");
        let again = LocalCache::open(dir.path()).unwrap();
        trusting(&again);
        // Unreadable content, same file: the index alone would say committed; the
        // manifest's changed stat sends the check to a full read.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let path = again.manifest_path(KEY);
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, vec![b' '; bytes.len()]).unwrap();
        assert!(matches!(again.check(KEY).unwrap(), Checked::Corrupt(_)));
        assert_eq!(again.check(KEY).unwrap(), Checked::Missing, "set aside");
    }

    #[test]
    fn a_manifest_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let c = LocalCache::open(dir.path()).unwrap();
        let s = c.stage(KEY, 1).unwrap();
        fs::write(s.out_dir.join("r"), b"first").unwrap();
        let first = c.commit(s, info("l")).unwrap();
        let mut second = first.clone();
        second.build_id = "other".into();
        assert!(matches!(
            c.actions().put_if_absent(&second).unwrap(),
            PutOutcome::Exists
        ));
        match c.actions().get(KEY) {
            Some(Ok(m)) => assert_eq!(m.build_id, "b1"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.blobs()
                .has_many(&[&first.outputs[0].digest, "00ff"])
                .unwrap(),
            vec![true, false]
        );
    }

    #[test]
    fn a_truncated_blob_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let c = LocalCache::open(dir.path()).unwrap();
        let s = c.stage(KEY, 1).unwrap();
        fs::write(s.out_dir.join("r"), b"hello world").unwrap();
        let m = c.commit(s, info("l")).unwrap();
        fs::write(c.blob(&m.outputs[0].digest), b"hello").unwrap();
        assert!(
            matches!(c.lookup(KEY).unwrap(), Lookup::Corrupt(w) if w.contains("5 bytes, 11 expected"))
        );
    }

    #[test]
    fn a_staged_attempt_without_commit_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let c = LocalCache::open(dir.path()).unwrap();
        let s = c.stage(KEY, 1).unwrap();
        fs::write(s.out_dir.join("r"), b"partial").unwrap();
        assert!(matches!(c.lookup(KEY).unwrap(), Lookup::Miss));
        c.set_aside(s, "interrupted");
        assert!(matches!(c.lookup(KEY).unwrap(), Lookup::Miss));
        assert_eq!(
            c.stats().unwrap().aside,
            2,
            "partial output and WHY kept aside"
        );
    }

    #[test]
    fn gc_keeps_what_is_referenced() {
        let dir = tempfile::tempdir().unwrap();
        let c = LocalCache::open(dir.path()).unwrap();
        let other = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        for (k, content) in [(KEY, "a"), (other, "b")] {
            let s = c.stage(k, 1).unwrap();
            fs::write(s.out_dir.join("r"), content).unwrap();
            c.commit(s, info(k)).unwrap();
        }
        let keep: HashSet<String> = [KEY.to_string()].into();
        let dry = c
            .gc(&GcPolicy {
                keep: Some(keep.clone()),
                dry_run: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!((dry.manifests_removed, dry.blobs_removed), (1, 1));
        assert!(c.contains(other));
        let real = c
            .gc(&GcPolicy {
                keep: Some(keep),
                ..Default::default()
            })
            .unwrap();
        assert_eq!((real.manifests_removed, real.bytes_freed), (1, 1));
        assert!(!c.contains(other));
        assert!(matches!(c.lookup(KEY).unwrap(), Lookup::Hit(_)));
    }

    #[test]
    fn gc_refuses_while_a_build_holds_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let _build = LocalCache::open_for_build(dir.path()).unwrap();
        let c = LocalCache::open(dir.path()).unwrap();
        assert!(matches!(c.gc(&GcPolicy::default()), Err(CacheError::Busy)));
    }

    #[test]
    fn a_build_is_live_while_its_lease_is_held_even_seen_from_another_process() {
        let dir = tempfile::tempdir().unwrap();
        let c = LocalCache::open(dir.path()).unwrap();
        assert!(!c.build_is_live("b1"), "never started");
        let lease = c.lease_build("b1").unwrap();
        assert!(c.build_is_live("b1"));
        assert!(!c.build_is_live("b2"));
        assert!(!c.build_is_live("../b1"), "ids are names, not paths");
        // Another process sees the same (flock is per open file, across processes).
        let path = dir.path().join("builds/live/b1.lock");
        let other = std::process::Command::new("flock")
            .args(["--nonblock", "--exclusive"])
            .arg(&path)
            .arg("true")
            .status();
        if let Ok(s) = other {
            assert!(!s.success(), "the lease must block another process");
        }
        drop(lease);
        assert!(!c.build_is_live("b1"));
        // A lease file left by a killed build (no holder) means a dead build.
        std::fs::write(&path, b"").unwrap();
        assert!(!c.build_is_live("b1"));
    }
}
