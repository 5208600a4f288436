//! The Docker side of the CLI: image digests for keys, `bench hosts`, `bench clean
//! --containers`, `bench sim-image`, and the reaping of dead builds' containers when a
//! build starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bench_docker::gpus::Discovery;
use bench_docker::hygiene::{self, BenchContainer};
use bench_docker::images::ImageFile;
use bench_docker::{DockerHost, Endpoint};
use bench_engines::EnginePlugin;
use bench_sweep::ast::{ExecutorKind, Host};
use bench_sweep::{Source, Sweep};
use serde::Serialize;

use crate::cli::{CleanArgs, HostsArgs, SimImageArgs};
use crate::commands::Mode;
use crate::error::CliError;

/// A Docker host of the sweep as bench-docker sees it.
pub fn endpoint(h: &Host) -> Endpoint {
    Endpoint {
        address: h.address.as_ref().map(|a| a.value.clone()),
        tls_dir: h.tls_dir.as_ref().map(|t| PathBuf::from(&t.value)),
    }
}

fn docker_endpoints(sweep: &Sweep) -> Vec<Endpoint> {
    let mut eps: Vec<Endpoint> = Vec::new();
    for h in sweep
        .hosts
        .iter()
        .filter(|h| h.executor == ExecutorKind::Docker)
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
                eprintln!(
                    "warning: {}; engine images there are not resolved to digests, so the plan \
                     cannot tell which benches are cached",
                    e.message
                );
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
                    Err(_) => eprintln!(
                        "warning: {image} is not on {} and no registry answers for it: its \
                         setup node will fail unless it is built or loaded there{}",
                        ep.describe(),
                        if image.starts_with("bench/sim-engine") {
                            " (`bench sim-image` builds it)"
                        } else {
                            ""
                        }
                    ),
                },
                Err(e) => eprintln!("warning: {}", e.message),
            }
        }
    }
    out
}

/// Whose a container is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    /// Its build runs.
    Live,
    /// Its build is gone (or its cache is).
    Dead,
    /// Started from another machine's cache: its liveness cannot be seen from here.
    Foreign,
}

fn owner(c: &BenchContainer, me: &str) -> Owner {
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
pub fn reap_orphans(sweep: &Sweep) -> Result<(), CliError> {
    let me = hygiene::hostname();
    for ep in docker_endpoints(sweep) {
        let host = DockerHost::connect(&ep).map_err(|e| CliError::Other(e.message))?;
        let reaped = host
            .reap(|c| owner(c, &me) == Owner::Dead)
            .map_err(|e| CliError::Other(e.message))?;
        for c in &reaped {
            eprintln!(
                "removed container {} of a build that is gone ({}, build {})",
                c.name,
                c.label(hygiene::LABEL),
                c.label(hygiene::BUILD)
            );
        }
    }
    Ok(())
}

pub fn clean(a: CleanArgs, m: Mode) -> Result<ExitCode, CliError> {
    let eps = match &a.sweep {
        Some(path) => {
            let source: Source = crate::commands::read_source(path)?;
            let parsed = crate::commands::parse(&source, m)?;
            let eps = docker_endpoints(&parsed.sweep);
            if eps.is_empty() {
                println!("{} has no Docker hosts", path.display());
                return Ok(ExitCode::SUCCESS);
            }
            eps
        }
        None => vec![Endpoint::local()],
    };
    let me = hygiene::hostname();
    let mut removed = 0;
    let mut kept = 0;
    for ep in eps {
        let host = DockerHost::connect(&ep).map_err(|e| CliError::Other(e.message))?;
        for c in host
            .bench_containers()
            .map_err(|e| CliError::Other(e.message))?
        {
            let o = owner(&c, &me);
            let remove = o == Owner::Dead || (a.all && o == Owner::Foreign);
            let what = format!(
                "{} on {} ({}, {}, build {})",
                c.name,
                ep.describe(),
                c.state,
                c.label(hygiene::LABEL),
                c.label(hygiene::BUILD)
            );
            if !remove {
                kept += 1;
                println!(
                    "kept    {what}: {}",
                    match o {
                        Owner::Live => "its build is running",
                        _ => "started from another machine's cache (--all removes it)",
                    }
                );
                continue;
            }
            if a.dry_run {
                println!("would remove {what}");
            } else {
                host.remove_container(&c.id)
                    .map_err(|e| CliError::Other(e.message))?;
                println!("removed {what}");
            }
            removed += 1;
        }
    }
    println!(
        "{removed} container(s) {}, {kept} kept",
        if a.dry_run {
            "would be removed"
        } else {
            "removed"
        }
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct HostReport {
    host: String,
    executor: &'static str,
    gpu: String,
    gpus: u32,
    address: Option<String>,
    reachable: Option<bool>,
    discovery: Option<Discovery>,
    problems: Vec<String>,
}

pub fn hosts(a: HostsArgs, sweep: &Sweep, m: Mode) -> Result<ExitCode, CliError> {
    let mut reports = Vec::new();
    for h in &sweep.hosts {
        let executor = if m.simulate {
            ExecutorKind::Sim
        } else {
            h.executor
        };
        let mut r = HostReport {
            host: h.name.value.clone(),
            executor: executor.name(),
            gpu: h.gpu.value.clone(),
            gpus: h.gpus,
            address: None,
            reachable: None,
            discovery: None,
            problems: Vec::new(),
        };
        match executor {
            ExecutorKind::Sim => {}
            ExecutorKind::Endpoint => {
                r.address = h.address.as_ref().map(|a| a.value.clone());
            }
            ExecutorKind::Local => r.discovery = Some(bench_docker::gpus::local()),
            ExecutorKind::Docker => {
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
    if a.json {
        for r in &reports {
            println!(
                "{}",
                serde_json::to_string(r).map_err(|e| CliError::Other(e.to_string()))?
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if reports.is_empty() {
        println!("the sweep declares no hosts: bench runs on this machine");
    }
    for r in &reports {
        println!(
            "{}  {}  {} × {}{}",
            r.host,
            r.executor,
            r.gpus,
            r.gpu,
            r.address
                .as_deref()
                .map(|a| format!("  {a}"))
                .unwrap_or_default()
        );
        match r.executor {
            "sim" => println!("    simulated: no GPU needed"),
            "endpoint" => println!("    a server that is already running: bench drives load only"),
            _ => {}
        }
        if r.reachable == Some(true) {
            println!("    Docker answers");
        }
        if let Some(d) = &r.discovery {
            for g in &d.gpus {
                println!(
                    "    GPU {}: {}{}{}",
                    g.index,
                    g.name,
                    if g.memory_mib > 0 {
                        format!(", {} MiB", g.memory_mib)
                    } else {
                        String::new()
                    },
                    if g.uuid.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", g.uuid)
                    }
                );
            }
            if let Some(n) = &d.note {
                println!("    {n} (via {})", d.source);
            }
        }
        for p in &r.problems {
            println!("    problem: {p}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The shared libraries a program loads, from `ldd`.
fn shared_libraries(program: &Path) -> Result<Vec<PathBuf>, CliError> {
    let out = std::process::Command::new("ldd")
        .arg(program)
        .output()
        .map_err(|e| CliError::Other(format!("cannot run ldd: {e}")))?;
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

pub fn sim_image(a: SimImageArgs) -> Result<ExitCode, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Other(format!("cannot find this executable: {e}")))?;
    let beside = exe.with_file_name("bench-sim-engine");
    let (program, entrypoint) = match a.program {
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
    // The engine listens on all interfaces inside its container.
    let host = DockerHost::connect(&Endpoint::local()).map_err(|e| CliError::Other(e.message))?;
    println!(
        "building {} from {} ({} files) on {}",
        a.tag,
        program.display(),
        files.len(),
        host.endpoint.describe()
    );
    let image = host
        .build_scratch_image(
            &a.tag,
            &files,
            &entrypoint,
            &[("org.opencontainers.image.title", "bench sim engine")],
            &mut |line| println!("  {line}"),
        )
        .map_err(|e| CliError::Other(e.message))?;
    println!("built {} ({})", a.tag, image.id);
    Ok(ExitCode::SUCCESS)
}
