//! Python's `HTTPServer` / `ThreadingHTTPServer` on hyper: bind, `serve_forever`,
//! `handle_request`, `shutdown`, with production limits.
//!
//! Each connection runs in its own task (Python's `ThreadingHTTPServer` uses a thread), served
//! by hyper's HTTP/1 implementation (and HTTP/2, with [`http2`](HttpServer::http2)). Unlike Python's server it has limits from the start, each
//! configurable:
//!
//! | limit | default | what happens |
//! |---|---|---|
//! | [`header_read_timeout`](HttpServer::header_read_timeout) | 30 s | a client that has not sent a complete request head in time is disconnected (slowloris) |
//! | [`keep_alive_timeout`](HttpServer::keep_alive_timeout) | 5 s | an idle persistent connection is closed |
//! | [`max_header_size`](HttpServer::max_header_size) | 128 KiB | a larger request head gets `431` |
//! | [`max_headers`](HttpServer::max_headers) | 100 | more header lines get `431` |
//! | [`max_connections`](HttpServer::max_connections) | 512 | a new connection takes the place of the one that has waited longest without a request (a slowloris, an idle keep-alive); when every connection has a request, new ones wait in the listen backlog |
//! | [`write_timeout`](HttpServer::write_timeout) | 60 s | a client that stops reading its response (or, on HTTP/2, keeps its flow-control window closed) is disconnected |
//! | [`lingering_timeout`](HttpServer::lingering_timeout) / [`lingering_bytes`](HttpServer::lingering_bytes) | 5 s / 64 MiB | a connection closed with part of a request body unread keeps reading (and discarding) it for this long, so the client gets the whole response rather than a reset |
//! | [`shutdown_timeout`](HttpServer::shutdown_timeout) | 10 s | in-flight requests still running after `shutdown()` are cut off |
//!
//! A response body runs ahead of the socket by at most one chunk on HTTP/1: a client that
//! does not read holds one chunk of the server's memory, not hyper's whole write buffer.
//!
//! Requests whose framing is ambiguous never reach a service: two `Host` headers, an HTTP/1.1
//! request without one (unless [`require_host`](HttpServer::require_host) is `false`), a
//! transfer coding other than a single `chunked` get Python's error page (`400`, or `501` for
//! an unknown coding) and the connection is closed. Other malformed requests are answered by
//! hyper (400, 414 or 431, empty body). Both are logged in Python's format.
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

mod accept;
mod config;
mod conn;
mod driver;
mod framing;
mod gated;
mod listener;
mod protocol;
mod shutdown;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{Semaphore, watch};

use self::accept::Connections;
use self::config::Config;
use self::listener::{Listener, bind_socket, server_name_for};
pub use self::shutdown::{ShutdownHandle, run, shutdown_signal};
pub use crate::connection::ConnectionInfo;
use crate::connection::Signal;

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
    /// The connections being served.
    connections: Arc<Connections>,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
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
    /// `getaddrinfo`. The socket has `SO_REUSEADDR` (Python's `allow_reuse_address`), except on
    /// Windows, where it would let another process take over the port: there it has
    /// `SO_EXCLUSIVEADDRUSE`. An IPv6 wildcard (`::`) also accepts IPv4 connections (Python's
    /// dual-stack server).
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
            connections: Arc::default(),
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

    /// The most connections served at once; at least 1.
    ///
    /// When the server is full, a new connection takes the place of the one that has waited
    /// longest without a request — still sending its request head (a slowloris), else idle
    /// between requests — once that one has had 200 ms; such a connection is closed without a
    /// response, as an idle one would be at its timeout. When every connection is busy with a
    /// request, new ones wait in the listen backlog until one ends or goes idle (nginx does the
    /// same with its `worker_connections`).
    ///
    /// Defaults to 512.
    pub fn max_connections(mut self, count: usize) -> Self {
        let most = Semaphore::MAX_PERMITS.min(u32::MAX as usize);
        self.config.max_connections = count.clamp(1, most);
        self
    }

    /// How long output may wait for a client that does not read it; `None` waits forever.
    /// A connection whose client stops reading is closed then (nginx's `send_timeout`), so
    /// stalled downloads cannot hold every connection slot. On HTTP/2 this also bounds how long
    /// a response may wait for the client's flow-control window (its stream's or the
    /// connection's) to open: a client that keeps it closed loses the connection, and every
    /// stream's open file with it.
    ///
    /// Defaults to 60 seconds.
    pub fn write_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.config.write_timeout = timeout.into();
        self
    }

    /// Whether an HTTP/1.1 request without a `Host` header is refused with `400`, as RFC 9112
    /// (section 3.2) requires; `false` serves it, as Python does. Either way, a request with two
    /// `Host` headers, or with a transfer coding other than a single `chunked`, is refused
    /// (`400`, or `501` for an unknown coding) before any service sees it.
    ///
    /// Defaults to `true`.
    pub fn require_host(mut self, required: bool) -> Self {
        self.config.require_host = required;
        self
    }

    /// How long a connection the server closes keeps reading (and discarding) what its client
    /// still sends, when a request had a body the service did not read: closing at once would
    /// make the kernel reset the connection, destroying the end of the response before the
    /// client reads it (nginx's `lingering_close`). `None` closes at once.
    ///
    /// Defaults to 5 seconds.
    pub fn lingering_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.config.linger.time = timeout.into();
        self
    }

    /// The most bytes a lingering close reads before closing anyway; see
    /// [`lingering_timeout`](HttpServer::lingering_timeout).
    ///
    /// Defaults to 64 MiB.
    pub fn lingering_bytes(mut self, bytes: u64) -> Self {
        self.config.linger.bytes = bytes;
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

    /// Whether file bodies (`StaticFiles` responses that no layer has wrapped) are sent with
    /// `sendfile` on cleartext HTTP/1 connections (Linux 6.5 or later): from the page cache to
    /// the socket without a copy through the server. Parts of a file not in the page cache are
    /// read on the blocking pool as before.
    ///
    /// The kernel sends page-cache pages by reference, so a file truncated while it is being
    /// sent can reach the client as zeros where its bytes were (nginx and lighttpd, which use
    /// `sendfile`, behave the same); the response still ends short of its `Content-Length`.
    /// Off, files are read and copied, and a truncated file only ever ends a response short
    /// (Python's behaviour).
    ///
    /// On, files over 64 KiB that `StaticFiles`' memory cache keeps are sent from the file on
    /// these connections too, rather than copied from memory.
    ///
    /// Defaults to `false`.
    pub fn sendfile(mut self, enabled: bool) -> Self {
        self.config.sendfile = enabled;
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

    /// A handle that stops [`serve_forever`](HttpServer::serve_forever) from another task or
    /// thread: Python's `server.shutdown()`.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            signal: self.signal.clone(),
        }
    }
}
