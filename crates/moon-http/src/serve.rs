//! The connection loop: HTTP/1.1 over any [`Listener`] (plain TCP or the TLS listener), with the
//! limits `axum::serve` does not let us set.
//!
//! Why our own loop: `axum::serve` builds hyper's connection without a timer, so hyper's header
//! read timeout never runs, and a client that opens connections and never finishes a request's
//! headers keeps each one open for good (the review held one open for 400 s). Here every
//! connection gets
//!
//! - a header read timeout: the headers of each request must arrive within it, and since hyper
//!   starts the clock whenever it waits for a request's head, an idle keep-alive connection is
//!   closed after the same time;
//! - a bound on open connections: past it, new connections wait in the kernel's accept queue
//!   instead of each taking a task and a buffer.
//!
//! The rest mirrors `axum::serve`: the peer address is handed to handlers as
//! `ConnectInfo<C>`, and a graceful shutdown stops accepting, lets in-flight requests finish,
//! and closes idle connections.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// Limits of the connection loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Time a client has to send a request's headers, and the longest a keep-alive connection
    /// may sit idle between requests.
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self { header_read_timeout: Duration::from_secs(10), max_connections: 1024 }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains: no new connections,
/// in-flight requests finish, idle connections close. `peer` turns a listener address into the
/// `ConnectInfo` value handlers read.
pub async fn serve<L, C>(
    mut listener: L,
    router: Router,
    limits: ConnLimits,
    peer: fn(&L::Addr) -> C,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    L: Listener,
    C: Clone + Send + Sync + 'static,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Each connection task holds a clone of `open_rx`; the loop waits for all to be dropped.
    let (open_tx, open_rx) = watch::channel(());
    let mut stopping = stop_rx.clone();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = stopped(&mut stopping) => break,
        };
        let Ok(slot) = slot else { break };
        let (io, addr) = tokio::select! {
            conn = listener.accept() => conn,
            _ = stopped(&mut stopping) => break,
        };
        let info = ConnectInfo(peer(&addr));
        let service = router.clone().map_request(move |mut req: axum::http::Request<Incoming>| {
            req.extensions_mut().insert(info.clone());
            req
        });
        let service = TowerToHyperService::new(service);
        let mut stop = stop_rx.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(io), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error while draining");
                    }
                }
            }
            drop(slot);
            drop(open);
        });
    }
    drop(open_rx);
    drop(listener);
    open_tx.closed().await;
}

/// Resolves once shutdown has begun (or its sender is gone), holding no borrow of the channel
/// across an await, so the connection task stays `Send`.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
