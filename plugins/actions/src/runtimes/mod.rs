//! Engine runtimes: how the engine of a bench attempt runs on its host, the sweep's
//! `runtime=` (see [`RuntimeKind`]). One trait; one file per runtime. Adding one is a file
//! here, a variant of [`RuntimeKind`] and a line in [`runtime`].
//!
//! Where the attempt itself runs (this process, a child process, a cluster job) is the
//! executor's business; a runtime is what the attempt does there to have an engine to
//! measure.

mod apptainer;
mod docker;
mod endpoint;
mod process;
mod pyxis;
mod sim;

use bench_docker::gpus::Telemetry;
use bench_engines::EnginePlugin;
use bench_node::context::BenchContext;
use bench_node::outputs::{ContainerInfo, ModelInfo};
use bench_node::params::BenchConfig;
use bench_node::{Failure, JobSpec, RuntimeKind};

pub(crate) use docker::endpoint as docker_endpoint;
pub use sim::{SIM_ENGINE_ENV, sim_noise_args};

/// What a runtime is given to start the engine of one run.
pub struct EngineStart<'a> {
    pub job: &'a JobSpec,
    pub config: &'a BenchConfig,
    pub ctx: &'a BenchContext,
    pub plugin: &'a dyn EnginePlugin,
    /// The committed download: weights, their path, the architecture facts.
    pub model: &'a ModelInfo,
    pub repeat: u32,
}

/// What a run leaves besides its records.
#[derive(Default)]
pub struct Finished {
    pub telemetry: Option<Telemetry>,
    pub container: Option<ContainerInfo>,
}

/// An engine serving for the length of one run. Dropped, it is stopped.
pub trait RunningEngine {
    /// Where requests go.
    fn url(&self) -> &str;
    /// After the load: fails if the engine died during the run, then stops it.
    fn finish(self: Box<Self>) -> Result<Finished, Failure>;
}

/// How engines run on a host.
pub trait EngineRuntime: Sync {
    fn kind(&self) -> RuntimeKind;
    fn start(&self, s: &EngineStart<'_>) -> Result<Box<dyn RunningEngine>, Failure>;
}

/// The runtime of a kind.
pub fn runtime(kind: RuntimeKind) -> &'static dyn EngineRuntime {
    match kind {
        RuntimeKind::Process => &process::Process,
        RuntimeKind::Sim => &sim::Sim,
        RuntimeKind::Docker => &docker::Docker,
        RuntimeKind::Endpoint => &endpoint::Endpoint,
        RuntimeKind::Apptainer => &apptainer::Apptainer,
        RuntimeKind::Pyxis => &pyxis::Pyxis,
    }
}

/// The runtime a bench attempt uses: its host's, except that a simulated configuration
/// runs the simulator as a process unless its host runs engines in containers (where the
/// simulator's image runs).
pub fn runtime_of(job: &JobSpec, ctx: &BenchContext) -> &'static dyn EngineRuntime {
    let host = job
        .target
        .as_ref()
        .map_or(RuntimeKind::Process, |t| t.runtime);
    match host {
        RuntimeKind::Docker => runtime(RuntimeKind::Docker),
        _ if ctx.simulated => runtime(RuntimeKind::Sim),
        other => runtime(other),
    }
}

/// A configuration as engine plugins see it.
pub(crate) fn serving_point<'a>(
    c: &BenchConfig,
    facts: Option<&'a bench_catalog::ArchFacts>,
) -> Result<bench_engines::ServingPoint<'a>, Failure> {
    use bench_catalog::{Dtype, GpuSpec, KvCacheDtype, Quantization};
    let bad = |what: &str, v: &str| crate::permanent(format!("unknown {what} `{v}`"));
    Ok(bench_engines::ServingPoint {
        quantization: Quantization::parse(&c.quantization)
            .ok_or_else(|| bad("quantization", &c.quantization))?,
        dtype: Dtype::parse(&c.dtype).ok_or_else(|| bad("dtype", &c.dtype))?,
        kv_cache: KvCacheDtype::parse(&c.kv_cache).ok_or_else(|| bad("kv-cache", &c.kv_cache))?,
        gpu: GpuSpec::find(&c.gpu).ok_or_else(|| bad("GPU", &c.gpu))?,
        gpus: c.gpus,
        batch_size: c.batch_size,
        seq_len: c.seq_len,
        arch: facts,
    })
}

/// The sweep's engine flags as plugins take them: `--flag` alone for `true`.
pub(crate) fn engine_args(c: &BenchConfig) -> Vec<(String, Option<String>)> {
    c.engine_args
        .iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::Bool(true) => None,
                serde_json::Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            };
            (k.clone(), v)
        })
        .collect()
}
