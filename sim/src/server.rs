//! The HTTP face of the simulated engine: OpenAI completions and chat (streaming or not),
//! TGI `generate_stream`/`generate`/`info`/`health`, and LMDeploy's `generate`.
//!
//! Prompts are tokenized one token per whitespace-separated word; generated text is one word
//! per token. The simulated model never stops before `max_tokens`, except when it answers an
//! eval question (see [`EXPECTED_HEADER`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bench_catalog::Quantization;
use futures::Stream;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::engine::{EngineHandle, Submit, TokenEvent};
use bench_catalog::roofline::accuracy;

/// In simulation, the load generator may send an eval item's expected answer in this header;
/// the simulated model then answers correctly with the probability of its quantization
/// ([`bench_catalog::roofline::accuracy`]), deterministically per prompt. Real engines never see it.
pub const EXPECTED_HEADER: &str = "x-bench-expected";

#[derive(Clone)]
pub struct ServerConfig {
    pub model: String,
    pub max_seq_len: u64,
    pub max_batch: u64,
    pub quantization: Quantization,
    pub seed: u64,
    /// Until then `/health` answers 503, as a real engine does while it loads weights.
    pub ready_at: Option<std::time::Instant>,
    /// Streams carry `usage` when asked (`stream_options.include_usage`); `false` sends
    /// none, as some servers do (llama.cpp's, older ones).
    pub usage: bool,
}

#[derive(Clone)]
struct AppState {
    engine: EngineHandle,
    cfg: Arc<ServerConfig>,
    ids: Arc<AtomicU64>,
}

pub fn router(engine: EngineHandle, cfg: ServerConfig) -> Router {
    let state = AppState {
        engine,
        cfg: Arc::new(cfg),
        ids: Arc::new(AtomicU64::new(0)),
    };
    Router::new()
        .route("/health", get(health))
        .route("/v1/models", get(models))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat))
        .route("/generate_stream", post(tgi_stream))
        .route("/generate", post(generate))
        .route("/info", get(info))
        .layer(axum::middleware::from_fn(stamp))
        .with_state(state)
}

async fn health(State(s): State<AppState>) -> Response {
    match s.cfg.ready_at {
        Some(t) if std::time::Instant::now() < t => {
            (StatusCode::SERVICE_UNAVAILABLE, "loading").into_response()
        }
        _ => "ok".into_response(),
    }
}

fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

fn openai_error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({"error": {"message": message, "type": "invalid_request_error", "code": status.as_u16()}}))).into_response()
}

/// What every dialect asks of the engine.
struct Gen {
    id: String,
    prompt_tokens: u64,
    max_tokens: u64,
    /// Words of the answer when the request carries an expected answer.
    answer: Option<Vec<String>>,
}

impl AppState {
    fn plan(
        &self,
        prompt: &str,
        max_tokens: u64,
        ignore_eos: bool,
        headers: &HeaderMap,
    ) -> Result<Gen, String> {
        let prompt_tokens = words(prompt);
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        let answer = headers
            .get(EXPECTED_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(|expected| {
                let mut h: u64 = self.cfg.seed ^ 0x9E37_79B9_7F4A_7C15;
                for b in prompt.bytes() {
                    h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3);
                }
                let p = (h >> 11) as f64 / (1u64 << 53) as f64;
                let text = if p < accuracy(self.cfg.quantization) {
                    expected.to_string()
                } else {
                    format!("not-{expected}")
                };
                text.split_whitespace()
                    .map(String::from)
                    .collect::<Vec<_>>()
            });
        let max_tokens = match &answer {
            Some(a) if !ignore_eos => (a.len() as u64).min(max_tokens).max(1),
            _ => max_tokens.max(1),
        };
        if prompt_tokens + max_tokens > self.cfg.max_seq_len {
            return Err(format!(
                "This model's maximum context length is {} tokens. However, you requested {} tokens ({} in the messages, {} in the completion).",
                self.cfg.max_seq_len,
                prompt_tokens + max_tokens,
                prompt_tokens,
                max_tokens
            ));
        }
        Ok(Gen {
            id: format!("sim-{n}"),
            prompt_tokens,
            max_tokens,
            answer,
        })
    }

    fn start(
        &self,
        g: &Gen,
        arrived: Option<Arrived>,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<TokenEvent>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let arrived = arrived.map_or_else(std::time::Instant::now, |a| a.0);
        self.engine
            .submit(Submit {
                prompt_tokens: g.prompt_tokens,
                max_tokens: g.max_tokens,
                tx,
                arrived,
            })
            .then_some(rx)
    }
}

/// When a request's head reached the server (stamped by a middleware before the body is read).
#[derive(Clone, Copy, Debug)]
pub struct Arrived(pub std::time::Instant);

async fn stamp(mut req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    req.extensions_mut()
        .insert(Arrived(std::time::Instant::now()));
    next.run(req).await
}

fn token_text(g: &Gen, i: u64) -> String {
    match &g.answer {
        Some(a) => format!("{} ", a.get(i as usize).map(String::as_str).unwrap_or("")),
        None => format!("tok{} ", i % 1000),
    }
}

/// A whole (not streamed) answer: its text and token count.
async fn collect(
    g: &Gen,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<TokenEvent>,
) -> (String, u64) {
    let mut text = String::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            TokenEvent::Token(i) => text.push_str(&token_text(g, i)),
            TokenEvent::Done(n) => return (text, n),
        }
    }
    (text, 0)
}

fn with_id(mut r: Response, id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(id) {
        r.headers_mut().insert("x-request-id", v);
    }
    r
}

async fn models(State(s): State<AppState>) -> impl IntoResponse {
    axum::Json(
        json!({"object": "list", "data": [{"id": s.cfg.model, "object": "model", "owned_by": "bench-sim", "max_model_len": s.cfg.max_seq_len}]}),
    )
}

async fn info(State(s): State<AppState>) -> impl IntoResponse {
    axum::Json(json!({
        "model_id": s.cfg.model,
        "max_concurrent_requests": s.cfg.max_batch * 4,
        "max_input_tokens": s.cfg.max_seq_len - 1,
        "max_total_tokens": s.cfg.max_seq_len,
        "max_batch_size": s.cfg.max_batch,
        "version": concat!("bench-sim ", env!("CARGO_PKG_VERSION")),
    }))
}

#[derive(Clone, Copy, PartialEq)]
enum OpenAi {
    Completions,
    Chat,
}

type ArrivedExt = Option<axum::Extension<Arrived>>;

async fn completions(
    State(s): State<AppState>,
    a: ArrivedExt,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    openai(s, a.map(|x| x.0), headers, body.0, OpenAi::Completions).await
}

async fn chat(
    State(s): State<AppState>,
    a: ArrivedExt,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    openai(s, a.map(|x| x.0), headers, body.0, OpenAi::Chat).await
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn openai(
    s: AppState,
    arrived: Option<Arrived>,
    headers: HeaderMap,
    body: Value,
    kind: OpenAi,
) -> Response {
    if let Some(m) = body.get("model").and_then(Value::as_str)
        && m != s.cfg.model
    {
        return openai_error(
            StatusCode::NOT_FOUND,
            format!("The model `{m}` does not exist."),
        );
    }
    let prompt = match kind {
        OpenAi::Completions => match body.get("prompt") {
            Some(Value::String(p)) => p.clone(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
            _ => return openai_error(StatusCode::BAD_REQUEST, "`prompt` is required".into()),
        },
        OpenAi::Chat => match body.get("messages").and_then(Value::as_array) {
            Some(ms) if !ms.is_empty() => ms
                .iter()
                .filter_map(|m| m.get("content").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" "),
            _ => {
                return openai_error(
                    StatusCode::BAD_REQUEST,
                    "`messages` must be a non-empty list".into(),
                );
            }
        },
    };
    let max_tokens = body
        .get("max_tokens")
        .or_else(|| body.get("max_completion_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(16);
    let ignore_eos = body
        .get("ignore_eos")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        && s.cfg.usage;
    let g = match s.plan(&prompt, max_tokens, ignore_eos, &headers) {
        Ok(g) => g,
        Err(m) => return openai_error(StatusCode::BAD_REQUEST, m),
    };
    let Some(rx) = s.start(&g, arrived) else {
        return openai_error(StatusCode::SERVICE_UNAVAILABLE, "engine stopped".into());
    };
    let model = s.cfg.model.clone();
    let created = now_secs();
    let (object, chunk_object) = match kind {
        OpenAi::Completions => ("text_completion", "text_completion"),
        OpenAi::Chat => ("chat.completion", "chat.completion.chunk"),
    };
    let id = format!("cmpl-{}", g.id);
    if !stream {
        let (text, n) = collect(&g, rx).await;
        let choice = match kind {
            OpenAi::Completions => json!({"index": 0, "text": text, "finish_reason": "length"}),
            OpenAi::Chat => {
                json!({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"})
            }
        };
        let body = json!({"id": id, "object": object, "created": created, "model": model, "choices": [choice],
            "usage": {"prompt_tokens": g.prompt_tokens, "completion_tokens": n, "total_tokens": g.prompt_tokens + n}});
        return with_id(axum::Json(body).into_response(), &g.id);
    }
    let rid = g.id.clone();
    let prompt_tokens = g.prompt_tokens;
    let events = UnboundedReceiverStream::new(rx).flat_map(move |ev| {
        let mut out: Vec<Event> = Vec::new();
        match ev {
            TokenEvent::Token(i) => {
                let text = token_text(&g, i);
                let choice = match kind {
                    OpenAi::Completions => json!({"index": 0, "text": text, "finish_reason": null}),
                    OpenAi::Chat if i == 0 => json!({"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": null}),
                    OpenAi::Chat => json!({"index": 0, "delta": {"content": text}, "finish_reason": null}),
                };
                out.push(Event::default().data(json!({"id": id, "object": chunk_object, "created": created, "model": model, "choices": [choice]}).to_string()));
            }
            TokenEvent::Done(n) => {
                let last = match kind {
                    OpenAi::Completions => json!({"index": 0, "text": "", "finish_reason": "length"}),
                    OpenAi::Chat => json!({"index": 0, "delta": {}, "finish_reason": "length"}),
                };
                out.push(Event::default().data(json!({"id": id, "object": chunk_object, "created": created, "model": model, "choices": [last]}).to_string()));
                if usage {
                    out.push(Event::default().data(
                        json!({"id": id, "object": chunk_object, "created": created, "model": model, "choices": [],
                            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n}})
                        .to_string(),
                    ));
                }
                out.push(Event::default().data("[DONE]"));
            }
        }
        futures::stream::iter(out.into_iter().map(Ok::<_, std::convert::Infallible>))
    });
    with_id(sse(events), &rid)
}

fn sse(
    events: impl Stream<Item = Result<Event, std::convert::Infallible>> + Send + 'static,
) -> Response {
    Sse::new(events).into_response()
}

fn tgi_error(message: String) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({"error": message, "error_type": "validation"})),
    )
        .into_response()
}

async fn tgi_stream(
    State(s): State<AppState>,
    a: ArrivedExt,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let arrived = a.map(|x| x.0);
    let Some(inputs) = body.get("inputs").and_then(Value::as_str) else {
        return tgi_error("`inputs` is required".into());
    };
    let max_new = body
        .pointer("/parameters/max_new_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(20);
    let details = body
        .pointer("/parameters/details")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let g = match s.plan(inputs, max_new, false, &headers) {
        Ok(g) => g,
        Err(m) => return tgi_error(m),
    };
    let Some(rx) = s.start(&g, arrived) else {
        return tgi_error("engine stopped".into());
    };
    let rid = g.id.clone();
    let mut text = String::new();
    // TGI's last token event carries `generated_text` (and details): the engine stops at
    // `max_tokens`, so the server knows which token is the last as it sends it.
    let last = g.max_tokens.saturating_sub(1);
    let events = UnboundedReceiverStream::new(rx).flat_map(move |ev| {
        let mut out = Vec::new();
        if let TokenEvent::Token(i) = ev {
            let t = token_text(&g, i);
            text.push_str(&t);
            let mut e = json!({"index": i + 1, "token": {"id": i, "text": t, "logprob": -0.1, "special": false}, "generated_text": null, "details": null});
            if i == last {
                e["generated_text"] = json!(text);
                if details {
                    e["details"] = json!({"finish_reason": "length", "generated_tokens": i + 1, "seed": null});
                }
            }
            out.push(Event::default().data(e.to_string()));
        }
        futures::stream::iter(out.into_iter().map(Ok::<_, std::convert::Infallible>))
    });
    with_id(sse(events), &rid)
}

/// `/generate`: TGI's (`inputs`) or LMDeploy's (`prompt`), told apart by the body.
async fn generate(
    State(s): State<AppState>,
    a: ArrivedExt,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let arrived = a.map(|x| x.0);
    let (prompt, max, lmdeploy) = if let Some(i) = body.get("inputs").and_then(Value::as_str) {
        (
            i.to_string(),
            body.pointer("/parameters/max_new_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(20),
            false,
        )
    } else if let Some(p) = body.get("prompt").and_then(Value::as_str) {
        (
            p.to_string(),
            body.get("request_output_len")
                .and_then(Value::as_u64)
                .unwrap_or(512),
            true,
        )
    } else {
        return tgi_error("`inputs` (TGI) or `prompt` (LMDeploy) is required".into());
    };
    let ignore_eos = body
        .get("ignore_eos")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let g = match s.plan(&prompt, max, ignore_eos, &headers) {
        Ok(g) => g,
        Err(m) => return tgi_error(m),
    };
    let Some(rx) = s.start(&g, arrived) else {
        return tgi_error("engine stopped".into());
    };
    let stream = lmdeploy && body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if stream {
        // LMDeploy streams one JSON object per line.
        let rid = g.id.clone();
        let lines = UnboundedReceiverStream::new(rx).map(move |ev| {
            let line = match ev {
                TokenEvent::Token(i) => json!({"text": token_text(&g, i), "tokens": i + 1, "input_tokens": g.prompt_tokens, "finish_reason": null}),
                TokenEvent::Done(n) => json!({"text": "", "tokens": n, "input_tokens": g.prompt_tokens, "finish_reason": "length"}),
            };
            Ok::<_, std::convert::Infallible>(format!("{line}\n"))
        });
        return with_id(axum::body::Body::from_stream(lines).into_response(), &rid);
    }
    let (text, n) = collect(&g, rx).await;
    let body = if lmdeploy {
        json!({"text": text, "tokens": n, "input_tokens": g.prompt_tokens, "finish_reason": "length"})
    } else {
        json!({"generated_text": text, "details": {"finish_reason": "length", "generated_tokens": n}})
    };
    with_id(axum::Json(body).into_response(), &g.id)
}
