//! The commands. Each reads its inputs, calls the libraries and renders the result.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use bench_driver::compile::{Loaded, Mode};
use bench_driver::status::{Why, statuses};
use bench_plan::{NodeKind, Plan, output};
use bench_sweep::{Diag, Source};

use crate::cli::{CacheDir, CheckArgs, Cli, Command, GraphArgs, GraphFormat, PlanArgs};
use crate::error::CliError;
use crate::render::{diagnostic, thousands};

pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let sim = Mode {
        simulate: cli.simulate,
        docker: cli.docker,
    };
    match cli.command {
        Command::Plan(a) => plan(a, sim),
        Command::Check(a) => check(a, sim),
        Command::Graph(a) => graph(a, sim),
        Command::Build(a) => {
            if a.dry_run {
                return plan(
                    PlanArgs {
                        sweep: a.sweep,
                        json: false,
                        show_pruned: false,
                        cache: a.cache,
                    },
                    sim,
                );
            }
            let path = a.sweep.clone();
            with_plan(&path, sim, true, &a.cache.clone(), |p| {
                crate::build::build(a, p)
            })
        }
        Command::Status(a) => {
            let path = a.sweep.clone();
            with_plan(&path, sim, false, &a.cache.clone(), |p| {
                crate::build::status(a, p)
            })
        }
        Command::Rank(a) => crate::rank::rank(a),
        Command::Query(a) => crate::store::query(a),
        Command::Report(a) => {
            let path = a.sweep.clone();
            with_plan(&path, sim, false, &a.cache.clone(), |p| {
                crate::results::report(a, p)
            })
        }
        Command::Recommend(a) => {
            let path = a.sweep.clone();
            with_plan(&path, sim, false, &Default::default(), |p| {
                crate::store::recommend(a, p)
            })
        }
        Command::Export(a) => crate::store::export(a),
        Command::Results(a) => {
            let path = a.sweep.clone();
            with_plan(&path, sim, false, &a.cache.clone(), |p| {
                crate::results::results(a, p)
            })
        }
        Command::Explain(a) => {
            let path = a.sweep.clone();
            with_plan(&path, sim, false, &a.cache.clone(), |p| {
                crate::build::explain(a, p)
            })
        }
        Command::Logs(a) => {
            let path = a.sweep.clone();
            with_plan(&path, sim, false, &a.cache.clone(), |p| {
                crate::build::logs(a, p)
            })
        }
        Command::Gc(a) => {
            let keep = if a.sweeps.is_empty() {
                None
            } else {
                let mut keep = std::collections::HashSet::new();
                for s in &a.sweeps {
                    with_plan(s, sim, false, &a.cache, |p| {
                        keep.extend(p.graph.node_weights().map(|n| n.key.hex()));
                        Ok(ExitCode::SUCCESS)
                    })?;
                }
                Some(keep)
            };
            crate::build::gc(a, keep)
        }
        Command::Cache(a) => crate::build::cache_cmd(a),
        Command::Load(a) => crate::load::load(a),
        Command::Hosts(a) => {
            let path = a.sweep.clone();
            let loaded = Loaded::read(&path, sim)?;
            crate::docker::hosts(a, &loaded.parsed.sweep, sim)
        }
        Command::Clean(a) => crate::docker::clean(a, sim),
        Command::SimImage(a) => crate::docker::sim_image(a),
        Command::ExecNode { spec } => {
            // Dies with the build that started it; not at all if that build is gone.
            if !bench_exec::executors::local::die_with_parent() {
                return Ok(ExitCode::from(1));
            }
            // A stopped attempt removes its engine containers before it exits.
            bench_docker::exit_cleanly_on_signals();
            Ok(ExitCode::from(
                bench_node::run_job(&spec, bench_actions::action_for).clamp(0, 255) as u8,
            ))
        }
        Command::SimEngine(a) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| CliError::Other(format!("cannot start the runtime: {e}")))?;
            rt.block_on(bench_sim::cli::run(a))
                .map_err(CliError::Other)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Parses and plans a sweep, printing its warnings, and hands the plan to `f`.
fn with_plan(
    path: &Path,
    m: Mode,
    strict: bool,
    cache: &crate::cli::CacheDir,
    f: impl FnOnce(&Plan<'_, '_>) -> Result<ExitCode, CliError>,
) -> Result<ExitCode, CliError> {
    let loaded = Loaded::read(path, m)?;
    let dir = cache.dir(Some(path));
    let plan = compile(&loaded, &dir, strict)?;
    f(&plan)
}

fn print_warnings(ws: &[Diag]) {
    for w in ws {
        diagnostic(w);
    }
}

/// Plans a loaded sweep, printing the parser's and the planner's warnings and notes.
fn compile<'a>(l: &'a Loaded, dir: &Path, strict: bool) -> Result<Plan<'a, 'a>, CliError> {
    print_warnings(&l.parsed.warnings);
    let (plan, said) = l.plan(dir, strict)?;
    for n in &said.notes {
        eprintln!("warning: {n}");
    }
    print_warnings(&said.warnings);
    Ok(plan)
}

fn plan(a: PlanArgs, sim: Mode) -> Result<ExitCode, CliError> {
    let loaded = Loaded::read(&a.sweep, sim)?;
    let dir = a.cache.dir(Some(&a.sweep));
    let plan = compile(&loaded, &dir, false)?;
    let source = &loaded.source;
    let cache = if dir.join("layout").exists() {
        bench_cache::LocalCache::open(&dir).ok()
    } else {
        None
    };
    let why = statuses(&plan, cache.as_ref());
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let io = |e: std::io::Error| CliError::Other(format!("cannot write output: {e}"));
    if a.json {
        write_json(&plan, &why, &mut out).map_err(io)?;
    } else {
        write_human(&plan, source, &why, a.show_pruned, &mut out).map_err(io)?;
    }
    out.flush().map_err(io)?;
    Ok(ExitCode::SUCCESS)
}

fn write_json(plan: &Plan<'_, '_>, why: &[Why], out: &mut impl Write) -> std::io::Result<()> {
    // Streamed: a large sweep has hundreds of thousands of nodes.
    let summary = output::summary(plan);
    out.write_all(b"{\"summary\":")?;
    serde_json::to_writer(&mut *out, &summary)?;
    out.write_all(b",\"nodes\":[")?;
    for (n, i) in plan.graph.node_indices().enumerate() {
        if n > 0 {
            out.write_all(b",")?;
        }
        let w = &why[i.index()];
        serde_json::to_writer(
            &mut *out,
            &output::node_json(plan, i, w.status(), w.phrase()),
        )?;
    }
    out.write_all(b"],\"pruned\":[")?;
    for (n, p) in output::pruned_json(plan).enumerate() {
        if n > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &p)?;
    }
    out.write_all(b"]}\n")
}

fn write_human(
    plan: &Plan<'_, '_>,
    source: &Source,
    why: &[Why],
    show_pruned: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let s = output::summary(plan);
    writeln!(out, "sweep {}  ({})", s.sweep, source.name)?;
    let mut matrix = format!("{} points", thousands(s.matrix_points));
    if s.excluded > 0 || s.included > 0 {
        matrix.push_str(&format!(
            " ({} excluded, {} included)",
            thousands(s.excluded),
            thousands(s.included)
        ));
    }
    writeln!(out, "  matrix      {matrix}")?;
    writeln!(out, "  valid       {} configurations", thousands(s.valid))?;
    writeln!(out, "  pruned      {} configurations", thousands(s.pruned))?;
    let nodes = NodeKind::ALL
        .iter()
        .map(|k| {
            format!(
                "{} {}",
                k.name(),
                thousands(s.nodes.get(k).copied().unwrap_or(0))
            )
        })
        .collect::<Vec<_>>()
        .join(" · ");
    writeln!(
        out,
        "  nodes       {nodes}  ({} in all)",
        thousands(s.total_nodes)
    )?;
    let mut counts: std::collections::BTreeMap<&'static str, usize> =
        std::collections::BTreeMap::new();
    for w in why {
        *counts.entry(w.phrase()).or_default() += 1;
    }
    let cached = counts.remove("cached").unwrap_or(0);
    let runs = counts
        .iter()
        .map(|(k, n)| format!("{} {k}", thousands(*n)))
        .collect::<Vec<_>>()
        .join(", ");
    let runs = if runs.is_empty() {
        String::new()
    } else {
        format!(" ({runs})")
    };
    writeln!(
        out,
        "  status      {} cached, {} will run{runs}",
        thousands(cached),
        thousands(s.total_nodes - cached)
    )?;
    if !s.pruned_by_reason.is_empty() {
        writeln!(out)?;
        writeln!(out, "pruned, by reason:")?;
        let width = thousands(s.pruned_by_reason[0].count).len();
        for g in &s.pruned_by_reason {
            writeln!(out, "  {:>width$}  {}", thousands(g.count), g.class)?;
            writeln!(
                out,
                "  {:>width$}  e.g. {}: {}",
                "", g.example, g.example_detail
            )?;
        }
    }
    if show_pruned && !plan.expansion.pruned.is_empty() {
        writeln!(out)?;
        writeln!(out, "pruned configurations:")?;
        for (c, why) in &plan.expansion.pruned {
            writeln!(
                out,
                "  {}: {}",
                bench_plan::dag::config_label(&plan.resolved, &plan.expansion, c),
                why
            )?;
        }
    } else if !s.pruned_by_reason.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "(--show-pruned lists every pruned configuration; --json prints every node)"
        )?;
    }
    Ok(())
}

fn check(a: CheckArgs, sim: Mode) -> Result<ExitCode, CliError> {
    let mut failed = false;
    for path in &a.sweeps {
        let result = Loaded::read(path, sim).and_then(|loaded| {
            print_warnings(&loaded.parsed.warnings);
            let plan = loaded.plan_offline()?;
            print_warnings(&plan.warnings);
            Ok((
                loaded.parsed.warnings.len() + plan.warnings.len(),
                plan.expansion.valid.len(),
                plan.graph.node_count(),
            ))
        });
        match result {
            Ok((warnings, configs, nodes)) => {
                if a.deny_warnings && warnings > 0 {
                    eprintln!("{}: {warnings} warning(s), denied", path.display());
                    failed = true;
                } else {
                    println!(
                        "{}: ok, {} configurations, {} nodes",
                        path.display(),
                        thousands(configs),
                        thousands(nodes)
                    );
                }
            }
            Err(e) => {
                crate::render::error(&e);
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn graph(a: GraphArgs, sim: Mode) -> Result<ExitCode, CliError> {
    let loaded = Loaded::read(&a.sweep, sim)?;
    let dir = CacheDir::default().dir(Some(&a.sweep));
    let plan = compile(&loaded, &dir, false)?;
    let text = match a.format {
        GraphFormat::Dot => output::dot(&plan),
        GraphFormat::Mermaid => output::mermaid(&plan),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .map_err(|e| CliError::Other(format!("cannot write output: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
