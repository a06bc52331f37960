//! The response future of [`StaticFiles`](super::StaticFiles).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tokio::task::JoinHandle;
use tower::Service;

use super::Config;
use super::fs;
use super::respond::respond;
use super::service::Planned;
use crate::body::Body;
use crate::handler::fall_through::{FallThrough, fall_through};
use crate::handler::{BoxError, Exchange};

pin_project! {
    /// The response future of [`StaticFiles`](super::StaticFiles).
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
        /// Answered already (a hot file, an error).
        Ready { response: Option<Response<Body>> },
        /// The planner runs on the blocking pool, and answers there.
        Planning {
            join: JoinHandle<Trip>,
            inner: Option<S>,
        },
        /// The inner service answers.
        Inner {
            #[pin]
            future: FallThrough<S>,
        },
    }
}

/// What comes back from the blocking pool: the exchange, and whether it answered (a path with
/// nothing behind it is left to the inner service, with `fall_through_on_not_found`).
type Trip = (Box<Exchange>, bool);

impl<S> ResponseFuture<S>
where
    S: Service<Request<Body>>,
{
    pub(super) fn ready(response: Response<Body>) -> Self {
        Self {
            state: State::Ready {
                response: Some(response),
            },
        }
    }

    pub(super) fn fall_through(ex: Box<Exchange>, inner: Option<S>) -> Self {
        Self {
            state: State::Inner {
                future: fall_through(ex, inner),
            },
        }
    }

    pub(super) fn planning(
        config: Arc<Config>,
        ex: Box<Exchange>,
        planned: Planned,
        inner: Option<S>,
    ) -> Self {
        let may_fall_through = config.fall_through_on_not_found && inner.is_some();
        // The log lines written on the blocking pool belong to the request's span.
        let span = tracing::Span::current();
        let trip = move || span.in_scope(|| send_head(&config, ex, &planned, may_fall_through));
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => Self {
                state: State::Planning {
                    join: runtime.spawn_blocking(trip),
                    inner,
                },
            },
            // Outside a tokio runtime there is no runtime to block: plan here.
            Err(_) => Self::settle(trip(), inner),
        }
    }

    fn settle((ex, answered): Trip, inner: Option<S>) -> Self {
        if answered {
            Self::ready(ex.into_response())
        } else {
            Self::fall_through(ex, inner)
        }
    }
}

/// Python's `send_head` off the runtime: plans the request and answers it through the
/// exchange — the listing and the handlers' methods run here too.
fn send_head(
    config: &Config,
    mut ex: Box<Exchange>,
    planned: &Planned,
    may_fall_through: bool,
) -> Trip {
    let answered = crate::handler::guarded(&mut ex, |ex| {
        let request = fs::Request {
            external: planned.external.as_deref().unwrap_or(ex.path()),
            head: planned.head,
            headers: ex.headers(),
        };
        let plan = fs::plan(config, planned.translated.as_ref(), request);
        if may_fall_through && matches!(plan, fs::Plan::NotFound) {
            return false;
        }
        respond(ex, config, plan);
        true
    });
    (ex, answered.unwrap_or(true))
}

impl<S, ResBody> Future for ResponseFuture<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Ready { response } => {
                    return Poll::Ready(Ok(response
                        .take()
                        .unwrap_or_else(crate::handler::plain_500)));
                }
                StateProj::Planning { join, inner } => {
                    let trip = ready!(Pin::new(join).poll(cx));
                    let inner = inner.take();
                    match trip {
                        Ok(trip) => this.state.set(Self::settle(trip, inner).state),
                        Err(err) => {
                            // The blocking task was cancelled (the runtime is shutting down).
                            tracing::warn!(target: crate::log::TARGET, "file serving: {err}");
                            return Poll::Ready(Ok(crate::handler::plain_500()));
                        }
                    }
                }
                StateProj::Inner { future } => {
                    return Poll::Ready(Ok(ready!(future.poll(cx))));
                }
            }
        }
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
