//! The response future of [`StaticFiles`](super::StaticFiles).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tokio::task::JoinHandle;
use tower::Service;
use tower::util::Oneshot;

use super::Config;
use super::fs::{self, OwnedRequest, Plan};
use super::respond::respond;
use super::service::reply;
use crate::body::Body;
use crate::handler::BoxError;
use crate::handler::semantics::{self, Adopt};
use crate::server::ConnectionInfo;

pin_project! {
    /// The response future of [`StaticFiles`](super::StaticFiles).
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        /// Answered already (a hot file, an error).
        Ready { response: Option<Response<Body>> },
        /// The planner runs on the blocking pool.
        Planning {
            join: JoinHandle<Plan>,
            pending: Option<Pending<S, B>>,
        },
        /// The inner service answers.
        Inner {
            #[pin]
            future: Oneshot<S, Request<B>>,
            adopt: Adopt,
        },
    }
}

/// What a planned request needs once the plan is back.
struct Pending<S, B> {
    config: Arc<Config>,
    request: Request<B>,
    conn: Option<ConnectionInfo>,
    inner: Option<S>,
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    pub(super) fn ready(response: Response<Body>) -> Self {
        Self {
            state: State::Ready {
                response: Some(response),
            },
        }
    }

    pub(super) fn inner(inner: S, request: Request<B>, config: &Arc<Config>) -> Self {
        let adopt = Adopt::new(&request, config.protocol_version, &config.server_header);
        Self {
            state: State::Inner {
                future: Oneshot::new(inner, request),
                adopt,
            },
        }
    }

    pub(super) fn planning(
        config: Arc<Config>,
        owned: OwnedRequest,
        request: Request<B>,
        conn: Option<ConnectionInfo>,
        inner: Option<S>,
    ) -> Self {
        let pending = Pending {
            config: config.clone(),
            request,
            conn,
            inner,
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => Self {
                state: State::Planning {
                    join: runtime.spawn_blocking(move || fs::plan(&config, owned.view())),
                    pending: Some(pending),
                },
            },
            // Outside a tokio runtime there is no runtime to block: plan here.
            Err(_) => {
                let plan = fs::plan(&config, owned.view());
                match pending.answer(Ok(plan)) {
                    Answer::Respond(response) => Self::ready(response),
                    Answer::FallThrough(inner, request, config) => {
                        Self::inner(inner, request, &config)
                    }
                }
            }
        }
    }
}

enum Answer<S, B> {
    Respond(Response<Body>),
    FallThrough(S, Request<B>, Arc<Config>),
}

impl<S, B> Pending<S, B> {
    fn answer(self, plan: Result<Plan, tokio::task::JoinError>) -> Answer<S, B> {
        let Self {
            config,
            request,
            conn,
            inner,
        } = self;
        if config.fall_through_on_not_found && matches!(plan, Ok(Plan::NotFound)) {
            if let Some(inner) = inner {
                return Answer::FallThrough(inner, request, config);
            }
        }
        let (parts, _body) = request.into_parts();
        let raw = semantics::request_target(&parts.uri, parts.version);
        let reply = reply(&config, &parts, &raw, conn.as_ref());
        let response = match plan {
            Ok(plan) => respond(&config, &reply, plan),
            Err(err) => {
                reply.log_error(format_args!(
                    "Exception occurred during processing of request: {err}"
                ));
                reply.error(500, None, None)
            }
        };
        Answer::Respond(response)
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
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
                    return Poll::Ready(Ok(response.take().unwrap_or_else(plain_500)));
                }
                StateProj::Planning { join, pending } => {
                    let plan = std::task::ready!(Pin::new(join).poll(cx));
                    let Some(pending) = pending.take() else {
                        return Poll::Ready(Ok(plain_500()));
                    };
                    match pending.answer(plan) {
                        Answer::Respond(response) => return Poll::Ready(Ok(response)),
                        Answer::FallThrough(inner, request, config) => {
                            let adopt = Adopt::new(
                                &request,
                                config.protocol_version,
                                &config.server_header,
                            );
                            this.state.set(State::Inner {
                                future: Oneshot::new(inner, request),
                                adopt,
                            });
                        }
                    }
                }
                StateProj::Inner { future, adopt } => {
                    let result = std::task::ready!(future.poll(cx));
                    return Poll::Ready(Ok(match result {
                        Ok(response) => {
                            adopt.with_reply(|reply| reply.adopt(response.map(Body::new)))
                        }
                        Err(err) => {
                            let err: BoxError = err.into();
                            adopt.with_reply(|reply| {
                                reply.log_error(format_args!(
                                    "Exception occurred during processing of request: {err}"
                                ));
                                reply.error(500, None, None)
                            })
                        }
                    }));
                }
            }
        }
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

fn plain_500() -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    response
}
