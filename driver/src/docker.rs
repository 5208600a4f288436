//! Hosts of a sweep: image digests for keys, whose containers are whose, the reaping of
//! dead builds' containers when a build starts, what `bench hosts` reports, and what the
//! sim engine's image holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bench_docker::gpus::Discovery;
use bench_docker::hygiene::{self, BenchContainer};
use bench_docker::images::ImageFile;
use bench_docker::{DockerHost, Endpoint};
use bench_engines::EnginePlugin;
use bench_sweep::Sweep;
use bench_sweep::ast::{Host, RuntimeKind};
use serde::Serialize;

use crate::compile::Mode;
use crate::error::{Error, Result};
use crate::remember::{Answers, LOOKUP_TIMEOUT};

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
/// keys: the host's own image, else the registry's (not asked `offline`). Every host and
/// image is asked at once and for at most [`LOOKUP_TIMEOUT`] in all; answers are
/// remembered in `answers_file`, and the last one stands in (with a note) for a question
/// not answered now. An image with no answer at all is left unresolved: the setup node
/// then pulls it or fails saying why.
pub fn resolve_images(
    sweep: &Sweep,
    registry: &[Box<dyn EnginePlugin>],
    offline: bool,
    answers_file: &Path,
    notes: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let eps = docker_endpoints(sweep);
    let mut out = BTreeMap::new();
    if eps.is_empty() {
        return out;
    }
    let mut images: Vec<String> = sweep
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
    images.sort();
    images.dedup();
    // One thread per host and image: a host that does not answer, or a registry that
    // drops packets, holds up nothing but its own question.
    let (tx, rx) = std::sync::mpsc::channel();
    for ep in &eps {
        for image in &images {
            let (tx, ep, image) = (tx.clone(), ep.clone(), image.clone());
            std::thread::spawn(move || {
                let answer = image_digest(&ep, &image, offline);
                let _ = tx.send((ep.describe(), image, answer));
            });
        }
    }
    drop(tx);
    let mut answers = Answers::load(answers_file);
    let deadline = std::time::Instant::now() + LOOKUP_TIMEOUT;
    let mut asked = eps.len() * images.len();
    while asked > 0 {
        let wait = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok((host, image, answer)) = rx.recv_timeout(wait) else {
            break;
        };
        asked -= 1;
        match answer {
            Ok(digest) => {
                answers.put(format!("{host} {image}"), digest.clone());
                out.entry(image).or_insert(digest);
            }
            Err(why) => notes.push(why),
        }
    }
    if asked > 0 {
        notes.push(format!(
            "{asked} image lookup(s) gave no answer within {} s: going on without them",
            LOOKUP_TIMEOUT.as_secs()
        ));
    }
    answers.save(answers_file);
    for image in &images {
        if out.contains_key(image) {
            continue;
        }
        let last = eps
            .iter()
            .find_map(|ep| answers.get(&format!("{} {image}", ep.describe())));
        if let Some(a) = last {
            notes.push(format!(
                "{image}: using the digest it had {} ago ({})",
                a.age(),
                a.value
            ));
            out.insert(image.clone(), a.value.clone());
        }
    }
    out
}

/// One image's digest on one host: the host's copy, else the registry's.
fn image_digest(ep: &Endpoint, image: &str, offline: bool) -> std::result::Result<String, String> {
    let host = DockerHost::connect(ep).map_err(|e| {
        format!(
            "{}; engine images there are not resolved to digests, so the plan cannot tell \
             which benches are cached",
            e.message
        )
    })?;
    match host.image(image) {
        Ok(Some(i)) => return Ok(i.digest().to_string()),
        Ok(None) => {}
        Err(e) => return Err(e.message),
    }
    let hint = if image.starts_with("bench/sim-engine") {
        " (`bench sim-image` builds it)"
    } else {
        ""
    };
    if offline {
        return Err(format!(
            "{image} is not on {} and --offline asks no registry: its setup node will fail \
             unless it is built or loaded there{hint}",
            ep.describe()
        ));
    }
    host.registry_digest(image).map_err(|_| {
        format!(
            "{image} is not on {} and no registry answers for it: its setup node will fail \
             unless it is built or loaded there{hint}",
            ep.describe()
        )
    })
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

/// What `bench clean --containers` did: how many containers it removed (or would), and
/// how many it kept.
pub struct Cleaned {
    pub removed: usize,
    pub kept: usize,
}

/// Removes bench's containers on the given Docker hosts whose builds are gone (with `all`,
/// also those started from another machine's cache), saying a line for each container.
pub fn clean(
    eps: Vec<Endpoint>,
    all: bool,
    dry_run: bool,
    say: &mut dyn FnMut(String),
) -> Result<Cleaned> {
    let me = hygiene::hostname();
    let mut done = Cleaned {
        removed: 0,
        kept: 0,
    };
    for ep in eps {
        let host = DockerHost::connect(&ep).map_err(|e| Error::Other(e.message))?;
        for c in host
            .bench_containers()
            .map_err(|e| Error::Other(e.message))?
        {
            let o = owner(&c, &me);
            let what = format!(
                "{} on {} ({}, {}, build {})",
                c.name,
                ep.describe(),
                c.state,
                c.label(hygiene::LABEL),
                c.label(hygiene::BUILD)
            );
            if o == Owner::Live || (o == Owner::Foreign && !all) {
                done.kept += 1;
                say(format!(
                    "kept    {what}: {}",
                    match o {
                        Owner::Live => "its build is running",
                        _ => "started from another machine's cache (--all removes it)",
                    }
                ));
                continue;
            }
            if dry_run {
                say(format!("would remove {what}"));
            } else {
                host.remove_container(&c.id)
                    .map_err(|e| Error::Other(e.message))?;
                say(format!("removed {what}"));
            }
            done.removed += 1;
        }
    }
    Ok(done)
}

/// Builds the sim engine's image (see [`sim_image_files`]) on the local Docker daemon,
/// saying each step; returns the image id.
pub fn sim_image(
    tag: &str,
    program: Option<PathBuf>,
    say: &mut dyn FnMut(String),
) -> Result<String> {
    let (program, entrypoint, files) = sim_image_files(program)?;
    // The engine listens on all interfaces inside its container.
    let host = DockerHost::connect(&Endpoint::local()).map_err(|e| Error::Other(e.message))?;
    say(format!(
        "building {tag} from {} ({} files) on {}",
        program.display(),
        files.len(),
        host.endpoint.describe()
    ));
    let image = host
        .build_scratch_image(
            tag,
            &files,
            &entrypoint,
            &[("org.opencontainers.image.title", "bench sim engine")],
            &mut |line| say(format!("  {line}")),
        )
        .map_err(|e| Error::Other(e.message))?;
    Ok(image.id)
}

/// What `bench hosts` says of one host.
#[derive(Serialize)]
pub struct HostReport {
    pub host: String,
    pub runtime: &'static str,
    pub gpu: String,
    pub gpus: u32,
    pub address: Option<String>,
    pub reachable: Option<bool>,
    pub discovery: Option<Discovery>,
    /// A cluster pool's nodes as its scheduler lists them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    pub problems: Vec<String>,
}

/// Each host of a sweep: how its engines run, whether its Docker daemon answers, the GPUs
/// found there, and how they differ from what the sweep declares.
pub fn host_reports(sweep: &Sweep, m: Mode) -> Vec<HostReport> {
    let mut reports = Vec::new();
    for h in &sweep.hosts {
        let runtime = if m.simulate {
            RuntimeKind::Sim
        } else {
            h.runtime
        };
        let mut r = HostReport {
            host: h.name.value.clone(),
            runtime: runtime.name(),
            gpu: h.gpu.value.clone(),
            gpus: h.gpus,
            address: None,
            reachable: None,
            discovery: None,
            nodes: Vec::new(),
            problems: Vec::new(),
        };
        if let Some(c) = &h.cluster {
            // The cluster's scheduler owns its nodes' GPUs: what it says of them.
            r.address = Some(match &c.partition {
                Some(p) => format!("Slurm pool, partition {p}"),
                None => "Slurm pool, default partition".into(),
            });
            let (nodes, problems) = crate::pools::describe(h, c);
            r.nodes = nodes;
            r.problems.extend(problems);
            reports.push(r);
            continue;
        }
        match runtime {
            RuntimeKind::Sim => {}
            RuntimeKind::Endpoint => {
                r.address = h.address.as_ref().map(|a| a.value.clone());
            }
            RuntimeKind::Process | RuntimeKind::Apptainer | RuntimeKind::Pyxis => {
                r.discovery = Some(bench_docker::gpus::local())
            }
            RuntimeKind::Docker => {
                let ep = endpoint(h);
                r.address = Some(ep.describe());
                match DockerHost::connect(&ep) {
                    Ok(host) => {
                        r.reachable = Some(true);
                        r.discovery = Some(host.gpus());
                    }
                    Err(e) => {
                        r.reachable = Some(false);
                        r.problems.push(e.message);
                    }
                }
            }
        }
        if let Some(d) = &r.discovery
            && !d.gpus.is_empty()
        {
            if (d.gpus.len() as u32) < h.gpus {
                r.problems
                    .push(format!("declares {} GPUs, {} found", h.gpus, d.gpus.len()));
            }
            let family = h.gpu.value.split('-').next().unwrap_or("").to_lowercase();
            if h.gpu.value != "auto"
                && !d
                    .gpus
                    .iter()
                    .all(|g| g.name.to_lowercase().contains(&family))
            {
                r.problems.push(format!(
                    "declares {}, found {}",
                    h.gpu.value,
                    d.gpus
                        .iter()
                        .map(|g| g.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        reports.push(r);
    }
    reports
}

/// The shared libraries a program loads, from `ldd`.
fn shared_libraries(program: &Path) -> Result<Vec<PathBuf>> {
    let out = std::process::Command::new("ldd")
        .arg(program)
        .output()
        .map_err(|e| Error::Other(format!("cannot run ldd: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(Vec::new());
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    Ok(libs)
}

/// What the sim engine's image holds: the program (`given`, else `bench-sim-engine` beside
/// this executable, else this executable as `bench sim-engine`) and the libraries it loads.
/// Returns the program, the entrypoint and the files.
pub fn sim_image_files(given: Option<PathBuf>) -> Result<(PathBuf, Vec<String>, Vec<ImageFile>)> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Other(format!("cannot find this executable: {e}")))?;
    let beside = exe.with_file_name("bench-sim-engine");
    let (program, entrypoint) = match given {
        Some(p) => (p, vec!["/bench-sim-engine".to_string()]),
        None if beside.is_file() => (beside, vec!["/bench-sim-engine".to_string()]),
        None => (exe, vec!["/bench".to_string(), "sim-engine".to_string()]),
    };
    let mut files = vec![ImageFile {
        path_in_image: entrypoint[0].clone(),
        source: program.clone(),
    }];
    for lib in shared_libraries(&program)? {
        let real = std::fs::canonicalize(&lib).unwrap_or_else(|_| lib.clone());
        files.push(ImageFile {
            path_in_image: lib.display().to_string(),
            source: real,
        });
    }
    Ok((program, entrypoint, files))
}
