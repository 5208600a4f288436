//! Blobs on the local disk, `ROOT/blobs/ab/abcdef…`, and the stat index that spares a
//! no-op build from re-hashing them: once a blob's bytes have been hashed, its size,
//! mtime, ctime and inode are remembered (`ROOT/index/verified`, one line per blob); a
//! later read whose stat is the same trusts the hash. Any write to the file changes its
//! ctime, so a changed blob is hashed again. A stat taken less than two seconds after the
//! file last changed is not remembered (a change within the same clock tick would leave
//! it unchanged, as git's "racy clean" entries). `bench cache verify` re-hashes everything.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{OnceLock, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use super::append::AppendLog;
use crate::blobs::BlobStore;
use crate::{CacheError, OutputRef};

/// What a stat says of a file: enough to tell that its bytes were not touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    pub(crate) size: u64,
    pub(crate) mtime_ns: i64,
    pub(crate) ctime_ns: i64,
    pub(crate) ino: u64,
}

impl Stat {
    pub(crate) fn of(m: &fs::Metadata) -> Self {
        Stat {
            size: m.len(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
            ino: m.ino(),
        }
    }

    /// Changed within the last `window` ns: a change in the same tick could hide.
    pub(crate) fn racy(&self, window: i64) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        now - self.mtime_ns.max(self.ctime_ns) < window
    }
}

pub(crate) struct LocalBlobs {
    root: PathBuf,
    index_path: PathBuf,
    /// Blobs whose bytes were hashed, by digest, with the stat they had then.
    index: OnceLock<RwLock<HashMap<String, Stat>>>,
    log: AppendLog,
    /// How recent a change makes a stat untrustworthy (2 s; tests shorten it).
    pub(crate) racy_ns: std::sync::atomic::AtomicI64,
    /// Blobs hashed by this process (for tests and figures).
    pub(crate) hashed: std::sync::atomic::AtomicU64,
}

/// blake3 and size of a file, streamed.
pub fn hash_file(path: &Path) -> Result<(String, u64), CacheError> {
    let mut f = File::open(path).map_err(CacheError::io(path))?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(CacheError::io(path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((h.finalize().to_hex().to_string(), size))
}

impl LocalBlobs {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.join("blobs"),
            index_path: root.join("index").join("verified"),
            index: OnceLock::new(),
            log: AppendLog::new(root.join("index").join("verified")),
            racy_ns: std::sync::atomic::AtomicI64::new(2_000_000_000),
            hashed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub(crate) fn path(&self, digest: &str) -> PathBuf {
        let prefix = digest.get(..2).unwrap_or("00");
        self.root.join(prefix).join(digest)
    }

    fn index(&self) -> &RwLock<HashMap<String, Stat>> {
        self.index.get_or_init(|| {
            let mut map = HashMap::new();
            if let Ok(text) = fs::read_to_string(&self.index_path) {
                for line in text.lines() {
                    let f: Vec<&str> = line.split(' ').collect();
                    if let [d, size, m, c, ino] = f[..]
                        && let (Ok(size), Ok(mtime_ns), Ok(ctime_ns), Ok(ino)) =
                            (size.parse(), m.parse(), c.parse(), ino.parse())
                    {
                        map.insert(
                            d.to_string(),
                            Stat {
                                size,
                                mtime_ns,
                                ctime_ns,
                                ino,
                            },
                        );
                    }
                }
            }
            RwLock::new(map)
        })
    }

    /// Remembers that `digest`'s bytes, with this stat, were hashed and found right.
    fn remember(&self, digest: &str, stat: Stat) {
        if stat.racy(self.racy_ns.load(std::sync::atomic::Ordering::Relaxed)) {
            return; // hashed again next time: a change within the same tick could hide
        }
        let known = self
            .index()
            .read()
            .map(|m| m.get(digest) == Some(&stat))
            .unwrap_or(false);
        if known {
            return;
        }
        if let Ok(mut m) = self.index().write() {
            m.insert(digest.to_string(), stat);
        }
        // A hint, not a proof: a lost line means one more hash.
        self.log.append(&format!(
            "{digest} {} {} {} {}",
            stat.size, stat.mtime_ns, stat.ctime_ns, stat.ino
        ));
    }

    /// Hashes a blob whatever its stat says, and remembers it when it is right.
    pub(crate) fn rehash(&self, digest: &str, size: u64) -> Result<(), String> {
        let path = self.path(digest);
        let meta = fs::metadata(&path).map_err(|e| format!("{e}"))?;
        if meta.len() != size {
            return Err(format!("is {} bytes, {size} expected", meta.len()));
        }
        let (d, _) = hash_file(&path).map_err(|e| e.to_string())?;
        self.hashed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if d != digest {
            return Err("does not match its digest".into());
        }
        self.remember(digest, Stat::of(&meta));
        Ok(())
    }

    /// Forgets every remembered stat: the next reads hash again.
    pub(crate) fn forget_all(&self) {
        if let Ok(mut m) = self.index().write() {
            m.clear();
        }
        self.log.remove();
    }
}

impl BlobStore for LocalBlobs {
    fn has_many(&self, digests: &[&str]) -> Result<Vec<bool>, CacheError> {
        Ok(digests.iter().map(|d| self.path(d).is_file()).collect())
    }

    fn put_file(&self, name: &str, path: &Path) -> Result<OutputRef, CacheError> {
        let (digest, size) = hash_file(path)?;
        let target = self.path(&digest);
        let same = fs::metadata(&target).is_ok_and(|m| m.len() == size)
            && self.verify(&digest, size).is_ok();
        if same {
            let _ = fs::remove_file(path);
        } else {
            if let Some(dir) = target.parent() {
                fs::create_dir_all(dir).map_err(CacheError::io(dir))?;
            }
            fs::rename(path, &target).map_err(CacheError::io(&target))?;
            if let Ok(m) = fs::metadata(&target) {
                self.remember(&digest, Stat::of(&m));
            }
        }
        Ok(OutputRef {
            name: name.to_string(),
            digest,
            size,
        })
    }

    fn open(&self, digest: &str) -> Result<Box<dyn Read + Send>, CacheError> {
        let path = self.path(digest);
        let size = fs::metadata(&path).map_err(CacheError::io(&path))?.len();
        self.verify(digest, size)
            .map_err(|why| CacheError::CorruptBlob {
                digest: digest.to_string(),
                why,
            })?;
        Ok(Box::new(File::open(&path).map_err(CacheError::io(&path))?))
    }

    fn verify(&self, digest: &str, size: u64) -> Result<(), String> {
        let path = self.path(digest);
        let meta = fs::metadata(&path).map_err(|e| format!("{e}"))?;
        if meta.len() != size {
            return Err(format!("is {} bytes, {size} expected", meta.len()));
        }
        let stat = Stat::of(&meta);
        let trusted = self
            .index()
            .read()
            .map(|m| m.get(digest) == Some(&stat))
            .unwrap_or(false);
        if trusted {
            return Ok(());
        }
        self.rehash(digest, size)
    }
}
