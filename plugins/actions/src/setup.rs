//! The setup node: an engine image made ready on the hosts of a GPU type. On Docker hosts
//! the image is made present (a locally built or loaded one counts; a missing one is
//! pulled, with progress) and its digest recorded; the planner keyed the digest it saw, so
//! a new image under the same tag reruns the benches. Simulated configurations and
//! endpoint hosts need nothing, nor do hosts that run engines as processes.

use bench_docker::DockerHost;
use bench_node::context::SetupContext as Context;
use bench_node::outputs::SetupOutput;
use bench_node::params::SetupParams as Params;
use bench_node::{Action, Failure, HostTarget, JobSpec};

use crate::{outputs, permanent, write_json};

pub struct Setup;

impl Action for Setup {
    fn run(&self, job: &JobSpec) -> Result<(), Failure> {
        let p: Params = job.params()?;
        let c: Context = job.context()?;
        if !c.docker.is_empty() {
            return docker(job, &p, &c.docker);
        }
        // Engines that are already serving, simulated, or run as processes (the program is
        // the host's, found on its PATH when a bench attempt starts it): nothing to make
        // present here.
        let (how, flag) = if c.endpoint {
            ("served by endpoint hosts", "endpoint")
        } else if c.simulated {
            ("simulated", "simulated")
        } else {
            (
                "runs on its hosts as a process, or in its image through Apptainer (which fetches the image at first use)",
                "process",
            )
        };
        println!("{} on {}: {how}, nothing to set up", p.engine, p.gpu);
        write_json(
            job,
            outputs::SETUP,
            &serde_json::json!({ "engine": p.engine, "image": p.image, "gpu": p.gpu, flag: true }),
        )
    }
}

fn docker(job: &JobSpec, p: &Params, hosts: &[HostTarget]) -> Result<(), Failure> {
    let mut seen: Vec<(String, bench_docker::images::ImageRef)> = Vec::new();
    for h in hosts {
        let host = DockerHost::connect(&crate::runtimes::docker_endpoint(h))?;
        let image = host.ensure_image(&p.image, &mut |line| println!("{}: {line}", h.name))?;
        println!(
            "{}: {} is {} ({})",
            h.name,
            p.image,
            image.digest(),
            host.endpoint.describe()
        );
        seen.push((h.name.clone(), image));
    }
    let (first_host, first) = seen
        .first()
        .ok_or_else(|| permanent("a Docker setup without hosts"))?;
    if let Some((other, img)) = seen.iter().find(|(_, i)| i.digest() != first.digest()) {
        return Err(permanent(format!(
            "hosts {first_host} and {other} hold different images under {} ({} and {}): \
             results would mix; make them the same (pull or load one image everywhere)",
            p.image,
            first.digest(),
            img.digest()
        )));
    }
    if let Some(planned) = p.image_digest.as_deref()
        && planned != "unresolved"
        && planned != first.digest()
    {
        return Err(permanent(format!(
            "{} changed on {first_host} since the build was planned ({planned}, now {}); \
             run the build again",
            p.image,
            first.digest()
        )));
    }
    write_json(
        job,
        outputs::SETUP,
        &SetupOutput {
            engine: p.engine.clone(),
            image: p.image.clone(),
            gpu: p.gpu.clone(),
            image_id: Some(first.id.clone()),
            digest: Some(first.digest().to_string()),
            hosts: seen.iter().map(|(n, _)| n.clone()).collect(),
        },
    )
}
