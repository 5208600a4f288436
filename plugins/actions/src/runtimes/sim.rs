//! A simulated engine as a child process of the attempt: `bench sim-engine` (or the program
//! `$BENCH_SIM_ENGINE` names, e.g. `bench-sim-engine`), on a free loopback port. A process
//! of its own, like a real engine, so its work does not share the load generator's runtime,
//! and a crash is a real crash. It dies with the attempt (SIGTERM on drop, PDEATHSIG if the
//! attempt is killed).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bench_catalog::ArchFacts;
use bench_node::context::BenchContext;
use bench_node::params::BenchConfig;
use bench_node::{Failure, RuntimeKind};

use super::{EngineRuntime, EngineStart, Finished, RunningEngine};
use crate::{infra, permanent};

/// The simulated engine, started for each run.
pub struct Sim;

impl EngineRuntime for Sim {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Sim
    }

    fn start(&self, s: &EngineStart<'_>) -> Result<Box<dyn RunningEngine>, Failure> {
        let facts = s.model.facts.as_ref().ok_or_else(|| {
            permanent(format!(
                "the simulator needs architecture facts for {}: name a catalog entry with \
                 arch=\"...\", give `facts` in the sweep, or fetch the model (fetch=#true) \
                 to read them from its config.json",
                s.ctx.model
            ))
        })?;
        Ok(Box::new(SimProcess::start(&sim_args(
            s.config, s.ctx, facts, s.repeat,
        )?)?))
    }
}

impl RunningEngine for SimProcess {
    fn url(&self) -> &str {
        &self.url
    }

    fn finish(mut self: Box<Self>) -> Result<Finished, Failure> {
        if let Some(status) = self.exited() {
            return Err(infra(format!(
                "the simulated engine exited during the run ({status})"
            )));
        }
        Ok(Finished::default())
    }
}

fn sim_args(
    c: &BenchConfig,
    ctx: &BenchContext,
    facts: &ArchFacts,
    repeat: u32,
) -> Result<Vec<String>, Failure> {
    Ok([
        "--model".into(),
        ctx.model.clone(),
        "--facts".into(),
        serde_json::to_string(facts).map_err(|e| permanent(e.to_string()))?,
        "--gpu".into(),
        c.gpu.clone(),
        "--gpus".into(),
        c.gpus.to_string(),
        "--quantization".into(),
        c.quantization.clone(),
        "--dtype".into(),
        c.dtype.clone(),
        "--kv-cache".into(),
        c.kv_cache.clone(),
        "--max-batch".into(),
        c.batch_size.to_string(),
        "--max-seq-len".into(),
        c.seq_len.to_string(),
    ]
    .into_iter()
    .chain(sim_noise_args(c, repeat))
    .collect())
}

/// Step times vary a little, differently per repeat, as on real hardware: the simulator's
/// noise and its seed, wherever it runs (a process or a container).
pub fn sim_noise_args(c: &BenchConfig, repeat: u32) -> [String; 4] {
    [
        "--noise".into(),
        "0.03".into(),
        "--seed".into(),
        (c.workload.seed.wrapping_mul(1_000_003) + repeat as u64).to_string(),
    ]
}

/// Names the simulator program; unset, bench runs itself as `bench sim-engine`.
pub const SIM_ENGINE_ENV: &str = "BENCH_SIM_ENGINE";

struct SimProcess {
    child: Child,
    pub url: String,
}

impl SimProcess {
    /// Starts the simulator with `args` (besides host and port) and waits until it listens.
    pub fn start(args: &[String]) -> Result<Self, Failure> {
        let mut cmd = match std::env::var_os(SIM_ENGINE_ENV) {
            Some(p) => Command::new(p),
            None => {
                let exe = std::env::current_exe()
                    .map_err(|e| infra(format!("cannot find the bench executable: {e}")))?;
                let mut c = Command::new(exe);
                c.arg("sim-engine");
                c
            }
        };
        cmd.args(["--host", "127.0.0.1", "--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: prctl is async-signal-safe; called between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| infra(format!("cannot start the simulated engine: {e}")))?;
        let stdout = child.stdout.take().ok_or_else(|| infra("no stdout"))?;
        // The first line says where it listens; the rest is copied through.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut first = String::new();
            let _ = r.read_line(&mut first);
            let _ = tx.send(first);
            let mut rest = Vec::new();
            let _ = r.read_to_end(&mut rest);
            print!("{}", String::from_utf8_lossy(&rest));
        });
        let mut sim = SimProcess {
            child,
            url: String::new(),
        };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => match line.trim().strip_prefix("listening on ") {
                Some(url) => sim.url = url.to_string(),
                None => {
                    let status = sim.child.wait().ok();
                    return Err(permanent(format!(
                        "the simulated engine did not start ({}): see the log above",
                        status.map_or("no status".into(), |s| s.to_string())
                    )));
                }
            },
            Err(_) => return Err(infra("the simulated engine did not listen within 20 s")),
        }
        println!("simulated engine listening on {}", sim.url);
        Ok(sim)
    }

    /// Whether the engine is still running (`Some(status)` once it has exited).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        for _ in 0..50 {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
