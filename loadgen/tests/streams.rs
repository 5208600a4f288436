//! Event streams as servers write them, not only as the simulated engine does: CRLF line
//! ends, comments (keep-alive pings), fields without their space, `event:` and `id:` lines,
//! and events cut anywhere across the body's pieces are read as the SSE specification says;
//! a garbage event or a stream cut short fails its request with the reason, and nothing
//! panics.

use bench_loadgen::{Load, Record, Scoring, dataset, run, runtime};
use tokio::io::AsyncWriteExt;

mod common;

/// One request against a server that answers every request with `pieces`.
fn one_request(pieces: &'static [&'static str]) -> Record {
    let rt = runtime().unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    while common::read_request(&mut sock).await {
                        let response = common::stream_response(pieces);
                        if sock.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let cfg = common::config(url, Load::Concurrency { concurrency: 1 }, 1);
        // The answer the whole output text must be, to check what was read of each event.
        let mut prompts = dataset::random(1, 4, 3, 0.0, 1);
        prompts[0].expected = Some(("alpha beta gamma".into(), Scoring::ExactMatch));
        let mut records = run(cfg, prompts, None).await.unwrap();
        assert_eq!(records.len(), 1);
        records.remove(0)
    })
}

#[test]
fn events_framed_every_way_the_specification_allows_are_read_whole() {
    let r = one_request(&[
        ": ping\r\n\r\n",
        "event: message\r\nid: 1\r\ndata: {\"choices\":[{\"text\":\"alpha\"}]}\r\n\r\n",
        // A field without its space, and an event cut mid-line across two pieces.
        "data:{\"choices\":[{\"text\":\" be",
        "ta\"}]}\n\n: keep-alive\n\n",
        // Two events in one piece, the second cut before its blank line.
        "data: {\"choices\":[{\"text\":\" gamma\"}]}\n\ndata: {\"choices\":[],",
        "\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":3}}\n",
        "\ndata: [DONE]\n\n",
    ]);
    assert_eq!(r.error, None);
    assert_eq!(r.client_output_tokens, 3, "token-carrying events");
    assert_eq!(r.chunk_ns.len(), 3);
    assert_eq!(
        (r.server_prompt_tokens, r.server_output_tokens),
        (Some(4), Some(3))
    );
    assert_eq!(
        r.correct,
        Some(true),
        "the text of the three events, in order"
    );
}

#[test]
fn a_garbage_event_fails_its_request_with_the_event_quoted() {
    let r = one_request(&[
        "data: {\"choices\":[{\"text\":\"alpha\"}]}\n\n",
        "data: {not json at all\n\n",
        "data: [DONE]\n\n",
    ]);
    let e = r.error.expect("a failed request");
    assert!(e.starts_with("malformed event"), "{e}");
    assert!(e.contains("{not json at all"), "{e}");
    assert_eq!(r.client_output_tokens, 1, "what came before is kept");
}

#[test]
fn a_stream_that_ends_without_its_end_marker_fails_its_request() {
    let r = one_request(&["data: {\"choices\":[{\"text\":\"alpha\"}]}\n\n"]);
    assert_eq!(
        r.error.as_deref(),
        Some("the stream ended without its end marker")
    );
    let r = one_request(&[": nothing but comments\n\n"]);
    assert!(r.error.is_some(), "no token, no end marker");
}
