//! One engine in one container for one bench attempt.
//!
//! [`DockerHost::start_engine`] creates the container from the plugin's [`ContainerSpec`]
//! (labels, GPU device requests for exactly the assigned ids, shared memory and IPC,
//! volumes, environment with secrets passed through but never recorded, an ephemeral
//! published port), starts it, streams its logs into the node's log and waits until the
//! engine answers its health route. The container exiting meanwhile fails at once with its
//! last 50 log lines. [`RunningEngine`] stops the container gracefully, then kills and
//! removes it: when dropped (success, failure, panic), and from a signal handler
//! ([`exit_cleanly_on_signals`]) when the attempt is told to stop (Ctrl-C, a spot drain,
//! the build dying).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bench_engines::ContainerSpec;
use bench_node::Failure;
use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, StartContainerOptions,
    StopContainerOptionsBuilder,
};
use futures::StreamExt;

use crate::hygiene::Labels;
use crate::{DockerHost, Endpoint, infra, not_found, permanent};

/// What to run.
#[derive(Clone, Debug)]
pub struct EngineRun<'a> {
    pub spec: &'a ContainerSpec,
    /// The container's name (unique per attempt).
    pub name: String,
    pub labels: Labels,
    /// The host's GPU ids the scheduler assigned to this attempt.
    pub gpu_ids: &'a [u32],
    /// How long the engine may take to answer its health route.
    pub ready_timeout: Duration,
    /// Between the stop signal and the kill.
    pub stop_grace: Duration,
}

/// The container's configuration, as sent to the daemon. `publish_on` is the host address
/// the engine's port is published on (loopback for the local daemon); `lookup` reads the
/// variables passed through.
pub fn container_body(
    run: &EngineRun<'_>,
    publish_on: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> ContainerCreateBody {
    let s = run.spec;
    let port = format!("{}/tcp", s.port);
    let mut env: Vec<String> = s.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for name in &s.pass_env {
        if let Some(v) = lookup(name) {
            env.push(format!("{name}={v}"));
        }
    }
    let device_requests = (s.gpus > 0).then(|| {
        let ids: Vec<String> = run.gpu_ids.iter().map(u32::to_string).collect();
        vec![DeviceRequest {
            driver: Some("nvidia".into()),
            count: ids.is_empty().then_some(i64::from(s.gpus)),
            device_ids: (!ids.is_empty()).then_some(ids),
            capabilities: Some(vec![vec!["gpu".into()]]),
            options: None,
        }]
    });
    let binds: Vec<String> = s
        .volumes
        .iter()
        .map(|v| {
            format!(
                "{}:{}{}",
                v.host,
                v.container,
                if v.read_only { ":ro" } else { "" }
            )
        })
        .collect();
    ContainerCreateBody {
        image: Some(s.image.clone()),
        entrypoint: s.entrypoint.clone(),
        cmd: Some(s.args.clone()),
        env: Some(env),
        labels: Some(run.labels.to_map()),
        exposed_ports: Some(HashMap::from([(port.clone(), HashMap::new())])),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(
                port,
                Some(vec![PortBinding {
                    host_ip: Some(publish_on.to_string()),
                    host_port: None,
                }]),
            )])),
            device_requests,
            shm_size: Some(s.shm_size as i64),
            ipc_mode: s.ipc_host.then(|| "host".to_string()),
            binds: (!binds.is_empty()).then_some(binds),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Containers this process started and has not removed yet, for the signal handler.
static LIVE: Mutex<Vec<(Endpoint, String)>> = Mutex::new(Vec::new());

fn register(ep: &Endpoint, id: &str) {
    if let Ok(mut l) = LIVE.lock() {
        l.push((ep.clone(), id.to_string()));
    }
}

fn unregister(id: &str) {
    if let Ok(mut l) = LIVE.lock() {
        l.retain(|(_, x)| x != id);
    }
}

/// On SIGTERM, SIGINT or SIGHUP, removes every container this process started, then
/// exits (128 + the signal). Node attempts call it first thing: a build that stops them
/// (Ctrl-C, spot drain, the build itself dying) leaves no engine running.
pub fn exit_cleanly_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            remove_live_containers();
            std::process::exit(128 + sig);
        }
    });
}

/// Removes the containers this process started (see [`exit_cleanly_on_signals`]).
pub fn remove_live_containers() {
    let live: Vec<(Endpoint, String)> = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
    for (ep, id) in live {
        match DockerHost::connect(&ep).and_then(|h| h.remove_container(&id)) {
            Ok(()) => println!("stopped: removed engine container {}", short(&id)),
            Err(e) => eprintln!(
                "stopped: could not remove engine container {}: {}",
                short(&id),
                e.message
            ),
        }
        unregister(&id);
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// A started engine container; stopped and removed when dropped.
pub struct RunningEngine {
    host: Arc<DockerHost>,
    pub id: String,
    pub name: String,
    /// Where the engine serves, from this machine.
    pub url: String,
    grace: Duration,
    logs: Option<tokio::task::JoinHandle<()>>,
    removed: bool,
}

impl DockerHost {
    /// Starts an engine and waits until it is ready (see the module's documentation).
    pub fn start_engine(self: &Arc<Self>, run: &EngineRun<'_>) -> Result<RunningEngine, Failure> {
        let publish_on = if self.endpoint.is_local() {
            "127.0.0.1"
        } else {
            "0.0.0.0"
        };
        let body = container_body(run, publish_on, &|k| std::env::var(k).ok());
        let opts = CreateContainerOptionsBuilder::new().name(&run.name).build();
        let image = &run.spec.image;
        let created = self
            .block(self.docker.create_container(Some(opts), body))
            .map_err(|e| {
                if not_found(&e) {
                    permanent(format!(
                        "the image {image} is not on {} (its setup node makes sure it is; was it removed since?)",
                        self.endpoint.describe()
                    ))
                } else {
                    infra(format!(
                        "cannot create the engine container on {}: {e}",
                        self.endpoint.describe()
                    ))
                }
            })?;
        register(&self.endpoint, &created.id);
        let mut engine = RunningEngine {
            host: Arc::clone(self),
            id: created.id,
            name: run.name.clone(),
            url: String::new(),
            grace: run.stop_grace,
            logs: None,
            removed: false,
        };
        println!(
            "engine container {} ({}) from {image} on {}{}",
            engine.name,
            short(&engine.id),
            self.endpoint.describe(),
            if run.gpu_ids.is_empty() {
                String::new()
            } else {
                format!(
                    ", GPUs {}",
                    run.gpu_ids
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                )
            }
        );
        if let Err(e) = self.block(
            self.docker
                .start_container(&engine.id, None::<StartContainerOptions>),
        ) {
            let msg = e.to_string();
            return Err(if msg.contains("device driver") || msg.contains("nvidia") {
                permanent(format!(
                    "cannot start the engine on {}: {msg} (GPU containers need the NVIDIA \
                     container toolkit on the host)",
                    self.endpoint.describe()
                ))
            } else {
                infra(format!(
                    "cannot start the engine container on {}: {msg}",
                    self.endpoint.describe()
                ))
            });
        }
        engine.logs = Some(self.follow_logs(&engine.id));
        engine.wait_ready(run.spec.port, &run.spec.health_path, run.ready_timeout)?;
        Ok(engine)
    }

    /// Copies the container's output into this process's standard output (the node's
    /// log), line by line, prefixed `engine| `.
    fn follow_logs(&self, id: &str) -> tokio::task::JoinHandle<()> {
        // Streams outlive the API timeout.
        let docker = self
            .docker
            .clone()
            .with_timeout(Duration::from_secs(30 * 24 * 3600));
        let id = id.to_string();
        self.rt.spawn(async move {
            let opts = LogsOptionsBuilder::new()
                .follow(true)
                .stdout(true)
                .stderr(true)
                .build();
            let mut stream = docker.logs(&id, Some(opts));
            let mut pending = String::new();
            while let Some(Ok(chunk)) = stream.next().await {
                pending.push_str(&chunk.to_string());
                while let Some(i) = pending.find('\n') {
                    let line: String = pending.drain(..=i).collect();
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "engine| {}", line.trim_end());
                    let _ = out.flush();
                }
            }
            if !pending.is_empty() {
                println!("engine| {pending}");
            }
        })
    }

    /// The last `n` lines the container wrote.
    pub fn last_lines(&self, id: &str, n: usize) -> String {
        let opts = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail(&n.to_string())
            .build();
        let chunks: Vec<String> = self.block(async {
            self.docker
                .logs(id, Some(opts))
                .filter_map(|c| async move { c.ok().map(|c| c.to_string()) })
                .collect()
                .await
        });
        let text = chunks.concat();
        if text.trim().is_empty() {
            "(it wrote nothing)".into()
        } else {
            text.lines()
                .map(|l| format!("  | {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        }
    }
}

const NO_OPTS: Option<bollard::query_parameters::InspectContainerOptions> = None;

/// How an inspected container ended, `None` while it runs (or has not started).
fn exit_of(i: &bollard::models::ContainerInspectResponse) -> Option<Exit> {
    let st = i.state.clone().unwrap_or_default();
    if st.running == Some(true) || st.status.map(|s| s.to_string()).as_deref() == Some("created") {
        return None;
    }
    Some(Exit {
        code: st.exit_code.unwrap_or(-1),
        oom_killed: st.oom_killed.unwrap_or(false),
    })
}

/// The host port an inspected container's `port` is published on.
fn published_port(i: &bollard::models::ContainerInspectResponse, port: u16) -> Option<String> {
    i.network_settings
        .as_ref()?
        .ports
        .as_ref()?
        .get(&format!("{port}/tcp"))?
        .as_ref()?
        .iter()
        .find_map(|b| b.host_port.clone().filter(|p| !p.is_empty()))
}

/// How a container ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    pub code: i64,
    pub oom_killed: bool,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit code {}", self.code)?;
        if self.oom_killed {
            write!(f, ", killed for lack of memory")?;
        }
        Ok(())
    }
}

impl RunningEngine {
    /// How the container ended, `None` while it runs.
    pub fn exited(&self) -> Result<Option<Exit>, Failure> {
        Ok(exit_of(&self.inspect()?))
    }

    fn inspect(&self) -> Result<bollard::models::ContainerInspectResponse, Failure> {
        self.host
            .block(self.host.docker.inspect_container(&self.id, NO_OPTS))
            .map_err(|e| infra(format!("cannot inspect the engine container: {e}")))
    }

    /// The last `n` lines the engine wrote.
    pub fn last_lines(&self, n: usize) -> String {
        self.host.last_lines(&self.id, n)
    }

    fn wait_ready(&mut self, port: u16, health: &str, timeout: Duration) -> Result<(), Failure> {
        let start = Instant::now();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| infra(format!("cannot make an HTTP client: {e}")))?;
        loop {
            // One inspection per poll: whether it still runs, and (once) its port.
            let i = self.inspect()?;
            if let Some(exit) = exit_of(&i) {
                return Err(permanent(format!(
                    "the engine exited before it was ready ({exit}); its last lines:\n{}",
                    self.last_lines(50)
                )));
            }
            if self.url.is_empty()
                && let Some(p) = published_port(&i, port)
            {
                self.url = format!("http://{}:{p}", self.host.endpoint.published_host());
            }
            if !self.url.is_empty() {
                let url = format!("{}{health}", self.url);
                let ok = self.host.block(async {
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
            }
            if start.elapsed() >= timeout {
                return Err(infra(format!(
                    "the engine was not ready within {} ({}{health} never answered 200); \
                     raise the engine's ready-timeout if it loads slowly. Its last lines:\n{}",
                    humantime::format_duration(Duration::from_secs(timeout.as_secs().max(1))),
                    if self.url.is_empty() {
                        "its port"
                    } else {
                        &self.url
                    },
                    self.last_lines(50)
                )));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Stops the engine (SIGTERM, then SIGKILL after the grace period) and removes it.
    pub fn stop(mut self) -> Result<(), Failure> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), Failure> {
        if self.removed {
            return Ok(());
        }
        self.removed = true;
        let opts = StopContainerOptionsBuilder::new()
            .t(self.grace.as_secs().max(1) as i32)
            .build();
        let _ = self
            .host
            .block(self.host.docker.stop_container(&self.id, Some(opts)));
        let r = self.host.remove_container(&self.id);
        if let Some(l) = self.logs.take() {
            l.abort();
        }
        unregister(&self.id);
        if r.is_ok() {
            println!("engine container {} stopped and removed", self.name);
        }
        r
    }
}

impl Drop for RunningEngine {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            eprintln!("{}", e.message);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bench_engines::Volume;

    use super::*;

    fn spec(gpus: u32) -> ContainerSpec {
        ContainerSpec {
            image: "vllm/vllm-openai:v0.9.2".into(),
            entrypoint: None,
            args: vec!["--model".into(), "m".into()],
            env: BTreeMap::from([("HF_HOME".into(), "/root/.cache/huggingface".into())]),
            pass_env: vec!["HF_TOKEN".into(), "MISSING".into()],
            port: 8000,
            gpus,
            shm_size: 16 << 30,
            ipc_host: gpus > 1,
            volumes: vec![Volume {
                host: "/data/hf".into(),
                container: "/root/.cache/huggingface".into(),
                read_only: false,
            }],
            health_path: "/health".into(),
        }
    }

    fn run<'a>(s: &'a ContainerSpec, ids: &'a [u32]) -> EngineRun<'a> {
        EngineRun {
            spec: s,
            name: "bench-abc".into(),
            labels: Labels {
                node: "k".into(),
                label: "bench x".into(),
                sweep: "demo".into(),
                build: "b1".into(),
                cache: "h:/c".into(),
            },
            gpu_ids: ids,
            ready_timeout: Duration::from_secs(5),
            stop_grace: Duration::from_secs(5),
        }
    }

    #[test]
    fn gpus_requested_by_exactly_the_assigned_ids() {
        let s = spec(2);
        let b = container_body(&run(&s, &[2, 3]), "127.0.0.1", &|_| None);
        let hc = b.host_config.unwrap();
        let dr = &hc.device_requests.unwrap()[0];
        assert_eq!(dr.driver.as_deref(), Some("nvidia"));
        assert_eq!(dr.device_ids, Some(vec!["2".to_string(), "3".to_string()]));
        assert_eq!(dr.count, None);
        assert_eq!(dr.capabilities, Some(vec![vec!["gpu".to_string()]]));
        assert_eq!(hc.ipc_mode.as_deref(), Some("host"));
        assert_eq!(hc.shm_size, Some(16 << 30));
        assert_eq!(
            hc.binds,
            Some(vec!["/data/hf:/root/.cache/huggingface".to_string()])
        );
        // Published on loopback, ephemeral port.
        let pb = hc.port_bindings.unwrap();
        let b0 = &pb["8000/tcp"].as_ref().unwrap()[0];
        assert_eq!(b0.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(b0.host_port, None);
    }

    #[test]
    fn the_image_entrypoint_is_kept_unless_the_spec_names_a_program() {
        let mut s = spec(1);
        let b = container_body(&run(&s, &[0]), "127.0.0.1", &|_| None);
        assert_eq!(b.entrypoint, None);
        // An engine declared by its command line: its program replaces the entrypoint.
        s.entrypoint = Some(vec!["/opt/serve".into()]);
        let b = container_body(&run(&s, &[0]), "127.0.0.1", &|_| None);
        assert_eq!(b.entrypoint, Some(vec!["/opt/serve".to_string()]));
        assert_eq!(b.cmd, Some(vec!["--model".to_string(), "m".to_string()]));
    }

    #[test]
    fn no_gpu_request_for_a_gpu_less_engine_and_count_without_ids() {
        let s = spec(0);
        let b = container_body(&run(&s, &[]), "0.0.0.0", &|_| None);
        assert!(b.host_config.unwrap().device_requests.is_none());
        let s = spec(4);
        let b = container_body(&run(&s, &[]), "0.0.0.0", &|_| None);
        let dr = &b.host_config.unwrap().device_requests.unwrap()[0];
        assert_eq!(dr.count, Some(4));
        assert_eq!(dr.device_ids, None);
    }

    #[test]
    fn secrets_pass_through_only_when_set_and_labels_name_the_node() {
        let s = spec(1);
        let b = container_body(&run(&s, &[0]), "127.0.0.1", &|k| {
            (k == "HF_TOKEN").then(|| "hf_secret".to_string())
        });
        let env = b.env.unwrap();
        assert!(env.contains(&"HF_TOKEN=hf_secret".to_string()));
        assert!(env.contains(&"HF_HOME=/root/.cache/huggingface".to_string()));
        assert!(!env.iter().any(|e| e.starts_with("MISSING")));
        let labels = b.labels.unwrap();
        assert_eq!(labels["bench.node"], "k");
        assert_eq!(labels["bench.build"], "b1");
        assert_eq!(labels["bench.sweep"], "demo");
        assert_eq!(labels["bench.cache"], "h:/c");
        assert_eq!(b.cmd.unwrap(), vec!["--model", "m"]);
    }
}
