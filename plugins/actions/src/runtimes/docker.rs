//! Bench nodes on Docker hosts: the engine plugin's container spec, run by bench-docker on
//! the GPUs the scheduler assigned, with GPU telemetry sampled meanwhile where this
//! machine can see the GPUs.

use std::sync::Arc;
use std::time::Duration;

use bench_docker::gpus::Sampler;
use bench_docker::{DockerHost, Endpoint, EngineRun, Labels};
use bench_engines::Launch;
use bench_node::outputs::{ContainerInfo, ModelInfo, SetupOutput};
use bench_node::{Failure, HostTarget, NodeKind, RuntimeKind};

use super::{EngineRuntime, EngineStart, Finished, RunningEngine};
use crate::{infra, outputs, permanent, read_json};

/// The engine plugin's container spec, run by bench-docker on the GPUs the scheduler
/// assigned, with GPU telemetry sampled meanwhile where this machine can see the GPUs.
pub struct Docker;

/// A Docker host's address as bench-docker takes it.
pub fn endpoint(t: &HostTarget) -> Endpoint {
    Endpoint {
        address: t.address.clone(),
        tls_dir: t.tls_dir.clone().map(Into::into),
    }
}

struct Started {
    engine: bench_docker::RunningEngine,
    sampler: Option<Sampler>,
    info: ContainerInfo,
}

impl RunningEngine for Started {
    fn url(&self) -> &str {
        &self.engine.url
    }

    fn finish(self: Box<Self>) -> Result<Finished, Failure> {
        if let Some(exit) = self.engine.exited()? {
            return Err(infra(format!(
                "the engine exited during the run ({exit}); its last lines:\n{}",
                self.engine.last_lines(50)
            )));
        }
        let telemetry = self.sampler.and_then(|x| x.finish());
        self.engine.stop()?;
        Ok(Finished {
            telemetry,
            container: Some(self.info),
        })
    }
}

impl EngineRuntime for Docker {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Docker
    }

    fn start(&self, s: &EngineStart<'_>) -> Result<Box<dyn RunningEngine>, Failure> {
        let (job, c, ctx) = (s.job, s.config, s.ctx);
        let setup_input = job
            .inputs_of(NodeKind::Setup)
            .next()
            .ok_or_else(|| permanent("a bench node in a container needs its setup node"))?;
        let setup: SetupOutput = read_json(setup_input.output(outputs::SETUP)?)?;
        let target = job
            .target
            .as_ref()
            .ok_or_else(|| permanent("a Docker bench node without its host"))?;
        let cc = ctx.container.as_ref().ok_or_else(|| {
            permanent("a Docker bench node without its build's container context")
        })?;
        let ep = endpoint(target);
        let host: Arc<DockerHost> = DockerHost::connect(&ep)?;
        let point = super::serving_point(c, s.model.facts.as_ref())?;
        let args = super::engine_args(c);
        // Run the exact image the setup node recorded, not whatever the tag names now.
        let image = setup
            .image_id
            .clone()
            .unwrap_or_else(|| setup.image.clone());
        let (model_arg, mount) = model_mount(s.model, &ctx.model)?;
        let mut spec = s.plugin.container(&Launch {
            point,
            image: &image,
            model: &model_arg,
            served_name: &ctx.model,
            hf_cache: None,
            args: &args,
            env: &c.env,
            secrets: &cc.secrets,
            port: None,
        });
        if let Some(v) = mount {
            spec.volumes.push(v);
            spec.env.insert("HF_HUB_OFFLINE".into(), "1".into());
        }
        if c.engine == "sim" {
            spec.args.extend(super::sim_noise_args(c, s.repeat));
        }
        let short_key = &job.key[..job.key.len().min(12)];
        let short_build = &cc.build[..cc.build.len().min(8)];
        let run = EngineRun {
            spec: &spec,
            name: format!("bench-{short_key}-{short_build}-{}", job.attempt),
            labels: Labels {
                node: job.key.clone(),
                label: job.label.clone(),
                sweep: cc.sweep.clone(),
                build: cc.build.clone(),
                cache: cc.cache.clone(),
            },
            gpu_ids: &job.gpu_ids,
            ready_timeout: Duration::from_secs_f64(cc.ready_timeout_secs.max(1.0)),
            stop_grace: Duration::from_secs(10),
        };
        let engine = host.start_engine(&run)?;
        // Telemetry where this machine sees the GPUs: the engine's host is this machine.
        let sampler = (spec.gpus > 0 && ep.is_local() && !job.gpu_ids.is_empty())
            .then(|| Sampler::start(&job.gpu_ids, Duration::from_millis(500)))
            .flatten();
        if spec.gpus > 0 && sampler.is_none() {
            println!(
                "no GPU telemetry for this run (NVML is not reachable for these GPUs from here)"
            );
        }
        Ok(Box::new(Started {
            info: ContainerInfo {
                name: engine.name.clone(),
                image: setup.image.clone(),
                image_id: setup.image_id.clone(),
                docker: ep.describe(),
            },
            engine,
            sampler,
        }))
    }
}

/// How the engine in a container names its model, and what to mount for it. Fetched
/// weights are mounted and named by their path inside the container, so the engine loads
/// exactly what was downloaded and verified, offline: the hub cache at the container's
/// (`…/hub/models--ORG--NAME/snapshots/COMMIT`), or a local directory read-only under
/// `/models`. Without weights, the hub id (the engine fetches it itself). A remote Docker
/// host must see the same host path (a shared filesystem).
pub(crate) fn model_mount(
    model: &ModelInfo,
    served: &str,
) -> Result<(String, Option<bench_engines::Volume>), Failure> {
    Ok(match (&model.path, model.weights) {
        (Some(host_path), true) => {
            let host_path = std::path::Path::new(host_path);
            match model.source.as_str() {
                "hub" => {
                    let hub = host_path
                        .ancestors()
                        .nth(3)
                        .ok_or_else(|| permanent("a snapshot path outside a hub cache"))?;
                    let rel = host_path.strip_prefix(hub).unwrap_or(host_path);
                    let inside =
                        format!("{}/hub/{}", bench_engines::CONTAINER_HF_HOME, rel.display());
                    (
                        inside,
                        Some(bench_engines::Volume {
                            host: hub.display().to_string(),
                            container: format!("{}/hub", bench_engines::CONTAINER_HF_HOME),
                            read_only: false,
                        }),
                    )
                }
                _ => {
                    let name = host_path
                        .file_name()
                        .map_or("model".into(), |n| n.to_string_lossy().to_string());
                    let inside = format!("/models/{name}");
                    (
                        inside.clone(),
                        Some(bench_engines::Volume {
                            host: host_path.display().to_string(),
                            container: inside,
                            read_only: true,
                        }),
                    )
                }
            }
        }
        _ => (
            model
                .id
                .clone()
                .or_else(|| model.path.clone())
                .unwrap_or_else(|| served.to_string()),
            None,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(source: &str, id: Option<&str>, path: Option<&str>, weights: bool) -> ModelInfo {
        ModelInfo {
            source: source.into(),
            id: id.map(Into::into),
            revision: None,
            path: path.map(Into::into),
            weights,
            ..Default::default()
        }
    }

    #[test]
    fn fetched_hub_weights_are_the_mounted_snapshot() {
        let m = info(
            "hub",
            Some("acme/tiny"),
            Some("/data/hf/hub/models--acme--tiny/snapshots/0123abcd"),
            true,
        );
        let (arg, vol) = model_mount(&m, "tiny").unwrap();
        assert_eq!(
            arg,
            "/root/.cache/huggingface/hub/models--acme--tiny/snapshots/0123abcd"
        );
        let v = vol.unwrap();
        assert_eq!(v.host, "/data/hf/hub");
        assert_eq!(v.container, "/root/.cache/huggingface/hub");
    }

    #[test]
    fn local_directories_are_mounted_read_only_and_facts_only_models_pass_their_id() {
        let m = info("local", None, Some("/srv/models/tiny-v2"), true);
        let (arg, vol) = model_mount(&m, "tiny").unwrap();
        assert_eq!(arg, "/models/tiny-v2");
        let v = vol.unwrap();
        assert!(v.read_only);
        assert_eq!(v.host, "/srv/models/tiny-v2");
        let m = info("hub", Some("acme/tiny"), None, false);
        assert_eq!(model_mount(&m, "tiny").unwrap(), ("acme/tiny".into(), None));
    }
}
