use std::borrow::Cow;
use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, Version};
use tower::Service;

use super::fs::{self, OwnedRequest, Root};
use super::future::ResponseFuture;
use super::listing::DirectoryListing;
use super::mime::DEFAULT_EXTENSIONS_MAP;
use super::{Encoding, StaticFilesLayer};
use crate::body::Body;
use crate::handler::semantics::{self, Reply};
use crate::handler::{BoxError, NotImplemented, SYS_VERSION};

/// Python's `SimpleHTTPRequestHandler`: serves the files below a directory, as a tower
/// [`Service`].
///
/// Build it with [`new`](StaticFiles::new) and the builder methods; it is a service as it is
/// (other methods than `GET` and `HEAD` get Python's `501`), or a layer with
/// [`into_layer`](StaticFiles::into_layer) (they go to the inner service `S`). `Error =
/// Infallible`: every outcome, I/O errors included, is a response. Cloning is cheap.
///
/// See the [module docs](crate::static_files) for more details.
#[doc(alias = "SimpleHTTPRequestHandler")]
pub struct StaticFiles<S = NotImplemented> {
    config: Arc<Config>,
    inner: Option<S>,
}

type Translate = dyn Fn(&str) -> Option<String> + Send + Sync;
type GuessType = dyn Fn(&Path) -> Option<String> + Send + Sync;
type ListDirectory = dyn Fn(&DirectoryListing) -> String + Send + Sync;

#[derive(Clone)]
pub(crate) struct Config {
    pub(super) root: Arc<Root>,
    pub(super) index_pages: Vec<String>,
    pub(super) extensions_map: HashMap<String, HeaderValue>,
    pub(super) follow_symlinks: bool,
    pub(super) precompressed: Vec<Encoding>,
    server_version: String,
    sys_version: String,
    pub(super) server_header: HeaderValue,
    pub(super) protocol_version: Version,
    pub(super) extra_headers: Vec<(http::HeaderName, HeaderValue)>,
    pub(super) fall_through_on_not_found: bool,
    pub(super) etags: bool,
    pub(super) ranges: bool,
    pub(super) max_ranges: usize,
    pub(super) translate: Option<Arc<Translate>>,
    pub(super) guess_type: Option<Arc<GuessType>>,
    pub(super) list_directory: Option<Arc<ListDirectory>>,
}

impl<S: Clone> Clone for StaticFiles<S> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for StaticFiles<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("StaticFiles")
            .field("directory", &c.root.path())
            .field("index_pages", &c.index_pages)
            .field("follow_symlinks", &c.follow_symlinks)
            .field("precompressed", &c.precompressed)
            .field("protocol_version", &c.protocol_version)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl StaticFiles {
    /// Serves the files below `directory` (Python's `directory=`; the CLI's `-d`), with nothing
    /// below: methods other than `GET` and `HEAD` get Python's `501` page.
    ///
    /// The directory is opened on the first request (on the blocking pool) and kept open.
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        let server_version = "SimpleHTTP/0.6".to_owned();
        let sys_version = SYS_VERSION.to_owned();
        Self {
            inner: None,
            config: Arc::new(Config {
                server_header: semantics::server_header(&format!("{server_version} {sys_version}")),
                server_version,
                sys_version,
                fall_through_on_not_found: false,
                etags: true,
                ranges: true,
                max_ranges: super::conditional::MAX_RANGES,
                root: Arc::new(Root::new(directory.into())),
                index_pages: vec!["index.html".to_owned(), "index.htm".to_owned()],
                extensions_map: DEFAULT_EXTENSIONS_MAP
                    .iter()
                    .map(|(e, t)| ((*e).to_owned(), HeaderValue::from_static(t)))
                    .collect(),
                follow_symlinks: false,
                precompressed: Vec::new(),
                protocol_version: Version::HTTP_10,
                extra_headers: Vec::new(),
                translate: None,
                guess_type: None,
                list_directory: None,
            }),
        }
    }

    /// Turns the service into a [`StaticFilesLayer`]: files in front of another service, which
    /// answers the methods other than `GET` and `HEAD`.
    pub fn into_layer(self) -> StaticFilesLayer {
        StaticFilesLayer::new(self)
    }

    pub(crate) fn with_inner<S>(self, inner: S) -> StaticFiles<S> {
        StaticFiles {
            config: self.config,
            inner: Some(inner),
        }
    }
}

impl<S> StaticFiles<S> {
    fn config_mut(&mut self) -> &mut Config {
        // A clone made earlier keeps its own settings.
        Arc::make_mut(&mut self.config)
    }

    #[cfg(test)]
    pub(super) fn config(&self) -> &Config {
        &self.config
    }

    /// The directory being served.
    pub fn directory(&self) -> &Path {
        self.config.root.path()
    }

    /// The inner service, if there is one.
    pub fn get_ref(&self) -> Option<&S> {
        self.inner.as_ref()
    }

    /// Mutable access to the inner service, if there is one.
    pub fn get_mut(&mut self) -> Option<&mut S> {
        self.inner.as_mut()
    }

    /// Consumes `self`, returning the inner service, if there is one.
    pub fn into_inner(self) -> Option<S> {
        self.inner
    }

    /// Python's `index_pages`: the names tried, in order, when a directory is requested.
    ///
    /// Defaults to `["index.html", "index.htm"]`.
    pub fn index_pages<I, P>(mut self, pages: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.config_mut().index_pages = pages.into_iter().map(Into::into).collect();
        self
    }

    /// Python's `extensions_map`: types by extension (`".gz"`), consulted before anything else,
    /// exactly then lower-cased, as Python does.
    ///
    /// Defaults to [`DEFAULT_EXTENSIONS_MAP`].
    pub fn extensions_map<I, K, V>(mut self, map: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.config_mut().extensions_map = map
            .into_iter()
            .filter_map(|(k, v)| {
                let v = v.into();
                match HeaderValue::from_str(&v) {
                    Ok(value) => Some((k.into(), value)),
                    Err(_) => {
                        tracing::warn!(target: crate::log::TARGET, "ignoring invalid type {v:?}");
                        None
                    }
                }
            })
            .collect();
        self
    }

    /// Replaces Python's `guess_type`: given the file's path below the served directory, return
    /// its `Content-Type`, or `None` for the default guess.
    pub fn guess_type<F>(mut self, guess: F) -> Self
    where
        F: Fn(&Path) -> Option<String> + Send + Sync + 'static,
    {
        self.config_mut().guess_type = Some(Arc::new(guess));
        self
    }

    /// Replaces Python's `list_directory` page: render the listing your way (for example,
    /// wrapping [`render_listing`](super::render_listing)).
    pub fn list_directory<F>(mut self, render: F) -> Self
    where
        F: Fn(&DirectoryListing) -> String + Send + Sync + 'static,
    {
        self.config_mut().list_directory = Some(Arc::new(render));
        self
    }

    /// A policy in front of Python's `translate_path`: receives the request target and returns
    /// the target to translate, or `None` for `404 File not found` (hide dotfiles, map a
    /// prefix, …). The result is still translated and confined like any request.
    ///
    /// ```
    /// use basehttp::static_files::StaticFiles;
    ///
    /// // Never serve dotfiles.
    /// let files = StaticFiles::new(".").translate_path(|target| {
    ///     let path = target.split(['?', '#']).next().unwrap_or_default();
    ///     (!path.split('/').any(|part| part.starts_with('.') && part.len() > 1))
    ///         .then(|| target.to_owned())
    /// });
    /// # let _ = files;
    /// ```
    pub fn translate_path<F>(mut self, policy: F) -> Self
    where
        F: Fn(&str) -> Option<String> + Send + Sync + 'static,
    {
        self.config_mut().translate = Some(Arc::new(policy));
        self
    }

    /// Whether symbolic links may lead outside the served directory (Python's behaviour, and
    /// the CLI's `--follow-symlinks`). When `false`, links that stay inside work and the others
    /// are `404 File not found`; the check is made on the file actually opened, so it cannot be
    /// raced by swapping links.
    ///
    /// Defaults to `false`.
    pub fn follow_symlinks(mut self, follow: bool) -> Self {
        self.config_mut().follow_symlinks = follow;
        self
    }

    /// Serves `name.gz` instead of `name` to clients that accept gzip, when it exists.
    ///
    /// Off by default. Responses then carry `Vary: Accept-Encoding`.
    pub fn precompressed_gzip(mut self) -> Self {
        self.enable(Encoding::Gzip);
        self
    }

    /// Serves `name.br` instead of `name` to clients that accept Brotli, when it exists.
    ///
    /// Off by default.
    pub fn precompressed_br(mut self) -> Self {
        self.enable(Encoding::Br);
        self
    }

    /// Serves `name.zst` instead of `name` to clients that accept zstd, when it exists.
    ///
    /// Off by default.
    pub fn precompressed_zstd(mut self) -> Self {
        self.enable(Encoding::Zstd);
        self
    }

    fn enable(&mut self, encoding: Encoding) {
        let config = self.config_mut();
        if !config.precompressed.contains(&encoding) {
            config.precompressed.push(encoding);
        }
    }

    /// Python's `server_version`: the first word of the `Server` header.
    ///
    /// Defaults to `"SimpleHTTP/0.6"`.
    pub fn server_version(mut self, version: impl Into<String>) -> Self {
        let config = self.config_mut();
        config.server_version = version.into();
        config.server_header =
            semantics::server_header(&format!("{} {}", config.server_version, config.sys_version));
        self
    }

    /// Python's `sys_version`: the second word of the `Server` header.
    ///
    /// Defaults to [`SYS_VERSION`] (`basehttp/<version>`; Python says `Python/3.x.y`).
    pub fn sys_version(mut self, version: impl Into<String>) -> Self {
        let config = self.config_mut();
        config.sys_version = version.into();
        config.server_header =
            semantics::server_header(&format!("{} {}", config.server_version, config.sys_version));
        self
    }

    /// Whether files carry an `ETag` (`"<mtime in ns, hex>-<size, hex>"`) and `If-Match`,
    /// `If-None-Match` and `If-Unmodified-Since` are honoured in RFC 9110's order. `false` is
    /// Python's behaviour: no `ETag`, only `If-Modified-Since` (ignored when `If-None-Match` is
    /// present).
    ///
    /// Defaults to `true`.
    pub fn etags(mut self, enabled: bool) -> Self {
        self.config_mut().etags = enabled;
        self
    }

    /// Whether `Range` requests are answered with `206` (one range, or `multipart/byteranges`)
    /// or `416`, and files carry `Accept-Ranges: bytes`. `false` is Python's behaviour: the
    /// whole file, always.
    ///
    /// Defaults to `true`.
    pub fn ranges(mut self, enabled: bool) -> Self {
        self.config_mut().ranges = enabled;
        self
    }

    /// The most distinct ranges one request may ask for, once overlapping and adjacent ones are
    /// merged; a request for more gets the whole file (`200`), as nginx and Apache answer range
    /// floods.
    ///
    /// Defaults to 16.
    pub fn max_ranges(mut self, max: usize) -> Self {
        self.config_mut().max_ranges = max.max(1);
        self
    }

    /// What happens to a request for a path with nothing behind it when there is an inner
    /// service: `false` answers `404 File not found` like Python; `true` hands the request to
    /// the inner service (the files sit in front of an application, like tower-http's
    /// `ServeDir::fallback`). Without an inner service it changes nothing.
    ///
    /// Defaults to `false`.
    pub fn fall_through_on_not_found(mut self, fall_through: bool) -> Self {
        self.config_mut().fall_through_on_not_found = fall_through;
        self
    }

    /// Python's `protocol_version` (the CLI's `-p`).
    ///
    /// Defaults to `HTTP/1.0`.
    pub fn protocol_version(mut self, version: Version) -> Self {
        self.config_mut().protocol_version = version;
        self
    }

    /// Python 3.15's `extra_response_headers` (the CLI's `-H`): headers added to every file and
    /// listing response (not to redirects, `304`s or errors).
    ///
    /// Defaults to none.
    #[doc(alias = "extra_response_headers")]
    pub fn extra_headers<I>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = (http::HeaderName, HeaderValue)>,
    {
        self.config_mut().extra_headers = headers.into_iter().collect();
        self
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for StaticFiles<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The inner service is only needed for what the files do not answer; it is driven to
        // readiness then, inside the response future.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let head = match *request.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => {
                return match &self.inner {
                    Some(inner) => ResponseFuture::inner(inner.clone(), request, &self.config),
                    None => {
                        let (parts, _body) = request.into_parts();
                        ResponseFuture::ready(not_implemented(&self.config, &parts))
                    }
                };
            }
        };
        let (parts, body) = request.into_parts();
        let conn = semantics::connection_info(&parts);
        let raw = semantics::request_target(&parts.uri, parts.version);
        let target = semantics::collapse_slashes(&raw);
        let external = external_target(&parts);
        let view = fs::Request {
            target: &target,
            external: external.as_deref().unwrap_or(&target),
            head,
            headers: &parts.headers,
        };
        // A hot file is answered without leaving the runtime.
        if let Some(plan) = fs::plan_cached(&self.config, view) {
            let reply = reply(&self.config, &parts, &raw, conn.as_ref());
            return ResponseFuture::ready(super::respond::respond(&self.config, &reply, plan));
        }
        let owned = OwnedRequest {
            target: target.into_owned(),
            external: external.map(Cow::into_owned),
            head,
            headers: conditional_headers(&parts.headers),
        };
        drop(raw);
        let request = Request::from_parts(parts, body);
        ResponseFuture::planning(
            self.config.clone(),
            owned,
            request,
            conn,
            self.inner.clone(),
        )
    }
}

/// How a request is answered Python's way by these files.
pub(super) fn reply<'a>(
    config: &'a Config,
    parts: &'a http::request::Parts,
    raw_target: &'a str,
    conn: Option<&'a crate::server::ConnectionInfo>,
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

/// Python's `501 Unsupported method ('POST')`, for a method nothing below answers.
fn not_implemented(config: &Config, parts: &http::request::Parts) -> Response<Body> {
    let conn = semantics::connection_info(parts);
    let raw = semantics::request_target(&parts.uri, parts.version);
    let reply = reply(config, parts, &raw, conn.as_ref());
    let message = format!(
        "Unsupported method ({})",
        crate::util::py_repr(parts.method.as_str())
    );
    reply.error(501, Some(&message), None)
}

/// The target as the client sent it, when a router stripped a prefix (axum's `nest_service`
/// keeps the original in `OriginalUri`).
#[cfg(feature = "axum")]
fn external_target(parts: &http::request::Parts) -> Option<Cow<'_, str>> {
    let original = parts.extensions.get::<axum::extract::OriginalUri>()?;
    let original = original.0.path_and_query()?.as_str();
    let current = parts.uri.path_and_query().map_or("", |pq| pq.as_str());
    (original != current).then(|| semantics::collapse_slashes(original))
}

#[cfg(not(feature = "axum"))]
fn external_target(_parts: &http::request::Parts) -> Option<Cow<'_, str>> {
    None
}

/// Only the headers the planner reads travel to the blocking pool.
fn conditional_headers(headers: &http::HeaderMap) -> http::HeaderMap {
    use http::header::{
        ACCEPT_ENCODING, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE,
        RANGE,
    };
    let mut out = http::HeaderMap::new();
    for name in [
        IF_MATCH,
        IF_NONE_MATCH,
        IF_MODIFIED_SINCE,
        IF_UNMODIFIED_SINCE,
        IF_RANGE,
        RANGE,
        ACCEPT_ENCODING,
    ] {
        for value in headers.get_all(&name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}
