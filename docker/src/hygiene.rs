//! bench's containers, found by their labels; those no live build owns are removed.
//!
//! Every engine container carries `bench.node` (the node's key), `bench.label`,
//! `bench.sweep`, `bench.build` (the build's id) and `bench.cache` (`HOSTNAME:PATH` of the
//! cache whose build started it). A build holds a lease in its cache while it runs
//! (`LocalCache::lease_build` in bench-cache), so whether a container's build is alive is
//! a question its cache can answer.

use std::collections::{BTreeMap, HashMap};

use bench_node::Failure;
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};
use serde::Serialize;

use crate::{DockerHost, infra, not_found};

pub const NODE: &str = "bench.node";
pub const LABEL: &str = "bench.label";
pub const SWEEP: &str = "bench.sweep";
pub const BUILD: &str = "bench.build";
pub const CACHE: &str = "bench.cache";

/// The labels of one engine container.
#[derive(Clone, Debug, Default)]
pub struct Labels {
    pub node: String,
    pub label: String,
    pub sweep: String,
    pub build: String,
    pub cache: String,
}

impl Labels {
    pub fn to_map(&self) -> HashMap<String, String> {
        [
            (NODE, &self.node),
            (LABEL, &self.label),
            (SWEEP, &self.sweep),
            (BUILD, &self.build),
            (CACHE, &self.cache),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
    }
}

/// `HOSTNAME:PATH`, the value of `bench.cache` for a cache directory on this machine.
pub fn cache_label(cache_root: &std::path::Path) -> String {
    let root = std::fs::canonicalize(cache_root).unwrap_or_else(|_| cache_root.to_path_buf());
    format!("{}:{}", hostname(), root.display())
}

/// This machine's name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// One of bench's containers on a host.
#[derive(Clone, Debug, Serialize)]
pub struct BenchContainer {
    pub id: String,
    pub name: String,
    pub state: String,
    pub labels: BTreeMap<String, String>,
}

impl BenchContainer {
    pub fn label(&self, key: &str) -> &str {
        self.labels.get(key).map_or("", String::as_str)
    }
}

impl DockerHost {
    /// Every container bench started on this host, running or not.
    pub fn bench_containers(&self) -> Result<Vec<BenchContainer>, Failure> {
        let filters: HashMap<&str, Vec<&str>> = HashMap::from([("label", vec![BUILD])]);
        let opts = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .block(self.docker.list_containers(Some(opts)))
            .map_err(|e| {
                infra(format!(
                    "cannot list containers on {}: {e}",
                    self.endpoint.describe()
                ))
            })?;
        Ok(list
            .into_iter()
            .map(|c| BenchContainer {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                labels: c.labels.unwrap_or_default().into_iter().collect(),
            })
            .collect())
    }

    /// Removes a container, running or not (a container already gone is fine).
    pub fn remove_container(&self, id: &str) -> Result<(), Failure> {
        let opts = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.block(self.docker.remove_container(id, Some(opts))) {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            // Already being removed by someone else.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(infra(format!(
                "cannot remove container {id} on {}: {e}",
                self.endpoint.describe()
            ))),
        }
    }

    /// Removes bench's containers for which `dead` says yes; returns them.
    pub fn reap(
        &self,
        dead: impl Fn(&BenchContainer) -> bool,
    ) -> Result<Vec<BenchContainer>, Failure> {
        let mut removed = Vec::new();
        for c in self.bench_containers()? {
            if dead(&c) {
                self.remove_container(&c.id)?;
                removed.push(c);
            }
        }
        Ok(removed)
    }
}
