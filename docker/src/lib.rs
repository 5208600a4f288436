//! Engines in containers on Docker hosts, through bollard: the local socket or remote
//! `tcp://` hosts with TLS.
//!
//! * [`DockerHost`]: a connection with its own small runtime, so that node actions (plain
//!   synchronous code) can use it;
//! * [`images`]: an image's digest on a host, pulled with progress when missing;
//! * [`engine`]: an engine container from an engine plugin's [`ContainerSpec`], labelled,
//!   on exactly the GPUs the scheduler assigned, waited on until ready, its logs streamed
//!   into the node's log, stopped and removed whatever happens;
//! * [`hygiene`]: bench's containers found by label, and those of dead builds reaped;
//! * [`gpus`]: GPU discovery (NVML, `nvidia-smi`, or what Docker reports) and telemetry
//!   sampled while a bench node runs.
//!
//! [`ContainerSpec`]: bench_engines::ContainerSpec

pub mod engine;
pub mod gpus;
pub mod hygiene;
pub mod images;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bench_node::{Failure, FailureClass};
use bollard::Docker;
use serde::{Deserialize, Serialize};

pub use engine::{EngineRun, RunningEngine, container_body, exit_cleanly_on_signals};
pub use hygiene::{BenchContainer, Labels};

/// Where a Docker Engine is: `None` is the local one (`DOCKER_HOST`, else the local
/// socket); otherwise `unix:///path` or `tcp://host:port`, with TLS client certificates
/// from `tls_dir` (`ca.pem`, `cert.pem`, `key.pem`, as in `DOCKER_CERT_PATH`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    pub address: Option<String>,
    pub tls_dir: Option<PathBuf>,
}

impl Endpoint {
    pub fn local() -> Self {
        Self::default()
    }

    /// The address as the user would write it.
    pub fn describe(&self) -> String {
        match &self.address {
            Some(a) => a.clone(),
            None => std::env::var("DOCKER_HOST")
                .unwrap_or_else(|_| "unix:///var/run/docker.sock".into()),
        }
    }

    /// The host name published ports are reached on.
    pub fn published_host(&self) -> String {
        let a = self.describe();
        match a
            .strip_prefix("tcp://")
            .or_else(|| a.strip_prefix("https://"))
            .or_else(|| a.strip_prefix("http://"))
        {
            Some(rest) => rest
                .rsplit_once(':')
                .map_or(rest, |(h, _)| h)
                .trim_end_matches('/')
                .to_string(),
            None => "127.0.0.1".into(),
        }
    }

    /// Whether the engine runs on this machine (its GPUs are this machine's).
    pub fn is_local(&self) -> bool {
        self.published_host() == "127.0.0.1" || self.published_host() == "localhost"
    }
}

/// A connected Docker host with a runtime of its own.
pub struct DockerHost {
    pub endpoint: Endpoint,
    pub(crate) docker: Docker,
    rt: tokio::runtime::Runtime,
}

/// Requests that answer at once (inspect, create, list) give up after this long.
const API_TIMEOUT: Duration = Duration::from_secs(60);

impl DockerHost {
    /// Connects and checks that the daemon answers.
    pub fn connect(endpoint: &Endpoint) -> Result<Arc<Self>, Failure> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("docker")
            .enable_all()
            .build()
            .map_err(|e| infra(format!("cannot start a runtime for Docker: {e}")))?;
        let docker = {
            let _g = rt.enter();
            client(endpoint)?
        };
        let host = Arc::new(Self {
            endpoint: endpoint.clone(),
            docker,
            rt,
        });
        let ping = host.block(async {
            tokio::time::timeout(Duration::from_secs(10), host.docker.ping()).await
        });
        match ping {
            Ok(Ok(_)) => Ok(host),
            Ok(Err(e)) => Err(infra(format!(
                "cannot reach Docker at {}: {e} (is the daemon running, and may this user use it?)",
                endpoint.describe()
            ))),
            Err(_) => Err(infra(format!(
                "Docker at {} did not answer within 10 s",
                endpoint.describe()
            ))),
        }
    }

    /// Runs a future on the host's runtime.
    pub fn block<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// The bollard client, for what this crate does not wrap.
    pub fn client(&self) -> &Docker {
        &self.docker
    }
}

fn client(endpoint: &Endpoint) -> Result<Docker, Failure> {
    let bad = |e: bollard::errors::Error| {
        permanent(format!(
            "cannot use the Docker address {}: {e}",
            endpoint.describe()
        ))
    };
    let d = match endpoint.address.as_deref() {
        None => Docker::connect_with_defaults().map_err(bad)?,
        Some(a) if a.starts_with("unix://") => {
            Docker::connect_with_unix(a, 120, bollard::API_DEFAULT_VERSION).map_err(bad)?
        }
        Some(a) if a.starts_with("tcp://") || a.starts_with("https://") => {
            match &endpoint.tls_dir {
                Some(dir) => {
                    for f in ["ca.pem", "cert.pem", "key.pem"] {
                        if !dir.join(f).is_file() {
                            return Err(permanent(format!(
                                "tls-dir {} has no {f} (it holds ca.pem, cert.pem and key.pem, as DOCKER_CERT_PATH does)",
                                dir.display()
                            )));
                        }
                    }
                    Docker::connect_with_ssl(
                        a,
                        &dir.join("key.pem"),
                        &dir.join("cert.pem"),
                        &dir.join("ca.pem"),
                        120,
                        bollard::API_DEFAULT_VERSION,
                    )
                    .map_err(bad)?
                }
                None => {
                    Docker::connect_with_http(a, 120, bollard::API_DEFAULT_VERSION).map_err(bad)?
                }
            }
        }
        Some(a) => {
            return Err(permanent(format!(
                "unsupported Docker address `{a}`: use unix:///path or tcp://host:port (with tls-dir= for TLS)"
            )));
        }
    };
    Ok(d.with_timeout(API_TIMEOUT))
}

pub(crate) fn infra(msg: impl Into<String>) -> Failure {
    Failure::new(FailureClass::Infrastructure, msg)
}

pub(crate) fn permanent(msg: impl Into<String>) -> Failure {
    Failure::new(FailureClass::Permanent, msg)
}

/// Whether a bollard error is the daemon's 404.
pub(crate) fn not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_host_of_addresses() {
        let e = |a: &str| Endpoint {
            address: Some(a.into()),
            tls_dir: None,
        };
        assert_eq!(e("tcp://gpu-a:2376").published_host(), "gpu-a");
        assert_eq!(e("tcp://10.0.0.5:2375/").published_host(), "10.0.0.5");
        assert_eq!(e("unix:///run/docker.sock").published_host(), "127.0.0.1");
        assert!(e("unix:///run/docker.sock").is_local());
        assert!(!e("tcp://gpu-a:2376").is_local());
    }

    #[test]
    fn tls_dir_without_its_files_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let ep = Endpoint {
            address: Some("tcp://gpu-a:2376".into()),
            tls_dir: Some(dir.path().to_path_buf()),
        };
        let err = client(&ep).err().unwrap();
        assert!(err.message.contains("has no ca.pem"), "{}", err.message);
        let err = client(&Endpoint {
            address: Some("ssh://gpu-a".into()),
            tls_dir: None,
        })
        .err()
        .unwrap();
        assert!(err.message.contains("unsupported Docker address"));
    }
}
