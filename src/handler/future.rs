//! The response future of [`HandlerService`](super::HandlerService).

use std::any::Any;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::Service;
use tower::util::Oneshot;

use super::exchange::Exchange;
use super::io::{Driver, HandlerBody, SharedRef, lock};
use super::{BoxError, HttpRequestHandler, dispatch};
use crate::body::Body;

/// How a handler run ended.
pub(crate) enum Failure {
    Error(BoxError),
    Panic(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(err) => write!(f, "{err}"),
            Self::Panic(msg) => write!(f, "handler panicked: {msg}"),
        }
    }
}

/// A handler run that has returned: its request state and its result.
pub(crate) struct Finished {
    pub(crate) ex: Box<Exchange>,
    pub(crate) result: Result<(), Failure>,
}

impl Finished {
    /// Settles a run that ended after the head went out: nothing can be said to the client any
    /// more, so a failure is logged and aborts the connection.
    pub(crate) fn after_head(self) -> Result<(), BoxError> {
        let Self { ex, result } = self;
        let problem = match result {
            Err(failure) => failure.to_string(),
            Ok(()) if ex.fall_through => "fall_through() after the headers were sent".to_owned(),
            Ok(()) => match ex.misuse {
                Some(what) => what.to_owned(),
                None => return Ok(()),
            },
        };
        ex.log_error(format_args!(
            "Exception occurred during processing of request: {problem}"
        ));
        Err(problem.into())
    }
}

/// Runs one request through the handler: `handle_expect_100`, then the `do_*` method, with
/// panics caught so the request state survives them.
pub(crate) async fn run<H: HttpRequestHandler>(handler: Arc<H>, mut ex: Box<Exchange>) -> Finished {
    let outcome = CatchUnwind {
        future: async {
            if ex.wants_continue() {
                if !handler.handle_expect_100(&mut ex).await {
                    return Ok(());
                }
                if ex.continue_requested {
                    ex.send_continue().await;
                }
            }
            dispatch(&*handler, &mut ex).await
        },
    }
    .await;
    let result = match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(Failure::Error(err)),
        Err(payload) => Err(Failure::Panic(panic_message(&*payload))),
    };
    Finished { ex, result }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_owned()
    }
}

pin_project! {
    /// Polls a future, turning a panic into an `Err` with the panic payload.
    struct CatchUnwind<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.project().future;
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

pin_project! {
    /// Response future for [`HandlerService`](super::HandlerService).
    pub struct ResponseFuture<S>
    where
        S: Service<Request<Body>>,
    {
        #[pin]
        state: State<S>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S>
    where
        S: Service<Request<Body>>,
    {
        Handler {
            driver: Option<Driver>,
            shared: SharedRef,
            inner: Option<S>,
        },
        Inner {
            #[pin]
            future: Oneshot<S, Request<Body>>,
            ex: Option<Box<Exchange>>,
            shared: SharedRef,
        },
        Done,
    }
}

impl<S> fmt::Debug for ResponseFuture<S>
where
    S: Service<Request<Body>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S> ResponseFuture<S>
where
    S: Service<Request<Body>>,
{
    pub(crate) fn new(driver: Driver, shared: SharedRef, inner: Option<S>) -> Self {
        Self {
            state: State::Handler {
                driver: Some(driver),
                shared,
                inner,
            },
        }
    }
}

impl<S, ResBody> Future for ResponseFuture<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                StateProj::Handler {
                    driver,
                    shared,
                    inner,
                } => {
                    let Some(running) = driver.as_mut() else {
                        this.state.set(State::Done);
                        continue;
                    };
                    match running.as_mut().poll(cx) {
                        Poll::Pending => {
                            // The head is out and the handler waits: answer now and let the body
                            // keep the handler running.
                            let Some(head) = lock(shared).head.take() else {
                                return Poll::Pending;
                            };
                            let body = HandlerBody::new(driver.take(), shared.clone());
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(Response::from_parts(
                                head,
                                Body::handler(body),
                            )));
                        }
                        Poll::Ready(finished) => {
                            let shared = shared.clone();
                            // A panic in a logging hook must not take the connection with it.
                            let settled = catch_unwind(AssertUnwindSafe(|| settle(finished)));
                            let Ok(settled) = settled else {
                                this.state.set(State::Done);
                                return Poll::Ready(Ok(plain_500()));
                            };
                            match settled {
                                Settled::Respond(error) => {
                                    let response = respond_from(&shared, error);
                                    this.state.set(State::Done);
                                    return Poll::Ready(Ok(response));
                                }
                                Settled::FallThrough(mut ex) => match inner.take() {
                                    Some(inner) => match ex.take_request() {
                                        Ok(request) => this.state.set(State::Inner {
                                            future: Oneshot::new(inner, request),
                                            ex: Some(ex),
                                            shared,
                                        }),
                                        Err(err) => {
                                            ex.log_error(format_args!(
                                                "Exception occurred during processing of request: {err}"
                                            ));
                                            ex.send_error(500);
                                            this.state.set(State::Done);
                                            return Poll::Ready(Ok(respond_from(&shared, None)));
                                        }
                                    },
                                    None => {
                                        let message = format!(
                                            "Unsupported method ({})",
                                            crate::util::py_repr(ex.command())
                                        );
                                        ex.send_error_with(501, &message, None);
                                        this.state.set(State::Done);
                                        return Poll::Ready(Ok(respond_from(&shared, None)));
                                    }
                                },
                            }
                        }
                    }
                }
                StateProj::Inner { future, ex, shared } => {
                    let result = std::task::ready!(future.poll(cx));
                    let shared = shared.clone();
                    let ex = ex.take();
                    this.state.set(State::Done);
                    return Poll::Ready(Ok(match result {
                        Ok(response) => {
                            let mut response = response.map(Body::new);
                            if let Some(ex) = &ex {
                                ex.adopt(&mut response);
                            }
                            response.map(Body::answered)
                        }
                        Err(err) => {
                            let err: BoxError = err.into();
                            match ex {
                                Some(mut ex) => {
                                    ex.log_error(format_args!(
                                        "Exception occurred during processing of request: {err}"
                                    ));
                                    ex.send_error(500);
                                    respond_from(&shared, None)
                                }
                                None => plain_500(),
                            }
                        }
                    }));
                }
                StateProj::Done => {
                    // Polled after completion: a contract violation by the caller.
                    return Poll::Ready(Ok(plain_500()));
                }
            }
        }
    }
}

enum Settled {
    /// The head is in `shared`; an error, if any, ends the body after what was buffered.
    Respond(Option<BoxError>),
    /// The inner service should answer.
    FallThrough(Box<Exchange>),
}

/// Decides how a handler run that ended before its response was handed out is answered.
fn settle(finished: Finished) -> Settled {
    if finished.ex.headers_sent() {
        // The head was sent during the final poll.
        return Settled::Respond(finished.after_head().err());
    }
    let Finished { mut ex, result } = finished;
    match result {
        Ok(()) if ex.fall_through => return Settled::FallThrough(ex),
        Ok(()) if ex.has_pending_head() => {
            // send_response() without end_headers(): send what the handler prepared.
            if let Err(err) = ex.end_headers() {
                ex.log_error(format_args!(
                    "Exception occurred during processing of request: {err}"
                ));
                ex.send_error(500);
            }
        }
        Ok(()) => {
            ex.log_error(format_args!(
                "{} returned without sending a response",
                handler_method_name(ex.command())
            ));
            ex.send_error(500);
        }
        Err(failure) => {
            ex.log_error(format_args!(
                "Exception occurred during processing of request: {failure}"
            ));
            ex.send_error(500);
        }
    }
    Settled::Respond(None)
}

fn handler_method_name(command: &str) -> String {
    format!("do_{command}")
}

/// The response whose head and body the exchange left in `shared`.
fn respond_from(shared: &SharedRef, error: Option<BoxError>) -> Response<Body> {
    let mut state = lock(shared);
    let Some(head) = state.head.take() else {
        return plain_500();
    };
    if error.is_none() && state.is_drained() {
        // Only a body handed over with send_body (a file): pass it on as it is.
        if let Some(tail) = state.tail.take() {
            return Response::from_parts(head, tail.answered());
        }
    }
    drop(state);
    let body = HandlerBody::finished(shared.clone(), error);
    Response::from_parts(head, Body::handler(body).answered())
}

fn plain_500() -> Response<Body> {
    let mut response = Response::new(Body::empty().answered());
    *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    response
}
