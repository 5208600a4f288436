//! `bench build` on a sweep with a `search` block: generations of real (simulated-engine)
//! runs chosen by the proposer, a budget, replay from the cache, resume after SIGKILL with
//! the same proposals, and a grid build that reuses what the search measured.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};

mod common;

use bench_analysis::search::Strategy;
use bench_driver::compile::{Loaded, Mode};
use bench_driver::paths::open_cache;
use bench_driver::search::measured_grid;
use common::{Project, text};

/// 2 quantizations × 2 batch sizes × 3 concurrencies: 12 candidates.
fn sweep(strategy: &str) -> String {
    format!(
        r#"
sweep "searched" {{
    model "Qwen/Qwen2.5-0.5B-Instruct" revision="main"
    matrix {{
        engine "sim"
        quantization "fp16" "awq"
        gpu "H100-80GB"
        batch-size 4 16
        seq-len 1024
    }}
    workload "chat" {{
        dataset "random" input-len=64 output-len=8 spread=0.1
        concurrency 1 4 16
        requests 6 warmup=1
    }}
    hosts {{
        host "sim" runtime="sim" gpu="H100-80GB" gpus=1 price-per-gpu-hour=2.0
    }}
    optimize {{
        objective "output-throughput" maximize weight=0.5
        objective "ttft-p95" minimize weight=0.5
    }}
    search {{
        strategy "{strategy}"
        budget "50%"
        batch 2
        seed 11
        patience 9
    }}
}}
"#
    )
}

/// What the search tests read of a project.
trait Measured {
    /// Labels of the measured rows.
    fn measured(&self) -> BTreeSet<String>;
}

impl Measured for Project {
    fn measured(&self) -> BTreeSet<String> {
        let o = self.bench(&["results", "s.kdl", "--json"]);
        assert!(o.status.success(), "{}", text(&o));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        r["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["label"].as_str().unwrap().to_string())
            .collect()
    }
}

fn generations(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.starts_with("search generation"))
        .map(String::from)
        .collect()
}

#[test]
fn a_search_measures_its_budget_replays_from_the_cache_and_the_grid_reuses_it() {
    let p = Project::new(&sweep("surrogate"));
    let o = p.bench(&["build", "s.kdl"]);
    assert!(o.status.success(), "{}", text(&o));
    let gens = generations(&o);
    assert_eq!(gens.len(), 3, "{}", text(&o));
    assert!(
        gens[0].starts_with(
            "search generation 1: 2 proposed (2 run, 0 measured before), 2 of 6 in the budget"
        ),
        "{}",
        gens[0]
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("search (surrogate) ended after 3 generations: its budget is spent; 6 of 12 configurations × load points measured (50.0 %)"), "{err}");
    let first = p.measured();
    assert_eq!(first.len(), 6, "{first:?}");
    let r: serde_json::Value =
        serde_json::from_slice(&p.bench(&["results", "s.kdl", "--json"]).stdout).unwrap();
    let first_keys: BTreeSet<String> = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(r["missing"], 6);
    // The store holds the search's ranking of its six, once (not one per generation), as
    // `bench results` ranks them.
    let stored = |p: &Project| -> Vec<serde_json::Value> {
        let o = p.bench(&[
            "query",
            "select node_key, aggregate_key, rank from recommendations order by node_key, aggregate_key",
            "--json",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let ranking = stored(&p);
    assert_eq!(ranking.len(), 6, "{ranking:?}");
    assert!(
        ranking
            .iter()
            .all(|x| x["node_key"] == ranking[0]["node_key"])
    );
    for row in r["rows"].as_array().unwrap() {
        let s = ranking
            .iter()
            .find(|x| x["aggregate_key"] == row["key"])
            .unwrap_or_else(|| panic!("{row} not stored"));
        assert_eq!(s["rank"], row["rank"], "{row}");
    }
    // Ranked among themselves (no optimize node covers a subset); the table says the rest
    // were skipped; the report plots the hypervolume after each generation.
    let mut ranks: Vec<u64> = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["rank"].as_u64())
        .collect();
    ranks.sort();
    // Competition ranks (ties share one): 1 first, each the previous or its position.
    assert_eq!(ranks.first(), Some(&1), "{ranks:?}");
    for (i, w) in ranks.windows(2).enumerate() {
        assert!(w[1] == w[0] || w[1] == i as u64 + 2, "{ranks:?}");
    }
    let table = p.bench(&["results", "s.kdl"]);
    assert!(
        String::from_utf8_lossy(&table.stdout)
            .contains("6 configuration/load points not measured: skipped by the search"),
        "{}",
        text(&table)
    );
    let status = p.bench(&["status", "s.kdl"]);
    assert!(
        String::from_utf8_lossy(&status.stdout)
            .contains("search surrogate: 6 of 12 configuration × load points measured (budget 6)"),
        "{}",
        text(&status)
    );
    assert!(
        !String::from_utf8_lossy(&status.stdout).contains("measured whole"),
        "{}",
        text(&status)
    );
    let o = p.bench(&["report", "s.kdl", "-o", "r.html"]);
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(p.path().join("r.html")).unwrap();
    assert!(
        html.contains("6 configuration × load points measured, 6 skipped"),
        "{html}"
    );
    assert!(!html.contains("id=\"reached\""), "{html}");
    let curve = html
        .split("class=\"hypervolume\" points=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(
        curve.split(' ').count(),
        4,
        "the origin and 3 generations: {curve}"
    );

    // Again: the same generations replayed from the cache, nothing run.
    let o = p.bench(&["build", "s.kdl"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        generations(&o)
            .iter()
            .all(|g| g.contains("(0 run, 2 measured before)")),
        "{}",
        text(&o)
    );
    assert_eq!(p.measured(), first);

    // The grid: only the other six run.
    let o = p.bench(&["build", "s.kdl", "--grid"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(generations(&o).is_empty());
    let line = String::from_utf8_lossy(&o.stderr);
    let line = line
        .lines()
        .find(|l| l.starts_with("build "))
        .unwrap_or_default()
        .to_string();
    // 6 bench + 6 validate + 6 aggregate + optimize new; the search's 18 + download + setup cached.
    assert!(line.contains("39 nodes, 20 cached, 19 built"), "{line}");
    assert_eq!(p.measured().len(), 12);
    // The rerun stored nothing more; the grid's optimize node added its ranking of all 12.
    let after = stored(&p);
    assert_eq!(after.len(), 18, "{after:?}");
    assert_eq!(
        after
            .iter()
            .filter(|x| x["node_key"] == ranking[0]["node_key"])
            .count(),
        6
    );

    // The grid measured whole, `bench status` says how much of its hypervolume the search's
    // six reach: the share computed here from the results' own metrics.
    let status = p.bench(&["status", "s.kdl", "--json"]);
    assert!(status.status.success(), "{}", text(&status));
    let said =
        serde_json::from_slice::<serde_json::Value>(&status.stdout).unwrap()["search"]["reached"]
            .as_f64()
            .unwrap();
    let o = p.bench(&["results", "s.kdl", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let point = |r: &serde_json::Value| {
        let m = &r["aggregate"]["metrics"];
        vec![
            -m["output-throughput"].as_f64().unwrap().ln(),
            m["ttft-p95"].as_f64().unwrap().ln(),
        ]
    };
    // What ran and is valid (the search's observations; this sweep has no constraint).
    let ok: Vec<&serde_json::Value> = rows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["feasible"].as_bool() == Some(true))
        .collect();
    let all: Vec<Vec<f64>> = ok.iter().map(|r| point(r)).collect();
    let (lo, hi) = (0..2)
        .map(|j| {
            let v = all.iter().map(|p| p[j]);
            (
                v.clone().fold(f64::INFINITY, f64::min),
                v.fold(f64::NEG_INFINITY, f64::max),
            )
        })
        .unzip::<_, _, Vec<f64>, Vec<f64>>();
    let scaled =
        |p: &Vec<f64>| -> Vec<f64> { (0..2).map(|j| (p[j] - lo[j]) / (hi[j] - lo[j])).collect() };
    let searched: Vec<Vec<f64>> = ok
        .iter()
        .filter(|r| first.contains(r["label"].as_str().unwrap()))
        .map(|r| scaled(&point(r)))
        .collect();
    let whole: Vec<Vec<f64>> = all.iter().map(scaled).collect();
    let reference = [1.1, 1.1];
    let share = bench_analysis::hypervolume(&searched, &reference)
        / bench_analysis::hypervolume(&whole, &reference);
    assert!(
        (said - share).abs() < 1e-9 && share > 0.0 && share <= 1.0,
        "status says {said}, the results give {share}"
    );
    let status = p.bench(&["status", "s.kdl"]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains(&format!(
            "the grid is measured whole: what the search chose reaches {share:.3} of its hypervolume"
        )),
        "{}",
        text(&status)
    );

    // What `examples/search-eval` replays: with the sweep's own settings, the evaluation on
    // the measured grid chooses exactly the six the build measured, to the same share.
    let loaded = Loaded::read(&p.path().join("s.kdl"), Mode::default()).unwrap();
    let dir = p.path().join(".bench/cache");
    let (plan, _) = loaded.plan(&dir, false).unwrap();
    let grid = measured_grid(&plan, &open_cache(&dir).unwrap()).expect("the grid is whole");
    let chosen = grid.search(Strategy::Surrogate, 11, 2, 6);
    let keys: BTreeSet<String> = chosen
        .iter()
        .map(|k| plan.graph[grid.candidates.nodes[*k]].key.hex())
        .collect();
    assert_eq!(keys, first_keys);
    assert!((grid.share(&chosen) - said).abs() < 1e-12);

    // The report says it too.
    let o = p.bench(&["report", "s.kdl", "-o", "r.html"]);
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(p.path().join("r.html")).unwrap();
    assert!(
        html.contains(&format!(
            "<p id=\"reached\">The whole grid is measured now: what the search chose reaches {share:.3} of its hypervolume.</p>"
        )),
        "{html}"
    );
}

#[test]
fn a_search_killed_mid_generation_resumes_with_the_same_proposals() {
    for strategy in ["nsga2", "surrogate"] {
        // Proposals depend on what was measured, which timing noise changes from one run to
        // the next: a resumed search is checked against its own cache (the proposer's
        // determinism given the observations is `bench-analysis`'s tests).
        let p = Project::new(&sweep(strategy));
        let mut child = p
            .cmd(&["build", "s.kdl"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // SIGKILL once the second generation has started running.
        let err = BufReader::new(child.stderr.take().unwrap());
        let mut seen = Vec::new();
        for line in err.lines() {
            let line = line.unwrap();
            let started = line.starts_with("search generation 1:");
            seen.push(line);
            if started {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            seen.iter().any(|l| l.starts_with("search generation 1:")),
            "{seen:#?}"
        );
        let partial = p.measured();
        assert!(
            partial.len() >= 2 && partial.len() < 6,
            "{strategy}: {partial:?}"
        );

        // Resumed: what was measured stays measured, the budget is not exceeded, and the
        // generations replay from the cache without running anything more.
        let o = p.bench(&["build", "s.kdl"]);
        assert!(o.status.success(), "{}", text(&o));
        let gens = generations(&o);
        assert_eq!(gens.len(), 3, "{}", text(&o));
        assert!(
            gens[0].contains("(0 run, 2 measured before)"),
            "{strategy}: {}",
            gens[0]
        );
        let done = p.measured();
        assert_eq!(done.len(), 6, "{strategy}: {done:?}");
        assert!(
            partial.is_subset(&done),
            "{strategy}: {partial:?} not kept in {done:?}"
        );
        let o = p.bench(&["build", "s.kdl"]);
        assert!(
            generations(&o).iter().all(|g| g.contains("(0 run,")),
            "{}",
            text(&o)
        );
        assert_eq!(p.measured(), done);
    }
}
