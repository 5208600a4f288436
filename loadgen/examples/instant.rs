//! A server that answers every request at once with the same OpenAI completion stream (32
//! tokens, a usage event, `[DONE]`) written in one piece: so cheap that the client measured
//! against it is the bottleneck, which the simulated engine (over 100 µs of CPU a request) is
//! not. Pinned to one core and a client to the other, the requests/s are the client's own
//! ceiling:
//!
//! ```text
//! cargo build --release -p bench-loadgen --examples
//! taskset -c 0 target/release/examples/instant &          # prints its URL
//! taskset -c 1 target/release/examples/load URL 64 20000
//! ```
//!
//! It reads requests by their `Content-Length` only (no chunked request bodies): a fixture for
//! measuring clients, not an HTTP server.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The whole response: headers, 35 chunked events and the last chunk.
fn response() -> Vec<u8> {
    let mut body = Vec::new();
    let mut event = |data: String| {
        let ev = format!("data: {data}\n\n");
        body.extend_from_slice(format!("{:x}\r\n{ev}\r\n", ev.len()).as_bytes());
    };
    let head =
        r#""created":1765123456,"id":"cmpl-1","model":"sim-model","object":"text_completion""#;
    for i in 0..33 {
        let (text, finish) = match i {
            32 => (String::new(), r#""length""#),
            _ => (format!(" w{i}"), "null"),
        };
        event(format!(
            r#"{{"choices":[{{"finish_reason":{finish},"index":0,"text":"{text}"}}],{head}}}"#
        ));
    }
    event(format!(
        r#"{{"choices":[],{head},"usage":{{"completion_tokens":32,"prompt_tokens":8,"total_tokens":40}}}}"#
    ));
    event("[DONE]".into());
    let mut out =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec();
    out.extend_from_slice(&body);
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// The length of the first whole request in `buf`, if it holds one.
fn request_len(buf: &[u8]) -> Option<usize> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let body = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (buf.len() >= end + body).then_some(end + body)
}

fn main() -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on http://{}", listener.local_addr()?);
        let resp: &'static [u8] = Box::leak(response().into_boxed_slice());
        loop {
            let (mut sock, _) = listener.accept().await?;
            sock.set_nodelay(true)?;
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(16 * 1024);
                let mut chunk = [0u8; 16 * 1024];
                loop {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    while let Some(n) = request_len(&buf) {
                        if sock.write_all(resp).await.is_err() {
                            return;
                        }
                        buf.drain(..n);
                    }
                }
            });
        }
    })
}
