//! What a build leaves for a CI job: a Markdown summary for the job's page
//! (`$GITHUB_STEP_SUMMARY`) and JUnit XML of its validations and failures, which every CI
//! system shows as tests.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bench_cache::CacheBackend;
use bench_exec::BuildStatus;
use bench_node::outputs::{Validation, names};
use bench_plan::dag::label;
use bench_plan::{NodeKind, Plan};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::error::{Error, Result};
use crate::outputs::read_output;
use crate::session::BuildReport;

fn size(b: u64) -> String {
    bytesize::ByteSize(b).display().si().to_string()
}

/// The build's outcome, its failures, what the remote cache did, and the results' top rows
/// (the report's Markdown).
pub fn summary(plan: &Plan<'_, '_>, cache: &dyn CacheBackend, report: &BuildReport) -> String {
    let s = &report.summary;
    let mut m = String::new();
    let status = match s.status {
        BuildStatus::Succeeded => "✅ succeeded",
        BuildStatus::Failed => "❌ failed",
        BuildStatus::Interrupted => "⏹ interrupted",
        BuildStatus::Preempted => "⏸ preempted (rerun to resume)",
    };
    let _ = writeln!(
        m,
        "## bench build {}: {status}\n\n{} nodes: {} cached, {} built, {} failed, {} skipped, {} not started ({:.1} s).\n",
        plan.resolved.sweep.name.value,
        s.total,
        s.cached,
        s.built,
        s.failed.len(),
        s.skipped,
        s.pending,
        s.secs
    );
    for f in &s.failed {
        let _ = writeln!(m, "- ❌ `{}`: {}", f.label, f.message);
    }
    if let Some(r) = &report.remote {
        let _ = writeln!(
            m,
            "\n**Remote cache** `{}`{}: {} hits, {} pulled, {} pushed, {} adopted, {} corrupt; {} requests, {} up, {} down.{}",
            r.url,
            if r.read_only { " (read-only)" } else { "" },
            r.hits,
            r.pulled,
            r.pushed,
            r.adopted,
            r.corrupt,
            r.requests,
            size(r.bytes_up),
            size(r.bytes_down),
            r.unavailable
                .as_ref()
                .map(|w| format!(" Unavailable during the build: {w}."))
                .unwrap_or_default()
        );
    }
    let res = crate::results::collect(plan, cache);
    if !res.rows.is_empty() {
        let _ = writeln!(m);
        m.push_str(&crate::report::markdown(&res));
    }
    m
}

/// JUnit XML: a test case per validation the cache holds (a run that failed validation is
/// a failure, with its reasons) and per node that failed in this build.
pub fn junit(plan: &Plan<'_, '_>, cache: &dyn CacheBackend, report: &BuildReport) -> String {
    let (r, x, g) = (&plan.resolved, &plan.expansion, &plan.graph);
    let sweep = &r.sweep.name.value;
    let mut validations = TestSuite::new(format!("{sweep}: validations"));
    for n in g.node_weights().filter(|n| n.kind == NodeKind::Validate) {
        let Some(v) = read_output::<Validation>(cache, &n.key.hex(), names::VALIDATION) else {
            continue;
        };
        let status = if v.passed {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(v.reasons.join("; "));
            s.set_type("validation");
            s
        };
        let mut case = TestCase::new(label(r, x, &n.subject), status);
        case.set_classname(sweep.as_str());
        validations.add_test_case(case);
    }
    let mut build = TestSuite::new(format!("{sweep}: build"));
    for f in &report.summary.failed {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        s.set_message(f.message.clone());
        s.set_type("node failed");
        let mut case = TestCase::new(f.label.clone(), s);
        case.set_classname(sweep.as_str());
        build.add_test_case(case);
    }
    let mut report_xml = Report::new(format!("bench build {sweep}"));
    report_xml.add_test_suite(validations);
    report_xml.add_test_suite(build);
    report_xml.to_string().unwrap_or_default()
}

/// Where the Markdown summary goes: the file asked for, else in CI mode GitHub's step
/// summary when the job has one.
pub fn summary_path(asked: Option<&Path>, ci: bool) -> Option<PathBuf> {
    asked.map(Path::to_path_buf).or_else(|| {
        ci.then(|| std::env::var_os("GITHUB_STEP_SUMMARY"))
            .flatten()
            .filter(|p| !p.is_empty())
            .map(Into::into)
    })
}

/// Appends the summary (a step summary collects several steps) and writes the JUnit XML,
/// each where asked.
pub fn write(
    plan: &Plan<'_, '_>,
    cache_dir: &Path,
    report: &BuildReport,
    summary_to: Option<&Path>,
    junit_to: Option<&Path>,
) -> Result<()> {
    if summary_to.is_none() && junit_to.is_none() {
        return Ok(());
    }
    let cache = crate::paths::open_cache(cache_dir)?;
    let put = |path: &Path, text: String, append: bool| -> Result<()> {
        std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .map_err(|e| Error::Other(format!("cannot write {}: {e}", path.display())))
    };
    if let Some(path) = summary_to {
        put(path, summary(plan, &cache, report), true)?;
    }
    if let Some(path) = junit_to {
        put(path, junit(plan, &cache, report), false)?;
    }
    Ok(())
}
