//! The connection plumbing of basehttp's server: the wrappers that track requests in flight and
//! activity on the socket, and the request span.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use tower::Service;
use tower::util::{Oneshot, ServiceExt};
use tracing::Instrument;
use tracing::instrument::Instrumented;

use crate::connection::Control;

/// Counts a request from its start until its response body is dropped.
struct InFlight(Arc<Control>);

impl InFlight {
    fn new(control: Arc<Control>) -> Self {
        control.request_started();
        Self(control)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_done();
    }
}

pin_project! {
    /// The connection's socket, counting reads that bring bytes as activity.
    pub(crate) struct ActivityIo<T> {
        #[pin]
        inner: T,
        control: Arc<Control>,
    }
}

impl<T> ActivityIo<T> {
    pub(crate) fn new(inner: T, control: Arc<Control>) -> Self {
        Self { inner, control }
    }

    #[cfg_attr(not(any(feature = "http2", feature = "tls")), allow(dead_code))]
    pub(crate) fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: tokio::io::AsyncRead> tokio::io::AsyncRead for ActivityIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let result = this.inner.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.control.record_read();
        }
        result
    }
}

impl<T: tokio::io::AsyncWrite> tokio::io::AsyncWrite for ActivityIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        let result = this.inner.poll_write(cx, buf);
        this.control.record_write(&result);
        result
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        let result = this.inner.poll_write_vectored(cx, bufs);
        this.control.record_write(&result);
        result
    }
}

/// The hyper service of one connection: tracks each request until its response is done, in a
/// `request` span (target [`SPAN_TARGET`](crate::log::SPAN_TARGET)).
pub(crate) struct ConnService<S> {
    inner: S,
    control: Arc<Control>,
    remote: SocketAddr,
}

impl<S> ConnService<S> {
    pub(crate) fn new(inner: S, control: Arc<Control>, remote: SocketAddr) -> Self {
        Self {
            inner,
            control,
            remote,
        }
    }
}

impl<S, ReqBody, ResBody> hyper::service::Service<Request<ReqBody>> for ConnService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    type Response = Response<TrackedBody<ResBody>>;
    type Error = S::Error;
    type Future = TrackedFuture<Instrumented<Oneshot<S, Request<ReqBody>>>>;

    fn call(&self, request: Request<ReqBody>) -> Self::Future {
        // Disabled unless a subscriber asks for it: then this is one cached interest check.
        // HTTP/2 requests carry the authority in their URI; the target is what Python logs.
        let uri = request.uri();
        let target: &dyn fmt::Display = match uri.path_and_query() {
            Some(path) if request.version() == http::Version::HTTP_2 => path,
            _ => uri,
        };
        let span = tracing::info_span!(
            target: "basehttp::request",
            "request",
            method = %request.method(),
            target = %target,
            version = ?request.version(),
            client = %self.remote.ip(),
        );
        TrackedFuture {
            future: self.inner.clone().oneshot(request).instrument(span),
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
