//! Python's `SimpleHTTPRequestHandler`: serving a directory, with CPython 3.14's pages,
//! redirects and validators, as a tower service or layer.
//!
//! [`StaticFiles`] is an [`HttpRequestHandler`] implementing `do_GET` and `do_HEAD` the way
//! Python's `SimpleHTTPRequestHandler` does: `translate_path`, the `301` to add a directory's
//! trailing slash, `index.html`/`index.htm`, Python's directory listing, `guess_type`,
//! `If-Modified-Since`, `404 File not found`. Like every handler it becomes a service
//! ([`into_service`](HttpRequestHandler::into_service): other methods get Python's `501`) or a
//! layer ([`into_layer`](HttpRequestHandler::into_layer): other methods go to the inner service).
//!
//! Beyond Python, as tower-http's `ServeDir` and nginx do: `Range` (single and
//! `multipart/byteranges`), `ETag` with `If-None-Match`/`If-Match`/`If-Unmodified-Since`/`If-Range`
//! in RFC 9110's order, optional precompressed `.br`/`.zst`/`.gz` siblings, and a symlink policy:
//! links that lead outside the served directory are refused unless
//! [`follow_symlinks`](StaticFiles::follow_symlinks) restores Python's behaviour. FIFOs, devices
//! and sockets are never opened for reading (`403`). Files are read on tokio's blocking pool: one
//! trip per request (small files are read in it), large files in 128 KiB reads with one read
//! ahead, in constant memory.
//!
//! # Example
//!
//! `python -m http.server 8000 --directory public`:
//!
//! ```no_run
//! use basehttp::prelude::*;
//! use basehttp::static_files::StaticFiles;
//!
//! # async fn run() -> std::io::Result<()> {
//! basehttp::server::run(("0.0.0.0", 8000), StaticFiles::new("public").into_service()).await
//! # }
//! ```
//!
//! Customised, like a Python subclass setting attributes, and under a handler of your own that
//! adds `do_POST` (Python: `class H(SimpleHTTPRequestHandler): def do_POST(self): …`):
//!
//! ```
//! use basehttp::prelude::*;
//! use basehttp::static_files::StaticFiles;
//! use tower::Layer;
//!
//! struct Upload;
//!
//! impl HttpRequestHandler for Upload {
//!     async fn do_post(&self, ex: &mut Exchange) -> HandlerResult {
//!         ex.send_response(204);
//!         ex.end_headers()?;
//!         Ok(())
//!     }
//! }
//!
//! let files = StaticFiles::new("public")
//!     .index_pages(["index.html", "default.htm"])
//!     .protocol_version(http::Version::HTTP_11)
//!     .precompressed_gzip()
//!     .precompressed_br();
//! let app = Upload.into_layer().layer(files.into_service());
//! # let _ = app;
//! ```

mod conditional;
mod file_body;
mod fs;
mod listing;
mod mime;
mod resolve;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::{HeaderValue, Version};

pub use self::listing::{DirectoryListing, ListingEntry, render_listing};
pub use self::mime::DEFAULT_EXTENSIONS_MAP;
pub use self::resolve::{directory_redirect, translate_path};

use self::fs::{FileContent, OwnedRequest, Plan, Request, Root};
use crate::Body;
use crate::handler::{Exchange, HandlerResult, HttpRequestHandler};

/// Python's `SimpleHTTPRequestHandler`: serves the files below a directory.
///
/// Build it with [`new`](StaticFiles::new) and the builder methods, then use it as a handler:
/// `.into_service()` or `.into_layer()`. Cloning is cheap.
///
/// See the [module docs](crate::static_files) for more details.
#[doc(alias = "SimpleHTTPRequestHandler")]
#[derive(Clone)]
pub struct StaticFiles {
    config: Arc<Config>,
}

type Translate = dyn Fn(&str) -> Option<String> + Send + Sync;
type GuessType = dyn Fn(&Path) -> Option<String> + Send + Sync;
type ListDirectory = dyn Fn(&DirectoryListing) -> String + Send + Sync;

#[derive(Clone)]
pub(crate) struct Config {
    root: Arc<Root>,
    index_pages: Vec<String>,
    extensions_map: HashMap<String, HeaderValue>,
    follow_symlinks: bool,
    precompressed: Vec<Encoding>,
    server_version: String,
    protocol_version: Version,
    extra_headers: Vec<(http::HeaderName, HeaderValue)>,
    translate: Option<Arc<Translate>>,
    guess_type: Option<Arc<GuessType>>,
    list_directory: Option<Arc<ListDirectory>>,
}

impl fmt::Debug for StaticFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("StaticFiles")
            .field("directory", &c.root.path())
            .field("index_pages", &c.index_pages)
            .field("follow_symlinks", &c.follow_symlinks)
            .field("precompressed", &c.precompressed)
            .field("protocol_version", &c.protocol_version)
            .finish_non_exhaustive()
    }
}

/// A content encoding of a precompressed sibling file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Br,
    Zstd,
    Gzip,
}

impl Encoding {
    pub(crate) fn token(self) -> &'static str {
        match self {
            Self::Br => "br",
            Self::Zstd => "zstd",
            Self::Gzip => "gzip",
        }
    }

    pub(crate) fn extension(self) -> &'static str {
        match self {
            Self::Br => ".br",
            Self::Zstd => ".zst",
            Self::Gzip => ".gz",
        }
    }
}

/// The enabled encodings the client accepts, best first (highest q; ties in the order br, zstd,
/// gzip). `identity` and anything with `q=0` are left out.
pub(crate) fn accepted_encodings(accept: &str, enabled: &[Encoding]) -> Vec<Encoding> {
    let mut star: Option<f32> = None;
    let mut explicit: Vec<(String, f32)> = Vec::new();
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let token = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        if token.is_empty() {
            continue;
        }
        let q = parts
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .or_else(|| p.trim().strip_prefix("Q="))
            })
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if token == "*" {
            star = Some(q);
        } else {
            explicit.push((token, q));
        }
    }
    let mut ranked: Vec<(Encoding, f32, usize)> = [Encoding::Br, Encoding::Zstd, Encoding::Gzip]
        .into_iter()
        .enumerate()
        .filter(|(_, e)| enabled.contains(e))
        .filter_map(|(order, e)| {
            let q = explicit
                .iter()
                .find(|(t, _)| t == e.token() || (e == Encoding::Gzip && t == "x-gzip"))
                .map(|(_, q)| *q)
                .or(star)?;
            (q > 0.0).then_some((e, q, order))
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    ranked.into_iter().map(|(e, _, _)| e).collect()
}

impl StaticFiles {
    /// Serves the files below `directory` (Python's `directory=`; the CLI's `-d`).
    ///
    /// The directory is opened on the first request (on the blocking pool) and kept open.
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        Self {
            config: Arc::new(Config {
                root: Arc::new(Root::new(directory.into())),
                index_pages: vec!["index.html".to_owned(), "index.htm".to_owned()],
                extensions_map: DEFAULT_EXTENSIONS_MAP
                    .iter()
                    .map(|(e, t)| ((*e).to_owned(), HeaderValue::from_static(t)))
                    .collect(),
                follow_symlinks: false,
                precompressed: Vec::new(),
                server_version: "SimpleHTTP/0.6".to_owned(),
                protocol_version: Version::HTTP_10,
                extra_headers: Vec::new(),
                translate: None,
                guess_type: None,
                list_directory: None,
            }),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        // A clone made earlier keeps its own settings.
        Arc::make_mut(&mut self.config)
    }

    /// The directory being served.
    pub fn directory(&self) -> &Path {
        self.config.root.path()
    }

    /// Python's `index_pages`: the names tried, in order, when a directory is requested.
    ///
    /// Defaults to `["index.html", "index.htm"]`.
    pub fn index_pages<I, S>(mut self, pages: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
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
    /// wrapping [`render_listing`]).
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

    /// Python's `server_version`.
    ///
    /// Defaults to `"SimpleHTTP/0.6"`.
    pub fn server_version(mut self, version: impl Into<String>) -> Self {
        self.config_mut().server_version = version.into();
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

    /// `do_GET` and `do_HEAD`.
    async fn serve(&self, ex: &mut Exchange, head: bool) -> HandlerResult {
        // A hot file is answered without leaving the runtime; everything else takes one trip
        // to the blocking pool.
        let request = Request {
            target: ex.path(),
            head,
            headers: ex.headers(),
        };
        if let Some(plan) = fs::plan_cached(&self.config, request) {
            return respond(&self.config, ex, plan);
        }
        let request = OwnedRequest {
            target: ex.path().to_owned(),
            head,
            headers: conditional_headers(ex.headers()),
        };
        let config = self.config.clone();
        let planned = tokio::task::spawn_blocking(move || fs::plan(&config, request.view())).await;
        let plan = match planned {
            Ok(plan) => plan,
            Err(err) => return Err(err.into()),
        };
        respond(&self.config, ex, plan)
    }
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

/// Sends what the planner decided, Python's way (`send_response`, `send_header`, `end_headers`).
fn respond(config: &Config, ex: &mut Exchange, plan: Plan) -> HandlerResult {
    match plan {
        Plan::Redirect(location) => {
            ex.send_response(301);
            ex.send_header("Location", location);
            ex.send_header("Content-Length", "0");
            ex.end_headers()?;
        }
        Plan::NotFound => ex.send_error_with(404, "File not found", None),
        Plan::ListingDenied => ex.send_error_with(404, "No permission to list directory", None),
        Plan::Forbidden => ex.send_error(403),
        Plan::PreconditionFailed => ex.send_error(412),
        Plan::RangeNotSatisfiable { size } => {
            ex.send_error_with_header(416, "Content-Range", &format!("bytes */{size}"));
        }
        Plan::NotModified { etag, vary } => {
            ex.send_response(304);
            ex.send_header("ETag", etag);
            if vary {
                ex.send_header("Vary", "Accept-Encoding");
            }
            ex.end_headers()?;
        }
        Plan::Listing(page) => {
            ex.send_response(200);
            ex.send_header("Content-type", "text/html; charset=utf-8");
            ex.send_header("Content-Length", page.len());
            extra_headers(config, ex);
            ex.end_headers()?;
            ex.send_body(Body::from(page));
        }
        Plan::File(file) => {
            use http::header;
            match &file.ranges {
                Some(_) => ex.send_response(206),
                None => ex.send_response(200),
            }
            match &file.boundary {
                Some(boundary) => ex.send_header(
                    "Content-type",
                    format_args!("multipart/byteranges; boundary={boundary}"),
                ),
                None => ex.send_header_value(header::CONTENT_TYPE, file.content_type),
            }
            ex.send_header_value(
                header::CONTENT_LENGTH,
                HeaderValue::from(file.content_length),
            );
            ex.send_header_value(
                header::LAST_MODIFIED,
                crate::log::http_date_header(file.validators.last_modified()),
            );
            if let Ok(etag) =
                HeaderValue::from_maybe_shared(bytes::Bytes::from(file.validators.etag))
            {
                ex.send_header_value(header::ETAG, etag);
            }
            ex.send_header_value(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            if let (Some(ranges), None) = (&file.ranges, &file.boundary) {
                if let Some(range) = ranges.first() {
                    ex.send_header(
                        "Content-Range",
                        format_args!("bytes {}-{}/{}", range.start, range.end, file.size),
                    );
                }
            }
            if let Some(encoding) = file.encoding {
                ex.send_header_value(
                    header::CONTENT_ENCODING,
                    HeaderValue::from_static(encoding.token()),
                );
            }
            if file.vary {
                ex.send_header_value(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            }
            extra_headers(config, ex);
            ex.end_headers()?;
            match file.body {
                FileContent::None => {}
                FileContent::Bytes(bytes) => ex.send_body(Body::from(bytes)),
                FileContent::Stream(stream) => ex.send_body(Body::new(stream)),
            }
        }
    }
    Ok(())
}

fn extra_headers(config: &Config, ex: &mut Exchange) {
    for (name, value) in &config.extra_headers {
        ex.send_header_value(name.clone(), value.clone());
    }
}

impl HttpRequestHandler for StaticFiles {
    fn server_version(&self) -> &str {
        &self.config.server_version
    }

    fn protocol_version(&self) -> Version {
        self.config.protocol_version
    }

    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        self.serve(ex, false).await
    }

    async fn do_head(&self, ex: &mut Exchange) -> HandlerResult {
        self.serve(ex, true).await
    }
}
