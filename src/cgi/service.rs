use std::convert::Infallible;
use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use tokio::sync::Semaphore;
use tower::{Service, ServiceExt};

use super::head::{self, HeadError, ScriptHead};
use super::process::{self, CgiBody, Spawn, Stdin};
use super::resolve::{self, ScriptPath};
use super::{CgiLayer, RunAs, env};
use crate::body::Body;
use crate::handler::semantics::{self, Adopt, Reply};
use crate::handler::{BoxError, NotImplemented, SYS_VERSION};
use crate::server::ConnectionInfo;
use crate::static_files::fs::Root;

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
#[doc(alias = "CGIHTTPRequestHandler")]
pub struct Cgi<S = NotImplemented> {
    config: Arc<Config>,
    inner: Option<S>,
}

#[derive(Clone)]
pub(crate) struct Config {
    root: Arc<Root>,
    directories: Vec<String>,
    follow_symlinks: bool,
    server_version: String,
    sys_version: String,
    server_header: HeaderValue,
    protocol_version: Version,
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
        let server_version = "SimpleHTTP/0.6".to_owned();
        let sys_version = SYS_VERSION.to_owned();
        let max_scripts = 64;
        Self {
            inner: None,
            config: Arc::new(Config {
                root: Arc::new(Root::new(directory.into())),
                directories: vec!["/cgi-bin".to_owned(), "/htbin".to_owned()],
                follow_symlinks: false,
                server_header: semantics::server_header(&format!("{server_version} {sys_version}")),
                server_version,
                sys_version,
                protocol_version: Version::HTTP_10,
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

    /// The inner service, if there is one.
    pub fn get_ref(&self) -> Option<&S> {
        self.inner.as_ref()
    }

    /// Consumes `self`, returning the inner service, if there is one.
    pub fn into_inner(self) -> Option<S> {
        self.inner
    }

    /// Python's `cgi_directories`: URL paths whose files are scripts (nested directories below
    /// them included; entries may be several levels deep, like `/sub/dir/cgi-bin`).
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

    /// Python's `server_version` (the first word of `Server` and `SERVER_SOFTWARE`).
    ///
    /// Defaults to `"SimpleHTTP/0.6"`.
    pub fn server_version(mut self, version: impl Into<String>) -> Self {
        let config = self.config_mut();
        config.server_version = version.into();
        config.server_header =
            semantics::server_header(&format!("{} {}", config.server_version, config.sys_version));
        self
    }

    /// Python's `sys_version` (the second word of `Server` and `SERVER_SOFTWARE`).
    ///
    /// Defaults to [`SYS_VERSION`].
    pub fn sys_version(mut self, version: impl Into<String>) -> Self {
        let config = self.config_mut();
        config.sys_version = version.into();
        config.server_header =
            semantics::server_header(&format!("{} {}", config.server_version, config.sys_version));
        self
    }

    /// Python's `protocol_version`: the status-line version, connection handling, and
    /// `SERVER_PROTOCOL`.
    ///
    /// Defaults to `HTTP/1.0`.
    pub fn protocol_version(mut self, version: Version) -> Self {
        self.config_mut().protocol_version = version;
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
        ResponseFuture {
            inner: Box::pin(this.respond(request.map(Body::new))),
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
        let method = request.method().clone();
        if !matches!(method, Method::GET | Method::HEAD | Method::POST) {
            return self.pass(request).await;
        }
        let raw = semantics::request_target(request.uri(), request.version()).into_owned();
        let target = semantics::collapse_slashes(&raw);
        let script = resolve::url_collapse_path(&target).and_then(|collapsed| {
            resolve::is_cgi(&collapsed, &self.config.directories)
                .map(|(dir, rest)| (dir.to_owned(), rest.to_owned()))
        });
        match script {
            Some((dir, rest)) => self.run(request, &raw, dir, rest).await,
            None if method == Method::POST && self.config.post_only_to_scripts => {
                let (parts, _body) = request.into_parts();
                let conn = semantics::connection_info(&parts);
                reply(&self.config, &parts, &raw, conn.as_ref()).error(
                    501,
                    Some("Can only POST to CGI scripts"),
                    None,
                )
            }
            None => self.pass(request).await,
        }
    }

    /// What is not a script: the inner service's answer, given Python's log line and
    /// connection handling if it did not come from a basehttp service.
    async fn pass(self, request: Request<Body>) -> Response<Body> {
        let config = self.config.clone();
        let adopt = Adopt::new(&request, config.protocol_version, &config.server_header);
        let Some(inner) = self.inner else {
            let message = format!(
                "Unsupported method ({})",
                crate::util::py_repr(request.method().as_str())
            );
            return adopt.with_reply(|reply| reply.error(501, Some(&message), None));
        };
        match inner.oneshot(request).await {
            Ok(response) => adopt.with_reply(|reply| reply.adopt(response.map(Body::new))),
            Err(err) => {
                let err: BoxError = err.into();
                adopt.with_reply(|reply| {
                    reply.log_error(format_args!(
                        "Exception occurred during processing of request: {err}"
                    ));
                    reply.error(500, None, None)
                })
            }
        }
    }

    /// Python's `run_cgi`, with RFC 3875's response handling.
    async fn run(
        self,
        request: Request<Body>,
        raw: &str,
        dir: String,
        rest: String,
    ) -> Response<Body> {
        let config = self.config.clone();
        let (parts, body) = request.into_parts();
        let conn = semantics::connection_info(&parts);
        let reply = reply(&config, &parts, raw, conn.as_ref());
        let address = conn
            .as_ref()
            .map_or_else(|| "-".to_owned(), |c| c.address_string().to_owned());
        let log = move |args: fmt::Arguments<'_>| crate::log::emit(&address, args);

        // A slot among the running scripts.
        let permit = match tokio::time::timeout(
            config.queue_timeout,
            config.scripts.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => permit,
            _ => {
                reply.log_error(format_args!(
                    "CGI: {} scripts already running",
                    config.max_scripts
                ));
                return reply.error(503, None, None);
            }
        };

        // The request body: streamed when its length is known, else spooled to learn it.
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let (stdin, content_length, pump) = match declared {
            Some(length) if length > config.max_request_body => {
                return reply.error(413, None, None);
            }
            Some(0) => (Stdin::Null, Some(0), None),
            Some(length) => (Stdin::Piped, Some(length), Some(body)),
            None if http_body::Body::is_end_stream(&body) => (Stdin::Null, None, None),
            None => match spool(body, config.max_request_body).await {
                Ok((file, length)) => (Stdin::File(file), Some(length), None),
                Err(Spooled::TooLarge) => return reply.error(413, None, None),
                Err(Spooled::Failed(err)) => {
                    reply.log_error(format_args!("CGI: reading the request body: {err}"));
                    return reply.error(400, None, None);
                }
            },
        };

        // Resolving the script and starting it touch the disk: one trip to the blocking pool.
        let facts = Facts {
            method: parts.method.as_str().to_owned(),
            headers: parts.headers.clone(),
            remote_addr: conn.as_ref().map(|c| c.remote_addr().ip().to_string()),
            server: {
                let (name, port) = semantics::server_name_and_port(&parts, conn.as_ref());
                (name.to_owned(), port)
            },
            content_length,
        };
        let prepared = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || prepare(&config, &dir, &rest, facts, stdin)).await
        };
        let (child, script) = match prepared {
            Ok(Ok(started)) => started,
            Ok(Err(refusal)) => {
                if let Some(why) = &refusal.log {
                    reply.log_error(format_args!("{why}"));
                }
                return reply.error(refusal.code, refusal.message.as_deref(), None);
            }
            Err(err) => {
                reply.log_error(format_args!("CGI: {err}"));
                return reply.error(500, None, None);
            }
        };
        let name = script.script_name();
        let nph = config.nph && script.script.starts_with("nph-");
        let process::Script {
            stdin: child_stdin,
            mut stdout,
            stderr,
            process,
        } = child;
        let (guard, ended) =
            process::supervise(process, config.kill_grace, log.clone(), Some(permit));
        process::log_stderr(stderr, config.max_stderr, log.clone());
        if let (Some(stdin), Some(body)) = (child_stdin, pump) {
            tokio::spawn(pump_body(body, stdin, ended));
        }

        // The header block.
        let deadline = tokio::time::Instant::now() + config.header_timeout;
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 8192];
        let (head, consumed) = loop {
            match head::parse(&buf, nph, config.head_limits) {
                Ok(Some(parsed)) => break parsed,
                Ok(None) => {}
                Err(err) => return bad_gateway(&reply, &name, &err),
            }
            match process::read_some(&mut stdout, &mut chunk, deadline).await {
                Ok(0) => {
                    let err = if buf.is_empty() {
                        HeadError::NoOutput
                    } else {
                        HeadError::Truncated
                    };
                    return bad_gateway(&reply, &name, &err);
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(err) if err.kind() == std::io::ErrorKind::TimedOut => {
                    reply.log_error(format_args!(
                        "CGI script {name}: no header block within {} s",
                        config.header_timeout.as_secs()
                    ));
                    return reply.error(504, None, None);
                }
                Err(err) => {
                    reply.log_error(format_args!("CGI script {name}: {err}"));
                    return reply.error(502, None, None);
                }
            }
        };
        let first = Bytes::copy_from_slice(&buf[consumed..]);

        // A local redirect is served in the script's place.
        if config.local_redirects {
            if let Some(location) = head.local_redirect() {
                drop(guard);
                let location = location.to_owned();
                return self.local_redirect(&reply, &parts, location).await;
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
        let mut response = reply.start(status, reason.as_deref());
        let out = response.headers_mut();
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
        let has_body = parts.method != Method::HEAD
            && status != StatusCode::NO_CONTENT
            && status != StatusCode::NOT_MODIFIED;
        if has_body {
            let body = CgiBody::new(first, stdout, config.idle_timeout, guard);
            *response.body_mut() = Body::new(body);
        } else {
            process::drain(stdout, config.idle_timeout, guard);
        }
        reply.finish(response)
    }

    /// RFC 3875 §6.2.2: the response for `location` instead, as a `GET` without a body.
    async fn local_redirect(
        self,
        reply: &Reply<'_>,
        parts: &http::request::Parts,
        location: String,
    ) -> Response<Body> {
        let depth = parts.extensions.get::<LocalRedirects>().map_or(0, |d| d.0);
        if depth >= self.config.max_local_redirects {
            reply.log_error(format_args!(
                "CGI: more than {} local redirects, the last to {location}",
                self.config.max_local_redirects
            ));
            return reply.error(500, None, None);
        }
        let Ok(uri) = location.parse::<http::Uri>() else {
            reply.log_error(format_args!("CGI: invalid local redirect {location:?}"));
            return reply.error(502, None, None);
        };
        let mut request = Request::new(Body::empty());
        *request.uri_mut() = uri;
        *request.version_mut() = parts.version;
        let mut headers = parts.headers.clone();
        for name in [
            header::CONTENT_LENGTH,
            header::CONTENT_TYPE,
            header::TRANSFER_ENCODING,
            header::EXPECT,
        ] {
            headers.remove(name);
        }
        *request.headers_mut() = headers;
        if let Some(conn) = parts.extensions.get::<ConnectionInfo>() {
            request.extensions_mut().insert(conn.clone());
        }
        request.extensions_mut().insert(LocalRedirects(depth + 1));
        Box::pin(self.respond(request)).await
    }
}

fn reply<'a>(
    config: &'a Config,
    parts: &'a http::request::Parts,
    raw_target: &'a str,
    conn: Option<&'a ConnectionInfo>,
) -> Reply<'a> {
    Reply {
        method: &parts.method,
        version: parts.version,
        raw_target,
        close: semantics::initial_close_connection(
            parts.version,
            &parts.headers,
            config.protocol_version,
        ),
        conn,
        protocol: config.protocol_version,
        server: &config.server_header,
    }
}

fn bad_gateway(reply: &Reply<'_>, name: &str, err: &HeadError) -> Response<Body> {
    reply.log_error(format_args!("CGI script {name}: {err}"));
    reply.error(502, None, None)
}

/// What the blocking step needs to know about the request.
struct Facts {
    method: String,
    headers: http::HeaderMap,
    remote_addr: Option<String>,
    server: (String, u16),
    content_length: Option<u64>,
}

/// Finds the script (Python's checks and messages), builds its environment and starts it.
fn prepare(
    config: &Config,
    dir: &str,
    rest: &str,
    facts: Facts,
    stdin: Stdin,
) -> Result<(process::Script, ScriptPath), Refusal> {
    use crate::static_files::fs;
    let root = config.root.open().map_err(|err| Refusal {
        code: 500,
        message: None,
        log: Some(format!(
            "CGI: cannot open {}: {err}",
            config.root.path().display()
        )),
    })?;
    let relative = |url_path: &str| url_path.trim_start_matches('/').as_bytes().to_vec();
    let script = resolve::split_script(dir, rest, |url_path| {
        fs::is_dir_at(&root, &relative(url_path), config.follow_symlinks)
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
    let file = fs::open(&root, &relative(&name), config.follow_symlinks)
        .map_err(|_| Refusal::new(404, format!("No such CGI script ({quoted})")))?;
    let is_file = file.metadata().is_ok_and(|m| m.is_file());
    if !is_file {
        return Err(Refusal::new(
            403,
            format!("CGI script is not a plain file ({quoted})"),
        ));
    }
    let executable = rustix::fs::accessat(
        &root.dir,
        crate::static_files::resolve::os_str(&relative(&name)),
        rustix::fs::Access::EXEC_OK,
        rustix::fs::AtFlags::empty(),
    )
    .is_ok();
    if !executable {
        return Err(Refusal::new(
            403,
            format!("CGI script is not executable ({quoted})"),
        ));
    }
    drop(file);
    let program = process::on_disk(&root.canonical, &name);
    let cwd = match &config.current_dir {
        Some(dir) => dir.clone(),
        None => process::on_disk(&root.canonical, &script.dir),
    };
    let path_translated =
        crate::static_files::translate_path(&root.canonical, &script.path_info).into_os_string();
    let request = env::Request {
        method: &facts.method,
        headers: &facts.headers,
        script: &script,
        path_translated,
        server_software: config.server_header.as_bytes(),
        server_name: &facts.server.0,
        server_port: facts.server.1,
        server_protocol: semantics::version_str(config.protocol_version),
        remote_addr: facts.remote_addr,
        content_length: facts.content_length,
    };
    let environment = env::build(&request, &config.env, std::env::vars_os());
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
    let child = process::spawn(spec).map_err(|err| Refusal {
        code: 500,
        message: None,
        log: Some(format!("CGI script {name} could not be started: {err}")),
    })?;
    Ok((child, script))
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
    Failed(BoxError),
}

/// Reads a body of unknown length (chunked) into an anonymous temporary file, at most `max`
/// bytes, so the script gets an exact `CONTENT_LENGTH`.
async fn spool(mut body: Body, max: u64) -> Result<(std::fs::File, u64), Spooled> {
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
            if length > max {
                return Err(Spooled::TooLarge);
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
