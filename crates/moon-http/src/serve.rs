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
//! - a bound on open connections: past it, the connection that was idle longest (between
//!   requests, or still sending its first request's headers) is closed to make room, as nginx
//!   reuses its keep-alive connections when it runs out; only when every connection is answering
//!   a request (or streaming a response) does a new one wait, in the kernel's accept queue,
//!   instead of each taking a task and a buffer. Closing an idle HTTP/1.1 connection loses
//!   nothing: no request is on it, and clients retry a request on a fresh connection when a
//!   pooled one turns out closed.
//!
//! The rest mirrors `axum::serve`: the peer address is handed to handlers as
//! `ConnectInfo<C>`, and a graceful shutdown stops accepting, lets in-flight requests finish,
//! and closes idle connections.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{Notify, Semaphore, watch};
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
    let open_conns = Arc::new(Registry::default());
    // Each connection task holds a clone of `open_rx`; the loop waits for all to be dropped.
    let (open_tx, open_rx) = watch::channel(());
    let mut stopping = stop_rx.clone();
    let mut next_id = 0u64;
    loop {
        let (io, addr) = tokio::select! {
            conn = listener.accept() => conn,
            _ = stopped(&mut stopping) => break,
        };
        // At the bound, a connection that is waiting makes room: the longest-idle one closes, or
        // (every one busy) it waits for one to end or fall idle. Meanwhile the loop accepts
        // nothing more, so the rest wait in the kernel's queue.
        if slots.available_permits() == 0 {
            tokio::select! {
                () = open_conns.make_room(&slots) => {}
                _ = stopped(&mut stopping) => break,
            }
        }
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = stopped(&mut stopping) => break,
        };
        let Ok(slot) = slot else { break };
        next_id += 1;
        let state = open_conns.add(next_id);
        let info = ConnectInfo(peer(&addr));
        let (busy_state, busy_registry) = (state.clone(), open_conns.clone());
        let service = router
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(info.clone());
                req
            })
            .map_future(move |answer| {
                // Busy from the request's head to the last byte of its response body.
                let busy = Busy::new(busy_state.clone(), busy_registry.clone());
                async move {
                    let res: axum::response::Response = answer.await?;
                    Ok::<_, std::convert::Infallible>(
                        res.map(|body| axum::body::Body::new(Guarded { body, _busy: busy })),
                    )
                }
            });
        let service = TowerToHyperService::new(service);
        let mut stop = stop_rx.clone();
        let open = open_rx.clone();
        let registry = open_conns.clone();
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
                () = state.evict.notified() => {
                    // Idle when chosen: closes at once (should a request have just begun, it is
                    // answered first, then the connection closes).
                    conn.as_mut().graceful_shutdown();
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error while making room");
                    }
                }
            }
            registry.remove(state.id);
            drop(slot);
            drop(open);
        });
    }
    drop(open_rx);
    drop(listener);
    open_tx.closed().await;
}

/// One open connection, as the loop sees it when it needs room.
#[derive(Debug)]
struct ConnState {
    id: u64,
    /// Requests being answered (head read, response body not yet fully sent).
    busy: AtomicUsize,
    /// When it last became idle, in milliseconds since the registry's epoch.
    idle_since_ms: AtomicU64,
    /// Already asked to close.
    evicting: AtomicBool,
    evict: Notify,
}

/// The open connections, so the loop can close the longest-idle one when it is full.
#[derive(Debug)]
struct Registry {
    epoch: Instant,
    conns: Mutex<HashMap<u64, Arc<ConnState>>>,
    /// Signalled whenever a connection becomes idle, so a loop waiting for room looks again.
    idled: Notify,
}

impl Default for Registry {
    fn default() -> Self {
        Self { epoch: Instant::now(), conns: Mutex::new(HashMap::new()), idled: Notify::new() }
    }
}

impl Registry {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ConnState>>> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts and
        // removes), so a poisoned lock is still good to use.
        self.conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(self: &Arc<Self>, id: u64) -> Arc<ConnState> {
        let state = Arc::new(ConnState {
            id,
            busy: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(self.now_ms()),
            evicting: AtomicBool::new(false),
            evict: Notify::new(),
        });
        self.lock().insert(id, state.clone());
        state
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Asks the connection idle the longest to close; false when every connection is busy (or
    /// already closing).
    fn evict_one(&self) -> bool {
        let victim = self
            .lock()
            .values()
            .filter(|c| c.busy.load(Ordering::SeqCst) == 0 && !c.evicting.load(Ordering::SeqCst))
            .min_by_key(|c| c.idle_since_ms.load(Ordering::SeqCst))
            .cloned();
        let Some(victim) = victim else { return false };
        victim.evicting.store(true, Ordering::SeqCst);
        victim.evict.notify_one();
        tracing::debug!(connection = victim.id, "closing the longest-idle connection to make room");
        true
    }

    /// Returns once a slot is free: closes the longest-idle connection if there is one, else
    /// waits until a connection ends or becomes idle (then closes that one).
    async fn make_room(&self, slots: &Semaphore) {
        loop {
            if slots.available_permits() > 0 {
                return;
            }
            let idled = self.idled.notified();
            let mut idled = std::pin::pin!(idled);
            idled.as_mut().enable();
            if self.evict_one() {
                // The evicted connection's slot comes back when its task ends.
                let Ok(permit) = slots.acquire().await else { return };
                drop(permit);
                return;
            }
            tokio::select! {
                () = idled => {}
                permit = slots.acquire() => {
                    drop(permit);
                    return;
                }
            }
        }
    }
}

/// Marks a connection busy while it lives: from a request's head until its response body is
/// sent (or dropped).
struct Busy(Arc<ConnState>, Arc<Registry>);

impl Busy {
    fn new(state: Arc<ConnState>, registry: Arc<Registry>) -> Self {
        state.busy.fetch_add(1, Ordering::SeqCst);
        Busy(state, registry)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let Busy(state, registry) = self;
        state.idle_since_ms.store(registry.now_ms(), Ordering::SeqCst);
        if state.busy.fetch_sub(1, Ordering::SeqCst) == 1 {
            registry.idled.notify_waiters();
        }
    }
}

/// A response body that keeps its connection marked busy until it is sent or dropped.
struct Guarded {
    body: axum::body::Body,
    _busy: Busy,
}

impl hyper::body::Body for Guarded {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Resolves once shutdown has begun (or its sender is gone), holding no borrow of the channel
/// across an await, so the connection task stays `Send`.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
