//! The futures of [`Compression`](super::Compression) and of the marker below it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::Response;
use pin_project_lite::pin_project;

use crate::BoxError;
use crate::body::Body;

/// On a response that left the inner service without a `Content-Encoding`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Marked;

/// On a response a basehttp service below has answered (and logged): it stays answered once
/// its body is wrapped, so that a handler above does not log it again.
#[derive(Clone, Copy, Debug)]
struct Answered;

pin_project! {
    /// Response future of [`Compression`](super::Compression).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: tower_http::compression::ResponseFuture<MarkFuture<F>, super::Compressible>,
        if_none_match: Option<http::HeaderValue>,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(
        inner: tower_http::compression::ResponseFuture<MarkFuture<F>, super::Compressible>,
        if_none_match: Option<http::HeaderValue>,
    ) -> Self {
        Self {
            inner,
            if_none_match,
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send + Sync,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let mut response = super::settle(response, this.if_none_match.as_ref());
        let answered = response.extensions_mut().remove::<Answered>().is_some();
        Poll::Ready(Ok(response.map(|body| {
            let body = Body::new(body);
            if answered { body.answered() } else { body }
        })))
    }
}

pin_project! {
    /// Response future of the marker below tower-http's compression.
    pub struct MarkFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F> MarkFuture<F> {
    pub(super) fn new(inner: F) -> Self {
        Self { inner }
    }
}

impl<F, B, E> Future for MarkFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: 'static,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut response = ready!(self.project().inner.poll(cx))?;
        if !response
            .headers()
            .contains_key(http::header::CONTENT_ENCODING)
        {
            response.extensions_mut().insert(Marked);
        }
        let answered = (response.body() as &dyn std::any::Any)
            .downcast_ref::<Body>()
            .is_some_and(Body::is_answered);
        if answered {
            response.extensions_mut().insert(Answered);
        }
        Poll::Ready(Ok(response))
    }
}
