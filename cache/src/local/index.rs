//! The outputs index: what a no-op build needs to know of each committed key without
//! reading its manifest — the manifest file's stat when it was last read and the digests
//! and sizes of its outputs (`ROOT/index/outputs`, one line per key, appended). A key whose
//! manifest stat is unchanged and whose blobs verify (by their own stat index) is committed;
//! anything else is looked up in full. A hint, never a proof: a lost or stale line costs
//! one manifest read.

use std::collections::HashMap;
use std::fs;

use std::path::{Path, PathBuf};
use std::sync::{OnceLock, RwLock};

use super::append::AppendLog;
use super::blobs::Stat;
use crate::Manifest;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub manifest: Stat,
    pub outputs: Vec<(String, u64)>,
}

pub(crate) struct OutputsIndex {
    path: PathBuf,
    map: OnceLock<RwLock<HashMap<String, Entry>>>,
    log: AppendLog,
}

fn parse(line: &str) -> Option<(String, Entry)> {
    let mut f = line.split(' ');
    let key = f.next()?.to_string();
    let mut n = || -> Option<i64> { f.next()?.parse().ok() };
    let manifest = Stat {
        size: n()? as u64,
        mtime_ns: n()?,
        ctime_ns: n()?,
        ino: n()? as u64,
    };
    let outputs = f
        .map(|o| {
            let (d, s) = o.split_once(':')?;
            Some((d.to_string(), s.parse().ok()?))
        })
        .collect::<Option<Vec<_>>>()?;
    Some((key, Entry { manifest, outputs }))
}

impl OutputsIndex {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            path: root.join("index").join("outputs"),
            map: OnceLock::new(),
            log: AppendLog::new(root.join("index").join("outputs")),
        }
    }

    fn map(&self) -> &RwLock<HashMap<String, Entry>> {
        self.map.get_or_init(|| {
            let map = fs::read_to_string(&self.path)
                .map(|t| t.lines().filter_map(parse).collect())
                .unwrap_or_default();
            RwLock::new(map)
        })
    }

    pub(crate) fn get(&self, key: &str) -> Option<Entry> {
        self.map().read().ok()?.get(key).cloned()
    }

    /// Remembers a manifest read (or written) whole, with its file's stat.
    pub(crate) fn remember(&self, m: &Manifest, manifest_file: &Path, racy_ns: i64) {
        let Ok(meta) = fs::metadata(manifest_file) else {
            return;
        };
        let stat = Stat::of(&meta);
        if stat.racy(racy_ns) {
            return;
        }
        let entry = Entry {
            manifest: stat,
            outputs: m
                .outputs
                .iter()
                .map(|o| (o.digest.clone(), o.size))
                .collect(),
        };
        if self.get(&m.key).as_ref() == Some(&entry) {
            return;
        }
        let mut line = format!(
            "{} {} {} {} {}",
            m.key, stat.size, stat.mtime_ns, stat.ctime_ns, stat.ino
        );
        for (d, s) in &entry.outputs {
            line.push_str(&format!(" {d}:{s}"));
        }
        if let Ok(mut map) = self.map().write() {
            map.insert(m.key.clone(), entry);
        }
        self.log.append(&line);
    }

    /// Forgets everything (after gc or a full verification).
    pub(crate) fn clear(&self) {
        if let Ok(mut m) = self.map().write() {
            m.clear();
        }
        self.log.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_parses_back() {
        let (k, e) = parse("abcd 10 1 2 3 d1:5 d2:7").unwrap();
        assert_eq!(k, "abcd");
        assert_eq!(e.manifest.ino, 3);
        assert_eq!(
            e.outputs,
            vec![("d1".to_string(), 5), ("d2".to_string(), 7)]
        );
        assert!(parse("abcd 10 1 2").is_none(), "a torn line is skipped");
    }
}
