//! Python's `BaseHTTPRequestHandler` as a trait, and its tower [`Service`] and [`Layer`].
//!
//! A Python handler is a class whose `do_GET`, `do_POST`, … methods talk to the client through
//! `self`: `send_response`, `send_header`, `end_headers`, `wfile.write`, `rfile.read`. Here the
//! class becomes a type implementing [`HttpRequestHandler`], and `self`'s per-request half becomes
//! the [`Exchange`] every `do_*` method receives, with the same verbs:
//!
//! ```python
//! class Hello(BaseHTTPRequestHandler):
//!     def do_GET(self):
//!         self.send_response(200)
//!         self.send_header("Content-type", "text/html")
//!         self.end_headers()
//!         self.wfile.write(b"Hello, world!")
//! ```
//!
//! ```
//! use basehttp::prelude::*;
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
//! # use tower::ServiceExt;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! # let res = Hello.into_service().oneshot(http::Request::new(basehttp::Body::empty())).await.unwrap();
//! # assert_eq!(res.status(), 200);
//! # }
//! ```
//!
//! # Serving it
//!
//! [`HttpRequestHandler::into_service`] turns the handler into a [`HandlerService`]: a
//! `tower::Service<http::Request<B>>` with `Error = Infallible`, so it runs on
//! [`HttpServer`](crate::server::HttpServer) (Python's `HTTPServer`), on a bare hyper connection,
//! inside an axum `Router` or behind any tower-http middleware.
//!
//! ```no_run
//! use basehttp::prelude::*;
//! use basehttp::server::HttpServer;
//! # struct Hello;
//! # impl HttpRequestHandler for Hello {}
//!
//! # async fn run() -> std::io::Result<()> {
//! // httpd = HTTPServer(("", 8000), Hello); httpd.serve_forever()
//! let httpd = HttpServer::bind(("0.0.0.0", 8000), Hello.into_service()).await?;
//! httpd.serve_forever().await
//! # }
//! ```
//!
//! # Subclassing: handlers as layers
//!
//! In Python a subclass overrides some `do_*` methods and inherits the rest
//! (`super().do_GET()`). [`HttpRequestHandler::into_layer`] gives the same shape with tower: the
//! handler wraps an inner service, and every method it does not implement — or a request it hands
//! down with [`Exchange::fall_through`] — goes to that inner service. A `do_get` that serves one
//! path itself and lets everything else through:
//!
//! ```
//! use basehttp::prelude::*;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! struct Api;
//!
//! impl HttpRequestHandler for Api {
//!     // Python: protocol_version = "HTTP/1.1"
//!     fn protocol_version(&self) -> http::Version {
//!         http::Version::HTTP_11
//!     }
//!
//!     async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
//!         if ex.path() != "/api" {
//!             return ex.fall_through(); // super().do_GET()
//!         }
//!         ex.send_response(200);
//!         ex.send_header("Content-Length", 2);
//!         ex.end_headers()?;
//!         ex.wfile().write_all(b"{}").await?;
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // Anything below the handler: here a plain function, usually file serving.
//! let files = service_fn(|_req: http::Request<basehttp::Body>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(basehttp::Body::from("a file")))
//! });
//! let app = Api.into_layer().layer(files);
//!
//! let req = http::Request::get("/index.html").body(basehttp::Body::empty()).unwrap();
//! let res = app.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 200);
//! # }
//! ```
//!
//! # Overriding Python's methods, for every response
//!
//! In Python the file and CGI handlers are subclasses of `BaseHTTPRequestHandler`, so a
//! subclass's `end_headers` (or `send_error`, `log_message`, `translate_path`, …) runs for every
//! response: its own, the files', the scripts'. Here every response is made by an [`Exchange`]
//! — a handler's, and those of the [`StaticFiles`](crate::static_files::StaticFiles) and
//! [`Cgi`](crate::cgi::Cgi) below it — and the exchange calls the overridden methods of every
//! handler the request came through, the outermost first (the most derived class), then the
//! answering service's own. Each default is `super()`, and inside an override the exchange's
//! method of the same name is `super()`:
//!
//! ```
//! use basehttp::handler::HeaderError;
//! use basehttp::prelude::*;
//! use basehttp::static_files::StaticFiles;
//! use tower::{Layer, ServiceExt};
//!
//! // class NoStore(SimpleHTTPRequestHandler):
//! //     def end_headers(self):
//! //         self.send_header("Cache-Control", "no-store")
//! //         super().end_headers()
//! struct NoStore;
//!
//! impl HttpRequestHandler for NoStore {
//!     fn end_headers(&self, ex: &mut Exchange) -> Result<(), HeaderError> {
//!         ex.send_header("Cache-Control", "no-store");
//!         ex.end_headers() // super().end_headers()
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = NoStore.into_layer().layer(StaticFiles::new("."));
//! // The file server's 404 page goes through NoStore::end_headers too.
//! let req = http::Request::get("/no-such-file").body(Body::empty()).unwrap();
//! let res = app.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 404);
//! assert_eq!(res.headers()["cache-control"], "no-store");
//! # }
//! ```
//!
//! A handler that overrides nothing changes nothing: its defaults pass every call on. Class
//! attributes a handler sets to something else than `BaseHTTPRequestHandler`'s defaults
//! (`server_version`, `protocol_version`, `error_message_format`, …) apply below it too; one it
//! leaves alone keeps the services' own (`SimpleHTTP/0.6` for the files). The overridable
//! methods run synchronously, where the response is made (for files, often on tokio's blocking
//! pool; `StaticFiles` calls `translate_path` on the async runtime, so keep it free of blocking
//! I/O). The overrides reach the responses basehttp's services make; a service of another kind
//! below the handler (an axum route) gets the handler's log line and connection rules only.
//!
//! # What happens on the wire
//!
//! The response head is sent when [`Exchange::end_headers`] has been called and the handler next
//! waits (on the client, a timer, anything); [`Exchange::wfile`] then streams to the client with
//! back-pressure, so a handler can write gigabytes in constant memory or trickle events for
//! hours. Without a `Content-Length`, HTTP/1.0 responses are delimited by closing the connection
//! and HTTP/1.1 responses are chunked. A handler that returns an error or panics before its
//! headers are sent yields Python's 500 page and a logged error; afterwards the connection is
//! aborted. A handler that returns without sending anything yields a 500 page too, and the log
//! says why.
//!
//! [`Service`]: tower::Service
//! [`Layer`]: tower::Layer

mod class;
mod error;
mod error_page;
mod exchange;
pub(crate) mod fall_through;
pub(crate) mod future;
mod io;
mod layer;
mod query;
pub(crate) mod rules;
mod service;
mod shutting_down;
mod spare;

#[cfg(test)]
mod tests;

use std::fmt;
use std::future::{Future, ready};

use http::Version;

#[cfg(feature = "fs")]
pub(crate) use self::class::{Attributes, Base, SIMPLE_SERVER_VERSION};
pub use self::error::HeaderError;
#[cfg(feature = "fs")]
pub(crate) use self::error_page::html_escape;
pub use self::error_page::{DEFAULT_ERROR_CONTENT_TYPE, DEFAULT_ERROR_MESSAGE, render_error_page};
pub use self::exchange::Exchange;
#[cfg(cgi)]
pub(crate) use self::exchange::plain_500;
#[cfg(feature = "fs")]
pub(crate) use self::exchange::{Output, guarded};
pub use self::future::ResponseFuture;
// rustdoc keeps a `doc(alias)` of a re-exported item only when it sits on the `pub use`.
#[doc(alias = "rfile")]
pub use self::io::BodyReader;
#[doc(alias = "wfile")]
pub use self::io::BodyWriter;
pub use self::layer::HandlerLayer;
pub use self::query::{parse_qsl, split_target};
#[doc(alias = "BaseHTTPRequestHandler")]
pub use self::service::HandlerService;
pub use self::service::NotImplemented;
pub use self::shutting_down::ShuttingDown;
pub use crate::BoxError;

/// What every `do_*` method returns.
///
/// `Ok(())` once the handler has answered (or handed the request down with
/// [`Exchange::fall_through`]); an error before the headers were sent becomes Python's 500 page,
/// an error after them aborts the connection.
pub type HandlerResult = Result<(), BoxError>;

/// The default of [`HttpRequestHandler::timeout`]: 60 seconds.
pub(crate) const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The module-level `sys_version` basehttp reports in its `Server` header, in the place where
/// Python puts its interpreter version (`Python/3.14.0`).
pub const SYS_VERSION: &str = concat!("basehttp/", env!("CARGO_PKG_VERSION"));

/// Python's `BaseHTTPRequestHandler`: a request handler whose `do_*` methods answer one request
/// each through an [`Exchange`].
///
/// Every method has Python's default, so an empty `impl` is Python's bare base class: it answers
/// every method with `501 Unsupported method ('GET')`. Override what the Python subclass
/// overrides; class attributes (`server_version`, `protocol_version`, …) are methods returning
/// the value. `&self` is shared by all requests (Python's class and `self.server`: put shared
/// state here), the `&mut Exchange` is the per-request state.
///
/// The methods Python's response machinery calls — [`end_headers`], [`send_error`],
/// [`log_request`], [`log_error`], [`log_message`], and for file serving and CGI
/// [`translate_path`], [`guess_type`], [`list_directory`], [`is_cgi`] — are called for every
/// response of the stack below the handler, [`StaticFiles`] and [`Cgi`] included, as in Python
/// where those are subclasses of `BaseHTTPRequestHandler`. Each defaults to `super()`: the
/// exchange's method of the same name, which goes on to the next handler of the stack and ends
/// with the answering service's own behaviour (`translate_path` and `guess_type`, which return a
/// value, say `super()` by returning `None`). A class attribute a handler sets to something else
/// than `BaseHTTPRequestHandler`'s default applies below it too; one left at the default leaves
/// the services below with their own (`SimpleHTTP/0.6` for file serving).
///
/// See the [module docs](crate::handler) for examples.
///
/// [`end_headers`]: HttpRequestHandler::end_headers
/// [`send_error`]: HttpRequestHandler::send_error
/// [`log_request`]: HttpRequestHandler::log_request
/// [`log_error`]: HttpRequestHandler::log_error
/// [`log_message`]: HttpRequestHandler::log_message
/// [`translate_path`]: HttpRequestHandler::translate_path
/// [`guess_type`]: HttpRequestHandler::guess_type
/// [`list_directory`]: HttpRequestHandler::list_directory
/// [`is_cgi`]: HttpRequestHandler::is_cgi
/// [`StaticFiles`]: crate::static_files::StaticFiles
/// [`Cgi`]: crate::cgi::Cgi
#[doc(alias = "BaseHTTPRequestHandler")]
#[doc(alias = "http.server")]
pub trait HttpRequestHandler: Send + Sync + 'static {
    /// Python's `server_version` class attribute: the first word of the `Server` header.
    ///
    /// Defaults to `"BaseHTTP/0.6"`. Read once, when the service is built.
    fn server_version(&self) -> &str {
        class::BASE_SERVER_VERSION
    }

    /// Python's `sys_version`: the second word of the `Server` header.
    ///
    /// Defaults to [`SYS_VERSION`] (`basehttp/<version>`; Python says `Python/3.x.y`). Read once,
    /// when the service is built.
    fn sys_version(&self) -> &str {
        SYS_VERSION
    }

    /// Python's `version_string()`: the `Server` header value.
    ///
    /// Defaults to `server_version + " " + sys_version`. Read once, when the service is built;
    /// [`Exchange::version_string`] gives the value a response carries.
    fn version_string(&self) -> String {
        format!("{} {}", self.server_version(), self.sys_version())
    }

    /// Python's `protocol_version`: the version in the status line, and whether connections may
    /// persist.
    ///
    /// With `HTTP/1.0` every connection closes after its response (Python's behaviour, even
    /// for HTTP/1.1 clients); with `HTTP/1.1` connections persist unless the client or a
    /// [`send_header("Connection", "close")`](Exchange::send_header) says otherwise, and every
    /// [`send_error`](Exchange::send_error) closes. Read once, when the service is built.
    ///
    /// Defaults to `HTTP/1.0`, which is also what "not set" means: Python's `HTTP/1.0` when
    /// basehttp's [`HttpServer`](crate::server::HttpServer) serves the handler directly, and
    /// `HTTP/1.1` when it is mounted in an application (under an axum `Router` with the crate's
    /// `axum` feature, or served by another server), so that it keeps connections alive like the
    /// routes beside it. To close after every response there too, set
    /// [`close_connection`](Exchange::set_close_connection).
    fn protocol_version(&self) -> Version {
        Version::HTTP_10
    }

    /// Python's `error_message_format`: the template of [`send_error`](Exchange::send_error)
    /// pages, with `%(code)d`, `%(message)s` and `%(explain)s` placeholders.
    ///
    /// Defaults to [`DEFAULT_ERROR_MESSAGE`], CPython 3.14's. Read once, when the service is
    /// built.
    fn error_message_format(&self) -> &str {
        DEFAULT_ERROR_MESSAGE
    }

    /// Python's `error_content_type`.
    ///
    /// Defaults to [`DEFAULT_ERROR_CONTENT_TYPE`], `text/html;charset=utf-8`. Read once, when the
    /// service is built.
    fn error_content_type(&self) -> &str {
        DEFAULT_ERROR_CONTENT_TYPE
    }

    /// Python's `timeout` class attribute, for the request body: how long a read of
    /// [`rfile`](Exchange::rfile) (or [`read_body`](Exchange::read_body)) waits for the client's
    /// next bytes. A client that trickles its body slower gets `408 Request Timeout` (when the
    /// handler lets the read's error through with `?`) and `Request timed out: …` is logged, as
    /// Python logs a socket timeout; `None` waits forever, as Python's default does. The request
    /// head has the server's own [`header_read_timeout`](crate::server::HttpServer::header_read_timeout).
    /// Read once, when the service is built.
    ///
    /// Defaults to 60 seconds (nginx's `client_body_timeout`).
    fn timeout(&self) -> Option<std::time::Duration> {
        Some(DEFAULT_BODY_TIMEOUT)
    }

    /// Python's `responses` table: `(phrase, description)` for a status code.
    ///
    /// Defaults to [`crate::responses`], CPython 3.14's `HTTPStatus` table. An entry that differs
    /// from it applies to the services below the handler too.
    #[doc(alias = "HTTPStatus")]
    fn responses(&self, code: u16) -> Option<(&str, &str)> {
        crate::responses(code)
    }

    /// Python's `do_GET`.
    ///
    /// Defaults to [`Exchange::fall_through`]: the inner service answers, or, without one,
    /// `501 Unsupported method ('GET')`.
    #[doc(alias = "do_GET")]
    fn do_get(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send
    where
        Self: Sized,
    {
        ready(ex.fall_through())
    }

    /// Python's `do_HEAD`. Defaults to [`Exchange::fall_through`].
    #[doc(alias = "do_HEAD")]
    fn do_head(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send
    where
        Self: Sized,
    {
        ready(ex.fall_through())
    }

    /// Python's `do_POST`. Defaults to [`Exchange::fall_through`].
    #[doc(alias = "do_POST")]
    fn do_post(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send
    where
        Self: Sized,
    {
        ready(ex.fall_through())
    }

    /// Python's `do_PUT`. Defaults to [`Exchange::fall_through`].
    #[doc(alias = "do_PUT")]
    fn do_put(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send
    where
        Self: Sized,
    {
        ready(ex.fall_through())
    }

    /// Python's `do_DELETE`. Defaults to [`Exchange::fall_through`].
    #[doc(alias = "do_DELETE")]
    fn do_delete(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send
    where
        Self: Sized,
    {
        ready(ex.fall_through())
    }

    /// Python's `do_OPTIONS`. Defaults to [`Exchange::fall_through`].
    #[doc(alias = "do_OPTIONS")]
    fn do_options(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send
    where
        Self: Sized,
    {
        ready(ex.fall_through())
    }

    /// Python's `do_PATCH`. Defaults to [`Exchange::fall_through`].
    #[doc(alias = "do_PATCH")]
    fn do_patch(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send
    where
        Self: Sized,
    {
        ready(ex.fall_through())
    }

    /// Python's `do_TRACE`. Defaults to [`Exchange::fall_through`].
    #[doc(alias = "do_TRACE")]
    fn do_trace(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send
    where
        Self: Sized,
    {
        ready(ex.fall_through())
    }

    /// Every other method: Python's `do_SPAM` for `SPAM /path HTTP/1.1`, `do_PROPFIND`, `do_get`
    /// for a lower-case `get` (dispatch is case-sensitive, as in Python).
    /// [`Exchange::command`] names the method.
    ///
    /// Defaults to [`Exchange::fall_through`]: `501 Unsupported method ('SPAM')` without an inner
    /// service.
    #[doc(alias = "do_SPAM")]
    #[doc(alias = "do_CONNECT")]
    fn do_extension(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send
    where
        Self: Sized,
    {
        ready(ex.fall_through())
    }

    /// Python's `handle_expect_100`: called before the `do_*` method when the request carries
    /// `Expect: 100-continue` and both the request and [`protocol_version`] are HTTP/1.1 or
    /// newer.
    ///
    /// Return `true` to go on to the `do_*` method. The default answers `100 Continue`
    /// (`send_response_only(100)` + `end_headers()`, as in Python) so the client sends its body.
    /// To refuse without reading the body, send the final response and return `false`:
    ///
    /// ```
    /// use basehttp::prelude::*;
    ///
    /// struct Picky;
    ///
    /// impl HttpRequestHandler for Picky {
    ///     fn protocol_version(&self) -> http::Version {
    ///         http::Version::HTTP_11
    ///     }
    ///
    ///     async fn handle_expect_100(&self, ex: &mut Exchange) -> bool {
    ///         if ex.headers().get("authorization").is_none() {
    ///             ex.send_error(401);
    ///             return false;
    ///         }
    ///         ex.send_response_only(100);
    ///         ex.end_headers().is_ok()
    ///     }
    /// }
    /// ```
    ///
    /// [`protocol_version`]: HttpRequestHandler::protocol_version
    fn handle_expect_100(&self, ex: &mut Exchange) -> impl Future<Output = bool> + Send
    where
        Self: Sized,
    {
        ex.send_response_only(100);
        ready(ex.end_headers().is_ok())
    }

    /// Python's `end_headers()`: called whenever a response head is finished — the handler's own,
    /// and those of the [`StaticFiles`](crate::static_files::StaticFiles) and
    /// [`Cgi`](crate::cgi::Cgi) below it: files, listings, redirects, `304`s, error pages. Add
    /// headers with [`Exchange::send_header`], then call [`Exchange::end_headers`], which is
    /// `super().end_headers()`.
    ///
    /// As in Python, a CGI script's own response is sent with `flush_headers()` and does not pass
    /// here, unless [`Cgi::end_headers_for_scripts`](crate::cgi::Cgi::end_headers_for_scripts).
    ///
    /// ```
    /// use basehttp::prelude::*;
    /// use basehttp::handler::HeaderError;
    ///
    /// // class CORSRequestHandler(SimpleHTTPRequestHandler):
    /// struct CorsRequestHandler;
    ///
    /// impl HttpRequestHandler for CorsRequestHandler {
    ///     fn end_headers(&self, ex: &mut Exchange) -> Result<(), HeaderError> {
    ///         ex.send_header("Access-Control-Allow-Origin", "*");
    ///         ex.end_headers() // super().end_headers()
    ///     }
    /// }
    /// ```
    fn end_headers(&self, ex: &mut Exchange) -> Result<(), HeaderError> {
        ex.end_headers()
    }

    /// Python's `send_error(code, message, explain)`: called for every error page of the stack.
    ///
    /// Defaults to `super().send_error(…)`: Python's page from
    /// [`error_message_format`](HttpRequestHandler::error_message_format), sent through
    /// [`end_headers`](HttpRequestHandler::end_headers). An override answers its own way (see
    /// [`Exchange::send_body`]) or calls [`Exchange::send_error_with`] / [`Exchange::send_error`].
    fn send_error(
        &self,
        ex: &mut Exchange,
        code: u16,
        message: Option<&str>,
        explain: Option<&str>,
    ) {
        match (message, explain) {
            (Some(message), explain) => ex.send_error_with(code, message, explain),
            (None, None) => ex.send_error(code),
            // Python's message defaults to the phrase of `responses`.
            (None, Some(explain)) => {
                let message = ex
                    .responses(code)
                    .map_or("???", |(phrase, _)| phrase)
                    .to_owned();
                ex.send_error_with(code, &message, Some(explain));
            }
        }
    }

    /// Python's `log_request(code, size)`: called by [`Exchange::send_response`] for every
    /// response of the stack.
    ///
    /// Defaults to `super().log_request(…)`, which ends in Python's
    /// `log_message('"%s" %s %s', requestline, code, size)`, size `-` when unknown.
    fn log_request(&self, ex: &Exchange, code: u16, size: Option<u64>) {
        ex.log_request_with(code, size);
    }

    /// Python's `log_error`: called by [`Exchange::send_error`] and for failures.
    ///
    /// Defaults to `super().log_error(…)`, which ends in [`log_message`](Exchange::log_message).
    fn log_error(&self, ex: &Exchange, message: fmt::Arguments<'_>) {
        ex.log_error(message);
    }

    /// Python's `log_message`: every log line of the stack goes through here.
    ///
    /// Defaults to `super().log_message(…)`, which ends in Python's format,
    /// `127.0.0.1 - - [21/Nov/2026 19:49:25] message`, with control characters escaped (see
    /// [`crate::log`]), emitted as a `tracing` event with target `basehttp::log`. Override it to
    /// silence or redirect the lines:
    ///
    /// ```
    /// use basehttp::prelude::*;
    ///
    /// struct Quiet;
    ///
    /// impl HttpRequestHandler for Quiet {
    ///     fn log_message(&self, _ex: &Exchange, _message: std::fmt::Arguments<'_>) {}
    /// }
    /// ```
    fn log_message(&self, ex: &Exchange, message: fmt::Arguments<'_>) {
        ex.log_message(message);
    }

    /// `SimpleHTTPRequestHandler.translate_path(path)`: the file-system path a request path
    /// names, for the [`StaticFiles`](crate::static_files::StaticFiles) and
    /// [`Cgi`](crate::cgi::Cgi) below the handler. For `StaticFiles` it runs on the async
    /// runtime: keep it free of blocking I/O.
    ///
    /// Return `None` for `return super().translate_path(path)`, the default: the next handler's
    /// answer, and in the end Python's translation below the served directory. To change that
    /// answer, get it with [`Exchange::translate_path`] and return `Some(…)` (returning `None`
    /// after asking for it asks the next handlers again):
    ///
    /// ```
    /// use std::path::PathBuf;
    /// use basehttp::prelude::*;
    ///
    /// // def translate_path(self, path):
    /// //     return super().translate_path(path.removeprefix("/static"))
    /// struct Static;
    ///
    /// impl HttpRequestHandler for Static {
    ///     fn translate_path(&self, ex: &Exchange, path: &str) -> Option<PathBuf> {
    ///         let rest = path.strip_prefix("/static")?;
    ///         Some(ex.translate_path(rest))
    ///     }
    /// }
    /// ```
    ///
    /// Unlike Python, a result outside the served directory is not served (`404`), unless the
    /// service follows symlinks (Python's behaviour, the CLI's `--follow-symlinks`). (The
    /// [`StaticFiles::translate_path`](crate::static_files::StaticFiles::translate_path)
    /// policy closure is another thing: there `None` refuses the path.)
    ///
    /// [`StaticFiles`](crate::static_files::StaticFiles) calls it once per request; [`Cgi`]
    /// calls it, as Python does, for each directory level of a script's path, for the script
    /// and for `PATH_TRANSLATED`, on tokio's blocking pool.
    ///
    /// [`Cgi`]: crate::cgi::Cgi
    #[cfg(feature = "fs")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fs")))]
    fn translate_path(&self, _ex: &Exchange, _path: &str) -> Option<std::path::PathBuf> {
        None
    }

    /// `SimpleHTTPRequestHandler.guess_type(path)`: the `Content-Type` of a file served below
    /// the handler (`path` is [`translate_path`](HttpRequestHandler::translate_path)'s result,
    /// or an index page in it).
    ///
    /// Return `None` for `return super().guess_type(path)`, the default: the service's
    /// `extensions_map`, then the system's types, then the built-in table.
    /// [`Exchange::guess_type`] gives that answer, to change it.
    #[cfg(feature = "fs")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fs")))]
    fn guess_type(&self, _ex: &Exchange, _path: &std::path::Path) -> Option<String> {
        None
    }

    /// `SimpleHTTPRequestHandler.list_directory(path)`: answers a request for a directory
    /// without an index page, for the [`StaticFiles`](crate::static_files::StaticFiles) below
    /// the handler. The directory has been read; `listing` holds its entries.
    ///
    /// Defaults to `super().list_directory(…)` ([`Exchange::list_directory`]): Python's page.
    /// An override may refuse (`ex.send_error_with(403, "Directory listing disabled", None)`)
    /// or answer with its own page.
    #[cfg(feature = "fs")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fs")))]
    fn list_directory(&self, ex: &mut Exchange, listing: &crate::static_files::DirectoryListing) {
        ex.list_directory(listing);
    }

    /// `CGIHTTPRequestHandler.is_cgi()`: whether a request runs a script of the
    /// [`Cgi`](crate::cgi::Cgi) below the handler, and where the script's directory ends.
    ///
    /// Defaults to `super().is_cgi()` ([`Exchange::is_cgi`]): the service's `cgi_directories`.
    #[cfg(cgi)]
    #[cfg_attr(docsrs, doc(cfg(feature = "cgi")))]
    fn is_cgi(&self, ex: &Exchange) -> Option<crate::cgi::CgiInfo> {
        ex.is_cgi()
    }

    /// Turns the handler into a [`HandlerService`] with nothing below it: methods the handler
    /// does not implement get Python's 501 page.
    fn into_service(self) -> HandlerService<Self>
    where
        Self: Sized,
    {
        HandlerService::new(self)
    }

    /// Turns the handler into a [`HandlerLayer`]: methods it does not implement, and requests it
    /// hands down with [`Exchange::fall_through`], go to the inner service — whose responses then
    /// go through this handler's overridden methods.
    fn into_layer(self) -> HandlerLayer<Self>
    where
        Self: Sized,
    {
        HandlerLayer::new(self)
    }
}

/// Python's bare `BaseHTTPRequestHandler`: implements nothing, so every request gets
/// `501 Unsupported method (…)`.
///
/// Useful as the innermost service of a layer stack, and for tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultHandler;

impl HttpRequestHandler for DefaultHandler {}

/// Dispatches to the `do_*` method for the request method, exactly (case-sensitively) as Python's
/// `getattr(self, 'do_' + command)`.
pub(crate) async fn dispatch<H: HttpRequestHandler>(
    handler: &H,
    ex: &mut Exchange,
) -> HandlerResult {
    use http::Method;
    let method = ex.method().clone();
    match method {
        Method::GET => handler.do_get(ex).await,
        Method::HEAD => handler.do_head(ex).await,
        Method::POST => handler.do_post(ex).await,
        Method::PUT => handler.do_put(ex).await,
        Method::DELETE => handler.do_delete(ex).await,
        Method::OPTIONS => handler.do_options(ex).await,
        Method::PATCH => handler.do_patch(ex).await,
        Method::TRACE => handler.do_trace(ex).await,
        _ => handler.do_extension(ex).await,
    }
}
