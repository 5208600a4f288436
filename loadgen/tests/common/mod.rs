//! A hand-written HTTP/1.1 peer for the load generator's tests: it reads requests by their
//! `Content-Length` and answers with chunked event streams written exactly as given, so a
//! test decides what a server does that no real one does on cue.

use std::time::Duration;

use bench_loadgen::{Dialect, Load, LoadConfig, Stop};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// `requests` OpenAI completions to `url` under `load`, no warmup, a 10 s timeout.
pub fn config(url: String, load: Load, requests: u64) -> LoadConfig {
    LoadConfig {
        url,
        dialect: Dialect::OpenaiCompletions,
        model: "m".into(),
        load,
        stop: Stop::Requests(requests),
        warmup: 0,
        ignore_eos: true,
        timeout: Duration::from_secs(10),
        seed: 1,
        simulated: false,
        tokenizer: None,
    }
}

/// Reads one request (its head, then as many bytes as it says its body has); false when the
/// connection closed first.
pub async fn read_request(sock: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return false;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return true;
            }
        }
    }
}

/// A `200 OK` event stream whose body is `pieces`, each one HTTP chunk (so each reaches the
/// client as a piece of its own, wherever it cuts a line or an event), then the last chunk.
pub fn stream_response(pieces: &[&str]) -> String {
    let mut out = String::from(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
    );
    for p in pieces {
        out.push_str(&format!("{:x}\r\n{p}\r\n", p.len()));
    }
    out.push_str("0\r\n\r\n");
    out
}
