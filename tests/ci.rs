//! What a CI pipeline uses: `bench build --ci` with its Markdown summary and JUnit XML
//! (`bench compare`, the regression gate, has a test binary of its own: it times runs).

mod common;

use common::{Project, gate_sweep, text};

#[test]
fn ci_mode_writes_a_summary_and_junit_xml() {
    let p = Project::new(&gate_sweep(1, 48));
    let o = p.bench(&[
        "build",
        "s.kdl",
        "--ci",
        "--summary",
        "summary.md",
        "--junit",
        "junit.xml",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // Plain lines, one per event.
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("] built bench/"),
        "{}",
        text(&o)
    );
    let md = std::fs::read_to_string(p.path().join("summary.md")).unwrap();
    assert!(md.starts_with("## bench build gate: ✅ succeeded"), "{md}");
    assert!(md.contains("| rank | configuration / load |"), "{md}");
    let xml = std::fs::read_to_string(p.path().join("junit.xml")).unwrap();
    assert!(
        xml.contains(r#"<testsuite name="gate: validations" tests="1""#),
        "{xml}"
    );
    assert!(xml.contains(r#"failures="0""#), "{xml}");
    // The summary is appended to (GitHub's step summary collects several steps).
    let o = p
        .cmd(&["build", "s.kdl", "--ci"])
        .env("GITHUB_STEP_SUMMARY", p.path().join("summary.md"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(p.path().join("summary.md")).unwrap();
    assert_eq!(md.matches("## bench build gate").count(), 2, "{md}");
    assert!(md.contains("0 built"), "{md}");
}
