//! `bench build`'s summary, `bench status`, `bench explain`, `bench gc` and `bench cache`.

use std::io::{Result, Write};
use std::path::Path;

use bench_cache::{CacheStats, GcReport, VerifyReport};
use bench_exec::{BuildStatus, BuildSummary};

use super::{short, thousands};
use crate::explain::{Explanation, Since};
use crate::status::StatusReport;

/// The line (and failures) that end a build.
pub fn summary(s: &BuildSummary, path: &Path, out: &mut dyn Write) -> Result<()> {
    let status = match s.status {
        BuildStatus::Succeeded => "succeeded",
        BuildStatus::Failed => "failed",
        BuildStatus::Interrupted => "interrupted",
        BuildStatus::Preempted => "preempted by a spot notice; rerun to resume",
    };
    writeln!(
        out,
        "build {status} in {:.2}s: {} nodes, {} cached, {} built, {} failed, {} skipped, {} stopped, {} not started",
        s.secs,
        thousands(s.total),
        thousands(s.cached),
        thousands(s.built),
        s.failed.len(),
        s.skipped,
        s.aborted.len(),
        s.pending
    )?;
    for f in &s.failed {
        writeln!(out, "  failed {}: {}", f.label, f.message)?;
    }
    if s.status == BuildStatus::Preempted || s.status == BuildStatus::Interrupted {
        for f in &s.aborted {
            writeln!(out, "  stopped {}", f.label)?;
        }
        writeln!(out, "  summary written to {}", path.display())?;
    }
    Ok(())
}

/// What the remote cache did in a build.
pub fn remote(r: &bench_cache::RemoteStats, out: &mut dyn Write) -> Result<()> {
    let size = |b: u64| bytesize::ByteSize(b).display().si().to_string();
    writeln!(
        out,
        "remote cache {}{}: {} hits, {} pulled, {} pushed, {} adopted, {} corrupt; {} requests, {} up, {} down",
        r.url,
        if r.read_only { " (read-only)" } else { "" },
        thousands(r.hits as usize),
        thousands(r.pulled as usize),
        thousands(r.pushed as usize),
        r.adopted,
        r.corrupt,
        thousands(r.requests as usize),
        size(r.bytes_up),
        size(r.bytes_down),
    )?;
    if let Some(why) = &r.unavailable {
        writeln!(
            out,
            "  unavailable during the build ({why}): the next build pushes what it missed"
        )?;
    }
    Ok(())
}

/// Per-kind counts, failed nodes with their last failure, runs that failed validation.
pub fn status(r: &StatusReport, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "sweep {}  (cache {})", r.sweep, r.cache)?;
    let row = |out: &mut dyn Write, k: &str, a: &str, b: &str, c: &str| {
        writeln!(out, "  {k:<10} {a:>10} {b:>10} {c:>10}")
    };
    row(out, "kind", "done", "pending", "failed")?;
    for (k, s) in &r.kinds {
        row(
            out,
            k.name(),
            &thousands(s.done),
            &thousands(s.pending),
            &thousands(s.failed),
        )?;
    }
    if let Some(s) = &r.search {
        write!(
            out,
            "\nsearch {}: {} of {} configuration × load points measured (budget {})",
            s.strategy,
            thousands(s.measured),
            thousands(s.candidates),
            thousands(s.budget)
        )?;
        match s.reached {
            Some(share) => writeln!(
                out,
                "\n  the grid is measured whole: what the search chose reaches {share:.3} of its hypervolume"
            )?,
            None => writeln!(
                out,
                "; what it does not propose stays pending (`bench build --grid` runs it)"
            )?,
        }
    }
    for f in &r.failed {
        writeln!(
            out,
            "\nfailed {} ({} failure after {} attempt(s), {})\n  {}",
            f.label, f.class, f.attempts, f.at, f.message
        )?;
    }
    if !r.invalid.is_empty() {
        writeln!(
            out,
            "\n{} run(s) failed validation (kept, excluded from ranking):",
            r.invalid.len()
        )?;
        for i in &r.invalid {
            writeln!(out, "  {}: {}", i.label, i.reasons.join("; "))?;
        }
    }
    Ok(())
}

/// What a node's key is made of, where it stands, and what changed since its label's last
/// committed key (as `ninja -d explain` says why a target is dirty).
pub fn explain(e: &Explanation, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "{}", e.label)?;
    writeln!(out, "  key          {}", e.key)?;
    writeln!(
        out,
        "  kind         {} (version {}), key schema {}",
        e.kind.name(),
        e.kind.version(),
        bench_plan::KEY_SCHEMA_VERSION
    )?;
    writeln!(out, "  cache-version {}", e.cache_version)?;
    if !e.fingerprint.is_empty() {
        writeln!(out, "  fingerprint  {}", e.fingerprint)?;
    }
    let params = serde_json::to_string_pretty(&e.params).unwrap_or_default();
    writeln!(
        out,
        "  params       {}",
        params.replace('\n', "\n               ")
    )?;
    if !e.inputs.is_empty() {
        writeln!(out, "  inputs")?;
        for (short, l) in &e.inputs {
            writeln!(out, "    {short} {l}")?;
        }
    }
    writeln!(
        out,
        "  status       {} ({})",
        e.why.status(),
        e.why.phrase()
    )?;
    if let Some(f) = &e.last_failure {
        writeln!(
            out,
            "  last failure {} after {} attempt(s): {}",
            f.class, f.attempts, f.message
        )?;
    }
    match &e.since {
        Since::Changed {
            key,
            params,
            inputs,
        } => {
            writeln!(out, "  last committed key of this node: {key}")?;
            for (path, old, new) in params {
                writeln!(out, "    param {path}: {old} -> {new}")?;
            }
            for (il, old, new) in inputs {
                match new {
                    Some(new) => writeln!(out, "    input {il}: {} -> {}", short(old), short(new))?,
                    None => writeln!(out, "    input {il}: removed")?,
                }
            }
            if params.is_empty() && inputs.is_empty() {
                writeln!(
                    out,
                    "    params and inputs are equal: a version, fingerprint or cache-version changed"
                )?;
            }
        }
        Since::Same => writeln!(out, "  committed with this key")?,
        Since::Never => writeln!(out, "  never committed before")?,
    }
    Ok(())
}

pub fn gc(r: &GcReport, dry_run: bool, dir: &Path, out: &mut dyn Write) -> Result<()> {
    let verb = if dry_run { "would remove" } else { "removed" };
    writeln!(
        out,
        "{verb} {} entries and {} blobs ({:.1} MB) from {}",
        r.manifests_removed,
        r.blobs_removed,
        r.bytes_freed as f64 / 1e6,
        dir.display()
    )
}

pub fn verify(r: &VerifyReport, dir: &Path, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "verified {} entries of {}: {} corrupt",
        thousands(r.manifests as usize),
        dir.display(),
        r.corrupt.len()
    )?;
    for (key, why) in &r.corrupt {
        writeln!(out, "  set aside {}: {why}", short(key))?;
    }
    Ok(())
}

pub fn stats(s: &CacheStats, dir: &Path, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "cache {}", dir.display())?;
    writeln!(out, "  entries     {}", thousands(s.manifests as usize))?;
    writeln!(
        out,
        "  blobs       {} ({:.1} MB)",
        thousands(s.blobs as usize),
        s.blob_bytes as f64 / 1e6
    )?;
    writeln!(out, "  failures    {}", thousands(s.failures as usize))?;
    writeln!(
        out,
        "  set aside   {} files ({:.1} MB)",
        thousands(s.aside as usize),
        s.aside_bytes as f64 / 1e6
    )
}

/// One line per search generation.
pub fn generation(g: &crate::search::Generation, out: &mut dyn Write) -> Result<()> {
    let cached = g.proposed.len() - g.ran;
    writeln!(
        out,
        "search generation {}: {} proposed ({} run, {} measured before), {} of {} in the budget, front {} points, hypervolume {:.4}",
        g.number + 1,
        g.proposed.len(),
        g.ran,
        cached,
        thousands(g.used),
        thousands(g.budget),
        g.front,
        g.hypervolume
    )
}

/// The line that ends a search.
pub fn search(s: &crate::search::SearchReport, out: &mut dyn Write) -> Result<()> {
    use crate::search::Stop;
    let why = match s.stop {
        Stop::Budget => "its budget is spent".to_string(),
        Stop::Converged => "the front stopped moving".to_string(),
        Stop::Exhausted => "no candidate is left".to_string(),
        Stop::Unfinished => "a generation did not finish; rerun to resume".to_string(),
    };
    let used = s.generations.last().map_or(0, |g| g.used);
    writeln!(
        out,
        "search ({}) ended after {} generations: {why}; {} of {} configurations × load points measured ({:.1} %), the rest skipped",
        s.strategy.name(),
        s.generations.len(),
        thousands(used),
        thousands(s.candidates),
        100.0 * used as f64 / s.candidates.max(1) as f64
    )
}
