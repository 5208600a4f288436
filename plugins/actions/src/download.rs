//! The download node. For a model used only by simulated configurations the plan asks for
//! no weights (`"weights": false`): the node records the model's identity and architecture
//! facts, which drive the simulator. Fetching weights is the model-download issue's work.

use bench_catalog::ArchFacts;
use bench_exec::Failure;
use bench_exec::job::{Action, JobSpec};
use serde::{Deserialize, Serialize};

use crate::{outputs, params, permanent, write_json};

#[derive(Deserialize)]
struct Params {
    source: String,
    id: Option<String>,
    revision: Option<String>,
    path: Option<String>,
    #[serde(default = "yes")]
    weights: bool,
    facts: Option<ArchFacts>,
}

fn yes() -> bool {
    true
}

/// `model.json`: what a bench node needs to know about its model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelInfo {
    pub source: String,
    pub id: Option<String>,
    pub revision: Option<String>,
    pub path: Option<String>,
    /// Whether weights were fetched (false: facts only, for the simulator).
    pub weights: bool,
    pub facts: Option<ArchFacts>,
}

pub struct Download;

impl Action for Download {
    fn run(&self, job: &JobSpec) -> Result<(), Failure> {
        let p: Params = params(job)?;
        if p.weights {
            return Err(permanent(format!(
                "fetching model weights is not in this build of bench yet ({}); \
                 rehearse the sweep on simulated engines with `bench build --simulate`",
                p.id.as_deref().or(p.path.as_deref()).unwrap_or("model")
            )));
        }
        println!(
            "model {} (facts only: every configuration of it is simulated or served by an endpoint)",
            p.id.as_deref().or(p.path.as_deref()).unwrap_or("?")
        );
        write_json(
            job,
            outputs::MODEL,
            &ModelInfo {
                source: p.source,
                id: p.id,
                revision: p.revision,
                path: p.path,
                weights: false,
                facts: p.facts,
            },
        )
    }
}
