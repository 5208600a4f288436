//! Driving load: closed loop (N in flight) or open loop (gamma-distributed arrivals, optional
//! concurrency cap), warmup first and under the same cap, stop on a request count or a
//! duration. Every request is timed at the points the metric definitions name.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eventsource_stream2::Eventsource;
use futures::StreamExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Gamma};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::dataset::Prompt;
use crate::dialect::{Dialect, parse_event, truncate};
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
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("{0}")]
    Url(String),
}

/// The runtime to drive a load on. At low concurrency one thread (no cross-thread wakeup
/// between the socket and the task that stamps the time: a tenth of a millisecond per event
/// on a small machine); above it, two workers for throughput.
pub fn runtime_for(load: &Load) -> std::io::Result<tokio::runtime::Runtime> {
    let in_flight = match load {
        Load::Concurrency { concurrency } => *concurrency,
        Load::Rate {
            max_concurrency, ..
        } => max_concurrency.unwrap_or(u32::MAX),
    };
    if in_flight <= 4 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    }
}

/// [`run`] on the runtime [`runtime_for`] picks, for callers that have none (`bench load`).
pub fn run_blocking(
    cfg: LoadConfig,
    prompts: Vec<Prompt>,
    progress: Option<Progress>,
) -> Result<Vec<Record>, String> {
    let rt = runtime_for(&cfg.load).map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(run(cfg, prompts, progress))
        .map_err(|e| e.to_string())
}

/// Progress callbacks: requests done so far.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

struct Shared {
    cfg: LoadConfig,
    client: reqwest::Client,
    prompts: Vec<Prompt>,
    /// Each prompt's request body, serialized once before the load starts.
    bodies: Vec<bytes::Bytes>,
    url: reqwest::Url,
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
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .tcp_nodelay(true)
        .timeout(cfg.timeout)
        .build()
        .map_err(|e| LoadError::Client(e.to_string()))?;
    let total = match cfg.stop {
        Stop::Requests(n) => cfg.warmup + n,
        Stop::Duration(_) => u64::MAX,
    };
    let deadline = match cfg.stop {
        Stop::Duration(s) => Some(Duration::from_secs_f64(s)),
        Stop::Requests(_) => None,
    };
    let url = format!("{}{}", cfg.url.trim_end_matches('/'), cfg.dialect.path());
    let url = reqwest::Url::parse(&url)
        .map_err(|e| LoadError::Url(format!("`{url}` is not a URL: {e}")))?;
    let bodies = prompts
        .iter()
        .map(|p| {
            let body = cfg
                .dialect
                .body(&cfg.model, &p.text, p.max_tokens, cfg.ignore_eos);
            bytes::Bytes::from(body.to_string())
        })
        .collect();
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        client,
        prompts,
        bodies,
        url,
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
    let mut req = s
        .client
        .post(s.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(s.bodies[k].clone());
    if cfg.simulated
        && let Some((answer, _)) = &p.expected
    {
        req = req.header(SIM_EXPECTED_HEADER, answer.as_str());
    }
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
    match req.send().await {
        Err(e) => r.error = Some(describe(&e)),
        Ok(resp) => {
            r.status = resp.status().as_u16();
            r.request_id = resp
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(String::from);
            if !resp.status().is_success() {
                let body = resp.text().await.unwrap_or_default();
                r.error = Some(format!("HTTP {}: {}", r.status, truncate(body.trim(), 300)));
            } else {
                let mut events = resp.bytes_stream().eventsource();
                let mut done = false;
                while let Some(ev) = events.next().await {
                    let t = Instant::now();
                    match ev {
                        Err(e) => {
                            r.error = Some(format!("stream broke: {e}"));
                            break;
                        }
                        Ok(ev) => {
                            let parsed = parse_event(cfg.dialect, &ev.data);
                            if let Some(e) = parsed.error {
                                r.error = Some(e);
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
            }
        }
    }
    r.end_ns = ns(s.start, Instant::now());
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

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
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
