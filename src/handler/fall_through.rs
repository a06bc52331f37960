//! The one way a basehttp service hands a request to the service below it — a handler's
//! [`fall_through`](super::Exchange::fall_through), a method or path [`StaticFiles`] does not
//! serve, a request [`Cgi`] does not run — and answers the result Python's way.
//!
//! [`StaticFiles`]: crate::static_files::StaticFiles
//! [`Cgi`]: crate::cgi::Cgi

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::Service;
use tower::util::Oneshot;

use super::{BoxError, Exchange};
use crate::body::Body;

pin_project! {
    /// The inner service answering for an exchange: Python's `super().do_GET()`; or a response
    /// already made.
    #[project = Projection]
    pub(crate) enum FallThrough<S>
    where
        S: Service<Request<Body>>,
    {
        Inner {
            #[pin]
            future: Oneshot<S, Request<Body>>,
            ex: Option<Box<Exchange>>,
        },
        Ready { response: Option<Response<Body>> },
    }
}

impl<S> FallThrough<S>
where
    S: Service<Request<Body>>,
{
    /// A response made already (no inner service needed).
    pub(crate) fn ready(response: Response<Body>) -> Self {
        Self::Ready {
            response: Some(response),
        }
    }
}

/// Hands `ex`'s request to `inner`. Without an inner service the request is answered at once
/// with Python's `501 Unsupported method ('…')`; a request that cannot be rebuilt with `500`.
pub(crate) fn fall_through<S>(mut ex: Box<Exchange>, inner: Option<S>) -> FallThrough<S>
where
    S: Service<Request<Body>>,
{
    match inner {
        None => {
            let message = format!(
                "Unsupported method ({})",
                crate::util::py_repr(ex.command())
            );
            super::exchange::guarded(&mut ex, |ex| ex.send_error_with(501, &message, None));
            FallThrough::ready(ex.into_response())
        }
        Some(inner) => match ex.take_request() {
            Ok(request) => FallThrough::Inner {
                future: Oneshot::new(inner, request),
                ex: Some(ex),
            },
            Err(err) => FallThrough::ready(failed(ex, &err)),
        },
    }
}

/// Python's `handle_error` for an exception the inner service raised: logged, and a `500` page.
fn failed(mut ex: Box<Exchange>, err: &BoxError) -> Response<Body> {
    super::exchange::guarded(&mut ex, |ex| {
        ex.log_error(format_args!(
            "Exception occurred during processing of request: {err}"
        ));
        ex.send_error(500);
    });
    ex.into_response()
}

impl<S, ResBody> Future for FallThrough<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Output = Response<Body>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projection::Inner { future, ex } => {
                let result = ready!(future.poll(cx));
                let Some(ex) = ex.take() else {
                    // Polled after completion: a contract violation by the caller.
                    return Poll::Ready(super::exchange::plain_500());
                };
                Poll::Ready(match result {
                    // `adopt` logs through the handlers' overrides: a panic there costs this
                    // response only.
                    Ok(response) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        ex.adopt(response.map(Body::new))
                    }))
                    .unwrap_or_else(|_| super::exchange::plain_500()),
                    Err(err) => failed(ex, &err.into()),
                })
            }
            Projection::Ready { response } => {
                Poll::Ready(response.take().unwrap_or_else(super::exchange::plain_500))
            }
        }
    }
}
