use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response};
use tower::Service;

use super::fs;
use super::hot::HotFiles;
use super::listing::DirectoryListing;
use super::mime::DEFAULT_EXTENSIONS_MAP;
use super::resolve::{self, Translated};
use super::{Encoding, PathRules, StaticFilesLayer};
use crate::body::Body;
use crate::confined::Root;
#[cfg(feature = "axum")]
use crate::handler::rules;
use crate::handler::{
    Attributes, Base, BoxError, Exchange, NotImplemented, Output, ResponseFuture,
};

/// Python's `SimpleHTTPRequestHandler`: serves the files below a directory, as a tower
/// [`Service`].
///
/// Build it with [`new`](StaticFiles::new) and the builder methods; it is a service as it is
/// (other methods than `GET` and `HEAD` get Python's `501`), or a layer with
/// [`into_layer`](StaticFiles::into_layer) (they go to the inner service `S`). `Error =
/// Infallible`: every outcome, I/O errors included, is a response. Cloning is cheap.
///
/// See the [module docs](crate::static_files) for more details.
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
    /// Python's class attributes (`server_version`, `protocol_version`, …).
    pub(crate) class: Attributes,
    pub(super) index_pages: Vec<String>,
    pub(super) extensions_map: super::table::Table<String, HeaderValue>,
    pub(super) follow_symlinks: bool,
    /// Small hot files in memory (its own for each configuration: see `memory_cache`).
    pub(super) hot_files: Arc<HotFiles>,
    pub(super) path_rules: PathRules,
    pub(super) precompressed: Vec<Encoding>,
    pub(super) extra_headers: Vec<(http::HeaderName, HeaderValue)>,
    /// Served in place of a path with nothing behind it (`fallback_file`).
    pub(super) fallback: Option<Translated>,
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
            .field("path_rules", &c.path_rules)
            .field("precompressed", &c.precompressed)
            .field("protocol_version", &c.class.protocol_version)
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
        Self {
            inner: None,
            config: Arc::new(Config {
                class: Attributes::new(crate::handler::SIMPLE_SERVER_VERSION),
                fallback: None,
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
                hot_files: Arc::new(HotFiles::new(
                    super::hot::DEFAULT_MAX_FILE,
                    super::hot::DEFAULT_MAX_TOTAL,
                )),
                path_rules: PathRules::default(),
                precompressed: Vec::new(),
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

    /// The configuration, for the planner's tests.
    #[cfg(test)]
    pub(super) fn config(&self) -> &Config {
        &self.config
    }

    /// The directory being served.
    pub fn directory(&self) -> &Path {
        self.config.root.path()
    }

    define_inner_service_accessors!();

    define_class_attribute_builders!("SimpleHTTP/0.6");

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

    /// Replaces Python's `guess_type` for this service: given the file's path below the served
    /// directory, return its `Content-Type`, or `None` for the default guess. (A handler above
    /// the files overrides [`HttpRequestHandler::guess_type`](crate::handler::HttpRequestHandler::guess_type)
    /// instead; its `super()` reaches this.)
    pub fn guess_type<F>(mut self, guess: F) -> Self
    where
        F: Fn(&Path) -> Option<String> + Send + Sync + 'static,
    {
        self.config_mut().guess_type = Some(Arc::new(guess));
        self
    }

    /// Replaces Python's `list_directory` page for this service: render the listing your way
    /// (for example, wrapping [`render_listing`](super::render_listing)); it is sent with
    /// Python's headers. (A handler above the files can answer a listing any way it likes by
    /// overriding [`HttpRequestHandler::list_directory`](crate::handler::HttpRequestHandler::list_directory).)
    pub fn list_directory<F>(mut self, render: F) -> Self
    where
        F: Fn(&DirectoryListing) -> String + Send + Sync + 'static,
    {
        self.config_mut().list_directory = Some(Arc::new(render));
        self
    }

    /// A policy in front of Python's `translate_path`: receives the request target and returns
    /// the target to translate, or `None` for `404 File not found` (hide dotfiles, map a
    /// prefix, …). The result is still translated and confined like any request. It runs once
    /// per request, on the async runtime. (A handler above the files overrides
    /// [`HttpRequestHandler::translate_path`](crate::handler::HttpRequestHandler::translate_path)
    /// instead; its `super()` reaches this.)
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

    /// Which platform's file-name rules request paths are translated with: [`PathRules::Posix`]
    /// (only `/` separates) or [`PathRules::Windows`], which refuses with `404` every name
    /// Windows reads as something else — `..\\`, drives, alternate data streams, device names
    /// such as `NUL.txt`, trailing dots, 8.3 short names. [`PathRules::WindowsAsPython`] is
    /// Python's own translation on Windows. Selecting Windows' rules on Unix serves a folder
    /// that Windows clients share with the names Windows would accept.
    ///
    /// ```
    /// use basehttp::static_files::{PathRules, StaticFiles};
    ///
    /// let files = StaticFiles::new(".").path_rules(PathRules::Windows);
    /// # let _ = files;
    /// ```
    ///
    /// Defaults to the platform's own: `PathRules::Windows` on Windows, `PathRules::Posix`
    /// elsewhere.
    pub fn path_rules(mut self, rules: PathRules) -> Self {
        self.config_mut().path_rules = rules;
        self
    }

    /// Whether symbolic links may lead outside the served directory (Python's behaviour, and
    /// the CLI's `--follow-symlinks`). When `false`, links that stay inside work and the others
    /// are `404 File not found`; the check is made on the file actually opened, so it cannot be
    /// raced by swapping links.
    ///
    /// Defaults to `false`.
    pub fn follow_symlinks(mut self, follow: bool) -> Self {
        let config = self.config_mut();
        config.follow_symlinks = follow;
        // What a path leads to depends on this: a clone configured otherwise keeps its own.
        config.renew_hot_files(|max_file, max_total, valid| (max_file, max_total, valid));
        self
    }

    /// How many bytes of small files are kept in memory, in all (Linux, on local file systems;
    /// elsewhere nothing is kept). A file is kept once it has been served whole; a request for it
    /// then costs an `O_PATH` lookup of its path (with the usual confinement) and an `fstat`
    /// instead of opening, reading and copying it, and it is served from memory only while `fstat`
    /// reports it unchanged — same device, inode, size, modification and change times — so a
    /// changed, replaced or removed file is never served from memory. A file found unchanged is
    /// watched (inotify) from then on, and its requests cost one `epoll_wait` of the notifications
    /// instead, until one concerns it. Files changed less than a second ago, ranges, and every
    /// request while precompressed variants are on go to the file. When the cache is full, entries
    /// unused for 10 s make room; if there are none, new files are not kept. `0` turns the cache
    /// off (Python's behaviour: every request opens and reads the file). See the [module
    /// docs](crate::static_files) for what the freshness rule cannot see.
    ///
    /// The cache also keeps directories' entries for their listings, under the same rule (the
    /// `fstat` of the opened directory, on every listing), in the same budget: each listing
    /// counts each entry with its name as allocated (64 bytes for a name of up to 16 bytes),
    /// and one that would count more than
    /// [`memory_cache_max_file`](Self::memory_cache_max_file) is not kept. `0` turns this off
    /// too (every listing reads the directory, as Python does).
    ///
    /// Defaults to 16 MiB ([`DEFAULT_MEMORY_CACHE`](super::DEFAULT_MEMORY_CACHE)); each entry
    /// also counts its path and 128 bytes.
    pub fn memory_cache(mut self, max_bytes: usize) -> Self {
        let config = self.config_mut();
        config.renew_hot_files(|max_file, _, valid| (max_file, max_bytes, valid));
        self
    }

    /// The largest file [`memory_cache`](Self::memory_cache) keeps.
    ///
    /// Defaults to 256 KiB.
    pub fn memory_cache_max_file(mut self, max_bytes: usize) -> Self {
        let config = self.config_mut();
        config.renew_hot_files(|_, max_total, valid| (max_bytes, max_total, valid));
        self
    }

    /// How long a file kept by [`memory_cache`](Self::memory_cache) is served from memory after
    /// it was last found unchanged, without looking at the file system again: within that
    /// window a request for it makes no system call besides the socket's, and a change,
    /// replacement or removal of the file is seen up to that long late (lighttpd trusts a
    /// `stat` for one second this way; nginx's `open_file_cache_valid` is the same idea). That
    /// includes a file moved out of the folder, or a folder on its path replaced by a link that
    /// leads out: its kept bytes, read while it was inside, are served for up to that long; a
    /// file outside the folder is never read. Ranges still go to the file. The CLI's
    /// `--memory-cache-valid`.
    ///
    /// Defaults to zero: every request checks the file, and a changed file is never served
    /// from memory.
    pub fn memory_cache_valid(mut self, valid: Duration) -> Self {
        let config = self.config_mut();
        config.renew_hot_files(|max_file, max_total, _| (max_file, max_total, valid));
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

    /// A file, below the served directory, answered (`200`, with its own type and validators)
    /// for a request whose path has nothing behind it: the single-page application pattern,
    /// where `/app/settings` is `index.html`'s business. Directories, and paths that exist, are
    /// answered as usual; so are paths that are refused (a
    /// [`translate_path`](StaticFiles::translate_path) policy, a path leading outside the
    /// directory): `404`. A missing fallback leaves the `404` too. It comes before
    /// [`fall_through_on_not_found`](StaticFiles::fall_through_on_not_found).
    ///
    /// `path` is a file-system path below the served directory (a leading `/` is ignored, a
    /// `..` refused).
    ///
    /// ```
    /// use basehttp::static_files::StaticFiles;
    ///
    /// let spa = StaticFiles::new("dist").fallback_file("index.html");
    /// # let _ = spa;
    /// ```
    ///
    /// Defaults to none.
    #[doc(alias = "send_head")]
    pub fn fallback_file(mut self, path: impl AsRef<Path>) -> Self {
        use std::path::Component;
        let mut relative = Vec::new();
        for component in path.as_ref().components() {
            match component {
                Component::Normal(name) => {
                    if !relative.is_empty() {
                        relative.push(b'/');
                    }
                    relative.extend_from_slice(name.as_encoded_bytes());
                }
                Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
                Component::ParentDir => {
                    tracing::warn!(
                        target: crate::log::TARGET,
                        "fallback_file {:?}: a file below the served directory is needed",
                        path.as_ref()
                    );
                    relative.clear();
                    break;
                }
            }
        }
        self.config_mut().fallback =
            (!relative.is_empty()).then(|| Translated::new(relative, false));
        self
    }

    /// Python 3.15's `extra_response_headers` (the CLI's `-H`): headers added to every file and
    /// listing response (not to redirects, `304`s or errors, as in Python). For headers on every
    /// response, override [`HttpRequestHandler::end_headers`](crate::handler::HttpRequestHandler::end_headers)
    /// in a handler above the files.
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
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture<S>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The inner service is only needed for what the files do not answer; it is driven to
        // readiness then, inside the response future.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (parts, body) = request.into_parts();
        let head = match parts.method {
            Method::GET => Some(false),
            Method::HEAD => Some(true),
            _ => None,
        };
        let base: Arc<dyn Base> = self.config.clone();
        let mut ex = Exchange::handed_down(parts, Body::new(body), None, base, Output::direct());
        let Some(head) = head else {
            // Python's 501, or the service below.
            return ResponseFuture::fall_through(Box::new(ex), self.inner.clone());
        };
        let config = &self.config;
        // Python's translate_path, once per request; then a hot file is answered without
        // leaving the runtime.
        let cached = crate::handler::guarded(&mut ex, |ex| {
            let translated = translate(ex, config);
            let external = external_target(ex.parts());
            let request = fs::Request {
                external: external.as_deref().unwrap_or(ex.path()),
                head,
                headers: ex.headers(),
            };
            let plan = match &translated {
                Translation::Done(Some(translated)) => fs::plan_cached(config, translated, request),
                _ => None,
            };
            match plan {
                Some(plan) => {
                    super::respond::respond(ex, config, plan);
                    None
                }
                None => Some((translated, external.map(Cow::into_owned))),
            }
        });
        match cached {
            Some(Some((translated, external))) => {
                let planned = Planned {
                    translated,
                    external,
                    head,
                };
                let config = config.clone();
                let may_fall_through = config.fall_through_on_not_found && self.inner.is_some();
                let ex = Box::new(ex);
                ResponseFuture::blocking(
                    move || super::respond::send_head(&config, ex, &planned, may_fall_through),
                    self.inner.clone(),
                )
            }
            // Answered (or a method overridden by a handler panicked: answered with a 500).
            _ => ResponseFuture::ready(ex.into_response()),
        }
    }
}

/// What the blocking trip needs besides the exchange.
pub(super) struct Planned {
    pub(super) translated: Translation,
    /// The target as the client sent it, when a router stripped a prefix.
    pub(super) external: Option<String>,
    pub(super) head: bool,
}

/// Python's `translate_path(self.path)`, as a path below the root.
pub(super) enum Translation {
    /// Translated: `None` when nothing may be served (a policy refused the path, or a handler's
    /// `translate_path` led outside the directory).
    Done(Option<Translated>),
    /// A handler's `translate_path` result, to be placed below the root once the root is open
    /// (its real path is known then).
    Later(PathBuf),
}

impl Translation {
    /// The path below the root, opening the root if needed (a blocking call).
    pub(super) fn resolve(&self, config: &Config) -> Option<Translated> {
        match self {
            Self::Done(translated) => translated.clone(),
            Self::Later(path) => {
                config.root.open().ok()?;
                below_root(config, path)
            }
        }
    }
}

fn translate(ex: &Exchange, config: &Config) -> Translation {
    if ex.has_class() {
        if let Some(path) = ex.translate_override(ex.path()) {
            return match below_root(config, &path) {
                Some(translated) => Translation::Done(Some(translated)),
                None if config.root.cached().is_none() => Translation::Later(path),
                None => Translation::Done(None),
            };
        }
    }
    // Python's translate_path, without building the path (the base's translate_path).
    let target = match &config.translate {
        Some(policy) => match policy(ex.path()) {
            Some(target) => Cow::Owned(target),
            None => return Translation::Done(None),
        },
        None => Cow::Borrowed(ex.path()),
    };
    Translation::Done(resolve::translate(&target, config.path_rules))
}

/// A `translate_path` result as a path below the root: `None` outside it, unless confinement
/// is off (`follow_symlinks`), as in Python, which serves whatever the method names.
fn below_root(config: &Config, path: &Path) -> Option<Translated> {
    match config.root.relative(path) {
        Some((relative, trailing_slash)) => Some(Translated::new(relative, trailing_slash)),
        None if config.follow_symlinks && path.is_absolute() => {
            let bytes = path.as_os_str().as_encoded_bytes();
            Some(Translated::new(bytes.to_vec(), bytes.ends_with(b"/")))
        }
        None => None,
    }
}

impl Config {
    /// Replaces the memory cache with an empty one whose settings (largest file, total, validity
    /// window) `settings` makes from the current ones: what a clone keeps is its own.
    fn renew_hot_files(
        &mut self,
        settings: impl FnOnce(usize, usize, Duration) -> (usize, usize, Duration),
    ) {
        let hot = &self.hot_files;
        let (max_file, max_total, valid) = settings(hot.max_file(), hot.max_total(), hot.valid());
        self.hot_files = Arc::new(HotFiles::new(max_file, max_total).with_valid(valid));
    }
}

impl Base for Config {
    fn attributes(&self) -> &Attributes {
        &self.class
    }

    fn translate_path(&self, path: &str) -> PathBuf {
        let target = match &self.translate {
            Some(policy) => match policy(path) {
                Some(target) => Cow::Owned(target),
                // Refused: a path that is not below the directory, so nothing is served.
                None => return PathBuf::new(),
            },
            None => Cow::Borrowed(path),
        };
        match resolve::translate(&target, self.path_rules) {
            Some(translated) => resolve::join(self.root.path(), &translated),
            // Refused by the platform's name rules: nothing is served.
            None => PathBuf::new(),
        }
    }

    fn guess_type(&self, path: &Path, relative: bool) -> HeaderValue {
        if let Some(guess) = &self.guess_type {
            // The builder's guess sees the path below the served directory.
            let below = match relative {
                true => None,
                false => self
                    .root
                    .relative(path)
                    .map(|(below, _)| PathBuf::from(crate::confined::os_str(&below))),
            };
            let below = below.as_deref().unwrap_or(path);
            if let Some(value) = guess(below).and_then(|mime| HeaderValue::try_from(mime).ok()) {
                return value;
            }
        }
        // Python's guess looks at the name only.
        super::mime::guess_type(&path.to_string_lossy(), &self.extensions_map)
    }

    fn list_directory(&self, ex: &mut Exchange, listing: &DirectoryListing) {
        let page = match &self.list_directory {
            Some(render) => render(listing),
            None => super::render_listing(listing),
        };
        super::respond::send_listing(ex, page, &self.extra_headers);
    }
}

/// The target as the client sent it, when a router stripped a prefix (axum's `nest_service`
/// keeps the original in `OriginalUri`).
#[cfg(feature = "axum")]
fn external_target(parts: &http::request::Parts) -> Option<Cow<'_, str>> {
    let original = parts.extensions.get::<axum::extract::OriginalUri>()?;
    let original = original.0.path_and_query()?.as_str();
    let current = parts.uri.path_and_query().map_or("", |pq| pq.as_str());
    (original != current).then(|| rules::collapse_slashes(original))
}

#[cfg(not(feature = "axum"))]
fn external_target(_parts: &http::request::Parts) -> Option<Cow<'_, str>> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_cache_settings_survive_one_another() {
        let files = StaticFiles::new(".")
            .memory_cache_valid(Duration::from_secs(5))
            .memory_cache(1000)
            .memory_cache_max_file(10)
            .follow_symlinks(true);
        let hot = &files.config().hot_files;
        assert_eq!(
            (hot.max_file(), hot.max_total(), hot.valid()),
            (10, 1000, Duration::from_secs(5))
        );
    }
}
