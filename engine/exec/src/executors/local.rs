//! Runs each attempt as a child process (`bench exec-node SPEC`), its output appended to the
//! attempt's log. The child dies with the build (PR_SET_PDEATHSIG on Linux), so a build
//! killed with SIGKILL leaves no worker behind.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use crate::executor::{ExecFuture, Executor, Job};
use crate::failure::{Failure, FailureClass};
use crate::job::FAILURE_FILE;

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

    fn run<'a>(&'a self, job: &'a Job, cancel: CancellationToken) -> ExecFuture<'a> {
        Box::pin(async move {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&job.log)
                .map_err(|e| {
                    Failure::new(
                        FailureClass::Infrastructure,
                        format!("cannot open log {}: {e}", job.log.display()),
                    )
                })?;
            let log2 = log
                .try_clone()
                .map_err(|e| Failure::new(FailureClass::Infrastructure, e.to_string()))?;
            let mut cmd = Command::new(&self.program);
            cmd.args(&self.args)
                .arg(&job.spec)
                .stdin(Stdio::null())
                .stdout(Stdio::from(log))
                .stderr(Stdio::from(log2))
                .kill_on_drop(true)
                // Its own process group: Ctrl-C in the terminal reaches the build, which
                // drains, not every node at once.
                .process_group(0);
            if !job.gpu_ids.is_empty() {
                let ids = job
                    .gpu_ids
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                cmd.env("CUDA_VISIBLE_DEVICES", ids);
            }
            #[cfg(target_os = "linux")]
            // SAFETY: prctl is async-signal-safe; called between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let mut child = cmd.spawn().map_err(|e| {
                Failure::new(
                    FailureClass::Infrastructure,
                    format!("cannot start {}: {e}", self.program.display()),
                )
            })?;
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
                    return Err(Failure::new(FailureClass::Cancelled, "stopped before it finished"));
                }
            }
            .map_err(|e| {
                Failure::new(
                    FailureClass::Infrastructure,
                    format!("waiting for the node process: {e}"),
                )
            })?;
            if status.success() {
                return Ok(());
            }
            let failure_file = job.spec.with_file_name(FAILURE_FILE);
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
