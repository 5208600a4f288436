//! Driving load: closed loop (N in flight) or open loop (gamma-distributed arrivals, optional
//! concurrency cap), warmup first and under the same cap, stop on a request count or a
//! duration. Every request is timed at the points the metric definitions name.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Gamma};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use http_body_util::BodyExt;

use crate::dataset::Prompt;
use crate::dialect::{Dialect, parse_event, truncate};
use crate::http::{Conn, Pool, Sender};
use crate::tokens::Tokenizer;

/// Header carrying an eval item's expected answer to the *simulated* engine only.
pub const SIM_EXPECTED_HEADER: &str = "x-bench-expected";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Load {
    Concurrency {
        concurrency: u32,
    },
    Rate {
        rate: f64,
        burstiness: f64,
        max_concurrency: Option<u32>,
    },
}

/// `concurrency 8`, `rate 4/s`.
impl std::fmt::Display for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Load::Concurrency { concurrency } => write!(f, "concurrency {concurrency}"),
            Load::Rate { rate, .. } => write!(f, "rate {rate}/s"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    Requests(u64),
    Duration(f64),
}

#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Base URL of the server, e.g. `http://127.0.0.1:8000`.
    pub url: String,
    pub dialect: Dialect,
    pub model: String,
    pub load: Load,
    pub stop: Stop,
    pub warmup: u64,
    /// Force output lengths with `ignore_eos` where the dialect allows.
    pub ignore_eos: bool,
    pub timeout: Duration,
    pub seed: u64,
    /// Send eval answers to a simulated engine (never to a real one).
    pub simulated: bool,
    /// The model's tokenizer: output text is counted with it (a server may send no usage).
    pub tokenizer: Option<Arc<Tokenizer>>,
}

pub use bench_node::records::Record;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no prompts to send")]
    NoPrompts,
    #[error("{0}")]
    Url(String),
}

/// The runtime to drive a load on: one thread, whatever the load. Each connection is driven
/// in the task that reads its responses ([`crate::http`]), so nothing needs a second worker,
/// and a second one would only add wakeups across threads between the socket and the task
/// that stamps the time (on two cores shared with a server: a lower request-rate ceiling
/// and a later TTFT).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// [`run`] on the [`runtime`], for callers that have none (`bench load`).
pub fn run_blocking(
    cfg: LoadConfig,
    prompts: Vec<Prompt>,
    progress: Option<Progress>,
) -> Result<Vec<Record>, String> {
    let rt = runtime().map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(run(cfg, prompts, progress))
        .map_err(|e| e.to_string())
}

/// Progress callbacks: requests done so far.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

struct Shared {
    cfg: LoadConfig,
    pool: Pool,
    prompts: Vec<Prompt>,
    /// Each prompt's request body, serialized once before the load starts.
    bodies: Vec<bytes::Bytes>,
    /// The dialect's path on the server (with the URL's own path prefix).
    path: String,
    /// The `Host` header, made once (a header made from a string is a copy per request).
    host: hyper::header::HeaderValue,
    start: Instant,
    done: AtomicU64,
    total: u64,
    progress: Option<Progress>,
}

fn ns(start: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(start).as_nanos() as u64
}

/// Runs the load; returns every record (warmup included, marked) in index order.
pub async fn run(
    cfg: LoadConfig,
    prompts: Vec<Prompt>,
    progress: Option<Progress>,
) -> Result<Vec<Record>, LoadError> {
    if prompts.is_empty() {
        return Err(LoadError::NoPrompts);
    }
    let total = match cfg.stop {
        Stop::Requests(n) => cfg.warmup + n,
        Stop::Duration(_) => u64::MAX,
    };
    let deadline = match cfg.stop {
        Stop::Duration(s) => Some(Duration::from_secs_f64(s)),
        Stop::Requests(_) => None,
    };
    let url = format!("{}{}", cfg.url.trim_end_matches('/'), cfg.dialect.path());
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| LoadError::Url(format!("`{url}` is not a URL: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(LoadError::Url(format!(
            "`{url}`: only http:// servers can be measured (no TLS between the load and the engine)"
        )));
    }
    let Some(host) = uri.host() else {
        return Err(LoadError::Url(format!("`{url}` names no host")));
    };
    let authority = format!("{host}:{}", uri.port_u16().unwrap_or(80));
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
    let bodies = prompts
        .iter()
        .map(|p| {
            let body = cfg
                .dialect
                .body(&cfg.model, &p.text, p.max_tokens, cfg.ignore_eos);
            bytes::Bytes::from(body.to_string())
        })
        .collect();
    let host = hyper::header::HeaderValue::from_str(&authority)
        .map_err(|e| LoadError::Url(format!("`{url}`: {e}")))?;
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        pool: Pool::new(authority),
        prompts,
        bodies,
        path,
        host,
        start: Instant::now(),
        done: AtomicU64::new(0),
        total,
        progress,
    });
    let next = Arc::new(AtomicU64::new(0));
    let mut records: Vec<Record> = match cfg.load {
        Load::Concurrency { concurrency } => {
            let mut workers = Vec::new();
            for _ in 0..concurrency.max(1) {
                let (shared, next) = (shared.clone(), next.clone());
                workers.push(tokio::spawn(async move {
                    let mut out = Vec::new();
                    loop {
                        if deadline.is_some_and(|d| shared.start.elapsed() >= d) {
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= shared.total {
                            break;
                        }
                        let due = Instant::now();
                        out.push(request(&shared, i, due).await);
                    }
                    out
                }));
            }
            let mut all = Vec::new();
            for w in workers {
                all.extend(w.await.unwrap_or_default());
            }
            all
        }
        Load::Rate {
            rate,
            burstiness,
            max_concurrency,
        } => {
            let cap = Arc::new(Semaphore::new(
                max_concurrency.map_or(Semaphore::MAX_PERMITS, |c| c.max(1) as usize),
            ));
            let mut rng = StdRng::seed_from_u64(cfg.seed);
            // Gaps ~ Gamma(shape = burstiness, scale = 1 / (rate · burstiness)): mean 1 / rate.
            let gamma = Gamma::new(
                burstiness.max(1e-6),
                1.0 / (rate.max(1e-9) * burstiness.max(1e-6)),
            )
            .ok();
            let mut tasks = Vec::new();
            let mut at = 0.0f64;
            let mut i = 0u64;
            while i < total {
                if deadline.is_some_and(|d| at >= d.as_secs_f64()) {
                    break;
                }
                let due = shared.start + Duration::from_secs_f64(at);
                tokio::time::sleep_until(due.into()).await;
                let permit = cap.clone().acquire_owned().await;
                let shared = shared.clone();
                tasks.push(tokio::spawn(async move {
                    let r = request(&shared, i, due).await;
                    drop(permit);
                    r
                }));
                at += gamma
                    .as_ref()
                    .map_or(1.0 / rate.max(1e-9), |g| g.sample(&mut rng));
                i += 1;
            }
            let mut all = Vec::new();
            for t in tasks {
                if let Ok(r) = t.await {
                    all.push(r);
                }
            }
            all
        }
    };
    records.sort_by_key(|r| r.index);
    Ok(records)
}

async fn request(s: &Shared, index: u64, due: Instant) -> Record {
    let k = (index as usize) % s.prompts.len();
    let (p, cfg) = (&s.prompts[k], &s.cfg);
    let mut r = Record {
        index,
        warmup: index < cfg.warmup,
        due_ns: ns(s.start, due),
        prompt_tokens: p.tokens,
        prompt_tokens_from: p.tokens_from,
        max_tokens: p.max_tokens,
        // A timestamp per token-carrying event: no reallocation while the stream runs.
        chunk_ns: Vec::with_capacity(p.max_tokens.min(4096) as usize + 2),
        ..Record::default()
    };
    // The output text is needed to score an answer or to count tokens; otherwise nothing is
    // kept per event.
    let keep_text = p.expected.is_some() || cfg.tokenizer.is_some();
    let send = Instant::now();
    r.send_ns = ns(s.start, send);
    let mut text = String::new();
    let attempts = async {
        // A connection the server closed while it was idle fails before anything is sent:
        // once, on a new connection.
        for attempt in 0..2 {
            let conn = match if attempt == 0 {
                s.pool.get().await
            } else {
                s.pool.connect().await
            } {
                Ok(c) => c,
                Err(e) => {
                    r.error = Some(format!("connection refused or reset: {e}"));
                    return;
                }
            };
            let Conn {
                mut send,
                driver,
                reused,
            } = conn;
            let work = exchange(s, k, &mut send, &mut r, &mut text, keep_text);
            let (sent, driver) = Conn::drive(driver, work).await;
            match sent {
                Exchange::NotSent(e) if reused && attempt == 0 => {
                    tracing::debug!("an idle connection was closed ({e}): sending again");
                    continue;
                }
                Exchange::NotSent(e) => r.error = Some(e),
                Exchange::Read { whole } => {
                    if let Some(driver) = driver.filter(|_| whole) {
                        s.pool.put(send, driver);
                    }
                }
            }
            return;
        }
    };
    if tokio::time::timeout(cfg.timeout, attempts).await.is_err() {
        r.error = Some(format!(
            "timed out: no complete response within {}",
            secs(cfg.timeout)
        ));
    }
    if r.end_ns == 0 {
        r.end_ns = ns(s.start, Instant::now());
    }
    if let Some(t) = &cfg.tokenizer
        && r.first_token_ns.is_some()
    {
        r.tokenizer_output_tokens = Some(t.count(&text));
    }
    if let Some((answer, scoring)) = &p.expected
        && r.error.is_none()
    {
        r.correct = Some(scoring.score(&text, answer));
    }
    let done = s.done.fetch_add(1, Ordering::Relaxed) + 1;
    if let Some(p) = &s.progress {
        p(done, s.total);
    }
    r
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// How an exchange on one connection went.
enum Exchange {
    /// The request did not reach the server (why).
    NotSent(String),
    /// A response was read, to its end (`whole`) or not (an error, or a stream abandoned
    /// after its end marker): only a whole one leaves the connection reusable.
    Read { whole: bool },
}

/// One request on a connection and the reading of its response into `r`.
async fn exchange(
    s: &Shared,
    k: usize,
    sender: &mut Sender,
    r: &mut Record,
    text: &mut String,
    keep_text: bool,
) -> Exchange {
    let (p, cfg) = (&s.prompts[k], &s.cfg);
    let mut req = hyper::Request::post(s.path.as_str())
        .header(hyper::header::HOST, s.host.clone())
        .header(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
    if cfg.simulated
        && let Some((answer, _)) = &p.expected
    {
        req = req.header(SIM_EXPECTED_HEADER, answer.as_str());
    }
    let req = match req.body(http_body_util::Full::new(s.bodies[k].clone())) {
        Ok(req) => req,
        Err(e) => return Exchange::NotSent(format!("request failed: {e}")),
    };
    let resp = match sender.send_request(req).await {
        Ok(resp) => resp,
        Err(e) => return Exchange::NotSent(describe(&e)),
    };
    r.status = resp.status().as_u16();
    r.request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    if !resp.status().is_success() {
        let body = resp.into_body().collect().await;
        let whole = body.is_ok();
        let body = body.map(|b| b.to_bytes()).unwrap_or_default();
        r.error = Some(format!(
            "HTTP {}: {}",
            r.status,
            truncate(String::from_utf8_lossy(&body).trim(), 300)
        ));
        return Exchange::Read { whole };
    }
    let mut events = sseer::EventStream::new(resp.into_body().into_data_stream());
    let mut done = false;
    let mut whole = true;
    while let Some(ev) = events.next().await {
        let t = Instant::now();
        match ev {
            Err(e) => {
                r.error = Some(format!("stream broke: {e}"));
                whole = false;
                break;
            }
            Ok(ev) => {
                let parsed = parse_event(cfg.dialect, &ev.data);
                if let Some(e) = parsed.error {
                    r.error = Some(e);
                    whole = false;
                    break;
                }
                if let Some(t_text) = parsed.text {
                    let at = ns(s.start, t);
                    r.first_token_ns.get_or_insert(at);
                    r.last_token_ns = Some(at);
                    r.chunk_ns.push(at);
                    r.client_output_tokens += 1;
                    if keep_text {
                        text.push_str(&t_text);
                    }
                }
                if let Some((prompt, completion)) = parsed.usage {
                    r.server_prompt_tokens = prompt.or(r.server_prompt_tokens);
                    r.server_output_tokens = Some(completion);
                }
                if parsed.done {
                    done = true;
                    if cfg.dialect != Dialect::Tgi {
                        r.end_ns = ns(s.start, t);
                        // The body's end follows the marker at once on a well-behaved
                        // server: read it, to keep the connection; else leave it.
                        whole = match events.next().now_or_never() {
                            Some(None) => true,
                            _ => tokio::time::timeout(Duration::from_millis(100), async {
                                while let Some(Ok(_)) = events.next().await {}
                            })
                            .await
                            .is_ok(),
                        };
                        break;
                    }
                }
            }
        }
    }
    if r.error.is_none() && !done {
        r.error = Some("the stream ended without its end marker".into());
    }
    if r.error.is_none() && r.first_token_ns.is_none() {
        r.error = Some("no token was generated".into());
    }
    Exchange::Read { whole }
}

fn describe(e: &hyper::Error) -> String {
    let kind = if e.is_canceled() || e.is_closed() || e.is_incomplete_message() {
        "connection refused or reset"
    } else {
        "request failed"
    };
    let mut msg = format!("{kind}: {e}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg
}
