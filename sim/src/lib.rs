//! The simulated engine: a real HTTP server with a deterministic performance model, so that
//! every path of bench (and any sweep, rehearsed) runs without a GPU.
//!
//! The roofline is [`bench_catalog::roofline`] (shared with `bench estimate`); [`engine`]
//! runs continuous batching under it on its own thread;
//! [`server`] speaks the engines' dialects. The `bench-sim-engine` binary links nothing else.

pub mod cli;
pub mod engine;
pub mod server;

pub use bench_catalog::roofline::Hardware;
pub use engine::{EngineConfig, Mode};
pub use server::{ServerConfig, router};

/// Serves until the listener fails or the future is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: EngineConfig,
    server: ServerConfig,
) -> std::io::Result<()> {
    let handle = engine::spawn(engine);
    // No Nagle: a streamed token must not wait for the client's delayed ACK of the last one.
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(handle, server)).await
}
