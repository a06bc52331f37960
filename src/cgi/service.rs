use std::convert::Infallible;
use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use tokio::sync::Semaphore;
use tower::Service;

use super::head::{self, HeadError, ScriptHead};
use super::process::{self, CgiBody, Spawn, Stdin};
use super::resolve::{self, ScriptPath};
use super::{CgiInfo, CgiLayer, RunAs, env};
use crate::body::Body;
use crate::confined::{self, Kind, Root};
use crate::handler::fall_through::fall_through;
use crate::handler::future::{CatchUnwind, panic_message};
use crate::handler::rules;
use crate::handler::{Attributes, Base, BoxError, Exchange, NotImplemented, Output, guarded};

/// Python's `CGIHTTPRequestHandler`: runs the scripts in the CGI directories, as a tower
/// [`Service`].
///
/// `GET`, `HEAD` and `POST` requests whose path lies in one of the
/// [`cgi_directories`](Cgi::cgi_directories) run the script it names; everything else goes to
/// the inner service `S` (the file server, in Python's handler), and a `POST` elsewhere gets
/// Python's `501 Can only POST to CGI scripts`. Without an inner service (built with
/// [`new`](Cgi::new) alone) what is not a script gets Python's `501`. `Error = Infallible`;
/// cloning is cheap.
///
/// See the [module docs](crate::cgi) for more details.
pub struct Cgi<S = NotImplemented> {
    config: Arc<Config>,
    inner: Option<S>,
}

#[derive(Clone)]
pub(crate) struct Config {
    root: Arc<Root>,
    /// Python's class attributes (`server_version`, `protocol_version`, …).
    pub(crate) class: Attributes,
    directories: Vec<String>,
    follow_symlinks: bool,
    end_headers_for_scripts: bool,
    post_only_to_scripts: bool,
    env: env::Policy,
    current_dir: Option<PathBuf>,
    run_as: RunAs,
    nph: bool,
    local_redirects: bool,
    max_local_redirects: u8,
    header_timeout: Duration,
    idle_timeout: Duration,
    kill_grace: Duration,
    max_scripts: usize,
    scripts: Arc<Semaphore>,
    queue_timeout: Duration,
    max_request_body: u64,
    body_timeout: Duration,
    max_spool_total: u64,
    /// Bytes of the bodies being spooled now, across clones.
    spooled: Arc<AtomicU64>,
    head_limits: head::Limits,
    max_stderr: usize,
}

impl<S: Clone> Clone for Cgi<S> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Cgi<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("Cgi")
            .field("directory", &c.root.path())
            .field("cgi_directories", &c.directories)
            .field("run_as", &c.run_as)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// The marker a local redirect leaves on the request it makes, to bound chains.
#[derive(Clone, Copy, Debug)]
struct LocalRedirects(u8);

impl Cgi {
    /// Runs the CGI scripts below `directory` (Python's `directory=`; the CLI's `-d`), with
    /// nothing below for other requests.
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        let max_scripts = 64;
        Self {
            inner: None,
            config: Arc::new(Config {
                root: Arc::new(Root::new(directory.into())),
                class: Attributes::new(crate::handler::SIMPLE_SERVER_VERSION),
                directories: super::DEFAULT_CGI_DIRECTORIES
                    .iter()
                    .map(|d| (*d).to_owned())
                    .collect(),
                follow_symlinks: false,
                end_headers_for_scripts: false,
                post_only_to_scripts: true,
                env: env::Policy {
                    pass_authorization: false,
                    inherit: false,
                    extra: Vec::new(),
                },
                current_dir: None,
                run_as: RunAs::NobodyWhenRoot,
                nph: true,
                local_redirects: true,
                max_local_redirects: 5,
                header_timeout: Duration::from_secs(60),
                idle_timeout: Duration::from_secs(60),
                kill_grace: Duration::from_secs(2),
                max_scripts,
                scripts: Arc::new(Semaphore::new(max_scripts)),
                queue_timeout: Duration::from_secs(5),
                max_request_body: 1 << 30,
                body_timeout: Duration::from_secs(60),
                max_spool_total: 1 << 30,
                spooled: Arc::default(),
                head_limits: head::Limits::default(),
                max_stderr: 64 * 1024,
            }),
        }
    }

    /// Turns the service into a [`CgiLayer`]: scripts in front of another service (for Python's
    /// handler, the file server), which answers everything that is not a script.
    pub fn into_layer(self) -> CgiLayer {
        CgiLayer::new(self)
    }

    pub(crate) fn with_inner<S>(self, inner: S) -> Cgi<S> {
        Cgi {
            config: self.config,
            inner: Some(inner),
        }
    }
}

impl<S> Cgi<S> {
    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The directory being served.
    pub fn directory(&self) -> &std::path::Path {
        self.config.root.path()
    }

    define_inner_service_accessors!();

    define_class_attribute_builders!("SimpleHTTP/0.6");

    /// Python's `cgi_directories`: URL paths whose files are scripts (nested directories below
    /// them included; entries may be several levels deep, like `/sub/dir/cgi-bin`). For any
    /// other rule, override [`HttpRequestHandler::is_cgi`](crate::handler::HttpRequestHandler::is_cgi)
    /// in a handler above.
    ///
    /// Defaults to `["/cgi-bin", "/htbin"]`.
    pub fn cgi_directories<I, D>(mut self, directories: I) -> Self
    where
        I: IntoIterator<Item = D>,
        D: Into<String>,
    {
        self.config_mut().directories = directories.into_iter().map(Into::into).collect();
        self
    }

    /// Whether a script may be a symbolic link leading outside the served directory (Python's
    /// behaviour). When `false` such a script is `404 No such CGI script`.
    ///
    /// Defaults to `false`.
    pub fn follow_symlinks(mut self, follow: bool) -> Self {
        self.config_mut().follow_symlinks = follow;
        self
    }

    /// Whether a script's own response goes through the `end_headers` method of the handlers
    /// above (the CORS headers of a `CORSRequestHandler`, say). Python sends it with
    /// `flush_headers()`, which does not call `end_headers`: so does basehttp by default. Error
    /// pages, `404`s for missing scripts and `501`s always go through it.
    ///
    /// Defaults to `false`.
    pub fn end_headers_for_scripts(mut self, enabled: bool) -> Self {
        self.config_mut().end_headers_for_scripts = enabled;
        self
    }

    /// Whether a `POST` that names no script gets Python's `501 Can only POST to CGI scripts`
    /// (`true`) or goes to the inner service (`false`, for an application below that takes
    /// `POST`s of its own).
    ///
    /// Defaults to `true`.
    pub fn post_only_to_scripts(mut self, only: bool) -> Self {
        self.config_mut().post_only_to_scripts = only;
        self
    }

    /// Whether scripts start from the server's whole environment (Python's behaviour) instead
    /// of only `PATH`, `LANG`, `LANGUAGE`, `LC_*`, `TZ` and `TMPDIR`. The request's variables
    /// are set over it either way.
    ///
    /// The server's environment is read for every script as it is then (as Python copies
    /// `os.environ` for every request). On 64-bit Linux it is read in place, as the C library's
    /// `getenv` reads it, not through `std::env`: a program that changes its environment with
    /// `std::env::set_var` while it serves scripts breaks that function's safety contract.
    ///
    /// Defaults to `false`.
    pub fn inherit_env(mut self, inherit: bool) -> Self {
        self.config_mut().env.inherit = inherit;
        self
    }

    /// Whether scripts see the request's `Authorization` as `HTTP_AUTHORIZATION` (for scripts
    /// that check credentials themselves). `AUTH_TYPE` and `REMOTE_USER` are set as Python
    /// sets them either way.
    ///
    /// Defaults to `false` (RFC 3875 §9.2).
    pub fn pass_authorization(mut self, pass: bool) -> Self {
        self.config_mut().env.pass_authorization = pass;
        self
    }

    /// Sets a variable in every script's environment, over the computed ones.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.config_mut().env.extra.push((key.into(), value.into()));
        self
    }

    /// The working directory scripts start in.
    ///
    /// Defaults to the script's own directory (RFC 3875 §7.2; Python keeps the server's).
    pub fn current_dir(mut self, directory: impl Into<PathBuf>) -> Self {
        self.config_mut().current_dir = Some(directory.into());
        self
    }

    /// The user scripts run as.
    ///
    /// Defaults to [`RunAs::NobodyWhenRoot`], Python's behaviour.
    pub fn run_as(mut self, run_as: RunAs) -> Self {
        self.config_mut().run_as = run_as;
        self
    }

    /// Whether scripts named `nph-…` are non-parsed-header scripts (RFC 3875 §5): their output
    /// starts with an HTTP status line (`HTTP/1.1 200 OK`), and the server adds nothing of its
    /// own. When `false` they are scripts like any other (Python has no NPH support).
    ///
    /// Defaults to `true`.
    pub fn nph(mut self, enabled: bool) -> Self {
        self.config_mut().nph = enabled;
        self
    }

    /// Whether a script answering only `Location: /local/path` gets that path served in its
    /// place (RFC 3875 §6.2.2, as a `GET`, at most 5 deep). When `false` it becomes a `302` to
    /// the path.
    ///
    /// Defaults to `true`.
    pub fn local_redirects(mut self, enabled: bool) -> Self {
        self.config_mut().local_redirects = enabled;
        self
    }

    /// How long a script may take to write its header block; then `504 Gateway Timeout` and
    /// the script's process group is terminated. The CLI's `--cgi-timeout`.
    ///
    /// Defaults to 60 seconds.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.config_mut().header_timeout = timeout;
        self
    }

    /// How long a script may go without writing while its body is sent; then the connection is
    /// aborted and the script's process group terminated. The CLI's `--cgi-timeout`.
    ///
    /// Defaults to 60 seconds.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config_mut().idle_timeout = timeout;
        self
    }

    /// How long a script gets between `SIGTERM` and `SIGKILL`, and to exit once its output is
    /// complete.
    ///
    /// Defaults to 2 seconds.
    pub fn kill_grace(mut self, grace: Duration) -> Self {
        self.config_mut().kill_grace = grace;
        self
    }

    /// How many scripts may run at once; a request beyond waits up to
    /// [`queue_timeout`](Cgi::queue_timeout), then gets `503 Service Unavailable`.
    ///
    /// Defaults to 64.
    pub fn max_scripts(mut self, max: usize) -> Self {
        let config = self.config_mut();
        config.max_scripts = max.max(1);
        config.scripts = Arc::new(Semaphore::new(config.max_scripts));
        self
    }

    /// How long a request waits for a free script slot.
    ///
    /// Defaults to 5 seconds.
    pub fn queue_timeout(mut self, timeout: Duration) -> Self {
        self.config_mut().queue_timeout = timeout;
        self
    }

    /// The largest request body a script is given; larger ones get `413`. A body without a
    /// length (chunked) is first spooled to a temporary file so that `CONTENT_LENGTH` is
    /// exact; this bounds that file too.
    ///
    /// Defaults to 1 GiB.
    pub fn max_request_body(mut self, bytes: u64) -> Self {
        self.config_mut().max_request_body = bytes;
        self
    }

    /// How long a request body without a length (chunked) may take to arrive in full: it is
    /// spooled before the script starts, and a client that trickles it gets `408 Request
    /// Timeout` then. The script slot is taken only once the body is in.
    ///
    /// Defaults to 60 seconds.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.config_mut().body_timeout = timeout;
        self
    }

    /// The most disk all the bodies being spooled at once may take (see
    /// [`max_request_body`](Cgi::max_request_body)); a body that would go beyond gets `503`.
    ///
    /// Defaults to 1 GiB.
    pub fn max_spool_total(mut self, bytes: u64) -> Self {
        self.config_mut().max_spool_total = bytes;
        self
    }

    /// The largest header block a script may write (64 KiB by default; lines up to 8 KiB, at
    /// most 100 of them); beyond it the answer is `502`.
    pub fn max_header_size(mut self, bytes: usize) -> Self {
        let limits = &mut self.config_mut().head_limits;
        limits.max_size = bytes.max(1024);
        limits.max_line = limits.max_line.min(limits.max_size);
        self
    }

    /// How much of a script's stderr reaches the log, per request (the rest is read and
    /// dropped).
    ///
    /// Defaults to 64 KiB.
    pub fn max_stderr(mut self, bytes: usize) -> Self {
        self.config_mut().max_stderr = bytes;
        self
    }
}

/// The response future of [`Cgi`].
pub struct ResponseFuture {
    inner: Pin<Box<dyn Future<Output = Response<Body>> + Send>>,
}

impl Future for ResponseFuture {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx).map(Ok)
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for Cgi<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The inner service is driven to readiness only when it is needed.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let this = self.clone();
        let respond = CatchUnwind::new(this.respond(request.map(Body::new)));
        ResponseFuture {
            inner: Box::pin(async move {
                // A method overridden by a handler above panicked where no exchange could
                // answer any more: the response is a bare 500, the server goes on.
                respond.await.unwrap_or_else(|payload| {
                    tracing::warn!(
                        target: crate::log::TARGET,
                        "CGI: exception occurred during processing of request: panicked: {}",
                        panic_message(&*payload)
                    );
                    crate::handler::plain_500()
                })
            }),
        }
    }
}

/// A refusal decided before a script runs: Python's `send_error(code, message)`.
struct Refusal {
    code: u16,
    message: Option<String>,
    log: Option<String>,
}

impl Refusal {
    fn new(code: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            message: Some(message.into()),
            log: None,
        }
    }

    fn internal(log: String) -> Self {
        Self {
            code: 500,
            message: None,
            log: Some(log),
        }
    }
}

impl<S, ResBody> Cgi<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    async fn respond(self, request: Request<Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let base: Arc<dyn Base> = self.config.clone();
        let mut ex = Box::new(Exchange::handed_down(
            parts,
            body,
            None,
            base,
            Output::direct(),
        ));
        if !matches!(*ex.method(), Method::GET | Method::HEAD | Method::POST) {
            return self.pass(ex).await;
        }
        // Python's `is_cgi()`, through the handlers above.
        match guarded(&mut ex, |ex| ex.is_cgi()) {
            Some(Some(info)) => self.run(ex, info).await,
            Some(None) if *ex.method() == Method::POST && self.config.post_only_to_scripts => {
                ex.send_error_with(501, "Can only POST to CGI scripts", None);
                ex.into_response()
            }
            Some(None) => self.pass(ex).await,
            // A handler's `is_cgi` panicked: answered with a 500.
            None => ex.into_response(),
        }
    }

    /// What is not a script: the inner service's answer (Python's `SimpleHTTPRequestHandler`
    /// part), or Python's `501` without one.
    async fn pass(self, ex: Box<Exchange>) -> Response<Body> {
        fall_through(ex, self.inner).await
    }

    /// Python's `run_cgi`, with RFC 3875's response handling.
    async fn run(self, mut ex: Box<Exchange>, info: CgiInfo) -> Response<Body> {
        let config = self.config.clone();
        // Lines about the script written after the answer (its stderr, its exit code) go through
        // the class too, from the two tasks that watch the script: through one copy of the
        // exchange, in turn (the walks of an exchange are not shared by calls running at once).
        let logger = |logger: &Arc<Mutex<Exchange>>| {
            let logger = Arc::clone(logger);
            move |args: fmt::Arguments<'_>| {
                logger
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .log_error(args);
            }
        };

        // The request body: streamed when its length is known, else spooled to learn it.
        let declared = ex
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body = ex.take_body();
        let mut _spooled = None;
        let (stdin, content_length, pump) = match declared {
            Some(length) if length > config.max_request_body => {
                ex.send_error(413);
                return ex.into_response();
            }
            Some(0) => (Stdin::Null, Some(0), None),
            Some(length) => (Stdin::Piped, Some(length), Some(body)),
            None if http_body::Body::is_end_stream(&body) => (Stdin::Null, None, None),
            None => match spool(body, &config).await {
                Ok((file, length, reserved)) => {
                    _spooled = Some(reserved);
                    (Stdin::File(file), Some(length), None)
                }
                Err(Spooled::TooLarge) => {
                    ex.send_error(413);
                    return ex.into_response();
                }
                Err(Spooled::TimedOut) => {
                    ex.log_error(format_args!(
                        "CGI: the request body did not arrive within {} s",
                        config.body_timeout.as_secs_f64()
                    ));
                    ex.send_error(408);
                    return ex.into_response();
                }
                Err(Spooled::NoSpace) => {
                    ex.log_error(format_args!(
                        "CGI: the bodies being spooled already take {} bytes",
                        config.max_spool_total
                    ));
                    ex.send_error(503);
                    return ex.into_response();
                }
                Err(Spooled::Failed(err)) => {
                    ex.log_error(format_args!("CGI: reading the request body: {err}"));
                    ex.send_error(400);
                    return ex.into_response();
                }
            },
        };

        // A slot among the running scripts, taken once the body is in hand (or about to be
        // streamed): a client that trickles its body holds no slot.
        let permit = match tokio::time::timeout(
            config.queue_timeout,
            config.scripts.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => permit,
            _ => {
                ex.log_error(format_args!(
                    "CGI: {} scripts already running",
                    config.max_scripts
                ));
                ex.send_error(503);
                return ex.into_response();
            }
        };

        // Resolving the script and starting it touch the disk: one trip to the blocking pool,
        // where `translate_path` runs as Python runs it, through the handlers above.
        let trip = {
            let config = config.clone();
            let span = tracing::Span::current();
            tokio::task::spawn_blocking(move || {
                let started = span.in_scope(|| {
                    guarded(&mut ex, |ex| {
                        prepare(&config, ex, &info, content_length, stdin)
                    })
                });
                (ex, started)
            })
            .await
        };
        let (mut ex, started) = match trip {
            Ok(trip) => trip,
            Err(err) => {
                // The blocking task was cancelled (the runtime is shutting down).
                tracing::warn!(target: crate::log::TARGET, "CGI: {err}");
                return crate::handler::plain_500();
            }
        };
        let (child, script) = match started {
            Some(Ok(started)) => started,
            Some(Err(refusal)) => {
                if let Some(why) = &refusal.log {
                    ex.log_error(format_args!("{why}"));
                }
                match &refusal.message {
                    Some(message) => ex.send_error_with(refusal.code, message, None),
                    None => ex.send_error(refusal.code),
                }
                return ex.into_response();
            }
            // A handler's `translate_path` panicked: answered with a 500.
            None => return ex.into_response(),
        };
        let name = script.script_name();
        let nph = config.nph && script.script.starts_with("nph-");
        let process::Script {
            stdin: child_stdin,
            mut stdout,
            stderr,
            process,
        } = child;
        let logging = Arc::new(Mutex::new(ex.for_logging()));
        let (guard, ended) =
            process::supervise(process, config.kill_grace, logger(&logging), Some(permit));
        process::log_stderr(stderr, config.max_stderr, logger(&logging));
        if let (Some(stdin), Some(body)) = (child_stdin, pump) {
            tokio::spawn(pump_body(body, stdin, ended));
        }

        // The header block.
        let deadline = tokio::time::Instant::now() + config.header_timeout;
        // Read straight into the block, without zeroing: first within what the allocator keeps
        // in its small bins (most heads are shorter), then 8 KiB at a time.
        let mut buf: Vec<u8> = Vec::with_capacity(1000);
        let (head, consumed) = loop {
            match head::parse(&buf, nph, config.head_limits) {
                Ok(Some(parsed)) => break parsed,
                Ok(None) => {}
                Err(err) => return bad_gateway(ex, &name, &err),
            }
            if buf.len() == buf.capacity() {
                buf.reserve(8192);
            }
            match process::read_some(&mut stdout, &mut buf, deadline).await {
                Ok(0) => {
                    let err = if buf.is_empty() {
                        HeadError::NoOutput
                    } else {
                        HeadError::Truncated
                    };
                    return bad_gateway(ex, &name, &err);
                }
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::TimedOut => {
                    ex.log_error(format_args!(
                        "CGI script {name}: no header block within {} s",
                        config.header_timeout.as_secs()
                    ));
                    ex.send_error(504);
                    return ex.into_response();
                }
                Err(err) => {
                    ex.log_error(format_args!("CGI script {name}: {err}"));
                    ex.send_error(502);
                    return ex.into_response();
                }
            }
        };
        let first = Bytes::copy_from_slice(&buf[consumed..]);

        // A local redirect is served in the script's place.
        if config.local_redirects {
            if let Some(location) = head.local_redirect() {
                drop(guard);
                let location = location.to_owned();
                return self.local_redirect(ex, location).await;
            }
        }

        let ScriptHead {
            status,
            location,
            headers,
        } = head;
        let (status, reason) = match (status, &location) {
            (Some((status, reason)), _) => (status, reason),
            (None, Some(_)) => (StatusCode::FOUND, None),
            (None, None) if nph => (StatusCode::OK, None),
            (None, None) => (StatusCode::OK, Some("Script output follows".to_owned())),
        };
        match &reason {
            Some(reason) => ex.send_response_with(status.as_u16(), reason),
            None => ex.send_response(status.as_u16()),
        }
        if let Some(out) = ex.pending_headers_mut() {
            let mut last: Option<header::HeaderName> = None;
            for (name, value) in headers {
                if let Some(name) = name {
                    // The script's fields replace the server's of the same name.
                    out.remove(&name);
                    last = Some(name);
                }
                if let Some(name) = &last {
                    out.append(name.clone(), value);
                }
            }
            if let Some(location) = location {
                out.insert(header::LOCATION, location);
            }
        }
        // Python writes the script's output after `flush_headers()`: `end_headers` overrides
        // do not see it, unless asked.
        let sent = if config.end_headers_for_scripts {
            ex.end_headers_or_500()
        } else {
            match ex.flush_headers() {
                Ok(()) => true,
                Err(err) => {
                    ex.log_error(format_args!("CGI script {name}: {err}"));
                    ex.send_error(502);
                    false
                }
            }
        };
        let has_body = ex.method() != Method::HEAD
            && status != StatusCode::NO_CONTENT
            && status != StatusCode::NOT_MODIFIED;
        if sent && has_body {
            let rest = Body::new(CgiBody::new(stdout, config.idle_timeout, guard));
            ex.send_body(Body::prefixed(first, rest));
        } else {
            process::drain(stdout, config.idle_timeout, guard);
        }
        ex.into_response()
    }

    /// RFC 3875 §6.2.2: the response for `location` instead, as a `GET` without a body.
    async fn local_redirect(self, mut ex: Box<Exchange>, location: String) -> Response<Body> {
        let depth = ex.extensions().get::<LocalRedirects>().map_or(0, |d| d.0);
        if depth >= self.config.max_local_redirects {
            ex.log_error(format_args!(
                "CGI: more than {} local redirects, the last to {location}",
                self.config.max_local_redirects
            ));
            ex.send_error(500);
            return ex.into_response();
        }
        let Ok(uri) = location.parse::<http::Uri>() else {
            ex.log_error(format_args!("CGI: invalid local redirect {location:?}"));
            ex.send_error(502);
            return ex.into_response();
        };
        let mut request = Request::new(Body::empty());
        *request.uri_mut() = uri;
        *request.version_mut() = ex.version();
        let mut headers = ex.headers().clone();
        for name in [
            header::CONTENT_LENGTH,
            header::CONTENT_TYPE,
            header::TRANSFER_ENCODING,
            header::EXPECT,
        ] {
            headers.remove(name);
        }
        *request.headers_mut() = headers;
        if let Some(conn) = ex.connection_info() {
            request.extensions_mut().insert(conn.clone());
        }
        if let Some(class) = ex.inherited_class() {
            request.extensions_mut().insert(class);
        }
        request.extensions_mut().insert(LocalRedirects(depth + 1));
        Box::pin(self.respond(request)).await
    }
}

fn bad_gateway(mut ex: Box<Exchange>, name: &str, err: &HeadError) -> Response<Body> {
    ex.log_error(format_args!("CGI script {name}: {err}"));
    ex.send_error(502);
    ex.into_response()
}

impl Base for Config {
    fn attributes(&self) -> &Attributes {
        &self.class
    }

    /// Below the served directory, by its real path once it is open (so `PATH_TRANSLATED` is
    /// absolute).
    fn translate_path(&self, path: &str) -> PathBuf {
        match self.root.cached() {
            Some(root) => crate::static_files::translate_path(&root.canonical, path),
            None => crate::static_files::translate_path(self.root.path(), path),
        }
    }

    fn is_cgi(&self, path: &str) -> Option<CgiInfo> {
        super::default_is_cgi(path, &self.directories)
    }
}

/// Python's `translate_path(url_path)` for a script lookup, as a path below the root; `None`
/// outside it (or climbing out of it), unless symlinks may lead out.
fn below_root(config: &Config, ex: &Exchange, url_path: &str) -> Option<Vec<u8>> {
    let path = ex.translate_path(url_path);
    match config.root.relative(&path) {
        Some((relative, _)) if relative.is_empty() => Some(b".".to_vec()),
        Some((relative, _)) => Some(relative),
        None if config.follow_symlinks && path.is_absolute() => {
            Some(path.into_os_string().into_encoded_bytes())
        }
        None => None,
    }
}

/// Finds the script (Python's checks and messages), builds its environment and starts it.
fn prepare(
    config: &Config,
    ex: &Exchange,
    info: &CgiInfo,
    content_length: Option<u64>,
    stdin: Stdin,
) -> Result<(process::Script, ScriptPath), Refusal> {
    let root = config.root.open().map_err(|err| {
        Refusal::internal(format!(
            "CGI: cannot open {}: {err}",
            config.root.path().display()
        ))
    })?;
    let script = resolve::split_script(&info.dir, &info.rest, |url_path| {
        below_root(config, ex, url_path)
            .is_some_and(|relative| confined::is_dir_at(&root, &relative, config.follow_symlinks))
    });
    let name = script.script_name();
    let quoted = crate::util::py_repr(&name);
    if script.script == "." || script.script == ".." {
        // Only a decoded `?` (`%2e%2e%3f`) gets here: the directory above, never a script.
        return Err(Refusal::new(
            403,
            format!("CGI script is not a plain file ({quoted})"),
        ));
    }
    let no_such = || Refusal::new(404, format!("No such CGI script ({quoted})"));
    let relative = below_root(config, ex, &name).ok_or_else(no_such)?;
    let file = confined::open(&root, &relative, config.follow_symlinks).map_err(|_| no_such())?;
    if !file.metadata().is_ok_and(|m| Kind::of(&m) == Kind::Regular) {
        return Err(Refusal::new(
            403,
            format!("CGI script is not a plain file ({quoted})"),
        ));
    }
    if !confined::is_executable_at(&root, &relative) {
        return Err(Refusal::new(
            403,
            format!("CGI script is not executable ({quoted})"),
        ));
    }
    drop(file);
    let program = on_disk(&root.canonical, &relative);
    let cwd = match &config.current_dir {
        Some(dir) => dir.clone(),
        None => match below_root(config, ex, &script.dir) {
            Some(dir) => on_disk(&root.canonical, &dir),
            None => root.canonical.clone(),
        },
    };
    let path_translated = ex.translate_path(&script.path_info).into_os_string();
    let (server_name, server_port) = rules::server_name_and_port(ex.parts(), ex.connection_info());
    let request = env::Request {
        method: ex.command(),
        headers: ex.headers(),
        script: &script,
        path_translated,
        server_software: ex.server_header().as_bytes(),
        server_name,
        server_port,
        server_protocol: rules::version_str(ex.protocol_version()),
        remote_addr: ex.client_address().map(|addr| addr.ip().to_string()),
        content_length,
    };
    #[cfg(clone_spawn)]
    let environment =
        super::spawn::with_server_env(|server| env::build(&request, &config.env, server));
    #[cfg(not(clone_spawn))]
    let environment = {
        let server: Vec<_> = std::env::vars_os().collect();
        env::build(
            &request,
            &config.env,
            server.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str())),
        )
    };
    if environment
        .iter()
        .any(|(k, v)| k.as_encoded_bytes().contains(&0) || v.as_encoded_bytes().contains(&0))
    {
        return Err(Refusal {
            code: 400,
            message: None,
            log: Some(format!("CGI script {name}: a NUL byte in its environment")),
        });
    }
    let run_as = match config.run_as {
        RunAs::Server => None,
        RunAs::User { uid, gid } => Some((uid, gid)),
        RunAs::NobodyWhenRoot => rustix::process::geteuid().is_root().then(process::nobody),
    };
    let args = resolve::query_argument(&script.query)
        .into_iter()
        .map(OsString::from)
        .collect();
    let spec = Spawn {
        program,
        arg0: OsString::from(&script.script),
        args,
        env: environment,
        cwd,
        stdin,
        run_as,
    };
    let child = process::spawn(spec).map_err(|err| {
        Refusal::internal(format!("CGI script {name} could not be started: {err}"))
    })?;
    Ok((child, script))
}

/// A path below the root (or, with symlinks followed out, an absolute one) on disk.
fn on_disk(root: &Path, relative: &[u8]) -> PathBuf {
    root.join(confined::os_str(relative))
}

/// Streams the request body to the script's stdin; stops when the script stops reading or
/// is gone.
async fn pump_body(
    mut body: Body,
    mut stdin: process::PipeWriter,
    mut ended: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::AsyncWriteExt;
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = ended.wait_for(|ended| *ended) => return,
        };
        let Some(Ok(frame)) = frame else { return };
        if let Ok(data) = frame.into_data() {
            let written = tokio::select! {
                written = stdin.write_all(&data) => written,
                _ = ended.wait_for(|ended| *ended) => return,
            };
            if written.is_err() {
                // The script closed its stdin: the rest of the body is not for it.
                return;
            }
        }
    }
}

enum Spooled {
    TooLarge,
    TimedOut,
    NoSpace,
    Failed(BoxError),
}

/// Bytes reserved in the spool budget shared by a [`Cgi`] and its clones, given back on drop.
struct Reserved<'a> {
    total: &'a AtomicU64,
    bytes: u64,
}

impl Reserved<'_> {
    /// Reserves `more` bytes, unless the total would exceed `max`.
    fn grow(&mut self, more: u64, max: u64) -> bool {
        let reserved = self
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |total| {
                total.checked_add(more).filter(|&t| t <= max)
            })
            .is_ok();
        if reserved {
            self.bytes += more;
        }
        reserved
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        self.total.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Reads a body of unknown length (chunked) into an anonymous temporary file, so the script
/// gets an exact `CONTENT_LENGTH`: at most `max_request_body` bytes, within `body_timeout`, and
/// within what `max_spool_total` leaves to all the bodies being spooled at once.
/// The reservation lasts as long as the returned guard.
async fn spool(body: Body, config: &Config) -> Result<(std::fs::File, u64, Reserved<'_>), Spooled> {
    let mut reserved = Reserved {
        total: &config.spooled,
        bytes: 0,
    };
    let spooling = spool_into_file(body, config, &mut reserved);
    match tokio::time::timeout(config.body_timeout, spooling).await {
        Ok(Ok((file, length))) => Ok((file, length, reserved)),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(Spooled::TimedOut),
    }
}

async fn spool_into_file(
    mut body: Body,
    config: &Config,
    reserved: &mut Reserved<'_>,
) -> Result<(std::fs::File, u64), Spooled> {
    use tokio::io::{AsyncSeekExt, AsyncWriteExt};
    let file = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(|e| Spooled::Failed(e.into()))?
        .map_err(|e| Spooled::Failed(e.into()))?;
    let mut file = tokio::fs::File::from_std(file);
    let mut length = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(Spooled::Failed)?;
        if let Ok(data) = frame.into_data() {
            length += data.len() as u64;
            if length > config.max_request_body {
                return Err(Spooled::TooLarge);
            }
            if !reserved.grow(data.len() as u64, config.max_spool_total) {
                return Err(Spooled::NoSpace);
            }
            file.write_all(&data)
                .await
                .map_err(|e| Spooled::Failed(e.into()))?;
        }
    }
    file.flush().await.map_err(|e| Spooled::Failed(e.into()))?;
    file.rewind().await.map_err(|e| Spooled::Failed(e.into()))?;
    Ok((file.into_std().await, length))
}
