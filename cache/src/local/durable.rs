//! Group commit: many commits made durable by one `syncfs`. A commit's bytes are written
//! without fsync; it then waits for a sync that *started* after its writes, and only then
//! makes its manifest visible. Concurrent commits share that sync (the first to arrive
//! runs it, the others wait), so a build of trivial nodes pays one sync per group rather
//! than four fsyncs per node — with the same guarantee: a manifest never becomes visible
//! before the bytes it names are on disk.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::{Condvar, Mutex};

use crate::CacheError;

pub(crate) struct Durable {
    fd: File,
    state: Mutex<State>,
    done: Condvar,
}

#[derive(Default)]
struct State {
    /// Syncs started so far (the n-th sync covers every write finished before it started).
    started: u64,
    /// The highest sync finished.
    finished: u64,
    running: bool,
    /// The last sync failed: its error, for everyone who waited on it.
    failed: Option<(u64, String)>,
}

impl Durable {
    pub(crate) fn new(root: &Path) -> Result<Self, CacheError> {
        Ok(Self {
            fd: File::open(root).map_err(CacheError::io(root))?,
            state: Mutex::new(State::default()),
            done: Condvar::new(),
        })
    }

    /// Returns once everything this thread wrote before calling is durable.
    pub(crate) fn barrier(&self) -> Result<(), CacheError> {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // A sync already running may have started before our writes: we need the next.
        let need = g.started + 1;
        while g.finished < need {
            if let Some((n, why)) = &g.failed
                && *n >= need
            {
                return Err(io_err(why));
            }
            if g.running {
                g = self.done.wait(g).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            g.running = true;
            g.started += 1;
            let n = g.started;
            drop(g);
            // SAFETY: syncfs on a directory descriptor we own.
            let rc = unsafe { libc::syncfs(self.fd.as_raw_fd()) };
            let err = (rc != 0).then(|| std::io::Error::last_os_error().to_string());
            g = self.state.lock().unwrap_or_else(|e| e.into_inner());
            g.running = false;
            g.finished = n;
            if let Some(why) = err {
                g.failed = Some((n, why.clone()));
                self.done.notify_all();
                return Err(io_err(&why));
            }
            self.done.notify_all();
        }
        Ok(())
    }
}

fn io_err(why: &str) -> CacheError {
    CacheError::Io {
        path: "syncfs".into(),
        source: std::io::Error::other(why.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_barriers_share_syncs_and_all_return() {
        let dir = tempfile::tempdir().unwrap();
        let d = Arc::new(Durable::new(dir.path()).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let d = d.clone();
                let p = dir.path().join(format!("f{i}"));
                std::thread::spawn(move || {
                    for j in 0..20 {
                        std::fs::write(&p, format!("{j}")).unwrap();
                        d.barrier().unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let g = d.state.lock().unwrap();
        assert!(g.finished >= 1 && g.finished <= 160, "{}", g.finished);
        assert!(!g.running);
    }
}
