//! Python's response rules as pure functions: the status-line version, when connections
//! close, reason phrases, the request line, the `Server` header. The [`Exchange`] applies them
//! to every response, whichever service makes it.
//!
//! [`Exchange`]: super::Exchange

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{StatusCode, Version};
use hyper::ext::ReasonPhrase;

use crate::connection::ConnectionInfo;

/// Python's `self.path` before the `//` collapse: the request target as sent.
pub(crate) fn request_target(uri: &http::Uri, version: Version) -> Cow<'_, str> {
    let absolute_form =
        matches!(version, Version::HTTP_10 | Version::HTTP_11) && uri.scheme().is_some();
    if absolute_form {
        return Cow::Owned(uri.to_string());
    }
    match uri.path_and_query() {
        Some(pq) => Cow::Borrowed(pq.as_str()),
        // CONNECT host:port
        None => Cow::Borrowed(uri.authority().map_or("", |a| a.as_str())),
    }
}

/// Python's `self.path`: the target with leading slashes collapsed to one (gh-87389,
/// CVE-2021-28861: `//evil.com/x` must never reach a `Location` header as is).
pub(crate) fn collapse_slashes(target: &str) -> Cow<'_, str> {
    if target.starts_with("//") {
        Cow::Owned(format!("/{}", target.trim_start_matches('/')))
    } else {
        Cow::Borrowed(target)
    }
}

/// The connection a request arrived on: its extension, else the server's task-local.
pub(crate) fn connection_info(parts: &http::request::Parts) -> Option<ConnectionInfo> {
    parts
        .extensions
        .get::<ConnectionInfo>()
        .cloned()
        .or_else(ConnectionInfo::current)
}

/// Whether the request went through an axum `Router` (which records the `OriginalUri` of every
/// request it routes, when its `original-uri` feature is on, as the crate's `axum` feature
/// turns it on).
pub(crate) fn under_router(parts: &http::request::Parts) -> bool {
    #[cfg(feature = "axum")]
    {
        parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .is_some()
    }
    #[cfg(not(feature = "axum"))]
    {
        let _ = parts;
        false
    }
}

/// The request fields Python's `parse_request` acts on, found in one pass: a request has few
/// fields, and comparing a name is cheaper than a hashed lookup per field.
#[derive(Debug, Default)]
pub(crate) struct RequestFields<'a> {
    /// The first `Connection` value.
    pub(crate) connection: Option<&'a HeaderValue>,
    /// Whether the first `Expect` value is `100-continue`.
    pub(crate) expect_continue: bool,
}

impl<'a> RequestFields<'a> {
    pub(crate) fn of(headers: &'a HeaderMap) -> Self {
        let mut fields = Self::default();
        let mut expect = None;
        for (name, value) in headers {
            if name == header::CONNECTION {
                fields.connection.get_or_insert(value);
            } else if name == header::EXPECT {
                expect.get_or_insert(value);
            }
        }
        fields.expect_continue =
            expect.is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        fields
    }
}

/// Python's `close_connection` after `parse_request`: `connection` is the request's first
/// `Connection` value.
pub(crate) fn initial_close_connection(
    version: Version,
    connection: Option<&HeaderValue>,
    protocol: Version,
) -> bool {
    let mut close = !(version >= Version::HTTP_11 && protocol >= Version::HTTP_11);
    if let Some(conn) = connection {
        let conn = conn.as_bytes();
        if conn.eq_ignore_ascii_case(b"close") {
            close = true;
        } else if conn.eq_ignore_ascii_case(b"keep-alive") && protocol >= Version::HTTP_11 {
            close = false;
        }
    }
    close
}

/// The version hyper can put in a status line for Python's `protocol_version`.
pub(crate) fn status_line_version(protocol: Version) -> Version {
    if protocol <= Version::HTTP_10 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    }
}

pub(crate) fn version_str(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

pub(crate) fn has_token(value: &HeaderValue, token: &str) -> bool {
    value
        .as_bytes()
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Encodes UTF-8 text as ISO-8859-1, as Python does for status lines and headers; `None` if a
/// character does not fit (or the bytes are not UTF-8).
pub(crate) fn latin1_bytes(utf8: &[u8]) -> Option<Cow<'_, [u8]>> {
    if utf8.is_ascii() {
        return Some(Cow::Borrowed(utf8));
    }
    std::str::from_utf8(utf8)
        .ok()?
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect::<Option<Vec<u8>>>()
        .map(Cow::Owned)
}

/// `length` as a `Content-Length` value, made with one allocation (`http`'s
/// `HeaderValue::from(u64)` makes two: its digits, then its buffer's conversion).
///
/// Not kept and shared across responses: on this machine an allocation and a free from the
/// allocator's per-thread cache cost less than the reference count up and down a shared
/// value would (`cargo bench --bench handler -- atomics`).
pub(crate) fn content_length(length: u64) -> HeaderValue {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut rest = length;
    loop {
        at -= 1;
        // A digit: the remainder is below 10.
        buf[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    // Digits are always a valid value; the fallback is `http`'s own conversion.
    HeaderValue::from_maybe_shared(Bytes::copy_from_slice(&buf[at..]))
        .unwrap_or_else(|_| HeaderValue::from(length))
}

/// A reason phrase for a free-text message. Python sends the message as is; bytes that would
/// break the status line (CR, LF, other controls) become spaces and characters outside
/// ISO-8859-1 become `?`.
pub(crate) fn reason_from_message(message: &str) -> ReasonPhrase {
    let bytes: Vec<u8> = message
        .chars()
        .map(|c| match u8::try_from(u32::from(c)) {
            Ok(b'\t') => b'\t',
            Ok(b) if b < 0x20 || b == 0x7f => b' ',
            Ok(b) => b,
            Err(_) => b'?',
        })
        .collect();
    ReasonPhrase::try_from(bytes).unwrap_or_else(|_| ReasonPhrase::from_static(b""))
}

/// The `ReasonPhrase` to attach for Python's phrase `python`, if it differs from hyper's.
/// Phrases from the built-in table cost no allocation.
pub(crate) fn python_reason(status: StatusCode, python: &str) -> Option<ReasonPhrase> {
    if status.canonical_reason() == Some(python) {
        return None;
    }
    match crate::status::phrase(status.as_u16()) {
        Some(phrase) if phrase == python => Some(ReasonPhrase::from_static(phrase.as_bytes())),
        _ => Some(reason_from_message(python)),
    }
}

/// Gives a response Python's connection handling: the status line carries `protocol`, and the
/// connection closes after it (`close`) or is kept. hyper needs to be told: basehttp's own
/// server closes without a header, elsewhere `Connection: close` is added; an HTTP/1.0 client
/// whose keep-alive is honoured gets `Connection: keep-alive`. HTTP/2 and HTTP/3 have no
/// connection headers.
pub(crate) fn finish_head(
    request_version: Version,
    protocol: Version,
    close: bool,
    conn: Option<&ConnectionInfo>,
    version: &mut Version,
    headers: &mut HeaderMap,
) {
    match request_version {
        Version::HTTP_10 | Version::HTTP_11 => {
            *version = status_line_version(protocol);
            // One pass (a head has few fields): whether a `Connection` field says `close`.
            let (mut has_connection, mut says_close) = (false, false);
            for (name, value) in &*headers {
                if name == header::CONNECTION {
                    has_connection = true;
                    says_close = says_close || has_token(value, "close");
                }
            }
            if close {
                if says_close {
                    return;
                }
                match conn {
                    // Our server closes after the response without adding a header, like Python.
                    Some(conn) if conn.can_close() => conn.close_after_response(),
                    _ => {
                        headers.append(header::CONNECTION, HeaderValue::from_static("close"));
                    }
                }
            } else if request_version == Version::HTTP_10 && !has_connection {
                headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
            }
        }
        _ => {
            headers.remove(header::CONNECTION);
        }
    }
}

/// Python's `requestline`: `GET /path HTTP/1.1`, the target decoded as ISO-8859-1 like Python
/// decodes the line. Formatted only when displayed.
pub(crate) struct RequestLine<'a> {
    pub(crate) method: &'a str,
    pub(crate) target: &'a str,
    pub(crate) version: Version,
}

impl fmt::Display for RequestLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Piece by piece: `{}` would pad each one, and the target is checked for non-ASCII
        // once (it is ASCII unless the parser let obs-text through).
        f.write_str(self.method)?;
        f.write_str(" ")?;
        if self.target.is_ascii() {
            f.write_str(self.target)?;
        } else {
            f.write_str(&crate::log::latin1(self.target.as_bytes()))?;
        }
        f.write_str(" ")?;
        f.write_str(version_str(self.version))
    }
}

/// Python's `server.server_name` and `server.server_port`: the listening server's, or, when the
/// service runs elsewhere, the request's `Host` (`""` and 80 without one).
pub(crate) fn server_name_and_port<'a>(
    parts: &'a http::request::Parts,
    conn: Option<&'a ConnectionInfo>,
) -> (&'a str, u16) {
    if let Some(conn) = conn {
        return (conn.server_name(), conn.server_port());
    }
    let host = match parts.uri.authority() {
        Some(authority) => Some(authority.as_str()),
        None => parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok()),
    };
    match host.map(split_host_port) {
        Some((name, port)) => (name, port.unwrap_or(80)),
        None => ("", 80),
    }
}

fn split_host_port(host: &str) -> (&str, Option<u16>) {
    if let Some(rest) = host.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            let port = rest[end + 1..]
                .strip_prefix(':')
                .and_then(|p| p.parse().ok());
            return (&host[..end + 2], port);
        }
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, port.parse().ok()),
        _ => (host, None),
    }
}

/// How many distinct `Server` values [`kept_server_header`] keeps for the process's life.
const KEPT_SERVER_HEADERS: usize = 64;

/// [`server_header`] for a service's class attributes, made once when the service is built:
/// the value's bytes are kept for the process's life (at most [`KEPT_SERVER_HEADERS`] distinct
/// values, a few bytes each; past that, values are made as usual), so each response's copy of
/// it is a static reference, where a shared value costs an atomic increment and decrement per
/// response.
pub(crate) fn kept_server_header(version: &str) -> HeaderValue {
    static KEPT: Kept = std::sync::Mutex::new(Vec::new());
    keep(&KEPT, server_header(version))
}

/// Values kept for the process's life.
type Kept = std::sync::Mutex<Vec<&'static [u8]>>;

/// `value`, as a static reference to the same bytes in `kept` (kept there first if new and
/// there is room).
fn keep(kept: &Kept, value: HeaderValue) -> HeaderValue {
    let Ok(mut kept) = kept.lock() else {
        return value;
    };
    let bytes = match kept.iter().find(|kept| **kept == value.as_bytes()) {
        Some(bytes) => *bytes,
        None if kept.len() < KEPT_SERVER_HEADERS => {
            let bytes: &'static [u8] = Box::leak(value.as_bytes().into());
            kept.push(bytes);
            bytes
        }
        None => return value,
    };
    HeaderValue::from_maybe_shared(bytes::Bytes::from_static(bytes)).unwrap_or(value)
}

/// Python's `version_string()` as a `Server` header value, encoded as ISO-8859-1; a value
/// that cannot be sent is replaced by `BaseHTTP/0.6`.
pub(crate) fn server_header(version: &str) -> HeaderValue {
    latin1_bytes(version.as_bytes())
        .and_then(|bytes| HeaderValue::from_bytes(&bytes).ok())
        .unwrap_or_else(|| {
            tracing::warn!(
                target: crate::log::TARGET,
                "version_string() {version:?} cannot be sent as a header; using BaseHTTP/0.6"
            );
            HeaderValue::from_static("BaseHTTP/0.6")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_written_in_decimal() {
        for length in [
            0,
            7,
            9,
            10,
            13,
            1024,
            102_400,
            67_108_864,
            u64::MAX - 1,
            u64::MAX,
        ] {
            assert_eq!(content_length(length), length.to_string().as_str());
            assert_eq!(content_length(length), HeaderValue::from(length));
        }
    }

    #[test]
    fn request_fields_are_the_first_of_each() {
        let mut headers = HeaderMap::new();
        headers.append(header::HOST, HeaderValue::from_static("x"));
        headers.append(header::EXPECT, HeaderValue::from_static("100-Continue"));
        headers.append(header::CONNECTION, HeaderValue::from_static("close"));
        headers.append(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        let fields = RequestFields::of(&headers);
        assert_eq!(
            fields.connection.map(HeaderValue::as_bytes),
            Some(&b"close"[..])
        );
        assert!(fields.expect_continue, "compared without case");
        let v11 = Version::HTTP_11;
        assert!(initial_close_connection(v11, fields.connection, v11));

        headers.insert(header::EXPECT, HeaderValue::from_static("100-continue, x"));
        headers.remove(header::CONNECTION);
        let fields = RequestFields::of(&headers);
        assert!(!fields.expect_continue, "only 100-continue itself");
        assert!(fields.connection.is_none());
        assert!(!initial_close_connection(v11, None, v11));
        assert!(initial_close_connection(Version::HTTP_10, None, v11));
        let keep_alive = HeaderValue::from_static("Keep-Alive");
        assert!(!initial_close_connection(
            Version::HTTP_10,
            Some(&keep_alive),
            v11
        ));
        assert!(initial_close_connection(
            Version::HTTP_10,
            Some(&keep_alive),
            Version::HTTP_10
        ));
    }

    #[test]
    fn host_port_split() {
        assert_eq!(
            split_host_port("example.com:8080"),
            ("example.com", Some(8080))
        );
        assert_eq!(split_host_port("example.com"), ("example.com", None));
        assert_eq!(split_host_port("[::1]:80"), ("[::1]", Some(80)));
        assert_eq!(split_host_port("[::1]"), ("[::1]", None));
        assert_eq!(split_host_port("::1"), ("::1", None));
    }

    #[test]
    fn latin1_encoding_matches_python() {
        assert_eq!(
            latin1_bytes("Dängerous".as_bytes()).as_deref(),
            Some(&b"D\xe4ngerous"[..])
        );
        assert_eq!(latin1_bytes("€".as_bytes()), None);
    }

    #[test]
    fn reason_phrases_never_break_the_status_line() {
        assert_eq!(reason_from_message("a\r\nb").as_bytes(), b"a  b");
        assert_eq!(reason_from_message("Dé€").as_bytes(), b"D\xe9?");
    }

    #[test]
    fn connection_tokens() {
        assert!(has_token(
            &HeaderValue::from_static("keep-alive, Close"),
            "close"
        ));
        assert!(!has_token(&HeaderValue::from_static("closed"), "close"));
    }

    #[test]
    fn kept_server_headers_are_shared_and_bounded() {
        static KEPT: Kept = std::sync::Mutex::new(Vec::new());
        let kept_server_header = |version: &str| keep(&KEPT, server_header(version));
        let first = kept_server_header("Kept/1.0 Test/\u{e9}");
        let again = kept_server_header("Kept/1.0 Test/\u{e9}");
        assert_eq!(first, server_header("Kept/1.0 Test/\u{e9}"));
        assert_eq!(first.as_bytes(), b"Kept/1.0 Test/\xe9");
        // The same bytes, not a copy: nothing counted per response.
        assert_eq!(first.as_bytes().as_ptr(), again.as_bytes().as_ptr());
        assert_eq!(kept_server_header("Bad\r\nX: y"), "BaseHTTP/0.6");
        // Past the bound, values are still right, just not kept.
        for n in 0..2 * KEPT_SERVER_HEADERS {
            let version = format!("Many/{n}");
            assert_eq!(kept_server_header(&version), version.as_str());
        }
        let late = kept_server_header("Late/1.0");
        assert_eq!(late, "Late/1.0");
        assert_ne!(
            late.as_bytes().as_ptr(),
            kept_server_header("Late/1.0").as_bytes().as_ptr()
        );
        assert_eq!(
            KEPT.lock().map(|kept| kept.len()).ok(),
            Some(KEPT_SERVER_HEADERS)
        );
        // The real store answers the same way.
        assert_eq!(super::kept_server_header("Real/1.0"), "Real/1.0");
    }
}
