//! Malformed sweeps: every mistake is reported with file:line:column, a label and a hint.

use bench_sweep::{Diag, Source, parse};

/// Parses, expecting failure; returns the diagnostics.
fn errors(text: &str) -> Vec<Diag> {
    match parse(&Source::new("sweep.kdl", text)) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.diags,
    }
}

/// 1-based line:column of the first occurrence of `needle`, with its file name.
fn at(text: &str, needle: &str) -> String {
    let off = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in text"));
    let (l, c) = bench_sweep::diag::line_col(text, off);
    format!("sweep.kdl:{l}:{c}")
}

fn one<'a>(diags: &'a [Diag], code: &str) -> &'a Diag {
    let found: Vec<&Diag> = diags.iter().filter(|d| d.code == code).collect();
    assert_eq!(found.len(), 1, "expected one {code} in {diags:#?}");
    found[0]
}

const GOOD: &str = r#"sweep "s" {
    model "meta-llama/Llama-3.1-8B-Instruct" revision="main"
    matrix {
        engine "vllm"
        gpu "H100-80GB"
        batch-size 8
    }
    workload "chat" {
        dataset "random" input-len=128 output-len=32
        concurrency 1 8
    }
}
"#;

#[test]
fn a_good_sweep_parses() {
    let p = parse(&Source::new("sweep.kdl", GOOD)).expect("parses");
    assert_eq!(p.sweep.name.value, "s");
    assert_eq!(p.sweep.models.len(), 1);
    assert_eq!(
        p.sweep
            .matrix
            .batch_size
            .iter()
            .map(|b| b.value)
            .collect::<Vec<_>>(),
        vec![8]
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn syntax_error_points_at_the_bad_token() {
    let text = GOOD.replace("batch-size 8", "batch-size 8.");
    let d = errors(&text);
    assert!(d.iter().all(|x| x.code == "sweep::syntax"), "{d:#?}");
    assert_eq!(d[0].location(), at(&text, "8."), "{d:#?}");
}

#[test]
fn unknown_node_suggests_the_closest() {
    let text = GOOD.replace("    model ", "    modle ");
    let d = errors(&text);
    let e = one(&d, "sweep::unknown-node");
    assert_eq!(e.message, "unknown node `modle` in `sweep`");
    assert!(
        e.help
            .as_deref()
            .unwrap()
            .starts_with("did you mean `model`?"),
        "{:?}",
        e.help
    );
    assert_eq!(e.location(), at(&text, "modle"));
}

#[test]
fn unknown_property_suggests_the_closest() {
    let text = GOOD.replace("revision=", "revison=");
    let d = errors(&text);
    let e = one(&d, "sweep::unknown-property");
    assert_eq!(e.message, "unknown property `revison` on `model`");
    assert!(
        e.help
            .as_deref()
            .unwrap()
            .starts_with("did you mean `revision`?")
    );
    assert_eq!(e.location(), at(&text, "revison"));
}

#[test]
fn wrong_type_says_what_was_expected_and_how_to_fix_it() {
    let text = GOOD.replace("batch-size 8", "batch-size \"8\"");
    let d = errors(&text);
    let e = one(&d, "sweep::type");
    assert_eq!(
        e.message,
        "`batch-size` expects an integer, found the string \"8\""
    );
    assert_eq!(e.help.as_deref(), Some("write 8 without quotes"));
    assert_eq!(e.location(), at(&text, "\"8\""));
}

#[test]
fn empty_axis_is_an_error() {
    let text = GOOD.replace("batch-size 8", "batch-size");
    let d = errors(&text);
    let e = one(&d, "sweep::arguments");
    assert_eq!(e.message, "`batch-size` needs at least 1 value");
    assert_eq!(e.location(), at(&text, "batch-size"));
}

#[test]
fn repeated_axis_value_is_an_error() {
    let text = GOOD.replace("concurrency 1 8", "concurrency 1 8 1");
    let d = errors(&text);
    let e = one(&d, "sweep::duplicate-value");
    assert_eq!(e.message, "load point c1 is listed twice");
    assert_eq!(e.line_col.0, 10);
}

#[test]
fn duplicate_names_point_at_both() {
    let text = GOOD.replace(
        "    workload \"chat\" {",
        "    workload \"chat\" {\n        dataset \"random\"\n        concurrency 1\n    }\n    workload \"chat\" {",
    );
    let d = errors(&text);
    let e = one(&d, "sweep::duplicate-name");
    assert_eq!(e.message, "two workloads are named `chat`");
    assert_eq!(e.line_col.0, 12);
    assert_eq!(e.also.len(), 1);
}

#[test]
fn unknown_quantization_lists_the_valid_ones() {
    let text = GOOD.replace("batch-size 8", "quantization \"awk\"");
    let d = errors(&text);
    let e = one(&d, "sweep::unknown-value");
    assert_eq!(e.message, "unknown quantization `awk`");
    assert!(
        e.help
            .as_deref()
            .unwrap()
            .starts_with("did you mean `awq`?"),
        "{:?}",
        e.help
    );
}

#[test]
fn unknown_metric_in_optimize() {
    let text = GOOD.replace("}\n}\n", "}\n    optimize {\n        objective \"ttft-p96\" minimize\n        objective \"output-througput\"\n    }\n}\n");
    let d = errors(&text);
    let metrics: Vec<&Diag> = d
        .iter()
        .filter(|x| x.code == "sweep::unknown-metric")
        .collect();
    assert_eq!(metrics.len(), 2, "{d:#?}");
    assert!(
        metrics[0]
            .help
            .as_deref()
            .unwrap()
            .contains("p96 is not aggregated")
    );
    assert_eq!(
        metrics[1].help.as_deref(),
        Some("did you mean `output-throughput`?")
    );
}

#[test]
fn secrets_cannot_be_written_into_a_sweep() {
    let text = GOOD.replace(
        "}\n}\n",
        "}\n    engine \"vllm\" {\n        env \"HF_TOKEN\" \"hf_abc\"\n    }\n}\n",
    );
    let d = errors(&text);
    let e = one(&d, "sweep::secret");
    assert!(e.help.as_deref().unwrap().contains("secret \"HF_TOKEN\""));
}

#[test]
fn every_error_is_reported_at_once() {
    let text = GOOD
        .replace("revision=", "revison=")
        .replace("batch-size 8", "batch-size -1")
        .replace("concurrency 1 8", "concurrency 0");
    let d = errors(&text);
    let codes: Vec<&str> = d.iter().map(|x| x.code).collect();
    assert!(codes.contains(&"sweep::unknown-property"), "{codes:?}");
    assert_eq!(
        codes
            .iter()
            .filter(|c| **c == "sweep::out-of-range")
            .count(),
        2,
        "{codes:?}"
    );
}

#[test]
fn missing_parts_are_named() {
    let d = errors("sweep \"s\" {\n    description \"nothing else\"\n}\n");
    assert!(
        d.iter().any(|x| x.message == "the sweep has no `model`"),
        "{d:#?}"
    );
    assert!(
        d.iter().any(|x| x.message == "the sweep has no `matrix`"),
        "{d:#?}"
    );
    let d = errors("");
    assert_eq!(d[0].message, "no `sweep` node in this file");
}

#[test]
fn kdl_booleans_are_hinted() {
    let text = GOOD.replace(
        "}\n}\n",
        "}\n    hosts {\n        host \"a\" gpu=\"H100-80GB\" spot=\"true\"\n    }\n}\n",
    );
    let d = errors(&text);
    let e = one(&d, "sweep::type");
    assert_eq!(e.help.as_deref(), Some("KDL 2 writes booleans as #true"));
}

#[test]
fn non_ascii_text_gets_character_columns() {
    let text = format!("// é à ü\n{}", GOOD.replace("revision=", "revison="));
    let d = errors(&text);
    let e = one(&d, "sweep::unknown-property");
    assert_eq!(e.location(), at(&text, "revison"));
}

fn with_host(host: &str) -> String {
    GOOD.replace(
        "    workload \"chat\" {",
        &format!("    hosts {{\n        {host}\n    }}\n    workload \"chat\" {{"),
    )
}

#[test]
fn a_host_runs_engines_as_processes_unless_it_says_otherwise() {
    let text = with_host(r#"host "box" gpu="H100-80GB""#);
    let p = parse(&Source::new("sweep.kdl", text.as_str())).expect("parses");
    assert_eq!(p.sweep.hosts[0].runtime, bench_sweep::RuntimeKind::Process);
    let text = with_host(r#"host "box" runtime="docker" gpu="H100-80GB""#);
    let p = parse(&Source::new("sweep.kdl", text.as_str())).expect("parses");
    assert_eq!(p.sweep.hosts[0].runtime, bench_sweep::RuntimeKind::Docker);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn the_old_executor_spelling_is_read_with_a_warning_that_names_the_new_one() {
    let text = with_host(r#"host "box" executor="local" gpu="H100-80GB""#);
    let p = parse(&Source::new("sweep.kdl", text.as_str())).expect("still parses");
    assert_eq!(p.sweep.hosts[0].runtime, bench_sweep::RuntimeKind::Process);
    let w = one(&p.warnings, "sweep::renamed");
    assert_eq!(
        w.help.as_deref(),
        Some("did you mean `runtime=\"process\"`?")
    );
    let l = bench_sweep::diag::line_col(&text, text.find("executor=").unwrap());
    assert_eq!(w.line_col, l);

    let text = with_host(r#"host "box" executor="dokcer" gpu="H100-80GB""#);
    let e = errors(&text);
    let d = one(&e, "sweep::unknown-value");
    assert!(d.help.as_deref().unwrap_or("").contains("docker"), "{d:?}");

    let text = with_host(r#"host "box" runtime="sim" executor="sim" gpu="H100-80GB""#);
    let e = errors(&text);
    let d = one(&e, "sweep::conflict");
    assert_eq!(
        d.line_col,
        bench_sweep::diag::line_col(&text, text.find("executor=").unwrap())
    );
}

#[test]
fn a_search_block_parses_and_its_mistakes_say_where() {
    use bench_sweep::Budget;
    let with = |block: &str| {
        GOOD.replace(
            "    workload \"chat\"",
            &format!("    {block}\n    workload \"chat\""),
        )
    };
    let text = with(
        "search {\n        strategy \"nsga2\"\n        budget \"15%\"\n        batch 8\n        seed 7\n    }",
    );
    let s = parse(&Source::new("sweep.kdl", &text))
        .expect("parses")
        .sweep
        .search
        .unwrap();
    assert_eq!(
        (s.strategy.as_str(), s.budget, s.batch, s.seed, s.patience),
        ("nsga2", Budget::Fraction(0.15), 8, 7, 3)
    );
    assert_eq!(Budget::Fraction(0.15).of(100), 15);
    assert_eq!(Budget::Count(500).of(100), 100);
    let defaults = parse(&Source::new("sweep.kdl", with("search")))
        .expect("parses")
        .sweep
        .search
        .unwrap();
    assert_eq!(
        (defaults.strategy.as_str(), defaults.budget, defaults.batch),
        ("surrogate", Budget::Fraction(0.1), 16)
    );
    assert_eq!(
        parse(&Source::new("sweep.kdl", GOOD)).unwrap().sweep.search,
        None
    );

    let text = with("search {\n        strategy \"nsgaii\"\n        budget \"ten%\"\n    }");
    let d = errors(&text);
    let e = one(&d, "sweep::unknown-value");
    assert_eq!(e.location(), at(&text, "\"nsgaii\""));
    assert!(
        e.help.as_deref().unwrap().contains("`nsga2`"),
        "{:?}",
        e.help
    );
    let e = one(&d, "sweep::out-of-range");
    assert_eq!(e.location(), at(&text, "\"ten%\""));
    assert_eq!(
        e.message,
        "`budget` is a count or a percentage of the grid, not `ten%`"
    );
    let text = with("search {\n        budget 0\n    }");
    assert_eq!(
        one(&errors(&text), "sweep::out-of-range").location(),
        at(&text, "0\n")
    );
}

#[test]
fn a_pool_is_a_host_whose_gpus_a_cluster_gives_out() {
    let text = with_host(
        r#"pool "h100" executor="slurm" partition="gpu" gpu="H100-80GB" gpus-per-node=8 time-limit="2h" sbatch-args="--constraint=h100 --mem=64G""#,
    );
    let p = parse(&Source::new("sweep.kdl", text.as_str())).expect("parses");
    let h = &p.sweep.hosts[0];
    assert_eq!((h.name.value.as_str(), h.gpus), ("h100", 8));
    assert_eq!(h.runtime, bench_sweep::RuntimeKind::Process);
    let c = h.cluster.as_ref().expect("a pool");
    assert_eq!(c.executor, bench_sweep::ClusterExecutor::Slurm);
    assert_eq!(c.partition.as_deref(), Some("gpu"));
    assert_eq!(c.time_limit_secs, Some(7200.0));
    assert_eq!(c.max_jobs, 32, "the default");
    assert_eq!(c.extra_args, ["--constraint=h100", "--mem=64G"]);
    // Engines in their images, through Apptainer, on the nodes.
    let text = with_host(r#"pool "h100" executor="slurm" runtime="apptainer" gpu="H100-80GB""#);
    let p = parse(&Source::new("sweep.kdl", text.as_str())).expect("parses");
    assert_eq!(
        p.sweep.hosts[0].runtime,
        bench_sweep::RuntimeKind::Apptainer
    );
    // ... or through pyxis, as steps of the jobs: a pool's only.
    let text = with_host(r#"pool "h100" executor="slurm" runtime="pyxis" gpu="H100-80GB""#);
    let p = parse(&Source::new("sweep.kdl", text.as_str())).expect("parses");
    assert_eq!(p.sweep.hosts[0].runtime, bench_sweep::RuntimeKind::Pyxis);
    let text = with_host(r#"host "box" runtime="pyxis" gpu="H100-80GB""#);
    let d = errors(&text);
    let e = one(&d, "sweep::unsupported");
    assert_eq!(e.location(), at(&text, "runtime=\"pyxis\""));
    assert!(e.message.contains("only a Slurm pool"), "{}", e.message);
}

#[test]
fn a_pool_without_an_executor_or_with_containers_is_an_error_at_the_pool() {
    let text = with_host(r#"pool "h100" gpu="H100-80GB""#);
    let d = errors(&text);
    let e = one(&d, "sweep::missing");
    assert_eq!(e.location(), at(&text, "\"h100\""));
    let text = with_host(r#"pool "h100" executor="slurm" runtime="docker""#);
    let d = errors(&text);
    let e = one(&d, "sweep::unsupported");
    assert_eq!(e.location(), at(&text, "runtime=\"docker\""));
    let text = with_host(r#"pool "h100" executor="pbs""#);
    let d = errors(&text);
    assert!(d.iter().any(|e| e.message.contains("pbs")), "{d:?}");
}
