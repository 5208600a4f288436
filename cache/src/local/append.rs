//! An append-only file of lines, opened on first use: the commit journal and the indexes.
//! One `write` per line under `O_APPEND`, so lines of concurrent builds stay whole; never
//! fsynced (what it holds is a record or a hint, not a proof).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

pub(crate) struct AppendLog {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl AppendLog {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            file: Mutex::new(None),
        }
    }

    /// Appends `line` and a newline.
    pub(crate) fn append(&self, line: &str) {
        let Ok(mut g) = self.file.lock() else {
            return;
        };
        if g.is_none() {
            if let Some(dir) = self.path.parent() {
                let _ = fs::create_dir_all(dir);
            }
            *g = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .ok();
        }
        if let Some(f) = g.as_mut() {
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }

    /// Removes the file; the next line starts a new one.
    pub(crate) fn remove(&self) {
        if let Ok(mut g) = self.file.lock() {
            *g = None;
        }
        let _ = fs::remove_file(&self.path);
    }
}
