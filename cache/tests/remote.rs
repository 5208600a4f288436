//! The remote tier against a real S3-compatible server (moto, started on loopback by
//! `scripts/test`, its address in `BENCH_TEST_S3_ENDPOINT`) and against a directory.

use std::path::Path;
use std::sync::Once;

use bench_cache::{
    CacheBackend, Checked, CommitInfo, LocalCache, Lookup, Manifest, Remote, RemoteOptions, Tiered,
};

/// The loopback S3 server, with the client's environment set once; `None` (the test is
/// skipped, loudly) when none runs, unless `BENCH_REQUIRE_S3` says one must.
fn s3() -> Option<String> {
    let Ok(endpoint) = std::env::var("BENCH_TEST_S3_ENDPOINT") else {
        assert!(
            std::env::var_os("BENCH_REQUIRE_S3").is_none(),
            "BENCH_REQUIRE_S3 is set but no S3 server runs (scripts/test starts one)"
        );
        eprintln!("skipped: no S3 server (BENCH_TEST_S3_ENDPOINT); scripts/test starts one");
        return None;
    };
    static ENV: Once = Once::new();
    ENV.call_once(|| {
        // SAFETY: set once, before any thread of this test binary reads the environment
        // for these names (every reader goes through this function first).
        unsafe {
            std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
            std::env::set_var("AWS_ALLOW_HTTP", "true");
            std::env::set_var("AWS_ACCESS_KEY_ID", "bench-test-key");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "bench-test-secret");
            std::env::set_var("AWS_REGION", "us-east-1");
        }
    });
    Some(endpoint)
}

/// A bucket name unique to this test run (one server may serve several runs).
fn unique(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

/// A new bucket on the server; returns its `s3://` URL with a prefix.
fn bucket(endpoint: &str, name: &str) -> String {
    let name = unique(name);
    let status = std::process::Command::new("curl")
        .args(["-sf", "-X", "PUT", &format!("{endpoint}/{name}")])
        .status()
        .expect("curl");
    assert!(status.success(), "cannot create bucket {name}");
    format!("s3://{name}/cache")
}

/// The bucket through the object store client itself (objects are private: plain HTTP
/// cannot read them).
fn raw(bucket: &str) -> (object_store::aws::AmazonS3, tokio::runtime::Runtime) {
    let s = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()
        .unwrap();
    (s, tokio::runtime::Runtime::new().unwrap())
}

/// Overwrites an object with raw bytes (as a failing disk or a bad copy would).
fn overwrite(bucket: &str, key: &str, bytes: &[u8]) {
    use object_store::ObjectStoreExt;
    let (s, rt) = raw(bucket);
    rt.block_on(s.put(&key.into(), bytes.to_vec().into()))
        .unwrap();
}

fn fetch(bucket: &str, key: &str) -> Vec<u8> {
    use object_store::ObjectStoreExt;
    let (s, rt) = raw(bucket);
    rt.block_on(async { s.get(&key.into()).await.unwrap().bytes().await.unwrap() })
        .to_vec()
}

/// Every object name in a bucket.
fn names(bucket: &str) -> Vec<String> {
    use futures::TryStreamExt;
    use object_store::ObjectStore;
    let (s, rt) = raw(bucket);
    let mut v: Vec<String> = rt
        .block_on(s.list(None).try_collect::<Vec<_>>())
        .unwrap()
        .into_iter()
        .map(|m| m.location.to_string())
        .collect();
    v.sort();
    v
}

fn tiered(dir: &Path, url: &str, opts: RemoteOptions) -> Tiered {
    let local = LocalCache::open(dir).unwrap();
    Tiered::new(local, Remote::open(url).unwrap(), opts).unwrap()
}

fn info(label: &str, build: &str) -> CommitInfo {
    CommitInfo {
        sweep: "s".into(),
        kind: "bench".into(),
        label: label.into(),
        params: serde_json::json!({"x": 1}),
        inputs: vec![],
        attempt: 1,
        duration_secs: 0.1,
        build_id: build.into(),
    }
}

fn commit(c: &dyn CacheBackend, key: &str, content: &str, build: &str) -> Manifest {
    let s = c.stage(key, 1).unwrap();
    std::fs::write(s.out_dir.join("result.json"), content).unwrap();
    c.commit(s, info("bench/a", build)).unwrap()
}

const K1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const K2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

fn hit(c: &dyn CacheBackend, key: &str) -> Manifest {
    match c.lookup(key).unwrap() {
        Lookup::Hit(m) => m,
        other => panic!("{key}: {other:?}"),
    }
}

/// Two machines (two local caches, one remote): what one commits, the other finds, checks
/// without downloading, and downloads verified when it reads it.
fn two_machines_share(url: &str) {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ca = tiered(a.path(), url, RemoteOptions::default());
    let m = commit(&ca, K1, "{\"tps\": 1}", "a");
    ca.flush().unwrap();
    assert_eq!(ca.remote_stats().pushed, 1);
    if url.starts_with("s3://share-") {
        let d = &m.outputs[0].digest;
        assert_eq!(
            names(&unique("share")),
            vec![
                format!("cache/blobs/{d}"),
                format!("cache/manifests/{K1}.json")
            ]
        );
    }

    let cb = tiered(b.path(), url, RemoteOptions::default());
    assert_eq!(cb.check(K1).unwrap(), Checked::Committed);
    assert_eq!(cb.check(K2).unwrap(), Checked::Missing);
    let s = cb.remote_stats();
    assert_eq!((s.hits, s.pulled, s.bytes_down), (1, 0, 0), "{s:?}");
    assert_eq!(hit(&cb, K1).outputs, m.outputs);
    assert_eq!(cb.remote_stats().pulled, 1);
    // Now local: read again without the remote.
    let local = LocalCache::open(b.path()).unwrap();
    assert_eq!(hit(&local, K1).outputs, m.outputs);
}

#[test]
fn two_machines_share_an_s3_bucket() {
    let Some(ep) = s3() else { return };
    two_machines_share(&bucket(&ep, "share"));
}

#[test]
fn two_machines_share_a_directory() {
    let remote = tempfile::tempdir().unwrap();
    let url = format!("file://{}", remote.path().display());
    two_machines_share(&url);
}

#[test]
fn a_key_committed_by_two_machines_is_committed_once_and_the_loser_adopts_the_winner() {
    let Some(ep) = s3() else { return };
    let url = bucket(&ep, "race");
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ca = tiered(a.path(), &url, RemoteOptions::default());
    let cb = tiered(b.path(), &url, RemoteOptions::default());
    // Both ran the node (neither saw the other's commit); their measurements differ.
    let ma = commit(&ca, K1, "{\"tps\": 1}", "a");
    let mb = commit(&cb, K1, "{\"tps\": 2}", "b");
    assert_ne!(ma.outputs, mb.outputs);
    std::thread::scope(|s| {
        s.spawn(|| ca.flush().unwrap());
        s.spawn(|| cb.flush().unwrap());
    });
    let (sa, sb) = (ca.remote_stats(), cb.remote_stats());
    assert_eq!(sa.pushed + sb.pushed, 1, "{sa:?} {sb:?}");
    assert_eq!(sa.adopted + sb.adopted, 1, "{sa:?} {sb:?}");
    // Both machines now hold the winner's outputs, as does a third.
    let c = tempfile::tempdir().unwrap();
    let cc = tiered(c.path(), &url, RemoteOptions::default());
    let winner = hit(&cc, K1).outputs;
    assert_eq!(
        hit(&LocalCache::open(a.path()).unwrap(), K1).outputs,
        winner
    );
    assert_eq!(
        hit(&LocalCache::open(b.path()).unwrap(), K1).outputs,
        winner
    );
}

#[test]
fn a_corrupt_remote_blob_is_detected_ignored_and_replaced_by_the_next_commit() {
    let Some(ep) = s3() else { return };
    let url = bucket(&ep, "corrupt");
    let a = tempfile::tempdir().unwrap();
    let ca = tiered(a.path(), &url, RemoteOptions::default());
    let m = commit(&ca, K1, "{\"tps\": 1}", "a");
    ca.flush().unwrap();
    let digest = &m.outputs[0].digest;
    let blob = format!("cache/blobs/{digest}");
    let mut bytes = fetch(&unique("corrupt"), &blob);
    assert_eq!(bytes, b"{\"tps\": 1}");
    bytes[3] ^= 0x01;
    overwrite(&unique("corrupt"), &blob, &bytes);

    let b = tempfile::tempdir().unwrap();
    let cb = tiered(b.path(), &url, RemoteOptions::default());
    match cb.lookup(K1).unwrap() {
        Lookup::Corrupt(why) => assert!(why.contains("does not match its digest"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(cb.remote_stats().corrupt, 1);
    // Removed remotely: a third machine sees the key as missing and recomputes it.
    let c = tempfile::tempdir().unwrap();
    let cc = tiered(c.path(), &url, RemoteOptions::default());
    assert_eq!(cc.check(K1).unwrap(), Checked::Missing);
    let again = commit(&cc, K1, "{\"tps\": 1}", "c");
    cc.flush().unwrap();
    assert_eq!(again.outputs, m.outputs);
    assert_eq!(fetch(&unique("corrupt"), &blob), b"{\"tps\": 1}");
    let d = tempfile::tempdir().unwrap();
    assert_eq!(
        hit(&tiered(d.path(), &url, RemoteOptions::default()), K1).outputs,
        m.outputs
    );
}

#[test]
fn read_only_never_writes() {
    let Some(ep) = s3() else { return };
    let url = bucket(&ep, "readonly");
    let a = tempfile::tempdir().unwrap();
    let ro = RemoteOptions {
        read_only: true,
        ..RemoteOptions::default()
    };
    let ca = tiered(a.path(), &url, ro.clone());
    commit(&ca, K1, "{\"tps\": 1}", "a");
    ca.flush().unwrap();
    let s = ca.remote_stats();
    assert_eq!((s.pushed, s.bytes_up), (0, 0), "{s:?}");
    assert_eq!(names(&unique("readonly")), Vec::<String>::new());
    let b = tempfile::tempdir().unwrap();
    let cb = tiered(b.path(), &url, RemoteOptions::default());
    assert_eq!(cb.check(K1).unwrap(), Checked::Missing);
}

#[test]
fn an_unreachable_remote_is_one_warning_and_a_later_build_pushes_what_it_missed() {
    let Some(ep) = s3() else { return };
    let a = tempfile::tempdir().unwrap();
    let url = bucket(&ep, "later");
    // The bucket does not exist: every request fails, as with a server that is down.
    let down = "s3://no-such-bucket-here/cache";
    let strict = RemoteOptions {
        strict: true,
        ..RemoteOptions::default()
    };
    let local = LocalCache::open(a.path()).unwrap();
    let err = Tiered::new(local, Remote::open(down).unwrap(), strict)
        .err()
        .expect("strict mode fails on an unreachable remote");
    assert!(err.to_string().contains("no-such-bucket-here"), "{err}");

    let ca = tiered(a.path(), down, RemoteOptions::default());
    let m = commit(&ca, K1, "{\"tps\": 1}", "a");
    ca.flush().unwrap();
    let s = ca.remote_stats();
    assert!(s.unavailable.is_some(), "{s:?}");
    assert_eq!(s.pushed, 0);
    drop(ca);

    // The next build, with the remote back, pushes the node its check finds missing there.
    let ca = tiered(a.path(), &url, RemoteOptions::default());
    assert_eq!(ca.check(K1).unwrap(), Checked::Committed);
    ca.flush().unwrap();
    assert_eq!(ca.remote_stats().pushed, 1);
    let b = tempfile::tempdir().unwrap();
    assert_eq!(
        hit(&tiered(b.path(), &url, RemoteOptions::default()), K1).outputs,
        m.outputs
    );
}
