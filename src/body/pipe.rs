//! The pipe between a running handler and its response body.
//!
//! A handler's `wfile` writes into a small shared buffer; the response body ([`PipeBody`])
//! hands what is buffered to hyper and keeps the handler's future running until it returns.
//! When the buffer holds [`HIGH_WATER`] bytes the writer waits until the body has taken them,
//! so memory per response is bounded by that buffer plus hyper's own write buffer, whatever the
//! handler writes.
//!
//! The pipe knows nothing about handlers: the handler side gives it a future that runs the rest
//! of the handler ([`Driver`]) and reads and writes through [`Shared`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker, ready};

use bytes::{Bytes, BytesMut};
use http_body::{Body as _, Frame, SizeHint};

use super::Body;
use crate::BoxError;
use crate::kept::{self, Pool};

/// How many bytes the handler may write ahead of the client.
pub(crate) const HIGH_WATER: usize = 64 * 1024;

/// The rest of a handler run once its head is out: `Err` ends the body with that error after
/// the bytes already written (the handler failed after its headers were sent).
pub(crate) type Driver = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// State shared by the writing side (`wfile`, the `Exchange`) and the reading side
/// ([`PipeBody`], the handler's response future).
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The response head, once `end_headers` has run; taken by the response future.
    pub(crate) head: Option<http::response::Parts>,
    /// Body bytes written and not yet handed to hyper.
    buf: BytesMut,
    /// The writer waiting for room in `buf`, or for `buf` to drain (flush).
    writer: Option<Waker>,
    /// The rest of the body, handed over with `Exchange::send_body`.
    pub(crate) tail: Option<Body>,
    /// The response body is gone (complete, or the client left): writes fail with `BrokenPipe`.
    closed: bool,
}

pub(crate) type SharedRef = Arc<Mutex<Shared>>;

/// Pipe states kept per thread for reuse, at most: one comes back as soon as a handler that
/// returned before its response was handed out has had its response made (the common case), so
/// a couple suffice.
const KEPT: usize = 2;

thread_local! {
    static SPARE: Pool<SharedRef> = const { Pool::new(Vec::new()) };
}

/// The state of a new pipe: a kept one (see [`keep`]), else a new one.
pub(crate) fn shared() -> SharedRef {
    kept::take(&SPARE).unwrap_or_default()
}

/// Keeps `shared` for a later [`shared`], emptied, if nothing else holds it (a body still reading
/// from it, an exchange) and enough are not kept already.
pub(crate) fn keep(mut shared: SharedRef) {
    let Some(state) = Arc::get_mut(&mut shared) else {
        return;
    };
    // A poisoned one is not worth keeping.
    let Ok(state) = state.get_mut() else {
        return;
    };
    // Whatever is left (an unsent head, bytes nobody will read, a waker) goes now.
    *state = Shared::default();
    kept::put(&SPARE, shared, KEPT);
}

pub(crate) fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // No user code runs while the lock is held, so a poisoned lock still holds consistent data.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Appends bytes that bypass back-pressure (error pages: small and complete).
    pub(crate) fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Whether nothing written is waiting.
    pub(crate) fn is_drained(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes everything buffered, waking a writer waiting for room.
    fn take(&mut self) -> Option<Bytes> {
        if self.buf.is_empty() {
            return None;
        }
        if let Some(waker) = self.writer.take() {
            waker.wake();
        }
        Some(self.buf.split().freeze())
    }

    /// Buffers what fits of `data` below [`HIGH_WATER`], or waits for room.
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the response is complete or the client went away",
            )));
        }
        let room = HIGH_WATER.saturating_sub(self.buf.len());
        if room == 0 {
            self.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        Poll::Ready(Ok(n))
    }

    /// Waits until everything written has been handed to the connection (or the body is gone).
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.buf.is_empty() || self.closed {
            Poll::Ready(Ok(()))
        } else {
            self.writer = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// The response body of a handler: drains what the handler wrote and keeps the handler running
/// until it returns.
pub(crate) struct PipeBody {
    driver: Option<Driver>,
    shared: SharedRef,
    /// The body handed over with `send_body`, once the handler has returned (boxed: a `Body`
    /// can itself be a pipe body).
    tail: Option<Box<Body>>,
    /// Ends the body after the buffered bytes: the handler failed after its head went out.
    error: Option<BoxError>,
    /// Whether the body has yielded once before reporting `error`.
    yielded: bool,
}

impl std::fmt::Debug for PipeBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeBody")
            .field("running", &self.driver.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for PipeBody {
    /// hyper drops a body once it has all it will send (the `Content-Length` is reached, a HEAD,
    /// a 204/304) or when the client leaves. Python always runs a handler to its end, so a
    /// handler still running is finished on its own task; its further writes fail with
    /// `BrokenPipe` (a loop writing to a gone client stops), and a failure is still logged.
    fn drop(&mut self) {
        let Some(driver) = self.driver.take() else {
            return;
        };
        {
            let mut shared = lock(&self.shared);
            shared.closed = true;
            shared.buf.clear();
            if let Some(waker) = shared.writer.take() {
                waker.wake();
            }
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = driver.await;
            });
        }
    }
}

impl PipeBody {
    /// The body of a handler still running after its head went out.
    pub(crate) fn running(driver: Driver, shared: SharedRef) -> Self {
        Self {
            driver: Some(driver),
            shared,
            tail: None,
            error: None,
            yielded: false,
        }
    }

    /// The body of a handler that has returned: what it buffered, then `error` if it failed.
    pub(crate) fn finished(shared: SharedRef, error: Option<BoxError>) -> Self {
        Self {
            driver: None,
            shared,
            tail: None,
            error,
            yielded: false,
        }
    }

    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            if let Some(data) = lock(&self.shared).take() {
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            let Some(driver) = self.driver.as_mut() else {
                if self.error.is_none() {
                    if self.tail.is_none() {
                        self.tail = lock(&self.shared).tail.take().map(Box::new);
                    }
                    if let Some(tail) = &mut self.tail {
                        match ready!(Pin::new(&mut **tail).poll_frame(cx)) {
                            Some(frame) => return Poll::Ready(Some(frame)),
                            None => self.tail = None,
                        }
                    }
                }
                return self.poll_end(cx);
            };
            match driver.as_mut().poll(cx) {
                Poll::Ready(result) => {
                    self.driver = None;
                    // Deliver what the handler wrote before failing, then the failure.
                    self.error = result.err();
                }
                Poll::Pending => {
                    // The handler is waiting: either on something else (its waker is
                    // registered), or for room, which only exists once we hand over `buf`.
                    if let Some(data) = lock(&self.shared).take() {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// The end of the body: done, or the handler's failure. hyper drops unflushed bytes when a
    /// body fails, so the failure is reported only after yielding once, which lets hyper flush
    /// the data that came before it (best effort: a socket that is full then still loses it).
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.error.take() {
            None => Poll::Ready(None),
            Some(err) if self.yielded => Poll::Ready(Some(Err(err))),
            Some(err) => {
                self.error = Some(err);
                self.yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    pub(crate) fn size_hint(&self) -> SizeHint {
        // Deliberately inexact: without a Content-Length from the handler, hyper must use
        // close-delimiting (HTTP/1.0) or chunked encoding (HTTP/1.1), as Python does.
        SizeHint::default()
    }
}

/// The response whose head and body a handler's exchange left in `shared`, marked as
/// answered; `error` ends the body after what was buffered. `None` without a head.
pub(crate) fn response(
    shared: &SharedRef,
    error: Option<BoxError>,
) -> Option<http::Response<Body>> {
    let mut state = lock(shared);
    let head = state.head.take()?;
    if error.is_none() {
        match state.tail.take() {
            // Only a body handed over with send_body (a file): pass it on as it is.
            Some(tail) if state.is_drained() => {
                return Some(http::Response::from_parts(head, tail.answered()));
            }
            Some(tail) => state.tail = Some(tail),
            // The handler has returned: what it wrote is all there is. Handed over as it is
            // (the buffer was never split, so this allocates nothing).
            None => {
                let written = std::mem::take(&mut state.buf).freeze();
                return Some(http::Response::from_parts(
                    head,
                    Body::written(written).answered(),
                ));
            }
        }
    }
    drop(state);
    let body = PipeBody::finished(shared.clone(), error);
    Some(http::Response::from_parts(
        head,
        Body::pipe(body).answered(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_spare() {
        while SPARE.with(|spare| spare.borrow_mut().pop()).is_some() {}
    }

    #[test]
    fn a_kept_state_comes_back_empty() {
        drain_spare();
        let state = shared();
        {
            let mut guard = lock(&state);
            guard.push(b"left over");
            guard.head = Some(http::Response::new(()).into_parts().0);
            guard.closed = true;
        }
        let address = Arc::as_ptr(&state);
        keep(state);
        let again = shared();
        assert_eq!(Arc::as_ptr(&again), address, "the kept state is reused");
        let guard = lock(&again);
        assert!(guard.is_drained());
        assert!(guard.head.is_none() && guard.tail.is_none() && !guard.closed);
    }

    #[test]
    fn a_state_still_shared_or_beyond_the_limit_is_not_kept() {
        drain_spare();
        let state = shared();
        let body_side = state.clone();
        keep(state);
        assert_eq!(SPARE.with(|spare| spare.borrow().len()), 0);
        drop(body_side);
        for _ in 0..KEPT + 3 {
            keep(SharedRef::default());
        }
        assert_eq!(SPARE.with(|spare| spare.borrow().len()), KEPT);
    }
}
