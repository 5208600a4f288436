//! Sweeps run for real: simulated engines started as processes, loads driven by the load
//! generator, validation, aggregation and ranking; results read back with `bench results`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bench"))
}

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(sweep: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.kdl"), sweep).unwrap();
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn bench(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .current_dir(self.path())
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .env_remove("BENCH_CACHE")
            .env_remove("BENCH_SIM_ENGINE")
            .args(args)
            .output()
            .unwrap()
    }

    fn results(&self, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["results", "s.kdl", "--json"];
        args.extend_from_slice(extra);
        let o = self.bench(&args);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn summary(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .find(|l| l.starts_with("build ") && l.contains(" nodes, "))
        .unwrap_or_default()
        .to_string()
}

const SIM_SWEEP: &str = r#"
sweep "small" {
    model "Qwen/Qwen2.5-0.5B-Instruct" revision="main"
    matrix {
        engine "sim"
        quantization "fp16" "awq"
        gpu "H100-80GB"
        batch-size 8
        seq-len 1024
    }
    workload "chat" {
        dataset "random" input-len=64 output-len=16 spread=0.1
        api "chat"
        concurrency 1 4
        requests 8 warmup=1
        repeats 2
        slo ttft-ms=1000 tpot-ms=100
    }
    hosts {
        host "sim-h100" runtime="sim" gpu="H100-80GB" gpus=1 price-per-gpu-hour=2.0
    }
    optimize {
        objective "output-throughput" maximize weight=0.5
        objective "ttft-p95" minimize weight=0.5
        top 3
    }
}
"#;

#[test]
fn a_sim_sweep_runs_end_to_end_ranks_its_results_and_reruns_nothing() {
    let p = Project::new(SIM_SWEEP);
    let o = p.bench(&["build", "s.kdl"]);
    assert!(o.status.success(), "{}", text(&o));
    // 1 download, 1 setup, 2 configs × 2 loads × 2 repeats × (bench + validate), 4 aggregates, optimize.
    assert!(
        summary(&o).contains("23 nodes, 0 cached, 23 built"),
        "{}",
        text(&o)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("results of small (SIMULATED engines)"),
        "{out}"
    );

    let r = p.results(&[]);
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(r["missing"], 0);
    let mut ranks: Vec<u64> = rows.iter().map(|x| x["rank"].as_u64().unwrap()).collect();
    ranks.sort();
    assert_eq!(ranks, vec![1, 2, 3, 4]);
    for row in rows {
        let a = &row["aggregate"];
        assert_eq!(a["valid"], true, "{row}");
        assert_eq!(a["simulated"], true);
        // 8 measured requests in each of 2 repeats, pooled; warmup excluded.
        assert_eq!(a["requests"], 16, "{row}");
        assert_eq!(a["completed"], 16);
        let m = &a["metrics"];
        let ttft50 = m["ttft-p50"].as_f64().unwrap();
        let ttft95 = m["ttft-p95"].as_f64().unwrap();
        let e2e95 = m["e2e-p95"].as_f64().unwrap();
        assert!(ttft50 > 0.0 && ttft50 <= ttft95 && ttft95 < e2e95, "{m}");
        assert!(m["output-throughput"].as_f64().unwrap() > 0.0);
        // cost = price × GPUs / 3600 / output tokens per second × 1e6
        let cost = m["cost-per-mtok"].as_f64().unwrap();
        let want = 2.0 / 3600.0 / m["output-throughput"].as_f64().unwrap() * 1e6;
        assert!(
            (cost - want).abs() < 1e-9 * want.max(1.0),
            "{cost} vs {want}"
        );
        // Two repeats: a confidence interval around the mean.
        let ci = &a["ci"]["output-throughput"];
        assert_eq!(ci["n"], 2);
        assert!(ci["low"].as_f64().unwrap() <= ci["high"].as_f64().unwrap());
    }
    // The recommendation order puts a point of the first Pareto front first.
    let first = rows.iter().find(|x| x["rank"] == 1).unwrap();
    assert_eq!(first["front"], 0);
    assert_eq!(r["recommendations"]["top"].as_array().unwrap().len(), 3);

    // Every request of every run was recorded: 9 lines (1 warmup + 8) per bench node.
    let plan: serde_json::Value =
        serde_json::from_slice(&p.bench(&["plan", "s.kdl", "--json"]).stdout).unwrap();
    let logs = p.bench(&[
        "logs",
        "s.kdl",
        "bench/Qwen/Qwen2.5-0.5B-Instruct/sim/fp16/auto/auto/H100-80GBx1/b8/s1024/chat/c4/r1",
    ]);
    let log = String::from_utf8_lossy(&logs.stdout);
    assert!(
        log.contains("simulated engine listening on http://127.0.0.1:"),
        "{log}"
    );
    assert!(log.contains("9 requests against"), "{log}");
    assert!(
        plan["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["status"] == "cached")
    );

    // The results store holds every request once: 8 runs × (1 warmup + 8).
    let count = |sql: &str| -> serde_json::Value {
        let o = p.bench(&["query", "--json", sql]);
        assert!(o.status.success(), "{}", text(&o));
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
        rows[0]["n"].clone()
    };
    assert_eq!(count("SELECT count(*) AS n FROM requests"), 72);
    assert_eq!(count("SELECT count(*) AS n FROM runs WHERE simulated"), 8);
    assert_eq!(count("SELECT count(*) AS n FROM configs WHERE valid"), 4);
    assert_eq!(
        count("SELECT count(*) AS n FROM recommendations WHERE rank IS NOT NULL"),
        4
    );

    // Re-ranked from the store with other weights: the lowest TTFT p95 comes first.
    let best = rows
        .iter()
        .min_by(|a, b| {
            let v = |x: &serde_json::Value| x["aggregate"]["metrics"]["ttft-p95"].as_f64().unwrap();
            v(a).total_cmp(&v(b))
        })
        .unwrap();
    let o = p.bench(&[
        "recommend",
        "s.kdl",
        "--weights",
        "ttft-p95:min",
        "--top",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let first = out.lines().nth(2).unwrap_or_default();
    assert!(first.trim_start().starts_with("1 "), "{out}");
    assert!(
        first.ends_with(best["label"].as_str().unwrap()),
        "{out}\nbest: {best}"
    );
    let o = p.bench(&["recommend", "s.kdl", "--profile", "fastest"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown profile `fastest`"),
        "{}",
        text(&o)
    );

    // Nothing changed: nothing runs, and the store gains no row.
    let o = p.bench(&["build", "s.kdl"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(summary(&o).contains("23 cached, 0 built"), "{}", text(&o));
    assert_eq!(count("SELECT count(*) AS n FROM requests"), 72);
    assert_eq!(
        count("SELECT count(*) AS n FROM metrics WHERE metric = 'ttft-p95'"),
        4
    );

    // Exports: CSV with a header and a row per configuration; newline-delimited JSON;
    // Parquet, read back by DuckDB.
    let o = p.bench(&["export", "--format", "json", "-o", "configs.json"]);
    assert!(o.status.success(), "{}", text(&o));
    let json = std::fs::read_to_string(p.path().join("configs.json")).unwrap();
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert!(
        lines
            .iter()
            .all(|l| l["valid"] == true && l["gpu"] == "H100-80GB")
    );
    let o = p.bench(&["export", "--format", "parquet", "-o", "configs.parquet"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        count("SELECT count(*) AS n FROM read_parquet('configs.parquet') WHERE valid"),
        4
    );
    let o = p.bench(&[
        "export",
        "--format",
        "csv",
        "-o",
        "ttft.csv",
        "--sql",
        "SELECT label, value FROM configs JOIN metrics USING (node_key) WHERE metric = 'ttft-p50'",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let csv = std::fs::read_to_string(p.path().join("ttft.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(csv.starts_with("label,value"), "{csv}");
}

const REAL_ENGINES: &str = r#"
sweep "rehearsal" {
    model "Qwen/Qwen2.5-0.5B-Instruct" revision="main"
    matrix {
        engine "vllm" "tgi"
        gpu "H100-80GB"
        batch-size 8
        seq-len 1024
    }
    workload "w" {
        dataset "random" input-len=32 output-len=8
        api "completions"
        concurrency 2
        requests 6 warmup=0
    }
}
"#;

#[test]
fn simulate_rehearses_real_engines_in_their_dialects_keyed_apart() {
    let p = Project::new(REAL_ENGINES);
    let keys = |args: &[&str]| -> Vec<(String, String)> {
        let o = p.bench(args);
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "bench")
            .map(|n| {
                (
                    n["label"].as_str().unwrap().to_string(),
                    n["key"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let real = keys(&["plan", "s.kdl", "--json"]);
    let sim = keys(&["plan", "s.kdl", "--json", "--simulate"]);
    assert_eq!(real.len(), 2);
    for ((rl, rk), (sl, sk)) in real.iter().zip(&sim) {
        assert_ne!(rk, sk, "simulated and real runs share a key");
        assert!(!rl.contains("~sim"), "{rl}");
        assert!(
            sl.contains("/vllm~sim/") || sl.contains("/tgi~sim/"),
            "{sl}"
        );
    }

    // Without a GPU path in this build, the real sweep says what to do.
    let o = p.bench(&["build", "s.kdl"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--simulate"),
        "{}",
        text(&o)
    );

    let o = p.bench(&["build", "s.kdl", "--simulate"]);
    assert!(o.status.success(), "{}", text(&o));
    let r = p.results(&["--simulate"]);
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row["aggregate"]["valid"], true, "{row}");
        assert_eq!(row["aggregate"]["completed"], 6);
    }
    // Each engine was driven in its own dialect: TGI's completions API is /generate_stream.
    let log = |label: &str| {
        String::from_utf8_lossy(&p.bench(&["logs", "s.kdl", "--simulate", label]).stdout)
            .to_string()
    };
    let tgi =
        log("bench/Qwen/Qwen2.5-0.5B-Instruct/tgi~sim/fp16/auto/auto/H100-80GBx1/b8/s1024/w/c2/r0");
    assert!(tgi.contains("(Tgi)"), "{tgi}");
    let vllm = log(
        "bench/Qwen/Qwen2.5-0.5B-Instruct/vllm~sim/fp16/auto/auto/H100-80GBx1/b8/s1024/w/c2/r0",
    );
    assert!(vllm.contains("(OpenaiCompletions)"), "{vllm}");
}

/// `bench sim-engine` on a free port, serving `model`.
struct Server(Child, String);

impl Server {
    fn start(model: &str) -> Self {
        let mut c = Command::new(bin())
            .args([
                "sim-engine",
                "--port",
                "0",
                "--model",
                model,
                "--arch",
                "qwen2.5-0.5b",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(c.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .to_string();
        Server(c, url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn endpoint_hosts_are_measured_and_failing_runs_are_marked_not_ranked() {
    let good = Server::start("Qwen/Qwen2.5-0.5B-Instruct");
    // Serves another model: every request is answered 404.
    let bad = Server::start("someone/else");
    let sweep = format!(
        r#"
sweep "endpoints" {{
    model "Qwen/Qwen2.5-0.5B-Instruct" revision="main"
    matrix {{
        engine "vllm"
        gpu "H100-80GB" "A100-80GB"
        batch-size 8
        seq-len 1024
    }}
    workload "w" {{
        dataset "random" input-len=32 output-len=8
        api "chat"
        concurrency 2
        requests 10 warmup=0
    }}
    hosts {{
        host "served-h100" runtime="endpoint" url="{}" gpu="H100-80GB"
        host "served-a100" runtime="endpoint" url="{}" gpu="A100-80GB"
    }}
}}
"#,
        good.1, bad.1
    );
    let p = Project::new(&sweep);
    let o = p.bench(&["build", "s.kdl"]);
    assert!(o.status.success(), "{}", text(&o));
    let r = p.results(&[]);
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let h100 = rows
        .iter()
        .find(|x| x["label"].as_str().unwrap().contains("H100"))
        .unwrap();
    let a100 = rows
        .iter()
        .find(|x| x["label"].as_str().unwrap().contains("A100"))
        .unwrap();
    assert_eq!(h100["rank"], 1);
    assert_eq!(h100["aggregate"]["valid"], true);
    assert_eq!(h100["aggregate"]["simulated"], false);
    assert_eq!(h100["aggregate"]["completed"], 10);
    assert!(h100["label"].as_str().unwrap().contains("/vllm/"), "{h100}");

    assert_eq!(a100["rank"], serde_json::Value::Null);
    assert_eq!(a100["feasible"], false);
    assert_eq!(a100["aggregate"]["completed"], 0);
    let reasons = a100["reasons"].to_string();
    assert!(reasons.contains("error rate 100.00 %"), "{reasons}");
    let errors = a100["aggregate"]["errors"].to_string();
    assert!(errors.contains("404"), "{errors}");
    // The table says so too.
    let o = p.bench(&["results", "s.kdl"]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("✗ repeat 0: error rate 100.00 %"), "{table}");
    // And `bench status`: the run is done, and invalid.
    let o = p.bench(&["status", "s.kdl"]);
    let status = String::from_utf8_lossy(&o.stdout);
    assert!(status.contains("1 run(s) failed validation"), "{status}");
    assert!(
        status.contains("A100") && status.contains("error rate 100.00 %"),
        "{status}"
    );
}

#[test]
fn the_report_is_self_contained_and_renders_in_headless_chromium() {
    let p = Project::new(SIM_SWEEP);
    let o = p.bench(&["build", "s.kdl", "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = p.bench(&["report", "s.kdl", "-o", "report.html"]);
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(p.path().join("report.html")).unwrap();
    // Nothing fetched: no scripts, stylesheets, images or links to elsewhere.
    for bad in ["<script", "<link", "<img", "src=", "href=", "url("] {
        assert!(!html.contains(bad), "the report contains {bad}");
    }
    // One point per configuration × load point, the recommendations and the banner.
    assert_eq!(html.matches("<circle class=\"point\"").count(), 4);
    assert!(html.contains("id=\"recommendations\""));
    assert!(html.contains("<b>simulated</b>"));
    let md = std::fs::read_to_string(p.path().join("report.md")).unwrap();
    assert!(md.starts_with("### bench: small (simulated)"), "{md}");
    assert!(
        md.contains("\n| 1 | `Qwen/Qwen2.5-0.5B-Instruct/sim/"),
        "{md}"
    );

    // Rendered by a real browser, headless.
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(chromium) = chromium else {
        assert!(
            std::env::var_os("BENCH_REQUIRE_CHROMIUM").is_none(),
            "BENCH_REQUIRE_CHROMIUM is set but no chromium is installed"
        );
        eprintln!("skipped the screenshot: no chromium (Debian package `chromium`)");
        return;
    };
    let png = p.path().join("report.png");
    let o = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1200,1600",
        ])
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", p.path().join("report.html").display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 20_000, "a blank page? {} bytes", bytes.len());
}
