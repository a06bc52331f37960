//! [`Exchange`]: the per-request half of a Python handler's `self`, and the one place where
//! Python's response rules are applied — for a handler's own responses, for files and listings,
//! for CGI scripts and for every error page.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::SystemTime;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode, Uri, Version};
use hyper::ext::ReasonPhrase;
use sync_wrapper::SyncWrapper;

use super::class::{Base, Class, Inherited, ServerName};
use super::error_page::render_error_page;
use super::io::{BodyReader, BodyWriter};
use super::rules::{
    self, RequestLine, initial_close_connection, latin1_bytes, reason_from_message, request_target,
    version_str,
};
use super::{BoxError, HeaderError, HttpRequestHandler};
use crate::body::Body;
use crate::body::pipe::{SharedRef, lock};
use crate::connection::ConnectionInfo;

/// Where a response is in Python's sequence `send_response` → `send_header` → `end_headers` →
/// body.
#[derive(Debug)]
enum State {
    /// Nothing sent or buffered.
    Idle,
    /// `send_response` or `send_header` buffered a head (Python's `_headers_buffer`); `status`
    /// is `None` when headers came before any status line.
    HeadPending(PendingHead),
    /// `end_headers` handed the head to the connection: `wfile` writes the body.
    HeadSent,
    /// `send_body` handed over the rest of the body: the response is complete.
    BodyHandedOver,
    /// `fall_through`: the inner service answers.
    FellThrough,
}

/// The response head being assembled.
#[derive(Debug)]
struct PendingHead {
    status: Option<StatusCode>,
    reason: Option<ReasonPhrase>,
    headers: HeaderMap,
}

impl PendingHead {
    fn headers_only() -> Self {
        Self {
            status: None,
            reason: None,
            headers: super::spare::header_map(),
        }
    }
}

/// Where the head and the body go.
pub(crate) enum Output {
    /// A handler run: the head and the body go through the pipe while the handler runs.
    Pipe(SharedRef),
    /// A service answering in place (file serving, CGI): the response is assembled here, once
    /// its head is finished, and taken with [`Exchange::into_response`]. Held in place, not
    /// boxed: a file response then costs no allocation for it (a handler's exchange, which
    /// never has one, is 160 bytes larger for it: 880).
    #[cfg_attr(not(feature = "fs"), allow(dead_code))]
    Direct(Option<Direct>),
}

/// A response assembled in place.
pub(crate) struct Direct {
    head: http::response::Parts,
    body: Option<SyncWrapper<Body>>,
}

impl Output {
    #[cfg_attr(not(feature = "fs"), allow(dead_code))]
    pub(crate) fn direct() -> Self {
        Self::Direct(None)
    }

    /// Where the body goes, once the head is finished.
    fn set_body(&mut self, body: Body) {
        match self {
            Self::Pipe(shared) => lock(shared).tail = Some(body),
            Self::Direct(Some(direct)) => direct.body = Some(SyncWrapper::new(body)),
            Self::Direct(None) => {}
        }
    }
}

/// The overridable methods whose `super()` calls are tracked: see [`Exchange::walk`].
#[derive(Clone, Copy, Debug)]
enum Hook {
    EndHeaders = 0,
    SendError = 1,
    LogRequest = 2,
    LogError = 3,
    LogMessage = 4,
    #[cfg(feature = "fs")]
    TranslatePath = 5,
    #[cfg(feature = "fs")]
    GuessType = 6,
    #[cfg(feature = "fs")]
    ListDirectory = 7,
    #[cfg(cgi)]
    IsCgi = 8,
}

/// One more than the largest discriminant of [`Hook`], whatever the features.
const HOOKS: usize = 9;

/// How deep into the class each overridable method's walk currently is (0: not inside it).
/// Atomics keep `Exchange` `Sync`; only the task owning the exchange touches them.
#[derive(Debug, Default)]
struct Depth([AtomicU8; HOOKS]);

impl Depth {
    fn get(&self, hook: Hook) -> u8 {
        self.0[hook as usize].load(Ordering::Relaxed)
    }

    fn set(&self, hook: Hook, depth: u8) {
        self.0[hook as usize].store(depth, Ordering::Relaxed);
    }
}

/// One request being answered: the per-request state of a Python `BaseHTTPRequestHandler`
/// (`self.path`, `self.headers`, `self.wfile`, `self.send_response(…)`, …).
///
/// A `do_*` method of [`HttpRequestHandler`] receives `&mut Exchange` and uses it the way
/// Python code uses `self`. The response is assembled like Python's: [`send_response`] starts
/// the head (status line, `Server`, `Date`) and logs the request, [`send_header`] adds headers,
/// [`end_headers`] hands the head to the connection, [`wfile`] writes the body.
///
/// Every response basehttp makes goes through an `Exchange` — a handler's, and those of
/// [`StaticFiles`] and [`Cgi`] (files, listings, redirects, `304`s, error pages) — so the
/// methods a handler overrides ([`end_headers`](super::HttpRequestHandler::end_headers),
/// [`log_message`](super::HttpRequestHandler::log_message), …) reach all of them, as in Python where
/// those services are subclasses of `BaseHTTPRequestHandler`. Called from inside such an
/// override, the method of the same name continues with the next class: it is Python's
/// `super()`.
///
/// [`HttpRequestHandler`]: super::HttpRequestHandler
/// [`send_response`]: Exchange::send_response
/// [`send_header`]: Exchange::send_header
/// [`end_headers`]: Exchange::end_headers
/// [`wfile`]: Exchange::wfile
/// [`StaticFiles`]: crate::static_files::StaticFiles
/// [`Cgi`]: crate::cgi::Cgi
pub struct Exchange {
    parts: http::request::Parts,
    /// Python's `self.path` when it differs from the parsed target (collapsed, absolute-form,
    /// or set by the handler); otherwise the path is read from `parts.uri`.
    path: Option<String>,
    /// The request target as received, when `path` no longer matches it (the `//` collapse).
    target: Option<Box<str>>,
    rfile: BodyReader,
    /// Python's `wfile`, which holds where the head and the body go.
    wfile: BodyWriter,
    /// The handlers the request came through, most derived first; `None` when there are none.
    class: Option<Arc<Class>>,
    /// The service making the response: its attributes and method bodies.
    base: Arc<dyn Base>,
    depth: Depth,
    conn: Option<ConnectionInfo>,

    state: State,
    /// `protocol_version`, resolved once (see [`resolve_protocol`]).
    protocol: Version,
    close_connection: bool,
    /// Whether `close_connection` was set by the handler rather than by the request.
    close_set: bool,
    pub(crate) continue_requested: bool,
    /// Whether the request came with `Expect: 100-continue`.
    expect_continue: bool,
    /// A refused `send_header`, reported by the next `end_headers`.
    header_error: Option<HeaderError>,
    /// An error page's head is being finished (see `base_send_error`): a `send_error` from
    /// an `end_headers` override then leaves the page as it is.
    in_error_page: bool,
    /// The `Server` header a handler's `server_version`/`sys_version` make with the service's.
    composed_server: std::sync::OnceLock<HeaderValue>,
    pub(crate) misuse: Option<&'static str>,
}

impl Drop for Exchange {
    /// The request's header map is kept for a later response head (see `spare`).
    fn drop(&mut self) {
        super::spare::keep(std::mem::take(&mut self.parts.headers));
    }
}

impl fmt::Debug for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchange")
            .field("command", &self.command())
            .field("path", &self.path())
            .field("request_version", &self.request_version())
            .field("state", &self.state)
            .field("close_connection", &self.close_connection)
            .finish_non_exhaustive()
    }
}

impl Exchange {
    /// An exchange for `parts`: `class` are the handlers the request came through (most derived
    /// first), `base` the service answering.
    #[cfg(cgi)]
    pub(crate) fn new(
        parts: http::request::Parts,
        body: Body,
        class: Option<Arc<Class>>,
        base: Arc<dyn Base>,
        output: Output,
    ) -> Self {
        Self::build(parts, body, class, base, output, None)
    }

    /// An exchange for a request a handler's fall-through may have handed down: then it goes
    /// on with that handler's class (with `own` appended: a handler reached this way), its
    /// `close_connection` and its request line, as Python's one `self` would.
    pub(crate) fn handed_down(
        mut parts: http::request::Parts,
        body: Body,
        own: Option<&Arc<Class>>,
        base: Arc<dyn Base>,
        output: Output,
    ) -> Self {
        let inherited = parts.extensions.remove::<Inherited>();
        let class = match (&inherited, own) {
            (Some(inherited), Some(own)) => Some(Arc::new(own.below(&inherited.class))),
            (Some(inherited), None) => Some(inherited.class.clone()),
            (None, own) => own.cloned(),
        };
        Self::build(parts, body, class, base, output, inherited)
    }

    /// Everything computed first, then the exchange written once (it is large: no copies).
    fn build(
        mut parts: http::request::Parts,
        body: Body,
        class: Option<Arc<Class>>,
        base: Arc<dyn Base>,
        output: Output,
        inherited: Option<Inherited>,
    ) -> Self {
        let mut path = None;
        let mut original = None;
        let target = request_target(&parts.uri, parts.version);
        // gh-87389 / CVE-2021-28861: `//evil.com/x` must never reach a Location header as is.
        if target.starts_with("//") {
            let collapsed = rules::collapse_slashes(&target).into_owned();
            original = Some(target.into_owned().into_boxed_str());
            if let Ok(uri) = with_target(&parts.uri, &collapsed) {
                parts.uri = uri;
            }
            path = Some(collapsed);
        } else if let Cow::Owned(target) = target {
            original = Some(target.clone().into_boxed_str());
            path = Some(target);
        }
        let (close_set, close, inherited_target) = match inherited {
            Some(Inherited { close, target, .. }) => (close.is_some(), close, target),
            None => (false, None, None),
        };
        if inherited_target.is_some() {
            original = inherited_target;
        }
        let conn = rules::connection_info(&parts);
        let protocol = resolve_protocol(class.as_deref(), &*base, &parts, conn.as_ref());
        let fields = rules::RequestFields::of(&parts.headers);
        let expect_continue = fields.expect_continue;
        let close_connection = close.unwrap_or_else(|| {
            initial_close_connection(parts.version, fields.connection, protocol)
        });
        // Python's `timeout`: the most derived handler's, else the service's.
        let timeout = class
            .as_deref()
            .and_then(|c| c.hooks.first())
            .map_or(base.attributes().timeout, |handler| handler.timeout());
        Self {
            path,
            target: original,
            rfile: BodyReader::new(body, timeout),
            wfile: BodyWriter::new(output),
            class,
            base,
            depth: Depth::default(),
            conn,
            state: State::Idle,
            protocol,
            close_connection,
            close_set,
            continue_requested: false,
            expect_continue,
            header_error: None,
            in_error_page: false,
            composed_server: std::sync::OnceLock::new(),
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

    /// Python's `urlsplit(self.path).path`: [`path`](Exchange::path) without its query string,
    /// still percent-encoded (`/search` for `/search?q=rust`).
    #[doc(alias = "urlsplit")]
    pub fn path_without_query(&self) -> &str {
        super::query::split_target(self.path()).0
    }

    /// Python's `urlsplit(self.path).query`: the raw query string, if the target has a `?`.
    pub fn query(&self) -> Option<&str> {
        super::query::split_target(self.path()).1
    }

    /// Python's `parse_qsl(urlsplit(self.path).query)`: the query's `name=value` pairs, decoded,
    /// in order, blank values left out (see [`parse_qsl`](super::parse_qsl)). For `parse_qs`,
    /// group them by name, or ask for one with [`query_value`](Exchange::query_value).
    #[doc(alias = "parse_qs")]
    #[doc(alias = "parse_qsl")]
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query()
            .map(super::query::parse_qsl)
            .unwrap_or_default()
    }

    /// Python's `parse_qs(urlsplit(self.path).query).get(name, [None])[0]`: the first decoded
    /// value of `name` in the query string.
    pub fn query_value(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find_map(|(key, value)| (key == name).then_some(value))
    }

    /// Python's `self.headers[name]` (or `.get(name)`): the first value of a request header as
    /// text, each byte read as ISO-8859-1 as Python's `http.client` parser does, so a value with
    /// bytes above 0x7F is still returned (where [`HeaderValue::to_str`](http::HeaderValue::to_str)
    /// refuses it). `None` when the header is absent.
    #[doc(alias = "headers")]
    pub fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.parts
            .headers
            .get(name)
            .map(|value| crate::log::latin1(value.as_bytes()))
    }

    /// Python's `int(self.headers['Content-Length'])`: the declared body length, `None` when the
    /// request has none (the body is then chunked, absent, or framed by HTTP/2). hyper has
    /// already refused a malformed one with `400`, and accepts repeated equal values
    /// (`5, 5`), which count once.
    #[doc(alias = "Content-Length")]
    pub fn content_length(&self) -> Option<u64> {
        let mut length = None;
        for value in self.parts.headers.get_all(header::CONTENT_LENGTH) {
            for part in value.to_str().ok()?.split(',') {
                let part: u64 = part.trim().parse().ok()?;
                if length.is_some_and(|seen| seen != part) {
                    return None;
                }
                length = Some(part);
            }
        }
        length
    }

    /// Reads the whole request body, at most `limit` bytes, answering as Python upload handlers
    /// do when it cannot: `411 Length Required` for an HTTP/1 request with neither
    /// `Content-Length` nor a chunked body, and `413 Request Entity Too Large` when the declared
    /// length exceeds `limit` (before reading a byte) or a chunked body grows past it. In those
    /// cases the error page has been sent and `Ok(None)` is returned: end the `do_*` method.
    ///
    /// Python: `self.rfile.read(int(self.headers['Content-Length']))` after those checks.
    ///
    /// ```
    /// use basehttp::prelude::*;
    ///
    /// struct Upload;
    ///
    /// impl HttpRequestHandler for Upload {
    ///     async fn do_post(&self, ex: &mut Exchange) -> HandlerResult {
    ///         let Some(body) = ex.read_body(1 << 20).await? else {
    ///             return Ok(()); // 411 or 413 has been sent
    ///         };
    ///         ex.send_response(200);
    ///         ex.send_header("Content-Length", body.len());
    ///         ex.end_headers()?;
    ///         ex.wfile().write_all(&body).await?;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub async fn read_body(&mut self, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
        use tokio::io::AsyncReadExt as _;

        let declared = self.content_length();
        let framed = declared.is_some()
            || self.parts.version >= Version::HTTP_2
            || self.parts.headers.contains_key(header::TRANSFER_ENCODING);
        if !framed {
            self.send_error(411);
            return Ok(None);
        }
        if declared.is_some_and(|length| length > limit) {
            self.send_error(413);
            return Ok(None);
        }
        // Trust a declared length for the first allocation only up to 64 KiB.
        let capacity = declared.unwrap_or(0).min(limit).min(64 * 1024);
        let mut body = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        (&mut self.rfile)
            .take(limit.saturating_add(1))
            .read_to_end(&mut body)
            .await?;
        if body.len() as u64 > limit {
            self.send_error(413);
            return Ok(None);
        }
        Ok(Some(body))
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

    #[cfg(feature = "fs")]
    pub(crate) fn parts(&self) -> &http::request::Parts {
        &self.parts
    }

    /// Python's `self.rfile`: the request body. See [`BodyReader`].
    pub fn rfile(&mut self) -> &mut BodyReader {
        &mut self.rfile
    }

    /// Whether a read of the body gave up waiting for the client.
    pub(crate) fn rfile_timed_out(&self) -> bool {
        self.rfile.timed_out()
    }

    /// The connection this request arrived on, when the server provided a [`ConnectionInfo`]
    /// (basehttp's [`HttpServer`](crate::server::HttpServer) does; elsewhere insert one with
    /// a tower layer).
    pub fn connection_info(&self) -> Option<&ConnectionInfo> {
        self.conn.as_ref()
    }

    /// A future that resolves when the server starts shutting down (Ctrl-C, SIGTERM,
    /// [`ShutdownHandle::shutdown`](crate::server::ShutdownHandle::shutdown)): a streaming
    /// loop selects on it to end by itself, with a last word to the client, rather than be cut
    /// off when the drain times out. Python has no equivalent (its `shutdown()` waits for
    /// handlers forever). Never resolves under a server other than basehttp's.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use basehttp::prelude::*;
    ///
    /// struct Events;
    ///
    /// impl HttpRequestHandler for Events {
    ///     async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
    ///         ex.send_response(200);
    ///         ex.send_header("Content-Type", "text/event-stream");
    ///         ex.end_headers()?;
    ///         let mut shutdown = ex.shutting_down();
    ///         for i in 0.. {
    ///             tokio::select! {
    ///                 () = &mut shutdown => {
    ///                     ex.wfile().write_all(b"event: bye\ndata: shutting down\n\n").await?;
    ///                     break;
    ///                 }
    ///                 () = tokio::time::sleep(Duration::from_secs(1)) => {}
    ///             }
    ///             ex.wfile().write_all(format!("data: {i}\n\n").as_bytes()).await?;
    ///             ex.wfile().flush().await?;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn shutting_down(&self) -> super::ShuttingDown {
        super::ShuttingDown::new(self.conn.as_ref().and_then(ConnectionInfo::shutdown_signal))
    }

    /// Whether the server has started shutting down (see [`shutdown`](Exchange::shutting_down)).
    pub fn is_shutting_down(&self) -> bool {
        self.conn
            .as_ref()
            .and_then(ConnectionInfo::shutdown_signal)
            .is_some_and(|signal| *signal.borrow() != crate::connection::Signal::Run)
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
        rules::server_name_and_port(&self.parts, self.conn.as_ref()).0
    }

    /// Python's `self.server.server_port`: the port the server listens on, or, when the service
    /// runs elsewhere, the port of the `Host` header (80 when it has none).
    pub fn server_port(&self) -> u16 {
        rules::server_name_and_port(&self.parts, self.conn.as_ref()).1
    }

    // ===== the class =====

    /// Python's `self.protocol_version` for this response: the most derived handler's, when it
    /// sets one, else the answering service's; when neither does, `HTTP/1.0` when basehttp's
    /// [`HttpServer`](crate::server::HttpServer) serves the services directly (Python's
    /// default) and `HTTP/1.1` when they are mounted in an application (an axum `Router`, or
    /// another server).
    pub fn protocol_version(&self) -> Version {
        self.protocol
    }

    /// Python's `version_string()`: the `Server` header value of this response (decoded as
    /// ISO-8859-1, as Python encoded it).
    pub fn version_string(&self) -> Cow<'_, str> {
        crate::log::latin1(self.server_header().as_bytes())
    }

    pub(crate) fn server_header(&self) -> &HeaderValue {
        let base = self.base.attributes();
        match self.class.as_ref().map(|c| &c.overrides.server) {
            None | Some(ServerName::Inherit) => base.server_header(),
            Some(ServerName::Exact(exact)) => exact,
            Some(ServerName::Parts {
                server_version,
                sys_version,
            }) => self.composed_server.get_or_init(|| {
                rules::server_header(&format!(
                    "{} {}",
                    server_version.as_deref().unwrap_or(base.server_version()),
                    sys_version.as_deref().unwrap_or(base.sys_version())
                ))
            }),
        }
    }

    /// Python's `self.error_message_format` for this response.
    pub fn error_message_format(&self) -> &str {
        match self
            .class
            .as_ref()
            .and_then(|c| c.overrides.error_message_format.as_deref())
        {
            Some(format) => format,
            None => &self.base.attributes().error_message_format,
        }
    }

    /// Python's `self.error_content_type` for this response (decoded as ISO-8859-1).
    pub fn error_content_type(&self) -> Cow<'_, str> {
        crate::log::latin1(self.error_content_type_value().as_bytes())
    }

    fn error_content_type_value(&self) -> &HeaderValue {
        self.class
            .as_ref()
            .and_then(|c| c.overrides.error_content_type.as_ref())
            .unwrap_or(&self.base.attributes().error_content_type)
    }

    /// Python's `self.responses[code]`: the first handler whose table says something else than
    /// Python's for `code`, else the answering service's table.
    pub fn responses(&self, code: u16) -> Option<(&str, &str)> {
        if let Some(class) = &self.class {
            let python = crate::responses(code);
            for hooks in class.hooks.iter() {
                let theirs = hooks.responses(code);
                if !same_entry(theirs, python) {
                    return theirs;
                }
            }
        }
        self.base.attributes().responses(code)
    }

    /// One step of `hook`'s walk through the class: calls the next handler's method (`next`),
    /// whose default comes back here one level deeper, or, once every handler has been called,
    /// the answering service's own (`base`). Python's method resolution with `super()`.
    fn walk<R>(
        &self,
        hook: Hook,
        next: impl FnOnce(&dyn HttpRequestHandler, &Self) -> R,
        base: impl FnOnce(&Self) -> R,
    ) -> R {
        let Some(class) = self.class.as_deref() else {
            return base(self);
        };
        let depth = self.depth.get(hook);
        let Some(handler) = class.hooks.get(usize::from(depth)) else {
            return base(self);
        };
        self.depth.set(hook, depth.saturating_add(1));
        let result = next(&**handler, self);
        self.depth.set(hook, depth);
        result
    }

    /// [`walk`](Self::walk) for the methods that take `&mut Exchange` (the handler is held by
    /// its own `Arc` meanwhile).
    fn walk_mut<R>(
        &mut self,
        hook: Hook,
        next: impl FnOnce(&dyn HttpRequestHandler, &mut Self) -> R,
        base: impl FnOnce(&mut Self) -> R,
    ) -> R {
        let depth = self.depth.get(hook);
        let handler = self
            .class
            .as_deref()
            .and_then(|class| class.hooks.get(usize::from(depth)))
            .cloned();
        let Some(handler) = handler else {
            return base(self);
        };
        self.depth.set(hook, depth.saturating_add(1));
        let result = next(&*handler, self);
        self.depth.set(hook, depth);
        result
    }

    /// The first answer of the handlers' methods for `hook`, from the current depth on (a
    /// handler's `None` is `super()`); `None` when none answers.
    #[cfg(feature = "fs")]
    fn walk_first<R>(
        &self,
        hook: Hook,
        next: impl Fn(&dyn HttpRequestHandler, &Self) -> Option<R>,
    ) -> Option<R> {
        let class = self.class.as_deref()?;
        let depth = self.depth.get(hook);
        let mut answer = None;
        for (at, handler) in class.hooks.iter().enumerate().skip(usize::from(depth)) {
            self.depth
                .set(hook, u8::try_from(at + 1).unwrap_or(u8::MAX));
            answer = next(&**handler, self);
            if answer.is_some() {
                break;
            }
        }
        self.depth.set(hook, depth);
        answer
    }

    /// Forgets walks a panic interrupted.
    pub(crate) fn reset_walks(&self) {
        for depth in &self.depth.0 {
            depth.store(0, Ordering::Relaxed);
        }
    }

    // ===== the response =====

    /// Python's `self.close_connection`: whether the connection closes after this response.
    ///
    /// Starts as Python's `parse_request` leaves it: `false` only when both the request and
    /// [`protocol_version`](Exchange::protocol_version) are HTTP/1.1 or newer (or the client
    /// sent `Connection: keep-alive` to an HTTP/1.1 handler) and the client did not send
    /// `Connection: close`. [`send_header`](Exchange::send_header) with `Connection` updates it.
    pub fn close_connection(&self) -> bool {
        self.close_connection
    }

    /// Sets Python's `self.close_connection`. Takes effect if set before
    /// [`end_headers`](Exchange::end_headers).
    pub fn set_close_connection(&mut self, close: bool) {
        self.close_connection = close;
        self.close_set = true;
    }

    /// Whether the response head has been handed to the connection.
    pub fn headers_sent(&self) -> bool {
        matches!(self.state, State::HeadSent | State::BodyHandedOver)
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
        let server = self.server_header().clone();
        if let State::HeadPending(head) = &mut self.state {
            head.headers.append(header::SERVER, server);
            head.headers.append(header::DATE, crate::log::date_header());
        }
    }

    /// Python's `send_response_only(code)`: starts the response head without logging and
    /// without `Server` and `Date`.
    ///
    /// `send_response_only(100)` followed by [`end_headers`](Exchange::end_headers) sends
    /// `100 Continue` (what [`handle_expect_100`](super::HttpRequestHandler::handle_expect_100)
    /// does).
    pub fn send_response_only(&mut self, code: u16) {
        self.start_head(code, None);
    }

    /// Python's `send_response_only(code, message)`, with a custom reason phrase.
    pub fn send_response_only_with(&mut self, code: u16, message: &str) {
        self.start_head(code, Some(message));
    }

    fn start_head(&mut self, code: u16, message: Option<&str>) {
        if self.headers_sent() {
            // Python would write a second status line into the body; nothing useful can be done.
            self.log_error(format_args!(
                "send_response({code}) after the headers were sent: ignored"
            ));
            return;
        }
        let status = StatusCode::from_u16(code).ok();
        if status.is_none() {
            self.header_error = Some(HeaderError::InvalidStatus(code));
        }
        let reason = status.and_then(|status| self.reason_phrase(status, message));
        let headers = match std::mem::replace(&mut self.state, State::Idle) {
            // Headers sent before the status line keep their place (Python buffers them too).
            State::HeadPending(head) if head.status.is_none() => head.headers,
            _ => super::spare::header_map(),
        };
        self.state = State::HeadPending(PendingHead {
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
                let python = self.responses(status.as_u16()).map_or("", |(p, _)| p);
                rules::python_reason(status, python)
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
    /// dropped and [`end_headers`](Exchange::end_headers) returns a [`HeaderError`], which turns
    /// into a 500 page if the handler passes it on with `?`.
    pub fn send_header(&mut self, keyword: &str, value: impl fmt::Display) {
        if self.headers_sent() {
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
                    self.header_error = Some(HeaderError::InvalidName(keyword.to_owned()));
                    return;
                }
            },
        };
        let header_value = common_header_value(value)
            .or_else(|| latin1_bytes(value).and_then(|v| HeaderValue::from_bytes(&v).ok()));
        let Some(header_value) = header_value else {
            self.header_error = Some(HeaderError::InvalidValue {
                name: keyword.to_owned(),
                value: String::from_utf8_lossy(value).into_owned(),
            });
            return;
        };
        if name == header::CONTENT_LENGTH {
            let digits = !value.is_empty() && value.iter().all(u8::is_ascii_digit);
            let conflicting = self
                .pending_headers()
                .and_then(|headers| headers.get(header::CONTENT_LENGTH))
                .is_some_and(|existing| existing.as_bytes() != value);
            if !digits || conflicting {
                self.header_error = Some(HeaderError::InvalidContentLength(
                    String::from_utf8_lossy(value).into_owned(),
                ));
                return;
            }
        }
        self.send_header_value(name, header_value);
    }

    /// `send_header` for a name and value that are known to be valid (the services' own).
    pub(crate) fn send_header_value(&mut self, name: HeaderName, value: HeaderValue) {
        if name == header::CONNECTION {
            if value.as_bytes().eq_ignore_ascii_case(b"close") {
                self.close_connection = true;
                self.close_set = true;
            } else if value.as_bytes().eq_ignore_ascii_case(b"keep-alive") {
                self.close_connection = false;
                self.close_set = true;
            }
        }
        match &mut self.state {
            State::HeadPending(head) => {
                head.headers.append(name, value);
            }
            State::Idle => {
                let mut head = PendingHead::headers_only();
                head.headers.append(name, value);
                self.state = State::HeadPending(head);
            }
            // Refused (and logged) by `send_header`; the services never get here.
            State::HeadSent | State::BodyHandedOver | State::FellThrough => {}
        }
    }

    fn pending_headers(&self) -> Option<&HeaderMap> {
        match &self.state {
            State::HeadPending(head) => Some(&head.headers),
            _ => None,
        }
    }

    /// The headers buffered so far, for a service that replaces some of them (a CGI script's
    /// fields replace the server's).
    #[cfg(cgi)]
    pub(crate) fn pending_headers_mut(&mut self) -> Option<&mut HeaderMap> {
        match &mut self.state {
            State::HeadPending(head) => Some(&mut head.headers),
            _ => None,
        }
    }

    /// Python's `end_headers()`: finishes the head and hands it to the connection. The client
    /// receives it as soon as the handler next waits.
    ///
    /// It runs the [`end_headers`](super::HttpRequestHandler::end_headers) method of every
    /// handler the request came through, most derived first; called from inside one of them, it
    /// is that method's `super().end_headers()`.
    ///
    /// Errors if an earlier [`send_header`](Exchange::send_header) was refused, or if no
    /// [`send_response`](Exchange::send_response) came first.
    pub fn end_headers(&mut self) -> Result<(), HeaderError> {
        let outermost = self.depth.get(Hook::EndHeaders) == 0;
        if outermost {
            match &self.state {
                State::HeadSent | State::BodyHandedOver => return Ok(()),
                State::HeadPending(_) => {}
                State::Idle | State::FellThrough => return Err(HeaderError::NoStatusLine),
            }
            if let Some(error) = self.header_error.take() {
                self.state = State::Idle;
                return Err(error);
            }
        }
        let result = self.walk_mut(
            Hook::EndHeaders,
            |handler, ex| handler.end_headers(ex),
            Self::flush_headers,
        );
        if outermost && result.is_ok() && matches!(self.state, State::HeadPending(_)) {
            // An override that did not call `super().end_headers()`: the head still goes.
            return self.flush_headers();
        }
        result
    }

    /// Python's `flush_headers()`: sends what has been buffered, without running the handlers'
    /// [`end_headers`](super::HttpRequestHandler::end_headers) methods (hyper writes the blank
    /// line that ends the head itself). Python's CGI handler sends a script's response this way.
    pub fn flush_headers(&mut self) -> Result<(), HeaderError> {
        if let Some(error) = self.header_error.take() {
            self.state = State::Idle;
            return Err(error);
        }
        let head = match std::mem::replace(&mut self.state, State::Idle) {
            State::HeadPending(head) => head,
            other @ (State::HeadSent | State::BodyHandedOver) => {
                self.state = other;
                return Ok(());
            }
            other => {
                self.state = other;
                return Err(HeaderError::NoStatusLine);
            }
        };
        let Some(status) = head.status else {
            return Err(HeaderError::NoStatusLine);
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
        rules::finish_head(
            self.parts.version,
            self.protocol_version(),
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
        self.state = State::HeadSent;
        let (parts, ()) = response.into_parts();
        match &mut self.wfile.output {
            Output::Pipe(shared) => lock(shared).head = Some(parts),
            Output::Direct(direct) => {
                *direct = Some(Direct {
                    head: parts,
                    body: None,
                });
            }
        }
    }

    /// Gives a response from the inner service (after [`fall_through`](Exchange::fall_through))
    /// what Python's `super().do_GET()` would have given it, unless a basehttp service already
    /// did: the log line, `protocol_version`'s status line and connection handling.
    pub(crate) fn adopt(&self, response: http::Response<Body>) -> http::Response<Body> {
        if response.body().is_answered() {
            return response;
        }
        self.log_request(response.status().as_u16());
        let (mut parts, body) = response.into_parts();
        rules::finish_head(
            self.parts.version,
            self.protocol_version(),
            self.close_connection,
            self.conn.as_ref(),
            &mut parts.version,
            &mut parts.headers,
        );
        http::Response::from_parts(parts, body.answered())
    }

    /// Python's `send_error(code)`: logs `code N, message …`, sends the status line with
    /// Python's phrase and Python's HTML error page, and closes the connection afterwards.
    ///
    /// 1xx, 204, 205 and 304 get no body, HEAD gets the headers only. If the headers were already
    /// sent, nothing more can be said on this response: the error is logged and the connection
    /// aborted. Runs the handlers' [`send_error`](super::HttpRequestHandler::send_error)
    /// methods, and within them the page goes through [`end_headers`](Exchange::end_headers).
    pub fn send_error(&mut self, code: u16) {
        self.dispatch_send_error(code, None, None);
    }

    /// Python's `send_error(code, message, explain)`: the message becomes the reason phrase
    /// and, HTML-escaped, part of the page; `explain` defaults to Python's description of `code`.
    pub fn send_error_with(&mut self, code: u16, message: &str, explain: Option<&str>) {
        self.dispatch_send_error(code, Some(message), explain);
    }

    fn dispatch_send_error(&mut self, code: u16, message: Option<&str>, explain: Option<&str>) {
        self.walk_mut(
            Hook::SendError,
            |handler, ex| handler.send_error(ex, code, message, explain),
            |ex| ex.base_send_error(code, message, explain),
        );
    }

    /// `BaseHTTPRequestHandler.send_error`.
    fn base_send_error(&mut self, code: u16, message: Option<&str>, explain: Option<&str>) {
        if self.in_error_page {
            // An `end_headers` override answering the error page's own head with another
            // error (Python would recurse until it gives up): the first page stands.
            return;
        }
        let (short, long) = self.responses(code).unwrap_or(("???", "???"));
        let message = message.unwrap_or(short).to_owned();
        let explain = explain.unwrap_or(long).to_owned();
        self.log_error(format_args!("code {code}, message {message}"));
        if self.headers_sent() {
            self.misuse("send_error() after the headers were sent");
            return;
        }
        // A response already begun is dropped (Python would append to it); headers buffered
        // before any status line stay, as `send_response` keeps them.
        if let State::HeadPending(head) = &self.state {
            if head.status.is_some() {
                self.state = State::Idle;
            }
        }
        self.header_error = None;
        self.send_response_inner(code, Some(&message));
        self.send_header_value(header::CONNECTION, HeaderValue::from_static("close"));
        let body = (code >= 200 && !matches!(code, 204 | 205 | 304))
            .then(|| render_error_page(self.error_message_format(), code, &message, &explain));
        if let Some(body) = &body {
            let content_type = self.error_content_type_value().clone();
            self.send_header_value(header::CONTENT_TYPE, content_type);
            self.send_header_value(
                header::CONTENT_LENGTH,
                rules::content_length(body.len() as u64),
            );
        }
        // The page is a new response: its head goes through every handler's `end_headers`,
        // even when the error is sent from inside one of them.
        let depth = self.depth.get(Hook::EndHeaders);
        self.depth.set(Hook::EndHeaders, 0);
        self.in_error_page = true;
        let sent = self.end_headers();
        self.in_error_page = false;
        self.depth.set(Hook::EndHeaders, depth);
        if sent.is_err() {
            // Only an override adding an invalid header can get here: Python's bare page.
            self.state = State::Idle;
            self.send_response_inner(500, None);
            self.send_header_value(header::CONNECTION, HeaderValue::from_static("close"));
            let _ = self.flush_headers();
        } else if let Some(body) = body {
            if !self.wfile.discard && self.headers_sent() {
                match &mut self.wfile.output {
                    Output::Pipe(shared) => lock(shared).push(body.as_bytes()),
                    direct @ Output::Direct(_) => direct.set_body(Body::from(body)),
                }
            }
        }
        // The error page is the whole response: nothing more goes into its body.
        if self.headers_sent() {
            self.state = State::BodyHandedOver;
            self.wfile.open = false;
        }
    }

    /// Python's `self.wfile`: the response body. See [`BodyWriter`].
    ///
    /// If [`send_response`](Exchange::send_response) was called but not
    /// [`end_headers`](Exchange::end_headers), the head is sent first (Python would have written
    /// the body before its own headers).
    pub fn wfile(&mut self) -> &mut BodyWriter {
        if self.has_pending_head() {
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
        match self.state {
            State::HeadSent => {}
            State::BodyHandedOver => {
                self.misuse("send_body() after the body was completed");
                return;
            }
            _ => {
                self.misuse("send_body() before end_headers()");
                return;
            }
        }
        self.state = State::BodyHandedOver;
        self.wfile.open = false;
        if self.wfile.discard {
            return;
        }
        self.wfile.output.set_body(body);
    }

    /// Hands the request to the inner service — Python's `return super().do_GET()`.
    ///
    /// The handler returns right after calling it (`return ex.fall_through();`): the inner
    /// service then receives the request with the current [`path`](Exchange::path),
    /// [`headers`](Exchange::headers) and whatever is left of the body, and its responses go
    /// through this handler's overridden methods. Without an inner service the answer is
    /// Python's `501 Unsupported method ('GET')`.
    ///
    /// Fails if anything was already sent or buffered for the response.
    #[doc(alias = "super")]
    #[must_use = "return it from the do_* method: the inner service answers once the method returns"]
    pub fn fall_through(&mut self) -> Result<(), BoxError> {
        if !matches!(self.state, State::Idle | State::FellThrough) {
            return Err("fall_through() after send_response(): the response has begun".into());
        }
        self.state = State::FellThrough;
        Ok(())
    }

    pub(crate) fn fell_through(&self) -> bool {
        matches!(self.state, State::FellThrough)
    }

    // ===== file serving and CGI: the overridable methods =====

    /// Python's `translate_path(path)`: the file-system path `path` names, through the
    /// [`translate_path`](super::HttpRequestHandler::translate_path) methods of the handlers
    /// the request came through, then the answering service's (`SimpleHTTPRequestHandler`'s:
    /// below the served directory). Inside such a method it is `super().translate_path(path)`.
    #[cfg(feature = "fs")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fs")))]
    pub fn translate_path(&self, path: &str) -> std::path::PathBuf {
        self.translate_override(path)
            .unwrap_or_else(|| self.base.translate_path(path))
    }

    /// What the handlers' `translate_path` methods say, when one says something.
    #[cfg(feature = "fs")]
    pub(crate) fn translate_override(&self, path: &str) -> Option<std::path::PathBuf> {
        self.walk_first(Hook::TranslatePath, |handler, ex| {
            handler.translate_path(ex, path)
        })
    }

    /// Whether a handler the request came through may override the file methods.
    #[cfg(feature = "fs")]
    pub(crate) fn has_class(&self) -> bool {
        self.class.is_some()
    }

    /// Python's `guess_type(path)`: the `Content-Type` of the file at `path`, through the
    /// handlers' [`guess_type`](super::HttpRequestHandler::guess_type) methods, then the
    /// answering service's (`extensions_map`, then the system's and the built-in types).
    /// Inside such a method it is `super().guess_type(path)`.
    #[cfg(feature = "fs")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fs")))]
    pub fn guess_type(&self, path: &std::path::Path) -> String {
        match self.guess_override(path) {
            Some(guessed) => guessed,
            None => {
                let guessed = self.base.guess_type(path, false);
                guessed
                    .to_str()
                    .unwrap_or("application/octet-stream")
                    .to_owned()
            }
        }
    }

    #[cfg(feature = "fs")]
    fn guess_override(&self, path: &std::path::Path) -> Option<String> {
        self.walk_first(Hook::GuessType, |handler, ex| handler.guess_type(ex, path))
    }

    /// The `Content-Type` of the file at `path` below the served `directory`.
    #[cfg(feature = "fs")]
    pub(crate) fn content_type(&self, directory: &std::path::Path, path: &[u8]) -> HeaderValue {
        let relative = std::path::Path::new(crate::confined::os_str(path));
        if self.class.is_some() {
            // Python passes `translate_path`'s result to `guess_type`.
            if let Some(guessed) = self.guess_override(&directory.join(relative)) {
                return HeaderValue::try_from(guessed).unwrap_or_else(|err| {
                    self.log_error(format_args!("guess_type(): {err}"));
                    HeaderValue::from_static("application/octet-stream")
                });
            }
        }
        self.base.guess_type(relative, true)
    }

    /// Python's `list_directory(path)`: answers with the listing of a directory, through the
    /// handlers' [`list_directory`](super::HttpRequestHandler::list_directory) methods, then
    /// the answering service's (Python's page, `200` with `text/html; charset=utf-8`).
    #[cfg(feature = "fs")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fs")))]
    pub fn list_directory(&mut self, listing: &crate::static_files::DirectoryListing) {
        self.walk_mut(
            Hook::ListDirectory,
            |handler, ex| handler.list_directory(ex, listing),
            |ex| {
                let base = ex.base.clone();
                base.list_directory(ex, listing);
            },
        );
    }

    /// Python's `is_cgi()`: whether this request runs a CGI script, and where its directory
    /// ends (Python's `cgi_info`), through the handlers'
    /// [`is_cgi`](super::HttpRequestHandler::is_cgi) methods, then the answering service's
    /// (`cgi_directories`).
    #[cfg(cgi)]
    #[cfg_attr(docsrs, doc(cfg(feature = "cgi")))]
    pub fn is_cgi(&self) -> Option<crate::cgi::CgiInfo> {
        self.walk(
            Hook::IsCgi,
            |handler, ex| handler.is_cgi(ex),
            |ex| ex.base.is_cgi(ex.path()),
        )
    }

    // ===== logging and strings =====

    /// Python's `log_request(code)`: runs the handlers'
    /// [`log_request`](super::HttpRequestHandler::log_request) methods, then Python's
    /// (`log_message('"%s" %s %s', requestline, code, '-')`).
    pub fn log_request(&self, code: u16) {
        self.log_request_with(code, None);
    }

    /// Python's `log_request(code, size)`.
    pub fn log_request_with(&self, code: u16, size: Option<u64>) {
        self.walk(
            Hook::LogRequest,
            |handler, ex| handler.log_request(ex, code, size),
            |ex| {
                // Found only if the line is written (a handler's `log_message` may drop it).
                let line = LazyRequestLine(ex);
                match size {
                    Some(size) => ex.log_message(format_args!("\"{line}\" {code} {size}")),
                    None => ex.log_message(format_args!("\"{line}\" {code} -")),
                }
            },
        );
    }

    /// Python's `log_error(…)`: runs the handlers'
    /// [`log_error`](super::HttpRequestHandler::log_error) methods, then Python's (which calls
    /// [`log_message`](Exchange::log_message)).
    pub fn log_error(&self, message: impl fmt::Display) {
        let message = format_args!("{message}");
        self.walk(
            Hook::LogError,
            |handler, ex| handler.log_error(ex, message),
            |ex| ex.log_message(message),
        );
    }

    /// Python's `log_message(…)`: runs the handlers'
    /// [`log_message`](super::HttpRequestHandler::log_message) methods, then Python's
    /// ([`log_line`](Exchange::log_line)).
    pub fn log_message(&self, message: impl fmt::Display) {
        let message = format_args!("{message}");
        self.walk(
            Hook::LogMessage,
            |handler, ex| handler.log_message(ex, message),
            |ex| ex.log_line(message),
        );
    }

    /// Writes one line in Python's format: what `BaseHTTPRequestHandler.log_message` does.
    pub fn log_line(&self, message: fmt::Arguments<'_>) {
        crate::log::emit(self.address_string(), message);
    }

    /// Python's `date_time_string()`: now, as an HTTP date.
    pub fn date_time_string(&self) -> String {
        crate::log::date_time_string(SystemTime::now())
    }

    /// Python's `log_date_time_string()`: now, in local time, as logged.
    pub fn log_date_time_string(&self) -> String {
        crate::log::log_date_time_string(SystemTime::now())
    }

    // ===== internals for the services =====

    fn misuse(&mut self, what: &'static str) {
        self.log_error(format_args!("{what}"));
        self.misuse.get_or_insert(what);
    }

    /// `end_headers()` for a head a service built; a handler's override that added an invalid
    /// header turns the response into Python's `500`. Whether the head went out.
    #[cfg(feature = "fs")]
    pub(crate) fn end_headers_or_500(&mut self) -> bool {
        match self.end_headers() {
            // An override may have answered otherwise (with `send_error`, say): then the body
            // the service was about to send is not this response's.
            Ok(()) => matches!(self.state, State::HeadSent),
            Err(err) => {
                self.log_error(format_args!(
                    "Exception occurred during processing of request: {err}"
                ));
                self.send_error(500);
                false
            }
        }
    }

    /// The request body, taken for a service that feeds it elsewhere (a CGI script's stdin).
    #[cfg(cgi)]
    pub(crate) fn take_body(&mut self) -> Body {
        std::mem::replace(&mut self.rfile, BodyReader::new(Body::empty(), None)).into_body()
    }

    /// An exchange for log lines about this request written after it has been answered (a CGI
    /// script's stderr and exit code): the same class, client, request line and headers. One per
    /// task that logs: the walks of an exchange are not shared between tasks.
    #[cfg(cgi)]
    pub(crate) fn for_logging(&self) -> Self {
        let mut request = Request::new(());
        *request.method_mut() = self.parts.method.clone();
        *request.uri_mut() = self.parts.uri.clone();
        *request.version_mut() = self.parts.version;
        *request.headers_mut() = self.parts.headers.clone();
        *request.extensions_mut() = self.parts.extensions.clone();
        if let Some(conn) = &self.conn {
            request.extensions_mut().insert(conn.clone());
        }
        let (parts, ()) = request.into_parts();
        let mut ex = Self::new(
            parts,
            Body::empty(),
            self.class.clone(),
            self.base.clone(),
            Output::direct(),
        );
        ex.path = self.path.clone();
        ex.target = self.target.clone();
        ex
    }

    /// Whether Python would call `handle_expect_100()` for this request.
    pub(crate) fn wants_continue(&self) -> bool {
        self.parts.version >= Version::HTTP_11
            && self.protocol_version() >= Version::HTTP_11
            && self.expect_continue
    }

    /// Polls the request body once so hyper sends `100 Continue`.
    pub(crate) async fn send_continue(&mut self) {
        self.continue_requested = false;
        std::future::poll_fn(|cx| self.rfile.poll_prefetch(cx)).await;
    }

    /// `send_response()` was called and the head not sent yet.
    pub(crate) fn has_pending_head(&self) -> bool {
        matches!(&self.state, State::HeadPending(head) if head.status.is_some())
    }

    /// Builds the request for the inner service from the current state, handing the class
    /// down. The exchange keeps the method, URI and version so it can still log and answer.
    pub(crate) fn take_request(&mut self) -> Result<Request<Body>, BoxError> {
        let uri = match &self.path {
            Some(path) if *path != request_target(&self.parts.uri, self.parts.version) => {
                with_target(&self.parts.uri, path)?
            }
            _ => self.parts.uri.clone(),
        };
        let mut request = Request::new(
            std::mem::replace(&mut self.rfile, BodyReader::new(Body::empty(), None)).into_body(),
        );
        *request.method_mut() = self.parts.method.clone();
        *request.uri_mut() = uri;
        *request.version_mut() = self.parts.version;
        *request.headers_mut() = std::mem::take(&mut self.parts.headers);
        *request.extensions_mut() = std::mem::take(&mut self.parts.extensions);
        if let Some(class) = &self.class {
            let line = self.request_line().target;
            let target =
                (line != request_target(request.uri(), request.version())).then(|| line.into());
            request.extensions_mut().insert(Inherited {
                class: class.clone(),
                target,
                close: self.close_set.then_some(self.close_connection),
            });
        }
        Ok(request)
    }

    /// The class to hand down with a request this exchange's service makes itself (a CGI local
    /// redirect).
    #[cfg(cgi)]
    pub(crate) fn inherited_class(&self) -> Option<Inherited> {
        self.class.clone().map(|class| Inherited {
            class,
            target: None,
            close: self.close_set.then_some(self.close_connection),
        })
    }

    /// The response made so far, marked as answered so that a handler above does not log it
    /// again. Without a head: a bare `500`.
    pub(crate) fn into_response(mut self) -> http::Response<Body> {
        let direct = match &mut self.wfile.output {
            Output::Direct(direct) => direct.take(),
            Output::Pipe(shared) => {
                return crate::body::pipe::response(shared, None).unwrap_or_else(plain_500);
            }
        };
        let Some(direct) = direct else {
            return self.answered_nothing();
        };
        let Direct { head, body } = direct;
        let body = match body {
            Some(body) if self.parts.method != Method::HEAD => body.into_inner(),
            _ => Body::empty(),
        };
        http::Response::from_parts(head, body.answered())
    }
}

/// `protocol_version`: the most derived handler's, when it sets one, else the service's. When
/// none is set: Python's `HTTP/1.0` when basehttp's own server hands the request straight to
/// basehttp's services, and HTTP/1.1 when they are mounted in an application (under an axum
/// `Router`, or served by another server), so that they keep connections alive like the
/// routes beside them.
fn resolve_protocol(
    class: Option<&Class>,
    base: &dyn Base,
    parts: &http::request::Parts,
    conn: Option<&ConnectionInfo>,
) -> Version {
    class
        .and_then(|c| c.overrides.protocol_version)
        .or(base.attributes().protocol_version)
        .unwrap_or_else(|| {
            if conn.is_some_and(ConnectionInfo::can_close) && !rules::under_router(parts) {
                Version::HTTP_10
            } else {
                Version::HTTP_11
            }
        })
}

/// Whether two `responses` entries are the same, by address first (a handler's default returns
/// Python's table itself), then by content.
fn same_entry(a: Option<(&str, &str)>, b: Option<(&str, &'static str)>) -> bool {
    match (a, b) {
        (Some((a1, a2)), Some((b1, b2))) => {
            (std::ptr::eq(a1, b1) && std::ptr::eq(a2, b2)) || (a1 == b1 && a2 == b2)
        }
        (None, None) => true,
        _ => false,
    }
}

impl Exchange {
    /// A service's exchange that sent nothing (an overridden method that neither answered nor
    /// called `super()`): logged, and Python's `500`.
    fn answered_nothing(mut self) -> http::Response<Body> {
        if self.headers_sent() || self.misuse == Some(ANSWERED_NOTHING) {
            return plain_500();
        }
        self.misuse = Some(ANSWERED_NOTHING);
        self.log_error(format_args!(
            "{} {} was answered with nothing: an overridden method sent no response",
            self.command(),
            self.path()
        ));
        self.send_error(500);
        self.into_response()
    }
}

const ANSWERED_NOTHING: &str = "answered with nothing";

/// A bare `500` for states that cannot be answered otherwise.
pub(crate) fn plain_500() -> http::Response<Body> {
    let mut response = http::Response::new(Body::empty().answered());
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
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

/// The values handlers send most, as static values: no allocation, nothing counted per
/// response. Compared exactly (a value is sent as written).
fn common_header_value(value: &[u8]) -> Option<HeaderValue> {
    const COMMON: [&str; 12] = [
        "text/html",
        "text/html; charset=utf-8",
        "text/plain",
        "text/plain; charset=utf-8",
        "application/json",
        "application/octet-stream",
        "close",
        "keep-alive",
        "bytes",
        "no-cache",
        "no-store",
        "0",
    ];
    COMMON
        .iter()
        .find(|common| common.as_bytes() == value)
        .map(|common| HeaderValue::from_static(common))
}

/// Python's `requestline`, worked out when displayed.
struct LazyRequestLine<'a>(&'a Exchange);

impl fmt::Display for LazyRequestLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.request_line().fmt(f)
    }
}

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

/// Runs `f`, in which handlers' overridden methods may run, on a service's exchange: a panic in
/// one of them is logged and answered with Python's `500` (or aborts a response already begun),
/// as a panic in a `do_*` method is. `None` after a panic.
pub(crate) fn guarded<T>(ex: &mut Exchange, f: impl FnOnce(&mut Exchange) -> T) -> Option<T> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut *ex)));
    match outcome {
        Ok(value) => Some(value),
        Err(payload) => {
            ex.reset_walks();
            let message = super::future::panic_message(&*payload);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ex.log_error(format_args!(
                    "Exception occurred during processing of request: panicked: {message}"
                ));
                if !ex.headers_sent() {
                    ex.send_error(500);
                }
            }));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_values_are_static_and_matched_exactly() {
        let first = common_header_value(b"text/html").expect("a common value");
        let again = common_header_value(b"text/html").expect("a common value");
        assert_eq!(first, "text/html");
        // The same bytes both times: a static value, not a copy made per header.
        assert_eq!(first.as_bytes().as_ptr(), again.as_bytes().as_ptr());
        assert_eq!(
            common_header_value(b"application/json").as_ref(),
            Some(&HeaderValue::from_static("application/json"))
        );
        // A value is sent as written: another spelling is not replaced by the common one.
        assert_eq!(common_header_value(b"Text/HTML"), None);
        assert_eq!(common_header_value(b"text/html "), None);
        assert_eq!(common_header_value(b""), None);
        assert_eq!(common_header_value(b"13"), None);
    }
}
