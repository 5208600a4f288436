//! The load generator's own connections against a server that closes each one while it is
//! idle, without saying so (what uvicorn's keep-alive timeout does to a benchmark's pooled
//! connections between requests): every request still succeeds, on a new connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bench_loadgen::{Load, Slo, compute, dataset, run, runtime};
use tokio::io::AsyncWriteExt;

mod common;

/// One streamed completion per connection, then the connection closed 30 ms later (the
/// response does not say `Connection: close`). Returns the URL and the connections served.
async fn closing_server() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if !common::read_request(&mut sock).await {
                    return;
                }
                let events = [
                    "data: {\"choices\":[{\"text\":\"hi\"}]}\n\n",
                    "data: [DONE]\n\n",
                ];
                let response = common::stream_response(&events);
                sock.write_all(response.as_bytes()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(30)).await;
                // Closed while the client holds it idle.
            });
        }
    });
    (url, served)
}

#[test]
fn a_connection_the_server_closed_while_idle_is_replaced_without_failing_a_request() {
    let load = Load::Rate {
        rate: 10.0,
        burstiness: 1e6,
        max_concurrency: Some(1),
    };
    let rt = runtime().unwrap();
    let (url, served) = rt.block_on(closing_server());
    let cfg = common::config(url, load, 6);
    let records = rt
        .block_on(run(cfg, dataset::random(6, 8, 1, 0.0, 1), None))
        .unwrap();
    let m = compute(&records, &Slo::default(), &[50.0], false);
    assert_eq!((m.completed, m.failed), (6, 0), "{:?}", m.errors);
    // Requests 100 ms apart, each connection closed 30 ms after its response: one each.
    assert_eq!(served.load(Ordering::SeqCst), 6);
}
