//! Python's `http.server`, on hyper and tower.
//!
//! `basehttp` runs the semantics of CPython 3.14's `http.server` — the
//! `BaseHTTPRequestHandler` model with `do_GET` and `send_response`, its error pages, its
//! status lines and its log lines — on Rust's production HTTP stack: hyper for the protocol,
//! tower for composition. Python handler code ports almost line by line, and the result mounts
//! into any hyper server or axum application and sits behind any tower-http middleware.
//!
//! # Overview
//!
//! | Python `http.server` | basehttp |
//! |---|---|
//! | `class H(BaseHTTPRequestHandler)` | `impl` [`HttpRequestHandler`](handler::HttpRequestHandler) `for H` |
//! | `def do_GET(self)` | `async fn do_get(&self, ex: &mut Exchange) -> HandlerResult` |
//! | `self.send_response(200)`, `self.send_header(…)`, `self.end_headers()` | [`ex.send_response(200)`](handler::Exchange::send_response), [`ex.send_header(…)`](handler::Exchange::send_header), [`ex.end_headers()?`](handler::Exchange::end_headers) |
//! | `self.wfile.write(b"…")`, `self.rfile.read(n)` | `ex.wfile().write_all(b"…").await?`, `ex.rfile().read(…).await?` |
//! | `self.send_error(404)` | [`ex.send_error(404)`](handler::Exchange::send_error) |
//! | `parse_qs(urlsplit(self.path).query)`, `self.headers['X']` | [`ex.query_pairs()`](handler::Exchange::query_pairs), [`ex.header("X")`](handler::Exchange::header) |
//! | `self.rfile.read(int(self.headers['Content-Length']))` | [`ex.read_body(limit).await?`](handler::Exchange::read_body) (answers `411`/`413` itself) |
//! | `super().do_GET()` | [`return ex.fall_through()`](handler::Exchange::fall_through) |
//! | `def end_headers(self): …; super().end_headers()` in a subclass | [`fn end_headers(&self, ex)`](handler::HttpRequestHandler::end_headers) on the handler, calling `ex.end_headers()`: it runs for every response below the handler, files and CGI included |
//! | `error_message_format`, `server_version`, … class attributes | trait methods of the handler (they apply below it too), or builders of [`StaticFiles`](static_files::StaticFiles) and [`Cgi`](cgi::Cgi) |
//! | `HTTPServer(("", 8000), H).serve_forever()` | [`HttpServer::bind(("0.0.0.0", 8000), H.into_service()).await?.serve_forever().await`](server::HttpServer) |
//! | `SimpleHTTPRequestHandler` (serving a folder) | [`StaticFiles::new(dir)`](static_files::StaticFiles), a service or, with [`into_layer`](static_files::StaticFiles::into_layer), a layer |
//! | `CGIHTTPRequestHandler` (CGI scripts) | [`Cgi::new(dir)`](cgi::Cgi), a service or, with [`into_layer`](cgi::Cgi::into_layer), a layer over the files |
//! | `HTTPSServer(addr, H, certfile=…, keyfile=…)` | [`HttpServer::tls`](server::HttpServer::tls) with [`server::tls::load_cert_chain`] |
//! | `python -m http.server [--cgi] [--tls-cert …]` | the `basehttp` binary |
//!
//! Every public name of Python's module, and every CLI flag, is mapped in the repository's
//! `docs/python-mapping.md`; `docs/migration.md` ports each tutorial handler side by side.
//!
//! # Example
//!
//! ```no_run
//! use basehttp::prelude::*;
//! use basehttp::server::{HttpServer, shutdown_signal};
//!
//! struct Hello;
//!
//! impl HttpRequestHandler for Hello {
//!     async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
//!         ex.send_response(200);
//!         ex.send_header("Content-type", "text/html");
//!         ex.end_headers()?;
//!         ex.wfile().write_all(b"Hello, world!").await?;
//!         Ok(())
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let _log = basehttp::log::init(); // Python's log lines on stderr
//!     let httpd = HttpServer::bind(("0.0.0.0", 8000), Hello.into_service()).await?;
//!     httpd.serve_until(shutdown_signal()).await
//! }
//! ```
//!
//! The same service runs in tower's world without a socket:
//!
//! ```
//! # use basehttp::prelude::*;
//! # struct Hello;
//! # impl HttpRequestHandler for Hello {
//! #     async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
//! #         ex.send_response(200);
//! #         ex.end_headers()?;
//! #         ex.wfile().write_all(b"Hello, world!").await?;
//! #         Ok(())
//! #     }
//! # }
//! use http_body_util::BodyExt;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let request = http::Request::get("/").body(basehttp::Body::empty())?;
//! let response = Hello.into_service().oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["server"], basehttp::handler::SYS_VERSION.replace("basehttp", "BaseHTTP/0.6 basehttp"));
//! assert_eq!(response.into_body().collect().await?.to_bytes(), "Hello, world!");
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `fs` | [`static_files`]: Python's `SimpleHTTPRequestHandler` | yes |
//! | `cgi` | [`cgi`]: Python's `CGIHTTPRequestHandler` (implies `fs`; Unix only: on Windows it adds nothing) | yes |
//! | `subscriber` | [`log::init`], [`log::init_json`] and [`log::layer`]: Python's log lines (or JSON lines) | yes |
//! | `http2` | [`HttpServer::http2`](server::HttpServer::http2): HTTP/2 by ALPN and prior knowledge | no |
//! | `tls` | [`HttpServer::tls`](server::HttpServer::tls) and [`server::tls`]: HTTPS with rustls | no |
//! | `axum` | Under an axum `Router`: [`StaticFiles`](static_files::StaticFiles) redirects name the full external path (axum's `OriginalUri`), and services served by `HttpServer` keep connections alive | no |
//! | `upload` | `upload::Upload`: `uploadserver`'s uploads (the `/upload` page, multipart `POST`, `PUT`), streamed to disk (Unix only) | no |
//! | `basic_auth` | `basic_auth::BasicAuth`: HTTP basic authentication with Python's `401` page | no |
//! | `compression` | `compression::CompressionLayer`: tower-http's compression with `ETag`s and ranges kept right | no |
//!
//! CORS is tower-http's `CorsLayer`, put in front of the stack (as `basehttp --cors` does).
//!
//! The `basehttp` command is the `basehttp-cli` package, which turns on every feature. With
//! `default-features = false` the crate is the handler trait, the server and the log line
//! format: no h2, rustls, CGI or tracing-subscriber code is compiled.
//!
//! # Compatibility with Python
//!
//! The README's compatibility notes list every deliberate difference from CPython 3.14 and why;
//! the most visible ones: header names are title-cased by hyper (`Content-Type` where Python's
//! file server sends `Content-type`), malformed requests are answered by hyper with an empty
//! `400`/`414`/`431` instead of Python's HTML page, files carry an `ETag` and honour `Range`
//! ([`etags(false)`](static_files::StaticFiles::etags) and
//! [`ranges(false)`](static_files::StaticFiles::ranges) switch that off), and symlinks leading
//! out of the served folder are refused unless
//! [`follow_symlinks(true)`](static_files::StaticFiles::follow_symlinks). CGI scripts get an
//! allow-listed environment ([`inherit_env(true)`](cgi::Cgi::inherit_env) for Python's), and
//! their header block is parsed per RFC 3875 instead of being sent after Python's premature
//! `200 Script output follows`.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::print_stdout))]
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

#[macro_use]
mod macros;

#[cfg(feature = "basic_auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "basic_auth")))]
pub mod basic_auth;
mod body;
#[cfg(cgi)]
#[cfg_attr(docsrs, doc(cfg(all(feature = "cgi", unix))))]
pub mod cgi;
#[cfg(feature = "compression")]
#[cfg_attr(docsrs, doc(cfg(feature = "compression")))]
pub mod compression;
#[cfg(feature = "fs")]
mod confined;
mod connection;
pub mod handler;
mod kept;
pub mod log;
#[cfg(sendfile)]
mod sendfile;
pub mod server;
#[cfg(feature = "fs")]
#[cfg_attr(docsrs, doc(cfg(feature = "fs")))]
pub mod static_files;
mod status;
#[cfg(upload)]
#[cfg_attr(docsrs, doc(cfg(all(feature = "upload", unix))))]
pub mod upload;
mod util;

pub use self::body::Body;

/// The [`http`](https://docs.rs/http) crate, whose types basehttp's API speaks
/// (`http::Version`, `http::StatusCode`, `http::Request`, …): `basehttp::http::Version::HTTP_11`
/// needs no dependency of its own, and always matches the version basehttp uses.
pub use http;

/// Any error, boxed: what handler methods return, what a basehttp [`Body`] fails with, and what
/// the services accept from the services below them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The README's Rust examples, compiled as doc-tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
// rustdoc keeps a `doc(alias)` of a re-exported item only when it sits on the `pub use`.
#[doc(alias = "HTTPStatus")]
pub use self::status::responses;

/// Everything a handler module needs: `use basehttp::prelude::*;`.
///
/// The handler trait and its types; tokio's `AsyncReadExt`/`AsyncWriteExt` so that
/// `ex.rfile().read(…)` and `ex.wfile().write_all(…)` work as in Python; and tower's `Layer`,
/// whose `.layer(…)` stacks a handler, `StaticFiles` or `Cgi` over another service (Python's
/// subclassing), so that a new crate needs no `tower` dependency of its own for it.
pub mod prelude {
    pub use crate::Body;
    pub use crate::handler::{DefaultHandler, Exchange, HandlerResult, HttpRequestHandler};
    pub use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    pub use tower::Layer;
}
