//! The accept loop: `serve_forever`, `handle_request`, and the connections it spawns.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use tokio::sync::Notify;
use tokio::time::Instant;
use tower::Service;

use super::HttpServer;
use super::driver::next_signal;
use super::gated::Gated;
use super::listener::is_connection_error;
use crate::BoxError;
use crate::connection::{Control, Phase, Signal};

/// How long a connection waits without a request before it may be closed to make room.
const EVICTION_GRACE: Duration = Duration::from_millis(200);

/// How often a server whose every connection is busy looks for one that has gone idle.
const RECHECK_WHEN_FULL: Duration = Duration::from_millis(50);

impl<S, B> HttpServer<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// Python's `serve_forever()`: accepts and serves connections until
    /// [`ShutdownHandle::shutdown`](super::ShutdownHandle::shutdown) is called, then lets in-flight requests finish (up to
    /// [`shutdown_timeout`](HttpServer::shutdown_timeout)) and returns.
    ///
    /// The listening socket stops listening when the shutdown starts (on Linux: new clients are
    /// refused rather than left waiting) and listens again when `serve_forever` or
    /// [`handle_request`](HttpServer::handle_request) is next called, on the same address. A
    /// server bound to port 0 gets its port back, unless another socket took it meanwhile: then
    /// this returns the `AddrInUse` error.
    ///
    /// Errors from `accept` that concern one connection are ignored; others (such as running
    /// out of file descriptors) are logged and retried after a second.
    ///
    /// Each connection is served by a task of its own. On a multi-threaded runtime, run the
    /// server in a task too, rather than in `main`'s `block_on` (the body of
    /// `#[tokio::main]`), when clients open a connection per request (HTTP/1.0, the
    /// `protocol_version` default): a connection accepted by a worker thread starts on that
    /// worker, where one accepted in `block_on` is handed over to a worker and wakes it, five
    /// system calls a connection more (`futex`, `epoll_wait`, an `eventfd` write). The
    /// `basehttp` command does so; it cut its CPU time for connection-per-request traffic by
    /// about 12 %. The service must then be `Sync` (boxed:
    /// [`BoxCloneSyncService`](tower::util::BoxCloneSyncService)):
    ///
    /// ```no_run
    /// use basehttp::prelude::*;
    /// use basehttp::server::HttpServer;
    ///
    /// # async fn run() -> std::io::Result<()> {
    /// let httpd = HttpServer::bind(("0.0.0.0", 8000), DefaultHandler.into_service()).await?;
    /// tokio::spawn(async move { httpd.serve_forever().await })
    ///     .await
    ///     .map_err(std::io::Error::other)?
    /// # }
    /// ```
    pub async fn serve_forever(&self) -> io::Result<()> {
        let listener = self.listen_again()?;
        let mut signal = self.signal.subscribe();
        let tls = self.acceptor();
        loop {
            if *signal.borrow_and_update() != Signal::Run {
                break;
            }
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = signal.changed() => continue,
            };
            match accepted {
                Ok((stream, remote)) => {
                    // A full server makes room by closing a connection that waits without a
                    // request; when every connection has one, this one waits (and the next
                    // ones in the listen backlog, as with nginx) until one ends or goes idle.
                    while !self.connections.make_room(self.config.max_connections) {
                        tokio::select! {
                            () = self.connections.freed() => {}
                            () = tokio::time::sleep(RECHECK_WHEN_FULL) => {}
                            _ = signal.changed() => {}
                        }
                        if *signal.borrow() != Signal::Run {
                            break;
                        }
                    }
                    if *signal.borrow_and_update() != Signal::Run {
                        break;
                    }
                    let control = Arc::new(Control::default());
                    let entry = self.connections.insert(control.clone());
                    let conn = self.connection(stream, remote, tls.as_ref(), control.clone());
                    // Whatever stage the connection is at (a handshake, a lingering close),
                    // the end of the drain ends it. Polled only when the signal changed, not on
                    // every wake-up of the connection.
                    let abort = Gated::new(next_signal(self.signal.subscribe(), Signal::Abort));
                    tokio::spawn(async move {
                        tokio::select! {
                            biased;
                            () = conn => {}
                            _ = abort => {}
                            () = evicted(&control, remote) => {}
                        }
                        drop(entry);
                    });
                }
                Err(err) if is_connection_error(&err) => {}
                Err(err) => {
                    tracing::error!(target: crate::log::TARGET, "accept failed ({err}); retrying in 1s");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = signal.changed() => {}
                    }
                }
            }
        }
        self.stop_listening();
        self.drain().await;
        // Like Python, a later serve_forever() runs again.
        self.signal.send_replace(Signal::Run);
        Ok(())
    }

    /// Serves until `signal` resolves (for example [`shutdown_signal`](super::shutdown_signal)), then shuts down
    /// gracefully.
    pub async fn serve_until(&self, signal: impl Future<Output = ()>) -> io::Result<()> {
        let handle = self.shutdown_handle();
        let serve = self.serve_forever();
        let mut serve = pin!(serve);
        tokio::select! {
            result = &mut serve => return result,
            () = signal => handle.request_shutdown(),
        }
        serve.await
    }

    /// Python's `handle_request()`: accepts one connection, serves it until it closes (one
    /// request with `HTTP/1.0`, several with keep-alive) and returns.
    pub async fn handle_request(&self) -> io::Result<()> {
        let listener = self.listen_again()?;
        let tls = self.acceptor();
        loop {
            match listener.accept().await {
                Ok((stream, remote)) => {
                    let control = Arc::new(Control::default());
                    let _entry = self.connections.insert(control.clone());
                    self.connection(stream, remote, tls.as_ref(), control).await;
                    return Ok(());
                }
                Err(err) if is_connection_error(&err) => {}
                Err(err) => return Err(err),
            }
        }
    }
}

/// Resolves when the server asks the connection to make room, whatever stage it is at (a
/// TLS handshake, a preface sent in pieces, a request head, idle). Costs an atomic load per
/// wake-up of the connection's task.
async fn evicted(control: &Control, remote: SocketAddr) {
    let mut registered = false;
    std::future::poll_fn(|cx| {
        if !registered {
            control.register_task(cx.waker());
            registered = true;
        }
        if control.is_evicted() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    tracing::debug!(target: crate::log::TARGET, client = %remote, "closing a connection without a request to make room for a new one");
}

/// The connections being served: their count, for the cap, the drain and the shutdown message,
/// and their state, to choose which one makes room for a new one.
#[derive(Debug, Default)]
pub(super) struct Connections {
    table: Mutex<Table>,
    /// Notified when the last connection ends.
    empty: Notify,
    /// Notified when any connection ends.
    ended: Notify,
}

#[derive(Debug, Default)]
struct Table {
    slots: Vec<Option<Arc<Control>>>,
    free: Vec<usize>,
    count: usize,
    /// Connections asked to close that have not yet.
    evicted: usize,
}

/// A connection's place in [`Connections`], given up when it ends (its task may also end by a
/// panic).
pub(super) struct Entry {
    connections: Arc<Connections>,
    slot: usize,
}

impl Connections {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connections being served.
    pub(super) fn count(&self) -> usize {
        self.table().count
    }

    pub(super) fn insert(self: &Arc<Self>, control: Arc<Control>) -> Entry {
        let mut table = self.table();
        table.count += 1;
        let slot = match table.free.pop() {
            Some(slot) => {
                table.slots[slot] = Some(control);
                slot
            }
            None => {
                table.slots.push(Some(control));
                table.slots.len() - 1
            }
        };
        Entry {
            connections: self.clone(),
            slot,
        }
    }

    /// Whether a new connection may be served with at most `max` open: when the server is
    /// full, the connection that has waited longest without a request — still sending its
    /// request head (a slowloris), else idle between requests — is asked to close, and the new
    /// one takes its place. `false` when every connection is busy with a request.
    ///
    /// The server never holds more than `max` connections, plus those it has asked to close
    /// and the one waiting for room.
    pub(super) fn make_room(&self, max: usize) -> bool {
        let mut table = self.table();
        if table.count - table.evicted < max {
            return true;
        }
        // A connection just accepted may have its request waiting unread: it gets a moment.
        let grace = Instant::now().checked_sub(EVICTION_GRACE);
        let victim = table
            .slots
            .iter()
            .flatten()
            .filter(|control| !control.is_evicted())
            .filter_map(|control| match control.phase() {
                Phase::ReadingHead { since } => Some(((0, since), control)),
                Phase::Idle { since } => Some(((1, since), control)),
                Phase::Busy => None,
            })
            .filter(|((_, since), _)| grace.is_some_and(|grace| *since <= grace))
            .min_by_key(|(rank, _)| *rank)
            .map(|(_, control)| control.clone());
        match victim {
            Some(victim) => {
                table.evicted += 1;
                victim.evict();
                true
            }
            None => false,
        }
    }

    /// Resolves when a connection ends.
    pub(super) async fn freed(&self) {
        self.ended.notified().await;
    }

    /// Waits until no connection is left.
    pub(super) async fn emptied(&self) {
        loop {
            let empty = self.empty.notified();
            if self.count() == 0 {
                return;
            }
            empty.await;
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut table = self.connections.table();
        if let Some(control) = table.slots.get_mut(self.slot).and_then(Option::take) {
            if control.is_evicted() {
                table.evicted -= 1;
            }
            table.free.push(self.slot);
            table.count -= 1;
        }
        drop(table);
        self.connections.ended.notify_waiters();
        if self.connections.count() == 0 {
            self.connections.empty.notify_waiters();
        }
    }
}
