//! Runs each attempt as a child process (`bench exec-node SPEC`), its output appended to the
//! attempt's log. The child is told to stop (SIGTERM) when the build stops it, when the
//! build drops it, and when the build dies (PR_SET_PDEATHSIG on Linux, which the child sets
//! on itself first thing: see [`die_with_parent`]), so a build killed with SIGKILL leaves no
//! worker behind; SIGTERM rather than SIGKILL gives the attempt the moment it needs to
//! remove what it started (an engine container).
//!
//! The child is started with `posix_spawn` (no code runs between fork and exec), so starting
//! it does not copy the page tables of a build that holds a plan of 10⁵ nodes: a trivial
//! node costs a process start, not a fork of the build.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use crate::executor::{ExecFuture, Executor, Job, Transfer};
use bench_node::FAILURE_FILE;
use bench_node::{Failure, FailureClass};

pub struct LocalProcess {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// How long a cancelled attempt gets between SIGTERM and SIGKILL.
    pub grace: Duration,
}

impl LocalProcess {
    /// Runs `bench exec-node` with the current executable.
    pub fn current_exe() -> std::io::Result<Self> {
        Ok(Self {
            program: std::env::current_exe()?,
            args: vec!["exec-node".into()],
            grace: Duration::from_secs(10),
        })
    }
}

impl Executor for LocalProcess {
    fn name(&self) -> &'static str {
        "local"
    }

    fn run<'a>(
        &'a self,
        job: &'a Job,
        _transfer: &'a dyn Transfer,
        cancel: CancellationToken,
    ) -> ExecFuture<'a> {
        Box::pin(async move {
            let log = job.open_log()?;
            let log2 = log
                .try_clone()
                .map_err(|e| Failure::new(FailureClass::Infrastructure, e.to_string()))?;
            let mut cmd = Command::new(&self.program);
            cmd.args(&self.args)
                .arg(&job.spec_path)
                .stdin(Stdio::null())
                .stdout(Stdio::from(log))
                .stderr(Stdio::from(log2))
                // Its own process group: Ctrl-C in the terminal reaches the build, which
                // drains, not every node at once.
                .process_group(0);
            if !job.spec.gpu_ids.is_empty() {
                let ids = job
                    .spec
                    .gpu_ids
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                cmd.env("CUDA_VISIBLE_DEVICES", ids);
            }
            cmd.env(PARENT_ENV, std::process::id().to_string());
            let mut child = cmd.spawn().map_err(|e| {
                Failure::new(
                    FailureClass::Infrastructure,
                    format!("cannot start {}: {e}", self.program.display()),
                )
            })?;
            // Dropped unfinished (the build aborts): SIGTERM, then SIGKILL after the grace.
            let mut guard = TermOnDrop {
                pid: child.id(),
                grace: self.grace,
            };
            let status = tokio::select! {
                s = child.wait() => s,
                () = cancel.cancelled() => {
                    if let Some(pid) = child.id() {
                        // SAFETY: sending a signal to our own child.
                        unsafe { libc::kill(pid as i32, libc::SIGTERM); }
                    }
                    match tokio::time::timeout(self.grace, child.wait()).await {
                        Ok(s) => s,
                        Err(_) => {
                            let _ = child.kill().await;
                            child.wait().await
                        }
                    }
                    .map_err(|e| Failure::new(FailureClass::Infrastructure, e.to_string()))?;
                    guard.pid = None;
                    return Err(Failure::new(FailureClass::Cancelled, "stopped before it finished"));
                }
            }
            .map_err(|e| {
                Failure::new(
                    FailureClass::Infrastructure,
                    format!("waiting for the node process: {e}"),
                )
            })?;
            guard.pid = None;
            if status.success() {
                return Ok(());
            }
            let failure_file = job.spec_path.with_file_name(FAILURE_FILE);
            if let Some(f) = std::fs::read(&failure_file)
                .ok()
                .and_then(|b| serde_json::from_slice::<Failure>(&b).ok())
            {
                return Err(f);
            }
            use std::os::unix::process::ExitStatusExt;
            Err(match status.signal() {
                Some(sig) => Failure::new(
                    FailureClass::Infrastructure,
                    format!("the node process was killed by signal {sig}"),
                ),
                None => Failure::new(
                    FailureClass::Infrastructure,
                    format!("the node process exited with {status} without saying why"),
                ),
            })
        })
    }
}

/// Stops a child that its future no longer waits for: SIGTERM now, SIGKILL after the
/// grace period (from a thread, since the runtime may be shutting down).
struct TermOnDrop {
    pid: Option<u32>,
    grace: Duration,
}

impl Drop for TermOnDrop {
    fn drop(&mut self) {
        let Some(pid) = self.pid else {
            return;
        };
        let pid = pid as i32;
        // SAFETY: signalling our own child, which has not been reaped yet.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let grace = self.grace;
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + grace;
            while std::time::Instant::now() < deadline {
                let mut status = 0;
                // SAFETY: reaps our own child if it has exited.
                if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } != 0 {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // SAFETY: as above.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        });
    }
}

/// Names the build's pid for the attempt (see [`die_with_parent`]).
pub const PARENT_ENV: &str = "BENCH_BUILD_PID";

/// Called first thing by the far side of [`LocalProcess`]: asks for SIGTERM when the build
/// dies, then checks the build is still its parent (it may have died before the request
/// took effect). Returns false when the build is already gone: the attempt should not run.
pub fn die_with_parent() -> bool {
    let Some(parent) = std::env::var(PARENT_ENV)
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
    else {
        return true; // not started by a build
    };
    #[cfg(target_os = "linux")]
    // SAFETY: prctl on this process.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
    }
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() == parent }
}
