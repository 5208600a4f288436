//! The engine's own program as a child process of the attempt (`runtime="process"`, the
//! default): `vllm serve …`, `text-generation-launcher …`, on the host the attempt runs on
//! — a workstation, or a cluster node that a Slurm job was given — with the GPUs the
//! attempt was given (`CUDA_VISIBLE_DEVICES`). The arguments are the engine plugin's, the
//! same as in a container, on a free loopback port; the weights are the downloaded
//! snapshot's path. It runs in a process group of its own, stopped as a whole (SIGTERM,
//! then SIGKILL after a grace period) when the run ends or the attempt dies.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bench_engines::{ContainerSpec, Launch};
use bench_node::outputs::SetupOutput;
use bench_node::{Failure, NodeKind, RuntimeKind};

use super::{EngineRuntime, EngineStart, Finished, RunningEngine};
use crate::{infra, outputs, permanent, read_json};

pub struct Process;

/// How long an engine may take to load when the sweep says nothing (as for containers).
const DEFAULT_READY: Duration = Duration::from_secs(15 * 60);
const STOP_GRACE: Duration = Duration::from_secs(10);

impl EngineRuntime for Process {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Process
    }

    fn start(&self, s: &EngineStart<'_>) -> Result<Box<dyn RunningEngine>, Failure> {
        // The verified snapshot when weights were fetched; else the hub id (the engine
        // fetches it itself).
        let model = match (&s.model.path, s.model.weights) {
            (Some(p), true) => p.clone(),
            _ => s.model.id.clone().unwrap_or_else(|| s.ctx.model.clone()),
        };
        let port = free_port()?;
        let spec = launch_spec(s, &model, port)?;
        let argv = command_line(s.plugin.program(), &spec);
        spawn(s, argv, &spec, port)
    }
}

/// The engine's program run inside the image the setup node recorded, by the command line
/// `wrap` makes of the image, the launch (its volumes: the weights bound where the engine
/// reads them, as in a container) and the program's own command line.
pub(super) fn start_in_image(
    s: &EngineStart<'_>,
    tool: &str,
    wrap: fn(&str, &ContainerSpec, Vec<String>) -> Vec<String>,
) -> Result<Box<dyn RunningEngine>, Failure> {
    let setup_input =
        s.job.inputs_of(NodeKind::Setup).next().ok_or_else(|| {
            permanent(format!("a bench node through {tool} needs its setup node"))
        })?;
    let setup: SetupOutput = read_json(setup_input.output(outputs::SETUP)?)?;
    if setup.image.is_empty() {
        return Err(permanent(format!(
            "engine {} names no image for {tool} to run: give it `image=`",
            s.config.engine
        )));
    }
    let (model, mount) = super::docker::model_mount(s.model, &s.ctx.model)?;
    let port = free_port()?;
    let mut spec = launch_spec(s, &model, port)?;
    if let Some(v) = mount {
        spec.volumes.push(v);
        spec.env.insert("HF_HUB_OFFLINE".into(), "1".into());
    }
    let inner = command_line(s.plugin.program(), &spec);
    let argv = wrap(&setup.image, &spec, inner);
    spawn(s, argv, &spec, port)
}

/// The engine plugin's launch of this configuration: `model` as the engine is to read it,
/// listening on `port`.
pub(super) fn launch_spec(
    s: &EngineStart<'_>,
    model: &str,
    port: u16,
) -> Result<ContainerSpec, Failure> {
    let (c, ctx) = (s.config, s.ctx);
    let point = super::serving_point(c, s.model.facts.as_ref())?;
    let args = super::engine_args(c);
    let secrets: Vec<String> = ctx
        .container
        .as_ref()
        .map(|cc| cc.secrets.clone())
        .unwrap_or_default();
    Ok(s.plugin.container(&Launch {
        point,
        image: "",
        model,
        served_name: &ctx.model,
        hf_cache: None,
        args: &args,
        env: &c.env,
        secrets: &secrets,
        port: Some(port),
    }))
}

/// Starts `argv` (with the spec's environment and the attempt's GPUs) in a process group of
/// its own and waits until the engine answers its health check on `port`.
pub(super) fn spawn(
    s: &EngineStart<'_>,
    argv: Vec<String>,
    spec: &ContainerSpec,
    port: u16,
) -> Result<Box<dyn RunningEngine>, Failure> {
    let (c, ctx) = (s.config, s.ctx);
    let Some((program, rest)) = argv.split_first() else {
        return Err(permanent(format!(
            "engine {} has no command line",
            c.engine
        )));
    };
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .process_group(0);
    if !s.job.gpu_ids.is_empty() {
        let ids: Vec<String> = s.job.gpu_ids.iter().map(u32::to_string).collect();
        cmd.env("CUDA_VISIBLE_DEVICES", ids.join(","));
    }
    // SAFETY: prctl is async-signal-safe; called between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    println!("starting {}", argv.join(" "));
    let child = cmd.spawn().map_err(|e| {
        let host = s.job.host();
        let on = if host.is_empty() {
            "this machine".to_string()
        } else {
            format!("host {host}")
        };
        if e.kind() == std::io::ErrorKind::NotFound {
            permanent(format!(
                "`{program}` is not installed on {on} (not on PATH): install it there, or run \
                 {} in containers (runtime=\"docker\") or simulated (`--simulate`)",
                c.engine
            ))
        } else {
            infra(format!("cannot start `{program}` on {on}: {e}"))
        }
    })?;
    let mut engine = Engine {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let ready = ctx.container.as_ref().map_or(DEFAULT_READY, |cc| {
        Duration::from_secs_f64(cc.ready_timeout_secs.max(1.0))
    });
    engine.wait_ready(&spec.health_path, ready)?;
    Ok(Box::new(engine))
}

/// What runs: the spec's entrypoint where it sets one (a command engine's program), else
/// the plugin's program; then the spec's arguments.
pub(super) fn command_line(program: &[&str], spec: &ContainerSpec) -> Vec<String> {
    match &spec.entrypoint {
        Some(e) => e.clone(),
        None => program.iter().map(|s| s.to_string()).collect(),
    }
    .into_iter()
    .chain(spec.args.iter().cloned())
    .collect()
}

pub(super) fn free_port() -> Result<u16, Failure> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| infra(format!("no free port on this machine: {e}")))
}

struct Engine {
    child: Child,
    url: String,
}

impl Engine {
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn wait_ready(&mut self, health: &str, timeout: Duration) -> Result<(), Failure> {
        let start = Instant::now();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| infra(format!("cannot start a runtime: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| infra(format!("cannot make an HTTP client: {e}")))?;
        let url = format!("{}{health}", self.url);
        loop {
            if let Some(status) = self.exited() {
                return Err(permanent(format!(
                    "the engine exited before it was ready ({status}): see its output above"
                )));
            }
            let ok = rt.block_on(async {
                http.get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            });
            if ok {
                println!(
                    "engine ready at {} after {:.1} s",
                    self.url,
                    start.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(infra(format!(
                    "the engine was not ready within {:.0} s ({url} never answered 200); raise \
                     the engine's ready-timeout if it loads slowly",
                    timeout.as_secs_f64()
                )));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// SIGTERM to the engine's process group, SIGKILL after the grace period.
    fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let pgid = self.child.id() as i32;
        // SAFETY: signalling the process group our own child leads.
        unsafe {
            libc::killpg(pgid, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl RunningEngine for Engine {
    fn url(&self) -> &str {
        &self.url
    }

    fn finish(mut self: Box<Self>) -> Result<Finished, Failure> {
        if let Some(status) = self.exited() {
            return Err(infra(format!(
                "the engine exited during the run ({status}): see its output above"
            )));
        }
        self.stop();
        Ok(Finished::default())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_comes_first_unless_the_spec_names_its_own() {
        let mut spec = ContainerSpec {
            image: String::new(),
            entrypoint: None,
            args: vec!["--port".into(), "41234".into()],
            env: Default::default(),
            pass_env: vec![],
            port: 41234,
            gpus: 0,
            shm_size: 0,
            ipc_host: false,
            volumes: vec![],
            health_path: "/health".into(),
        };
        assert_eq!(
            command_line(&["vllm", "serve"], &spec),
            ["vllm", "serve", "--port", "41234"]
        );
        spec.entrypoint = Some(vec!["./serve".into()]);
        assert_eq!(
            command_line(&["vllm", "serve"], &spec),
            ["./serve", "--port", "41234"]
        );
    }
}
