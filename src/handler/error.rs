//! [`HeaderError`]: why a response head could not be sent.

use std::fmt;
use std::io;

/// Why [`end_headers`](super::Exchange::end_headers) could not send the response head.
///
/// Python writes whatever it is given into the head; basehttp refuses what would break the
/// response or let a request inject headers, and says so here. Returned with `?` from a `do_*`
/// method, it becomes Python's `500` page and a logged error. It converts into
/// [`std::io::Error`] (`InvalidInput`) for code that works with I/O errors.
///
/// ```
/// use basehttp::prelude::*;
/// use basehttp::handler::HeaderError;
///
/// struct Evil;
///
/// impl HttpRequestHandler for Evil {
///     async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
///         ex.send_response(200);
///         ex.send_header("X-Evil", "a\r\nSet-Cookie: x=1");
///         let refused = ex.end_headers().unwrap_err();
///         assert!(matches!(refused, HeaderError::InvalidValue { .. }));
///         ex.send_error(500);
///         Ok(())
///     }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// `send_header` with a name that is not a valid header name.
    InvalidName(String),
    /// `send_header` with a value holding CR, LF or another control character, or a character
    /// outside ISO-8859-1.
    InvalidValue {
        /// The header name, as given.
        name: String,
        /// The value, as given.
        value: String,
    },
    /// A `Content-Length` that is not a number, or that contradicts one already sent.
    InvalidContentLength(String),
    /// `send_response` with a code outside 100–999.
    InvalidStatus(u16),
    /// `end_headers()` without a `send_response()` first.
    NoStatusLine,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(name) => write!(f, "invalid header name {name:?}"),
            Self::InvalidValue { name, value } => {
                write!(f, "invalid value for header {name:?}: {value:?}")
            }
            Self::InvalidContentLength(value) => write!(f, "invalid Content-Length {value:?}"),
            Self::InvalidStatus(code) => write!(f, "status code {code} cannot be sent"),
            Self::NoStatusLine => f.write_str("end_headers() without send_response()"),
        }
    }
}

impl std::error::Error for HeaderError {}

impl From<HeaderError> for io::Error {
    fn from(err: HeaderError) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, err)
    }
}
