//! What an engine plugin produces for the executors: a container spec.

use std::collections::BTreeMap;

use bench_catalog::{Dtype, Quantization};
use serde::Serialize;

use crate::ServingPoint;

/// Everything needed to launch one engine for one configuration.
#[derive(Clone, Debug)]
pub struct Launch<'a> {
    pub point: ServingPoint<'a>,
    pub image: &'a str,
    /// The model as the engine should load it: a path inside the container or a hub id.
    pub model: &'a str,
    /// The name requests use.
    pub served_name: &'a str,
    /// The host's Hugging Face cache, mounted read-write at the container's.
    pub hf_cache: Option<&'a str>,
    /// Extra arguments from the sweep (engine block and engine-arg axes), in order.
    pub args: &'a [(String, Option<String>)],
    pub env: &'a BTreeMap<String, String>,
    /// Variables passed through from bench's environment; never recorded.
    pub secrets: &'a [String],
    /// The port to listen on, on loopback: an engine run as a process on this machine. In
    /// a container (`None`) the engine listens on its own port, on every interface.
    pub port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Volume {
    pub host: String,
    pub container: String,
    pub read_only: bool,
}

/// A container to run, engine-agnostic: the Docker executor turns it into API calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerSpec {
    pub image: String,
    /// The program, replacing the image's entrypoint; `None` keeps the image's.
    pub entrypoint: Option<Vec<String>>,
    /// The command (arguments after the entrypoint).
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Names of variables passed through from bench's environment (values never recorded).
    pub pass_env: Vec<String>,
    /// The port the engine listens on (inside the container, when in one).
    pub port: u16,
    pub gpus: u32,
    /// Shared memory for tensor parallelism (NCCL), bytes.
    pub shm_size: u64,
    pub ipc_host: bool,
    pub volumes: Vec<Volume>,
    /// `GET` path that answers 200 once the engine serves.
    pub health_path: String,
}

/// Where the Hugging Face cache is inside the containers.
pub const CONTAINER_HF_HOME: &str = "/root/.cache/huggingface";

impl ContainerSpec {
    /// The parts every engine shares: HF cache, secrets, shared memory, extra arguments.
    pub(crate) fn new(l: &Launch<'_>, port: u16, mut args: Vec<String>) -> Self {
        for (flag, value) in l.args {
            match value.as_deref() {
                None | Some("true") => args.push(flag.clone()),
                Some("false") => {}
                Some(v) => {
                    args.push(flag.clone());
                    args.push(v.to_string());
                }
            }
        }
        let mut env = l.env.clone();
        env.insert("HF_HOME".into(), CONTAINER_HF_HOME.into());
        let volumes = l
            .hf_cache
            .map(|h| {
                vec![Volume {
                    host: h.to_string(),
                    container: CONTAINER_HF_HOME.into(),
                    read_only: false,
                }]
            })
            .unwrap_or_default();
        let mut pass_env: Vec<String> = l.secrets.to_vec();
        if !pass_env.iter().any(|s| s == "HF_TOKEN") {
            pass_env.push("HF_TOKEN".into());
        }
        Self {
            image: l.image.to_string(),
            entrypoint: None,
            args,
            env,
            pass_env,
            port,
            gpus: l.point.gpus,
            shm_size: 16 << 30,
            ipc_host: l.point.gpus > 1,
            volumes,
            health_path: "/health".into(),
        }
    }
}

/// `--dtype` spellings most engines share.
pub(crate) fn dtype_arg(d: Dtype) -> Option<&'static str> {
    match d {
        Dtype::Auto => None,
        Dtype::Fp16 => Some("float16"),
        Dtype::Bf16 => Some("bfloat16"),
        Dtype::Fp32 => Some("float32"),
    }
}

/// The dtype of an unquantized checkpoint's weights, when the quantization axis says it.
pub(crate) fn weights_dtype(q: Quantization, d: Dtype) -> Option<&'static str> {
    match (d, q.as_dtype()) {
        (Dtype::Auto, Some(w)) => dtype_arg(w),
        (d, _) => dtype_arg(d),
    }
}

pub(crate) fn push(args: &mut Vec<String>, flag: &str, value: impl ToString) {
    args.push(flag.to_string());
    args.push(value.to_string());
}
