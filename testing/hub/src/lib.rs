//! A Hugging Face Hub-compatible server on loopback, for tests.
//!
//! It serves the two routes the `hf-hub` client uses, as the Hub does:
//!
//! * `GET /api/models/{org}/{name}/revision/{rev}[?blobs=true]`: the commit a revision
//!   names and its files (`rfilename`, and with `blobs`: `size`, `blobId`, `lfs.sha256`);
//! * `GET|HEAD /{org}/{name}/resolve/{rev}/{path}`: a file, with `Range` requests,
//!   `X-Repo-Commit`, `ETag` (the git blob id) and for LFS files `X-Linked-Etag` (their
//!   sha256) — the headers hf-hub names its cache blobs after.
//!
//! Errors carry the Hub's `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`,
//! `EntryNotFound`, `GatedRepo`). A test can move branches, gate a repository behind a
//! token, throttle a file (to interrupt a transfer midway), corrupt what is served of a
//! file while its checksums stay, and count the bytes served per file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha1::Digest as _;

/// A file in a commit.
#[derive(Clone)]
struct Blob {
    data: Arc<Vec<u8>>,
    /// Git blob id (sha1 of `blob LEN\0` + content): the Hub's ETag for regular files.
    git: String,
    /// sha256 of the content: the Hub's ETag for LFS files.
    sha256: String,
    lfs: bool,
}

impl Blob {
    fn new(path: &str, data: Vec<u8>) -> Self {
        let mut g = sha1::Sha1::new();
        g.update(format!("blob {}\0", data.len()).as_bytes());
        g.update(&data);
        let git = hex(&g.finalize());
        let sha256 = hex(&sha2::Sha256::digest(&data));
        let lfs = [".safetensors", ".bin", ".gguf", ".pt"]
            .iter()
            .any(|e| path.ends_with(e));
        Self {
            data: Arc::new(data),
            git,
            sha256,
            lfs,
        }
    }

    fn etag(&self) -> &str {
        if self.lfs { &self.sha256 } else { &self.git }
    }
}

/// Model files for tests: a Llama-style `config.json` and safetensors shards.
pub mod fixtures {
    /// A small Llama `config.json` with `layers` layers (hidden 256, 8 heads, 2 KV heads,
    /// vocab 1000, context 4096, bf16).
    pub fn llama_config(layers: u32) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": 256,
            "intermediate_size": 688,
            "num_hidden_layers": layers,
            "num_attention_heads": 8,
            "num_key_value_heads": 2,
            "vocab_size": 1000,
            "max_position_embeddings": 4096,
            "torch_dtype": "bfloat16",
            "tie_word_embeddings": false
        }))
        .unwrap()
    }

    /// Deterministic pseudo-random bytes (xorshift), different per seed.
    pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(6364136223846793005) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// A safetensors file of about `n` bytes: one BF16 tensor of pseudo-random data.
    pub fn shard(n: usize, seed: u64) -> Vec<u8> {
        let elems = n / 2;
        let header = serde_json::to_vec(&serde_json::json!({
            format!("model.layers.{seed}.mlp.weight"): {
                "dtype": "BF16", "shape": [elems], "data_offsets": [0, elems * 2]
            }
        }))
        .unwrap();
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend(header);
        out.extend(bytes(elems * 2, seed));
        out
    }

    /// A two-shard model with a tokenizer, and a README engines do not need.
    pub fn model_files(shard_bytes: usize) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("config.json", llama_config(4)),
            ("tokenizer.json", b"{\"model\":{\"type\":\"BPE\"}}".to_vec()),
            ("model-00001-of-00002.safetensors", shard(shard_bytes, 1)),
            ("model-00002-of-00002.safetensors", shard(shard_bytes, 2)),
            ("README.md", b"# tiny".to_vec()),
        ]
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[derive(Default)]
struct Repo {
    /// Branches and tags → commit.
    refs: HashMap<String, String>,
    commits: HashMap<String, BTreeMap<String, Blob>>,
    /// A gated repository answers only requests with this bearer token.
    token: Option<String>,
}

#[derive(Default)]
struct Hub {
    repos: HashMap<String, Repo>,
    /// Bytes served per file name (all repositories, all commits).
    served: HashMap<String, u64>,
    /// Bytes per second for a file name.
    throttle: HashMap<String, u64>,
    /// File names whose content is served with a flipped byte.
    corrupt: HashSet<String>,
    /// `METHOD path` of every request, in order.
    log: Vec<String>,
    /// Authorization headers seen (tests check the token is sent, and only as a header).
    auth_seen: Vec<String>,
    commits_made: u64,
}

type Shared = Arc<Mutex<Hub>>;

/// The running server; stops when dropped.
pub struct TestHub {
    addr: SocketAddr,
    state: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestHub {
    /// Starts a server on an ephemeral loopback port, on its own thread.
    pub fn start() -> Self {
        let state: Shared = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind loopback");
                tx.send(listener.local_addr().expect("addr")).ok();
                let app = Router::new()
                    .route("/api/models/{org}/{name}/revision/{*rev}", get(info))
                    .route(
                        "/{org}/{name}/resolve/{rev}/{*path}",
                        get(resolve).head(resolve),
                    )
                    .with_state(st);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        stop_rx.await.ok();
                    })
                    .await
                    .ok();
            });
        });
        let addr = rx.recv().expect("the test hub did not start");
        Self {
            addr,
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`: what `HF_ENDPOINT` is set to.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Commits `files` onto `branch` of `repo` (created if new): the new commit holds the
    /// branch's files with these added or replaced. Returns the commit hash.
    pub fn commit(&self, repo: &str, branch: &str, files: &[(&str, Vec<u8>)]) -> String {
        let mut h = self.state.lock().unwrap();
        h.commits_made += 1;
        let n = h.commits_made;
        let r = h.repos.entry(repo.to_string()).or_default();
        let mut tree = r
            .refs
            .get(branch)
            .and_then(|c| r.commits.get(c))
            .cloned()
            .unwrap_or_default();
        for (p, d) in files {
            tree.insert(p.to_string(), Blob::new(p, d.clone()));
        }
        let mut g = sha1::Sha1::new();
        g.update(format!("commit {n} {repo} {branch}\n").as_bytes());
        for (p, b) in &tree {
            g.update(format!("{p} {}\n", b.git).as_bytes());
        }
        let commit = hex(&g.finalize());
        r.commits.insert(commit.clone(), tree);
        r.refs.insert(branch.to_string(), commit.clone());
        commit
    }

    /// Points `name` (a tag or branch) at `commit`.
    pub fn set_ref(&self, repo: &str, name: &str, commit: &str) {
        let mut h = self.state.lock().unwrap();
        let r = h.repos.get_mut(repo).expect("no such repo");
        r.refs.insert(name.to_string(), commit.to_string());
    }

    /// Gates `repo`: only requests bearing `token` get through.
    pub fn gate(&self, repo: &str, token: &str) {
        let mut h = self.state.lock().unwrap();
        h.repos.entry(repo.to_string()).or_default().token = Some(token.to_string());
    }

    /// Serves `file` at `bytes_per_sec` (0: unthrottled).
    pub fn throttle(&self, file: &str, bytes_per_sec: u64) {
        let mut h = self.state.lock().unwrap();
        if bytes_per_sec == 0 {
            h.throttle.remove(file);
        } else {
            h.throttle.insert(file.to_string(), bytes_per_sec);
        }
    }

    /// Serves `file` with one byte flipped (its checksums as listed stay the true ones).
    pub fn corrupt(&self, file: &str, on: bool) {
        let mut h = self.state.lock().unwrap();
        if on {
            h.corrupt.insert(file.to_string());
        } else {
            h.corrupt.remove(file);
        }
    }

    /// Bytes of `file`'s content served so far (ranges included, HEAD excluded).
    pub fn served(&self, file: &str) -> u64 {
        self.state
            .lock()
            .unwrap()
            .served
            .get(file)
            .copied()
            .unwrap_or(0)
    }

    /// Bytes served of every file.
    pub fn served_total(&self) -> u64 {
        self.state.lock().unwrap().served.values().sum()
    }

    pub fn reset_counters(&self) {
        let mut h = self.state.lock().unwrap();
        h.served.clear();
        h.log.clear();
        h.auth_seen.clear();
    }

    /// `METHOD path` of the requests so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// The Authorization header values seen.
    pub fn authorizations(&self) -> Vec<String> {
        self.state.lock().unwrap().auth_seen.clone()
    }

    /// The sha256 the Hub lists for a file of a commit.
    pub fn sha256(&self, repo: &str, commit: &str, file: &str) -> String {
        let h = self.state.lock().unwrap();
        h.repos[repo].commits[commit][file].sha256.clone()
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            s.send(()).ok();
        }
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

fn error(status: StatusCode, code: &'static str, message: String) -> Response {
    let mut r = (status, axum::Json(serde_json::json!({ "error": message }))).into_response();
    r.headers_mut()
        .insert("x-error-code", HeaderValue::from_static(code));
    r.headers_mut()
        .insert("x-error-message", HeaderValue::from_str(&message).unwrap());
    r
}

/// Looks up repo and revision, enforcing the gate. Returns the commit and its tree, or
/// the Hub's error response.
#[allow(clippy::result_large_err)]
fn lookup(
    h: &mut Hub,
    id: &str,
    rev: &str,
    headers: &HeaderMap,
) -> Result<(String, BTreeMap<String, Blob>), Response> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(a) = &auth {
        h.auth_seen.push(a.clone());
    }
    let Some(r) = h.repos.get(id) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "RepoNotFound",
            format!("Repository Not Found for url: {id}."),
        ));
    };
    if let Some(t) = &r.token {
        match auth.as_deref().and_then(|a| a.strip_prefix("Bearer ")) {
            None => {
                return Err(error(
                    StatusCode::UNAUTHORIZED,
                    "GatedRepo",
                    format!(
                        "Access to model {id} is restricted. You must have access to it and be authenticated to access it. Please log in."
                    ),
                ));
            }
            Some(given) if given != t => {
                return Err(error(
                    StatusCode::FORBIDDEN,
                    "GatedRepo",
                    format!(
                        "Access to model {id} is restricted and you are not in the authorized list."
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    let commit = match r.refs.get(rev) {
        Some(c) => c.clone(),
        None if r.commits.contains_key(rev) => rev.to_string(),
        None => {
            return Err(error(
                StatusCode::NOT_FOUND,
                "RevisionNotFound",
                format!("Invalid rev id: {rev}"),
            ));
        }
    };
    let tree = r.commits[&commit].clone();
    Ok((commit, tree))
}

async fn info(
    State(st): State<Shared>,
    Path((org, name, rev)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let id = format!("{org}/{name}");
    let mut h = st.lock().unwrap();
    h.log.push(format!("GET /api/models/{id}/revision/{rev}"));
    let (commit, tree) = match lookup(&mut h, &id, &rev, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let blobs = q.get("blobs").is_some_and(|v| v == "true" || v == "1");
    let siblings: Vec<serde_json::Value> = tree
        .iter()
        .map(|(p, b)| {
            let mut s = serde_json::json!({ "rfilename": p });
            if blobs {
                s["size"] = b.data.len().into();
                s["blobId"] = b.git.clone().into();
                if b.lfs {
                    s["lfs"] = serde_json::json!({
                        "sha256": b.sha256,
                        "size": b.data.len(),
                        "pointerSize": 134,
                    });
                }
            }
            s
        })
        .collect();
    axum::Json(serde_json::json!({
        "_id": format!("{commit:.24}"),
        "id": id,
        "modelId": id,
        "sha": commit,
        "private": false,
        "gated": h.repos[&id].token.is_some().then_some("manual").map_or(serde_json::Value::Bool(false), Into::into),
        "siblings": siblings,
    }))
    .into_response()
}

/// `bytes=a-b`, `bytes=a-`: the inclusive range clamped to the file.
fn range(headers: &HeaderMap, len: u64) -> Option<(u64, u64)> {
    let v = headers.get(header::RANGE)?.to_str().ok()?;
    let spec = v.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let a: u64 = a.trim().parse().ok()?;
    let b: u64 = if b.trim().is_empty() {
        len.saturating_sub(1)
    } else {
        b.trim().parse().ok()?
    };
    Some((a, b.min(len.saturating_sub(1))))
}

async fn resolve(
    State(st): State<Shared>,
    method: Method,
    Path((org, name, rev, path)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let id = format!("{org}/{name}");
    let (commit, blob, rate, corrupt) = {
        let mut h = st.lock().unwrap();
        h.log.push(format!("{method} /{id}/resolve/{rev}/{path}"));
        let (commit, tree) = match lookup(&mut h, &id, &rev, &headers) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let Some(blob) = tree.get(&path).cloned() else {
            return error(
                StatusCode::NOT_FOUND,
                "EntryNotFound",
                format!("{path} does not exist on \"{rev}\""),
            );
        };
        let rate = h.throttle.get(&path).copied();
        let corrupt = h.corrupt.contains(&path);
        (commit, blob, rate, corrupt)
    };
    let len = blob.data.len() as u64;
    let (start, end, status) = match range(&headers, len) {
        Some((a, b)) if a < len && a <= b => (a, b, StatusCode::PARTIAL_CONTENT),
        Some(_) => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).unwrap(),
            );
            return r;
        }
        None => (0, len.saturating_sub(1), StatusCode::OK),
    };
    let mut hm = HeaderMap::new();
    let etag = HeaderValue::from_str(&format!("\"{}\"", blob.etag())).unwrap();
    hm.insert(header::ETAG, etag.clone());
    if blob.lfs {
        hm.insert("x-linked-etag", etag);
        hm.insert("x-linked-size", HeaderValue::from(len));
    }
    hm.insert("x-repo-commit", HeaderValue::from_str(&commit).unwrap());
    hm.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        hm.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")).unwrap(),
        );
    }
    let n = if len == 0 { 0 } else { end - start + 1 };
    hm.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    if method == Method::HEAD {
        return (status, hm).into_response();
    }
    // The body, in pieces: counted as they go out, throttled when asked, one byte flipped
    // (the middle of the file) when corrupted.
    const PIECE: u64 = 64 << 10;
    let flip = corrupt.then_some(len / 2);
    let stream = futures::stream::unfold(start, move |pos| {
        let blob = blob.clone();
        let st = st.clone();
        let path = path.clone();
        async move {
            if n == 0 || pos > end {
                return None;
            }
            let stop = (pos + PIECE).min(end + 1);
            let mut piece = blob.data[pos as usize..stop as usize].to_vec();
            if let Some(f) = flip
                && (pos..stop).contains(&f)
            {
                piece[(f - pos) as usize] ^= 0xff;
            }
            if let Some(r) = rate {
                tokio::time::sleep(Duration::from_secs_f64(piece.len() as f64 / r as f64)).await;
            }
            *st.lock().unwrap().served.entry(path).or_default() += piece.len() as u64;
            Some((Ok::<_, std::io::Error>(Bytes::from(piece)), stop))
        }
    });
    (status, hm, Body::from_stream(stream)).into_response()
}
