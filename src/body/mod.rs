//! The body type of every request and response basehttp's services produce, and the pipe
//! that carries a handler's `wfile` to its response.

use std::any::Any;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

use crate::BoxError;

pub(crate) mod pipe;

use self::pipe::PipeBody;

/// A request or response body: empty, a complete buffer, a handler's streamed output, or any
/// other [`http_body::Body`] boxed.
///
/// It implements [`http_body::Body`] with `Data = Bytes` and `Error = BoxError`, so responses
/// built from it plug into hyper, axum (`IntoResponse`) and tower-http middleware. It is `Send`
/// but not `Sync`, like tower-http's response bodies.
///
/// ```
/// use basehttp::Body;
/// use http_body::Body as _;
///
/// let body = Body::from("Hello, world!");
/// assert_eq!(body.size_hint().exact(), Some(13));
/// assert!(Body::empty().is_end_stream());
/// ```
pub struct Body {
    kind: Kind,
    /// Set on responses a basehttp handler produced (and logged): an outer handler leaves them
    /// alone after a fall-through.
    answered: bool,
}

enum Kind {
    Empty,
    Full(Option<Bytes>),
    /// All a handler that has returned wrote to `wfile`: sized like the pipe it comes from,
    /// inexactly: without the handler's `Content-Length`, hyper frames it as Python would.
    Written(Option<Bytes>),
    Pipe(PipeBody),
    /// hyper's request body, kept unboxed: the common case for `rfile`.
    Incoming(hyper::body::Incoming),
    /// Bytes already taken from a stream, then the rest of it (a partly read request body, a
    /// CGI script's output after its header block).
    Prefixed(Option<Bytes>, Box<Body>),
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
    /// A file (`StaticFiles`), kept apart so the server can send it with `sendfile`; boxed, as
    /// it is twice the size of the other kinds and every response is moved several times on
    /// its way to the socket (a file read from disk costs that allocation, nothing else does).
    #[cfg(feature = "fs")]
    File(Box<crate::static_files::FileBody>),
}

impl Body {
    /// An empty body.
    pub const fn empty() -> Self {
        Self::of(Kind::Empty)
    }

    const fn of(kind: Kind) -> Self {
        Self {
            kind,
            answered: false,
        }
    }

    pub(crate) fn answered(mut self) -> Self {
        self.answered = true;
        self
    }

    pub(crate) fn is_answered(&self) -> bool {
        self.answered
    }

    /// Wraps any body. A `Body` passed in is returned as is, not boxed again.
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let mut slot = Some(body);
        let any = &mut slot as &mut dyn Any;
        if let Some(body) = any.downcast_mut::<Option<Self>>() {
            if let Some(body) = body.take() {
                return body;
            }
        }
        if let Some(incoming) = any.downcast_mut::<Option<hyper::body::Incoming>>() {
            if let Some(incoming) = incoming.take() {
                return Self::of(Kind::Incoming(incoming));
            }
        }
        match slot {
            Some(body) => Self::of(Kind::Boxed(body.map_err(Into::into).boxed_unsync())),
            None => Self::empty(),
        }
    }

    /// A file's body.
    #[cfg(feature = "fs")]
    pub(crate) fn file(body: crate::static_files::FileBody) -> Self {
        Self::of(Kind::File(Box::new(body)))
    }

    /// Hands a file body the connection that writes it (the server's call, as it hands the
    /// response to hyper): its reads grow while the socket keeps up (`paced`, HTTP/1), and
    /// what is in the page cache goes out with `sendfile` where the connection can.
    #[cfg(feature = "fs")]
    pub(crate) fn attach(
        &mut self,
        control: &std::sync::Arc<crate::connection::Control>,
        paced: bool,
    ) {
        if let Kind::File(file) = &mut self.kind {
            file.attach(control, paced);
        }
    }

    /// What a handler that has returned wrote, whole.
    pub(crate) fn written(bytes: Bytes) -> Self {
        Self::of(Kind::Written(Some(bytes)))
    }

    pub(crate) fn pipe(body: PipeBody) -> Self {
        Self::of(Kind::Pipe(body))
    }

    /// `prefix`, then `rest`.
    pub(crate) fn prefixed(prefix: Bytes, rest: Self) -> Self {
        if prefix.is_empty() {
            return rest;
        }
        Self::of(Kind::Prefixed(Some(prefix), Box::new(rest)))
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Empty => "Empty",
            Kind::Full(_) => "Full",
            Kind::Written(_) => "Written",
            Kind::Pipe(_) => "Pipe",
            Kind::Incoming(_) => "Incoming",
            Kind::Prefixed(..) => "Prefixed",
            Kind::Boxed(_) => "Boxed",
            #[cfg(feature = "fs")]
            Kind::File(_) => "File",
        };
        f.debug_tuple("Body").field(&kind).finish()
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        if bytes.is_empty() {
            Self::empty()
        } else {
            Self::of(Kind::Full(Some(bytes)))
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Self::from(Bytes::from(bytes))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Self::from(Bytes::from(s))
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Self::from(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Self::from(Bytes::from_static(s))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Written(bytes) => Poll::Ready(
                bytes
                    .take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
            Kind::Pipe(body) => body.poll_frame(cx),
            Kind::Incoming(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            Kind::Prefixed(prefix, rest) => match prefix.take() {
                Some(prefix) => Poll::Ready(Some(Ok(Frame::data(prefix)))),
                None => Pin::new(&mut **rest).poll_frame(cx),
            },
            Kind::Boxed(body) => Pin::new(body).poll_frame(cx),
            #[cfg(feature = "fs")]
            Kind::File(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(bytes) | Kind::Written(bytes) => bytes.is_none(),
            Kind::Pipe(_) => false,
            Kind::Incoming(body) => body.is_end_stream(),
            Kind::Prefixed(prefix, rest) => prefix.is_none() && rest.is_end_stream(),
            Kind::Boxed(body) => body.is_end_stream(),
            #[cfg(feature = "fs")]
            Kind::File(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Written(_) => SizeHint::default(),
            Kind::Pipe(body) => body.size_hint(),
            Kind::Incoming(body) => body.size_hint(),
            Kind::Prefixed(prefix, rest) => {
                let rest = rest.size_hint();
                let len = prefix.as_ref().map_or(0, |p| p.len() as u64);
                let mut hint = SizeHint::new();
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper + len);
                }
                hint.set_lower(rest.lower() + len);
                hint
            }
            Kind::Boxed(body) => body.size_hint(),
            #[cfg(feature = "fs")]
            Kind::File(body) => body.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    /// Every response is moved several times on its way to hyper: its body stays the size of
    /// its larger common kinds (a handler's pipe), the file body boxed.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_body_stays_small() {
        assert!(
            std::mem::size_of::<Body>() <= 64,
            "{} bytes",
            std::mem::size_of::<Body>()
        );
        assert!(std::mem::size_of::<http::Response<Body>>() <= 176);
    }

    #[tokio::test]
    async fn new_does_not_rebox_a_body() {
        let body = Body::new(Body::from("abc"));
        assert!(matches!(body.kind, Kind::Full(_)));
        let collected = body.collect().await.map(|c| c.to_bytes()).ok();
        assert_eq!(collected.as_deref(), Some(&b"abc"[..]));
    }

    #[tokio::test]
    async fn a_prefix_comes_first() {
        let body = Body::prefixed(Bytes::from_static(b"ab"), Body::from("cd"));
        assert_eq!(body.size_hint().exact(), Some(4));
        let collected = body.collect().await.map(|c| c.to_bytes()).ok();
        assert_eq!(collected.as_deref(), Some(&b"abcd"[..]));
        assert!(matches!(
            Body::prefixed(Bytes::new(), Body::empty()).kind,
            Kind::Empty
        ));
    }

    #[tokio::test]
    async fn new_boxes_foreign_bodies() {
        let body = Body::new(http_body_util::Full::new(Bytes::from_static(b"xyz")));
        assert!(matches!(body.kind, Kind::Boxed(_)));
        assert_eq!(body.size_hint().exact(), Some(3));
        let collected = body.collect().await.map(|c| c.to_bytes()).ok();
        assert_eq!(collected.as_deref(), Some(&b"xyz"[..]));
    }
}
