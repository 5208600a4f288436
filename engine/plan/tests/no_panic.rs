//! No input makes the parser or the planner panic: random text, and valid sweeps cut,
//! spliced and sprinkled with tokens. Each either compiles or returns diagnostics whose
//! spans lie inside the text.

use bench_plan::PlanOptions;
use bench_sweep::Source;
use proptest::prelude::*;

const VALID: &str = include_str!("../../../sweeps/demo.kdl");

const TOKENS: &[&str] = &[
    "{",
    "}",
    "\"",
    "=",
    ";",
    "#true",
    "#null",
    "#nan",
    "-1",
    "0",
    "1e309",
    "99999999999999999999999",
    "model",
    "matrix",
    "engine",
    "gpu",
    "gpus",
    "exclude",
    "include",
    "workload",
    "concurrency",
    "rate",
    "optimize",
    "objective",
    "hosts",
    "host",
    "\"vllm\"",
    "\"H100-80GB\"",
    "(u8)",
    "/-",
    "\n",
    "é",
    "\u{0}",
    "engine-arg",
    "\"--x\"",
    "seq-len",
    "batch-size",
    "percentiles",
    "facts",
    "params=0",
];

fn compile(text: &str) {
    let source = Source::new("fuzz.kdl", text);
    let registry = bench_engines::builtin();
    let result = bench_sweep::parse(&source).and_then(|p| {
        bench_plan::plan(&p.sweep, &source, &registry, &PlanOptions::default())
            .map(|plan| plan.graph.node_count())
    });
    if let Err(e) = result {
        assert!(e.errors().count() > 0, "an error result carries an error");
        for d in &e.diags {
            let end = d.span.offset() + d.span.len();
            assert!(
                end <= text.len(),
                "span {:?} beyond the text ({} bytes)",
                d.span,
                text.len()
            );
            assert!(d.line_col.0 >= 1 && d.line_col.1 >= 1);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(text in ".{0,400}") {
        compile(&text);
    }

    #[test]
    fn cut_sweeps_never_panic(a in 0usize..VALID.len(), len in 0usize..200) {
        let mut start = a;
        while !VALID.is_char_boundary(start) { start -= 1; }
        let mut end = (start + len).min(VALID.len());
        while !VALID.is_char_boundary(end) { end -= 1; }
        let text = format!("{}{}", &VALID[..start], &VALID[end..]);
        compile(&text);
    }

    #[test]
    fn sprinkled_sweeps_never_panic(edits in prop::collection::vec((0usize..VALID.len(), 0usize..TOKENS.len()), 1..6)) {
        let mut text = VALID.to_string();
        for (at, tok) in edits {
            let mut at = at.min(text.len());
            while !text.is_char_boundary(at) { at -= 1; }
            text.insert_str(at, TOKENS[tok]);
        }
        compile(&text);
    }
}
