//! `bench build` end to end: resume after SIGKILL (chaos), spot notices served on loopback,
//! two builds on one cache, corruption, retries, fail-fast and keep-going, Ctrl-C, GPU slots.
//! Nodes use the test actions (each hashes its inputs) so that the machinery is exercised
//! quickly and deterministically.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const DEMO: &str = include_str!("../sweeps/demo.kdl");

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bench"))
}

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(sweep: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("demo.kdl"), sweep).unwrap();
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cache(&self) -> PathBuf {
        self.path().join(".bench/cache")
    }

    fn journal(&self) -> PathBuf {
        self.path().join("runs.log")
    }

    fn cmd(&self, node_ms: u64, extra: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.path())
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .env("BENCH_TEST_NODE_MS", node_ms.to_string())
            .env("BENCH_TEST_JOURNAL", self.journal())
            .env_remove("BENCH_CACHE")
            .env_remove("BENCH_TEST_FAIL")
            .args(["build", "demo.kdl", "--actions", "test"])
            .args(extra);
        c
    }

    fn build(&self, node_ms: u64, extra: &[&str]) -> Output {
        self.cmd(node_ms, extra).output().unwrap()
    }

    /// key → output digests, from the committed manifests.
    fn committed(&self) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        for shard in std::fs::read_dir(self.cache().join("manifests"))
            .unwrap()
            .flatten()
        {
            for f in std::fs::read_dir(shard.path()).unwrap().flatten() {
                if f.path().extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let m: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(f.path()).unwrap()).unwrap();
                let digests = m["outputs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o["digest"].as_str().unwrap().to_string())
                    .collect();
                out.insert(m["key"].as_str().unwrap().to_string(), digests);
            }
        }
        out
    }

    /// key → when its manifest was written (ns since the epoch).
    fn commit_times(&self) -> HashMap<String, u128> {
        let mut out = HashMap::new();
        for shard in std::fs::read_dir(self.cache().join("manifests"))
            .unwrap()
            .flatten()
        {
            for f in std::fs::read_dir(shard.path()).unwrap().flatten() {
                let path = f.path();
                if path.extension().is_some_and(|e| e == "json") {
                    let t = f.metadata().unwrap().modified().unwrap();
                    let ns = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
                    out.insert(path.file_stem().unwrap().to_string_lossy().to_string(), ns);
                }
            }
        }
        out
    }

    /// `commit` lines of the cache journal: (key, time).
    fn commits(&self) -> Vec<(String, u128)> {
        read_lines(&self.cache().join("journal.log"))
            .iter()
            .filter_map(|l| {
                let p: Vec<&str> = l.split(' ').collect();
                (p.first() == Some(&"commit")).then(|| (p[1].to_string(), p[3].parse().unwrap()))
            })
            .collect()
    }

    /// Test-action runs: (key, attempt, host, gpus, start, end).
    fn runs(&self) -> Vec<(String, u32, String, String, u128, u128)> {
        read_lines(&self.journal())
            .iter()
            .map(|l| {
                let p: Vec<&str> = l.split(' ').collect();
                (
                    p[1].to_string(),
                    p[2].parse().unwrap(),
                    p[3].to_string(),
                    p[4].to_string(),
                    p[5].parse().unwrap(),
                    p[6].parse().unwrap(),
                )
            })
            .collect()
    }
}

fn read_lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .map(|t| t.lines().map(String::from).collect())
        .unwrap_or_default()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn summary_line(o: &Output) -> String {
    stderr(o)
        .lines()
        .find(|l| l.starts_with("build ") && l.contains(" nodes, "))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn builds_then_does_nothing_then_reruns_only_what_changed() {
    let p = Project::new(DEMO);
    let first = p.build(0, &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        summary_line(&first).contains("125 nodes, 0 cached, 125 built"),
        "{}",
        summary_line(&first)
    );
    let again = p.build(0, &[]);
    assert!(
        summary_line(&again).contains("125 cached, 0 built"),
        "{}",
        summary_line(&again)
    );
    std::fs::write(
        p.path().join("demo.kdl"),
        DEMO.replace("max-error-rate=0.01", "max-error-rate=0.02"),
    )
    .unwrap();
    let edited = p.build(0, &[]);
    // 48 validations, then the 24 aggregates and the optimize that depend on them.
    assert!(
        summary_line(&edited).contains("52 cached, 73 built"),
        "{}",
        summary_line(&edited)
    );
}

#[test]
fn chaos_sigkill_at_random_moments_then_resume() {
    let reference = Project::new(DEMO);
    assert!(reference.build(0, &[]).status.success());
    let expected = reference.committed();
    assert_eq!(expected.len(), 125);

    let p = Project::new(DEMO);
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut kills = 0;
    let mut tries = 0;
    while kills < 20 && tries < 200 {
        tries += 1;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut child = p
            .cmd(20, &["-j", "4"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5 + seed % 60));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        if p.committed().len() == 125 {
            break;
        }
    }
    assert!(
        kills >= 20 || p.committed().len() == 125,
        "only {kills} kills landed"
    );
    let done = p.build(0, &[]);
    assert!(done.status.success(), "{}", stderr(&done));
    assert!(
        kills >= 20,
        "the build finished before 20 kills landed ({kills}); slow the nodes down"
    );

    // Every committed result equals the clean run's.
    assert_eq!(p.committed(), expected);
    // No node committed twice: the journal (written right after each commit; a kill in
    // between may drop a line) never names a key twice.
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for (k, _) in p.commits() {
        *per_key.entry(k).or_default() += 1;
    }
    assert!(
        per_key.values().all(|n| *n == 1),
        "a key was committed twice"
    );
    // Nothing that had completed ran again: no run of a key started after its commit (the
    // journal's clock is precise; file times are not).
    assert_eq!(p.commit_times().len(), 125);
    let committed_at: HashMap<String, u128> = p.commits().into_iter().collect();
    assert!(committed_at.len() >= 100, "most commits are journalled");
    let runs = p.runs();
    for (key, _, _, _, start, _) in &runs {
        if let Some(t) = committed_at.get(key) {
            assert!(*start < *t, "{key} ran after it was committed at {t}");
        }
    }
    // No corrupt entry: a last build finds everything cached and verified.
    let last = p.build(0, &[]);
    assert!(
        summary_line(&last).contains("125 cached, 0 built"),
        "{}",
        summary_line(&last)
    );
    assert!(!stderr(&last).contains("corrupt"));
}

/// A loopback stand-in for the AWS metadata service: 404 until `notice` is set.
fn metadata_server(notice: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let mut stream = stream;
            let hit = request_line.starts_with("GET /latest/meta-data/spot/instance-action ");
            let response = if hit && notice.load(Ordering::SeqCst) {
                let body = r#"{"action": "terminate", "time": "2026-11-27T12:00:00Z"}"#;
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .to_string()
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("http://{addr}")
}

fn spot_build(p: &Project, node_ms: u64, window: &str, notice_after: Duration) -> Output {
    let notice = Arc::new(AtomicBool::new(false));
    let url = metadata_server(notice.clone());
    let child = p
        .cmd(
            node_ms,
            &[
                "-j",
                "2",
                "--spot-notice",
                "aws",
                "--metadata-url",
                &url,
                "--poll-interval",
                "50ms",
                "--notice-window",
                window,
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(notice_after);
    notice.store(true, Ordering::SeqCst);
    child.wait_with_output().unwrap()
}

#[test]
fn spot_notice_drains_in_flight_nodes_and_resume_completes() {
    let p = Project::new(DEMO);
    let out = spot_build(&p, 100, "10s", Duration::from_millis(700));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("build state: checkpointing"), "{err}");
    assert!(err.contains("build state: paused"), "{err}");
    assert!(
        summary_line(&out).contains("0 stopped"),
        "in-flight nodes fit the window: {}",
        summary_line(&out)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.cache().join("builds/demo.json")).unwrap())
            .unwrap();
    assert_eq!(summary["status"], "preempted");
    let built = summary["summary"]["built"].as_u64().unwrap();
    assert!(built > 0 && built < 125, "{summary}");
    assert_eq!(p.committed().len() as u64, built);
    // Every run that started finished and was committed: nothing in flight was lost.
    assert_eq!(p.runs().len() as u64, built);

    let resumed = p.build(0, &[]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        stderr(&resumed).contains("resuming"),
        "{}",
        stderr(&resumed)
    );
    assert!(
        summary_line(&resumed).contains(&format!("{built} cached")),
        "{}",
        summary_line(&resumed)
    );
    assert_eq!(p.committed().len(), 125);
}

#[test]
fn spot_notice_stops_nodes_that_cannot_finish_in_the_window() {
    let p = Project::new(DEMO);
    // Nodes take 1.5 s; the notice comes after the first ones finished, the window is 50 ms.
    let out = spot_build(&p, 1500, "50ms", Duration::from_millis(2000));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let line = summary_line(&out);
    assert!(!line.contains(" 0 stopped"), "{line}");
    assert!(stderr(&out).contains("  stopped "), "{}", stderr(&out));
    // Stopped attempts leave no manifest; their partial data is set aside.
    let aside = std::fs::read_dir(p.cache().join("aside")).unwrap().count();
    assert!(aside > 0);
    let resumed = p.build(0, &[]);
    assert!(resumed.status.success());
    assert_eq!(p.committed().len(), 125);
}

#[test]
fn two_builds_on_one_cache_share_the_work() {
    let p = Project::new(DEMO);
    let a = p
        .cmd(20, &["-j", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let b = p
        .cmd(20, &["-j", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        a.status.success() && b.status.success(),
        "{}\n{}",
        stderr(&a),
        stderr(&b)
    );
    let mut runs: HashMap<String, usize> = HashMap::new();
    for (k, ..) in p.runs() {
        *runs.entry(k).or_default() += 1;
    }
    assert_eq!(runs.len(), 125);
    assert!(runs.values().all(|n| *n == 1), "a node ran in both builds");
    assert_eq!(p.commits().len(), 125);
}

#[test]
fn a_flipped_byte_is_detected_and_the_node_recomputed() {
    let p = Project::new(DEMO);
    assert!(p.build(0, &[]).status.success());
    let committed = p.committed();
    let (key, digests) = committed.iter().next().unwrap();
    let blob = p
        .cache()
        .join("blobs")
        .join(&digests[0][..2])
        .join(&digests[0]);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&blob, bytes).unwrap();
    let out = p.build(0, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("cache entry {} is corrupt", &key[..12])),
        "{}",
        stderr(&out)
    );
    assert!(
        summary_line(&out).contains("124 cached, 1 built"),
        "{}",
        summary_line(&out)
    );
    assert_eq!(p.committed(), committed, "recomputed to the same content");
}

#[test]
fn transient_failures_are_retried_and_every_attempt_log_is_kept() {
    let p = Project::new(&DEMO.replace(
        "    validate ",
        "    retry attempts=3 backoff=\"20ms\"\n    validate ",
    ));
    let out = p
        .cmd(0, &[])
        .env("BENCH_TEST_FAIL", "optimize:transient:2")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("retry optimize after attempt 1"),
        "{}",
        stderr(&out)
    );
    let logs = Command::new(bin())
        .current_dir(p.path())
        .args(["logs", "demo.kdl", "optimize"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&logs.stdout);
    assert_eq!(text.matches("==> ").count(), 3, "{text}");
    assert!(text.contains("injected transient failure"));
}

#[test]
fn permanent_failures_are_not_retried() {
    let p = Project::new(&DEMO.replace(
        "    validate ",
        "    retry attempts=3 backoff=\"20ms\"\n    validate ",
    ));
    let out = p
        .cmd(0, &[])
        .env("BENCH_TEST_FAIL", "optimize:permanent:9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        p.runs().iter().filter(|r| r.1 > 1).count(),
        0,
        "no second attempt"
    );
    let status = Command::new(bin())
        .current_dir(p.path())
        .args(["status", "demo.kdl"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("failed optimize (permanent failure after 1 attempt(s)"),
        "{text}"
    );
    let plan = Command::new(bin())
        .current_dir(p.path())
        .args(["plan", "demo.kdl"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&plan.stdout).contains("1 the previous attempt failed"));
}

const ONE_BENCH: &str =
    "Qwen/Qwen2.5-0.5B-Instruct/sim/fp16/auto/auto/H100-80GBx1/b8/s2048/chat/c1/r0";

#[test]
fn fail_fast_stops_launching_and_keep_going_builds_the_rest() {
    let p = Project::new(DEMO);
    let fast = p
        .cmd(5, &["-j", "1"])
        .env("BENCH_TEST_FAIL", format!("bench/{ONE_BENCH}:permanent:9"))
        .output()
        .unwrap();
    assert_eq!(fast.status.code(), Some(1));
    let line = summary_line(&fast);
    assert!(line.contains("1 failed"), "{line}");
    assert!(
        !line.contains(" 0 not started"),
        "fail-fast leaves nodes unstarted: {line}"
    );

    let q = Project::new(DEMO);
    let going = q
        .cmd(0, &["--keep-going"])
        .env("BENCH_TEST_FAIL", format!("bench/{ONE_BENCH}:permanent:9"))
        .output()
        .unwrap();
    assert_eq!(going.status.code(), Some(1));
    // The failed bench's validation, its aggregate and the optimize are skipped; the rest built.
    assert!(
        summary_line(&going).contains("121 built, 1 failed, 3 skipped, 0 stopped, 0 not started"),
        "{}",
        summary_line(&going)
    );
}

#[test]
fn ctrl_c_lets_running_nodes_finish_and_exits_130() {
    let p = Project::new(DEMO);
    let child: Child = p
        .cmd(300, &["-j", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    // SAFETY: signalling our own child.
    unsafe { libc_kill(child.id() as i32, 2) };
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        summary_line(&out).contains("interrupted"),
        "{}",
        summary_line(&out)
    );
    // Everything that ran was committed: draining does not stop running nodes.
    assert_eq!(p.runs().len(), p.committed().len());
    assert!(p.build(0, &[]).status.success());
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn two_bench_nodes_never_share_a_gpu() {
    // The demo's hosts have one GPU each: benches of one GPU type run one at a time.
    let p = Project::new(DEMO);
    let out = p.build(40, &["-j", "8"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let runs: Vec<_> = p.runs().into_iter().filter(|r| r.2 != "-").collect();
    assert_eq!(runs.len(), 48, "every bench node had a host");
    for (i, a) in runs.iter().enumerate() {
        for b in &runs[i + 1..] {
            let same_gpu = a.2 == b.2 && a.3 == b.3;
            let overlap = a.4 < b.5 && b.4 < a.5;
            assert!(
                !(same_gpu && overlap),
                "{} and {} shared {} GPU {}",
                a.0,
                b.0,
                a.2,
                a.3
            );
        }
    }
    // Other kinds are not held back by GPUs: validations ran while benches did.
    let _ = std::fs::File::open(p.journal())
        .unwrap()
        .read_to_end(&mut Vec::new());
}

#[test]
fn a_killed_builds_partial_output_is_set_aside_not_used() {
    let p = Project::new(DEMO);
    let mut child = p
        .cmd(400, &["-j", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    child.kill().unwrap();
    child.wait().unwrap();
    let staged = std::fs::read_dir(p.cache().join("tmp")).unwrap().count();
    assert!(staged > 0, "the killed build left staging behind");
    let out = p.build(0, &[]);
    assert!(out.status.success());
    let killed: Vec<_> = std::fs::read_dir(p.cache().join("aside"))
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with("killed-"))
        .collect();
    assert!(!killed.is_empty());
    assert!(
        std::fs::read_to_string(killed[0].path().join("WHY"))
            .unwrap()
            .contains("died during this attempt")
    );
}

#[test]
fn gc_explain_and_stats_from_the_command_line() {
    let p = Project::new(DEMO);
    assert!(p.build(0, &[]).status.success());
    let run = |args: &[&str]| {
        let o = Command::new(bin())
            .current_dir(p.path())
            .env("NO_COLOR", "1")
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let (_, stats) = run(&["cache", "stats", "--cache", ".bench/cache"]);
    assert!(stats.contains("entries     125"), "{stats}");
    // Edit the sweep: the optimize node's key changes; explain says why.
    std::fs::write(
        p.path().join("demo.kdl"),
        DEMO.replace("weight=0.4", "weight=0.5"),
    )
    .unwrap();
    let (_, why) = run(&["explain", "demo.kdl", "optimize"]);
    assert!(why.contains("will-run (a parameter changed)"), "{why}");
    assert!(why.contains("param objectives: "), "{why}");
    // gc keeping what the edited sweep references removes exactly the old optimize entry.
    let (_, dry) = run(&["gc", "demo.kdl", "--dry-run"]);
    assert!(dry.contains("would remove 1 entries"), "{dry}");
    let (code, real) = run(&["gc", "demo.kdl"]);
    assert_eq!(code, Some(0), "{real}");
    let (_, stats) = run(&["cache", "stats", "--cache", ".bench/cache"]);
    assert!(stats.contains("entries     124"), "{stats}");
    let (code, msg) = run(&["explain", "demo.kdl", "no/such/node"]);
    assert_eq!(code, Some(1));
    assert!(
        msg.contains("no node of this sweep is labelled `no/such/node`"),
        "{msg}"
    );
}
