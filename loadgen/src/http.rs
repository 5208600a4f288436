//! HTTP/1.1 for the load: hyper's client connections, each driven inside the task that sends
//! on it — no connection task between the socket and the task that stamps the time, so no
//! wakeup crosses tasks for each body chunk — and kept for reuse in a pool of the run's own.
//!
//! Measured against a minimal raw asyncio client on two cores shared with the server, the
//! connection-task design of a general client (reqwest over hyper-util's pool) topped out at
//! about three quarters of the raw client's request rate; connections driven in place on a
//! one-thread runtime reach it with no parsing, and 0.82–1.01 of it (median 0.94) with every
//! event of every stream parsed and stamped, as a run does.

use std::future::Future;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where a connection's requests are sent.
pub type Sender = SendRequest<Full<Bytes>>;
/// The future that moves a connection's bytes: nothing is sent or read unless it is polled.
pub type Driver = Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// One connection: where requests are sent, and the connection future that must be polled
/// for anything to move.
pub struct Conn {
    pub send: Sender,
    pub driver: Driver,
    /// Taken from the pool (it may have been closed by the server while idle).
    pub reused: bool,
}

impl Conn {
    /// Runs `work` (a request over [`Conn::send`] and the reading of its response) while
    /// driving the connection; returns its output, and the driver while the connection is
    /// still open.
    pub async fn drive<F: Future>(mut driver: Driver, work: F) -> (F::Output, Option<Driver>) {
        tokio::pin!(work);
        tokio::select! {
            biased;
            out = &mut work => return (out, Some(driver)),
            _ = &mut driver => {}
        }
        // The connection ended (closed by the server, or broken). Dropped, it fails a request
        // it had not sent yet and ends a body it was reading, so what `work` still waits for
        // resolves now.
        drop(driver);
        (work.await, None)
    }
}

/// The run's idle connections to one server.
pub struct Pool {
    /// `host:port`.
    authority: String,
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    pub fn new(authority: String) -> Self {
        Self {
            authority,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection, else a new one.
    pub async fn get(&self) -> std::io::Result<Conn> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(c) if !c.send.is_closed() => Ok(c),
            _ => self.connect().await,
        }
    }

    /// A new connection.
    pub async fn connect(&self) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(&self.authority).await?;
        stream.set_nodelay(true)?;
        let (send, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        Ok(Conn {
            send,
            driver,
            reused: false,
        })
    }

    /// Returns a connection whose last response was read to its end: taken again, it is
    /// `reused`.
    pub fn put(&self, send: Sender, driver: Driver) {
        let c = Conn {
            send,
            driver,
            reused: true,
        };
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(c);
    }
}
