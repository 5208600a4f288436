//! `bench hosts`, `bench clean --containers`, `bench sim-image`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bench_docker::gpus::Discovery;
use bench_docker::hygiene;
use bench_docker::images::ImageFile;
use bench_docker::{DockerHost, Endpoint};
use bench_driver::compile::{Loaded, Mode};
use bench_driver::docker::{Owner, docker_endpoints, endpoint, owner};
use bench_sweep::Sweep;
use bench_sweep::ast::RuntimeKind;
use serde::Serialize;

use crate::cli::{CleanArgs, HostsArgs, SimImageArgs};
use crate::error::CliError;

pub fn clean(a: CleanArgs, m: Mode) -> Result<ExitCode, CliError> {
    let eps = match &a.sweep {
        Some(path) => {
            let loaded = Loaded::read(path, m)?;
            let eps = docker_endpoints(&loaded.parsed.sweep);
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
    runtime: &'static str,
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
            problems: Vec::new(),
        };
        match runtime {
            RuntimeKind::Sim => {}
            RuntimeKind::Endpoint => {
                r.address = h.address.as_ref().map(|a| a.value.clone());
            }
            RuntimeKind::Process => r.discovery = Some(bench_docker::gpus::local()),
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
            r.runtime,
            r.gpus,
            r.gpu,
            r.address
                .as_deref()
                .map(|a| format!("  {a}"))
                .unwrap_or_default()
        );
        match r.runtime {
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
