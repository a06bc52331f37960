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
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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

use self::conn::{ActivityIo, ConnService};
use crate::BoxError;
pub use crate::connection::ConnectionInfo;
use crate::connection::Signal;
use crate::connection::{Control, Phase};

/// Python's `HTTPServer` (and `ThreadingHTTPServer`: every connection is served concurrently).
///
/// `S` is any tower service for `http::Request<hyper::body::Incoming>` — a
/// [`HandlerService`](crate::handler::HandlerService), a layer stack, an axum `Router`. See the
/// [module docs](crate::server) for the limits and examples.
#[doc(alias = "HTTPServer")]
#[doc(alias = "ThreadingHTTPServer")]
pub struct HttpServer<S> {
    /// The listening socket, and whether a shutdown closed it.
    listener: std::sync::Mutex<Listener>,
    service: S,
    config: Config,
    local: SocketAddr,
    server_name: Arc<str>,
    signal: Arc<watch::Sender<Signal>>,
    /// Connections being served, for the shutdown message.
    open: Arc<AtomicUsize>,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
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
    #[cfg(feature = "http2")]
    http2: bool,
    #[cfg(feature = "http2")]
    max_concurrent_streams: u32,
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
            #[cfg(feature = "http2")]
            http2: false,
            #[cfg(feature = "http2")]
            max_concurrent_streams: 128,
        }
    }
}

/// `HttpServer`'s listening socket, and whether a shutdown closed it.
#[derive(Debug)]
struct Listener {
    socket: Arc<TcpListener>,
    closed: bool,
}

/// A listening socket that `shutdown` closed, listening again at `local`, registered with the
/// runtime anew: tokio keeps the hang-up the shutdown caused as readiness that never clears.
///
/// A socket bound to port 0 loses its port when it stops listening: it is bound again to the
/// one it had (a socket bound to a given port keeps it, and refuses this with `EINVAL`). Should
/// another socket have taken that port meanwhile, this fails with `AddrInUse`.
fn reopen(socket: &TcpListener, local: SocketAddr) -> io::Result<TcpListener> {
    let raw = socket2::SockRef::from(socket);
    match raw.bind(&local.into()) {
        Err(err) if err.kind() != io::ErrorKind::InvalidInput => return Err(err),
        _ => {}
    }
    raw.listen(LISTEN_BACKLOG)?;
    let fresh = std::net::TcpListener::from(std::os::fd::AsFd::as_fd(socket).try_clone_to_owned()?);
    fresh.set_nonblocking(true)?;
    TcpListener::from_std(fresh)
}

/// Counts a connection as open for as long as it lives (its task may also end by a panic).
struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    fn new(open: &Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Self(open.clone())
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The listen backlog: the kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: i32 = 1024;

/// hyper's default read-buffer limit (`8192 + 4096 * 100`); heads larger than this need a larger
/// buffer.
const HYPER_DEFAULT_MAX_BUF: usize = 8192 + 4096 * 100;

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
    #[doc(alias = "server_activate")]
    #[doc(alias = "DualStackServer")]
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
        let server_name = server_name_for(local.ip());
        Ok(Self {
            listener: std::sync::Mutex::new(Listener {
                socket: Arc::new(listener),
                closed: false,
            }),
            service,
            config: Config::default(),
            local,
            server_name: server_name.into(),
            signal: Arc::new(watch::channel(Signal::Run).0),
            open: Arc::default(),
            #[cfg(feature = "tls")]
            tls: None,
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
    #[doc(alias = "timeout")]
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
    #[doc(alias = "daemon_threads")]
    #[doc(alias = "block_on_close")]
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

    /// Whether HTTP/2 is served besides HTTP/1: negotiated by ALPN (`h2`) on a TLS server, and
    /// by prior knowledge (a client that opens with the HTTP/2 preface, such as
    /// `curl --http2-prior-knowledge`) on a cleartext one. HTTP/1 clients are served as before.
    ///
    /// The `basehttp` binary turns it on whenever `--protocol` is `HTTP/1.1` or newer; Python
    /// speaks only HTTP/1.
    ///
    /// Defaults to `false`.
    #[cfg(feature = "http2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
    pub fn http2(mut self, enabled: bool) -> Self {
        self.config.http2 = enabled;
        self
    }

    /// The most requests (streams) an HTTP/2 connection may have open at once; at least 1.
    ///
    /// Defaults to 128 (nginx's `http2_max_concurrent_streams`).
    #[cfg(feature = "http2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
    pub fn max_concurrent_streams(mut self, count: u32) -> Self {
        self.config.max_concurrent_streams = count.max(1);
        self
    }

    /// Serves HTTPS with this rustls configuration: Python 3.14's `HTTPSServer`. Every
    /// connection starts with a TLS handshake, which must finish within the
    /// [`header_read_timeout`](HttpServer::header_read_timeout).
    ///
    /// When `config` names no ALPN protocols, the server offers `h2` (with
    /// [`http2`](HttpServer::http2)), `http/1.1` and `http/1.0`; Python offers `http/1.1`.
    /// [`tls::load_cert_chain`] builds a configuration from PEM files.
    ///
    /// Defaults to none: plain HTTP.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[doc(alias = "HTTPSServer")]
    #[doc(alias = "ThreadingHTTPSServer")]
    #[doc(alias = "alpn_protocols")]
    pub fn tls(mut self, config: impl Into<Arc<rustls::ServerConfig>>) -> Self {
        self.tls = Some(config.into());
        self
    }

    /// Whether the server speaks HTTPS ([`tls`](HttpServer::tls) was set).
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        {
            self.tls.is_some()
        }
        #[cfg(not(feature = "tls"))]
        {
            false
        }
    }

    /// The acceptor for this server's TLS configuration, with the ALPN protocols filled in.
    #[cfg(feature = "tls")]
    fn tls_acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        let config = self.tls.as_ref()?;
        if !config.alpn_protocols.is_empty() {
            return Some(config.clone().into());
        }
        let mut config = rustls::ServerConfig::clone(config);
        #[cfg(feature = "http2")]
        if self.config.http2 {
            config.alpn_protocols.push(b"h2".to_vec());
        }
        config.alpn_protocols.push(b"http/1.1".to_vec());
        config.alpn_protocols.push(b"http/1.0".to_vec());
        Some(Arc::new(config).into())
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
    /// The listening socket stops listening when the shutdown starts (on Linux: new clients are
    /// refused rather than left waiting) and listens again when `serve_forever` or
    /// [`handle_request`](HttpServer::handle_request) is next called, on the same address. A
    /// server bound to port 0 gets its port back, unless another socket took it meanwhile: then
    /// this returns the `AddrInUse` error.
    ///
    /// Errors from `accept` that concern one connection are ignored; others (such as running
    /// out of file descriptors) are logged and retried after a second.
    pub async fn serve_forever(&self) -> io::Result<()> {
        let listener = self.listen_again()?;
        let mut signal = self.signal.subscribe();
        let slots = Arc::new(Semaphore::new(self.config.max_connections));
        let tls = self.acceptor();
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
                accepted = listener.accept() => accepted,
                _ = signal.changed() => continue,
            };
            match accepted {
                Ok((stream, remote)) => {
                    let conn = self.connection(stream, remote, tls.as_ref());
                    let open = OpenGuard::new(&self.open);
                    tokio::spawn(async move {
                        conn.await;
                        drop(open);
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
        self.stop_listening();
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
        let (protocol, scheme) = if self.is_tls() {
            ("HTTPS", "https")
        } else {
            ("HTTP", "http")
        };
        print_flushed(&format!(
            "Serving {protocol} on {host} port {port} ({scheme}://{url_host}:{port}/) ...\n"
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
        // Idle connections close at once; give them a moment before counting what still runs.
        tokio::select! {
            result = &mut serve => return result,
            _ = signals.recv() => return Ok(()),
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let running = self.open.load(Ordering::Relaxed);
        if running > 0 {
            eprintln!("{}", waiting_message(running, self.config.shutdown_timeout));
        }
        tokio::select! {
            result = &mut serve => result,
            _ = signals.recv() => Ok(()),
        }
    }

    /// Python's `handle_request()`: accepts one connection, serves it until it closes (one
    /// request with `HTTP/1.0`, several with keep-alive) and returns.
    pub async fn handle_request(&self) -> io::Result<()> {
        let listener = self.listen_again()?;
        let tls = self.acceptor();
        loop {
            match listener.accept().await {
                Ok((stream, remote)) => {
                    self.connection(stream, remote, tls.as_ref()).await;
                    return Ok(());
                }
                Err(err) if is_connection_error(&err) => {}
                Err(err) => return Err(err),
            }
        }
    }

    fn listener(&self) -> std::sync::MutexGuard<'_, Listener> {
        self.listener
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The listener to accept on, listening again if a shutdown closed it.
    fn listen_again(&self) -> io::Result<Arc<TcpListener>> {
        let mut listener = self.listener();
        if listener.closed {
            listener.socket = Arc::new(reopen(&listener.socket, self.local)?);
            listener.closed = false;
        }
        Ok(listener.socket.clone())
    }

    /// Closes the listening socket while the server drains, so that new clients are refused
    /// at once (as when Python's process exits) instead of waiting in the backlog; the next
    /// `serve_forever` listens again on the same address. Only Linux can stop a socket from
    /// listening; elsewhere new clients wait until the server is dropped.
    fn stop_listening(&self) {
        let mut listener = self.listener();
        if socket2::SockRef::from(&*listener.socket)
            .shutdown(std::net::Shutdown::Both)
            .is_ok()
        {
            listener.closed = true;
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

    fn acceptor(&self) -> Option<Acceptor> {
        #[cfg(feature = "tls")]
        {
            self.tls_acceptor()
        }
        #[cfg(not(feature = "tls"))]
        {
            None
        }
    }

    /// Serves one connection to its end: the TLS handshake if any, then HTTP/1 or, when
    /// enabled and asked for, HTTP/2.
    fn connection(
        &self,
        stream: TcpStream,
        remote: SocketAddr,
        tls: Option<&Acceptor>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let _ = stream.set_nodelay(true);
        let control = Arc::new(Control::default());
        let info = ConnectionInfo::for_server(
            remote,
            self.local,
            self.server_name.clone(),
            control.clone(),
            Some(self.signal.subscribe()),
        );
        let conn = Conn {
            service: ConnService::new(self.service.clone(), control.clone(), remote),
            control,
            config: self.config.clone(),
            signal: self.signal.subscribe(),
            remote,
            #[cfg(feature = "http2")]
            info: info.clone(),
        };
        let tls = tls.cloned();
        let driver = async move {
            let io = ActivityIo::new(stream, conn.control.clone());
            #[cfg(feature = "tls")]
            if let Some(acceptor) = tls {
                let Some(stream) = handshake(&acceptor, io, &conn.control, &conn.config).await
                else {
                    return;
                };
                #[cfg(feature = "http2")]
                if conn.config.http2 && stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                    return conn.serve_h2(stream).await;
                }
                return conn.serve_h1(stream).await;
            }
            #[cfg(not(feature = "tls"))]
            let _: Option<Acceptor> = tls;
            #[cfg(feature = "http2")]
            if conn.config.http2 {
                match sniff_preface(io.get_ref(), &conn.config).await {
                    Some(true) => return conn.serve_h2(io).await,
                    Some(false) => {}
                    None => return,
                }
            }
            conn.serve_h1(io).await;
        };
        info.scope(driver)
    }
}

/// The TLS acceptor of a server (`()` without the `tls` feature).
#[cfg(feature = "tls")]
type Acceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
type Acceptor = ();

/// One accepted connection and what serving it needs.
struct Conn<S> {
    service: ConnService<S>,
    control: Arc<Control>,
    config: Config,
    signal: watch::Receiver<Signal>,
    remote: SocketAddr,
    #[cfg(feature = "http2")]
    info: ConnectionInfo,
}

impl<S, B> Conn<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    async fn serve_h1<I>(self, io: I)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let config = &self.config;
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
        let conn = builder.serve_connection(TokioIo::new(io), self.service);
        drive(conn, &self.control, config, self.signal, self.remote).await;
    }

    #[cfg(feature = "http2")]
    async fn serve_h2<I>(self, io: I)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let config = &self.config;
        let mut builder = hyper::server::conn::http2::Builder::new(ScopedExecutor(self.info));
        builder
            .timer(hyper_util::rt::TokioTimer::new())
            .max_header_list_size(u32::try_from(config.max_header_size).unwrap_or(u32::MAX))
            .max_concurrent_streams(config.max_concurrent_streams);
        let conn = builder.serve_connection(TokioIo::new(io), self.service);
        drive(conn, &self.control, config, self.signal, self.remote).await;
    }
}

/// The TLS handshake, bounded by the header-read timeout. Failures are logged at `DEBUG`: a
/// scanner or a client that distrusts the certificate is not worth a line in the access log.
#[cfg(feature = "tls")]
async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    io: ActivityIo<TcpStream>,
    control: &Control,
    config: &Config,
) -> Option<tokio_rustls::server::TlsStream<ActivityIo<TcpStream>>> {
    let remote = io.get_ref().peer_addr().ok();
    let accept = acceptor.accept(io);
    let result = match config.header_read_timeout {
        Some(timeout) => tokio::time::timeout(timeout, accept)
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))),
        None => accept.await,
    };
    match result {
        Ok(stream) => {
            // The handshake is not a request: the idle timeout applies from here.
            control.mark_idle();
            Some(stream)
        }
        Err(err) => {
            tracing::debug!(target: crate::log::TARGET, client = ?remote, "TLS handshake failed: {err}");
            None
        }
    }
}

/// The client preface every HTTP/2 connection starts with (RFC 9113, section 3.4).
#[cfg(feature = "http2")]
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether a cleartext connection opens with the HTTP/2 preface, looked at without consuming
/// it: `Some(false)` as soon as a byte differs (or the client closes), `Some(true)` once all 24
/// bytes match, `None` when the client sends nothing decisive before the header-read timeout or
/// the connection fails.
#[cfg(feature = "http2")]
async fn sniff_preface(stream: &TcpStream, config: &Config) -> Option<bool> {
    let sniff = async {
        let mut buf = [0; PREFACE.len()];
        let mut pause = Duration::from_millis(1);
        loop {
            let n = stream.peek(&mut buf).await?;
            if n == 0 || buf[..n] != PREFACE[..n] {
                return Ok::<_, io::Error>(false);
            }
            if n == PREFACE.len() {
                return Ok(true);
            }
            // A partial preface, sent in pieces: peek returns at once while those bytes wait,
            // so look again later rather than spin, backing off so that a client stalling
            // here costs a few dozen wake-ups, not thousands.
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    };
    let wait = config
        .header_read_timeout
        .or(config.keep_alive_timeout)
        .unwrap_or(FOREVER);
    tokio::time::timeout(wait, sniff).await.ok()?.ok()
}

/// Spawns HTTP/2 streams inside the connection's [`ConnectionInfo`] scope, so handlers on them
/// see [`ConnectionInfo::current`] as on HTTP/1.
#[cfg(feature = "http2")]
#[derive(Clone)]
struct ScopedExecutor(ConnectionInfo);

#[cfg(feature = "http2")]
impl<F> hyper::rt::Executor<F> for ScopedExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        tokio::spawn(self.0.clone().scope(future));
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
                    log_connection_error(remote, &err, control.in_flight());
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

#[cfg(feature = "http2")]
impl<I, S, E, B> GracefulConnection for hyper::server::conn::http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
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

/// What `run` says on stderr when requests are still running after the first Ctrl-C.
fn waiting_message(open: usize, timeout: Duration) -> String {
    let connections = if open == 1 {
        "connection"
    } else {
        "connections"
    };
    let secs = timeout.as_secs_f64();
    format!(
        "Waiting up to {secs} s for the requests of {open} {connections} to finish; \
         press Ctrl-C again to exit now."
    )
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
    socket.listen(LISTEN_BACKLOG)?;
    TcpListener::from_std(socket.into())
}

fn server_name_for(ip: IpAddr) -> String {
    if ip.is_loopback() {
        return "localhost".to_owned();
    }
    if ip.is_unspecified() {
        // Read once at bind time; procfs answers from memory.
        if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
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

/// The I/O error under a hyper error when it says the client went away (it closed or reset the
/// connection while the response was being written).
fn client_left(err: &hyper::Error) -> Option<&io::Error> {
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return matches!(
                io.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
            )
            .then_some(io);
        }
        source = cause.source();
    }
    None
}

/// Logs what hyper did with a connection it gave up on, in Python's format.
fn log_connection_error(remote: SocketAddr, err: &hyper::Error, in_flight: bool) {
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
    } else if let Some(io) = client_left(err) {
        // Python: a `BrokenPipeError` traceback under "Exception occurred during processing".
        if in_flight {
            format!("client closed the connection before the response was complete ({err}: {io})")
        } else {
            format!("client closed the connection ({err}: {io})")
        }
    } else {
        format!("connection error: {err}")
    };
    crate::log::emit(&remote.ip().to_string(), format_args!("{message}"));
}
