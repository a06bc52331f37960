//! The script's header block (RFC 3875 §6), parsed strictly and within limits: a pure function
//! over the bytes read so far, where the fuzz and property tests go.

use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Bounds on a script's header block.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// The longest header line.
    pub(crate) max_line: usize,
    /// The most header lines.
    pub(crate) max_headers: usize,
    /// The largest header block.
    pub(crate) max_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_line: 8 * 1024,
            max_headers: 100,
            max_size: 64 * 1024,
        }
    }
}

/// A parsed header block.
#[derive(Debug, Default)]
pub(crate) struct ScriptHead {
    /// From `Status:` (or an NPH status line): the code and the reason phrase, if one was given.
    pub(crate) status: Option<(StatusCode, Option<String>)>,
    /// `Location:`.
    pub(crate) location: Option<HeaderValue>,
    /// Everything to forward (not `Status`, not `Location`, no hop-by-hop or framing fields but
    /// a valid `Content-Length`).
    pub(crate) headers: HeaderMap,
}

impl ScriptHead {
    /// `Location: /path` with no `Status`: RFC 3875's local redirect, re-processed by the
    /// server.
    pub(crate) fn local_redirect(&self) -> Option<&str> {
        if self.status.is_some() {
            return None;
        }
        let location = self.location.as_ref()?.to_str().ok()?;
        (location.starts_with('/') && !location.starts_with("//")).then_some(location)
    }
}

/// Why a header block was refused (the script gets a `502`; the reason is logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// The script wrote nothing at all.
    NoOutput,
    /// Output ended before the blank line that ends the header block.
    Truncated,
    /// Limits exceeded.
    TooLarge(&'static str),
    /// Anything else, described.
    Malformed(String),
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoOutput => f.write_str("the script produced no output"),
            Self::Truncated => f.write_str("the script's output ended inside its header block"),
            Self::TooLarge(what) => write!(f, "the script's header block is too large ({what})"),
            Self::Malformed(what) => write!(f, "malformed header from the script: {what}"),
        }
    }
}

/// Fields the script may not set: HTTP framing and connection management belong to the server.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "http2-settings",
];

/// Parses the header block at the start of `buf`. `Ok(None)`: the blank line has not arrived
/// yet (call again with more). `Ok(Some((head, n)))`: the block is the first `n` bytes. `nph`:
/// the first line is an HTTP status line (`HTTP/1.1 200 OK`).
///
/// Lines end with LF or CRLF. No continuation lines, no space before the colon; names are
/// tokens, values have no control characters. `Status` and `Location` at most once each;
/// `Status` is three digits (`200`–`999`) and an optional reason.
pub(crate) fn parse(
    buf: &[u8],
    nph: bool,
    limits: Limits,
) -> Result<Option<(ScriptHead, usize)>, HeadError> {
    let mut head = ScriptHead::default();
    let mut position = 0;
    let mut count = 0;
    loop {
        let Some(newline) = buf[position..].iter().position(|&b| b == b'\n') else {
            if buf.len() - position > limits.max_line {
                return Err(HeadError::TooLarge("line"));
            }
            if buf.len() > limits.max_size {
                return Err(HeadError::TooLarge("block"));
            }
            return Ok(None);
        };
        let mut line = &buf[position..position + newline];
        position += newline + 1;
        if line.len() > limits.max_line {
            return Err(HeadError::TooLarge("line"));
        }
        if position > limits.max_size {
            return Err(HeadError::TooLarge("block"));
        }
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        if line.is_empty() {
            if count == 0 && !nph {
                return Err(HeadError::Malformed("empty header block".into()));
            }
            return Ok(Some((head, position)));
        }
        if nph && count == 0 {
            head.status = Some(status_line(line)?);
            count += 1;
            continue;
        }
        count += 1;
        if count > limits.max_headers {
            return Err(HeadError::TooLarge("header count"));
        }
        field(&mut head, line, nph)?;
    }
}

fn malformed(what: impl Into<String>) -> HeadError {
    HeadError::Malformed(what.into())
}

/// One `Name: value` line.
fn field(head: &mut ScriptHead, line: &[u8], nph: bool) -> Result<(), HeadError> {
    if line[0] == b' ' || line[0] == b'\t' {
        return Err(malformed("continuation line"));
    }
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Err(malformed(format!(
            "no colon in {:?}",
            String::from_utf8_lossy(line)
        )));
    };
    let name = HeaderName::from_bytes(&line[..colon]).map_err(|_| {
        malformed(format!(
            "invalid field name {:?}",
            String::from_utf8_lossy(&line[..colon])
        ))
    })?;
    let value = line[colon + 1..].trim_ascii();
    let value = HeaderValue::from_bytes(value)
        .map_err(|_| malformed(format!("invalid value for {name}")))?;
    if value.is_empty() {
        // RFC 3875 §6.3: a NULL value is the same as no field.
        return Ok(());
    }
    match name.as_str() {
        "status" if nph => {}
        "status" => {
            if head.status.is_some() {
                return Err(malformed("two Status fields"));
            }
            head.status = Some(status(value.as_bytes())?);
        }
        "location" => {
            if head.location.replace(value).is_some() {
                return Err(malformed("two Location fields"));
            }
        }
        "content-length" => {
            let digits = value.as_bytes();
            let valid = !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
            if !valid
                || value
                    .to_str()
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                    .is_none()
            {
                return Err(malformed("invalid Content-Length"));
            }
            if let Some(previous) = head.headers.get(header::CONTENT_LENGTH) {
                if previous != value {
                    return Err(malformed("conflicting Content-Length fields"));
                }
                return Ok(());
            }
            head.headers.insert(name, value);
        }
        "transfer-encoding" => {
            if !value.as_bytes().eq_ignore_ascii_case(b"identity") {
                return Err(malformed("Transfer-Encoding is the server's to choose"));
            }
        }
        other if HOP_BY_HOP.contains(&other) => {}
        _ => {
            head.headers.append(name, value);
        }
    }
    Ok(())
}

/// `Status: 404 Not Found` → (404, Some("Not Found")).
fn status(value: &[u8]) -> Result<(StatusCode, Option<String>), HeadError> {
    let (code, reason) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], Some(value[space + 1..].trim_ascii())),
        None => (value, None),
    };
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return Err(malformed(format!(
            "invalid Status {:?}",
            String::from_utf8_lossy(value)
        )));
    }
    let code = StatusCode::from_bytes(code).map_err(|_| malformed("invalid Status"))?;
    if code.is_informational() {
        return Err(malformed(format!("Status {code}: not a final response")));
    }
    let reason = reason
        .filter(|r| !r.is_empty())
        .map(|r| String::from_utf8_lossy(r).into_owned());
    Ok((code, reason))
}

/// An NPH script's first line: `HTTP/1.1 200 OK`.
fn status_line(line: &[u8]) -> Result<(StatusCode, Option<String>), HeadError> {
    let rest = line
        .strip_prefix(b"HTTP/")
        .filter(|r| r.len() >= 4 && r[0].is_ascii_digit() && r[1] == b'.' && r[2].is_ascii_digit())
        .and_then(|r| r.get(3..))
        .and_then(|r| r.strip_prefix(b" "))
        .ok_or_else(|| {
            malformed(format!(
                "invalid status line {:?}",
                String::from_utf8_lossy(line)
            ))
        })?;
    status(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(buf: &[u8]) -> (ScriptHead, usize) {
        parse(buf, false, Limits::default())
            .expect("valid")
            .expect("complete")
    }

    fn err(buf: &[u8]) -> HeadError {
        parse(buf, false, Limits::default()).expect_err("invalid")
    }

    #[test]
    fn documents_with_lf_or_crlf() {
        let (head, n) = ok(b"Content-Type: text/html\r\nX-Test: 1\r\n\r\nbody");
        assert_eq!(n, 38);
        assert_eq!(head.headers["content-type"], "text/html");
        assert_eq!(head.headers["x-test"], "1");
        assert!(head.status.is_none());
        let (head, n) = ok(b"Content-type: text/plain\n\nhello");
        assert_eq!(n, 26);
        assert_eq!(head.headers["content-type"], "text/plain");
        // Mixed line ends (lighttpd's crlfcrash).
        let (head, _) = ok(b"Location: http://www.example.org/\r\n\n\n");
        assert_eq!(head.location.unwrap(), "http://www.example.org/");
    }

    #[test]
    fn incomplete_until_the_blank_line() {
        assert!(matches!(
            parse(b"Content-Type: a", false, Limits::default()),
            Ok(None)
        ));
        assert!(matches!(
            parse(b"Content-Type: a\r\n", false, Limits::default()),
            Ok(None)
        ));
        assert!(matches!(parse(b"", false, Limits::default()), Ok(None)));
    }

    #[test]
    fn status_fields() {
        let (head, _) = ok(b"Status: 404 Not Here\nContent-Type: text/plain\n\n");
        assert_eq!(
            head.status,
            Some((StatusCode::NOT_FOUND, Some("Not Here".into())))
        );
        let (head, _) = ok(b"status: 304\n\n");
        assert_eq!(head.status, Some((StatusCode::NOT_MODIFIED, None)));
        for bad in [
            &b"Status: 30 FooBar\n\n"[..],
            b"Status: abc\n\n",
            b"Status: 2000\n\n",
            b"Status: 100 Continue\n\n",
            b"Status: 200\nStatus: 404\n\n",
        ] {
            assert!(matches!(err(bad), HeadError::Malformed(_)), "{bad:?}");
        }
    }

    #[test]
    fn redirects() {
        let (head, _) = ok(b"Location: /elsewhere?x=1\n\n");
        assert_eq!(head.local_redirect(), Some("/elsewhere?x=1"));
        let (head, _) = ok(b"Location: //evil.example/\n\n");
        assert_eq!(head.local_redirect(), None);
        let (head, _) = ok(b"Location: http://example.com/\n\n");
        assert_eq!(head.local_redirect(), None);
        let (head, _) = ok(b"Status: 301 Moved\nLocation: /x\n\n");
        assert_eq!(head.local_redirect(), None);
    }

    #[test]
    fn framing_and_hop_by_hop_fields_are_the_servers() {
        let (head, _) = ok(
            b"Content-Type: a\nConnection: close\nKeep-Alive: 5\nUpgrade: h2c\nContent-Length: 5\n\n",
        );
        assert!(head.headers.get("connection").is_none());
        assert!(head.headers.get("keep-alive").is_none());
        assert!(head.headers.get("upgrade").is_none());
        assert_eq!(head.headers["content-length"], "5");
        assert!(matches!(
            err(b"Transfer-Encoding: chunked\n\n"),
            HeadError::Malformed(_)
        ));
        assert!(matches!(
            err(b"Content-Length: 5\nContent-Length: 6\n\n"),
            HeadError::Malformed(_)
        ));
        assert!(matches!(
            err(b"Content-Length: -1\n\n"),
            HeadError::Malformed(_)
        ));
    }

    #[test]
    fn malformed_blocks() {
        for bad in [
            &b"Hello World\n\n"[..],
            b"\nHello",
            b"Content-Type: a\n folded\n\n",
            b"Bad Name: x\n\n",
            b"Name : x\n\n",
            b"X: a\x01b\n\n",
        ] {
            assert!(matches!(err(bad), HeadError::Malformed(_)), "{bad:?}");
        }
    }

    #[test]
    fn limits() {
        let limits = Limits {
            max_line: 20,
            max_headers: 2,
            max_size: 60,
        };
        let long = format!("X: {}\n\n", "a".repeat(30));
        assert_eq!(
            parse(long.as_bytes(), false, limits).unwrap_err(),
            HeadError::TooLarge("line")
        );
        assert_eq!(
            parse(b"X: aaaaaaaaaaaaaaaaaaaaaaaaa", false, limits).unwrap_err(),
            HeadError::TooLarge("line")
        );
        assert_eq!(
            parse(b"A: 1\nB: 2\nC: 3\n\n", false, limits).unwrap_err(),
            HeadError::TooLarge("header count")
        );
        let many = "A: 1234567890\n".repeat(5);
        assert_eq!(
            parse(
                many.as_bytes(),
                false,
                Limits {
                    max_headers: 100,
                    ..limits
                }
            )
            .unwrap_err(),
            HeadError::TooLarge("block")
        );
    }

    #[test]
    fn nph_status_lines() {
        let (head, n) = parse(
            b"HTTP/1.0 200 OK\nContent-Type: text/plain\nServer: nph\n\nbody",
            true,
            Limits::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(head.status, Some((StatusCode::OK, Some("OK".into()))));
        assert_eq!(head.headers["server"], "nph");
        assert_eq!(n, 54);
        assert!(parse(b"200 OK\n\n", true, Limits::default()).is_err());
        assert!(parse(b"HTTP/1.1 2000 OK\n\n", true, Limits::default()).is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any output: never a panic, never a header value with a control character, and a
            /// complete block never claims more bytes than there are.
            #[test]
            fn arbitrary_output(buf in proptest::collection::vec(any::<u8>(), 0..300), nph: bool) {
                if let Ok(Some((head, n))) = parse(&buf, nph, Limits::default()) {
                    prop_assert!(n <= buf.len());
                    for value in head.headers.values() {
                        prop_assert!(!value.as_bytes().iter().any(|&b| b == b'\r' || b == b'\n' || b == 0));
                    }
                }
            }
        }
    }
}
