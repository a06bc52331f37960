//! `rfile` and `wfile`: the request body as an `AsyncRead`, the response body as an
//! `AsyncWrite`, and the body that carries what the handler writes to hyper.
//!
//! The handler future runs inside the response: until the head is ready it is polled by the
//! service's [`ResponseFuture`](super::ResponseFuture), afterwards by the response body. What the
//! handler writes lands in a small shared buffer; when the buffer holds [`HIGH_WATER`] bytes the
//! writer waits until the body has handed them to hyper. Memory per response is therefore bounded
//! by that buffer plus hyper's own write buffer, whatever the handler writes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker, ready};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body as _, Frame, SizeHint};
use sync_wrapper::SyncWrapper;
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

use super::BoxError;
use crate::body::Body;

/// How many bytes the handler may write ahead of the client.
pub(crate) const HIGH_WATER: usize = 64 * 1024;

/// State shared by the handler side ([`BodyWriter`], the `Exchange`) and the response side
/// ([`HandlerBody`], the response future).
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The response head, once `end_headers` has run; taken by the response future.
    pub(crate) head: Option<http::response::Parts>,
    /// Body bytes written by the handler and not yet handed to hyper.
    buf: BytesMut,
    /// The writer waiting for room in `buf`, or for `buf` to drain (flush).
    writer: Option<Waker>,
    /// The rest of the body, handed over with `Exchange::send_body`.
    pub(crate) tail: Option<Body>,
    /// The response body is gone (complete, or the client left): writes fail with `BrokenPipe`.
    closed: bool,
}

pub(crate) type SharedRef = Arc<Mutex<Shared>>;

pub(crate) fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // No user code runs while the lock is held, so a poisoned lock still holds consistent data.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Appends bytes that bypass back-pressure (error pages: small and complete).
    pub(crate) fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Whether nothing written through `wfile` is waiting.
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
}

/// Python's `wfile`: the response body, as a [`tokio::io::AsyncWrite`].
///
/// Writes go to the client once the headers are out ([`Exchange::end_headers`]); a write before
/// any [`send_response`] fails with [`io::ErrorKind::NotConnected`]. Writes wait while the client
/// is 64 KiB behind, so a handler never buffers more than that. `flush` waits
/// until everything written so far has been handed to the connection.
///
/// [`Exchange::end_headers`]: super::Exchange::end_headers
/// [`send_response`]: super::Exchange::send_response
#[doc(alias = "wfile")]
#[derive(Debug)]
pub struct BodyWriter {
    shared: SharedRef,
    /// Set once the head is out; writing before that is a handler bug.
    pub(crate) open: bool,
    /// For HEAD, 1xx, 204 and 304 responses there is no body: writes are accepted and dropped.
    pub(crate) discard: bool,
}

impl BodyWriter {
    pub(crate) fn new(shared: SharedRef) -> Self {
        Self {
            shared,
            open: false,
            discard: false,
        }
    }

    fn not_open() -> io::Error {
        io::Error::new(
            io::ErrorKind::NotConnected,
            "wfile is closed: written before send_response() or after send_body()",
        )
    }
}

impl AsyncWrite for BodyWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !self.open {
            return Poll::Ready(Err(Self::not_open()));
        }
        if self.discard || data.is_empty() {
            return Poll::Ready(Ok(data.len()));
        }
        let mut shared = lock(&self.shared);
        if shared.closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the response is complete or the client went away",
            )));
        }
        let room = HIGH_WATER.saturating_sub(shared.buf.len());
        if room == 0 {
            shared.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = room.min(data.len());
        shared.buf.extend_from_slice(&data[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.open {
            return Poll::Ready(Err(Self::not_open()));
        }
        let mut shared = lock(&self.shared);
        if shared.buf.is_empty() || shared.closed {
            Poll::Ready(Ok(()))
        } else {
            shared.writer = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// Python's `rfile`: the request body, as a [`tokio::io::AsyncRead`] and
/// [`tokio::io::AsyncBufRead`].
///
/// It yields exactly the body the client sent — `Content-Length` bytes, or the de-chunked body —
/// and then end-of-file, so reading it never blocks on the next request the way
/// `rfile.read(n)` with a wrong `n` does in Python. Bound what you keep in memory by what you
/// read, not by what the client announces:
///
/// ```
/// use basehttp::prelude::*;
///
/// struct Upload;
///
/// impl HttpRequestHandler for Upload {
///     async fn do_post(&self, ex: &mut Exchange) -> HandlerResult {
///         // Python: data = self.rfile.read(int(self.headers['Content-Length']))
///         let mut data = Vec::new();
///         ex.rfile().take(1 << 20).read_to_end(&mut data).await?;
///         ex.send_response(200);
///         ex.end_headers()?;
///         ex.wfile().write_all(&data).await?;
///         Ok(())
///     }
/// }
/// ```
#[doc(alias = "rfile")]
#[derive(Debug)]
pub struct BodyReader {
    /// Only ever used through `&mut`: the wrapper makes the reader (and `Exchange`) `Sync`.
    body: SyncWrapper<Body>,
    chunk: Bytes,
    done: bool,
    /// An error met while prefetching, reported by the next read.
    error: Option<io::Error>,
}

impl BodyReader {
    pub(crate) fn new(body: Body) -> Self {
        Self {
            body: SyncWrapper::new(body),
            chunk: Bytes::new(),
            done: false,
            error: None,
        }
    }

    /// Polls the body once without consuming anything, so hyper sends `100 Continue` now.
    pub(crate) fn poll_prefetch(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.chunk.has_remaining() || self.done {
            return Poll::Ready(());
        }
        match self.poll_chunk(cx) {
            Poll::Ready(result) => {
                self.error = result.err();
                Poll::Ready(())
            }
            // hyper has been asked for the body (and wrote `100 Continue`): that is all we want.
            Poll::Pending => Poll::Ready(()),
        }
    }

    /// Fills `self.chunk` with the next non-empty data frame, or marks the end.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(err) = self.error.take() {
            return Poll::Ready(Err(err));
        }
        while !self.chunk.has_remaining() && !self.done {
            match ready!(Pin::new(self.body.get_mut()).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.chunk = data;
                    }
                }
                Some(Err(err)) => {
                    self.done = true;
                    return Poll::Ready(Err(io::Error::other(err)));
                }
                None => self.done = true,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// What is left of the request body, for the inner service after a fall-through.
    pub(crate) fn into_body(self) -> Body {
        if self.chunk.has_remaining() {
            Body::new(Prefixed {
                prefix: Some(self.chunk),
                rest: self.body.into_inner(),
            })
        } else if self.done {
            Body::empty()
        } else {
            self.body.into_inner()
        }
    }
}

impl AsyncRead for BodyReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_chunk(cx))?;
        let n = this.chunk.len().min(buf.remaining());
        buf.put_slice(&this.chunk[..n]);
        this.chunk.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncBufRead for BodyReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        ready!(this.poll_chunk(cx))?;
        Poll::Ready(Ok(&this.chunk))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.chunk.advance(amt.min(this.chunk.len()));
    }
}

/// A body that yields `prefix` before `rest`: the unread part of a partially read request.
struct Prefixed {
    prefix: Option<Bytes>,
    rest: Body,
}

impl http_body::Body for Prefixed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(prefix) = self.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && self.rest.is_end_stream()
    }
}

/// What a finished handler run hands back: the request state and how it ended.
pub(crate) type Driver = Pin<Box<dyn Future<Output = super::future::Finished> + Send>>;

/// The response body of a handler: drains what the handler wrote and keeps the handler running
/// until it returns.
pub(crate) struct HandlerBody {
    driver: Option<Driver>,
    shared: SharedRef,
    /// The body handed over with `send_body`, once the handler has returned (boxed: a `Body`
    /// can itself be a handler body).
    tail: Option<Box<Body>>,
    /// Ends the body after the buffered bytes: the handler failed after its head went out.
    error: Option<BoxError>,
    /// Whether the body has yielded once before reporting `error`.
    yielded: bool,
}

impl std::fmt::Debug for HandlerBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerBody")
            .field("running", &self.driver.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for HandlerBody {
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
                let finished = driver.await;
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    finished.after_head()
                }));
            });
        }
    }
}

impl HandlerBody {
    /// The body of a handler still running after its head went out.
    pub(crate) fn new(driver: Option<Driver>, shared: SharedRef) -> Self {
        Self {
            driver,
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
                Poll::Ready(finished) => {
                    self.driver = None;
                    // Deliver what the handler wrote before failing, then the failure. (A panic
                    // in a logging hook must not take the connection task with it.)
                    self.error =
                        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            finished.after_head()
                        })) {
                            Ok(result) => result.err(),
                            Err(_) => Some("a logging hook panicked".into()),
                        };
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
