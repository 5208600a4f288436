//! A model directory's manifest: the files an engine needs, each with its size and blake3
//! digest. The manifest's own digest identifies the model by content (a local directory's
//! identity in keys), whatever its path.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ModelError;
pub use bench_node::outputs::{FileEntry, ModelManifest as Manifest};

/// What engines load, by default (see [`bench_catalog::DEFAULT_MODEL_FILES`]).
pub const DEFAULT_PATTERNS: &[&str] = bench_catalog::DEFAULT_MODEL_FILES;

/// Digests of files seen before, by path: reused while size, mtime and inode are the same.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StatCache {
    entries: BTreeMap<String, Stat>,
    #[serde(skip)]
    dirty: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stat {
    size: u64,
    mtime_ns: i128,
    ino: u64,
    blake3: String,
}

impl StatCache {
    /// Reads a stat cache; a missing or unreadable one is empty (it is only a cache).
    pub fn load(path: &Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes it (temp file + rename) when it changed.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        if !self.dirty {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(ModelError::io(dir))?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let bytes =
            serde_json::to_vec(self).map_err(|e| ModelError::invalid(path, e.to_string()))?;
        std::fs::write(&tmp, bytes).map_err(ModelError::io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(ModelError::io(path))
    }

    /// Where the stat cache of model directory `dir` lives under `state`: one file per
    /// directory, named by its path (the planner and the download node share it).
    pub fn path_for(state: &Path, dir: &Path) -> PathBuf {
        let h = blake3::hash(dir.as_os_str().as_encoded_bytes()).to_hex();
        state.join("stat").join(format!("{}.json", &h[..16]))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What says a file did not change since it was last read: size, mtime (ns) and inode.
pub(crate) fn identity(m: &std::fs::Metadata) -> (u64, i128, u64) {
    (
        m.len(),
        i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        m.ino(),
    )
}

pub(crate) fn globs(patterns: &[&str]) -> Result<GlobSet, ModelError> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(|e| ModelError::Pattern {
            pattern: p.to_string(),
            message: e.to_string(),
        })?);
    }
    b.build().map_err(|e| ModelError::Pattern {
        pattern: patterns.join(","),
        message: e.to_string(),
    })
}

/// The files under `root` whose names match `patterns` (matched against the file name and
/// the relative path), sorted.
fn matching_files(root: &Path, set: &GlobSet) -> Result<Vec<(String, PathBuf)>, ModelError> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).map_err(ModelError::io(&dir))? {
            let e = e.map_err(ModelError::io(&dir))?;
            let path = e.path();
            let ft = e.file_type().map_err(ModelError::io(&path))?;
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            if ft.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            if set.is_match(&name) || set.is_match(&rel) {
                out.push((rel, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Hashes one file: large files with blake3's multi-threaded, memory-mapped hasher.
pub fn hash_file(path: &Path) -> Result<String, ModelError> {
    let mut h = blake3::Hasher::new();
    h.update_mmap_rayon(path).map_err(ModelError::io(path))?;
    Ok(h.finalize().to_hex().to_string())
}

/// The manifest of the files under `root` that match `patterns`, reusing `cache` for
/// files whose size, mtime and inode did not change.
pub fn hash_dir(
    root: &Path,
    patterns: &[&str],
    cache: &mut StatCache,
) -> Result<Manifest, ModelError> {
    let set = globs(patterns)?;
    let files = matching_files(root, &set)?;
    if files.is_empty() {
        return Err(ModelError::invalid(
            root,
            format!("no model files here (looked for {})", patterns.join(", ")),
        ));
    }
    let stats: Vec<(String, PathBuf, Stat)> = files
        .into_iter()
        .map(|(rel, path)| {
            let m = std::fs::metadata(&path).map_err(ModelError::io(&path))?;
            let (size, mtime_ns, ino) = identity(&m);
            let stat = Stat {
                size,
                mtime_ns,
                ino,
                blake3: String::new(),
            };
            Ok((rel, path, stat))
        })
        .collect::<Result<_, ModelError>>()?;
    // Files are hashed one after another, each with every core: a model is a few large
    // shards, and one shard at a time keeps reads sequential.
    let hashed: Vec<Result<FileEntry, ModelError>> = stats
        .iter()
        .map(|(rel, path, stat)| {
            let known = cache
                .entries
                .get(rel)
                .filter(|c| c.size == stat.size && c.mtime_ns == stat.mtime_ns && c.ino == stat.ino)
                .map(|c| c.blake3.clone());
            let blake3 = match known {
                Some(d) => d,
                None => hash_file(path)?,
            };
            Ok(FileEntry {
                path: rel.clone(),
                size: stat.size,
                blake3,
            })
        })
        .collect();
    let mut entries = Vec::with_capacity(hashed.len());
    for (r, (rel, _, stat)) in hashed.into_iter().zip(&stats) {
        let e = r?;
        let s = Stat {
            blake3: e.blake3.clone(),
            ..stat.clone()
        };
        if cache.entries.get(rel) != Some(&s) {
            cache.entries.insert(rel.clone(), s);
            cache.dirty = true;
        }
        entries.push(e);
    }
    // Forget files that are gone.
    let before = cache.entries.len();
    cache
        .entries
        .retain(|k, _| stats.iter().any(|(rel, _, _)| rel == k));
    cache.dirty |= cache.entries.len() != before;
    Ok(Manifest {
        total_bytes: entries.iter().map(|e| e.size).sum(),
        files: entries,
    })
}

/// Files in `entries` whose digest differs from what is on disk now (a corruption check
/// without the stat cache).
pub fn verify(root: &Path, entries: &[FileEntry]) -> Result<Vec<String>, ModelError> {
    let bad: Vec<String> = entries
        .par_iter()
        .filter_map(|e| {
            let p = root.join(&e.path);
            match std::fs::metadata(&p) {
                Ok(m) if m.len() == e.size => match hash_file(&p) {
                    Ok(d) if d == e.blake3 => None,
                    _ => Some(e.path.clone()),
                },
                _ => Some(e.path.clone()),
            }
        })
        .collect();
    Ok(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(dir: &Path) {
        std::fs::write(dir.join("config.json"), br#"{"hidden_size": 8}"#).unwrap();
        std::fs::write(
            dir.join("model-00001-of-00002.safetensors"),
            vec![1u8; 5000],
        )
        .unwrap();
        std::fs::write(
            dir.join("model-00002-of-00002.safetensors"),
            vec![2u8; 3000],
        )
        .unwrap();
        std::fs::write(dir.join("tokenizer.json"), b"{}").unwrap();
        std::fs::write(dir.join("README.md"), b"not needed").unwrap();
        std::fs::write(dir.join("pytorch_model.bin"), b"not needed either").unwrap();
        std::fs::create_dir(dir.join(".git")).unwrap();
        std::fs::write(dir.join(".git/config.json"), b"hidden").unwrap();
    }

    #[test]
    fn lists_what_engines_need_with_sizes_and_digests() {
        let dir = tempfile::tempdir().unwrap();
        model(dir.path());
        let mut c = StatCache::default();
        let m = hash_dir(dir.path(), DEFAULT_PATTERNS, &mut c).unwrap();
        let names: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            names,
            [
                "config.json",
                "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors",
                "tokenizer.json"
            ]
        );
        assert_eq!(m.total_bytes, 18 + 5000 + 3000 + 2);
        assert_eq!(
            m.files[1].blake3,
            blake3::hash(&vec![1u8; 5000]).to_hex().to_string()
        );
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn the_identity_follows_content_not_path_and_the_stat_cache_is_honest() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        model(a.path());
        model(b.path());
        let mut ca = StatCache::default();
        let mut cb = StatCache::default();
        let ma = hash_dir(a.path(), DEFAULT_PATTERNS, &mut ca).unwrap();
        let mb = hash_dir(b.path(), DEFAULT_PATTERNS, &mut cb).unwrap();
        assert_eq!(ma.digest(), mb.digest(), "same files, same identity");

        // A changed file (same size) is rehashed: its mtime moved.
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(
            a.path().join("model-00002-of-00002.safetensors"),
            vec![3u8; 3000],
        )
        .unwrap();
        let ma2 = hash_dir(a.path(), DEFAULT_PATTERNS, &mut ca).unwrap();
        assert_ne!(ma2.digest(), ma.digest());
        assert_eq!(
            ma2.files[2].blake3,
            blake3::hash(&vec![3u8; 3000]).to_hex().to_string()
        );

        // Unchanged files come from the cache: a cached digest that was wrong would show.
        let key = "config.json".to_string();
        ca.entries.get_mut(&key).unwrap().blake3 = "cached".into();
        let ma3 = hash_dir(a.path(), DEFAULT_PATTERNS, &mut ca).unwrap();
        assert_eq!(ma3.files[0].blake3, "cached", "the stat cache was used");

        // Saved and loaded.
        let p = a.path().join("stat.json");
        ca.save(&p).unwrap();
        assert_eq!(StatCache::load(&p).len(), 4);
    }

    #[test]
    fn a_directory_without_model_files_says_what_was_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let err = hash_dir(dir.path(), DEFAULT_PATTERNS, &mut StatCache::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no model files here"), "{err}");
        assert!(err.contains("*.safetensors"), "{err}");
    }

    #[test]
    fn verify_names_the_corrupted_file() {
        let dir = tempfile::tempdir().unwrap();
        model(dir.path());
        let m = hash_dir(dir.path(), DEFAULT_PATTERNS, &mut StatCache::default()).unwrap();
        assert!(verify(dir.path(), &m.files).unwrap().is_empty());
        let mut bytes = std::fs::read(dir.path().join("tokenizer.json")).unwrap();
        bytes[0] = b'[';
        std::fs::write(dir.path().join("tokenizer.json"), bytes).unwrap();
        assert_eq!(verify(dir.path(), &m.files).unwrap(), ["tokenizer.json"]);
    }
}
