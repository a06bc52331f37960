//! [`ShuttingDown`]: a future that resolves when the server serving a request starts shutting down.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::watch;

use crate::connection::Signal;

/// Resolves when basehttp's [`HttpServer`](crate::server::HttpServer) starts shutting down
/// (Ctrl-C, SIGTERM, [`ShutdownHandle::shutdown`](crate::server::ShutdownHandle::shutdown)),
/// so that a long response — an event stream, a slow download — can end itself instead of
/// being cut off when the drain times out. Get one from
/// [`Exchange::shutting_down`](crate::handler::Exchange::shutting_down).
///
/// Once resolved it stays resolved, so it can be polled again in a loop. Under another server
/// (axum's, bare hyper) there is no such signal, and it never resolves.
pub struct ShuttingDown {
    state: State,
}

enum State {
    /// Waiting for the server's signal.
    Waiting(Pin<Box<dyn Future<Output = ()> + Send + Sync>>),
    /// Not on basehttp's server: never resolves.
    Never,
    /// Resolved; stays resolved however often it is polled again.
    Done,
}

impl ShuttingDown {
    pub(crate) fn new(signal: Option<&watch::Receiver<Signal>>) -> Self {
        let state = match signal.cloned() {
            Some(mut signal) => State::Waiting(Box::pin(async move {
                // The server gone (the sender dropped) counts as shut down.
                let _ = signal.wait_for(|s| *s != Signal::Run).await;
            })),
            None => State::Never,
        };
        Self { state }
    }
}

impl Future for ShuttingDown {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.state {
            State::Waiting(wait) => {
                if wait.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.state = State::Done;
                Poll::Ready(())
            }
            State::Never => Poll::Pending,
            State::Done => Poll::Ready(()),
        }
    }
}

impl fmt::Debug for ShuttingDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Waiting(_) => "waiting",
            State::Never => "never (not on basehttp's server)",
            State::Done => "shutting down",
        };
        f.debug_struct("ShuttingDown")
            .field("state", &state)
            .finish()
    }
}
