//! Response compression (gzip, br, zstd by `Accept-Encoding`) with validators that stay
//! correct: tower-http's [`CompressionLayer`](tower_http::compression::CompressionLayer), plus
//! what a file server needs around it.
//!
//! tower-http compresses the body and adds `Vary: Accept-Encoding`; it leaves a compressed
//! response with the identity response's `ETag`. A strong `ETag` promises byte-for-byte
//! identical bodies, so a cache (or a client resuming with `If-Range`) could mix the two.
//! [`Compression`] therefore:
//!
//! - **weakens the `ETag`** of every response it compresses (`"abc"` → `W/"abc"`, as nginx
//!   does): `If-None-Match` still answers `304` (it compares weakly), `If-Range` never matches a
//!   compressed body (it compares strongly);
//! - **never compresses a range** (any `206`, one range or several) nor what has no body
//!   (`1xx`, `204`, `304`), and a compressed `200` drops `Accept-Ranges`; a `304` for a client
//!   holding the compressed body (its `If-None-Match` names the weak tag) carries that weak
//!   tag and `Vary`, as the `200` did;
//! - answers `HEAD` for the identity body (nothing is compressed for it), and a client that
//!   accepts no coding at all, identity included, with identity (RFC 9110 §12.5.3) rather than
//!   tower-http's `406`, which would come after the service below had acted (an upload
//!   stored, a script run);
//! - leaves alone what is compressed already: responses with a `Content-Encoding` (precompressed
//!   siblings that [`StaticFiles::precompressed`](crate::static_files::StaticFiles) serves, a
//!   CGI script's own gzip), and archives, images, audio and video by `Content-Type`, and bodies
//!   under 32 bytes.
//!
//! # Example
//!
//! ```
//! use basehttp::compression::CompressionLayer;
//! use basehttp::static_files::StaticFiles;
//! use http_body_util::BodyExt;
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # let dir = tempfile::tempdir()?;
//! # std::fs::write(dir.path().join("notes.txt"), "compress me ".repeat(100))?;
//! let app = CompressionLayer::new().layer(StaticFiles::new(dir.path()));
//!
//! let req = http::Request::get("/notes.txt")
//!     .header("accept-encoding", "gzip")
//!     .body(basehttp::Body::empty())?;
//! let res = app.oneshot(req).await?;
//! assert_eq!(res.headers()["content-encoding"], "gzip");
//! assert!(res.headers()["etag"].to_str()?.starts_with("W/\""));
//! assert!(res.into_body().collect().await?.to_bytes().len() < 1200);
//! # Ok(())
//! # }
//! ```
//!
//! # In an axum application
//!
//! ```
//! use basehttp::compression::CompressionLayer;
//! use basehttp::static_files::StaticFiles;
//!
//! let app: axum::Router = axum::Router::new()
//!     .route("/api", axum::routing::get(|| async { "{}" }))
//!     .fallback_service(StaticFiles::new("public"))
//!     // Only gzip, at the fastest level.
//!     .layer(
//!         CompressionLayer::new()
//!             .br(false)
//!             .zstd(false)
//!             .quality(tower_http::CompressionLevel::Fastest),
//!     );
//! ```

mod future;

use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower::{Layer, Service};
use tower_http::CompressionLevel;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};

pub use self::future::ResponseFuture;
use self::future::{MarkFuture, Marked};
use crate::BoxError;
use crate::body::Body;

/// What is compressed: tower-http's default (not bodies under 32 bytes, images, gRPC or
/// server-sent events), and not formats that are compressed already.
#[derive(Clone, Default)]
pub struct Compressible {
    default: DefaultPredicate,
}

impl std::fmt::Debug for Compressible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressible").finish_non_exhaustive()
    }
}

/// `Content-Type`s whose bodies are compressed already (prefixes).
const COMPRESSED_TYPES: &[&str] = &[
    "application/gzip",
    "application/x-gzip",
    "application/zip",
    "application/zstd",
    "application/x-bzip2",
    "application/x-xz",
    "application/x-7z-compressed",
    "application/vnd.rar",
    "application/x-rar-compressed",
    "application/pdf",
    "application/wasm",
    "audio/",
    "video/",
    "font/woff",
];

impl Predicate for Compressible {
    fn should_compress<B>(&self, response: &Response<B>) -> bool
    where
        B: http_body::Body,
    {
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(http::HeaderValue::as_bytes)
            .unwrap_or_default();
        let compressed = COMPRESSED_TYPES.iter().any(|prefix| {
            content_type.len() >= prefix.len()
                && content_type[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        });
        // No body to compress (1xx, 204, 304), or a part of one (206, ranges included).
        let bodiless = response.status().is_informational()
            || matches!(response.status().as_u16(), 204 | 206 | 304);
        !compressed && !bodiless && self.default.should_compress(response)
    }
}

/// Compresses the responses of the service below; see the [module docs](self).
#[derive(Clone, Copy, Debug)]
pub struct CompressionLayer {
    gzip: bool,
    br: bool,
    zstd: bool,
    quality: CompressionLevel,
}

impl Default for CompressionLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl CompressionLayer {
    /// gzip, br and zstd, at tower-http's default quality.
    pub fn new() -> Self {
        Self {
            gzip: true,
            br: true,
            zstd: true,
            quality: CompressionLevel::Default,
        }
    }

    /// Whether to offer gzip. Defaults to `true`.
    pub fn gzip(mut self, enable: bool) -> Self {
        self.gzip = enable;
        self
    }

    /// Whether to offer brotli. Defaults to `true`.
    pub fn br(mut self, enable: bool) -> Self {
        self.br = enable;
        self
    }

    /// Whether to offer zstd. Defaults to `true`.
    pub fn zstd(mut self, enable: bool) -> Self {
        self.zstd = enable;
        self
    }

    /// The compression level. Defaults to [`CompressionLevel::Default`].
    pub fn quality(mut self, quality: CompressionLevel) -> Self {
        self.quality = quality;
        self
    }
}

impl<S> Layer<S> for CompressionLayer {
    type Service = Compression<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let layer = tower_http::compression::CompressionLayer::new()
            .gzip(self.gzip)
            .br(self.br)
            .zstd(self.zstd)
            .quality(self.quality)
            .compress_when(Compressible::default());
        let offered = [(self.gzip, "gzip"), (self.br, "br"), (self.zstd, "zstd")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        Compression {
            inner: layer.layer(Mark { inner }),
            offered,
        }
    }
}

/// The service [`CompressionLayer`] makes. `Error = S::Error`; the body is [`Body`].
#[derive(Clone)]
pub struct Compression<S> {
    inner: tower_http::compression::Compression<Mark<S>, Compressible>,
    offered: Vec<&'static str>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Compression<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compression").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Compression<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError> + Send + Sync,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // tower-http reads the header as rewritten here, so that it decides as this layer does.
        let accept = canonical_accept(req.headers());
        // HEAD describes the identity body (nothing is compressed for it); and a client that
        // accepts none of the codings, identity included, gets identity (RFC 9110 §12.5.3)
        // rather than tower-http's `406` after the service below has already acted.
        let identity = req.method() == http::Method::HEAD
            || accept
                .as_deref()
                .is_some_and(|value| refuses_everything(value, &self.offered));
        let accept = accept.and_then(|value| http::HeaderValue::try_from(value).ok());
        match accept {
            Some(value) if !identity => {
                req.headers_mut()
                    .insert(http::header::ACCEPT_ENCODING, value);
            }
            _ => {
                req.headers_mut().remove(http::header::ACCEPT_ENCODING);
            }
        }
        let if_none_match = req.headers().get(http::header::IF_NONE_MATCH).cloned();
        ResponseFuture::new(self.inner.call(req), if_none_match)
    }
}

/// Every `Accept-Encoding` line of `headers` as one value that tower-http reads with the weights
/// this layer reads: each coding as `name;q=0.500`, its weight clamped to 0–1 and rounded to the
/// three decimals tower-http accepts (it drops items whose weight it cannot read, and reads only
/// the first line). `None` without a line that is text.
fn canonical_accept(headers: &http::HeaderMap) -> Option<String> {
    use std::fmt::Write;

    let mut joined = String::new();
    for line in headers.get_all(http::header::ACCEPT_ENCODING) {
        if let Ok(line) = line.to_str() {
            if !joined.is_empty() {
                joined.push(',');
            }
            joined.push_str(line);
        }
    }
    if joined.trim().is_empty() {
        return None;
    }
    let (weights, star) = crate::util::accept_encoding_weights(&joined);
    let mut canonical = String::with_capacity(joined.len() + 16);
    for (name, q) in weights.into_iter().chain(star.map(|q| ("*", q))) {
        if !canonical.is_empty() {
            canonical.push_str(", ");
        }
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        let _ = write!(canonical, "{name};q={q:.3}");
    }
    Some(canonical)
}

/// Whether `accept` (an `Accept-Encoding` value) gives every coding of `offered`, and
/// identity, a weight of 0.
fn refuses_everything(accept: &str, offered: &[&str]) -> bool {
    let (weights, star) = crate::util::accept_encoding_weights(accept);
    let identity = weights
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("identity"))
        .map(|&(_, q)| q);
    let weight = |coding: &str| {
        weights
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(coding))
            .map(|&(_, q)| q)
            .or(star)
            .unwrap_or(0.0)
    };
    let identity = identity.or(star).unwrap_or(1.0);
    identity <= 0.0 && offered.iter().all(|coding| weight(coding) <= 0.0)
}

/// Below tower-http's compression: marks the responses that were not encoded when they left
/// the service, so that the `ETag` of one that is encoded above can be weakened.
#[derive(Clone, Debug)]
struct Mark<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Mark<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = MarkFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        MarkFuture::new(self.inner.call(req))
    }
}

/// The headers of a response that left `Compression`: `ETag` weakened if the body was encoded
/// on the way; and a `304` for a client holding the compressed body (its `If-None-Match` names
/// the weak tag) says the same as the `200` it validates: the weak tag, `Vary`.
fn settle<B>(mut response: Response<B>, if_none_match: Option<&http::HeaderValue>) -> Response<B> {
    if response.status() == http::StatusCode::NOT_MODIFIED {
        let holds_weak = match (response.headers().get(http::header::ETAG), if_none_match) {
            (Some(etag), Some(condition)) if !etag.as_bytes().starts_with(b"W/") => {
                let weak = [b"W/", etag.as_bytes()].concat();
                condition
                    .as_bytes()
                    .split(|&b| b == b',')
                    .any(|tag| tag.trim_ascii() == weak.as_slice())
            }
            _ => false,
        };
        if holds_weak {
            let headers = response.headers_mut();
            weaken(headers);
            let varies = headers.get_all(http::header::VARY).iter().any(|value| {
                value
                    .as_bytes()
                    .split(|&b| b == b',')
                    .any(|name| name.trim_ascii().eq_ignore_ascii_case(b"accept-encoding"))
            });
            if !varies {
                headers.append(
                    http::header::VARY,
                    http::HeaderValue::from_static("accept-encoding"),
                );
            }
        }
        return response;
    }
    let encoded_here = response.extensions_mut().remove::<Marked>().is_some()
        && response
            .headers()
            .contains_key(http::header::CONTENT_ENCODING);
    if encoded_here {
        let headers = response.headers_mut();
        headers.remove(http::header::ACCEPT_RANGES);
        weaken(headers);
    }
    response
}

/// `"abc"` → `W/"abc"`.
fn weaken(headers: &mut http::HeaderMap) {
    if let Some(etag) = headers.get(http::header::ETAG) {
        if !etag.as_bytes().starts_with(b"W/") {
            let weak = [b"W/", etag.as_bytes()].concat();
            if let Ok(weak) = http::HeaderValue::from_bytes(&weak) {
                headers.insert(http::header::ETAG, weak);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_refusing_every_coding_gets_identity() {
        let offered = ["gzip", "br", "zstd"];
        for refusing in [
            "identity;q=0",
            "*;q=0",
            "deflate, identity;q=0",
            "gzip;q=0, *;q=0",
        ] {
            assert!(refuses_everything(refusing, &offered), "{refusing}");
        }
        for accepting in [
            "",
            "gzip",
            "identity;q=0, br",
            "*;q=0, zstd;q=0.1",
            "deflate",
            "x;q=0",
        ] {
            assert!(!refuses_everything(accepting, &offered), "{accepting}");
        }
    }

    #[test]
    fn tower_http_reads_the_weights_this_layer_reads() {
        let canonical = |lines: &[&str]| {
            let mut headers = http::HeaderMap::new();
            for line in lines {
                headers.append(http::header::ACCEPT_ENCODING, line.parse().unwrap());
            }
            canonical_accept(&headers)
        };
        // Four decimals, which tower-http would drop: rounded to three.
        assert_eq!(
            canonical(&["identity;q=0, gzip;q=0.5000"]).as_deref(),
            Some("identity;q=0.000, gzip;q=0.500")
        );
        // Every line, not only the first.
        assert_eq!(
            canonical(&["x", "identity;q=0"]).as_deref(),
            Some("x;q=1.000, identity;q=0.000")
        );
        assert_eq!(
            canonical(&["br;q=.5, *;q=2"]).as_deref(),
            Some("br;q=0.500, *;q=1.000")
        );
        assert_eq!(canonical(&[" "]), None);
        // A weight too small for three decimals is a refusal for both.
        let tiny = canonical(&["identity;q=0, gzip;q=0.0001"]).unwrap();
        assert!(refuses_everything(&tiny, &["gzip"]), "{tiny}");
    }

    /// Whatever the client's weights, tower-http never turns an answer into `406` after the
    /// service below has acted: the request reaches the service once, and its answer stands.
    #[tokio::test]
    async fn no_406_after_the_service_has_acted() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tower::ServiceExt;

        for lines in [
            &["identity;q=0, gzip;q=0.5000"][..],
            &["x", "identity;q=0"],
            &["identity;q=0, gzip;q=0.0001"],
            &["*;q=0"],
            &["identity;q=0, br;q=.5"],
        ] {
            let calls = std::sync::Arc::new(AtomicUsize::new(0));
            let counted = calls.clone();
            let service = tower::service_fn(move |_req: Request<Body>| {
                counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    let mut res = Response::new(Body::from("stored ".repeat(100)));
                    res.headers_mut()
                        .insert("content-type", "text/plain".parse().unwrap());
                    *res.status_mut() = http::StatusCode::CREATED;
                    Ok::<_, std::convert::Infallible>(res)
                }
            });
            let mut request = Request::post("/upload");
            for line in lines {
                request = request.header("accept-encoding", *line);
            }
            let res = CompressionLayer::new()
                .layer(service)
                .oneshot(request.body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status(), http::StatusCode::CREATED, "{lines:?}");
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{lines:?}");
        }
    }

    #[test]
    fn a_304_for_the_compressed_body_keeps_its_weak_tag() {
        let not_modified = |condition: &str| {
            let mut res = Response::new(());
            *res.status_mut() = http::StatusCode::NOT_MODIFIED;
            res.headers_mut().insert("etag", "\"a\"".parse().unwrap());
            let condition = http::HeaderValue::from_str(condition).unwrap();
            let res = settle(res, Some(&condition));
            (
                res.headers()["etag"].to_str().unwrap().to_owned(),
                res.headers().contains_key("vary"),
            )
        };
        assert_eq!(not_modified("W/\"a\""), ("W/\"a\"".to_owned(), true));
        assert_eq!(not_modified("\"b\", W/\"a\""), ("W/\"a\"".to_owned(), true));
        assert_eq!(not_modified("\"a\""), ("\"a\"".to_owned(), false));
    }

    #[test]
    fn only_responses_encoded_here_are_weakened() {
        let encoded = |marked: bool, encoding: Option<&str>, etag: &str| {
            let mut res = Response::new(());
            res.headers_mut().insert("etag", etag.parse().unwrap());
            res.headers_mut()
                .insert("accept-ranges", "bytes".parse().unwrap());
            if let Some(encoding) = encoding {
                res.headers_mut()
                    .insert("content-encoding", encoding.parse().unwrap());
            }
            if marked {
                res.extensions_mut().insert(Marked);
            }
            let res = settle(res, None);
            (
                res.headers()["etag"].to_str().unwrap().to_owned(),
                res.headers().contains_key("accept-ranges"),
            )
        };
        assert_eq!(
            encoded(true, Some("gzip"), "\"a\""),
            ("W/\"a\"".to_owned(), false)
        );
        assert_eq!(
            encoded(true, Some("br"), "W/\"a\""),
            ("W/\"a\"".to_owned(), false)
        );
        // Identity: untouched.
        assert_eq!(encoded(true, None, "\"a\""), ("\"a\"".to_owned(), true));
        // Encoded below (a precompressed sibling): its own validator stands.
        assert_eq!(
            encoded(false, Some("gzip"), "\"a\""),
            ("\"a\"".to_owned(), true)
        );
    }
}
