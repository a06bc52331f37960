//! [`ConnectionInfo`]: who is on the other end of a connection, and the per-connection
//! [`Control`] a server shares with the requests it serves (the close-after-response signal,
//! the counters its timeouts read).
//!
//! This module sits below both [`server`](crate::server), which creates them, and
//! [`handler`](crate::handler), which reads them.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::{Poll, Waker};

use tokio::sync::watch;
use tokio::time::Instant;

/// What basehttp's server loop tells its connections (and the requests they serve).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    Run,
    /// Stop accepting; let in-flight requests finish, close idle connections.
    Drain,
    /// Close every connection now.
    Abort,
}

tokio::task_local! {
    /// The connection whose task is running: set by basehttp's server around each connection.
    static CURRENT: ConnectionInfo;
}

/// Who is on the other end of a connection, and where it arrived: Python's `client_address`,
/// `server.server_name` and `server.server_port`.
///
/// basehttp's [`HttpServer`](crate::server::HttpServer) makes it available to everything serving a
/// request as [`ConnectionInfo::current`]; handlers also look for one in the request's
/// extensions, which is how to provide it on another server (insert one per connection, for
/// example with `tower_http::add_extension::AddExtensionLayer`). Without either, handlers log the
/// client as `-` and take the server name and port from the `Host` header.
///
/// ```
/// use basehttp::server::ConnectionInfo;
///
/// let info = ConnectionInfo::new("127.0.0.1:50000".parse().unwrap(), "127.0.0.1:8000".parse().unwrap());
/// assert_eq!(info.server_port(), 8000);
/// assert_eq!(info.server_name(), "127.0.0.1");
/// ```
#[derive(Clone)]
pub struct ConnectionInfo {
    inner: Arc<Inner>,
}

struct Inner {
    remote: SocketAddr,
    local: SocketAddr,
    server_name: Arc<str>,
    /// The client's host as logged, formatted once per connection.
    address: Box<str>,
    control: Option<Arc<Control>>,
    /// The server's run/drain/abort signal, on basehttp's own server.
    shutdown: Option<watch::Receiver<Signal>>,
}

impl ConnectionInfo {
    /// Describes a connection from `remote` accepted on `local`; the server name is `local`'s IP.
    pub fn new(remote: SocketAddr, local: SocketAddr) -> Self {
        Self::with_server_name(remote, local, local.ip().to_string())
    }

    /// Like [`new`](ConnectionInfo::new) with an explicit server name (Python's
    /// `server.server_name`, the host name the server was bound under).
    pub fn with_server_name(
        remote: SocketAddr,
        local: SocketAddr,
        server_name: impl Into<Arc<str>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                remote,
                local,
                server_name: server_name.into(),
                address: remote.ip().to_string().into_boxed_str(),
                control: None,
                shutdown: None,
            }),
        }
    }

    pub(crate) fn for_server(
        remote: SocketAddr,
        local: SocketAddr,
        server_name: Arc<str>,
        control: Arc<Control>,
        shutdown: Option<watch::Receiver<Signal>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                remote,
                local,
                server_name,
                address: remote.ip().to_string().into_boxed_str(),
                control: Some(control),
                shutdown,
            }),
        }
    }

    /// The server's shutdown signal, when basehttp's server serves this connection.
    pub(crate) fn shutdown_signal(&self) -> Option<&watch::Receiver<Signal>> {
        self.inner.shutdown.as_ref()
    }

    /// The connection being served, when called while basehttp's
    /// [`HttpServer`](crate::server::HttpServer) serves a request on this task: from a handler, an axum
    /// handler or any middleware mounted on it.
    ///
    /// It is a task-local rather than a request extension, so it costs nothing per request;
    /// work spawned onto other tasks does not see it.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Self::clone).ok()
    }

    pub(crate) fn scope<F: Future>(self, future: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self, future)
    }

    /// The client's address (Python's `client_address`).
    pub fn remote_addr(&self) -> SocketAddr {
        self.inner.remote
    }

    /// The client's host as Python's `address_string()` logs it (`127.0.0.1`, `::1`).
    pub fn address_string(&self) -> &str {
        &self.inner.address
    }

    /// The local address the connection arrived on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// Python's `server.server_name`.
    pub fn server_name(&self) -> &str {
        &self.inner.server_name
    }

    /// Python's `server.server_port`.
    pub fn server_port(&self) -> u16 {
        self.inner.local.port()
    }

    /// Whether the connection being served on this task hands unwrapped file bodies to
    /// `sendfile` (basehttp's server with [`sendfile`](crate::server::HttpServer::sendfile),
    /// cleartext HTTP/1).
    #[cfg(sendfile)]
    pub(crate) fn current_sends_files() -> bool {
        CURRENT
            .try_with(|info| {
                info.inner
                    .control
                    .as_ref()
                    .is_some_and(|control| control.sendfile().is_some())
            })
            .unwrap_or(false)
    }

    /// Whether the connection can be closed after a response without a `Connection: close`
    /// header (only on basehttp's own server).
    pub(crate) fn can_close(&self) -> bool {
        self.inner.control.is_some()
    }

    /// Closes the connection once the current response has been written.
    pub(crate) fn close_after_response(&self) {
        if let Some(control) = &self.inner.control {
            control.close_after.store(true, Ordering::Release);
        }
    }
}

impl fmt::Debug for ConnectionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionInfo")
            .field("remote_addr", &self.inner.remote)
            .field("local_addr", &self.inner.local)
            .field("server_name", &self.inner.server_name)
            .finish()
    }
}

/// What the connection task and its requests share. Everything here is touched from the
/// connection's own task; atomics (all relaxed: one task) keep it `Sync` without locks.
#[derive(Debug)]
pub(crate) struct Control {
    /// A handler asked to close after the current response.
    close_after: AtomicBool,
    /// Requests handed to the service.
    started: AtomicU64,
    /// Requests whose response body has been dropped (written or abandoned).
    done: AtomicU64,
    /// Reads that brought bytes.
    reads: AtomicU64,
    /// `reads` when the last response ended.
    reads_at_done: AtomicU64,
    /// Writes that moved bytes to the socket.
    writes: AtomicU64,
    /// Whether the last write attempt found the socket full (the client is not reading).
    write_blocked: AtomicBool,
    /// Write attempts that found the socket full.
    blocked_writes: AtomicU64,
    /// The connection's TCP socket, for file bodies to ask how much of what was written the
    /// client has yet to acknowledge (`-1`: not a TCP socket, or not known).
    #[cfg(all(feature = "fs", target_os = "linux"))]
    socket: std::sync::atomic::AtomicI32,
    /// Bytes written to the socket.
    written: AtomicU64,
    /// A response body is holding its next chunk back until the socket takes what came before.
    parked: AtomicBool,
    /// The server needs this connection's slot: close it.
    evicted: AtomicBool,
    /// The last request had a body (which its service may not have read).
    body_seen: AtomicBool,
    /// Whether this connection multiplexes requests (HTTP/2): responses are then written by
    /// their own tasks and tracked in `waits`.
    multiplexed: AtomicBool,
    /// The connection task's waker, to end it early or to resume a parked body.
    task: Mutex<Option<Waker>>,
    /// HTTP/2 responses waiting for the client to take their next chunk (flow control).
    waits: Mutex<Waits>,
    /// When the last response ended (or the connection was accepted), in milliseconds since
    /// `epoch`.
    last_done_ms: AtomicU64,
    epoch: Instant,
    /// Whether file bodies may hand placeholders to hyper (a cleartext HTTP/1 connection), and
    /// the file regions they stand for.
    #[cfg(sendfile)]
    sendfile: AtomicBool,
    #[cfg(sendfile)]
    regions: crate::sendfile::Regions,
}

/// Since when each waiting HTTP/2 response has waited (milliseconds since the epoch, plus one;
/// `0` when it is not waiting), by slot; freed slots are reused.
#[derive(Debug, Default)]
struct Waits {
    since: Vec<u64>,
    free: Vec<usize>,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            close_after: AtomicBool::new(false),
            started: AtomicU64::new(0),
            done: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            reads_at_done: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            write_blocked: AtomicBool::new(false),
            blocked_writes: AtomicU64::new(0),
            #[cfg(all(feature = "fs", target_os = "linux"))]
            socket: std::sync::atomic::AtomicI32::new(-1),
            written: AtomicU64::new(0),
            parked: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            body_seen: AtomicBool::new(false),
            multiplexed: AtomicBool::new(false),
            task: Mutex::new(None),
            waits: Mutex::new(Waits::default()),
            last_done_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            #[cfg(sendfile)]
            sendfile: AtomicBool::new(false),
            #[cfg(sendfile)]
            regions: crate::sendfile::Regions::default(),
        }
    }
}

/// Adds `n` to one of the counters that only one writer changes: the connection's socket
/// wrapper (its reads and writes, through `&mut`, so never two at once) or its service (the
/// requests started). A load and a store, where `fetch_add` would be a locked instruction on
/// every read, write and request. Readers on other threads see either value, as with
/// `fetch_add`; `done` has several writers on HTTP/2 (each response's task) and keeps its
/// `fetch_add`.
fn add_own(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// Where a connection stands between requests, for its timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A request is being answered, or its last bytes are still waiting for the client to read
    /// them: only the write timeout applies.
    Busy,
    /// Nothing received since the last response (`since`).
    Idle { since: Instant },
    /// Part of a request head has arrived since the last response (`since`).
    ReadingHead { since: Instant },
}

impl Control {
    pub(crate) fn take_close_request(&self) -> bool {
        self.close_after.load(Ordering::Relaxed) && self.close_after.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn phase(&self) -> Phase {
        let done = self.done.load(Ordering::Acquire);
        if self.started.load(Ordering::Acquire) != done || self.write_blocked() {
            return Phase::Busy;
        }
        let since = self.epoch
            + std::time::Duration::from_millis(self.last_done_ms.load(Ordering::Relaxed));
        if self.reads.load(Ordering::Relaxed) == self.reads_at_done.load(Ordering::Relaxed) {
            Phase::Idle { since }
        } else {
            Phase::ReadingHead { since }
        }
    }

    /// Counts what has been read so far as finished business (a TLS handshake): the idle
    /// timeout applies until the next read.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn mark_idle(&self) {
        self.reads_at_done
            .store(self.reads.load(Ordering::Relaxed), Ordering::Relaxed);
        let elapsed = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_done_ms.store(elapsed, Ordering::Relaxed);
    }

    pub(crate) fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Writes that moved bytes so far.
    pub(crate) fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Whether output is waiting for the client to read.
    pub(crate) fn write_blocked(&self) -> bool {
        self.write_blocked.load(Ordering::Relaxed)
    }

    /// Whether a request's response is still being produced or written.
    pub(crate) fn in_flight(&self) -> bool {
        self.started.load(Ordering::Acquire) != self.done.load(Ordering::Acquire)
    }

    /// A request was handed to the service (by the connection's service, which hyper calls
    /// from the connection's task only: one writer).
    pub(crate) fn request_started(&self) {
        add_own(&self.started, 1);
    }

    /// A request's response body was dropped (written or abandoned).
    pub(crate) fn request_done(&self) {
        let elapsed = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_done_ms.store(elapsed, Ordering::Relaxed);
        self.reads_at_done
            .store(self.reads.load(Ordering::Relaxed), Ordering::Relaxed);
        self.done.fetch_add(1, Ordering::Release);
    }

    /// A read brought bytes.
    pub(crate) fn record_read(&self) {
        add_own(&self.reads, 1);
    }

    pub(crate) fn record_write(&self, result: &Poll<std::io::Result<usize>>) {
        match result {
            Poll::Ready(Ok(n)) if *n > 0 => {
                add_own(&self.writes, 1);
                add_own(&self.written, *n as u64);
                self.write_blocked.store(false, Ordering::Relaxed);
                if self.parked.load(Ordering::Relaxed) && self.parked.swap(false, Ordering::AcqRel)
                {
                    self.wake();
                }
            }
            Poll::Pending => {
                self.write_blocked.store(true, Ordering::Relaxed);
                add_own(&self.blocked_writes, 1);
            }
            _ => {}
        }
    }

    /// Write attempts so far that found the socket full.
    #[cfg_attr(not(feature = "fs"), allow(dead_code))]
    pub(crate) fn blocked_writes(&self) -> u64 {
        self.blocked_writes.load(Ordering::Relaxed)
    }

    /// Records the connection's TCP socket (`-1` forgets it: the socket's wrapper does so
    /// before the socket is closed).
    #[cfg(all(feature = "fs", target_os = "linux"))]
    pub(crate) fn set_socket(&self, fd: std::os::fd::RawFd) {
        self.socket.store(fd, Ordering::Relaxed);
    }

    /// The bytes written to the connection's TCP socket that the client has not acknowledged
    /// yet (sent or not), and the size of the socket's send buffer (`SO_SNDBUF`, which the
    /// kernel grows as the connection speeds up, and which counts its own overhead too): `None`
    /// when the connection is not known to be on a TCP socket.
    #[cfg(all(feature = "fs", target_os = "linux"))]
    pub(crate) fn outgoing(&self) -> Option<(u64, u64)> {
        let fd = self.socket.load(Ordering::Relaxed);
        if fd < 0 {
            return None;
        }
        let mut queued: libc::c_int = 0;
        let mut buffer: libc::c_int = 0;
        let mut size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: ioctl(fd, SIOCOUTQ, &mut int) and getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &mut
        // int, &mut len) write one `int` (and its length) through pointers alive for the calls.
        // `fd` is the connection's socket: it is recorded by the socket's wrapper, which
        // forgets it before the socket is closed, and only the connection's own response
        // bodies ask, on the task that owns the wrapper.
        #[allow(unsafe_code)]
        let result = unsafe {
            if libc::ioctl(fd, libc::TIOCOUTQ, &mut queued as *mut libc::c_int) == 0 {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_SNDBUF,
                    (&mut buffer as *mut libc::c_int).cast(),
                    &mut size,
                )
            } else {
                -1
            }
        };
        (result == 0).then(|| {
            (
                u64::try_from(queued).unwrap_or(0),
                u64::try_from(buffer).unwrap_or(0),
            )
        })
    }

    /// Bytes written to the socket so far.
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Holds a response body back until the next write to the socket (which wakes the
    /// connection task, the one polling the body on HTTP/1).
    pub(crate) fn park(&self) {
        self.parked.store(true, Ordering::Release);
    }

    /// Remembers the connection task's waker (once: a task's waker does not change).
    pub(crate) fn register_task(&self, waker: &Waker) {
        let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if !task.as_ref().is_some_and(|t| t.will_wake(waker)) {
            *task = Some(waker.clone());
        }
    }

    fn wake(&self) {
        let task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = task.as_ref() {
            task.wake_by_ref();
        }
    }

    /// Asks the connection to close now, to make room for another.
    pub(crate) fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.wake();
    }

    pub(crate) fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    /// A request was handed to the service, with a body or without.
    pub(crate) fn saw_body(&self, body: bool) {
        self.body_seen.store(body, Ordering::Relaxed);
    }

    /// Whether the last request had a body, which the client may still be sending.
    pub(crate) fn body_seen(&self) -> bool {
        self.body_seen.load(Ordering::Relaxed)
    }

    /// Marks the connection as HTTP/2: responses are tracked one by one in `waits`.
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    pub(crate) fn set_multiplexed(&self) {
        self.multiplexed.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_multiplexed(&self) -> bool {
        self.multiplexed.load(Ordering::Relaxed)
    }

    /// Lets file bodies on this connection be sent with `sendfile`: only for a cleartext
    /// HTTP/1 connection, whose socket wrapper writes to the TCP stream itself.
    #[cfg(sendfile)]
    pub(crate) fn enable_sendfile(&self) {
        self.sendfile.store(true, Ordering::Relaxed);
    }

    /// The file regions of this connection's placeholders, if it sends files with `sendfile`.
    #[cfg(sendfile)]
    pub(crate) fn sendfile(&self) -> Option<&crate::sendfile::Regions> {
        self.sendfile
            .load(Ordering::Relaxed)
            .then_some(&self.regions)
    }

    fn waits(&self) -> std::sync::MutexGuard<'_, Waits> {
        self.waits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// A slot for one HTTP/2 response, waiting from now (its head is ready; the client has not
    /// taken any of its body yet).
    pub(crate) fn wait_slot(&self) -> usize {
        let now = self.now_ms() + 1;
        let mut waits = self.waits();
        match waits.free.pop() {
            Some(slot) => {
                waits.since[slot] = now;
                slot
            }
            None => {
                waits.since.push(now);
                waits.since.len() - 1
            }
        }
    }

    /// Whether the response in `slot` waits for the client (from now) or not.
    pub(crate) fn set_waiting(&self, slot: usize, waiting: bool) {
        let since = if waiting { self.now_ms() + 1 } else { 0 };
        if let Some(entry) = self.waits().since.get_mut(slot) {
            *entry = since;
        }
    }

    pub(crate) fn free_slot(&self, slot: usize) {
        let mut waits = self.waits();
        if let Some(entry) = waits.since.get_mut(slot) {
            *entry = 0;
            waits.free.push(slot);
        }
    }

    /// Since when the longest-waiting HTTP/2 response has waited for the client to open its
    /// flow-control window.
    pub(crate) fn oldest_wait(&self) -> Option<Instant> {
        let waits = self.waits();
        let oldest = waits.since.iter().copied().filter(|&s| s != 0).min()?;
        Some(self.epoch + std::time::Duration::from_millis(oldest - 1))
    }
}
