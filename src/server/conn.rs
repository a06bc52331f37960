//! The connection plumbing of basehttp's server: the wrappers that track requests in flight and
//! activity on the socket, and the request span.

use std::fmt;
use std::future::Future;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower::Service;
use tower::util::{Oneshot, ServiceExt};
use tracing::Instrument;
use tracing::instrument::Instrumented;

use super::framing;
use crate::connection::Control;

/// Counts a request from its start until its response body is dropped.
pub(crate) struct InFlight(Arc<Control>);

impl InFlight {
    fn new(control: Arc<Control>) -> Self {
        control.request_started();
        Self(control)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_done();
    }
}

/// How long, and for how many bytes, a closing connection keeps reading what its client still
/// sends (nginx's `lingering_close`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Linger {
    pub(crate) time: Option<Duration>,
    pub(crate) bytes: u64,
}

/// Where a lingering close stands.
enum Lingering {
    /// Not closing.
    Open,
    /// Output shut down; discarding input until the client closes, `left` bytes or `until`
    /// (set when a read first has to wait, `time` after).
    Draining {
        time: Duration,
        until: Option<Pin<Box<Sleep>>>,
        left: u64,
    },
    Done,
}

pin_project! {
    /// The connection's socket, counting reads that bring bytes as activity and writes, and
    /// closing with a lingering close.
    pub(crate) struct ActivityIo<T> {
        // Before `inner`: fields are dropped in order, so the socket is forgotten before it
        // is closed.
        record: SocketRecord,
        #[pin]
        inner: T,
        control: Arc<Control>,
        linger: Linger,
        lingering: Lingering,
        // Bytes read before the protocol was known (the HTTP/2 preface check), handed out
        // again before anything else is read.
        replay: Bytes,
    }
}

/// The connection whose [`Control`] knows the socket's descriptor (Linux, for file bodies):
/// dropped, it makes the connection forget the descriptor.
struct SocketRecord(Option<Arc<Control>>);

impl Drop for SocketRecord {
    fn drop(&mut self) {
        #[cfg(all(feature = "fs", target_os = "linux"))]
        if let Some(control) = &self.0 {
            control.set_socket(-1);
        }
        #[cfg(not(all(feature = "fs", target_os = "linux")))]
        let _ = &self.0;
    }
}

impl<T> ActivityIo<T> {
    pub(crate) fn new(inner: T, control: Arc<Control>, linger: Linger) -> Self
    where
        T: 'static,
    {
        #[cfg_attr(not(all(feature = "fs", target_os = "linux")), allow(unused_mut))]
        let mut record = SocketRecord(None);
        #[cfg(all(feature = "fs", target_os = "linux"))]
        if let Some(tcp) = (&inner as &dyn std::any::Any).downcast_ref::<tokio::net::TcpStream>() {
            control.set_socket(std::os::fd::AsRawFd::as_raw_fd(tcp));
            record = SocketRecord(Some(control.clone()));
        }
        Self {
            record,
            inner,
            control,
            linger,
            lingering: Lingering::Open,
            replay: Bytes::new(),
        }
    }

    /// Makes `bytes`, read from the socket before the protocol was known, the next ones read.
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    pub(crate) fn replay(&mut self, bytes: Bytes) {
        self.replay = bytes;
    }

    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: tokio::io::AsyncRead> tokio::io::AsyncRead for ActivityIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        if !this.replay.is_empty() {
            let n = this.replay.len().min(buf.remaining());
            buf.put_slice(&this.replay[..n]);
            if n == this.replay.len() {
                // Frees the page it was read into, rather than keeping it as long as the
                // connection.
                *this.replay = Bytes::new();
            } else {
                bytes::Buf::advance(this.replay, n);
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let result = this.inner.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.control.record_read();
        }
        result
    }
}

/// Writes `bufs` unless one is a file placeholder ([`crate::sendfile`]): then writes the buffers
/// before it, or sends the file region it stands for. `None` when there is no placeholder.
#[cfg(sendfile)]
fn write_placeholders<T>(
    inner: Pin<&mut T>,
    regions: &crate::sendfile::Regions,
    written: u64,
    cx: &mut Context<'_>,
    bufs: &[std::io::IoSlice<'_>],
) -> Option<Poll<std::io::Result<usize>>>
where
    T: tokio::io::AsyncWrite + 'static,
{
    let at = bufs
        .iter()
        .position(|buf| crate::sendfile::is_placeholder(buf))?;
    if at > 0 {
        return Some(inner.poll_write_vectored(cx, &bufs[..at]));
    }
    let tcp = (Pin::into_ref(inner).get_ref() as &dyn std::any::Any)
        .downcast_ref::<tokio::net::TcpStream>();
    Some(match tcp {
        Some(tcp) => regions.poll_send(tcp, cx, &bufs[0], written),
        None => Poll::Ready(Err(std::io::Error::other(
            "a file placeholder on a socket that cannot send files (not sent)",
        ))),
    })
}

impl<T> tokio::io::AsyncWrite for ActivityIo<T>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + 'static,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        #[cfg_attr(not(sendfile), allow(unused_mut))]
        let mut this = self.project();
        #[cfg(sendfile)]
        if let Some(regions) = this.control.sendfile() {
            let bufs = [std::io::IoSlice::new(buf)];
            if let Some(result) = write_placeholders(
                this.inner.as_mut(),
                regions,
                this.control.written(),
                cx,
                &bufs,
            ) {
                this.control.record_write(&result);
                return result;
            }
        }
        let result = this.inner.poll_write(cx, buf);
        this.control.record_write(&result);
        result
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    /// Shuts the output down, then, when the client may still be sending (there is unread
    /// input, or a request had a body), reads and discards what it sends until it closes, for
    /// at most the lingering time and bytes. Closing with unread input would make the kernel
    /// answer with a reset, which destroys the end of the response not yet read by the client.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let mut this = self.project();
        loop {
            match this.lingering {
                Lingering::Open => {
                    ready!(this.inner.as_mut().poll_shutdown(cx))?;
                    *this.lingering = match this.linger.time {
                        Some(time) if this.linger.bytes > 0 => Lingering::Draining {
                            time,
                            until: None,
                            left: this.linger.bytes,
                        },
                        _ => Lingering::Done,
                    };
                }
                Lingering::Draining { time, until, left } => {
                    let mut scratch = [0u8; 8192];
                    let mut buf = tokio::io::ReadBuf::new(&mut scratch);
                    match this.inner.as_mut().poll_read(cx, &mut buf) {
                        Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                            *left = left.saturating_sub(buf.filled().len() as u64);
                            if *left == 0 {
                                *this.lingering = Lingering::Done;
                            }
                        }
                        // The client closed (or reset): done.
                        Poll::Ready(_) => *this.lingering = Lingering::Done,
                        Poll::Pending if !this.control.body_seen() => {
                            // Nothing unread and no body on its way: nothing to wait for.
                            *this.lingering = Lingering::Done;
                        }
                        Poll::Pending => {
                            let time = *time;
                            let until =
                                until.get_or_insert_with(|| Box::pin(tokio::time::sleep(time)));
                            ready!(until.as_mut().poll(cx));
                            *this.lingering = Lingering::Done;
                        }
                    }
                }
                Lingering::Done => return Poll::Ready(Ok(())),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        #[cfg_attr(not(sendfile), allow(unused_mut))]
        let mut this = self.project();
        #[cfg(sendfile)]
        if let Some(regions) = this.control.sendfile() {
            if let Some(result) = write_placeholders(
                this.inner.as_mut(),
                regions,
                this.control.written(),
                cx,
                bufs,
            ) {
                this.control.record_write(&result);
                return result;
            }
        }
        let mut scratch = [MaybeUninit::uninit(); GATHER_LIMIT];
        let result = match gather(bufs, &mut scratch) {
            Some(gathered) => this.inner.poll_write(cx, gathered.filled()),
            None => this.inner.poll_write_vectored(cx, bufs),
        };
        this.control.record_write(&result);
        result
    }
}

/// Vectored writes of at most this many bytes in all go out as one plain write.
const GATHER_LIMIT: usize = 4096;

/// `bufs` copied one after the other into `scratch`, when there are several and they fit: a
/// small response (hyper's head, then the body: two slices, or more with chunked encoding) then
/// costs one plain write instead of a `writev`, whose vector the kernel copies in, checks and
/// walks first, for a copy of a few hundred bytes here (`cargo bench --bench handler --
/// writes`). `None` otherwise: large bodies are written from where they are.
fn gather<'a>(
    bufs: &[std::io::IoSlice<'_>],
    scratch: &'a mut [MaybeUninit<u8>; GATHER_LIMIT],
) -> Option<tokio::io::ReadBuf<'a>> {
    if bufs.len() < 2 || bufs.iter().map(|buf| buf.len()).sum::<usize>() > GATHER_LIMIT {
        return None;
    }
    let mut gathered = tokio::io::ReadBuf::uninit(scratch);
    for buf in bufs {
        gathered.put_slice(buf);
    }
    Some(gathered)
}

/// The hyper service of one connection: refuses the requests whose framing is ambiguous,
/// then tracks each request until its response is done, in a `request` span (target
/// [`SPAN_TARGET`](crate::log::SPAN_TARGET)).
pub(crate) struct ConnService<S> {
    inner: S,
    control: Arc<Control>,
    remote: SocketAddr,
    require_host: bool,
}

impl<S> ConnService<S> {
    pub(crate) fn new(
        inner: S,
        control: Arc<Control>,
        remote: SocketAddr,
        require_host: bool,
    ) -> Self {
        Self {
            inner,
            control,
            remote,
            require_host,
        }
    }
}

impl<S, ReqBody, ResBody> hyper::service::Service<Request<ReqBody>> for ConnService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ReqBody: http_body::Body,
    ResBody: 'static,
{
    type Response = Response<TrackedBody<ResBody>>;
    type Error = S::Error;
    type Future = TrackedFuture<Instrumented<Oneshot<S, Request<ReqBody>>>>;

    fn call(&self, request: Request<ReqBody>) -> Self::Future {
        self.control.saw_body(!request.body().is_end_stream());
        if let Err(refusal) = framing::check(&request, self.require_host) {
            return TrackedFuture::Refused {
                response: Some(refusal.respond(&self.remote, &request)),
            };
        }
        // Disabled unless a subscriber asks for it: then this is one cached interest check.
        // HTTP/2 requests carry the authority in their URI; the target is what Python logs.
        let uri = request.uri();
        let target: &dyn fmt::Display = match uri.path_and_query() {
            Some(path) if request.version() == http::Version::HTTP_2 => path,
            _ => uri,
        };
        let span = tracing::info_span!(
            target: "basehttp::request",
            "request",
            method = %request.method(),
            target = %target,
            version = ?request.version(),
            client = %self.remote.ip(),
        );
        TrackedFuture::Serving {
            // A clone per request, as tower asks: a service's `poll_ready` may reserve something
            // (a permit, a queue slot) that only this request's future may hold. Calling the
            // connection's own service in place when it says it is ready was tried and dropped:
            // tower's `LoadShed` says ready while the service under it waits for a permit, and
            // that wait would then stay queued with nobody to poll it.
            future: self.inner.clone().oneshot(request).instrument(span),
            guard: Some(InFlight::new(self.control.clone())),
        }
    }
}

pin_project! {
    /// The response future of [`ConnService`].
    #[project = TrackedFutureProj]
    pub(crate) enum TrackedFuture<F> {
        Serving {
            #[pin]
            future: F,
            guard: Option<InFlight>,
        },
        Refused {
            response: Option<Response<Bytes>>,
        },
    }
}

impl<F, B, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: 'static,
{
    type Output = Result<Response<TrackedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            TrackedFutureProj::Serving { future, guard } => {
                let response = ready!(future.poll(cx))?;
                let Some(guard) = guard.take() else {
                    return Poll::Pending;
                };
                Poll::Ready(Ok(response.map(|body| TrackedBody::new(body, guard))))
            }
            TrackedFutureProj::Refused { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(
                    response.map(|page| TrackedBody::Page { page: Some(page) })
                )),
                None => Poll::Pending,
            },
        }
    }
}

/// How far a response body may run ahead of the socket on HTTP/1: a chunk is handed to hyper
/// only once everything before it has been written, so a client that does not read holds at
/// most one chunk of the server's memory (plus what the kernel buffers).
const AHEAD: u64 = 0;

pin_project! {
    /// A response body that tells the connection when it is done, and that waits for the client
    /// to read before producing more.
    #[project = TrackedBodyProj]
    pub(crate) enum TrackedBody<B> {
        Body {
            #[pin]
            body: B,
            guard: InFlight,
            // HTTP/1: bytes handed to hyper, and the socket's count of bytes written when the
            // response started.
            yielded: u64,
            written_at_start: u64,
            // HTTP/2: this response's slot in the connection's table of waiting responses.
            slot: Option<usize>,
        },
        /// A page the connection itself answered with.
        Page { page: Option<Bytes> },
    }

    impl<B> PinnedDrop for TrackedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let TrackedBodyProj::Body { guard, slot: Some(slot), .. } = this.project() {
                guard.0.free_slot(*slot);
            }
        }
    }
}

impl<B: 'static> TrackedBody<B> {
    fn new(
        #[cfg_attr(not(feature = "fs"), allow(unused_mut))] mut body: B,
        guard: InFlight,
    ) -> Self {
        let control = &guard.0;
        let slot = control.is_multiplexed().then(|| control.wait_slot());
        // A file body nothing has wrapped: paced by this socket on HTTP/1, and sent with
        // `sendfile` where the connection can.
        #[cfg(feature = "fs")]
        if let Some(body) = (&mut body as &mut dyn std::any::Any).downcast_mut::<crate::Body>() {
            body.attach(control, slot.is_none());
        }
        let written_at_start = control.written();
        Self::Body {
            body,
            guard,
            yielded: 0,
            written_at_start,
            slot,
        }
    }
}

impl<B> http_body::Body for TrackedBody<B>
where
    B: http_body::Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project() {
            TrackedBodyProj::Body {
                body,
                guard,
                yielded,
                written_at_start,
                slot,
            } => {
                let control = &guard.0;
                if let Some(slot) = *slot {
                    // HTTP/2 asks for more only when the client's window has room.
                    control.set_waiting(slot, false);
                    let frame = ready!(body.poll_frame(cx));
                    if matches!(&frame, Some(Ok(f)) if f.is_data()) {
                        control.set_waiting(slot, true);
                    }
                    return Poll::Ready(frame);
                }
                if *yielded > control.written().saturating_sub(*written_at_start) + AHEAD {
                    // Resumed by the next write, from this same task.
                    control.park();
                    if *yielded > control.written().saturating_sub(*written_at_start) + AHEAD {
                        return Poll::Pending;
                    }
                }
                let frame = ready!(body.poll_frame(cx));
                if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref)) {
                    *yielded += data.map_or(0, |d| d.len() as u64);
                }
                Poll::Ready(frame)
            }
            TrackedBodyProj::Page { page } => Poll::Ready(page.take().map(|p| Ok(Frame::data(p)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Body { body, .. } => body.is_end_stream(),
            Self::Page { page } => page.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Body { body, .. } => body.size_hint(),
            Self::Page { page } => {
                SizeHint::with_exact(page.as_ref().map_or(0, |p| p.len() as u64))
            }
        }
    }
}

#[cfg(all(test, feature = "fs", target_os = "linux"))]
mod tests {
    use super::*;
    use crate::static_files::{FileBody, Segment};
    use http_body_util::BodyExt;
    use std::io::Write;
    use tokio::io::AsyncWriteExt;

    /// The socket's wrapper forgets the descriptor before the socket closes: a body that asks
    /// afterwards gets no answer, even when the number now belongs to another socket.
    #[tokio::test]
    async fn a_closed_socket_is_not_asked_about() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let control = Arc::new(Control::default());
        let linger = Linger {
            time: None,
            bytes: 0,
        };
        let io = ActivityIo::new(server, control.clone(), linger);
        assert!(control.outgoing().is_some());
        let number = std::os::fd::AsRawFd::as_raw_fd(io.get_ref());
        drop(io);
        // New sockets take the lowest free numbers: connect until one has the closed socket's
        // (another test's thread may take it first; then any number will do).
        let mut others = Vec::new();
        for _ in 0..256 {
            let other = std::net::TcpStream::connect(addr).unwrap();
            let reused = std::os::fd::AsRawFd::as_raw_fd(&other) == number;
            others.push(other);
            if reused {
                break;
            }
        }
        assert_eq!(control.outgoing(), None);
    }

    /// The server's side of one connection on `server` answering with the file at `path`, as
    /// the connection driver builds it: the socket's wrapper first (it records the socket), then
    /// the file body in the response wrapper (which hands it the connection).
    fn serve_file(
        server: tokio::net::TcpStream,
        path: &std::path::Path,
        len: usize,
    ) -> (
        Arc<Control>,
        ActivityIo<tokio::net::TcpStream>,
        Pin<Box<TrackedBody<crate::Body>>>,
    ) {
        let control = Arc::new(Control::default());
        let linger = Linger {
            time: None,
            bytes: 0,
        };
        let io = ActivityIo::new(server, control.clone(), linger);
        let segments = vec![Segment::File {
            start: 0,
            len: len as u64,
        }];
        let file = FileBody::new(std::fs::File::open(path).unwrap(), segments);
        let body = crate::Body::file(file);
        let body = Box::pin(TrackedBody::new(body, InFlight::new(control.clone())));
        (control, io, body)
    }

    /// What the socket under [`ActivityIo`] was asked to write: plain writes and vectored ones,
    /// taking at most `max` bytes a call.
    struct Recorder {
        plain: Vec<Vec<u8>>,
        vectored: Vec<Vec<Vec<u8>>>,
        max: usize,
    }

    impl tokio::io::AsyncRead for Recorder {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl tokio::io::AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let n = buf.len().min(self.max);
            self.plain.push(buf.to_vec());
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[std::io::IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            let n = bufs
                .iter()
                .map(|buf| buf.len())
                .sum::<usize>()
                .min(self.max);
            self.vectored
                .push(bufs.iter().map(|buf| buf.to_vec()).collect());
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A small response (hyper's head and a short body, or the pieces of a chunk) reaches the
    /// socket as one plain write of the slices one after the other; a large one is written
    /// vectored from where it is; a short write is reported as the socket made it, and counted.
    #[tokio::test]
    async fn small_vectored_writes_go_out_as_one_write() {
        let control = Arc::new(Control::default());
        let linger = Linger {
            time: None,
            bytes: 0,
        };
        let recorder = Recorder {
            plain: Vec::new(),
            vectored: Vec::new(),
            max: usize::MAX,
        };
        let mut io = ActivityIo::new(recorder, control.clone(), linger);
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n".to_vec();
        let body = vec![b'x'; 1024];
        let bufs = [std::io::IoSlice::new(&head), std::io::IoSlice::new(&body)];
        let n = io.write_vectored(&bufs).await.unwrap();
        assert_eq!(n, head.len() + body.len());
        assert_eq!(io.get_ref().plain, [[head.clone(), body.clone()].concat()]);
        assert!(io.get_ref().vectored.is_empty());

        // Past the limit: vectored, as hyper gave it.
        let large = vec![b'y'; GATHER_LIMIT];
        let bufs = [std::io::IoSlice::new(&head), std::io::IoSlice::new(&large)];
        let n = io.write_vectored(&bufs).await.unwrap();
        assert_eq!(n, head.len() + GATHER_LIMIT);
        assert_eq!(io.get_ref().plain.len(), 1);
        assert_eq!(io.get_ref().vectored, [vec![head.clone(), large]]);

        // One slice needs no gathering.
        let n = io
            .write_vectored(&[std::io::IoSlice::new(&body)])
            .await
            .unwrap();
        assert_eq!(n, body.len());
        assert_eq!(io.get_ref().vectored.len(), 2);

        // A socket that takes part of it: that part is what the write says, and what counts.
        let before = control.written();
        let mut short = ActivityIo::new(
            Recorder {
                plain: Vec::new(),
                vectored: Vec::new(),
                max: 100,
            },
            control.clone(),
            linger,
        );
        let bufs = [std::io::IoSlice::new(&head), std::io::IoSlice::new(&body)];
        assert_eq!(short.write_vectored(&bufs).await.unwrap(), 100);
        assert_eq!(control.written() - before, 100);
        assert_eq!(short.get_ref().plain, [[head, body].concat()]);
    }

    /// The server's own pieces, on a real socket: the socket wrapper tells a file body the
    /// connection's socket, the response wrapper hands the body the connection, and the body's
    /// reads grow while the client keeps up.
    #[tokio::test]
    async fn a_file_body_reads_more_at_once_for_a_client_that_keeps_up() {
        let len = 4 << 20;
        let content: Vec<u8> = (0..=250u8).cycle().take(len).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&content)
            .unwrap();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (count, mut read) = tokio::sync::watch::channel(0);
        let reader = std::thread::spawn(move || {
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            let mut got = Vec::new();
            loop {
                let n = std::io::Read::read(&mut client, &mut buf).unwrap();
                if n == 0 {
                    return got;
                }
                got.extend_from_slice(&buf[..n]);
                count.send_replace(got.len());
            }
        });
        let (server, _) = listener.accept().await.unwrap();
        let (control, mut io, mut body) = serve_file(server, &path, len);
        let mut sizes = Vec::new();
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            sizes.push(data.len());
            io.write_all(&data).await.unwrap();
            let written = control.written() as usize;
            read.wait_for(|&n| n >= written).await.unwrap();
        }
        drop(body);
        io.shutdown().await.unwrap();
        drop(io);
        assert!(reader.join().unwrap() == content, "the bytes differ");
        // 64, 128, 256, then 512 KiB to the end (4 MiB in 11 reads, the last one short).
        assert_eq!(
            sizes[..4],
            [64 << 10, 128 << 10, 256 << 10, 512 << 10],
            "{sizes:?}"
        );
        assert!(
            sizes.len() == 11 && sizes[3..10].iter().all(|&n| n == 512 << 10),
            "{sizes:?}"
        );
    }

    /// A client that reads fast, then stops: its reads grew, but none past what the socket's
    /// send buffer could take whole, so when the socket is full the server holds at most one
    /// read of 64 KiB for it (a 512 KiB read issued while the client still acknowledged
    /// everything left most of itself in the server's memory).
    #[tokio::test]
    async fn a_client_that_stops_after_a_fast_start_leaves_at_most_one_small_read() {
        const STOP: usize = 960 << 10;
        let len = 16 << 20;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'x'; len]).unwrap();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (count, mut read) = tokio::sync::watch::channel(0);
        let (finish, finished) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            // A fixed, small receive buffer: the client's kernel stops acknowledging soon
            // after the client stops reading.
            let socket =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            socket.set_recv_buffer_size(64 << 10).unwrap();
            socket.connect(&addr.into()).unwrap();
            let mut client = std::net::TcpStream::from(socket);
            let mut buf = vec![0u8; 1 << 20];
            let mut got = 0;
            while got < STOP {
                let n = std::io::Read::read(&mut client, &mut buf[..STOP - got]).unwrap();
                assert!(n > 0, "the server closed early");
                got += n;
                count.send_replace(got);
            }
            // Stopped: read again only once the server has measured what it holds.
            finished.recv().unwrap();
            let mut rest = Vec::new();
            std::io::Read::read_to_end(&mut client, &mut rest).unwrap();
            got + rest.len()
        });
        let (server, _) = listener.accept().await.unwrap();
        // The kernel doubles this: a send buffer of 768 KiB, which a 512 KiB read would not
        // fit in beside what the stopped client has not acknowledged.
        socket2::SockRef::from(&server)
            .set_send_buffer_size(384 << 10)
            .unwrap();
        let (control, io, mut body) = serve_file(server, &path, len);
        let mut io = Box::pin(io);

        // While the client reads, each read goes out whole and is read before the next.
        let mut sizes = Vec::new();
        while (control.written() as usize) < STOP {
            let data = body.frame().await.unwrap().unwrap().into_data().unwrap();
            sizes.push(data.len());
            io.write_all(&data).await.unwrap();
            let written = (control.written() as usize).min(STOP);
            read.wait_for(|&n| n >= written).await.unwrap();
        }
        assert!(
            sizes.iter().any(|&n| n > 64 << 10),
            "reads never grew: {sizes:?}"
        );
        // The client has stopped: write until the socket is full.
        let held = loop {
            let data = body.frame().await.unwrap().unwrap().into_data().unwrap();
            sizes.push(data.len());
            let mut at = 0;
            while at < data.len() {
                let step = std::future::poll_fn(|cx| {
                    Poll::Ready(tokio::io::AsyncWrite::poll_write(
                        io.as_mut(),
                        cx,
                        &data[at..],
                    ))
                })
                .await;
                match step {
                    Poll::Ready(n) => at += n.unwrap(),
                    Poll::Pending => break,
                }
            }
            if at < data.len() {
                break data.len() - at;
            }
            assert!(
                (control.written() as usize) < len,
                "the socket never filled: {sizes:?}"
            );
        };
        assert!(
            held <= 64 << 10,
            "{held} bytes held for a client that stopped (reads {sizes:?})"
        );
        finish.send(()).unwrap();
        // The rest of the body, so the client's count can be checked.
        drop(body);
        drop(io);
        let got = reader.join().unwrap();
        assert_eq!(got as u64, control.written());
    }
}
