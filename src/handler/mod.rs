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

mod error_page;
mod exchange;
mod future;
pub(crate) mod io;
mod layer;
pub(crate) mod semantics;
mod service;

#[cfg(test)]
mod tests;

use std::fmt;
use std::future::{Future, ready};

use http::Version;

#[cfg(feature = "fs")]
pub(crate) use self::error_page::html_escape;
pub use self::error_page::{DEFAULT_ERROR_CONTENT_TYPE, DEFAULT_ERROR_MESSAGE, render_error_page};
pub use self::exchange::Exchange;
pub use self::future::ResponseFuture;
pub use self::io::{BodyReader, BodyWriter};
pub use self::layer::HandlerLayer;
pub use self::service::{HandlerService, NotImplemented};

/// The error a handler method may return: anything that converts into a boxed error, so `?`
/// works on `std::io::Error`, parse errors and your own error types alike.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What every `do_*` method returns.
///
/// `Ok(())` once the handler has answered (or handed the request down with
/// [`Exchange::fall_through`]); an error before the headers were sent becomes Python's 500 page,
/// an error after them aborts the connection.
pub type HandlerResult = Result<(), BoxError>;

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
/// See the [module docs](crate::handler) for examples.
#[doc(alias = "BaseHTTPRequestHandler")]
#[doc(alias = "http.server")]
pub trait HttpRequestHandler: Send + Sync + 'static {
    /// Python's `server_version` class attribute: the first word of the `Server` header.
    ///
    /// Defaults to `"BaseHTTP/0.6"`.
    fn server_version(&self) -> &str {
        "BaseHTTP/0.6"
    }

    /// Python's `sys_version`: the second word of the `Server` header.
    ///
    /// Defaults to [`SYS_VERSION`] (`basehttp/<version>`; Python says `Python/3.x.y`).
    fn sys_version(&self) -> &str {
        SYS_VERSION
    }

    /// Python's `version_string()`: the `Server` header value.
    ///
    /// Defaults to `server_version + " " + sys_version`. It is read once, when the service is
    /// built, not per request.
    fn version_string(&self) -> String {
        format!("{} {}", self.server_version(), self.sys_version())
    }

    /// Python's `protocol_version`: the version in the status line, and whether connections may
    /// persist.
    ///
    /// With `HTTP/1.0` every connection closes after its response (Python's behaviour, even
    /// for HTTP/1.1 clients); with `HTTP/1.1` connections persist unless the client or a
    /// [`send_header("Connection", "close")`](Exchange::send_header) says otherwise, and every
    /// [`send_error`](Exchange::send_error) closes. Defaults to `HTTP/1.0`.
    fn protocol_version(&self) -> Version {
        Version::HTTP_10
    }

    /// Python's `error_message_format`: the template of [`send_error`](Exchange::send_error)
    /// pages, with `%(code)d`, `%(message)s` and `%(explain)s` placeholders.
    ///
    /// Defaults to [`DEFAULT_ERROR_MESSAGE`], CPython 3.14's template.
    fn error_message_format(&self) -> &str {
        DEFAULT_ERROR_MESSAGE
    }

    /// Python's `error_content_type`.
    ///
    /// Defaults to [`DEFAULT_ERROR_CONTENT_TYPE`], `text/html;charset=utf-8`.
    fn error_content_type(&self) -> &str {
        DEFAULT_ERROR_CONTENT_TYPE
    }

    /// Python's `responses` table: `(phrase, description)` for a status code.
    ///
    /// Defaults to [`crate::responses`], CPython 3.14's `HTTPStatus` table.
    fn responses(&self, code: u16) -> Option<(&str, &str)> {
        crate::responses(code)
    }

    /// Python's `do_GET`.
    ///
    /// Defaults to [`Exchange::fall_through`]: the inner service answers, or, without one,
    /// `501 Unsupported method ('GET')`.
    #[doc(alias = "do_GET")]
    fn do_get(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send {
        ready(ex.fall_through())
    }

    /// Python's `do_HEAD`. Defaults to [`Exchange::fall_through`].
    #[doc(alias = "do_HEAD")]
    fn do_head(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send {
        ready(ex.fall_through())
    }

    /// Python's `do_POST`. Defaults to [`Exchange::fall_through`].
    #[doc(alias = "do_POST")]
    fn do_post(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send {
        ready(ex.fall_through())
    }

    /// Python's `do_PUT`. Defaults to [`Exchange::fall_through`].
    #[doc(alias = "do_PUT")]
    fn do_put(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send {
        ready(ex.fall_through())
    }

    /// Python's `do_DELETE`. Defaults to [`Exchange::fall_through`].
    #[doc(alias = "do_DELETE")]
    fn do_delete(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send {
        ready(ex.fall_through())
    }

    /// Python's `do_OPTIONS`. Defaults to [`Exchange::fall_through`].
    #[doc(alias = "do_OPTIONS")]
    fn do_options(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send {
        ready(ex.fall_through())
    }

    /// Python's `do_PATCH`. Defaults to [`Exchange::fall_through`].
    #[doc(alias = "do_PATCH")]
    fn do_patch(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send {
        ready(ex.fall_through())
    }

    /// Python's `do_TRACE`. Defaults to [`Exchange::fall_through`].
    #[doc(alias = "do_TRACE")]
    fn do_trace(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send {
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
    fn do_extension(&self, ex: &mut Exchange) -> impl Future<Output = HandlerResult> + Send {
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
    fn handle_expect_100(&self, ex: &mut Exchange) -> impl Future<Output = bool> + Send {
        ex.send_response_only(100);
        ready(ex.end_headers().is_ok())
    }

    /// Python's `log_request(code, size)`: called by [`Exchange::send_response`].
    ///
    /// Defaults to `log_message('"%s" %s %s', requestline, code, size)`, size `-` when unknown.
    fn log_request(&self, ex: &Exchange, code: u16, size: Option<u64>) {
        match size {
            Some(size) => {
                self.log_message(ex, format_args!("\"{}\" {code} {size}", ex.request_line()))
            }
            None => self.log_message(ex, format_args!("\"{}\" {code} -", ex.request_line())),
        }
    }

    /// Python's `log_error`: called by [`Exchange::send_error`] and for handler failures.
    ///
    /// Defaults to [`log_message`](HttpRequestHandler::log_message).
    fn log_error(&self, ex: &Exchange, message: fmt::Arguments<'_>) {
        self.log_message(ex, message);
    }

    /// Python's `log_message`: every log line goes through here.
    ///
    /// Defaults to Python's format, `127.0.0.1 - - [21/Nov/2026 19:49:25] message`, with control
    /// characters escaped (see [`crate::log`]), emitted as a `tracing` event with target
    /// `basehttp::log`. Override it to silence or redirect a handler's lines:
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
        ex.log_line(message);
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
    /// hands down with [`Exchange::fall_through`], go to the inner service.
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
