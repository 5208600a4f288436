//! Manifests on the local disk, `ROOT/manifests/ab/KEY.json`. A manifest is created once:
//! written to a temporary file, then hard-linked to its name, which fails when the name
//! exists — the local form of a conditional create.

use std::fs;
use std::path::{Path, PathBuf};

use crate::actions::{ActionCache, PutOutcome};
use crate::{CacheError, Manifest};

pub(crate) struct LocalActions {
    root: PathBuf,
    tmp: PathBuf,
}

pub(crate) fn valid_key(key: &str) -> bool {
    key.len() >= 8 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

impl LocalActions {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.join("manifests"),
            tmp: root.join("tmp"),
        }
    }

    pub(crate) fn path(&self, key: &str) -> PathBuf {
        let prefix = key.get(..2).unwrap_or("00");
        self.root.join(prefix).join(format!("{key}.json"))
    }

    /// Every manifest file.
    pub(crate) fn all(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Ok(shards) = fs::read_dir(&self.root) {
            for s in shards.flatten() {
                if let Ok(files) = fs::read_dir(s.path()) {
                    for f in files.flatten() {
                        let p = f.path();
                        if p.extension().is_some_and(|e| e == "json") {
                            out.push(p);
                        }
                    }
                }
            }
        }
        out
    }
}

impl ActionCache for LocalActions {
    fn get(&self, key: &str) -> Option<Result<Manifest, String>> {
        if !valid_key(key) {
            return None;
        }
        let bytes = match fs::read(self.path(key)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => return Some(Err(format!("cannot read manifest: {e}"))),
        };
        Some(match serde_json::from_slice::<Manifest>(&bytes) {
            Ok(m) if m.key == key => Ok(m),
            Ok(m) => Err(format!("manifest names key {}", m.key)),
            Err(e) => Err(format!("manifest does not parse: {e}")),
        })
    }

    fn contains(&self, key: &str) -> bool {
        valid_key(key) && self.path(key).exists()
    }

    fn put_if_absent(&self, m: &Manifest) -> Result<PutOutcome, CacheError> {
        let tmp = self.write_pending(m)?;
        self.publish(&tmp, &m.key)
    }
}

impl LocalActions {
    /// Writes a manifest beside the cache, not yet visible: [`Self::publish`] makes it so
    /// once the caller has made it and its blobs durable.
    pub(crate) fn write_pending(&self, m: &Manifest) -> Result<PathBuf, CacheError> {
        let path = self.path(&m.key);
        let bytes = serde_json::to_vec(m).map_err(|e| CacheError::Io {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(CacheError::io(dir))?;
        }
        let tmp = self.tmp.join(format!(
            ".{}.{}.manifest",
            std::process::id(),
            super::nanos()
        ));
        fs::write(&tmp, &bytes).map_err(CacheError::io(&tmp))?;
        Ok(tmp)
    }

    /// Gives a pending manifest its name unless the key already has one.
    pub(crate) fn publish(&self, tmp: &Path, key: &str) -> Result<PutOutcome, CacheError> {
        let path = self.path(key);
        let linked = fs::hard_link(tmp, &path);
        let _ = fs::remove_file(tmp);
        match linked {
            Ok(()) => Ok(PutOutcome::Created),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(PutOutcome::Exists),
            Err(e) => Err(CacheError::Io { path, source: e }),
        }
    }
}
