//! Per-connection plumbing: [`ConnectionInfo`], the close-after-response signal, and the
//! wrapper that tracks requests in flight.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::Notify;
use tower::Service;
use tower::util::{Oneshot, ServiceExt};

/// Who is on the other end of a connection, and where it arrived: Python's `client_address`,
/// `server.server_name` and `server.server_port`.
///
/// basehttp's [`HttpServer`](super::HttpServer) inserts one into every request's extensions.
/// When a handler runs on another server, insert one yourself (for example with
/// `tower_http::add_extension::AddExtensionLayer` per connection); without it, handlers log the
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
    control: Option<Arc<Control>>,
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
                control: None,
            }),
        }
    }

    pub(crate) fn for_server(
        remote: SocketAddr,
        local: SocketAddr,
        server_name: Arc<str>,
        control: Arc<Control>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                remote,
                local,
                server_name,
                control: Some(control),
            }),
        }
    }

    /// The client's address (Python's `client_address`).
    pub fn remote_addr(&self) -> SocketAddr {
        self.inner.remote
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

/// What the connection task and its requests share.
#[derive(Debug, Default)]
pub(crate) struct Control {
    /// A handler asked to close after the current response.
    close_after: AtomicBool,
    /// Requests whose response body has not been dropped yet.
    in_flight: AtomicUsize,
    /// Wakes the connection task when a response finishes.
    pub(crate) notify: Notify,
}

impl Control {
    pub(crate) fn take_close_request(&self) -> bool {
        self.close_after.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

/// Counts a request in flight until its response body is dropped.
struct InFlight(Arc<Control>);

impl InFlight {
    fn new(control: Arc<Control>) -> Self {
        control.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(control)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.notify.notify_one();
    }
}

/// The hyper service of one connection: inserts the [`ConnectionInfo`] and tracks the request.
pub(crate) struct ConnService<S> {
    inner: S,
    info: ConnectionInfo,
    control: Arc<Control>,
}

impl<S> ConnService<S> {
    pub(crate) fn new(inner: S, info: ConnectionInfo, control: Arc<Control>) -> Self {
        Self {
            inner,
            info,
            control,
        }
    }
}

impl<S, ReqBody, ResBody> hyper::service::Service<Request<ReqBody>> for ConnService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    type Response = Response<TrackedBody<ResBody>>;
    type Error = S::Error;
    type Future = TrackedFuture<Oneshot<S, Request<ReqBody>>>;

    fn call(&self, mut request: Request<ReqBody>) -> Self::Future {
        request.extensions_mut().insert(self.info.clone());
        TrackedFuture {
            future: self.inner.clone().oneshot(request),
            guard: Some(InFlight::new(self.control.clone())),
        }
    }
}

pin_project! {
    pub(crate) struct TrackedFuture<F> {
        #[pin]
        future: F,
        guard: Option<InFlight>,
    }
}

impl<F, B, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<TrackedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.future.poll(cx))?;
        let guard = this.guard.take();
        Poll::Ready(Ok(response.map(|body| TrackedBody {
            body,
            _guard: guard,
        })))
    }
}

pin_project! {
    /// A response body that tells the connection when it is done.
    pub(crate) struct TrackedBody<B> {
        #[pin]
        body: B,
        _guard: Option<InFlight>,
    }
}

impl<B: http_body::Body> http_body::Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
