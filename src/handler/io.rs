//! `rfile` and `wfile`: the request body as an `AsyncRead`, the response body as an
//! `AsyncWrite`.
//!
//! The handler future runs inside the response: until the head is ready it is polled by the
//! service's [`ResponseFuture`](super::ResponseFuture), afterwards by the response body. What the
//! handler writes goes through the pipe of [`crate::body::pipe`], which keeps at most 64 KiB
//! ahead of the client.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body::Body as _;
use sync_wrapper::SyncWrapper;
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::exchange::Output;
use crate::body::Body;
use crate::body::pipe::lock;

/// Python's `wfile`: the response body, as a [`tokio::io::AsyncWrite`].
///
/// Writes go to the client once the headers are out ([`Exchange::end_headers`]); a write before
/// any [`send_response`] fails with [`io::ErrorKind::NotConnected`]. Writes wait while the client
/// is 64 KiB behind, so a handler never buffers more than that. `flush` waits
/// until everything written so far has been handed to the connection.
///
/// [`Exchange::end_headers`]: super::Exchange::end_headers
/// [`send_response`]: super::Exchange::send_response
pub struct BodyWriter {
    /// Where the head and the body go: the pipe while a handler runs, else the response the
    /// services answering in place (file serving, CGI) assemble, which hand their bodies over
    /// with `send_body`. Held here, the exchange's one reference to the pipe.
    pub(crate) output: Output,
    /// Set once the head is out; writing before that is a handler bug.
    pub(crate) open: bool,
    /// For HEAD, 1xx, 204 and 304 responses there is no body: writes are accepted and dropped.
    pub(crate) discard: bool,
}

impl BodyWriter {
    pub(crate) fn new(output: Output) -> Self {
        Self {
            output,
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

    fn no_pipe() -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "wfile streams only from a handler's do_* method; here, use send_body()",
        )
    }
}

impl fmt::Debug for BodyWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyWriter")
            .field("streams", &matches!(self.output, Output::Pipe(_)))
            .field("open", &self.open)
            .field("discard", &self.discard)
            .finish()
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
        match &self.output {
            Output::Pipe(pipe) => lock(pipe).poll_write(cx, data),
            Output::Direct(_) => Poll::Ready(Err(Self::no_pipe())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.open {
            return Poll::Ready(Err(Self::not_open()));
        }
        match &self.output {
            Output::Pipe(pipe) => lock(pipe).poll_flush(cx),
            Output::Direct(_) => Poll::Ready(Ok(())),
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
#[derive(Debug)]
pub struct BodyReader {
    /// Only ever used through `&mut`: the wrapper makes the reader (and `Exchange`) `Sync`.
    body: SyncWrapper<Body>,
    chunk: Bytes,
    done: bool,
    /// An error met while prefetching, reported by the next read.
    error: Option<io::Error>,
    /// Python's `timeout`: how long a read waits for the client's next bytes.
    timeout: Option<Duration>,
    /// The deadline of the read waiting now, armed on its first `Pending`.
    idle: Option<Pin<Box<Sleep>>>,
    /// Whether the deadline must move: bytes came since it was set.
    rearm: bool,
    timed_out: bool,
}

impl BodyReader {
    pub(crate) fn new(body: Body, timeout: Option<Duration>) -> Self {
        Self {
            body: SyncWrapper::new(body),
            chunk: Bytes::new(),
            done: false,
            error: None,
            timeout,
            idle: None,
            rearm: true,
            timed_out: false,
        }
    }

    /// Whether a read gave up waiting for the client ([`HttpRequestHandler::timeout`]).
    ///
    /// [`HttpRequestHandler::timeout`]: super::HttpRequestHandler::timeout
    pub(crate) fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// Waits for the client's next bytes no longer than the timeout.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let Some(timeout) = self.timeout else {
            return Poll::Pending;
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let idle = self
            .idle
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if std::mem::take(&mut self.rearm) {
            idle.as_mut().reset(deadline);
        }
        ready!(idle.as_mut().poll(cx));
        self.timed_out = true;
        self.done = true;
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "no part of the request body came within {} s",
                timeout.as_secs_f64()
            ),
        ))
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
            let frame = match Pin::new(self.body.get_mut()).poll_frame(cx) {
                Poll::Ready(frame) => frame,
                Poll::Pending => return self.poll_deadline(cx).map(Err),
            };
            self.rearm = true;
            match frame {
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

    /// The next chunk of the body as it came (`None` at its end), without a copy.
    #[cfg(upload)]
    pub(crate) fn poll_take_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<Bytes>>> {
        ready!(self.poll_chunk(cx))?;
        if self.chunk.has_remaining() {
            Poll::Ready(Ok(Some(std::mem::take(&mut self.chunk))))
        } else {
            Poll::Ready(Ok(None))
        }
    }

    /// What is left of the request body, for the inner service after a fall-through.
    pub(crate) fn into_body(self) -> Body {
        if self.chunk.has_remaining() {
            Body::prefixed(self.chunk, self.body.into_inner())
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
