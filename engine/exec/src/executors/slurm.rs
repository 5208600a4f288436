//! Runs each attempt as a Slurm batch job (`sbatch`) running `bench exec-node` on the node
//! Slurm picks, with the GPUs Slurm gives it (`--gres=gpu:N`; Slurm sets
//! `CUDA_VISIBLE_DEVICES`). The job spec, the inputs and the staging directory are paths of
//! the cache, which a cluster's nodes see through a shared filesystem: the job reads and
//! writes them as they are, and the build commits what it wrote.
//!
//! The controller is asked as little as it can be: one `squeue` call per poll for every job
//! of the build (never one per job), `sacct` only for jobs `squeue` no longer lists, one
//! `scancel` for many jobs. A busy or unreachable controller (`sbatch`/`squeue` errors,
//! timeouts) is waited out with backoff; it never ends the build by itself.
//!
//! Every job carries a comment naming the cache, the build and the node key. A build killed
//! with SIGKILL leaves its jobs queued or running: the next build on the same cache finds
//! them ([`Executor::begin`]), adopts those still pending or running for keys it needs (it
//! waits for them and takes their outputs instead of submitting again) and cancels the
//! rest. A job never commits anything itself, so nothing runs twice into the cache.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::process::Command;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::executor::{ExecFuture, Executor, Job, Transfer};
use bench_node::{FAILURE_FILE, Failure, FailureClass};

/// A pool of a Slurm cluster, as the sweep declares it.
#[derive(Clone, Debug)]
pub struct SlurmPool {
    /// The pool's name in the sweep.
    pub name: String,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// Each job's time limit (`--time`, whole minutes rounded up); the partition's when
    /// `None`.
    pub time_limit: Option<Duration>,
    /// More `sbatch` arguments, as they are (`--constraint=h100`, `--mem=64G`).
    pub sbatch_args: Vec<String>,
    /// `bench` on the cluster's nodes.
    pub bench: PathBuf,
    /// How often the build asks the controller about its jobs.
    pub poll: Duration,
}

/// Which build owns the jobs: the cache they belong to, this build, and how to tell
/// whether another build is still alive.
#[derive(Clone)]
pub struct Lease {
    /// Names the cache (the same label containers carry).
    pub cache: String,
    pub build: String,
    /// Where the cache stages attempts (and this executor its job arrays' directories).
    pub tmp: PathBuf,
    pub is_live: Arc<dyn Fn(&str) -> bool + Send + Sync>,
}

pub struct Slurm {
    inner: Arc<Inner>,
}

/// The prefix of a job array's directory in the cache's staging area.
const ARRAY_DIR: &str = "slurm-array-";

struct Inner {
    pool: SlurmPool,
    lease: Lease,
    /// Jobs waited for: job id → who waits.
    watched: Mutex<HashMap<String, Watch>>,
    /// Jobs of dead builds that this build may adopt: key → job.
    leftovers: Mutex<HashMap<String, Leftover>>,
    /// Slurm nodes that failed under a key: its next attempts avoid them.
    avoid: Mutex<HashMap<String, BTreeSet<String>>>,
    /// Attempts waiting to be submitted together.
    ready: Mutex<Vec<Ready>>,
    /// This build's job arrays: id → (their directory, elements not ended yet).
    arrays: Mutex<HashMap<String, (PathBuf, usize)>>,
    /// When `squeue` last failed and said so (one warning a minute).
    warned: Mutex<Option<Instant>>,
    submitting: tokio::sync::Mutex<()>,
    /// Ids waiting for one `scancel`.
    to_cancel: Mutex<Vec<String>>,
    cancelling: tokio::sync::Mutex<()>,
    poller: Mutex<Option<tokio::task::JoinHandle<()>>>,
    started: std::time::SystemTime,
}

struct Watch {
    tx: Option<oneshot::Sender<JobEnd>>,
    /// Polls since `squeue` last listed it.
    unlisted: u32,
    /// The job's directory (its exit-code file).
    dir: PathBuf,
}

/// An attempt waiting for `sbatch`, and who waits for its job id.
struct Ready {
    job: Job,
    dir: PathBuf,
    tx: oneshot::Sender<Result<String, Failure>>,
}

#[derive(Clone, Debug)]
struct Leftover {
    id: String,
    build: String,
    /// The dead build's staging directory of the attempt (the job's working directory).
    dir: PathBuf,
}

/// How a job ended, as Slurm tells it.
#[derive(Clone, Debug)]
struct JobEnd {
    state: String,
    reason: String,
    node: String,
}

const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
const EXIT_CODE_FILE: &str = "exit-code";
const SCRIPT_FILE: &str = "slurm-job.sh";
/// How long a ready attempt waits for others to go out with it in one `sbatch`.
const GATHER: Duration = Duration::from_millis(50);
/// Polls a job may go unlisted by `squeue` before `sacct` is asked.
const UNLISTED_POLLS: u32 = 2;

impl Slurm {
    pub fn new(pool: SlurmPool, lease: Lease) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                lease,
                watched: Mutex::new(HashMap::new()),
                leftovers: Mutex::new(HashMap::new()),
                avoid: Mutex::new(HashMap::new()),
                ready: Mutex::new(Vec::new()),
                arrays: Mutex::new(HashMap::new()),
                warned: Mutex::new(None),
                submitting: tokio::sync::Mutex::new(()),
                to_cancel: Mutex::new(Vec::new()),
                cancelling: tokio::sync::Mutex::new(()),
                poller: Mutex::new(None),
                started: std::time::SystemTime::now(),
            }),
        }
    }
}

impl Executor for Slurm {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn finishes_on_drain(&self) -> bool {
        false
    }

    fn begin<'a>(
        &'a self,
        to_run: &'a [String],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async move { self.inner.find_leftovers(to_run).await })
    }

    fn end(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            // Leftovers no attempt adopted (the build stopped first) are not left behind.
            let ids: Vec<String> = {
                let mut l = self.inner.leftovers.lock().unwrap();
                l.drain().map(|(_, j)| j.id).collect()
            };
            if !ids.is_empty() {
                self.inner.scancel(ids).await;
            }
            if let Some(p) = self.inner.poller.lock().unwrap().take() {
                p.abort();
            }
        })
    }

    fn run<'a>(
        &'a self,
        job: &'a Job,
        transfer: &'a dyn Transfer,
        cancel: CancellationToken,
    ) -> ExecFuture<'a> {
        Box::pin(async move {
            let inner = &self.inner;
            inner.start_poller();
            let adopted = inner.leftovers.lock().unwrap().remove(&job.spec.key);
            if let Some(l) = adopted {
                return inner.adopt(l, job, transfer, cancel).await;
            }
            // The job starts in the build's directory (the spec's paths may be relative to
            // it); what Slurm itself opens is absolute.
            let dir = job
                .spec_path
                .parent()
                .and_then(|d| std::path::absolute(d).ok())
                .unwrap_or_default();
            let id = inner.submit(job, &dir, &cancel).await?;
            let end = inner.wait(&id, &dir, &cancel).await;
            inner.element_ended(&id);
            inner.outcome(job, &id, &dir, &end?)
        })
    }
}

impl Inner {
    fn start_poller(self: &Arc<Self>) {
        let mut p = self.poller.lock().unwrap();
        if p.is_none() {
            let weak = Arc::downgrade(self);
            let every = self.pool.poll;
            *p = Some(tokio::spawn(poll_loop(weak, every)));
        }
    }

    /// `bench cache=… build=… key=… attempt=… dir=…`: how a later build recognises the
    /// job, and where its attempt's directory is.
    fn comment(&self, job: &Job, dir: &Path) -> String {
        format!(
            "bench cache={} build={} key={} attempt={} dir={}",
            self.lease.cache,
            self.lease.build,
            job.spec.key,
            job.spec.attempt,
            encode(&dir.display().to_string())
        )
    }

    /// What every job of the pool asks for: placement, limits, GPUs (`gpus`), nodes to
    /// avoid (`avoid`).
    fn common_args(&self, gpus: u32, avoid: &[String]) -> Vec<String> {
        let p = &self.pool;
        let mut a = vec![
            "--parsable".to_string(),
            "--open-mode=append".into(),
            format!("--chdir={}", absolute(Path::new(".")).display()),
            "--nodes=1".into(),
            "--ntasks=1".into(),
            // Our retry policy decides what runs again, and where.
            "--no-requeue".into(),
        ];
        if let Some(x) = &p.partition {
            a.push(format!("--partition={x}"));
        }
        if let Some(x) = &p.account {
            a.push(format!("--account={x}"));
        }
        if let Some(x) = &p.qos {
            a.push(format!("--qos={x}"));
        }
        if let Some(t) = p.time_limit {
            a.push(format!("--time={}", slurm_time(t)));
            // A notice before the limit (Slurm sends it up to a minute early: only for
            // limits long enough): the attempt stops its engine and says so.
            if t >= Duration::from_secs(600) {
                let notice = (t.as_secs() / 10).min(300);
                a.push(format!("--signal=B:TERM@{notice}"));
            }
        }
        if gpus > 0 {
            a.push(format!("--gres=gpu:{gpus}"));
        }
        if !avoid.is_empty() {
            a.push(format!("--exclude={}", avoid.join(",")));
        }
        a.extend(p.sbatch_args.iter().cloned());
        a
    }

    fn avoided(&self, key: &str) -> Vec<String> {
        self.avoid
            .lock()
            .unwrap()
            .get(key)
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Queues the attempt for submission with the others ready at about the same time
    /// (several of one shape go out as one job array) and returns its job id.
    async fn submit(
        &self,
        job: &Job,
        dir: &Path,
        cancel: &CancellationToken,
    ) -> Result<String, Failure> {
        let _ = std::fs::write(dir.join(bench_cache::DETACHED), &job.spec.key);
        let (tx, rx) = oneshot::channel();
        self.ready.lock().unwrap().push(Ready {
            job: job.clone(),
            dir: dir.to_path_buf(),
            tx,
        });
        tokio::select! {
            id = async {
                tokio::time::sleep(GATHER).await;
                self.submit_ready().await;
                rx.await
            } => id.unwrap_or_else(|_| Err(Failure::new(FailureClass::Infrastructure, "the submission was lost"))),
            // A job submitted after this is cancelled by whoever submits it.
            () = cancel.cancelled() => Err(Failure::new(FailureClass::Cancelled, "stopped before it was submitted")),
        }
    }

    /// Submits every attempt waiting: one `sbatch --array` per shape (GPUs, nodes to
    /// avoid) of several, one `sbatch` for one.
    async fn submit_ready(&self) {
        let _one = self.submitting.lock().await;
        let batch = std::mem::take(&mut *self.ready.lock().unwrap());
        // Attempts stopped while they waited are not submitted.
        let batch = batch.into_iter().filter(|r| !r.tx.is_closed());
        let mut shapes: BTreeMap<(u32, Vec<String>), Vec<Ready>> = BTreeMap::new();
        for r in batch {
            let shape = (r.job.gpus, self.avoided(&r.job.spec.key));
            shapes.entry(shape).or_default().push(r);
        }
        let mut orphans = Vec::new();
        for ((gpus, avoid), group) in shapes {
            let ids = if group.len() == 1 {
                self.submit_one(&group[0], gpus, &avoid)
                    .await
                    .map(|id| vec![id])
            } else {
                self.submit_array(&group, gpus, &avoid).await
            };
            match ids {
                Ok(ids) => {
                    for (r, id) in group.into_iter().zip(ids) {
                        if r.tx.send(Ok(id.clone())).is_err() {
                            orphans.push(id); // its attempt was stopped meanwhile
                        }
                    }
                }
                Err(f) => {
                    for r in group {
                        let _ = r.tx.send(Err(f.clone()));
                    }
                }
            }
        }
        if !orphans.is_empty() {
            self.scancel(orphans).await;
        }
    }

    async fn submit_one(&self, r: &Ready, gpus: u32, avoid: &[String]) -> Result<String, Failure> {
        let (job, dir) = (&r.job, &r.dir);
        let script = dir.join(SCRIPT_FILE);
        std::fs::write(&script, batch_script(&self.pool.bench, job, dir))
            .map_err(|e| infra_write(&script, e))?;
        let short = &job.spec.key[..job.spec.key.len().min(12)];
        let mut args = vec![
            format!("--job-name=bench-{}-{short}", job.spec.kind),
            format!("--comment={}", self.comment(job, dir)),
            format!("--output={}", absolute(&job.log).display()),
        ];
        args.extend(self.common_args(gpus, avoid));
        args.push(script.display().to_string());
        let id = self.sbatch(&args, std::slice::from_ref(r)).await?;
        self.said_submitted(job, &id, &args, 1);
        Ok(id)
    }

    /// One job array for attempts of one shape: element `i` runs line `i` of a table
    /// beside the array's script (key, attempt, directory, spec, log).
    async fn submit_array(
        &self,
        group: &[Ready],
        gpus: u32,
        avoid: &[String],
    ) -> Result<Vec<String>, Failure> {
        let parent = group[0].dir.parent().unwrap_or(Path::new("."));
        let adir = parent.join(format!(
            "{ARRAY_DIR}{}-{}",
            self.lease.build,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&adir).map_err(|e| infra_write(&adir, e))?;
        let table: String = group
            .iter()
            .map(|r| {
                format!(
                    "{}\t{}\t{}\t{}\t{}\n",
                    r.job.spec.key,
                    r.job.spec.attempt,
                    r.dir.display(),
                    absolute(&r.job.spec_path).display(),
                    absolute(&r.job.log).display()
                )
            })
            .collect();
        let table_path = adir.join("tasks");
        std::fs::write(&table_path, table).map_err(|e| infra_write(&table_path, e))?;
        let script = adir.join(SCRIPT_FILE);
        std::fs::write(
            &script,
            array_script(&self.pool.bench, &table_path, group.len()),
        )
        .map_err(|e| infra_write(&script, e))?;
        let mut args = vec![
            format!("--array=0-{}", group.len() - 1),
            format!("--job-name=bench-array-{}", self.pool.name),
            format!(
                "--comment=bench cache={} build={} array={}",
                self.lease.cache,
                self.lease.build,
                encode(&table_path.display().to_string())
            ),
            format!("--output={}/task-%a.log", adir.display()),
        ];
        args.extend(self.common_args(gpus, avoid));
        args.push(script.display().to_string());
        let id = self.sbatch(&args, group).await?;
        let ids: Vec<String> = (0..group.len()).map(|i| format!("{id}_{i}")).collect();
        self.arrays
            .lock()
            .unwrap()
            .insert(id.clone(), (adir.clone(), group.len()));
        for (r, id) in group.iter().zip(&ids) {
            self.said_submitted(&r.job, id, &args, group.len());
        }
        Ok(ids)
    }

    /// An element of one of this build's arrays ended: the array's directory (its
    /// script, its table, Slurm's own messages) goes when the last one has.
    fn element_ended(&self, id: &str) {
        let Some((array, _)) = id.rsplit_once('_') else {
            return;
        };
        let mut arrays = self.arrays.lock().unwrap();
        if let Some((dir, left)) = arrays.get_mut(array) {
            *left -= 1;
            if *left == 0 {
                let _ = std::fs::remove_dir_all(&*dir);
                arrays.remove(array);
            }
        }
    }

    fn said_submitted(&self, job: &Job, id: &str, args: &[String], of: usize) {
        let array = if of > 1 {
            format!(", one of an array of {of}")
        } else {
            String::new()
        };
        log_line(
            &job.log,
            &format!(
                "bench: Slurm job {id} (pool {}{array}) submitted at {}: sbatch {}",
                self.pool.name,
                humantime::format_rfc3339_micros(std::time::SystemTime::now()),
                args.join(" ")
            ),
        );
    }

    /// `sbatch ARGS`: the job id; a busy controller is waited out (with backoff) for as
    /// long as an attempt of `waiting` still wants its id.
    async fn sbatch(&self, args: &[String], waiting: &[Ready]) -> Result<String, Failure> {
        let mut delay = Duration::from_millis(500);
        loop {
            match slurm_cmd("sbatch", args).await {
                Ok(out) => {
                    // `--parsable`: `ID` or `ID;CLUSTER`.
                    let id = out.trim().split(';').next().unwrap_or("").to_string();
                    if id.is_empty() {
                        return Err(Failure::new(
                            FailureClass::Infrastructure,
                            format!("sbatch printed no job id: {out:?}"),
                        ));
                    }
                    return Ok(id);
                }
                Err(CmdError::Refused(why)) => {
                    return Err(Failure::new(
                        FailureClass::Permanent,
                        format!("sbatch refused the job of pool {}: {why}", self.pool.name),
                    ));
                }
                Err(CmdError::Missing(why)) => {
                    return Err(Failure::new(FailureClass::Permanent, why));
                }
                Err(CmdError::Busy(why)) => {
                    if waiting.iter().all(|r| r.tx.is_closed()) {
                        return Err(Failure::new(
                            FailureClass::Cancelled,
                            "stopped before it was submitted",
                        ));
                    }
                    tracing::warn!(pool = %self.pool.name, "the Slurm controller is busy or unreachable ({why}); sbatch again in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Waits for job `id` to end; cancels it (`scancel`, without waiting) when asked to stop.
    async fn wait(
        &self,
        id: &str,
        dir: &Path,
        cancel: &CancellationToken,
    ) -> Result<JobEnd, Failure> {
        let (tx, rx) = oneshot::channel();
        self.watched.lock().unwrap().insert(
            id.to_string(),
            Watch {
                tx: Some(tx),
                unlisted: 0,
                dir: dir.to_path_buf(),
            },
        );
        tokio::select! {
            end = rx => end.map_err(|_| Failure::new(FailureClass::Infrastructure, format!("lost track of Slurm job {id}"))),
            () = cancel.cancelled() => {
                self.watched.lock().unwrap().remove(id);
                self.scancel(vec![id.to_string()]).await;
                Err(Failure::new(FailureClass::Cancelled, format!("stopped; Slurm job {id} cancelled")))
            }
        }
    }

    /// Cancels jobs: ids asked for at about the same time go out in one `scancel`.
    async fn scancel(&self, ids: Vec<String>) {
        self.to_cancel.lock().unwrap().extend(ids);
        // Let the other attempts stopped by the same Ctrl-C add theirs.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let _one = self.cancelling.lock().await;
        let batch: Vec<String> = std::mem::take(&mut *self.to_cancel.lock().unwrap());
        if batch.is_empty() {
            return;
        }
        for attempt in 0..4 {
            match slurm_cmd("scancel", &batch).await {
                Ok(_) => return,
                Err(e) if attempt == 3 => {
                    tracing::warn!(
                        "cannot cancel Slurm jobs {}: {e}; cancel them with `scancel {}`",
                        batch.join(","),
                        batch.join(" ")
                    );
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500 << attempt)).await,
            }
        }
    }

    /// What a job's end means for the attempt.
    fn outcome(&self, job: &Job, id: &str, dir: &Path, end: &JobEnd) -> Result<(), Failure> {
        let on = if end.node.is_empty() {
            String::new()
        } else {
            format!(" on node {}", end.node)
        };
        let exit = read_exit_code(dir);
        let fail = |class, msg: String| Err(Failure::new(class, msg));
        let said = || {
            std::fs::read(dir.join(FAILURE_FILE))
                .ok()
                .and_then(|b| serde_json::from_slice::<Failure>(&b).ok())
        };
        let over_time = || match self.pool.time_limit {
            Some(t) => format!(
                "Slurm job {id}{on} ran past pool {}'s time limit of {} (TIMEOUT): raise its `time-limit=`",
                self.pool.name,
                humantime::format_duration(t)
            ),
            None => format!(
                "Slurm job {id}{on} ran past its partition's time limit (TIMEOUT): set `time-limit=` on pool {}",
                self.pool.name
            ),
        };
        match end.state.as_str() {
            "COMPLETED" if exit.unwrap_or(0) == 0 => Ok(()),
            // SIGTERM with nothing said: the notice before the time limit (`--signal`).
            "COMPLETED" | "FAILED" if exit == Some(128 + 15) && said().is_none() => fail(
                FailureClass::Permanent,
                format!("{} (stopped by the notice before it)", over_time()),
            ),
            "COMPLETED" | "FAILED" => match said() {
                Some(f) => Err(f),
                None => fail(
                    FailureClass::Infrastructure,
                    format!(
                        "Slurm job {id}{on} failed{} without saying why; its log: {}",
                        exit.map(|c| format!(" (exit code {c})"))
                            .unwrap_or_default(),
                        job.log.display()
                    ),
                ),
            },
            "NODE_FAIL" | "BOOT_FAIL" => {
                if !end.node.is_empty() {
                    self.avoid
                        .lock()
                        .unwrap()
                        .entry(job.spec.key.clone())
                        .or_default()
                        .insert(end.node.clone());
                }
                fail(
                    FailureClass::Infrastructure,
                    format!(
                        "Slurm node {} failed under job {id} ({}); the next attempt avoids it",
                        if end.node.is_empty() { "?" } else { &end.node },
                        end.state
                    ),
                )
            }
            "PREEMPTED" => fail(
                FailureClass::Preemption,
                format!("Slurm job {id}{on} was preempted"),
            ),
            "TIMEOUT" => fail(FailureClass::Permanent, over_time()),
            "OUT_OF_MEMORY" => fail(
                FailureClass::Permanent,
                format!(
                    "Slurm job {id}{on} ran out of memory (OUT_OF_MEMORY): ask for more with `sbatch-args=\"--mem=…\"` on pool {}",
                    self.pool.name
                ),
            ),
            "DEADLINE" => fail(
                FailureClass::Permanent,
                format!("Slurm job {id} missed its deadline (DEADLINE)"),
            ),
            "CANCELLED" => fail(
                FailureClass::Infrastructure,
                format!(
                    "Slurm job {id}{on} was cancelled outside this build{}",
                    if end.reason.is_empty() || end.reason == "None" {
                        String::new()
                    } else {
                        format!(" ({})", end.reason)
                    }
                ),
            ),
            other => fail(
                FailureClass::Infrastructure,
                format!(
                    "Slurm job {id}{on} ended {other}; its log: {}",
                    job.log.display()
                ),
            ),
        }
    }

    /// Lists this cache's jobs left by dead builds: one per key this build may run — queued,
    /// running, or completed since (its outputs are still in its directory) — is kept for
    /// adoption; the others still queued or running are cancelled.
    async fn find_leftovers(&self, to_run: &[String]) {
        // Array directories that jobs still queued or running need (their script, their
        // table, Slurm's output), by name (unique: the build and a timestamp).
        let mut in_use: std::collections::HashSet<std::ffi::OsString> =
            std::collections::HashSet::new();
        let args = ["--me", "-h", "-r", "-t", "all", "-o", "%i|%T|%k"];
        let out = match slurm_cmd("squeue", &args).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(pool = %self.pool.name, "cannot list Slurm jobs left by earlier builds: {e}");
                return;
            }
        };
        let wanted: std::collections::HashSet<&str> = to_run.iter().map(String::as_str).collect();
        let mut adopt = HashMap::new();
        let mut cancel = Vec::new();
        let mut live: HashMap<String, bool> = HashMap::new();
        for line in out.lines() {
            let f: Vec<&str> = line.splitn(3, '|').collect();
            let [id, state, comment] = f[..] else {
                continue;
            };
            let Some(mut c) = parse_comment(comment) else {
                continue;
            };
            if c.cache != self.lease.cache || c.build == self.lease.build {
                continue;
            }
            // An array element still queued or running needs its array's directory.
            let needs = (!is_final(state))
                .then(|| {
                    c.array
                        .as_deref()
                        .and_then(|t| Path::new(t).parent()?.file_name())
                })
                .flatten()
                .map(std::ffi::OsStr::to_os_string);
            if let Some(table) = &c.array {
                // `ID_INDEX`: the element's line of the array's table.
                let index = id
                    .rsplit_once('_')
                    .and_then(|(_, i)| i.parse::<usize>().ok());
                match index.and_then(|i| array_task(table, i)) {
                    Some((key, dir)) => (c.key, c.dir) = (key, dir),
                    None if !is_final(state) => {
                        cancel.push(id.to_string());
                        continue;
                    }
                    None => continue,
                }
            }
            let alive = *live
                .entry(c.build.clone())
                .or_insert_with(|| (self.lease.is_live)(&c.build));
            if alive {
                in_use.extend(needs);
                continue; // another build on this cache, running now
            }
            // Its directory is where its outputs go: gone (the cache was cleared), there is
            // nothing to adopt.
            let dir = PathBuf::from(&c.dir);
            let usable = dir.is_dir()
                && (!is_final(state) || (state == "COMPLETED" && read_exit_code(&dir) == Some(0)));
            if usable && wanted.contains(c.key.as_str()) && !adopt.contains_key(&c.key) {
                in_use.extend(needs);
                adopt.insert(
                    c.key.clone(),
                    Leftover {
                        id: id.to_string(),
                        build: c.build.clone(),
                        dir,
                    },
                );
            } else if !is_final(state) {
                cancel.push(id.to_string());
            }
        }
        if !adopt.is_empty() {
            tracing::warn!(pool = %self.pool.name, "adopting {} Slurm job(s) of a build that died", adopt.len());
        }
        if !cancel.is_empty() {
            tracing::warn!(pool = %self.pool.name, "cancelling {} Slurm job(s) left by a build that died: {}", cancel.len(), cancel.join(","));
            self.scancel(cancel).await;
        }
        self.leftovers.lock().unwrap().extend(adopt);
        self.remove_dead_arrays(&in_use, &mut live);
    }

    /// Array directories of builds that died, which no queued or running job needs: a
    /// killed build could not remove them when its last element ended.
    fn remove_dead_arrays(
        &self,
        in_use: &std::collections::HashSet<std::ffi::OsString>,
        live: &mut HashMap<String, bool>,
    ) {
        let Ok(entries) = std::fs::read_dir(&self.lease.tmp) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // `slurm-array-BUILD-NANOS`; the build id is a UUID (hyphens inside).
            let Some(build) = name
                .strip_prefix(ARRAY_DIR)
                .and_then(|rest| rest.rsplit_once('-'))
                .map(|(b, _)| b.to_string())
            else {
                continue;
            };
            if build == self.lease.build || in_use.contains(&e.file_name()) {
                continue;
            }
            let alive = *live
                .entry(build.clone())
                .or_insert_with(|| (self.lease.is_live)(&build));
            if !alive {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// Waits for a dead build's job and takes its outputs as this attempt's.
    async fn adopt(
        &self,
        l: Leftover,
        job: &Job,
        transfer: &dyn Transfer,
        cancel: CancellationToken,
    ) -> Result<(), Failure> {
        log_line(
            &job.log,
            &format!(
                "bench: adopting Slurm job {} of build {} (it was running when that build died); its directory: {}",
                l.id,
                l.build,
                l.dir.display()
            ),
        );
        let end = self.wait(&l.id, &l.dir, &cancel).await?;
        self.outcome(job, &l.id, &l.dir, &end)?;
        let out = l.dir.join("out");
        let entries = std::fs::read_dir(&out).map_err(|e| {
            Failure::new(
                FailureClass::Infrastructure,
                format!("adopted job {}: cannot read {}: {e}", l.id, out.display()),
            )
        })?;
        for e in entries {
            let e = e.map_err(|e| Failure::new(FailureClass::Infrastructure, e.to_string()))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let mut f = std::fs::File::open(e.path())
                .map_err(|e| Failure::new(FailureClass::Infrastructure, e.to_string()))?;
            transfer.put_output(&name, &mut f)?;
        }
        // Its outputs are this attempt's now.
        let _ = std::fs::remove_dir_all(&l.dir);
        Ok(())
    }

    /// One poll: `squeue` for every job of the build; `sacct` for those it no longer lists.
    async fn poll(&self) {
        if self.watched.lock().unwrap().is_empty() {
            return;
        }
        let args = ["--me", "-h", "-r", "-t", "all", "-o", "%i|%T|%r|%N"];
        let listed = match slurm_cmd("squeue", &args).await {
            Ok(out) => parse_states(&out),
            Err(e) => {
                let mut w = self.warned.lock().unwrap();
                if w.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    tracing::warn!(pool = %self.pool.name, "squeue failed ({e}); asking again at each poll");
                    *w = Some(Instant::now());
                }
                return;
            }
        };
        let mut unlisted = Vec::new();
        {
            let mut w = self.watched.lock().unwrap();
            w.retain(|id, watch| match listed.get(id) {
                Some(end) if is_final(&end.state) => {
                    if let Some(tx) = watch.tx.take() {
                        let _ = tx.send(end.clone());
                    }
                    false
                }
                Some(_) => {
                    watch.unlisted = 0;
                    true
                }
                None => {
                    watch.unlisted += 1;
                    if watch.unlisted > UNLISTED_POLLS {
                        unlisted.push((id.clone(), watch.dir.clone()));
                    }
                    true
                }
            });
        }
        if unlisted.is_empty() {
            return;
        }
        let ids: Vec<&str> = unlisted.iter().map(|(id, _)| id.as_str()).collect();
        let found = self.sacct(&ids).await;
        let mut w = self.watched.lock().unwrap();
        for (id, dir) in unlisted {
            let end = match found.get(&id) {
                Some(end) if is_final(&end.state) => end.clone(),
                Some(_) => continue,
                // Neither squeue nor sacct knows it: its exit-code file is the last word.
                None => JobEnd {
                    state: match read_exit_code(&dir) {
                        Some(0) => "COMPLETED".into(),
                        Some(_) => "FAILED".into(),
                        None => "VANISHED".into(),
                    },
                    reason: String::new(),
                    node: String::new(),
                },
            };
            if let Some(mut watch) = w.remove(&id)
                && let Some(tx) = watch.tx.take()
            {
                let _ = tx.send(end);
            }
        }
    }

    /// Jobs' final states from accounting, or from the completion records where
    /// accounting is off (`sacct -c`).
    async fn sacct(&self, ids: &[&str]) -> HashMap<String, JobEnd> {
        let list = ids.join(",");
        let since = humantime::format_rfc3339_seconds(self.started - Duration::from_secs(86_400))
            .to_string()
            .trim_end_matches('Z')
            .to_string();
        let acct = [
            "-X",
            "-n",
            "-P",
            "-o",
            "JobID,State,NodeList",
            "-S",
            since.as_str(),
            "-j",
            list.as_str(),
        ];
        let comp = [
            "-c",
            "-n",
            "-P",
            "-o",
            "JobID,State,NodeList",
            "-j",
            list.as_str(),
        ];
        for args in [&acct[..], &comp[..]] {
            if let Ok(out) = slurm_cmd("sacct", args).await {
                let mut m = HashMap::new();
                for line in out.lines() {
                    let f: Vec<&str> = line.split('|').collect();
                    if f.len() >= 2 {
                        // `CANCELLED by 0` → `CANCELLED`.
                        let state = f[1].split_whitespace().next().unwrap_or("").to_string();
                        m.insert(
                            f[0].to_string(),
                            JobEnd {
                                state,
                                reason: String::new(),
                                node: f.get(2).unwrap_or(&"").to_string(),
                            },
                        );
                    }
                }
                if !m.is_empty() {
                    return m;
                }
            }
        }
        HashMap::new()
    }
}

async fn poll_loop(inner: Weak<Inner>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(i) = inner.upgrade() else { return };
        i.poll().await;
    }
}

/// States after which a job never runs again (it was submitted with `--no-requeue`).
fn is_final(state: &str) -> bool {
    !matches!(
        state,
        "PENDING"
            | "CONFIGURING"
            | "RUNNING"
            | "COMPLETING"
            | "SUSPENDED"
            | "REQUEUED"
            | "REQUEUE_FED"
            | "REQUEUE_HOLD"
            | "RESIZING"
            | "SIGNALING"
            | "STAGE_OUT"
            | "STOPPED"
            | "RESV_DEL_HOLD"
    )
}

/// `squeue -o %i|%T|%r|%N` lines: id → state.
fn parse_states(out: &str) -> HashMap<String, JobEnd> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split('|').collect();
            (f.len() >= 2).then(|| {
                (
                    f[0].to_string(),
                    JobEnd {
                        state: f[1].to_string(),
                        reason: f.get(2).unwrap_or(&"").to_string(),
                        node: f.get(3).unwrap_or(&"").to_string(),
                    },
                )
            })
        })
        .collect()
}

/// What a job's comment says: the cache and build it belongs to, and either its key and
/// directory or (a job array) the table of its elements.
struct Comment {
    cache: String,
    build: String,
    key: String,
    dir: String,
    array: Option<PathBuf>,
}

fn parse_comment(c: &str) -> Option<Comment> {
    let mut words = c.split_whitespace();
    if words.next()? != "bench" {
        return None;
    }
    let mut m: HashMap<&str, &str> = HashMap::new();
    for w in words {
        if let Some((k, v)) = w.split_once('=') {
            m.insert(k, v);
        }
    }
    Some(Comment {
        cache: m.get("cache")?.to_string(),
        build: m.get("build")?.to_string(),
        key: m.get("key").map(|k| k.to_string()).unwrap_or_default(),
        dir: m.get("dir").map(|d| decode(d)).unwrap_or_default(),
        array: m.get("array").map(|a| PathBuf::from(decode(a))),
    })
}

/// The job's script: `bench exec-node SPEC`, a TERM (scancel, the time limit's notice)
/// passed on to it, its exit code kept beside the spec.
fn batch_script(bench: &Path, job: &Job, dir: &Path) -> String {
    format!(
        "#!/bin/sh\n\
         # bench attempt {attempt} of {label} (key {key})\n\
         {bench} exec-node {spec} &\n\
         pid=$!\n\
         trap 'kill -TERM \"$pid\" 2>/dev/null' TERM INT USR1\n\
         status=0\n\
         wait \"$pid\" || status=$?\n\
         while kill -0 \"$pid\" 2>/dev/null; do wait \"$pid\"; status=$?; done\n\
         echo \"$status\" > {exit}\n\
         exit \"$status\"\n",
        attempt = job.spec.attempt,
        label = job.spec.label.replace('\n', " "),
        key = job.spec.key,
        bench = sh_quote(&bench.display().to_string()),
        spec = sh_quote(&absolute(&job.spec_path).display().to_string()),
        exit = sh_quote(&dir.join(EXIT_CODE_FILE).display().to_string()),
    )
}

/// A path as one word of a comment (`%` and whitespace escaped).
fn encode(s: &str) -> String {
    s.replace('%', "%25")
        .replace(' ', "%20")
        .replace('\t', "%09")
}

fn decode(s: &str) -> String {
    s.replace("%20", " ")
        .replace("%09", "\t")
        .replace("%25", "%")
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The script of a job array: element `SLURM_ARRAY_TASK_ID` runs its line of the table,
/// its output appended to that attempt's log, as [`batch_script`] does for one.
fn array_script(bench: &Path, table: &Path, n: usize) -> String {
    format!(
        "#!/bin/sh\n\
         # bench: a job array of {n} attempts; element i runs line i + 1 of {table_name}\n\
         line=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {table})\n\
         dir=$(printf '%s\\n' \"$line\" | cut -f3)\n\
         spec=$(printf '%s\\n' \"$line\" | cut -f4)\n\
         log=$(printf '%s\\n' \"$line\" | cut -f5)\n\
         exec >>\"$log\" 2>&1\n\
         {bench} exec-node \"$spec\" &\n\
         pid=$!\n\
         trap 'kill -TERM \"$pid\" 2>/dev/null' TERM INT USR1\n\
         status=0\n\
         wait \"$pid\" || status=$?\n\
         while kill -0 \"$pid\" 2>/dev/null; do wait \"$pid\"; status=$?; done\n\
         echo \"$status\" > \"$dir/{exit}\"\n\
         exit \"$status\"\n",
        table_name = table.display(),
        table = sh_quote(&table.display().to_string()),
        bench = sh_quote(&bench.display().to_string()),
        exit = EXIT_CODE_FILE,
    )
}

/// A line of an array's table: (key, directory).
fn array_task(table: &Path, index: usize) -> Option<(String, String)> {
    let text = std::fs::read_to_string(table).ok()?;
    let line = text.lines().nth(index)?;
    let f: Vec<&str> = line.split('\t').collect();
    Some((f.first()?.to_string(), f.get(2)?.to_string()))
}

fn infra_write(path: &Path, e: std::io::Error) -> Failure {
    Failure::new(
        FailureClass::Infrastructure,
        format!("cannot write {}: {e}", path.display()),
    )
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn read_exit_code(dir: &Path) -> Option<i32> {
    std::fs::read_to_string(dir.join(EXIT_CODE_FILE))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

fn log_line(log: &Path, line: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// Slurm's `--time` in whole minutes, rounded up (Slurm keeps limits in minutes).
fn slurm_time(d: Duration) -> String {
    d.as_secs().div_ceil(60).max(1).to_string()
}

#[derive(Debug)]
enum CmdError {
    /// The command is not installed.
    Missing(String),
    /// The controller is busy or unreachable, or the command timed out: try again later.
    Busy(String),
    /// The controller said no (a bad partition, account, argument).
    Refused(String),
}

impl std::fmt::Display for CmdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(s) | Self::Busy(s) | Self::Refused(s) => f.write_str(s),
        }
    }
}

/// Runs a Slurm command with a timeout; its stdout, or why it failed.
async fn slurm_cmd<S: AsRef<std::ffi::OsStr>>(
    program: &str,
    args: &[S],
) -> Result<String, CmdError> {
    let t0 = Instant::now();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(COMMAND_TIMEOUT, cmd.output()).await {
        Err(_) => {
            return Err(CmdError::Busy(format!(
                "{program} did not answer within {}s",
                COMMAND_TIMEOUT.as_secs()
            )));
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CmdError::Missing(format!(
                "`{program}` is not on PATH: bench submits Slurm jobs with Slurm's own commands (install slurm-client, or run bench on a login node)"
            )));
        }
        Ok(Err(e)) => return Err(CmdError::Busy(format!("cannot run {program}: {e}"))),
        Ok(Ok(o)) => o,
    };
    tracing::debug!(program, secs = t0.elapsed().as_secs_f64(), "slurm command");
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let busy = [
        "timed out",
        "Unable to contact",
        "temporarily",
        "try again",
        "Connection refused",
        "Transport endpoint",
        "Socket",
        "busy",
        "Zero Bytes",
    ]
    .iter()
    .any(|s| err.to_lowercase().contains(&s.to_lowercase()));
    let msg = format!("{program}: {err}");
    Err(if busy {
        CmdError::Busy(msg)
    } else {
        CmdError::Refused(msg)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_and_comments_parse() {
        let m = parse_states("12|RUNNING|None|n1\n13_2|NODE_FAIL|NodeDown|n2\n");
        assert_eq!(m["12"].state, "RUNNING");
        assert_eq!(m["13_2"].node, "n2");
        assert!(!is_final("RUNNING") && !is_final("COMPLETING") && is_final("TIMEOUT"));
        let c =
            parse_comment("bench cache=ab12 build=u-1 key=ffee attempt=2 dir=/a%20b/c%25").unwrap();
        assert_eq!(
            (c.cache.as_str(), c.build.as_str(), c.key.as_str()),
            ("ab12", "u-1", "ffee")
        );
        assert_eq!(c.dir, "/a b/c%");
        assert_eq!(decode(&encode("/x y/%20")), "/x y/%20");
        assert!(parse_comment("someone else's job").is_none());
        let a = parse_comment("bench cache=c build=b array=/t%20x/tasks").unwrap();
        assert_eq!(a.array, Some(PathBuf::from("/t x/tasks")));
        assert_eq!(slurm_time(Duration::from_secs(5400)), "90");
        assert_eq!(slurm_time(Duration::from_secs(61)), "2");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}
