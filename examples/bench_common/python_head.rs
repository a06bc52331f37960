//! Shared by the benchmark examples `bench_anchors` and `bench_hello` (included with `#[path]`,
//! not an example of its own): the hello response with the head Python's handler sends, built
//! without basehttp (from `http`, `http-body-util`, `bytes` and `httpdate`), so each example
//! can answer it on its own server and the two measure the same bytes.

use std::cell::RefCell;
use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, DATE, HeaderValue, SERVER};
use http_body_util::Full;

/// `BaseHTTPRequestHandler`'s `Server` header, as `bench_hello handler` sends it.
const PYTHON_SERVER: &str = concat!("BaseHTTP/0.6 basehttp/", env!("CARGO_PKG_VERSION"));

/// `200 Hello, world!` with the head Python's handler and `bench_hello handler` send (`Server`
/// and `Date` first, then `Content-Type` and `Content-Length`), byte for byte once the server
/// writes names in title case.
pub(crate) async fn hello_python<B>(
    _req: http::Request<B>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let mut res = http::Response::new(Full::new(Bytes::from_static(b"Hello, world!")));
    let headers = res.headers_mut();
    headers.insert(SERVER, HeaderValue::from_static(PYTHON_SERVER));
    headers.insert(DATE, date());
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from_static("13"));
    Ok(res)
}

/// The `Date` header for the current second, formatted once a second per thread (as hyper
/// does for its own).
pub(crate) fn date() -> HeaderValue {
    thread_local! {
        static CACHE: RefCell<(u64, HeaderValue)> =
            const { RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with_borrow_mut(|(cached, value)| {
        if *cached != second {
            *value = HeaderValue::from_str(&httpdate::fmt_http_date(now))
                .unwrap_or_else(|_| HeaderValue::from_static(""));
            *cached = second;
        }
        value.clone()
    })
}
