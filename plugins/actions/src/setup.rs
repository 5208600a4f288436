//! The setup node: an engine image made ready on the hosts of a GPU type. Simulated
//! configurations need nothing; Docker hosts are the Docker issue's work.

use bench_exec::Failure;
use bench_exec::job::{Action, JobSpec};
use serde::Deserialize;

use crate::{outputs, params, permanent, write_json};

#[derive(Deserialize)]
struct Params {
    engine: String,
    image: String,
    gpu: String,
}

#[derive(Deserialize, Default)]
struct Context {
    #[serde(default)]
    simulated: bool,
    #[serde(default)]
    endpoint: bool,
}

pub struct Setup;

impl Action for Setup {
    fn run(&self, job: &JobSpec) -> Result<(), Failure> {
        let p: Params = params(job)?;
        let c: Context = serde_json::from_value(job.context.clone()).unwrap_or_default();
        if c.endpoint {
            println!(
                "{} on {}: served by endpoint hosts, nothing to set up",
                p.engine, p.gpu
            );
            return write_json(
                job,
                outputs::SETUP,
                &serde_json::json!({ "engine": p.engine, "gpu": p.gpu, "endpoint": true }),
            );
        }
        if !c.simulated {
            return Err(permanent(format!(
                "setting up {} ({}) on {} hosts needs the Docker executor, not in this build \
                 of bench yet; rehearse with `bench build --simulate`",
                p.engine, p.image, p.gpu
            )));
        }
        println!("{} on {}: simulated, nothing to set up", p.engine, p.gpu);
        write_json(
            job,
            outputs::SETUP,
            &serde_json::json!({
                "engine": p.engine,
                "image": p.image,
                "gpu": p.gpu,
                "simulated": true,
            }),
        )
    }
}
