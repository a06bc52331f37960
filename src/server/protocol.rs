//! What a connection speaks: the TLS handshake, HTTP/2 by ALPN or by its preface, else HTTP/1.

use std::future::Future;
#[cfg(any(feature = "tls", feature = "http2"))]
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::Service;

use super::config::{Config, HYPER_DEFAULT_MAX_BUF};
use super::conn::{ActivityIo, ConnService};
#[cfg(feature = "http2")]
use super::driver::FOREVER;
use super::driver::drive;
use super::{ConnectionInfo, HttpServer};
use crate::BoxError;
use crate::connection::{Control, Signal};

impl<S> HttpServer<S> {
    /// The acceptor for this server's TLS configuration, with the ALPN protocols filled in.
    #[cfg(feature = "tls")]
    pub(super) fn tls_acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
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

    pub(super) fn acceptor(&self) -> Option<Acceptor> {
        #[cfg(feature = "tls")]
        {
            self.tls_acceptor()
        }
        #[cfg(not(feature = "tls"))]
        {
            None
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
    /// Serves one connection to its end: the TLS handshake if any, then HTTP/1 or, when
    /// enabled and asked for, HTTP/2.
    pub(super) fn connection(
        &self,
        stream: TcpStream,
        remote: SocketAddr,
        tls: Option<&Acceptor>,
        control: Arc<Control>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let _ = stream.set_nodelay(true);
        let info = ConnectionInfo::for_server(
            remote,
            self.local,
            self.server_name.clone(),
            control.clone(),
            Some(self.signal.subscribe()),
        );
        let conn = Conn {
            service: ConnService::new(
                self.service.clone(),
                control.clone(),
                remote,
                self.config.require_host,
            ),
            control,
            config: self.config.clone(),
            signal: self.signal.subscribe(),
            remote,
            #[cfg(feature = "http2")]
            info: info.clone(),
        };
        let tls = tls.cloned();
        let driver = async move {
            let io = ActivityIo::new(stream, conn.control.clone(), conn.config.linger);
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
            let mut io = io;
            #[cfg(feature = "http2")]
            if conn.config.http2 {
                match sniff_preface(&mut io, &conn.config).await {
                    Some(true) => return conn.serve_h2(io).await,
                    Some(false) => {}
                    None => return,
                }
            }
            #[cfg(sendfile)]
            if conn.config.sendfile {
                conn.control.enable_sendfile();
            }
            conn.serve_h1(io).await;
        };
        info.scope(driver)
    }
}

/// The TLS acceptor of a server (`()` without the `tls` feature).
#[cfg(feature = "tls")]
pub(super) type Acceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
pub(super) type Acceptor = ();

/// One accepted connection and what serving it needs.
pub(super) struct Conn<S> {
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
        // File placeholders must reach the socket as hyper's own slices, never copied into a
        // flattened buffer (crate::sendfile).
        #[cfg(sendfile)]
        if self.control.sendfile().is_some() {
            builder.writev(true);
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
        self.control.set_multiplexed();
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

/// Whether a cleartext connection opens with the HTTP/2 preface: `Some(false)` as soon as a
/// byte differs (or the client closes), `Some(true)` once all 24 bytes match, `None` when the
/// client sends nothing decisive before the header-read timeout or the connection fails. What
/// it reads is handed out again by `io` ([`ActivityIo::replay`]): one `read` that usually brings
/// the whole first request, where a `peek` would have cost a system call more a connection.
#[cfg(feature = "http2")]
async fn sniff_preface(io: &mut ActivityIo<TcpStream>, config: &Config) -> Option<bool> {
    use tokio::io::AsyncReadExt;

    // Reads of up to a page, into the memory handed out again (never zero-filled); a preface
    // sent in pieces is read piece by piece.
    let mut read = Vec::with_capacity(4096);
    let sniff = async {
        loop {
            let n = io.read_buf(&mut read).await?;
            let seen = read.len().min(PREFACE.len());
            if n == 0 || read[..seen] != PREFACE[..seen] {
                return Ok::<_, io::Error>(false);
            }
            if seen == PREFACE.len() {
                return Ok(true);
            }
        }
    };
    let wait = config
        .header_read_timeout
        .or(config.keep_alive_timeout)
        .unwrap_or(FOREVER);
    let h2 = tokio::time::timeout(wait, sniff).await.ok()?.ok()?;
    io.replay(Bytes::from(read));
    Some(h2)
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
