//! The engine's image through Apptainer (formerly Singularity), `runtime="apptainer"`: GPU
//! clusters rarely run Docker, and Apptainer runs the same images unprivileged. The
//! engine plugin's command line (`vllm serve …`, as for a process) runs inside the image
//! the setup node recorded — `apptainer exec --nv --bind … docker://IMAGE PROGRAM ARGS…`
//! — as a child process of the attempt, on the host or Slurm node the attempt runs on,
//! with the GPUs it was given (`CUDA_VISIBLE_DEVICES`, which Apptainer passes in with the
//! rest of the environment, secrets included: they never appear on the command line). The
//! weights are bound where the engine reads them, as in a container; the engine listens on
//! the host's network, on a free loopback port. Apptainer converts a registry image once
//! into its cache (`APPTAINER_CACHEDIR`, shared by a cluster's nodes when it is on the
//! shared filesystem); a local `.sif` file or any Apptainer URI (`oras://`, `library://`)
//! given as the engine's `image=` is used as it is.

use bench_engines::ContainerSpec;
use bench_node::{Failure, RuntimeKind};

use super::{EngineRuntime, EngineStart, RunningEngine, process};

pub struct Apptainer;

impl EngineRuntime for Apptainer {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Apptainer
    }

    fn start(&self, s: &EngineStart<'_>) -> Result<Box<dyn RunningEngine>, Failure> {
        process::start_in_image(s, "Apptainer", exec_line)
    }
}

/// What Apptainer runs: a registry reference as `docker://…`; a `.sif` file or a reference
/// with a scheme as it is.
fn image_uri(image: &str) -> String {
    if image.contains("://") || image.ends_with(".sif") || image.starts_with('/') {
        image.to_string()
    } else {
        format!("docker://{image}")
    }
}

/// `apptainer exec` of `command` in `image`: NVIDIA's libraries and devices bound in when
/// the engine has GPUs (`--nv`), the spec's volumes bound (`--bind HOST:INSIDE[:ro]`).
fn exec_line(image: &str, spec: &ContainerSpec, command: Vec<String>) -> Vec<String> {
    let mut argv: Vec<String> = vec!["apptainer".into(), "exec".into()];
    if spec.gpus > 0 {
        argv.push("--nv".into());
    }
    for v in &spec.volumes {
        argv.push("--bind".into());
        let ro = if v.read_only { ":ro" } else { "" };
        argv.push(format!("{}:{}{ro}", v.host, v.container));
    }
    argv.push(image_uri(image));
    argv.extend(command);
    argv
}

#[cfg(test)]
mod tests {
    use bench_engines::Volume;

    use super::*;

    fn spec(gpus: u32) -> ContainerSpec {
        ContainerSpec {
            image: String::new(),
            entrypoint: None,
            args: vec!["--model".into(), "/hf/hub/m".into()],
            env: [("HF_TOKEN".to_string(), "hf_secret".to_string())].into(),
            pass_env: vec![],
            port: 41234,
            gpus,
            shm_size: 0,
            ipc_host: false,
            volumes: vec![Volume {
                host: "/shared/cache/hub".into(),
                container: "/hf/hub".into(),
                read_only: false,
            }],
            health_path: "/health".into(),
        }
    }

    #[test]
    fn the_engine_runs_inside_the_image_with_gpus_and_weights_bound() {
        let s = spec(2);
        let inner = process::command_line(&["vllm", "serve"], &s);
        assert_eq!(
            exec_line("vllm/vllm-openai:v0.6.3", &s, inner),
            [
                "apptainer",
                "exec",
                "--nv",
                "--bind",
                "/shared/cache/hub:/hf/hub",
                "docker://vllm/vllm-openai:v0.6.3",
                "vllm",
                "serve",
                "--model",
                "/hf/hub/m",
            ]
        );
        // No GPUs, no `--nv`; a read-only volume stays read-only.
        let mut s = spec(0);
        s.volumes[0].read_only = true;
        let argv = exec_line("/images/vllm.sif", &s, vec!["vllm".into()]);
        assert_eq!(
            argv,
            [
                "apptainer",
                "exec",
                "--bind",
                "/shared/cache/hub:/hf/hub:ro",
                "/images/vllm.sif",
                "vllm"
            ]
        );
    }

    #[test]
    fn images_become_apptainer_uris_and_secrets_stay_off_the_command_line() {
        assert_eq!(image_uri("ghcr.io/a/b:1"), "docker://ghcr.io/a/b:1");
        assert_eq!(image_uri("oras://ghcr.io/a/b:1"), "oras://ghcr.io/a/b:1");
        assert_eq!(image_uri("vllm.sif"), "vllm.sif");
        let s = spec(1);
        let argv = exec_line("x", &s, process::command_line(&["e"], &s));
        assert!(argv.iter().all(|a| !a.contains("hf_secret")), "{argv:?}");
    }
}
