//! Bench nodes as Slurm jobs on a real Slurm cluster (Debian's slurmctld, slurmd and munge)
//! started on loopback by `scripts/slurm-cluster`: two nodes with two fake GPUs each. Each
//! test starts a cluster of its own and stops it. Without Slurm the tests say so and pass,
//! unless `BENCH_REQUIRE_SLURM` is set (CI sets it), where they fail.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Project, text};

/// A Slurm cluster of its own, stopped when dropped.
struct Cluster {
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-cluster");
        let out = Command::new(&script)
            .arg("start")
            .arg(dir.path())
            .output()
            .unwrap();
        if out.status.success() {
            return Some(Self { dir });
        }
        let why = format!("no Slurm cluster could be started: {}", text(&out));
        if std::env::var_os("BENCH_REQUIRE_SLURM").is_some() {
            panic!("{why}");
        }
        eprintln!("skipping: {why}");
        None
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", self.conf());
        c
    }

    /// Every job the controller remembers: (id, state, node, comment).
    fn jobs(&self) -> Vec<(String, String, String, String)> {
        let out = self
            .cmd("squeue")
            .args(["--me", "-h", "-r", "-t", "all", "-o", "%i|%T|%N|%k"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.splitn(4, '|').collect();
                (f.len() == 4 && f[3].starts_with("bench "))
                    .then(|| (f[0].into(), f[1].into(), f[2].into(), f[3].into()))
            })
            .collect()
    }

    fn active(&self) -> Vec<(String, String, String, String)> {
        self.jobs()
            .into_iter()
            .filter(|j| {
                matches!(
                    j.1.as_str(),
                    "PENDING" | "RUNNING" | "CONFIGURING" | "COMPLETING"
                )
            })
            .collect()
    }

    fn wait_for(&self, what: &str, limit: Duration, mut ok: impl FnMut(&Self) -> bool) {
        let t0 = Instant::now();
        while !ok(self) {
            assert!(
                t0.elapsed() < limit,
                "timed out waiting for {what}: {:?}",
                self.jobs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The node of the first job of ours that runs, once one does.
    fn running_node(&self) -> String {
        let mut node = String::new();
        self.wait_for("a job to run", Duration::from_secs(60), |c| {
            match c.active().into_iter().find(|j| j.1 == "RUNNING") {
                Some(j) => {
                    node = j.2;
                    true
                }
                None => false,
            }
        });
        node
    }

    /// The node dies: its slurmd, the job steps it started and their processes, at once.
    fn kill_node(&self, node: &str) {
        let pid: i32 = std::fs::read_to_string(self.dir.path().join(format!("pids/slurmd-{node}")))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SAFETY: killing a process this test's cluster started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let ids: BTreeSet<String> = self
            .jobs()
            .into_iter()
            .filter(|j| j.2 == node)
            .map(|j| j.0)
            .collect();
        for p in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let env = std::fs::read(p.path().join("environ")).unwrap_or_default();
            let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            let env = String::from_utf8_lossy(&env);
            let cmdline = String::from_utf8_lossy(&cmdline);
            // Job ids are per cluster: only processes of this one (other tests run theirs).
            let conf = format!("SLURM_CONF={}", self.conf().display());
            let ours = env.split('\0').any(|v| v == conf);
            let of_job = ours
                && ids.iter().any(|id| {
                    env.split('\0').any(|v| v == format!("SLURM_JOB_ID={id}"))
                        || cmdline.contains(&format!("[{id}."))
                });
            if of_job {
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-cluster");
        let _ = Command::new(script)
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// A sweep whose bench nodes go to a Slurm pool (`pool` holds the extra properties).
fn sweep(pool: &str, batch: &str, concurrency: &str) -> String {
    format!(
        r#"
sweep "slurm" {{
    model "Qwen/Qwen2.5-0.5B-Instruct" revision="main"
    matrix {{
        engine "sim"
        gpu "H100-80GB"
        batch-size {batch}
        seq-len 2048
    }}
    workload "chat" {{
        dataset "random" input-len=64 output-len=16
        concurrency {concurrency}
        requests 16 warmup=1
    }}
    hosts {{
        pool "cluster" executor="slurm" partition="debug" gpu="H100-80GB" gpus-per-node=2 max-jobs=8 poll="250ms" price-per-gpu-hour=2.0 {pool}
    }}
    retry attempts=3 backoff="200ms"
}}
"#
    )
}

/// `bench build` with the test actions (each node hashes its inputs, sleeps `node_ms` and
/// appends a line to the journal where it ran).
fn build_cmd(p: &Project, c: &Cluster, node_ms: u64) -> Command {
    let mut cmd = p.cmd(&["build", "s.kdl", "--actions", "test"]);
    cmd.env("SLURM_CONF", c.conf())
        .env("BENCH_TEST_NODE_MS", node_ms.to_string())
        .env("BENCH_TEST_SLEEP_KINDS", "bench")
        .env("BENCH_TEST_JOURNAL", p.path().join("runs.log"))
        .env_remove("BENCH_TEST_FAIL");
    cmd
}

/// Test-action runs of bench nodes: (key, attempt, placement, gpus, start, end).
/// `bench build` in the background, its standard error kept for [`stderr`].
fn spawn_build(p: &Project, c: &Cluster, node_ms: u64) -> std::process::Child {
    build_cmd(p, c, node_ms)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// What a finished [`spawn_build`] said.
fn stderr(child: &mut std::process::Child) -> String {
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    err
}

fn runs(p: &Project) -> Vec<(String, u32, String, String, u128, u128)> {
    std::fs::read_to_string(p.path().join("runs.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[1].into(),
                f[2].parse().unwrap(),
                f[3].into(),
                f[4].into(),
                f[5].parse().unwrap(),
                f[6].parse().unwrap(),
            )
        })
        .filter(|r: &(String, u32, String, String, u128, u128)| r.2.starts_with("cluster/"))
        .collect()
}

/// Keys committed, with how often: the cache journal's `commit` lines.
fn commits(p: &Project) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    let journal =
        std::fs::read_to_string(p.path().join(".bench/cache/journal.log")).unwrap_or_default();
    for l in journal.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        if f.first() == Some(&"commit") {
            *m.entry(f[1].to_string()).or_default() += 1;
        }
    }
    m
}

/// The node key of each job: from its comment, or for an element of a job array from the
/// attempt log that names it (`bench: Slurm job ID_I (pool …) submitted at …`; the log's
/// name is the key).
fn job_keys(c: &Cluster, p: &Project) -> Vec<String> {
    let mut by_id: HashMap<String, String> = HashMap::new();
    for log in walk(&p.path().join(".bench/cache/logs")) {
        let name = log.file_name().unwrap().to_string_lossy().to_string();
        let key = name.split('.').next().unwrap().to_string();
        for line in std::fs::read_to_string(&log).unwrap_or_default().lines() {
            if let Some(rest) = line.strip_prefix("bench: Slurm job ") {
                let id = rest.split_whitespace().next().unwrap().to_string();
                by_id.insert(id, key.clone());
            }
        }
    }
    c.jobs()
        .iter()
        .filter_map(|j| {
            let word = |k: &str| j.3.split_whitespace().find_map(|w| w.strip_prefix(k));
            match word("key=") {
                Some(key) => Some(key.to_string()),
                None => by_id.get(&j.0).cloned(),
            }
        })
        .collect()
}

#[test]
fn bench_nodes_run_as_slurm_jobs_spread_over_both_nodes_each_on_its_own_gpus() {
    let Some(c) = Cluster::start() else { return };
    let p = Project::new(&sweep("", "8 16 32 64", "1 4"));
    let out = build_cmd(&p, &c, 1500).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let runs = runs(&p);
    assert_eq!(
        runs.len(),
        8,
        "every bench node ran once, on the pool: {runs:?}\n{}",
        text(&out)
    );
    let jobs = job_keys(&c, &p);
    let ran: BTreeSet<&String> = runs.iter().map(|r| &r.0).collect();
    assert_eq!(
        jobs.len(),
        8,
        "one Slurm job per bench node: {:?}",
        c.jobs()
    );
    assert_eq!(
        jobs.iter().collect::<BTreeSet<_>>(),
        ran,
        "the jobs are the bench nodes"
    );
    let nodes: BTreeSet<&str> = runs.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(
        nodes,
        BTreeSet::from(["cluster/n1", "cluster/n2"]),
        "{runs:?}"
    );
    // Ready at once and of one shape: they went out as job arrays, not one sbatch each.
    let submissions: BTreeSet<String> = c
        .jobs()
        .iter()
        .map(|j| j.0.split('_').next().unwrap().to_string())
        .collect();
    assert!(submissions.len() < 8, "job arrays: {:?}", c.jobs());
    let tmp = std::fs::read_dir(p.path().join(".bench/cache/tmp")).unwrap();
    let arrays: Vec<_> = tmp
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("slurm-array-"))
        .collect();
    assert!(
        arrays.is_empty(),
        "an array's directory goes with its last element: {arrays:?}"
    );
    // Jobs that overlapped in time on one node never saw the same GPU.
    for (i, a) in runs.iter().enumerate() {
        assert!(
            a.3 == "0" || a.3 == "1",
            "each job sees the one GPU Slurm gave it: {a:?}"
        );
        for b in &runs[i + 1..] {
            let overlap = a.4 < b.5 && b.4 < a.5;
            if overlap && a.2 == b.2 {
                assert_ne!(a.3, b.3, "two jobs on one GPU at once: {a:?} {b:?}");
            }
        }
    }
    // A rebuild submits nothing.
    let again = build_cmd(&p, &c, 0).output().unwrap();
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(job_keys(&c, &p).len(), 8, "a no-op rebuild submits no job");
    // The cache cleared: the jobs Slurm remembers are not this cache's work any more.
    std::fs::remove_dir_all(p.path().join(".bench")).unwrap();
    let fresh = build_cmd(&p, &c, 0).output().unwrap();
    assert!(fresh.status.success(), "{}", text(&fresh));
    let err = String::from_utf8_lossy(&fresh.stderr);
    assert!(
        !err.contains("adopting"),
        "nothing to adopt from a cleared cache: {err}"
    );
    assert_eq!(c.jobs().len(), 16, "every bench node submitted again");
}

/// The demo sweep with its two hosts replaced by two Slurm pools (one per GPU type), real
/// actions: the simulated engine runs as a process inside each job.
#[test]
fn the_demo_sweep_runs_every_bench_node_as_a_slurm_job() {
    let Some(c) = Cluster::start() else { return };
    let demo = include_str!("../sweeps/demo.kdl");
    let start = demo.find("    hosts {").unwrap();
    let end = start + demo[start..].find("    }\n").unwrap() + 6;
    let pools = r#"    hosts {
        pool "h100" executor="slurm" partition="debug" gpu="H100-80GB" gpus-per-node=2 max-jobs=4 poll="250ms" price-per-gpu-hour=2.49
        pool "a100" executor="slurm" partition="debug" gpu="A100-80GB" gpus-per-node=2 max-jobs=4 poll="250ms" price-per-gpu-hour=1.29
    }
"#;
    let p = Project::new(&format!("{}{pools}{}", &demo[..start], &demo[end..]));
    let out = p
        .cmd(&["build", "s.kdl"])
        .env("SLURM_CONF", c.conf())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let bench_keys = manifests_of_kind(&p, "bench");
    assert!(!bench_keys.is_empty());
    let jobs = c.jobs();
    let keys: BTreeSet<String> = job_keys(&c, &p).into_iter().collect();
    assert_eq!(
        keys, bench_keys,
        "one Slurm job per bench node, and no other"
    );
    assert_eq!(jobs.len(), bench_keys.len(), "{jobs:?}");
    assert!(jobs.iter().all(|j| j.1 == "COMPLETED"), "{jobs:?}");
    let nodes: BTreeSet<&str> = jobs.iter().map(|j| j.2.as_str()).collect();
    assert_eq!(nodes, BTreeSet::from(["n1", "n2"]));
    // The stored runs say where they ran: pool and Slurm node.
    let q = p.bench(&[
        "query",
        "--json",
        "SELECT DISTINCT host FROM runs ORDER BY host",
    ]);
    let hosts: Vec<serde_json::Value> = serde_json::from_slice(&q.stdout).unwrap_or_default();
    let hosts: BTreeSet<&str> = hosts.iter().filter_map(|r| r["host"].as_str()).collect();
    assert!(
        hosts
            .iter()
            .all(|h| h.starts_with("h100/n") || h.starts_with("a100/n"))
            && hosts.len() >= 2,
        "{hosts:?}\n{}",
        text(&q)
    );
}

/// An engine the sweep declares by its command line, on a pool: a process on the node each
/// job was given, on the GPUs Slurm gave it, with the configuration's values filled in.
#[test]
fn an_engine_declared_by_its_command_line_runs_in_the_jobs_on_the_gpus_slurm_gives() {
    use std::os::unix::fs::PermissionsExt;
    let Some(c) = Cluster::start() else { return };
    let p = Project::new("");
    common::tiny_model(p.path());
    let log = p.path().join("engine.log");
    let serve = p.path().join("serve-mine");
    std::fs::write(
        &serve,
        format!(
            "#!/bin/sh\nweights=$1; shift\necho \"node=$SLURMD_NODENAME gpus=$CUDA_VISIBLE_DEVICES weights=$weights args=$*\" >> '{}'\nexec '{}' sim-engine \"$@\"\n",
            log.display(),
            common::bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&serve, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.write(&format!(
        r#"
sweep "slurm-command" {{
    model "tiny" path="./tiny"
    matrix {{
        engine "mine"
        gpu "H100-80GB"
        batch-size 4 8
        seq-len 2048
    }}
    engine "mine" command="'{}' {{model}} --host {{host}} --port {{port}} --model {{served-model-name}} --arch llama-3.1-8b --max-batch {{batch-size}}"
    workload "chat" {{
        dataset "random" input-len=64 output-len=16
        concurrency 2
        requests 8
    }}
    hosts {{
        pool "cluster" executor="slurm" partition="debug" gpu="H100-80GB" gpus-per-node=2 max-jobs=8 poll="250ms"
    }}
}}
"#,
        serve.display()
    ));
    let out = p
        .cmd(&["build", "s.kdl"])
        .env("SLURM_CONF", c.conf())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let jobs = c.jobs();
    assert_eq!(jobs.len(), 2, "one job per bench node: {jobs:?}");
    assert!(jobs.iter().all(|j| j.1 == "COMPLETED"), "{jobs:?}");
    let lines = std::fs::read_to_string(&log).expect("the engine ran");
    let mut batches: Vec<&str> = Vec::new();
    for l in lines.lines() {
        assert!(
            l.starts_with("node=n1 gpus=") || l.starts_with("node=n2 gpus="),
            "in a job, on a node Slurm picked: {l}"
        );
        let gpus = l.split_whitespace().nth(1).unwrap();
        assert!(
            gpus == "gpus=0" || gpus == "gpus=1",
            "on the GPU Slurm gave: {l}"
        );
        assert!(
            l.contains("weights=/"),
            "{{model}} is the weights' path: {l}"
        );
        batches.extend(l.split("--max-batch ").nth(1).map(|b| b.trim()));
    }
    batches.sort();
    assert_eq!(batches, ["4", "8"], "{lines}");
    let q = p.bench(&[
        "query",
        "--json",
        "SELECT engine, host FROM runs ORDER BY host",
    ]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&q.stdout).unwrap_or_default();
    assert_eq!(rows.len(), 2, "{}", text(&q));
    assert!(
        rows.iter()
            .all(|r| r["engine"] == "mine" && r["host"].as_str().unwrap().starts_with("cluster/n")),
        "{rows:?}"
    );
}

/// `runtime="pyxis"` on a pool: each engine runs in its image as a step of its job. No
/// pyxis is packaged here: a stand-in `srun` first on PATH logs what it is asked and runs
/// the command after pyxis's flags, on the node and GPUs of the job.
#[test]
fn through_pyxis_an_engine_runs_in_its_image_as_a_step_of_its_job() {
    use std::os::unix::fs::PermissionsExt;
    let Some(c) = Cluster::start() else { return };
    let p = Project::new("");
    common::tiny_model(p.path());
    let bin = p.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = |name: &str, body: String| {
        let path = bin.join(name);
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let log = p.path().join("srun.log");
    script(
        "srun",
        format!(
            "#!/bin/sh\necho \"node=$SLURMD_NODENAME gpus=$CUDA_VISIBLE_DEVICES $*\" >> '{}'\n\
             while [ $# -gt 0 ]; do case \"$1\" in --ntasks=*|--container-*|--no-container-*) shift ;; *) break ;; esac; done\n\
             exec \"$@\"\n",
            log.display()
        ),
    );
    script(
        "serve-mine",
        format!(
            "#!/bin/sh\nshift\nexec '{}' sim-engine \"$@\"\n",
            common::bin().display()
        ),
    );
    p.write(
        r#"
sweep "slurm-pyxis" {
    model "tiny" path="./tiny"
    matrix {
        engine "mine"
        gpu "H100-80GB"
        batch-size 4
        seq-len 2048
    }
    engine "mine" image="nvcr.io/example/mine:1" command="serve-mine {model} --host {host} --port {port} --model {served-model-name} --arch llama-3.1-8b --max-batch {batch-size}"
    workload "chat" {
        dataset "random" input-len=64 output-len=16
        concurrency 2
        requests 8
    }
    hosts {
        pool "cluster" executor="slurm" partition="debug" runtime="pyxis" gpu="H100-80GB" gpus-per-node=2 max-jobs=8 poll="250ms"
    }
}
"#,
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = p
        .cmd(&["build", "s.kdl"])
        .env("SLURM_CONF", c.conf())
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let jobs = c.jobs();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].1, "COMPLETED", "{jobs:?}");
    let line = std::fs::read_to_string(&log).expect("srun ran");
    let weights = std::fs::canonicalize(p.path().join("tiny")).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert!(words[0] == "node=n1" || words[0] == "node=n2", "{line}");
    assert!(words[1] == "gpus=0" || words[1] == "gpus=1", "{line}");
    assert_eq!(
        words[2..6],
        [
            "--ntasks=1",
            "--container-image=nvcr.io#example/mine:1",
            &format!("--container-mounts={}:/models/tiny:ro", weights.display()),
            "--no-container-mount-home",
        ],
        "{line}"
    );
    assert_eq!(&words[6..8], ["serve-mine", "/models/tiny"], "{line}");
    let q = p.bench(&["query", "--json", "SELECT engine, host FROM runs"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&q.stdout).unwrap_or_default();
    assert_eq!(rows.len(), 1, "{}", text(&q));
    assert!(rows[0]["host"].as_str().unwrap().starts_with("cluster/n"));
}

/// Keys of the committed manifests of one node kind.
fn manifests_of_kind(p: &Project, kind: &str) -> BTreeSet<String> {
    walk(&p.path().join(".bench/cache/manifests"))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
        .filter_map(|f| {
            let m: serde_json::Value = serde_json::from_slice(&std::fs::read(f).ok()?).ok()?;
            (m["kind"] == kind).then(|| m["key"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn a_failed_job_is_retried_with_every_attempts_log_kept() {
    let Some(c) = Cluster::start() else { return };
    let p = Project::new(&sweep("", "8", "1"));
    let out = build_cmd(&p, &c, 0)
        .env("BENCH_TEST_FAIL", "bench/:infrastructure:1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let runs = runs(&p);
    let attempts: Vec<u32> = runs.iter().map(|r| r.1).collect();
    assert_eq!(
        attempts,
        vec![1, 2],
        "the first attempt failed, the second ran: {runs:?}"
    );
    assert_eq!(c.jobs().len(), 2, "two Slurm jobs: {:?}", c.jobs());
    let logs: Vec<PathBuf> = walk(&p.path().join(".bench/cache/logs"));
    let bench_logs: Vec<String> = logs
        .iter()
        .map(|l| std::fs::read_to_string(l).unwrap())
        .filter(|t| t.contains("bench: Slurm job"))
        .collect();
    assert_eq!(bench_logs.len(), 2, "each attempt's log is kept: {logs:?}");
}

#[test]
fn ctrl_c_cancels_every_job_of_the_build() {
    let Some(c) = Cluster::start() else { return };
    let p = Project::new(&sweep("", "8 16 32 64", "1 4"));
    let mut child = spawn_build(&p, &c, 120_000);
    c.wait_for(
        "four running jobs and four queued",
        Duration::from_secs(60),
        |c| {
            let a = c.active();
            a.iter().filter(|j| j.1 == "RUNNING").count() == 4 && a.len() == 8
        },
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the build did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let err = stderr(&mut child);
    assert!(!status.success(), "{err}");
    c.wait_for("every job to end", Duration::from_secs(30), |c| {
        c.active().is_empty()
    });
    let states: BTreeSet<String> = c.jobs().into_iter().map(|j| j.1).collect();
    assert_eq!(states, BTreeSet::from(["CANCELLED".to_string()]), "{err}");
    assert!(
        commits(&p).keys().all(|k| !job_keys(&c, &p).contains(k)),
        "nothing of a cancelled job was committed"
    );
}

#[test]
fn a_build_killed_mid_way_is_resumed_by_adopting_its_jobs_nothing_run_twice() {
    let Some(c) = Cluster::start() else { return };
    let p = Project::new(&sweep("", "8 16 32 64", "1 4"));
    let mut child = build_cmd(&p, &c, 3000)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    c.wait_for("running jobs", Duration::from_secs(60), |c| {
        c.active().iter().filter(|j| j.1 == "RUNNING").count() >= 2
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let left = c.active().len();
    assert!(left > 0, "the killed build left jobs behind");
    let out = build_cmd(&p, &c, 3000).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("adopting"), "{err}");
    let runs = runs(&p);
    let mut per_key: HashMap<&str, usize> = HashMap::new();
    for r in &runs {
        *per_key.entry(r.0.as_str()).or_default() += 1;
    }
    assert_eq!(per_key.len(), 8, "every bench node ran: {runs:?}");
    assert!(
        per_key.values().all(|n| *n == 1),
        "no bench node ran twice: {per_key:?}"
    );
    let commits = commits(&p);
    assert!(
        commits.values().all(|n| *n == 1),
        "no key committed twice: {commits:?}"
    );
    assert!(
        c.active().is_empty(),
        "no job left behind: {:?}",
        c.active()
    );
    // The killed build's array directories (which it could not remove) go with the next
    // build that finds no job needing them.
    let arrays = || -> Vec<String> {
        std::fs::read_dir(p.path().join(".bench/cache/tmp"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("slurm-array-"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let again = build_cmd(&p, &c, 0).output().unwrap();
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(arrays(), Vec::<String>::new(), "array directories left");
}

#[test]
fn a_node_that_dies_mid_job_fails_it_and_the_retry_runs_on_the_other_node() {
    let Some(c) = Cluster::start() else { return };
    let p = Project::new(&sweep("", "8", "1"));
    let mut child = spawn_build(&p, &c, 8000);
    let node = c.running_node();
    c.kill_node(&node);
    let status = child.wait().unwrap();
    let err = stderr(&mut child);
    assert!(status.success(), "{err}");
    assert!(err.contains("NODE_FAIL"), "the retry says why: {err}");
    let runs = runs(&p);
    assert_eq!(runs.len(), 1, "only the second attempt finished: {runs:?}");
    assert_ne!(
        runs[0].2,
        format!("cluster/{node}"),
        "the retry avoided the dead node"
    );
    assert!(c.active().is_empty(), "{:?}", c.jobs());
}

#[test]
fn a_job_the_cluster_preempts_is_submitted_again_without_using_up_a_retry() {
    let Some(c) = Cluster::start() else { return };
    // One attempt in all: only a resubmission that does not count can finish the node.
    let p = Project::new(&sweep("", "8", "1").replace("attempts=3", "attempts=1"));
    let mut child = spawn_build(&p, &c, 6000);
    let node = c.running_node();
    // More urgent work asks for both GPUs of that node: Slurm cancels the bench job to
    // make room (`PREEMPTED`).
    let urgent = c
        .cmd("sbatch")
        .args(["--parsable", "-p", "urgent", "--gres=gpu:2", "-w", &node])
        .args(["--wrap", "sleep 1"])
        .output()
        .unwrap();
    assert!(urgent.status.success(), "{}", text(&urgent));
    let status = child.wait().unwrap();
    let err = stderr(&mut child);
    assert!(status.success(), "{err}");
    assert!(
        err.contains("was preempted"),
        "the resubmission says why: {err}"
    );
    let mut states: Vec<String> = c.jobs().into_iter().map(|j| j.1).collect();
    states.sort();
    assert_eq!(states, ["COMPLETED", "PREEMPTED"], "{:?}", c.jobs());
    let runs = runs(&p);
    assert_eq!(runs.len(), 1, "only the second attempt finished: {runs:?}");
    assert_eq!(runs[0].1, 2, "{runs:?}");
}

#[test]
fn a_job_over_its_time_limit_fails_with_a_message_naming_the_limit() {
    let Some(c) = Cluster::start() else { return };
    // Slurm keeps limits in whole minutes and checks them every 30 s or so: this takes
    // a minute and a half.
    let p = Project::new(&sweep("time-limit=\"1m\"", "8", "1"));
    let out = build_cmd(&p, &c, 300_000).output().unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("time limit of 1m (TIMEOUT)") && err.contains("time-limit="),
        "{err}"
    );
    assert_eq!(
        c.jobs().len(),
        1,
        "a timeout is not retried: {:?}",
        c.jobs()
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn bench_hosts_lists_a_pools_nodes_and_says_what_is_wrong_with_it() {
    let Some(c) = Cluster::start() else { return };
    let p = Project::new(&sweep("", "8", "1"));
    let out = p
        .cmd(&["hosts", "s.kdl"])
        .env("SLURM_CONF", c.conf())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("node n1: gpu:2") && said.contains("node n2: gpu:2"),
        "{said}"
    );
    assert!(!said.contains("problem"), "{said}");
    let p = Project::new(&sweep("", "8", "1").replace("partition=\"debug\"", "partition=\"gpu\""));
    let out = p
        .cmd(&["hosts", "s.kdl"])
        .env("SLURM_CONF", c.conf())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("problem: sinfo failed")
            || said.contains("problem: partition gpu has no nodes"),
        "{}",
        text(&out)
    );
    let p = Project::new(&sweep("", "8", "1").replace("gpus-per-node=2", "gpus-per-node=8"));
    let out = p
        .cmd(&["hosts", "s.kdl"])
        .env("SLURM_CONF", c.conf())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("have at most 2"), "{}", text(&out));
}
