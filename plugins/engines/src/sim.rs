//! The built-in simulated engine: an OpenAI- and TGI-compatible server with a roofline
//! performance model, so that every path of bench runs without a GPU. It emulates any
//! format on any GPU; the hardware rules of the planner still apply.

use crate::{EnginePlugin, ServingPoint, Unsupported};

pub struct Sim;

impl EnginePlugin for Sim {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn version(&self) -> u32 {
        1
    }

    fn default_image(&self) -> &'static str {
        "bench/sim-engine:1"
    }

    fn check(&self, _p: &ServingPoint<'_>) -> Result<(), Unsupported> {
        Ok(())
    }
}
