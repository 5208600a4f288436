//! The sweep's cluster pools as executors: each `pool` becomes a host of the scheduler
//! (bounded by its `max-jobs`, its GPUs given by the cluster) whose nodes run on the pool's
//! executor (a Slurm batch job per attempt).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bench_exec::Executors;
use bench_exec::executors::slurm::{Lease, Slurm, SlurmPool};
use bench_sweep::{Cluster, ClusterExecutor, Host};

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
        tmp: cache_dir.join("tmp"),
        is_live: Arc::new(move |b: &str| {
            bench_cache::LocalCache::open(&dir).is_ok_and(|c| c.build_is_live(b))
        }),
    }
}

/// What the cluster says of a pool (`bench hosts`): its partition's nodes, each with its
/// generic resources and state (`sinfo`), and what would keep the pool's jobs from running.
pub fn describe(h: &Host, c: &Cluster) -> (Vec<String>, Vec<String>) {
    let mut cmd = std::process::Command::new("sinfo");
    cmd.args(["-h", "-N", "-o", "%N|%G|%t"]);
    if let Some(p) = &c.partition {
        cmd.args(["-p", p]);
    }
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            return (
                Vec::new(),
                vec![format!(
                    "cannot run sinfo ({e}): bench submits with Slurm's own commands, run it where they are installed"
                )],
            );
        }
    };
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return (Vec::new(), vec![format!("sinfo failed: {why}")]);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut nodes = Vec::new();
    let mut most = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').collect();
        let [name, gres, state] = f[..] else { continue };
        most = most.max(gpus_in(gres));
        nodes.push(format!("{name}: {gres} ({state})"));
    }
    let partition = match &c.partition {
        Some(p) => format!("partition {p}"),
        None => "the default partition".into(),
    };
    let mut problems = Vec::new();
    if nodes.is_empty() {
        problems.push(format!(
            "{partition} has no nodes (is the partition's name right?)"
        ));
    } else if most == 0 {
        problems.push(format!("no node of {partition} has GPUs (gres gpu)"));
    } else if most < h.gpus {
        problems.push(format!(
            "gpus-per-node={} but the nodes of {partition} have at most {most}",
            h.gpus
        ));
    }
    (nodes, problems)
}

/// GPUs in an `sinfo %G` field: `gpu:2`, `gpu:h100:8(S:0-1)`, `gpu:a100:4,shard:8`.
fn gpus_in(gres: &str) -> u32 {
    gres.split(',')
        .filter(|g| g.starts_with("gpu:"))
        .filter_map(|g| {
            let count = g.split('(').next()?.rsplit(':').next()?;
            count.parse::<u32>().ok()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn gpus_are_read_from_gres_fields() {
        assert_eq!(super::gpus_in("gpu:2"), 2);
        assert_eq!(super::gpus_in("gpu:h100:8(S:0-1)"), 8);
        assert_eq!(super::gpus_in("gpu:a100:4,shard:8"), 4);
        assert_eq!(super::gpus_in("(null)"), 0);
    }
}
