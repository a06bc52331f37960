//! [`Exchange`]: the per-request half of a Python handler's `self`.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode, Uri, Version};
use hyper::ext::ReasonPhrase;

use super::error_page::render_error_page;
use super::io::{BodyReader, BodyWriter, SharedRef, lock};
use super::semantics::{
    self, RequestLine, initial_close_connection, latin1_bytes, reason_from_message, request_target,
    version_str,
};
use super::{BoxError, HttpRequestHandler};
use crate::body::Body;
use crate::server::ConnectionInfo;

/// The handler's view of the things Python's `self` reaches for while answering: its class
/// attributes and its overridable logging methods. Object-safe so [`Exchange`] needs no type
/// parameter.
pub(crate) trait Hooks: Send + Sync + 'static {
    fn protocol_version(&self) -> Version;
    fn error_message_format(&self) -> &str;
    fn error_content_type(&self) -> &str;
    fn responses(&self, code: u16) -> Option<(&str, &str)>;
    fn log_request(&self, ex: &Exchange, code: u16, size: Option<u64>);
    fn log_error(&self, ex: &Exchange, message: fmt::Arguments<'_>);
    fn log_message(&self, ex: &Exchange, message: fmt::Arguments<'_>);
}

impl<H: HttpRequestHandler> Hooks for H {
    fn protocol_version(&self) -> Version {
        HttpRequestHandler::protocol_version(self)
    }
    fn error_message_format(&self) -> &str {
        HttpRequestHandler::error_message_format(self)
    }
    fn error_content_type(&self) -> &str {
        HttpRequestHandler::error_content_type(self)
    }
    fn responses(&self, code: u16) -> Option<(&str, &str)> {
        HttpRequestHandler::responses(self, code)
    }
    fn log_request(&self, ex: &Exchange, code: u16, size: Option<u64>) {
        HttpRequestHandler::log_request(self, ex, code, size);
    }
    fn log_error(&self, ex: &Exchange, message: fmt::Arguments<'_>) {
        HttpRequestHandler::log_error(self, ex, message);
    }
    fn log_message(&self, ex: &Exchange, message: fmt::Arguments<'_>) {
        HttpRequestHandler::log_message(self, ex, message);
    }
}

/// The response head being assembled: Python's `_headers_buffer`.
#[derive(Debug)]
struct PendingHead {
    status: Option<StatusCode>,
    reason: Option<ReasonPhrase>,
    headers: HeaderMap,
}

/// One request being answered: the per-request state of a Python `BaseHTTPRequestHandler`
/// (`self.path`, `self.headers`, `self.wfile`, `self.send_response(…)`, …).
///
/// A `do_*` method of [`HttpRequestHandler`] receives `&mut Exchange` and uses it the way Python
/// code uses `self`. The response is assembled like Python's: [`send_response`] starts the head
/// (status line, `Server`, `Date`) and logs the request, [`send_header`] adds headers,
/// [`end_headers`] hands the head to the connection, [`wfile`] writes the body.
///
/// [`send_response`]: Exchange::send_response
/// [`send_header`]: Exchange::send_header
/// [`end_headers`]: Exchange::end_headers
/// [`wfile`]: Exchange::wfile
pub struct Exchange {
    parts: http::request::Parts,
    /// Python's `self.path` when it differs from the parsed target (collapsed, absolute-form,
    /// or set by the handler); otherwise the path is read from `parts.uri`.
    path: Option<String>,
    /// The request target as received, when `path` no longer matches it (the `//` collapse).
    target: Option<Box<str>>,
    rfile: BodyReader,
    wfile: BodyWriter,
    shared: SharedRef,
    hooks: Arc<dyn Hooks>,
    server_header: HeaderValue,
    conn: Option<ConnectionInfo>,

    head: Option<PendingHead>,
    headers_sent: bool,
    close_connection: bool,
    pub(crate) fall_through: bool,
    pub(crate) continue_requested: bool,
    header_error: Option<String>,
    pub(crate) misuse: Option<&'static str>,
}

impl fmt::Debug for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchange")
            .field("command", &self.command())
            .field("path", &self.path())
            .field("request_version", &self.request_version())
            .field("headers_sent", &self.headers_sent)
            .field("close_connection", &self.close_connection)
            .finish_non_exhaustive()
    }
}

impl Exchange {
    pub(crate) fn new(
        mut parts: http::request::Parts,
        body: Body,
        hooks: Arc<dyn Hooks>,
        server_header: HeaderValue,
        shared: SharedRef,
    ) -> Self {
        let mut path = None;
        let mut original = None;
        let target = request_target(&parts.uri, parts.version);
        // gh-87389 / CVE-2021-28861: `//evil.com/x` must never reach a Location header as is.
        if target.starts_with("//") {
            let collapsed = format!("/{}", target.trim_start_matches('/'));
            original = Some(target.into_owned().into_boxed_str());
            if let Ok(uri) = with_target(&parts.uri, &collapsed) {
                parts.uri = uri;
            }
            path = Some(collapsed);
        } else if let Cow::Owned(target) = target {
            original = Some(target.clone().into_boxed_str());
            path = Some(target);
        }
        let conn = semantics::connection_info(&parts);
        let close_connection =
            initial_close_connection(parts.version, &parts.headers, hooks.protocol_version());
        Self {
            path,
            target: original,
            rfile: BodyReader::new(body),
            wfile: BodyWriter::new(shared.clone()),
            shared,
            hooks,
            server_header,
            conn,
            head: None,
            headers_sent: false,
            close_connection,
            fall_through: false,
            continue_requested: false,
            header_error: None,
            misuse: None,
            parts,
        }
    }

    // ===== the request =====

    /// Python's `self.command`: the request method, exactly as sent (`GET`, `SPAM`, `get`).
    pub fn command(&self) -> &str {
        self.parts.method.as_str()
    }

    /// The request method as an [`http::Method`].
    pub fn method(&self) -> &Method {
        &self.parts.method
    }

    /// Python's `self.path`: the request target as sent, query included (`/a/b?x=1`), with
    /// leading slashes collapsed to one (`//x` → `/x`, CVE-2021-28861). An absolute-form target
    /// (`GET http://host/p HTTP/1.1`) is kept whole, as in Python.
    ///
    /// The fragment is not included: hyper drops it while parsing (clients do not send one).
    pub fn path(&self) -> &str {
        match &self.path {
            Some(path) => path,
            None => self
                .parts
                .uri
                .path_and_query()
                .map_or("/", |pq| pq.as_str()),
        }
    }

    /// Replaces `self.path`, as Python code does before `super().do_GET()`: after
    /// [`fall_through`](Exchange::fall_through), the inner service sees the new target.
    pub fn set_path(&mut self, path: impl Into<String>) {
        self.path = Some(path.into());
    }

    /// Python's `self.request_version`: `HTTP/1.0`, `HTTP/1.1` or `HTTP/2.0`.
    pub fn request_version(&self) -> &'static str {
        version_str(self.parts.version)
    }

    /// The request version as an [`http::Version`].
    pub fn version(&self) -> Version {
        self.parts.version
    }

    /// Python's `self.requestline`: `GET /path HTTP/1.1`, as logged.
    ///
    /// Rebuilt from the parsed request (hyper does not keep the raw line), with the target
    /// decoded as ISO-8859-1 like Python decodes the line.
    pub fn requestline(&self) -> String {
        self.request_line().to_string()
    }

    /// The request line, formatted only when displayed.
    pub(crate) fn request_line(&self) -> RequestLine<'_> {
        let target = match (
            &self.target,
            request_target(&self.parts.uri, self.parts.version),
        ) {
            (Some(target), _) => target,
            (None, Cow::Borrowed(target)) => target,
            // Owned targets (absolute-form) are always kept in `self.target`.
            (None, Cow::Owned(_)) => "",
        };
        RequestLine {
            method: self.command(),
            target,
            version: self.parts.version,
        }
    }

    /// Python's `self.headers`: the request headers.
    ///
    /// Names are case-insensitive; `get` returns the first value, like Python's
    /// `headers.get()`; `get_all` returns every value.
    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// Mutable access to the request headers; an inner service reached through
    /// [`fall_through`](Exchange::fall_through) sees the changes.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.parts.headers
    }

    /// The request URI as parsed by hyper (after the `//` collapse).
    pub fn uri(&self) -> &Uri {
        &self.parts.uri
    }

    /// The request's extensions ([`ConnectionInfo`], anything middleware inserted).
    pub fn extensions(&self) -> &http::Extensions {
        &self.parts.extensions
    }

    /// Mutable access to the request's extensions.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.parts.extensions
    }

    /// Python's `self.rfile`: the request body. See [`BodyReader`].
    pub fn rfile(&mut self) -> &mut BodyReader {
        &mut self.rfile
    }

    /// The connection this request arrived on, when the server provided a [`ConnectionInfo`]
    /// (basehttp's [`HttpServer`](crate::server::HttpServer) does; elsewhere insert one with
    /// a tower layer).
    pub fn connection_info(&self) -> Option<&ConnectionInfo> {
        self.conn.as_ref()
    }

    /// Python's `self.client_address`: the peer's address, if known.
    pub fn client_address(&self) -> Option<SocketAddr> {
        self.conn.as_ref().map(ConnectionInfo::remote_addr)
    }

    /// Python's `address_string()`: the client's host as logged (`127.0.0.1`, `::1`), or `-`
    /// when the server did not say.
    pub fn address_string(&self) -> &str {
        self.conn
            .as_ref()
            .map_or("-", ConnectionInfo::address_string)
    }

    /// Python's `self.server.server_name`: the name the server was bound under, or, when the
    /// service runs elsewhere, the host of the `Host` header.
    pub fn server_name(&self) -> &str {
        semantics::server_name_and_port(&self.parts, self.conn.as_ref()).0
    }

    /// Python's `self.server.server_port`: the port the server listens on, or, when the service
    /// runs elsewhere, the port of the `Host` header (80 when it has none).
    pub fn server_port(&self) -> u16 {
        semantics::server_name_and_port(&self.parts, self.conn.as_ref()).1
    }

    // ===== the response =====

    /// Python's `self.close_connection`: whether the connection closes after this response.
    ///
    /// Starts as Python's `parse_request` leaves it: `false` only when both the request and
    /// [`protocol_version`](HttpRequestHandler::protocol_version) are HTTP/1.1 or newer (or the
    /// client sent `Connection: keep-alive` to an HTTP/1.1 handler) and the client did not send
    /// `Connection: close`. [`send_header`](Exchange::send_header) with `Connection` updates it.
    pub fn close_connection(&self) -> bool {
        self.close_connection
    }

    /// Sets Python's `self.close_connection`. Takes effect if set before
    /// [`end_headers`](Exchange::end_headers).
    pub fn set_close_connection(&mut self, close: bool) {
        self.close_connection = close;
    }

    /// Whether the response head has been handed to the connection.
    pub fn headers_sent(&self) -> bool {
        self.headers_sent
    }

    /// Python's `send_response(code)`: logs the request, starts the response head with the
    /// status line and adds `Server` and `Date`.
    ///
    /// The reason phrase is Python's for `code` (`404 Not Found`, `999 ` for codes Python does not
    /// know). Any `u16` from 100 to 999 is sent as is.
    pub fn send_response(&mut self, code: u16) {
        self.send_response_inner(code, None);
    }

    /// Python's `send_response(code, message)`: like [`send_response`](Exchange::send_response)
    /// with a custom reason phrase (`200 Script output follows`).
    pub fn send_response_with(&mut self, code: u16, message: &str) {
        self.send_response_inner(code, Some(message));
    }

    fn send_response_inner(&mut self, code: u16, message: Option<&str>) {
        self.log_request(code);
        self.start_head(code, message);
        if let Some(head) = &mut self.head {
            head.headers
                .append(header::SERVER, self.server_header.clone());
            head.headers.append(header::DATE, crate::log::date_header());
        }
    }

    /// Python's `send_response_only(code)`: starts the response head without logging and
    /// without `Server` and `Date`.
    ///
    /// `send_response_only(100)` followed by [`end_headers`](Exchange::end_headers) sends
    /// `100 Continue` (what [`handle_expect_100`](HttpRequestHandler::handle_expect_100) does).
    pub fn send_response_only(&mut self, code: u16) {
        self.start_head(code, None);
    }

    /// Python's `send_response_only(code, message)`, with a custom reason phrase.
    pub fn send_response_only_with(&mut self, code: u16, message: &str) {
        self.start_head(code, Some(message));
    }

    fn start_head(&mut self, code: u16, message: Option<&str>) {
        if self.headers_sent {
            // Python would write a second status line into the body; nothing useful can be done.
            self.log_error(format_args!(
                "send_response({code}) after the headers were sent: ignored"
            ));
            return;
        }
        let status = StatusCode::from_u16(code).ok();
        if status.is_none() {
            self.header_error = Some(format!("status code {code} cannot be sent"));
        }
        let reason = status.and_then(|status| self.reason_phrase(status, message));
        let headers = match self.head.take() {
            // Headers sent before the status line keep their place (Python buffers them too).
            Some(head) if head.status.is_none() => head.headers,
            _ => HeaderMap::with_capacity(HEAD_CAPACITY),
        };
        self.head = Some(PendingHead {
            status,
            reason,
            headers,
        });
    }

    /// The `ReasonPhrase` extension to attach, if Python's phrase differs from hyper's.
    fn reason_phrase(&self, status: StatusCode, message: Option<&str>) -> Option<ReasonPhrase> {
        match message {
            Some(message) if status.canonical_reason() == Some(message) => None,
            Some(message) => Some(reason_from_message(message)),
            None => {
                let python = self.hooks.responses(status.as_u16()).map_or("", |(p, _)| p);
                semantics::python_reason(status, python)
            }
        }
    }

    /// Python's `send_header(keyword, value)`: adds a response header.
    ///
    /// The value is anything `Display` (Python formats it with `%s`), encoded as ISO-8859-1
    /// like Python does. `Connection: close` / `keep-alive` updates
    /// [`close_connection`](Exchange::close_connection).
    ///
    /// Unlike Python, an invalid name or a value with CR, LF or other control characters (a
    /// header-injection attempt) or with characters outside ISO-8859-1 is not sent: the header is
    /// dropped and [`end_headers`](Exchange::end_headers) returns an error, which turns into a
    /// 500 page if the handler passes it on with `?`.
    pub fn send_header(&mut self, keyword: &str, value: impl fmt::Display) {
        if self.headers_sent {
            self.log_error(format_args!(
                "send_header({keyword:?}) after the headers were sent: ignored"
            ));
            return;
        }
        let mut value_buf = FormatBuf::new();
        let _ = fmt::write(&mut value_buf, format_args!("{value}"));
        let value = value_buf.as_bytes();
        let name = match common_header_name(keyword) {
            Some(name) => name,
            None => match HeaderName::from_bytes(keyword.as_bytes()) {
                Ok(name) => name,
                Err(_) => {
                    self.header_error = Some(format!("invalid header name {keyword:?}"));
                    return;
                }
            },
        };
        let header_value = latin1_bytes(value).and_then(|v| HeaderValue::from_bytes(&v).ok());
        let Some(header_value) = header_value else {
            self.header_error = Some(format!(
                "invalid value for header {keyword:?}: {:?}",
                String::from_utf8_lossy(value)
            ));
            return;
        };
        if name == header::CONTENT_LENGTH {
            let digits = !value.is_empty() && value.iter().all(u8::is_ascii_digit);
            let conflicting = self
                .head
                .as_ref()
                .and_then(|head| head.headers.get(header::CONTENT_LENGTH))
                .is_some_and(|existing| existing.as_bytes() != value);
            if !digits || conflicting {
                self.header_error = Some(format!(
                    "invalid Content-Length {:?}",
                    String::from_utf8_lossy(value)
                ));
                return;
            }
        }
        if name == header::CONNECTION {
            if value.eq_ignore_ascii_case(b"close") {
                self.close_connection = true;
            } else if value.eq_ignore_ascii_case(b"keep-alive") {
                self.close_connection = false;
            }
        }
        let head = self.head.get_or_insert_with(|| PendingHead {
            status: None,
            reason: None,
            headers: HeaderMap::with_capacity(HEAD_CAPACITY),
        });
        head.headers.append(name, header_value);
    }

    /// Python's `end_headers()`: finishes the head and hands it to the connection. The client
    /// receives it as soon as the handler next waits.
    ///
    /// Errors if an earlier [`send_header`](Exchange::send_header) was refused, or if no
    /// [`send_response`](Exchange::send_response) came first.
    pub fn end_headers(&mut self) -> io::Result<()> {
        if let Some(error) = self.header_error.take() {
            self.head = None;
            return Err(io::Error::new(io::ErrorKind::InvalidInput, error));
        }
        if self.headers_sent {
            return Ok(());
        }
        let Some(head) = self.head.take() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "end_headers() without send_response()",
            ));
        };
        let Some(status) = head.status else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "end_headers() without send_response(): headers but no status line",
            ));
        };
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            // hyper sends interim responses itself: `100 Continue` when the body is first read
            // (which we trigger now), nothing else. The final response still has to follow.
            if status == StatusCode::CONTINUE {
                self.continue_requested = true;
            }
            return Ok(());
        }
        self.finish_head(status, head.reason, head.headers);
        Ok(())
    }

    /// Python's `flush_headers()`: sends what has been buffered. Here the same as
    /// [`end_headers`](Exchange::end_headers), since hyper writes the blank line that ends the
    /// head itself.
    pub fn flush_headers(&mut self) -> io::Result<()> {
        self.end_headers()
    }

    fn finish_head(
        &mut self,
        status: StatusCode,
        reason: Option<ReasonPhrase>,
        mut headers: HeaderMap,
    ) {
        let mut response = http::Response::new(());
        *response.status_mut() = status;
        if let Some(reason) = reason {
            response.extensions_mut().insert(reason);
        }
        semantics::finish_head(
            self.parts.version,
            self.hooks.protocol_version(),
            self.close_connection,
            self.conn.as_ref(),
            response.version_mut(),
            &mut headers,
        );
        *response.headers_mut() = headers;
        let no_body = self.parts.method == Method::HEAD
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        self.wfile.open = true;
        self.wfile.discard = no_body;
        self.headers_sent = true;
        let (parts, ()) = response.into_parts();
        lock(&self.shared).head = Some(parts);
    }

    /// Gives a response from the inner service (after [`fall_through`](Exchange::fall_through))
    /// what Python's `super().do_GET()` would have given it, unless a basehttp handler already
    /// did: the log line, `protocol_version`'s status line and connection handling.
    pub(crate) fn adopt(&self, response: &mut http::Response<Body>) {
        if response.body().is_answered() {
            return;
        }
        self.log_request(response.status().as_u16());
        let (mut parts, body) =
            std::mem::replace(response, http::Response::new(Body::empty())).into_parts();
        semantics::finish_head(
            self.parts.version,
            self.hooks.protocol_version(),
            self.close_connection,
            self.conn.as_ref(),
            &mut parts.version,
            &mut parts.headers,
        );
        *response = http::Response::from_parts(parts, body);
    }

    /// Python's `send_error(code)`: logs `code N, message …`, sends the status line with
    /// Python's phrase and Python's HTML error page, and closes the connection afterwards.
    ///
    /// 1xx, 204, 205 and 304 get no body, HEAD gets the headers only. If the headers were already
    /// sent, nothing more can be said on this response: the error is logged and the connection
    /// aborted.
    pub fn send_error(&mut self, code: u16) {
        self.send_error_inner(code, None, None);
    }

    /// Python's `send_error(code, message, explain)`: the message becomes the reason phrase
    /// and, HTML-escaped, part of the page; `explain` defaults to Python's description of `code`.
    pub fn send_error_with(&mut self, code: u16, message: &str, explain: Option<&str>) {
        self.send_error_inner(code, Some(message), explain);
    }

    fn send_error_inner(&mut self, code: u16, message: Option<&str>, explain: Option<&str>) {
        let (short, long) = self.hooks.responses(code).unwrap_or(("???", "???"));
        let message = message.unwrap_or(short).to_owned();
        let explain = explain.unwrap_or(long).to_owned();
        self.log_error(format_args!("code {code}, message {message}"));
        if self.headers_sent {
            self.misuse("send_error() after the headers were sent");
            return;
        }
        // Python would append to whatever was buffered; a clean error page is the useful answer.
        self.head = None;
        self.header_error = None;
        self.send_response_inner(code, Some(&message));
        self.send_header("Connection", "close");
        let body = (code >= 200 && !matches!(code, 204 | 205 | 304)).then(|| {
            render_error_page(self.hooks.error_message_format(), code, &message, &explain)
        });
        if let Some(body) = &body {
            let content_type = self.hooks.error_content_type().to_owned();
            self.send_header("Content-Type", content_type);
            self.send_header("Content-Length", body.len());
        }
        if self.end_headers().is_err() {
            // Only an invalid error_content_type() can get here; fall back to Python's default.
            self.head = None;
            self.send_response_inner(500, None);
            self.send_header("Connection", "close");
            let _ = self.end_headers();
            return;
        }
        if let Some(body) = body {
            if self.parts.method != Method::HEAD && !self.wfile.discard {
                lock(&self.shared).push(body.as_bytes());
            }
        }
    }

    /// Python's `self.wfile`: the response body. See [`BodyWriter`].
    ///
    /// If [`send_response`](Exchange::send_response) was called but not
    /// [`end_headers`](Exchange::end_headers), the head is sent first (Python would have written
    /// the body before its own headers).
    pub fn wfile(&mut self) -> &mut BodyWriter {
        if !self.headers_sent && self.head.as_ref().is_some_and(|h| h.status.is_some()) {
            if let Err(err) = self.end_headers() {
                self.misuse = Some("invalid response header before the body");
                self.log_error(format_args!("wfile used after an invalid header: {err}"));
            }
        }
        &mut self.wfile
    }

    /// Sends `body` as the rest of the response body, after whatever was written to
    /// [`wfile`](Exchange::wfile): a file, a buffer, any stream, handed to hyper without being
    /// copied through `wfile`. Call it after [`end_headers`](Exchange::end_headers); the body is
    /// then complete (later `wfile` writes fail).
    ///
    /// ```
    /// use basehttp::prelude::*;
    ///
    /// struct Blob(bytes::Bytes);
    ///
    /// impl HttpRequestHandler for Blob {
    ///     async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
    ///         ex.send_response(200);
    ///         ex.send_header("Content-Length", self.0.len());
    ///         ex.end_headers()?;
    ///         ex.send_body(Body::from(self.0.clone()));
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn send_body(&mut self, body: Body) {
        if !self.headers_sent {
            self.misuse("send_body() before end_headers()");
            return;
        }
        if !self.wfile.open {
            self.misuse("send_body() after the body was completed");
            return;
        }
        self.wfile.open = false;
        if !self.wfile.discard {
            lock(&self.shared).tail = Some(body);
        }
    }

    /// Hands the request to the inner service — Python's `return super().do_GET()`.
    ///
    /// The handler returns right after calling it (`return ex.fall_through();`): the inner
    /// service then receives the request with the current [`path`](Exchange::path),
    /// [`headers`](Exchange::headers) and whatever is left of the body. Without an inner service
    /// the answer is Python's `501 Unsupported method ('GET')`.
    ///
    /// Fails if anything was already sent or buffered for the response.
    #[doc(alias = "super")]
    pub fn fall_through(&mut self) -> Result<(), BoxError> {
        if self.headers_sent || self.head.is_some() {
            return Err("fall_through() after send_response(): the response has begun".into());
        }
        self.fall_through = true;
        Ok(())
    }

    // ===== logging and strings =====

    /// Python's `log_request(code)`: calls the handler's
    /// [`log_request`](HttpRequestHandler::log_request).
    pub fn log_request(&self, code: u16) {
        self.hooks.log_request(self, code, None);
    }

    /// Python's `log_error(…)`: calls the handler's [`log_error`](HttpRequestHandler::log_error).
    pub fn log_error(&self, message: impl fmt::Display) {
        self.hooks.log_error(self, format_args!("{message}"));
    }

    /// Python's `log_message(…)`: calls the handler's
    /// [`log_message`](HttpRequestHandler::log_message).
    pub fn log_message(&self, message: impl fmt::Display) {
        self.hooks.log_message(self, format_args!("{message}"));
    }

    /// Writes one line in Python's format; what the default
    /// [`log_message`](HttpRequestHandler::log_message) does.
    pub fn log_line(&self, message: fmt::Arguments<'_>) {
        let address = self
            .conn
            .as_ref()
            .map_or("-", ConnectionInfo::address_string);
        crate::log::emit(address, message);
    }

    /// Python's `date_time_string()`: now, as an HTTP date.
    pub fn date_time_string(&self) -> String {
        crate::log::date_time_string(SystemTime::now())
    }

    /// Python's `log_date_time_string()`: now, in local time, as logged.
    pub fn log_date_time_string(&self) -> String {
        crate::log::log_date_time_string(SystemTime::now())
    }

    /// Python's `version_string()`: the `Server` header value this handler sends.
    pub fn version_string(&self) -> &str {
        self.server_header.to_str().unwrap_or_default()
    }

    // ===== internals for the service =====

    fn misuse(&mut self, what: &'static str) {
        self.log_error(format_args!("{what}"));
        self.misuse.get_or_insert(what);
    }

    /// Whether Python would call `handle_expect_100()` for this request.
    pub(crate) fn wants_continue(&self) -> bool {
        self.parts.version >= Version::HTTP_11
            && self.hooks.protocol_version() >= Version::HTTP_11
            && self
                .parts
                .headers
                .get(header::EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
    }

    /// Polls the request body once so hyper sends `100 Continue`.
    pub(crate) async fn send_continue(&mut self) {
        self.continue_requested = false;
        std::future::poll_fn(|cx| self.rfile.poll_prefetch(cx)).await;
    }

    pub(crate) fn has_pending_head(&self) -> bool {
        self.head.as_ref().is_some_and(|h| h.status.is_some())
    }

    /// Builds the request for the inner service from the current state. The exchange keeps the
    /// method, URI and version so it can still log and answer.
    pub(crate) fn take_request(&mut self) -> Result<Request<Body>, BoxError> {
        let uri = match &self.path {
            Some(path) if *path != request_target(&self.parts.uri, self.parts.version) => {
                with_target(&self.parts.uri, path)?
            }
            _ => self.parts.uri.clone(),
        };
        let mut request = Request::new(
            std::mem::replace(&mut self.rfile, BodyReader::new(Body::empty())).into_body(),
        );
        *request.method_mut() = self.parts.method.clone();
        *request.uri_mut() = uri;
        *request.version_mut() = self.parts.version;
        *request.headers_mut() = std::mem::take(&mut self.parts.headers);
        *request.extensions_mut() = std::mem::take(&mut self.parts.extensions);
        Ok(request)
    }
}

/// The names handlers send most, matched without parsing (exact spellings first: a plain
/// comparison is far cheaper than case folding).
fn common_header_name(keyword: &str) -> Option<HeaderName> {
    const COMMON: [(&str, &str, HeaderName); 6] = [
        ("Content-Type", "Content-type", header::CONTENT_TYPE),
        ("Content-Length", "Content-length", header::CONTENT_LENGTH),
        ("Connection", "connection", header::CONNECTION),
        ("Location", "location", header::LOCATION),
        ("Last-Modified", "Last-modified", header::LAST_MODIFIED),
        ("Cache-Control", "Cache-control", header::CACHE_CONTROL),
    ];
    COMMON
        .iter()
        .filter(|(title, _, _)| title.len() == keyword.len())
        .find(|(title, python, _)| {
            keyword == *title || keyword == *python || keyword.eq_ignore_ascii_case(title)
        })
        .map(|(_, _, name)| name.clone())
}

/// Room for Python's usual head (`Server`, `Date`, a type, a length) without regrowing.
const HEAD_CAPACITY: usize = 8;

/// A `fmt::Write` target that stays on the stack for short values (header values are short).
struct FormatBuf {
    buf: [u8; 128],
    len: usize,
    spill: Option<String>,
}

impl FormatBuf {
    fn new() -> Self {
        Self {
            buf: [0; 128],
            len: 0,
            spill: None,
        }
    }

    /// The UTF-8 bytes written.
    fn as_bytes(&self) -> &[u8] {
        match &self.spill {
            Some(s) => s.as_bytes(),
            None => &self.buf[..self.len],
        }
    }
}

impl fmt::Write for FormatBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(spill) = &mut self.spill {
            spill.push_str(s);
        } else if self.len + s.len() <= self.buf.len() {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
        } else {
            let mut spill = String::with_capacity(self.len + s.len() + 64);
            spill.push_str(std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default());
            spill.push_str(s);
            self.spill = Some(spill);
        }
        Ok(())
    }
}

/// `uri` with its target replaced by `target` (a path, or an absolute URI).
fn with_target(uri: &Uri, target: &str) -> Result<Uri, BoxError> {
    if target.contains("://") || uri.scheme().is_none() {
        return Ok(target.parse::<Uri>()?);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(target.parse()?);
    Ok(Uri::from_parts(parts)?)
}
