//! The engine's image through NVIDIA's pyxis and enroot, `runtime="pyxis"` on a Slurm pool:
//! the engine plugin's command line (`vllm serve …`, as for a process) runs as a step of the
//! Slurm job the attempt runs in — `srun --ntasks=1 --container-image=IMAGE
//! --container-mounts=WEIGHTS:INSIDE:ro --no-container-mount-home vllm serve …` — with the
//! job's GPUs, the environment (secrets included: never on the command line) exported to
//! the step, listening on the node's network. Enroot imports a registry image into its
//! cache at first use (`ENROOT_CACHE_PATH`); a squashfs file (`.sqsh`) given as the
//! engine's `image=` is used as it is.

use bench_engines::ContainerSpec;
use bench_node::{Failure, RuntimeKind};

use super::{EngineRuntime, EngineStart, RunningEngine, process};

pub struct Pyxis;

impl EngineRuntime for Pyxis {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Pyxis
    }

    fn start(&self, s: &EngineStart<'_>) -> Result<Box<dyn RunningEngine>, Failure> {
        process::start_in_image(s, "pyxis", srun_line)
    }
}

/// An image as enroot names it: a registry's host set apart by `#`
/// (`nvcr.io#nvidia/pytorch:24.05`), Docker Hub's images and files as they are.
fn enroot_uri(image: &str) -> String {
    let image = image.strip_prefix("docker://").unwrap_or(image);
    if image.starts_with('/') || image.starts_with('.') || image.ends_with(".sqsh") {
        return image.to_string();
    }
    match image.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            format!("{host}#{rest}")
        }
        _ => image.to_string(),
    }
}

/// `srun` of `command` in `image` as one task of the current job, the spec's volumes
/// mounted (`SRC:DST[:ro]`, comma-separated), the home directory not.
fn srun_line(image: &str, spec: &ContainerSpec, command: Vec<String>) -> Vec<String> {
    let mut argv: Vec<String> = vec![
        "srun".into(),
        "--ntasks=1".into(),
        format!("--container-image={}", enroot_uri(image)),
    ];
    if !spec.volumes.is_empty() {
        let mounts: Vec<String> = spec
            .volumes
            .iter()
            .map(|v| {
                let ro = if v.read_only { ":ro" } else { "" };
                format!("{}:{}{ro}", v.host, v.container)
            })
            .collect();
        argv.push(format!("--container-mounts={}", mounts.join(",")));
    }
    argv.push("--no-container-mount-home".into());
    argv.extend(command);
    argv
}

#[cfg(test)]
mod tests {
    use bench_engines::Volume;

    use super::*;

    #[test]
    fn the_engine_runs_as_a_step_in_its_image_with_the_weights_mounted() {
        let spec = ContainerSpec {
            image: String::new(),
            entrypoint: None,
            args: vec!["--model".into(), "/models/m".into()],
            env: [("HF_TOKEN".to_string(), "hf_secret".to_string())].into(),
            pass_env: vec![],
            port: 41234,
            gpus: 8,
            shm_size: 0,
            ipc_host: false,
            volumes: vec![
                Volume {
                    host: "/lustre/m".into(),
                    container: "/models/m".into(),
                    read_only: true,
                },
                Volume {
                    host: "/lustre/hub".into(),
                    container: "/hf/hub".into(),
                    read_only: false,
                },
            ],
            health_path: "/health".into(),
        };
        let argv = srun_line(
            "vllm/vllm-openai:v0.6.3",
            &spec,
            process::command_line(&["vllm", "serve"], &spec),
        );
        assert_eq!(
            argv,
            [
                "srun",
                "--ntasks=1",
                "--container-image=vllm/vllm-openai:v0.6.3",
                "--container-mounts=/lustre/m:/models/m:ro,/lustre/hub:/hf/hub",
                "--no-container-mount-home",
                "vllm",
                "serve",
                "--model",
                "/models/m",
            ]
        );
        assert!(argv.iter().all(|a| !a.contains("hf_secret")));
    }

    #[test]
    fn registries_are_set_apart_by_a_hash_as_enroot_wants() {
        assert_eq!(
            enroot_uri("nvcr.io/nvidia/pytorch:24.05"),
            "nvcr.io#nvidia/pytorch:24.05"
        );
        assert_eq!(enroot_uri("docker://ghcr.io/a/b:1"), "ghcr.io#a/b:1");
        assert_eq!(enroot_uri("localhost:5000/x:1"), "localhost:5000#x:1");
        assert_eq!(
            enroot_uri("vllm/vllm-openai:latest"),
            "vllm/vllm-openai:latest"
        );
        assert_eq!(enroot_uri("ubuntu"), "ubuntu");
        assert_eq!(enroot_uri("/images/vllm.sqsh"), "/images/vllm.sqsh");
    }
}
