//! Docker hosts of a sweep: image digests for keys, whose containers are whose, and the
//! reaping of dead builds' containers when a build starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bench_docker::hygiene::{self, BenchContainer};
use bench_docker::{DockerHost, Endpoint};
use bench_engines::EnginePlugin;
use bench_sweep::Sweep;
use bench_sweep::ast::{Host, RuntimeKind};

use crate::error::{Error, Result};

/// A Docker host of the sweep as bench-docker sees it.
pub fn endpoint(h: &Host) -> Endpoint {
    Endpoint {
        address: h.address.as_ref().map(|a| a.value.clone()),
        tls_dir: h.tls_dir.as_ref().map(|t| PathBuf::from(&t.value)),
    }
}

pub fn docker_endpoints(sweep: &Sweep) -> Vec<Endpoint> {
    let mut eps: Vec<Endpoint> = Vec::new();
    for h in sweep
        .hosts
        .iter()
        .filter(|h| h.runtime == RuntimeKind::Docker)
    {
        let e = endpoint(h);
        if !eps.contains(&e) {
            eps.push(e);
        }
    }
    eps
}

/// The digest each engine image has on the sweep's Docker hosts, for the setup nodes'
/// keys. An unreachable host or a missing image is warned about and left unresolved: the
/// setup node then pulls the image or fails saying why.
pub fn resolve_images(
    sweep: &Sweep,
    registry: &[Box<dyn EnginePlugin>],
    notes: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let eps = docker_endpoints(sweep);
    let mut out = BTreeMap::new();
    if eps.is_empty() {
        return out;
    }
    let images: Vec<String> = sweep
        .matrix
        .engine
        .iter()
        .filter_map(|e| {
            let plugin = registry.iter().find(|p| p.name() == e.value)?;
            Some(bench_plan::resolve::engine_image(
                sweep,
                &e.value,
                plugin.as_ref(),
            ))
        })
        .collect();
    for ep in &eps {
        let host = match DockerHost::connect(ep) {
            Ok(h) => h,
            Err(e) => {
                notes.push(format!(
                    "{}; engine images there are not resolved to digests, so the plan \
                     cannot tell which benches are cached",
                    e.message
                ));
                continue;
            }
        };
        for image in &images {
            if out.contains_key(image) {
                continue;
            }
            match host.image(image) {
                Ok(Some(i)) => {
                    out.insert(image.clone(), i.digest().to_string());
                }
                Ok(None) => match host.registry_digest(image) {
                    Ok(d) => {
                        out.insert(image.clone(), d);
                    }
                    Err(_) => notes.push(format!(
                        "{image} is not on {} and no registry answers for it: its \
                         setup node will fail unless it is built or loaded there{}",
                        ep.describe(),
                        if image.starts_with("bench/sim-engine") {
                            " (`bench sim-image` builds it)"
                        } else {
                            ""
                        }
                    )),
                },
                Err(e) => notes.push(e.message),
            }
        }
    }
    out
}

/// Whose a container is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Its build runs.
    Live,
    /// Its build is gone (or its cache is).
    Dead,
    /// Started from another machine's cache: its liveness cannot be seen from here.
    Foreign,
}

pub fn owner(c: &BenchContainer, me: &str) -> Owner {
    let cache = c.label(hygiene::CACHE);
    let build = c.label(hygiene::BUILD);
    let Some((host, path)) = cache.split_once(':') else {
        return Owner::Dead;
    };
    if host != me {
        return Owner::Foreign;
    }
    let root = Path::new(path);
    if !root.join("layout").exists() {
        return Owner::Dead;
    }
    match bench_cache::LocalCache::open(root) {
        Ok(c) if c.build_is_live(build) => Owner::Live,
        _ => Owner::Dead,
    }
}

/// Removes, on the sweep's Docker hosts, the containers of builds that are no longer
/// running (a build killed with SIGKILL, a machine that rebooted). Called as a build starts.
pub fn reap_orphans(sweep: &Sweep) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let me = hygiene::hostname();
    for ep in docker_endpoints(sweep) {
        let host = DockerHost::connect(&ep).map_err(|e| Error::Other(e.message))?;
        let reaped = host
            .reap(|c| owner(c, &me) == Owner::Dead)
            .map_err(|e| Error::Other(e.message))?;
        for c in &reaped {
            removed.push(format!(
                "removed container {} of a build that is gone ({}, build {})",
                c.name,
                c.label(hygiene::LABEL),
                c.label(hygiene::BUILD)
            ));
        }
    }
    Ok(removed)
}
