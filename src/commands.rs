//! The commands: each reads its inputs, calls the driver, and writes the driver's answer
//! (as text or JSON) to stdout; what happened along the way goes to stderr.

use std::collections::HashSet;
use std::path::Path;
use std::process::ExitCode;

use bench_cache::{CacheBackend, GcPolicy};
use bench_driver::compare::Side;
use bench_driver::compile::{Loaded, Mode};
use bench_driver::paths::open_cache;
use bench_driver::status::{find_node, statuses};
use bench_driver::text;
use bench_plan::{Plan, output};

use crate::cli::{CacheCommand, CacheDir, CheckArgs, Cli, Command, GcArgs, GraphFormat, PlanArgs};
use crate::error::CliError;
use crate::render::{diagnostics, json, show};

pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let m = Mode {
        simulate: cli.simulate,
        docker: cli.docker,
        offline: cli.offline,
    };
    let c = &cli.cache;
    match cli.command {
        Command::Plan(a) => plan(a, m, c),
        Command::Check(a) => check(a, m),
        Command::Estimate(a) => {
            let loaded = Loaded::read(&a.sweep, m)?;
            let p = loaded.plan_offline()?;
            let est = p.estimates();
            match a.json {
                true => show(|out| text::estimate::json_lines(&p, &est, out)),
                false => show(|out| text::estimate::table(&p, &est, out)),
            }
        }
        Command::Graph(a) => with_plan(&a.sweep, m, false, c, |p, _| {
            let text = match a.format {
                GraphFormat::Dot => output::dot(p),
                GraphFormat::Mermaid => output::mermaid(p),
            };
            show(|out| out.write_all(text.as_bytes()))
        }),
        Command::Build(a) if a.dry_run => plan(
            PlanArgs {
                sweep: a.sweep,
                json: false,
                show_pruned: false,
                estimate: false,
            },
            m,
            c,
        ),
        Command::Build(a) => with_plan(&a.sweep.clone(), m, true, c, |p, dir| {
            crate::build::build(a, p, dir)
        }),
        Command::Status(a) => with_plan(&a.sweep, m, false, c, |p, dir| {
            let report = bench_driver::status::status(p, &open_cache(dir)?);
            if a.json {
                json(&report)
            } else {
                show(|out| text::build::status(&report, out))
            }
        }),
        Command::Explain(a) => with_plan(&a.sweep, m, false, c, |p, dir| {
            let cache = open_cache(dir)?;
            let e = bench_driver::explain::explain(p, &cache, find_node(p, &a.node)?);
            show(|out| text::build::explain(&e, out))
        }),
        Command::Logs(a) => with_plan(&a.sweep, m, false, c, |p, dir| {
            let i = find_node(p, &a.node)?;
            let logs = bench_driver::status::logs(p, &open_cache(dir)?, i);
            if logs.is_empty() {
                let key = p.graph[i].key.short();
                eprintln!("no logs for {key}: it never ran against {}", dir.display());
                return Ok(ExitCode::from(1));
            }
            show(|out| {
                for (path, text) in &logs {
                    writeln!(out, "==> {} <==", path.display())?;
                    match text {
                        Ok(t) => out.write_all(t)?,
                        Err(e) => writeln!(out, "(cannot read: {e})")?,
                    }
                }
                Ok(())
            })
        }),
        Command::Gc(a) => gc(a, m, c),
        Command::Cache(a) => {
            let dir = c.dir(None);
            let cache = open_cache(&dir)?;
            match a.command {
                CacheCommand::Verify { json: j } => {
                    let r = cache.verify_all();
                    if j {
                        json(&r)?;
                    } else {
                        show(|out| text::build::verify(&r, &dir, out))?;
                    }
                    Ok(ExitCode::from(u8::from(!r.corrupt.is_empty())))
                }
                CacheCommand::Stats { json: j } => {
                    let s = cache.stats().map_err(|e| CliError::Other(e.to_string()))?;
                    if j {
                        json(&s)
                    } else {
                        show(|out| text::build::stats(&s, &dir, out))
                    }
                }
            }
        }
        Command::Results(a) => with_plan(&a.sweep.clone(), m, false, c, |p, dir| {
            crate::results::results(a, p, dir)
        }),
        Command::Report(a) => with_plan(&a.sweep.clone(), m, false, c, |p, dir| {
            crate::results::report(a, p, dir)
        }),
        Command::Recommend(a) => with_plan(&a.sweep.clone(), m, false, c, |p, _| {
            crate::results::recommend(a, p)
        }),
        Command::Compare(a) => {
            let side = |path: &Path| -> Result<Side, CliError> {
                if let Some(s) = bench_driver::compare::file_side(path) {
                    return s;
                }
                let loaded = Loaded::read(path, m)?;
                let dir = c.dir(Some(path));
                let plan = compile(&loaded, &dir, false)?;
                let cache =
                    bench_driver::compare::side_cache(&dir, path, a.remote_cache.as_deref())?;
                let name = path.display().to_string();
                Ok(Side::from_plan(&name, &plan, cache.as_ref()))
            };
            let (base, cand) = (side(&a.baseline)?, side(&a.candidate)?);
            crate::results::compare(a, &base, &cand)
        }
        Command::Rank(a) => crate::results::rank(a),
        Command::Query(a) => crate::results::query(a),
        Command::Export(a) if a.workflow.is_some() => {
            let sweep = a.sweep.clone().unwrap_or_default();
            with_plan(&sweep, m, true, c, |p, dir| {
                crate::results::export_workflow(a, p, dir)
            })
        }
        Command::Export(a) => crate::results::export(a),
        Command::Load(a) => crate::load::load(a),
        Command::Hosts(a) => {
            let loaded = Loaded::read(&a.sweep, m)?;
            let reports = bench_driver::docker::host_reports(&loaded.parsed.sweep, m);
            match a.json {
                true => show(|out| text::hosts::json_lines(&reports, out)),
                false => show(|out| text::hosts::hosts(&reports, out)),
            }
        }
        Command::Clean(a) => {
            let eps = match &a.sweep {
                Some(path) => {
                    let eps = bench_driver::docker::docker_endpoints(
                        &Loaded::read(path, m)?.parsed.sweep,
                    );
                    if eps.is_empty() {
                        println!("{} has no Docker hosts", path.display());
                        return Ok(ExitCode::SUCCESS);
                    }
                    eps
                }
                None => vec![bench_docker::Endpoint::local()],
            };
            let done =
                bench_driver::docker::clean(eps, a.all, a.dry_run, &mut |l| println!("{l}"))?;
            let verb = if a.dry_run {
                "would be removed"
            } else {
                "removed"
            };
            println!("{} container(s) {verb}, {} kept", done.removed, done.kept);
            Ok(ExitCode::SUCCESS)
        }
        Command::SimImage(a) => {
            let id = bench_driver::docker::sim_image(&a.tag, a.program, &mut |l| println!("{l}"))?;
            println!("built {} ({id})", a.tag);
            Ok(ExitCode::SUCCESS)
        }
        Command::ExecNode { spec } => Ok(ExitCode::from(bench_driver::attempt::exec_node(&spec))),
        Command::SimEngine(a) => bench_sim::cli::serve(a)
            .map(|_| ExitCode::SUCCESS)
            .map_err(CliError::Other),
    }
}

/// Parses and plans a sweep and hands the plan and its cache directory to `f`.
fn with_plan(
    path: &Path,
    m: Mode,
    strict: bool,
    cache: &CacheDir,
    f: impl FnOnce(&Plan<'_, '_>, &Path) -> Result<ExitCode, CliError>,
) -> Result<ExitCode, CliError> {
    let loaded = Loaded::read(path, m)?;
    let dir = cache.dir(Some(path));
    f(&compile(&loaded, &dir, strict)?, &dir)
}

/// Plans a loaded sweep, printing the parser's and the planner's warnings and notes.
fn compile<'a>(l: &'a Loaded, dir: &Path, strict: bool) -> Result<Plan<'a, 'a>, CliError> {
    diagnostics(&l.parsed.warnings);
    let (plan, said) = l.plan(dir, strict)?;
    for n in &said.notes {
        eprintln!("warning: {n}");
    }
    diagnostics(&said.warnings);
    Ok(plan)
}

fn plan(a: PlanArgs, m: Mode, c: &CacheDir) -> Result<ExitCode, CliError> {
    let dir = c.dir(Some(&a.sweep));
    let loaded = Loaded::read(&a.sweep, m)?;
    let p = compile(&loaded, &dir, false)?;
    let why = statuses(&p, bench_driver::paths::cache_if_any(&dir).as_ref());
    if a.json {
        show(|out| text::plan::json(&p, &why, out))
    } else {
        show(|out| {
            text::plan::human(&p, &loaded.source, &why, a.show_pruned, out)?;
            if a.estimate {
                let t = bench_plan::estimate::totals(&p.resolved, &p.expansion, &p.estimates());
                text::estimate::total_line(&t, out)?;
            }
            Ok(())
        })
    }
}

fn check(a: CheckArgs, m: Mode) -> Result<ExitCode, CliError> {
    let mut failed = false;
    for path in &a.sweeps {
        let result = Loaded::read(path, m).and_then(|loaded| {
            diagnostics(&loaded.parsed.warnings);
            let plan = loaded.plan_offline()?;
            diagnostics(&plan.warnings);
            let warnings = loaded.parsed.warnings.len() + plan.warnings.len();
            Ok((
                warnings,
                plan.expansion.valid.len(),
                plan.graph.node_count(),
            ))
        });
        match result {
            Ok((warnings, _, _)) if a.deny_warnings && warnings > 0 => {
                eprintln!("{}: {warnings} warning(s), denied", path.display());
                failed = true;
            }
            Ok((_, configs, nodes)) => println!(
                "{}: ok, {} configurations, {} nodes",
                path.display(),
                text::thousands(configs),
                text::thousands(nodes)
            ),
            Err(e) => {
                crate::render::error(&e);
                failed = true;
            }
        }
    }
    Ok(ExitCode::from(u8::from(failed)))
}

fn gc(a: GcArgs, m: Mode, c: &CacheDir) -> Result<ExitCode, CliError> {
    let mut keep = None;
    for s in &a.sweeps {
        let keys: &mut HashSet<String> = keep.get_or_insert_default();
        with_plan(s, m, false, c, |p, _| {
            keys.extend(p.graph.node_weights().map(|n| n.key.hex()));
            Ok(ExitCode::SUCCESS)
        })?;
    }
    if keep.is_none() && a.older_than.is_none() && a.max_size.is_none() {
        return Err(CliError::Other(
            "say what to keep: sweeps whose entries stay, --older-than or --max-size".into(),
        ));
    }
    let dir = c.dir(a.sweeps.first().map(|p| p.as_path()));
    let report = open_cache(&dir)?
        .gc(&GcPolicy {
            keep,
            older_than: a.older_than,
            max_bytes: a.max_size,
            dry_run: a.dry_run,
        })
        .map_err(|e| CliError::Other(e.to_string()))?;
    show(|out| text::build::gc(&report, a.dry_run, &dir, out))
}
