use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower::Service;

use super::class::{Base, Class, HandlerBase};
use super::exchange::{Exchange, Output};
use super::future::{ResponseFuture, run};
use super::{BoxError, HttpRequestHandler};
use crate::body::Body;

/// A [`HttpRequestHandler`] as a tower [`Service`].
///
/// `Error = Infallible`: every outcome, failures included, is a response. Cloning is cheap (one
/// reference count: the handler is shared behind an `Arc`). Build one with
/// [`HttpRequestHandler::into_service`] (no inner service: unimplemented methods get Python's
/// 501 page) or through [`HandlerLayer`] (unimplemented methods go to the inner service `S`).
///
/// See the [module docs](crate::handler) for more details.
///
/// [`HandlerLayer`]: super::HandlerLayer
pub struct HandlerService<H, S = NotImplemented> {
    /// Behind one `Arc`: the server clones the service for every request.
    common: Arc<Common<H>>,
    inner: Option<S>,
}

/// What every clone of a [`HandlerService`] shares.
struct Common<H> {
    handler: Arc<H>,
    /// The handler alone as a class (the common case: nothing above it).
    class: Arc<Class>,
    /// `BaseHTTPRequestHandler` with the handler's class attributes, read once.
    base: Arc<HandlerBase>,
}

impl<H: HttpRequestHandler> HandlerService<H> {
    /// Wraps a handler with nothing below it.
    pub fn new(handler: H) -> Self {
        Self::from_parts(Arc::new(handler), None)
    }
}

impl<H, S> HandlerService<H, S>
where
    H: HttpRequestHandler,
{
    pub(crate) fn from_parts(handler: Arc<H>, inner: Option<S>) -> Self {
        let base = HandlerBase::of(&*handler);
        let class = Class::of_handler(handler.clone(), &base.0);
        Self {
            common: Arc::new(Common {
                handler,
                class: Arc::new(class),
                base: Arc::new(base),
            }),
            inner,
        }
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.common.handler
    }

    define_inner_service_accessors!();
}

impl<H, S: Clone> Clone for HandlerService<H, S> {
    fn clone(&self) -> Self {
        Self {
            common: self.common.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<H, S: fmt::Debug> fmt::Debug for HandlerService<H, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerService")
            .field("handler", &std::any::type_name::<H>())
            .field("inner", &self.inner)
            .finish()
    }
}

impl<H, S, ReqBody, ResBody> Service<Request<ReqBody>> for HandlerService<H, S>
where
    H: HttpRequestHandler,
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture<S>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The inner service is only needed if the handler falls through; it is driven to
        // readiness then, inside the response future.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (parts, body) = request.into_parts();
        let shared = crate::body::pipe::shared();
        let common = &*self.common;
        let base: Arc<dyn Base> = common.base.clone();
        // Boxed once: the request state then moves between the handler run and the response
        // future as a pointer. Reached through another handler's fall-through, that handler
        // is the subclass.
        let ex = Box::new(Exchange::handed_down(
            parts,
            Body::new(body),
            Some(&common.class),
            base,
            Output::Pipe(shared.clone()),
        ));
        let running = Box::pin(run(common.handler.clone(), ex));
        ResponseFuture::new(running, shared, self.inner.clone())
    }
}

/// The "nothing below" marker of a [`HandlerService`] built without an inner service: methods
/// the handler does not implement get Python's `501 Unsupported method (…)`.
///
/// It cannot be constructed; it only names the absence of an inner service.
#[derive(Clone, Copy, Debug)]
pub struct NotImplemented(Infallible);

impl<R> Service<R> for NotImplemented {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self.0 {}
    }

    fn call(&mut self, _request: R) -> Self::Future {
        match self.0 {}
    }
}
