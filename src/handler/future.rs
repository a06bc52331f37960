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
use tokio::task::JoinHandle;
use tower::Service;

use super::exchange::{Exchange, plain_500};
use super::fall_through::{FallThrough, fall_through};
use super::{BoxError, HttpRequestHandler, dispatch};
use crate::body::Body;
use crate::body::pipe::{self, PipeBody, SharedRef};

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
            Ok(()) if ex.fell_through() => "fall_through() after the headers were sent".to_owned(),
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

/// A handler run in progress.
pub(crate) type Running = Pin<Box<dyn Future<Output = Finished> + Send>>;

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
        Err(payload) => {
            ex.reset_walks();
            Err(Failure::Panic(panic_message(&*payload)))
        }
    };
    Finished { ex, result }
}

/// The rest of a run whose head is out, as the pipe body drives it: the run, then its
/// settlement (a panic in a logging method must not take the connection task with it).
fn after_head(running: Running) -> pipe::Driver {
    Box::pin(async move {
        let finished = running.await;
        match catch_unwind(AssertUnwindSafe(|| finished.after_head())) {
            Ok(result) => result,
            Err(_) => Err("a logging method panicked".into()),
        }
    })
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
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
    pub(crate) struct CatchUnwind<F> {
        #[pin]
        future: F,
    }
}

impl<F> CatchUnwind<F> {
    #[cfg(cgi)]
    pub(crate) fn new(future: F) -> Self {
        Self { future }
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
    /// The response future of [`HandlerService`](super::HandlerService) and of
    /// [`StaticFiles`](crate::static_files::StaticFiles): a handler running, a trip to the
    /// blocking pool, or the inner service answering.
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
            running: Option<Running>,
            // `None` once given back for reuse (see `pipe::keep`).
            shared: Option<SharedRef>,
            inner: Option<S>,
        },
        /// A service answers on the blocking pool; the exchange comes back with whether it
        /// answered (else the inner service does).
        Blocking {
            join: JoinHandle<(Box<Exchange>, bool)>,
            inner: Option<S>,
        },
        Inner {
            #[pin]
            future: FallThrough<S>,
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
    pub(crate) fn new(running: Running, shared: SharedRef, inner: Option<S>) -> Self {
        Self {
            state: State::Handler {
                running: Some(running),
                shared: Some(shared),
                inner,
            },
        }
    }

    /// A response made already.
    #[cfg(feature = "fs")]
    pub(crate) fn ready(response: Response<Body>) -> Self {
        Self {
            state: State::Inner {
                future: FallThrough::ready(response),
            },
        }
    }

    /// The inner service answers for `ex`.
    #[cfg(feature = "fs")]
    pub(crate) fn fall_through(ex: Box<Exchange>, inner: Option<S>) -> Self {
        Self {
            state: State::Inner {
                future: fall_through(ex, inner),
            },
        }
    }

    /// `trip` answers (or not) on tokio's blocking pool, inside the request's span; outside a
    /// runtime, here.
    #[cfg(feature = "fs")]
    pub(crate) fn blocking(
        trip: impl FnOnce() -> (Box<Exchange>, bool) + Send + 'static,
        inner: Option<S>,
    ) -> Self {
        let span = tracing::Span::current();
        let trip = move || span.in_scope(trip);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => Self {
                state: State::Blocking {
                    join: runtime.spawn_blocking(trip),
                    inner,
                },
            },
            Err(_) => Self::settled(trip(), inner),
        }
    }

    /// The answer, or the inner service, after a trip.
    fn settled((ex, answered): (Box<Exchange>, bool), inner: Option<S>) -> Self {
        if answered {
            Self {
                state: State::Inner {
                    future: FallThrough::ready(ex.into_response()),
                },
            }
        } else {
            Self {
                state: State::Inner {
                    future: fall_through(ex, inner),
                },
            }
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
                    running,
                    shared,
                    inner,
                } => {
                    let (Some(run), Some(shared_ref)) = (running.as_mut(), shared.as_ref()) else {
                        this.state.set(State::Done);
                        continue;
                    };
                    match run.as_mut().poll(cx) {
                        Poll::Pending => {
                            // The head is out and the handler waits: answer now and let the body
                            // keep the handler running.
                            let Some(run) = running.take() else {
                                return Poll::Pending;
                            };
                            let Some(head) = pipe::lock(shared_ref).head.take() else {
                                *running = Some(run);
                                return Poll::Pending;
                            };
                            let body = PipeBody::running(after_head(run), shared_ref.clone());
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(Response::from_parts(head, Body::pipe(body))));
                        }
                        Poll::Ready(finished) => {
                            let inner = inner.take();
                            // A panic in a logging method must not take the connection with it.
                            let settled = catch_unwind(AssertUnwindSafe(|| settle(finished)));
                            let Ok(settled) = settled else {
                                this.state.set(State::Done);
                                return Poll::Ready(Ok(plain_500()));
                            };
                            match settled {
                                Settled::Respond(error) => {
                                    let response =
                                        pipe::response(shared_ref, error).unwrap_or_else(plain_500);
                                    // Unless the body still reads from it, the pipe state
                                    // serves a later run.
                                    if let Some(shared) = shared.take() {
                                        pipe::keep(shared);
                                    }
                                    this.state.set(State::Done);
                                    return Poll::Ready(Ok(response));
                                }
                                Settled::FallThrough(ex) => this.state.set(State::Inner {
                                    future: fall_through(ex, inner),
                                }),
                            }
                        }
                    }
                }
                StateProj::Blocking { join, inner } => {
                    let trip = std::task::ready!(Pin::new(join).poll(cx));
                    let inner = inner.take();
                    match trip {
                        Ok(trip) => this.state.set(Self::settled(trip, inner).state),
                        Err(err) => {
                            // The blocking task was cancelled (the runtime is shutting down).
                            tracing::warn!(target: crate::log::TARGET, "blocking task: {err}");
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(plain_500()));
                        }
                    }
                }
                StateProj::Inner { future } => {
                    let response = std::task::ready!(future.poll(cx));
                    this.state.set(State::Done);
                    return Poll::Ready(Ok(response));
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
    /// The head is in the pipe; an error, if any, ends the body after what was buffered.
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
        Ok(()) if ex.fell_through() => return Settled::FallThrough(ex),
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
                "do_{} returned without sending a response",
                ex.command()
            ));
            ex.send_error(500);
        }
        Err(_) if ex.rfile_timed_out() => {
            // Python: a socket timeout ends the request with this line (and no answer).
            ex.log_error(format_args!(
                "Request timed out: the request body stopped arriving"
            ));
            ex.send_error(408);
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
