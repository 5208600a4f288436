//! The sweep's cluster pools as executors: each `pool` becomes a host of the scheduler
//! (bounded by its `max-jobs`, its GPUs given by the cluster) whose nodes run on the pool's
//! executor (a Slurm batch job per attempt).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bench_exec::Executors;
use bench_exec::executors::slurm::{Lease, Slurm, SlurmPool};
use bench_sweep::{ClusterExecutor, Host};

use crate::error::{Error, Result};

/// Registers an executor for every pool of `hosts`.
pub fn with_pools(
    mut exec: Executors,
    hosts: &[Host],
    cache_dir: &Path,
    build_id: &str,
) -> Result<Executors> {
    for h in hosts {
        let Some(c) = &h.cluster else { continue };
        let bench = match &c.bench {
            Some(b) => b.into(),
            None => std::env::current_exe()
                .map_err(|e| Error::Other(format!("cannot find the bench executable: {e}")))?,
        };
        let e = match c.executor {
            ClusterExecutor::Slurm => Slurm::new(
                SlurmPool {
                    name: h.name.value.clone(),
                    partition: c.partition.clone(),
                    account: c.account.clone(),
                    qos: c.qos.clone(),
                    time_limit: c.time_limit_secs.map(Duration::from_secs_f64),
                    sbatch_args: c.extra_args.clone(),
                    bench,
                    poll: Duration::from_secs_f64(c.poll_secs),
                },
                lease(cache_dir, build_id),
            ),
        };
        exec = exec.on_host(&h.name.value, Arc::new(e));
    }
    Ok(exec)
}

/// The lease a pool's jobs carry: the cache (the label containers carry: this machine and
/// the cache's path, one word) and the build; a build is live while it holds its lease in
/// the cache.
fn lease(cache_dir: &Path, build_id: &str) -> Lease {
    let label = bench_docker::hygiene::cache_label(cache_dir)
        .replace('%', "%25")
        .replace(char::is_whitespace, "%20");
    let dir = cache_dir.to_path_buf();
    Lease {
        cache: label,
        build: build_id.to_string(),
        is_live: Arc::new(move |b: &str| {
            bench_cache::LocalCache::open(&dir).is_ok_and(|c| c.build_is_live(b))
        }),
    }
}
