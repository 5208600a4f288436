//! The built-in simulated engine: an OpenAI- and TGI-compatible server with a roofline
//! performance model, so that every path of bench runs without a GPU. It emulates any
//! format on any GPU; the hardware rules of the planner still apply.

use crate::launch::push;
use crate::{ContainerSpec, EnginePlugin, Launch, ServingPoint, Unsupported};

pub struct Sim;

impl EnginePlugin for Sim {
    fn name(&self) -> &str {
        "sim"
    }

    fn version(&self) -> u32 {
        1
    }

    fn default_image(&self) -> &str {
        "bench/sim-engine:1"
    }

    fn check(&self, _p: &ServingPoint<'_>) -> Result<(), Unsupported> {
        Ok(())
    }

    fn program(&self) -> &'static [&'static str] {
        &["bench", "sim-engine"]
    }

    fn container(&self, l: &Launch<'_>) -> ContainerSpec {
        let p = &l.point;
        let mut a = Vec::new();
        push(&mut a, "--host", "0.0.0.0");
        let port = l.port.unwrap_or(8000);
        push(&mut a, "--port", port);
        push(&mut a, "--model", l.served_name);
        // The architecture's facts drive the roofline; without them, a catalog name.
        match l.point.arch.and_then(|f| serde_json::to_string(f).ok()) {
            Some(facts) => push(&mut a, "--facts", facts),
            None => push(&mut a, "--arch", l.model),
        }
        push(&mut a, "--gpu", p.gpu.name);
        push(&mut a, "--gpus", p.gpus);
        push(&mut a, "--quantization", p.quantization.name());
        push(&mut a, "--dtype", p.dtype.name());
        push(&mut a, "--kv-cache", p.kv_cache.name());
        push(&mut a, "--max-batch", p.batch_size);
        push(&mut a, "--max-seq-len", p.seq_len);
        let mut spec = ContainerSpec::new(l, port, a);
        // The simulator needs no GPU, no shared memory and no model weights.
        spec.gpus = 0;
        spec.shm_size = 64 << 20;
        spec.ipc_host = false;
        spec.volumes.clear();
        spec
    }
}
