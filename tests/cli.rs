//! End-to-end tests of the `bench` binary.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn bench() -> Command {
    let mut c = Command::cargo_bin("bench").expect("binary");
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env("NO_COLOR", "1");
    c
}

#[test]
fn plan_prints_counts_and_pruning() {
    bench()
        .args(["plan", "sweeps/demo.kdl"])
        .assert()
        .success()
        .stdout(predicate::str::contains("valid       12 configurations"))
        .stdout(predicate::str::contains("bench 48"))
        .stdout(predicate::str::contains("optimize 1"));
}

#[test]
fn plan_json_lists_every_node_with_key_kind_params_inputs_and_status() {
    let out = bench()
        .args(["plan", "sweeps/demo.kdl", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let nodes = doc["nodes"].as_array().unwrap();
    assert_eq!(
        nodes.len() as u64,
        doc["summary"]["total_nodes"].as_u64().unwrap()
    );
    let mut keys = std::collections::HashSet::new();
    for n in nodes {
        assert_eq!(n["key"].as_str().unwrap().len(), 64);
        assert!(
            keys.insert(n["key"].as_str().unwrap().to_string()),
            "keys are unique"
        );
        assert!(n["params"].is_object());
        assert!(n["inputs"].is_array());
        assert_eq!(n["status"], "will-run");
    }
    // Every input is a node of the plan, listed before the node that uses it.
    let mut seen = std::collections::HashSet::new();
    for n in nodes {
        for i in n["inputs"].as_array().unwrap() {
            assert!(
                seen.contains(i.as_str().unwrap()),
                "input listed before its user"
            );
        }
        seen.insert(n["key"].as_str().unwrap().to_string());
    }
    let kinds: Vec<&str> = nodes.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "download").count(), 2);
    assert_eq!(kinds.iter().filter(|k| **k == "optimize").count(), 1);
}

#[test]
fn full_matrix_has_at_least_9000_valid_configurations() {
    let out = bench()
        .args(["plan", "sweeps/full-matrix.kdl"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let number = |prefix: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {text}"));
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .replace(',', "")
            .parse()
            .unwrap()
    };
    assert!(number("valid") >= 9000, "{text}");
    assert!(number("pruned") > 0, "{text}");
    assert!(text.contains("download 52 "), "{text}");
    assert!(text.contains("does not fit in GPU memory"), "{text}");
}

#[test]
fn check_accepts_the_shipped_sweeps() {
    bench()
        .args([
            "check",
            "sweeps/demo.kdl",
            "sweeps/full-matrix.kdl",
            "sweeps/demo-search.kdl",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("sweeps/demo.kdl: ok"))
        .stdout(predicate::str::contains("sweeps/demo-search.kdl: ok"));
}

#[test]
fn plan_says_what_a_search_will_measure() {
    bench()
        .args(["plan", "--offline", "sweeps/demo-search.kdl"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "search      surrogate: 6 of 24 configuration × load points, 4 a generation",
        ))
        // 24 points of 2 repeats: 5 nodes each (2 bench, 2 validate, 1 aggregate), 6 of
        // them measured; two downloads, two setups and the optimize node are shared.
        .stdout(predicate::str::contains(
            "status      0 cached, at most 35 will run (125 for the whole grid)",
        ));
}

#[test]
fn estimate_predicts_every_configuration_and_load_point_and_the_cost_of_all() {
    // 12 configurations × 2 load points; 2 repeats each on hosts priced per GPU-hour.
    let out = bench()
        .args(["estimate", "sweeps/demo.kdl", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 24);
    for r in &rows {
        for k in [
            "ttft-ms",
            "tpot-ms",
            "e2e-ms",
            "request-throughput",
            "output-throughput",
            "gpu-memory-gb",
            "cost-per-mtok",
        ] {
            assert!(r[k].as_f64().is_some_and(|v| v > 0.0), "{k} in {r}");
        }
        assert!(r["label"].as_str().unwrap().ends_with("/chat"));
        assert!(matches!(r["load"].as_str(), Some("c1" | "c16")));
        assert_eq!(r["configuration"]["engine"], "sim");
    }
    let c = |label: &str, load: &str| {
        rows.iter()
            .find(|r| r["label"] == label && r["load"] == load)
            .unwrap()["output-throughput"]
            .as_f64()
            .unwrap()
    };
    let l = "Qwen/Qwen2.5-0.5B-Instruct/sim/fp16/auto/auto/H100-80GBx1/b32/s2048/chat";
    assert!(c(l, "c16") > 8.0 * c(l, "c1"));
    bench()
        .args(["estimate", "sweeps/demo.kdl"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "24 estimates by the roofline model",
        ))
        .stdout(predicate::str::contains("running them: 48 runs"));
    bench()
        .args(["plan", "--offline", "--estimate", "sweeps/demo.kdl"])
        .assert()
        .success()
        .stdout(predicate::str::contains("running them: 48 runs"));
}

#[test]
fn check_fails_with_file_line_column_and_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.kdl");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/sweeps/demo.kdl"))
        .unwrap()
        .replace("batch-size 8 32", "batch-sise 8 32");
    std::fs::write(&path, &text).unwrap();
    let line = text.lines().position(|l| l.contains("batch-sise")).unwrap() + 1;
    bench()
        .args(["check", path.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("bad.kdl:{line}:9")))
        .stderr(predicate::str::contains("did you mean `batch-size`?"))
        .stderr(predicate::str::contains("error: 1 error in"));
}

#[test]
fn check_reports_every_error_at_once() {
    // A negative batch size (the parser's) and an unknown engine (the planner's): both.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.kdl");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/sweeps/demo.kdl"))
        .unwrap()
        .replace("batch-size 8 32", "batch-size -8 32");
    let engine = text
        .lines()
        .find(|l| l.trim_start().starts_with("engine "))
        .unwrap()
        .to_string();
    let text = text.replacen(&engine, "        engine \"tgx\"", 1);
    std::fs::write(&path, &text).unwrap();
    let out = bench()
        .args(["check", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown engine `tgx`"), "{err}");
    assert!(err.contains("-8"), "{err}");
    assert!(
        err.contains("2 errors in") || err.contains("3 errors in"),
        "{err}"
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    // `bench rank … | head -1`: the reader goes away after one line of a long table.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("big.csv");
    let mut text = String::from("a,b\n");
    for i in 0..20_000 {
        text.push_str(&format!("{},{}\n", i % 97, i % 89));
    }
    std::fs::write(&csv, text).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(["rank", "--input"])
        .arg(&csv)
        .args(["--criteria", "a:max,b:min"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert!(first.contains("rank"), "{first}");
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn warnings_are_printed_and_can_be_denied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warn.kdl");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/sweeps/demo.kdl"))
        .unwrap()
        .replace("exclude model=", "exclude gpu=\"H100-80GB\" gpus=4 model=");
    std::fs::write(&path, &text).unwrap();
    bench()
        .args(["check", path.to_str().unwrap()])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "this `exclude` matches no configuration",
        ));
    bench()
        .args(["check", "--deny-warnings", path.to_str().unwrap()])
        .assert()
        .code(1);
}

#[test]
fn graph_prints_dot_and_mermaid() {
    bench()
        .args(["graph", "sweeps/demo.kdl"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("digraph bench {"))
        .stdout(predicate::str::contains("->"));
    bench()
        .args(["graph", "sweeps/demo.kdl", "--format", "mermaid"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("flowchart LR"));
}

#[test]
fn a_missing_file_is_a_clear_error() {
    bench()
        .args(["plan", "no/such/sweep.kdl"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "cannot read sweep no/such/sweep.kdl",
        ));
}

/// Starts the simulated engine on loopback (fixed latencies) for the CLI to drive.
fn sim_server() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let engine = bench_sim::EngineConfig {
                mode: bench_sim::Mode::Fixed {
                    ttft: std::time::Duration::from_millis(20),
                    tpot: std::time::Duration::from_millis(2),
                },
                max_batch: 1,
                noise: 0.0,
                seed: 0,
                time_scale: 1.0,
            };
            let server = bench_sim::ServerConfig {
                model: "sim-model".into(),
                max_seq_len: 4096,
                max_batch: 64,
                quantization: bench_catalog::Quantization::Fp16,
                seed: 0,
                ready_at: None,
                usage: true,
            };
            bench_sim::serve(listener, engine, server).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

#[test]
fn load_prints_metrics_and_json_with_definitions() {
    let url = sim_server();
    let base = [
        "load",
        "--url",
        &url,
        "--model",
        "sim-model",
        "--concurrency",
        "4",
        "--requests",
        "24",
        "--warmup",
        "4",
    ];
    for dialect in ["openai-completions", "openai-chat", "tgi"] {
        let out = bench()
            .args(base)
            .args([
                "--dialect",
                dialect,
                "--input-len",
                "16",
                "--output-len",
                "8",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("24 measured (4 warmup), 24 completed, 0 failed"),
            "{text}"
        );
        assert!(text.contains("TTFT"), "{text}");
        // The dialect as the user wrote it, not a Rust name.
        assert!(
            text.lines()
                .next()
                .unwrap()
                .contains(&format!("  {dialect}  ")),
            "{text}"
        );
    }
    let out = bench()
        .args(base)
        .args([
            "--dialect",
            "openai-chat",
            "--input-len",
            "16",
            "--output-len",
            "8",
            "--json",
        ])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Late under a loaded machine, never early: the tight bound is the load generator's
    // fidelity test's, which runs alone and compares with a raw client.
    let ttft = doc["metrics"]["ttft"]["mean"].as_f64().unwrap();
    assert!((19.5..60.0).contains(&ttft), "{ttft}");
    assert_eq!(doc["dialect"], "openai-chat");
    assert_eq!(doc["metrics"]["output_tokens"], 24 * 8);
    assert!(
        doc["definitions"]["tpot"]
            .as_str()
            .unwrap()
            .contains("(E2E − TTFT) / (output tokens − 1)")
    );
    assert_eq!(doc["records"].as_array().unwrap().len(), 28);
    assert_eq!(doc["metrics"]["output_tokens_from"], "server-usage");
    assert_eq!(doc["metrics"]["input_tokens_from"], "server-usage");
    // With the model's tokenizer the prompts have exact lengths in its tokens, and the
    // table says where each count comes from.
    let dir = tempfile::tempdir().unwrap();
    let tok = dir.path().join("tokenizer.json");
    let words = "the of and to in is that for it as with was on be at by this had not are but \
        from or have an they which one you were all we her she there would their will when \
        who him been has more if no out so what up can about into them some time could only \
        other new these two may first then do any like my now over such our man me even most \
        made after also did many before must through back years where much your way well down \
        should because each just those people how too";
    let vocab: Vec<&str> = words.split_whitespace().collect();
    std::fs::write(&tok, bench_loadgen::tokens::word_level_json(&vocab)).unwrap();
    let out = bench()
        .args(base)
        .args([
            "--dialect",
            "openai-completions",
            "--input-len",
            "16",
            "--output-len",
            "8",
        ])
        .arg("--tokenizer")
        .arg(&tok)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("input (server-usage)") && text.contains("output (server-usage)"),
        "{text}"
    );
    assert!(text.contains(&format!("{} input", 24 * 16)), "{text}");
    let missing = bench()
        .args(base)
        .args(["--dialect", "tgi", "--tokenizer", "no/such-model"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--tokenizer no/such-model"));
    assert!(
        doc["records"][5]["request_id"]
            .as_str()
            .unwrap()
            .starts_with("sim-")
    );
}

#[test]
fn load_against_nothing_fails_clearly() {
    let out = bench()
        .args([
            "load",
            "--url",
            "http://127.0.0.1:9",
            "--dialect",
            "tgi",
            "--model",
            "m",
            "--concurrency",
            "1",
            "--requests",
            "2",
            "--warmup",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("× connection refused or reset"));
}

const FIGHTERS: &str = "aircraft,speed,range,payload,cost,reliability,maneuverability
A1,2.0,1500,20000,5.5,5,9
A2,2.5,2700,18000,6.5,3,5
A3,1.8,2000,21000,4.5,7,7
A4,2.2,1800,20000,5.0,5,5
";

#[test]
fn rank_reproduces_hwang_and_yoon() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("fighters.csv");
    std::fs::write(&csv, FIGHTERS).unwrap();
    let out = bench()
        .args(["rank", "--input"])
        .arg(&csv)
        .args([
            "--criteria",
            "speed:max:0.2,range:max:0.1,payload:max:0.1,cost:min:0.1,reliability:max:0.2,maneuverability:max:0.3",
            "--method",
            "topsis",
            "--normalization",
            "vector",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let want = [0.643277, 0.268384, 0.613542, 0.312291];
    let ranks = [1, 4, 2, 3];
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["row"], i);
        let s = r["score"].as_f64().unwrap();
        assert_eq!(format!("{s:.6}"), format!("{:.6}", want[i]), "row {i}");
        assert_eq!(r["rank"], ranks[i]);
        // TOPSIS alone sorts no fronts.
        assert!(r["front"].is_null(), "{r}");
    }

    // The same table as Parquet (written by DuckDB through `bench export`) ranks the same.
    let parquet = dir.path().join("fighters.parquet");
    bench()
        .args(["export", "--format", "parquet", "-o"])
        .arg(&parquet)
        .arg("--db")
        .arg(dir.path().join("x.duckdb"))
        .arg("--sql")
        .arg(format!("SELECT * FROM read_csv('{}')", csv.display()))
        .assert()
        .success();
    let out2 = bench()
        .args(["rank", "--input"])
        .arg(&parquet)
        .args([
            "--criteria",
            "speed:max:0.2,range:max:0.1,payload:max:0.1,cost:min:0.1,reliability:max:0.2,maneuverability:max:0.3",
            "--normalization",
            "vector",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out2.status.success(),
        "{}",
        String::from_utf8_lossy(&out2.stderr)
    );
    let rows2: Vec<Value> = serde_json::from_slice(&out2.stdout).unwrap();
    assert_eq!(rows, rows2);
    bench()
        .args(["rank", "--input"])
        .arg(&parquet)
        .args(["--criteria", "speedd:max"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "no column `speedd`; did you mean `speed`?",
        ));
}

#[test]
fn rank_pareto_fronts_and_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, "thr,lat\n100,10\n90,20\n50,5\n200,400\n,3\n").unwrap();
    let out = bench()
        .args(["rank", "--input"])
        .arg(&csv)
        .args([
            "--criteria",
            "thr:max,lat:min",
            "--method",
            "pareto",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let fronts: Vec<Value> = rows.iter().map(|r| r["front"].clone()).collect();
    assert_eq!(
        fronts,
        vec![0.into(), 1.into(), 0.into(), 0.into(), Value::Null]
    );
    assert!(rows.iter().all(|r| r["score"].is_null()));
    // The front's extremes have infinite crowding (null); the inner point a finite one.
    assert!(rows[2]["crowding"].is_null() && rows[3]["crowding"].is_null());
    assert!(rows[0]["crowding"].as_f64().unwrap() > 0.0);
    assert_eq!(rows[1]["rank"], 4);
    assert_eq!(rows[4]["rank"], Value::Null);

    bench()
        .args(["rank", "--input"])
        .arg(&csv)
        .args(["--criteria", "throughput:max"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no column `throughput`"))
        .stderr(predicate::str::contains("columns: thr, lat"));
    bench()
        .args(["rank", "--input"])
        .arg(&csv)
        .args(["--criteria", "thr:up"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("`up` is not max or min"));
    std::fs::write(&csv, "thr,lat\n100,10\nfast,20\n").unwrap();
    bench()
        .args(["rank", "--input"])
        .arg(&csv)
        .args(["--criteria", "thr:max"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "t.csv:3: `fast` in column `thr` is not a number",
        ));
}
