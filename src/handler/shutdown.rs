//! [`Shutdown`]: a future that resolves when the server serving a request starts shutting down.

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
/// [`Exchange::shutdown`](crate::handler::Exchange::shutdown).
///
/// Under another server (axum's, bare hyper) there is no such signal, and it never resolves.
pub struct Shutdown {
    wait: Option<Pin<Box<dyn Future<Output = ()> + Send + Sync>>>,
}

impl Shutdown {
    pub(crate) fn new(signal: Option<&watch::Receiver<Signal>>) -> Self {
        let wait = signal.cloned().map(|mut signal| {
            Box::pin(async move {
                // The server gone (the sender dropped) counts as shut down.
                let _ = signal.wait_for(|s| *s != Signal::Run).await;
            }) as Pin<Box<dyn Future<Output = ()> + Send + Sync>>
        });
        Self { wait }
    }
}

impl Future for Shutdown {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.wait {
            Some(wait) => wait.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("on_basehttp_server", &self.wait.is_some())
            .finish()
    }
}
