//! What a bench run measures, as its outputs record it: one record per request, the
//! metrics computed from them (each with its definition), and the API dialect spoken.
//! The load generator writes these; the validate and aggregate nodes and the results store
//! read them.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// `POST /v1/completions`, streamed with `stream_options.include_usage`.
    OpenaiCompletions,
    /// `POST /v1/chat/completions`, streamed with `stream_options.include_usage`.
    OpenaiChat,
    /// Text Generation Inference `POST /generate_stream` with details.
    Tgi,
}

impl Dialect {
    pub const ALL: [Dialect; 3] = [Self::OpenaiCompletions, Self::OpenaiChat, Self::Tgi];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == s)
    }

    /// The name as users write it (`openai-completions`).
    pub fn name(self) -> &'static str {
        match self {
            Self::OpenaiCompletions => "openai-completions",
            Self::OpenaiChat => "openai-chat",
            Self::Tgi => "tgi",
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Self::OpenaiCompletions => "/v1/completions",
            Self::OpenaiChat => "/v1/chat/completions",
            Self::Tgi => "/generate_stream",
        }
    }

    /// The request body. `ignore_eos` forces the output length where the dialect allows
    /// (TGI has no such switch: its real length is recorded).
    pub fn body(self, model: &str, prompt: &str, max_tokens: u64, ignore_eos: bool) -> Value {
        match self {
            Self::OpenaiCompletions => json!({
                "model": model, "prompt": prompt, "max_tokens": max_tokens, "stream": true,
                "stream_options": {"include_usage": true}, "ignore_eos": ignore_eos, "temperature": 0.0,
            }),
            Self::OpenaiChat => json!({
                "model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
                "stream": true, "stream_options": {"include_usage": true}, "ignore_eos": ignore_eos, "temperature": 0.0,
            }),
            Self::Tgi => json!({
                "inputs": prompt, "parameters": {"max_new_tokens": max_tokens, "details": true, "do_sample": false},
            }),
        }
    }
}

/// One request, timed. Times are nanoseconds since the run started.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub index: u64,
    pub warmup: bool,
    /// When the request was due (open loop: its arrival; closed loop: when a slot freed).
    pub due_ns: u64,
    /// Just before the request was sent (after a concurrency slot was obtained).
    pub send_ns: u64,
    pub first_token_ns: Option<u64>,
    pub last_token_ns: Option<u64>,
    pub end_ns: u64,
    /// Arrival of every token-carrying event.
    pub chunk_ns: Vec<u64>,
    pub status: u16,
    pub error: Option<String>,
    pub request_id: Option<String>,
    pub prompt_tokens: u64,
    pub max_tokens: u64,
    pub server_prompt_tokens: Option<u64>,
    pub server_output_tokens: Option<u64>,
    /// Token-carrying events seen (a chunk may carry several tokens).
    pub client_output_tokens: u64,
    /// The output text's tokens by the model's tokenizer on the client, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_output_tokens: Option<u64>,
    /// Where `prompt_tokens` comes from: the model's tokenizer, or an estimate (words).
    #[serde(default)]
    pub prompt_tokens_from: TokenSource,
    pub correct: Option<bool>,
}

/// Where a token count comes from, best first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenSource {
    /// The server's `usage` (or TGI's `details`).
    ServerUsage,
    /// The model's own tokenizer, on the client.
    Tokenizer,
    /// Token-carrying stream events counted (exact only when each carries one token).
    StreamEvents,
    /// Words (no tokenizer and no usage): close for common English on real tokenizers.
    #[default]
    Estimate,
}

impl TokenSource {
    pub fn name(self) -> &'static str {
        match self {
            Self::ServerUsage => "server-usage",
            Self::Tokenizer => "tokenizer",
            Self::StreamEvents => "stream-events",
            Self::Estimate => "estimate",
        }
    }
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Record {
    pub fn ok(&self) -> bool {
        self.error.is_none() && (200..300).contains(&self.status) && self.first_token_ns.is_some()
    }

    /// Output tokens: the server's count, else the client tokenizer's, else the stream's
    /// events.
    pub fn output_tokens(&self) -> u64 {
        self.output_count().0
    }

    /// Output tokens and where the count comes from.
    pub fn output_count(&self) -> (u64, TokenSource) {
        match (self.server_output_tokens, self.tokenizer_output_tokens) {
            (Some(n), _) => (n, TokenSource::ServerUsage),
            (None, Some(n)) => (n, TokenSource::Tokenizer),
            (None, None) => (self.client_output_tokens, TokenSource::StreamEvents),
        }
    }

    /// Input tokens and where the count comes from.
    pub fn input_count(&self) -> (u64, TokenSource) {
        match self.server_prompt_tokens {
            Some(n) => (n, TokenSource::ServerUsage),
            None => (self.prompt_tokens, self.prompt_tokens_from),
        }
    }
}

/// Per-request service-level objectives, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
}

/// A distribution in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dist {
    pub count: u64,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// (percentile, value)
    pub percentiles: Vec<(f64, f64)>,
}

impl Dist {
    /// From values in nanoseconds.
    pub fn from_ns(values: &[u64], percentiles: &[f64]) -> Self {
        if values.is_empty() {
            return Dist::default();
        }
        let mut h = Histogram::<u64>::new(3).expect("3 significant digits is valid");
        h.auto(true);
        for v in values {
            let _ = h.record((*v).max(1));
        }
        let n = values.len() as f64;
        let mean = values.iter().map(|v| *v as f64).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|v| (*v as f64 - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0).max(1.0);
        let ms = 1e-6;
        Dist {
            count: values.len() as u64,
            mean: mean * ms,
            std: var.sqrt() * ms,
            min: *values.iter().min().unwrap_or(&0) as f64 * ms,
            max: *values.iter().max().unwrap_or(&0) as f64 * ms,
            percentiles: percentiles
                .iter()
                .map(|p| (*p, h.value_at_quantile(p / 100.0) as f64 * ms))
                .collect(),
        }
    }

    pub fn percentile(&self, p: f64) -> Option<f64> {
        self.percentiles
            .iter()
            .find(|(q, _)| *q == p)
            .map(|(_, v)| *v)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Measured requests (warmup excluded).
    pub requests: u64,
    pub completed: u64,
    pub failed: u64,
    /// First send to last completion of the measured requests, seconds.
    pub duration_s: f64,
    pub ttft: Dist,
    pub e2e: Dist,
    pub tpot: Dist,
    pub itl_chunk: Dist,
    pub itl_token: Dist,
    pub queue: Dist,
    pub request_throughput: f64,
    pub output_throughput: f64,
    pub total_throughput: f64,
    pub goodput: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Where the input and output counts come from: the weakest source any completed
    /// request's count had.
    #[serde(default)]
    pub input_tokens_from: TokenSource,
    #[serde(default)]
    pub output_tokens_from: TokenSource,
    /// Completed requests whose server sent no usage (their output counted on the client).
    #[serde(default)]
    pub without_usage: u64,
    /// Requests whose server-reported output differs from the client's count, or (when the
    /// length was forced) from the requested length.
    pub token_mismatches: u64,
    pub accuracy: Option<f64>,
    /// Error messages and how often each occurred.
    pub errors: Vec<(String, u64)>,
}

/// Names and definitions, printed with `--json` and in reports.
pub const DEFINITIONS: &[(&str, &str)] = &[
    (
        "ttft",
        "time to first token: send → first streamed event carrying a token (ms)",
    ),
    (
        "e2e",
        "end-to-end latency: send → last event carrying a token (ms)",
    ),
    (
        "tpot",
        "time per output token (vLLM's name; GuideLLM/AIPerf say ITL): (E2E − TTFT) / (output tokens − 1), requests with ≤ 1 output token excluded (ms)",
    ),
    (
        "itl_chunk",
        "inter-event latency: gaps between successive token-carrying events, pooled over requests (ms; an event may carry several tokens)",
    ),
    (
        "itl_token",
        "inter-token latency, token-weighted: (last − first token time) / (output tokens − 1), one sample per token (ms)",
    ),
    (
        "queue",
        "client queue time: when a request was due → when it was sent, waiting for a concurrency slot (ms)",
    ),
    (
        "request_throughput",
        "completed requests / (last completion − first send) (req/s)",
    ),
    (
        "output_throughput",
        "output tokens (the server's usage, else the model's tokenizer on the client, else stream events: see output_tokens_from) / duration (tokens/s)",
    ),
    (
        "total_throughput",
        "(prompt + output tokens) / duration (tokens/s)",
    ),
    ("goodput", "requests meeting every SLO / duration (req/s)"),
    ("accuracy", "fraction of eval answers scored correct"),
];

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Dialect;

    #[test]
    fn dialect_names_are_the_ones_users_write() {
        for d in Dialect::ALL {
            assert_eq!(serde_json::to_value(d).unwrap(), d.name());
            assert_eq!(Dialect::parse(d.name()), Some(d));
            assert_eq!(d.to_string(), d.name());
        }
        assert_eq!(Dialect::OpenaiCompletions.name(), "openai-completions");
        assert_eq!(Dialect::parse("OpenaiCompletions"), None);
    }
}
