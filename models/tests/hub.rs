//! The hub client against a Hub-compatible server on loopback (bench-testhub): resolution,
//! fetch into the standard cache layout, reuse, resumption, corruption, gating, errors.

use std::path::Path;
use std::time::Duration;

use bench_models::hub::{self, HubConfig, HubError, Progress, Verified};
use bench_models::{DEFAULT_PATTERNS, StatCache, hash_dir, read_facts};
use bench_testhub::TestHub;
use bench_testhub::fixtures::{llama_config as config_json, model_files, shard};

const REPO: &str = "acme/tiny-llama";

fn publish(hub: &TestHub, shard: usize) -> String {
    hub.commit(REPO, "main", &model_files(shard))
}

fn config(hub: &TestHub, home: &Path) -> HubConfig {
    HubConfig {
        endpoint: hub.endpoint(),
        cache_dir: home.join("hub"),
        token: None,
        offline: false,
        parallel_files: 4,
        parallel_chunks: 2,
        chunk_bytes: 256 << 10,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn bar() -> Progress {
    Progress::new(indicatif::ProgressBar::hidden())
}

fn fetch_all(
    cfg: &HubConfig,
    revision: &str,
    verified: &mut Verified,
) -> Result<(std::path::PathBuf, hub::FetchReport, hub::Snapshot), HubError> {
    rt().block_on(async {
        let snap = hub::resolve(cfg, REPO, revision).await?;
        let files = snap.select(DEFAULT_PATTERNS).unwrap();
        let (dir, report) = hub::fetch(cfg, &snap, &files, verified, &bar()).await?;
        Ok((dir, report, snap))
    })
}

#[test]
fn fetches_what_engines_need_into_the_hf_cache_layout_and_reuses_it() {
    let hub = TestHub::start();
    let commit = publish(&hub, 300_000);
    let home = tempfile::tempdir().unwrap();
    let cfg = config(&hub, home.path());
    let mut verified = Verified::default();

    let (dir, report, snap) = fetch_all(&cfg, "main", &mut verified).unwrap();
    assert_eq!(snap.commit, commit, "main resolves to its commit");
    assert_eq!(
        dir,
        home.path()
            .join("hub/models--acme--tiny-llama/snapshots")
            .join(&commit)
    );
    let mut fetched = report.fetched.clone();
    fetched.sort();
    assert_eq!(
        fetched,
        [
            "config.json",
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
            "tokenizer.json"
        ],
        "README.md is not an engine file"
    );
    assert_eq!(hub.served("README.md"), 0);
    assert_eq!(
        std::fs::read(dir.join("model-00002-of-00002.safetensors")).unwrap(),
        shard(300_000, 2)
    );
    // The layout the Hugging Face tools read offline: links into blobs named by checksum,
    // and refs/main naming the commit.
    let link = std::fs::read_link(dir.join("model-00001-of-00002.safetensors")).unwrap();
    assert_eq!(
        link,
        Path::new("../../blobs").join(hub.sha256(
            REPO,
            &commit,
            "model-00001-of-00002.safetensors"
        ))
    );
    let refs = home.path().join("hub/models--acme--tiny-llama/refs");
    assert_eq!(std::fs::read_to_string(refs.join("main")).unwrap(), commit);
    assert!(
        !refs.join(&commit).exists(),
        "no ref named after the commit"
    );
    let wanted: u64 = snap
        .select(DEFAULT_PATTERNS)
        .unwrap()
        .iter()
        .map(|f| f.size)
        .sum();
    assert_eq!(report.bytes_received, wanted, "{report:?}");

    // Facts and a manifest from what landed.
    let facts = read_facts(&dir).unwrap();
    assert_eq!(facts.arch.layers, 4);
    assert_eq!(facts.arch.kv_heads, 2);
    let m = hash_dir(&dir, DEFAULT_PATTERNS, &mut StatCache::default()).unwrap();
    assert_eq!(m.files.len(), 4);

    // Again: nothing crosses the network but the revision lookup.
    hub.reset_counters();
    let (_, report, _) = fetch_all(&cfg, "main", &mut verified).unwrap();
    assert!(report.fetched.is_empty(), "{report:?}");
    assert_eq!(report.reused.len(), 4);
    assert_eq!(hub.served_total(), 0);
}

#[test]
fn a_moved_branch_fetches_only_the_files_that_changed() {
    let hub = TestHub::start();
    let first = publish(&hub, 200_000);
    let home = tempfile::tempdir().unwrap();
    let cfg = config(&hub, home.path());
    let mut verified = Verified::default();
    fetch_all(&cfg, "main", &mut verified).unwrap();

    let second = hub.commit(REPO, "main", &[("config.json", config_json(6))]);
    assert_ne!(first, second);
    hub.reset_counters();
    let (dir, report, snap) = fetch_all(&cfg, "main", &mut verified).unwrap();
    assert_eq!(snap.commit, second);
    assert_eq!(report.fetched, ["config.json"]);
    assert_eq!(hub.served("model-00001-of-00002.safetensors"), 0);
    assert_eq!(read_facts(&dir).unwrap().arch.layers, 6);
    // The old snapshot is still whole (another build may measure it).
    let old = cfg.snapshot_dir(REPO, &first);
    assert_eq!(read_facts(&old).unwrap().arch.layers, 4);
    let refs = home.path().join("hub/models--acme--tiny-llama/refs/main");
    assert_eq!(std::fs::read_to_string(refs).unwrap(), second);

    // A tag and a commit hash resolve to what they name.
    hub.set_ref(REPO, "v1", &first);
    let r = rt();
    assert_eq!(
        r.block_on(hub::resolve(&cfg, REPO, "v1")).unwrap().commit,
        first
    );
    assert_eq!(
        r.block_on(hub::resolve(&cfg, REPO, &first)).unwrap().commit,
        first
    );
}

#[test]
fn an_interrupted_fetch_resumes_without_refetching_completed_bytes() {
    let hub = TestHub::start();
    let size = 4 << 20;
    publish(&hub, size);
    let home = tempfile::tempdir().unwrap();
    let mut cfg = config(&hub, home.path());
    cfg.parallel_chunks = 1;
    // One shard slow enough to be cut off midway; the rest arrives at once.
    hub.throttle("model-00002-of-00002.safetensors", 1 << 20);
    let snap = rt().block_on(hub::resolve(&cfg, REPO, "main")).unwrap();
    let files = snap.select(DEFAULT_PATTERNS).unwrap();
    {
        // One thread: hf-hub's chunk tasks take their turns in order, so the prefix that
        // gets committed grows steadily until the cut.
        let r = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut v = Verified::default();
        let cut = r.block_on(async {
            tokio::time::timeout(
                Duration::from_millis(2500),
                hub::fetch(&cfg, &snap, &files, &mut v, &bar()),
            )
            .await
        });
        assert!(cut.is_err(), "the slow shard should not have finished");
        r.shutdown_background();
    }
    let first_time = hub.served("model-00002-of-00002.safetensors");
    assert!(
        first_time > 0 && first_time < size as u64,
        "served {first_time} of {size} before the cut"
    );
    let dir = cfg.snapshot_dir(REPO, &snap.commit);
    assert!(
        !dir.join("model-00002-of-00002.safetensors").exists(),
        "a partial file is never linked into the snapshot"
    );

    // hf-hub's partial file: the content so far, then the committed offset.
    let part = walk(home.path())
        .into_iter()
        .find(|f| f.to_string_lossy().ends_with(".sync.part"))
        .expect("a partial file is kept");
    let d = std::fs::read(&part).unwrap();
    let committed = u64::from_le_bytes(d[d.len() - 8..].try_into().unwrap());
    let len = shard(size, 2).len() as u64;
    assert!(
        committed >= 256 << 10,
        "at least one chunk was committed ({committed})"
    );
    hub.throttle("model-00002-of-00002.safetensors", 0);
    hub.reset_counters();
    let mut v = Verified::default();
    let (dir, report) = rt()
        .block_on(hub::fetch(&cfg, &snap, &files, &mut v, &bar()))
        .unwrap();
    assert_eq!(
        report.fetched,
        ["model-00002-of-00002.safetensors"],
        "{report:?}"
    );
    assert_eq!(
        hub.served("model-00001-of-00002.safetensors"),
        0,
        "completed files are kept"
    );
    let rest = hub.served("model-00002-of-00002.safetensors");
    // What was committed is not asked for again (1 byte: hf-hub's metadata probe).
    assert!(
        rest <= len - committed + 1,
        "resumed: {rest} bytes of {len} fetched again, {committed} were committed"
    );
    assert_eq!(
        std::fs::read(dir.join("model-00002-of-00002.safetensors")).unwrap(),
        shard(size, 2)
    );
}

#[test]
fn corruption_in_transit_is_retried_then_fails_naming_the_file() {
    let hub = TestHub::start();
    publish(&hub, 100_000);
    let home = tempfile::tempdir().unwrap();
    let cfg = config(&hub, home.path());
    hub.corrupt("model-00001-of-00002.safetensors", true);
    let mut v = Verified::default();
    let e = fetch_all(&cfg, "main", &mut v).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, HubError::Checksum { attempts: 2, .. }), "{e:?}");
    assert!(msg.contains("model-00001-of-00002.safetensors"), "{msg}");
    assert!(msg.contains("sha256"), "{msg}");
    assert!(
        hub.served("model-00001-of-00002.safetensors") >= 200_000,
        "fetched twice"
    );
    let snap_dir = cfg.snapshot_dir(REPO, &hub_commit(&cfg));
    assert!(!snap_dir.join("model-00001-of-00002.safetensors").exists());
    // The other files are kept and the next attempt needs only the bad one.
    hub.corrupt("model-00001-of-00002.safetensors", false);
    hub.reset_counters();
    let (dir, report, _) = fetch_all(&cfg, "main", &mut v).unwrap();
    assert_eq!(report.fetched, ["model-00001-of-00002.safetensors"]);
    assert_eq!(
        std::fs::read(dir.join("model-00001-of-00002.safetensors")).unwrap(),
        shard(100_000, 1)
    );
}

fn hub_commit(cfg: &HubConfig) -> String {
    rt().block_on(hub::resolve(cfg, REPO, "main"))
        .unwrap()
        .commit
}

#[test]
fn a_file_corrupted_on_disk_is_detected_and_fetched_again() {
    let hub = TestHub::start();
    publish(&hub, 100_000);
    let home = tempfile::tempdir().unwrap();
    let cfg = config(&hub, home.path());
    let mut v = Verified::default();
    let (dir, _, _) = fetch_all(&cfg, "main", &mut v).unwrap();
    // Flip a byte of the cached blob in place.
    let blob = std::fs::canonicalize(dir.join("model-00002-of-00002.safetensors")).unwrap();
    let mut data = std::fs::read(&blob).unwrap();
    data[500] ^= 0x55;
    std::fs::write(&blob, &data).unwrap();
    hub.reset_counters();
    let (dir, report, _) = fetch_all(&cfg, "main", &mut v).unwrap();
    assert_eq!(report.fetched, ["model-00002-of-00002.safetensors"]);
    assert_eq!(
        std::fs::read(dir.join("model-00002-of-00002.safetensors")).unwrap(),
        shard(100_000, 2)
    );
}

#[test]
fn a_gated_model_needs_a_token_that_is_sent_and_never_shown() {
    let hub = TestHub::start();
    publish(&hub, 10_000);
    let secret = "hf_sEcReT0123456789";
    hub.gate(REPO, secret);
    let home = tempfile::tempdir().unwrap();
    let mut cfg = config(&hub, home.path());
    let mut v = Verified::default();

    let e = fetch_all(&cfg, "main", &mut v).unwrap_err();
    assert!(matches!(e, HubError::Gated { .. }), "{e:?}");
    assert!(e.to_string().contains("HF_TOKEN"), "{e}");
    assert!(e.to_string().contains(REPO), "{e}");

    cfg.token = Some("hf_wrong".into());
    let e = fetch_all(&cfg, "main", &mut v).unwrap_err();
    assert!(matches!(e, HubError::Forbidden { .. }), "{e:?}");
    assert!(!e.to_string().contains("hf_wrong"));

    cfg.token = Some(secret.into());
    assert!(
        !format!("{cfg:?}").contains(secret),
        "Debug hides the token"
    );
    let (dir, report, _) = fetch_all(&cfg, "main", &mut v).unwrap();
    assert_eq!(report.fetched.len(), 4);
    assert!(dir.join("config.json").exists());
    assert!(
        hub.authorizations()
            .iter()
            .all(|a| a == &format!("Bearer {secret}") || a == "Bearer hf_wrong"),
        "the token travels as a bearer header"
    );
    for f in walk(home.path()) {
        let text = std::fs::read(&f).unwrap_or_default();
        assert!(
            !text.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} holds the token",
            f.display()
        );
    }
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn unknown_models_revisions_and_unreachable_hubs_say_so() {
    let hub = TestHub::start();
    publish(&hub, 1000);
    let home = tempfile::tempdir().unwrap();
    let cfg = config(&hub, home.path());
    let r = rt();
    let e = r
        .block_on(hub::resolve(&cfg, "acme/nope", "main"))
        .unwrap_err();
    assert!(matches!(e, HubError::RepoNotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("acme/nope"));
    let e = r.block_on(hub::resolve(&cfg, REPO, "v9")).unwrap_err();
    assert!(matches!(e, HubError::RevisionNotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("`v9`"), "{e}");
    assert!(!e.is_offline());

    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut off = cfg.clone();
    off.endpoint = format!("http://127.0.0.1:{port}");
    let e = r.block_on(hub::resolve(&off, REPO, "main")).unwrap_err();
    assert!(e.is_offline(), "{e:?}");
    assert!(e.to_string().contains(&off.endpoint), "{e}");
    off.offline = true;
    assert!(matches!(
        r.block_on(hub::resolve(&off, REPO, "main")),
        Err(HubError::Offline { .. })
    ));
}

#[test]
fn a_full_disk_fails_clearly_and_links_nothing_half_written() {
    let hub = TestHub::start();
    publish(&hub, 3 << 20);
    let home = tempfile::tempdir().unwrap();
    let mnt = home.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&mnt)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _u = Unmount(&mnt);
    let mut cfg = config(&hub, home.path());
    cfg.cache_dir = mnt.join("hub");
    let mut v = Verified::default();
    let e = fetch_all(&cfg, "main", &mut v).unwrap_err();
    assert!(matches!(e, HubError::DiskFull { .. }), "{e:?}");
    assert!(e.to_string().contains("disk full"), "{e}");
    let snap = cfg.snapshot_dir(REPO, &hub_commit(&cfg));
    for shard in [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ] {
        assert!(
            !snap.join(shard).exists(),
            "{shard} linked while incomplete"
        );
    }
}
