//! Requests whose framing is ambiguous, refused before any service sees them (RFC 9112
//! sections 3.2 and 6.1): what a proxy in front of the server might read differently is where
//! request smuggling starts.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Version, header};

use crate::handler::{DEFAULT_ERROR_CONTENT_TYPE, DEFAULT_ERROR_MESSAGE, render_error_page};

/// Why a request is refused: its status and Python-style message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    code: StatusCode,
    message: String,
}

/// Checks the head of a request hyper has parsed: at most one `Host` (exactly one on HTTP/1.1
/// when `require_host`), and no transfer coding but a single `chunked`.
pub(crate) fn check<B>(request: &Request<B>, require_host: bool) -> Result<(), Refusal> {
    let headers = request.headers();
    // One pass over the fields: a request has few, and comparing a name is cheaper than the two
    // hashed lookups it replaces.
    let (mut hosts, mut coded) = (0_usize, false);
    for (name, _) in headers {
        if name == header::HOST {
            hosts += 1;
        } else if name == header::TRANSFER_ENCODING {
            coded = true;
        }
    }
    if request.version() <= Version::HTTP_11 {
        check_host(request.version(), hosts, require_host)?;
    }
    if coded {
        check_transfer_encoding(headers)?;
    }
    Ok(())
}

/// `hosts`: how many `Host` fields the request has.
fn check_host(version: Version, hosts: usize, require: bool) -> Result<(), Refusal> {
    match hosts {
        2.. => Err(Refusal::bad("Bad request: more than one Host header")),
        0 if require && version == Version::HTTP_11 => Err(Refusal::bad(
            "Bad request: an HTTP/1.1 request without a Host header",
        )),
        _ => Ok(()),
    }
}

fn check_transfer_encoding(headers: &HeaderMap) -> Result<(), Refusal> {
    let mut codings = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|coding| !coding.is_empty());
    let Some(first) = codings.next() else {
        return Ok(());
    };
    if !first.eq_ignore_ascii_case(b"chunked") {
        return Err(Refusal {
            code: StatusCode::NOT_IMPLEMENTED,
            message: format!(
                "Unsupported transfer coding ({:?})",
                String::from_utf8_lossy(first)
            ),
        });
    }
    match codings.next() {
        None => Ok(()),
        Some(_) => Err(Refusal::bad(
            "Bad request: chunked is not the only transfer coding",
        )),
    }
}

impl Refusal {
    fn bad(message: &str) -> Self {
        Self {
            code: StatusCode::BAD_REQUEST,
            message: message.to_owned(),
        }
    }

    /// Logs the refusal in Python's format and builds Python's error response, closing the
    /// connection.
    pub(crate) fn respond<B>(&self, remote: &SocketAddr, request: &Request<B>) -> Response<Bytes> {
        let code = self.code.as_u16();
        let client = remote.ip().to_string();
        crate::log::emit(
            &client,
            format_args!("code {code}, message {}", self.message),
        );
        let explain = crate::status::responses(code).map_or("", |(_, explain)| explain);
        let page = render_error_page(DEFAULT_ERROR_MESSAGE, code, &self.message, explain);
        let mut response = Response::new(Bytes::from(page));
        *response.status_mut() = self.code;
        if request.version() <= Version::HTTP_11 {
            *response.version_mut() = Version::HTTP_10;
        }
        let headers = response.headers_mut();
        headers.insert(
            header::SERVER,
            HeaderValue::from_static(concat!("basehttp/", env!("CARGO_PKG_VERSION"))),
        );
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(DEFAULT_ERROR_CONTENT_TYPE),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().version(version).uri("/");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    fn code(version: Version, headers: &[(&str, &str)]) -> u16 {
        check(&request(version, headers), true).map_or_else(|r| r.code.as_u16(), |()| 200)
    }

    #[test]
    fn host_must_be_single_and_present_on_http_1_1() {
        let v11 = Version::HTTP_11;
        assert_eq!(code(v11, &[("host", "a")]), 200);
        assert_eq!(code(v11, &[]), 400);
        assert_eq!(code(v11, &[("host", "a"), ("host", "a")]), 400);
        assert_eq!(code(Version::HTTP_10, &[]), 200, "HTTP/1.0 needs no Host");
        assert_eq!(code(Version::HTTP_10, &[("host", "a"), ("host", "b")]), 400);
        assert_eq!(code(Version::HTTP_2, &[]), 200, ":authority stands in");
        let lenient = |headers: &[(&str, &str)]| check(&request(v11, headers), false).is_ok();
        assert!(lenient(&[]), "Python's behaviour");
        assert!(!lenient(&[("host", "a"), ("host", "b")]));
    }

    #[test]
    fn only_a_single_chunked_coding_is_accepted() {
        let v11 = Version::HTTP_11;
        let host = ("host", "a");
        assert_eq!(code(v11, &[host, ("transfer-encoding", "chunked")]), 200);
        assert_eq!(code(v11, &[host, ("transfer-encoding", "Chunked")]), 200);
        assert_eq!(
            code(v11, &[host, ("transfer-encoding", "identity, chunked")]),
            501
        );
        assert_eq!(
            code(v11, &[host, ("transfer-encoding", "gzip, chunked")]),
            501
        );
        assert_eq!(
            code(v11, &[host, ("transfer-encoding", "chunked, chunked")]),
            400
        );
        let twice = [
            host,
            ("transfer-encoding", "chunked"),
            ("transfer-encoding", "chunked"),
        ];
        assert_eq!(code(v11, &twice), 400);
        assert_eq!(code(v11, &[host, ("transfer-encoding", "chunked,")]), 200);
    }
}
