//! `bench hosts`, `bench clean --containers`, `bench sim-image`.

use std::process::ExitCode;

use bench_docker::hygiene;
use bench_docker::{DockerHost, Endpoint};
use bench_driver::compile::{Loaded, Mode};
use bench_driver::docker::{Owner, docker_endpoints, host_reports, owner, sim_image_files};
use bench_sweep::Sweep;

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

pub fn hosts(a: HostsArgs, sweep: &Sweep, m: Mode) -> Result<ExitCode, CliError> {
    let reports = host_reports(sweep, m);
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

pub fn sim_image(a: SimImageArgs) -> Result<ExitCode, CliError> {
    let (program, entrypoint, files) = sim_image_files(a.program)?;
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
