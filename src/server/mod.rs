//! Python's `HTTPServer` / `ThreadingHTTPServer` on hyper: bind, `serve_forever`,
//! `handle_request`, `shutdown`, with production limits.
//!
//! Each connection runs in its own task (Python's `ThreadingHTTPServer` uses a thread), served
//! by hyper's HTTP/1 implementation. Unlike Python's server it has limits from the start, each
//! configurable:
//!
//! | limit | default | what happens |
//! |---|---|---|
//! | [`header_read_timeout`](HttpServer::header_read_timeout) | 30 s | a client that has not sent a complete request head in time is disconnected (slowloris) |
//! | [`keep_alive_timeout`](HttpServer::keep_alive_timeout) | 5 s | an idle persistent connection is closed |
//! | [`max_header_size`](HttpServer::max_header_size) | 128 KiB | a larger request head gets `431` |
//! | [`max_headers`](HttpServer::max_headers) | 100 | more header lines get `431` |
//! | [`max_connections`](HttpServer::max_connections) | 512 | further connections wait in the listen backlog |
//! | [`write_timeout`](HttpServer::write_timeout) | 60 s | a client that stops reading its response is disconnected |
//! | [`shutdown_timeout`](HttpServer::shutdown_timeout) | 10 s | in-flight requests still running after `shutdown()` are cut off |
//!
//! Malformed requests are answered by hyper (400, 414 or 431, empty body) and logged in
//! Python's format.
//!
//! # Example
//!
//! The defaults, Python's `HTTPServer(("", 8000), Handler).serve_forever()`:
//!
//! ```no_run
//! use basehttp::prelude::*;
//! use basehttp::server::HttpServer;
//!
//! # async fn run() -> std::io::Result<()> {
//! let httpd = HttpServer::bind(("0.0.0.0", 8000), DefaultHandler.into_service()).await?;
//! httpd.serve_forever().await
//! # }
//! ```
//!
//! Customised limits, stopping on Ctrl-C or SIGTERM:
//!
//! ```no_run
//! use std::time::Duration;
//! use basehttp::prelude::*;
//! use basehttp::server::{HttpServer, shutdown_signal};
//!
//! # async fn run() -> std::io::Result<()> {
//! let httpd = HttpServer::bind(("127.0.0.1", 0), DefaultHandler.into_service())
//!     .await?
//!     .header_read_timeout(Duration::from_secs(10))
//!     .max_connections(64);
//! println!("listening on port {}", httpd.server_port());
//! httpd.serve_until(shutdown_signal()).await
//! # }
//! ```

mod conn;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::Service;

pub use self::conn::ConnectionInfo;
use self::conn::{ActivityIo, ConnService, Control, Phase};
use crate::handler::BoxError;

/// Python's `HTTPServer` (and `ThreadingHTTPServer`: every connection is served concurrently).
///
/// `S` is any tower service for `http::Request<hyper::body::Incoming>` — a
/// [`HandlerService`](crate::handler::HandlerService), a layer stack, an axum `Router`. See the
/// [module docs](crate::server) for the limits and examples.
#[doc(alias = "HTTPServer")]
#[doc(alias = "ThreadingHTTPServer")]
pub struct HttpServer<S> {
    listener: TcpListener,
    service: S,
    config: Config,
    local: SocketAddr,
    server_name: Arc<str>,
    signal: Arc<watch::Sender<Signal>>,
}

#[derive(Clone, Debug)]
struct Config {
    header_read_timeout: Option<Duration>,
    keep_alive_timeout: Option<Duration>,
    max_header_size: usize,
    max_headers: usize,
    max_connections: usize,
    shutdown_timeout: Duration,
    write_timeout: Option<Duration>,
    title_case_headers: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            header_read_timeout: Some(Duration::from_secs(30)),
            keep_alive_timeout: Some(Duration::from_secs(5)),
            max_header_size: 128 * 1024,
            max_headers: 100,
            max_connections: 512,
            shutdown_timeout: Duration::from_secs(10),
            write_timeout: Some(Duration::from_secs(60)),
            title_case_headers: true,
        }
    }
}

/// hyper's default read-buffer limit (`8192 + 4096 * 100`); heads larger than this need a larger
/// buffer.
const HYPER_DEFAULT_MAX_BUF: usize = 8192 + 4096 * 100;

/// What the server loop and its connections are told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signal {
    Run,
    /// Stop accepting; let in-flight requests finish, close idle connections.
    Drain,
    /// Close every connection now.
    Abort,
}

impl<S> fmt::Debug for HttpServer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("server_address", &self.local)
            .field("server_name", &self.server_name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S> HttpServer<S> {
    /// Binds a listening socket, like Python's `HTTPServer((host, port), Handler)`.
    ///
    /// `addr` is resolved and the first address is used, as Python's CLI does with
    /// `getaddrinfo`. The socket has `SO_REUSEADDR` (Python's `allow_reuse_address`); an IPv6
    /// wildcard (`::`) also accepts IPv4 connections (Python's dual-stack server).
    #[doc(alias = "server_bind")]
    pub async fn bind(addr: impl ToSocketAddrs, service: S) -> io::Result<Self> {
        let addr = tokio::net::lookup_host(addr).await?.next().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "address resolved to nothing",
            )
        })?;
        let listener = bind_socket(addr)?;
        Self::from_listener(listener, service).await
    }

    /// Serves on an already bound listener.
    pub async fn from_listener(listener: TcpListener, service: S) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let server_name = server_name_for(local.ip()).await;
        Ok(Self {
            listener,
            service,
            config: Config::default(),
            local,
            server_name: server_name.into(),
            signal: Arc::new(watch::channel(Signal::Run).0),
        })
    }

    /// Python's `server_address`: the address actually bound (port 0 resolved).
    pub fn server_address(&self) -> SocketAddr {
        self.local
    }

    /// Python's `server_name`: the bound host's name (`localhost` for a loopback address, the
    /// machine's host name for a wildcard address, the address itself otherwise; no reverse DNS
    /// lookup, unlike Python's `socket.getfqdn`).
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// Python's `server_port`.
    pub fn server_port(&self) -> u16 {
        self.local.port()
    }

    /// How long a client has to send a complete request head; `None` disables it. Also bounds
    /// how long a persistent connection waits for its next request.
    ///
    /// Defaults to 30 seconds.
    pub fn header_read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.config.header_read_timeout = timeout.into();
        self
    }

    /// How long a persistent connection may sit idle between requests; `None` leaves only the
    /// [`header_read_timeout`](HttpServer::header_read_timeout).
    ///
    /// Defaults to 5 seconds.
    pub fn keep_alive_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.config.keep_alive_timeout = timeout.into();
        self
    }

    /// The largest request head (request line and headers) accepted, in bytes; larger heads get
    /// `431`. Values below 8 KiB are raised to 8 KiB.
    ///
    /// Defaults to 128 KiB (room for the 64 KiB request target Python accepts).
    pub fn max_header_size(mut self, bytes: usize) -> Self {
        self.config.max_header_size = bytes.max(8192);
        self
    }

    /// The most header lines accepted; more get `431` (Python: 100 lines).
    ///
    /// Defaults to 100.
    pub fn max_headers(mut self, count: usize) -> Self {
        self.config.max_headers = count;
        self
    }

    /// The most connections served at once; further ones wait in the listen backlog until one
    /// closes. At least 1.
    ///
    /// Defaults to 512.
    pub fn max_connections(mut self, count: usize) -> Self {
        let most = Semaphore::MAX_PERMITS.min(u32::MAX as usize);
        self.config.max_connections = count.clamp(1, most);
        self
    }

    /// How long output may wait for a client that does not read it; `None` waits forever.
    /// A connection whose client stops reading is closed then (nginx's `send_timeout`), so
    /// stalled downloads cannot hold every connection slot.
    ///
    /// Defaults to 60 seconds.
    pub fn write_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.config.write_timeout = timeout.into();
        self
    }

    /// How long [`shutdown`](ShutdownHandle::shutdown) lets in-flight requests finish before
    /// closing their connections.
    ///
    /// Defaults to 10 seconds.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// Whether response header names are written in Title-Case (`Content-Type`, `Server`), the way
    /// Python writes them, or lower-case as hyper does by default (a few percent faster).
    ///
    /// Defaults to `true`.
    pub fn title_case_headers(mut self, enabled: bool) -> Self {
        self.config.title_case_headers = enabled;
        self
    }

    /// A handle that stops [`serve_forever`](HttpServer::serve_forever) from another task or
    /// thread: Python's `server.shutdown()`.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            signal: self.signal.clone(),
        }
    }
}

impl<S, B> HttpServer<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// Python's `serve_forever()`: accepts and serves connections until
    /// [`ShutdownHandle::shutdown`] is called, then lets in-flight requests finish (up to
    /// [`shutdown_timeout`](HttpServer::shutdown_timeout)) and returns.
    ///
    /// Errors from `accept` that concern one connection are ignored; others (such as running
    /// out of file descriptors) are logged and retried after a second.
    pub async fn serve_forever(&self) -> io::Result<()> {
        let mut signal = self.signal.subscribe();
        let slots = Arc::new(Semaphore::new(self.config.max_connections));
        loop {
            if *signal.borrow_and_update() != Signal::Run {
                break;
            }
            let permit = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                _ = signal.changed() => continue,
            };
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                _ = signal.changed() => continue,
            };
            match accepted {
                Ok((stream, remote)) => {
                    let conn = self.connection(stream, remote);
                    tokio::spawn(async move {
                        conn.await;
                        drop(permit);
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
        self.drain(&slots).await;
        // Like Python, a later serve_forever() runs again.
        self.signal.send_replace(Signal::Run);
        Ok(())
    }

    /// Serves until `signal` resolves (for example [`shutdown_signal`]), then shuts down
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

    /// Python's `http.server.test()`: prints Python's banner on stdout
    /// (`Serving HTTP on 0.0.0.0 port 8000 (http://0.0.0.0:8000/) ...`), serves until Ctrl-C or
    /// SIGTERM, then stops gracefully. On Ctrl-C it prints `\nKeyboard interrupt received,
    /// exiting.` as Python does; a second Ctrl-C stops without waiting for in-flight requests.
    #[doc(alias = "test")]
    pub async fn run(&self) -> io::Result<()> {
        // Listen for the signals before announcing anything, so a signal right after the banner
        // is never missed.
        let mut signals = StopSignals::new()?;
        let host = self.local.ip().to_string();
        let url_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let port = self.local.port();
        print_flushed(&format!(
            "Serving HTTP on {host} port {port} (http://{url_host}:{port}/) ...\n"
        ))?;
        let shutdown = self.shutdown_handle();
        let serve = self.serve_forever();
        let mut serve = pin!(serve);
        tokio::select! {
            result = &mut serve => return result,
            stop = signals.recv() => {
                if stop == Stop::Interrupt {
                    print_flushed("\nKeyboard interrupt received, exiting.\n")?;
                }
                shutdown.request_shutdown();
            }
        }
        tokio::select! {
            result = &mut serve => result,
            _ = signals.recv() => Ok(()),
        }
    }

    /// Python's `handle_request()`: accepts one connection, serves it until it closes (one
    /// request with `HTTP/1.0`, several with keep-alive) and returns.
    pub async fn handle_request(&self) -> io::Result<()> {
        loop {
            match self.listener.accept().await {
                Ok((stream, remote)) => {
                    self.connection(stream, remote).await;
                    return Ok(());
                }
                Err(err) if is_connection_error(&err) => {}
                Err(err) => return Err(err),
            }
        }
    }

    async fn drain(&self, slots: &Semaphore) {
        let all = u32::try_from(self.config.max_connections).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(self.config.shutdown_timeout, slots.acquire_many(all));
        if drained.await.is_err() {
            self.signal.send_replace(Signal::Abort);
            let _ = slots.acquire_many(all).await;
        }
    }

    /// Serves one connection to its end.
    fn connection(
        &self,
        stream: TcpStream,
        remote: SocketAddr,
    ) -> impl Future<Output = ()> + Send + 'static {
        let _ = stream.set_nodelay(true);
        let control = Arc::new(Control::default());
        let info = ConnectionInfo::for_server(
            remote,
            self.local,
            self.server_name.clone(),
            control.clone(),
        );
        let service = ConnService::new(self.service.clone(), control.clone());
        let config = self.config.clone();
        let signal = self.signal.subscribe();
        let driver = async move {
            let mut builder = http1::Builder::new();
            builder
                // The connection driver enforces the header-read and idle timeouts itself.
                .header_read_timeout(None)
                .max_headers(config.max_headers)
                .max_header_size(config.max_header_size)
                .title_case_headers(config.title_case_headers)
                // Python answers a client that half-closes after its request (`nc`, Python's
                // own probes); hyper's default would drop the response.
                .half_close(true);
            if config.max_header_size > HYPER_DEFAULT_MAX_BUF {
                builder.max_buf_size(config.max_header_size + 8192);
            }
            let io = TokioIo::new(ActivityIo::new(stream, control.clone()));
            let conn = builder.serve_connection(io, service);
            drive(conn, &control, &config, signal, remote).await;
        };
        info.scope(driver)
    }
}

/// Drives one connection: hyper's future, plus the reasons to end it early — a handler asking
/// to close after its response (checked after every poll: it is set from this very task), the
/// server shutting down, and the two timeouts.
///
/// The timeouts share one timer that is re-armed only when it fires, so a request costs no timer
/// work at all: hyper's own header-read timer would box and register a fresh sleep per request.
/// Hand-polled rather than a `select!` loop so that nothing is re-registered per request.
async fn drive<C>(
    conn: C,
    control: &Control,
    config: &Config,
    mut signal: watch::Receiver<Signal>,
    remote: SocketAddr,
) where
    C: Future<Output = hyper::Result<()>> + GracefulConnection,
{
    let mut conn = pin!(conn);
    let mut stop: Pin<Box<dyn Future<Output = Signal> + Send>> =
        Box::pin(next_signal(signal.clone(), Signal::Drain));
    let mut stop_armed = false;
    let mut draining = false;
    let check_every = check_interval(config);
    let mut timer = pin!(tokio::time::sleep_until(at(control.epoch(), check_every)));
    let mut timer_armed = false;
    let mut stall = Stall::default();
    let mut closing = false;
    std::future::poll_fn(|cx| {
        loop {
            if let Poll::Ready(result) = conn.as_mut().poll(cx) {
                if let Err(err) = result {
                    log_connection_error(remote, &err);
                }
                return Poll::Ready(());
            }
            if !closing && control.take_close_request() {
                conn.as_mut().shutdown_gracefully();
                closing = true;
                continue;
            }
            // Once registered, the stop future wakes this task when the signal changes; until
            // then, a cheap version check is enough.
            if !stop_armed || signal.has_changed().unwrap_or(true) {
                stop_armed = true;
                let _ = signal.borrow_and_update();
                if let Poll::Ready(sig) = stop.as_mut().poll(cx) {
                    if sig == Signal::Abort || draining {
                        return Poll::Ready(());
                    }
                    draining = true;
                    stop = Box::pin(next_signal(signal.clone(), Signal::Abort));
                    stop_armed = false;
                    if !closing {
                        conn.as_mut().shutdown_gracefully();
                        closing = true;
                    }
                    continue;
                }
            }
            if check_every.is_some() && (!timer_armed || timer.is_elapsed()) {
                timer_armed = true;
                if timer.as_mut().poll(cx).is_ready() {
                    match check_timeouts(control, config, remote, closing, &mut stall) {
                        Some(next) => timer.as_mut().reset(next),
                        // Nothing can progress: drop the connection. (hyper's graceful shutdown
                        // would wait for a request head, or a reader, that may never come.)
                        None => return Poll::Ready(()),
                    }
                    timer_armed = false;
                    continue;
                }
            }
            return Poll::Pending;
        }
    })
    .await;
}

/// How often a connection's timeouts are looked at, at most: the shortest configured timeout.
fn check_interval(config: &Config) -> Option<Duration> {
    [
        config.keep_alive_timeout,
        config.header_read_timeout,
        config.write_timeout,
    ]
    .into_iter()
    .flatten()
    .min()
}

/// `base + duration`, or a time too far to matter when that does not fit.
fn at(base: Instant, duration: Option<Duration>) -> Instant {
    duration
        .and_then(|d| base.checked_add(d))
        .or_else(|| base.checked_add(FOREVER))
        .unwrap_or(base)
}

/// Write progress as last seen by the timer: the connection's write count, and since when it
/// has not moved while output waits.
#[derive(Debug, Default)]
struct Stall {
    writes: u64,
    since: Option<Instant>,
}

/// Decides, when the connection's timer fires, whether it has timed out (`None`: close it now)
/// or when to look again.
fn check_timeouts(
    control: &Control,
    config: &Config,
    remote: SocketAddr,
    closing: bool,
    stall: &mut Stall,
) -> Option<Instant> {
    let now = Instant::now();
    let interval = check_interval(config);
    let recheck = |deadline: Instant| Some(deadline.max(now + MIN_RECHECK));
    // A client that does not read what it asked for.
    let writes = control.writes();
    if control.write_blocked() && writes == stall.writes {
        let since = *stall.since.get_or_insert(now);
        if let Some(timeout) = config.write_timeout {
            if at(since, Some(timeout)) <= now {
                return None;
            }
        }
    } else {
        stall.writes = writes;
        stall.since = None;
    }
    if closing {
        // hyper is finishing the last response and will close by itself.
        return recheck(at(now, interval));
    }
    match control.phase() {
        // A request is being answered; body and handler timeouts are middleware's business.
        Phase::Busy => recheck(at(now, interval)),
        Phase::Idle { since } => {
            let idle = [config.keep_alive_timeout, config.header_read_timeout]
                .into_iter()
                .flatten()
                .min();
            match idle {
                Some(timeout) if at(since, Some(timeout)) <= now => None,
                Some(timeout) => recheck(at(since, Some(timeout))),
                None => recheck(at(now, interval)),
            }
        }
        Phase::ReadingHead { since } => match config.header_read_timeout {
            Some(timeout) if at(since, Some(timeout)) <= now => {
                crate::log::emit(
                    &remote.ip().to_string(),
                    format_args!("Request timed out: no complete request head in time"),
                );
                None
            }
            Some(timeout) => recheck(at(since, Some(timeout))),
            None => recheck(at(now, interval)),
        },
    }
}

/// A sleep long enough to never fire.
const FOREVER: Duration = Duration::from_secs(60 * 60 * 24 * 365);

/// The shortest interval between two timeout checks.
const MIN_RECHECK: Duration = Duration::from_millis(10);

/// Resolves with the server's signal once it is `at_least` (`Drain` or `Abort`).
async fn next_signal(mut signal: watch::Receiver<Signal>, at_least: Signal) -> Signal {
    loop {
        let current = *signal.borrow_and_update();
        if current == Signal::Abort || current == at_least {
            return current;
        }
        if signal.changed().await.is_err() {
            return Signal::Abort;
        }
    }
}

/// hyper's connection futures, which can be asked to finish their current request and close.
trait GracefulConnection {
    fn shutdown_gracefully(self: Pin<&mut Self>);
}

impl<I, S> GracefulConnection for http1::Connection<I, S>
where
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<BoxError>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: http_body::Body + 'static,
    <S::ResBody as http_body::Body>::Error: Into<BoxError>,
{
    fn shutdown_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// A handle that stops a running [`HttpServer`]: Python's `server.shutdown()`.
#[derive(Clone)]
pub struct ShutdownHandle {
    signal: Arc<watch::Sender<Signal>>,
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle").finish_non_exhaustive()
    }
}

impl ShutdownHandle {
    /// Python's `shutdown()`: tells `serve_forever` to stop accepting, let in-flight requests
    /// finish and return. The request is made immediately; await the returned future to wait
    /// until `serve_forever` has returned (or drop it to not wait).
    pub fn shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        self.request_shutdown();
        let mut rx = self.signal.subscribe();
        async move {
            // serve_forever resets the signal to `Run` once it has returned.
            let _ = rx.wait_for(|s| *s == Signal::Run).await;
        }
    }

    fn request_shutdown(&self) {
        self.signal.send_if_modified(|s| {
            if *s == Signal::Run {
                *s = Signal::Drain;
                true
            } else {
                false
            }
        });
    }
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM: the signals Python's server stops on.
pub async fn shutdown_signal() {
    match StopSignals::new() {
        Ok(mut signals) => {
            signals.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

/// Python's `http.server.test(HandlerClass, port=…, bind=…)`: binds `addr`, then
/// [`HttpServer::run`]: Python's banner, serving until Ctrl-C or SIGTERM, Python's goodbye.
///
/// ```no_run
/// use basehttp::prelude::*;
///
/// # async fn demo() -> std::io::Result<()> {
/// // python -c 'from http.server import *; test(BaseHTTPRequestHandler, port=8000)'
/// basehttp::server::run(("0.0.0.0", 8000), DefaultHandler.into_service()).await
/// # }
/// ```
pub async fn run<S, B>(addr: impl ToSocketAddrs, service: S) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    HttpServer::bind(addr, service).await?.run().await
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Interrupt,
    Terminate,
}

/// Ctrl-C (Python's KeyboardInterrupt) and SIGTERM, listened for from creation on.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn new() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    async fn recv(&mut self) -> Stop {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => Stop::Interrupt,
                _ = self.terminate.recv() => Stop::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            Stop::Interrupt
        }
    }
}

/// Writes `text` to stdout and flushes it, as Python's `print` of the banner does.
#[allow(clippy::print_stdout)]
fn print_flushed(text: &str) -> io::Result<()> {
    use std::io::Write;
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// Creates the listening socket the way Python's `HTTPServer.server_bind` does, with a
/// production backlog.
fn bind_socket(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        // Python's DualStackServer: errors are ignored there too.
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

async fn server_name_for(ip: IpAddr) -> String {
    if ip.is_loopback() {
        return "localhost".to_owned();
    }
    if ip.is_unspecified() {
        if let Ok(name) = tokio::fs::read_to_string("/proc/sys/kernel/hostname").await {
            let name = name.trim();
            if !name.is_empty() {
                return name.to_owned();
            }
        }
    }
    ip.to_string()
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Logs what hyper did with a connection it gave up on, in Python's format.
fn log_connection_error(remote: SocketAddr, err: &hyper::Error) {
    let message = if err.is_parse_too_large() {
        // hyper answered 414 for a long target, 431 for a large head.
        let code = if err.to_string().contains("URI") {
            414
        } else {
            431
        };
        format!("code {code}, message {err}")
    } else if err.is_parse() {
        format!("code 400, message {err}")
    } else if err.is_timeout() {
        format!("Request timed out: {err}")
    } else if err.is_incomplete_message() || err.is_closed() || err.is_canceled() {
        return;
    } else {
        format!("connection error: {err}")
    };
    crate::log::emit(&remote.ip().to_string(), format_args!("{message}"));
}
