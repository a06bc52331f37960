//! Python's `SimpleHTTPRequestHandler`: serving a directory with CPython 3.14's pages,
//! redirects and log lines, as a tower service or layer.
//!
//! [`StaticFiles`] answers `GET` and `HEAD` the way Python's `SimpleHTTPRequestHandler` does:
//! `translate_path`, the `301` that adds a directory's trailing slash, `index.html`/`index.htm`,
//! Python's directory listing, `guess_type`, `If-Modified-Since`, `404 File not found`, the
//! `SimpleHTTP/0.6` server header and Python's log lines. Used as a service, other methods get
//! Python's `501 Unsupported method ('POST')`; used as a layer ([`StaticFilesLayer`]), they go
//! to the inner service. Under a [handler](crate::handler) it is what `super().do_GET()` reaches:
//! a handler's [`fall_through`](crate::handler::Exchange::fall_through) lands here.
//!
//! Beyond Python, as tower-http's `ServeDir` and nginx do:
//!
//! - `Range` requests, single and `multipart/byteranges`, with `If-Range`; abusive range sets
//!   are coalesced or answered with the whole file;
//! - an `ETag` (`"<mtime in ns, hex>-<size, hex>"`) with `If-None-Match`, `If-Match` and
//!   `If-Unmodified-Since` in RFC 9110's order — a client that only sends Python's
//!   `If-Modified-Since` sees Python's behaviour;
//! - optional precompressed `.br`/`.zst`/`.gz` siblings, chosen by `Accept-Encoding`;
//! - a symlink policy: links that lead outside the served directory are refused unless
//!   [`follow_symlinks`](StaticFiles::follow_symlinks) restores Python's behaviour;
//! - FIFOs, devices and sockets are never opened in a way that can block (`403`).
//!
//! Files are read off the async runtime: a small file whose data is in the page cache is
//! answered without leaving it (`RESOLVE_CACHED`/`RWF_NOWAIT` on Linux); anything else takes one
//! trip to tokio's blocking pool per request; large files stream in reads of 64 KiB, growing to
//! 512 KiB while the client keeps up (each read on the spot when cached, else on the blocking
//! pool), in constant memory: a client that does not read holds one 64 KiB read of the server's
//! memory. Served by an
//! [`HttpServer`](crate::server::HttpServer) with
//! [`sendfile(true)`](crate::server::HttpServer::sendfile) (off by default), the cached parts of
//! a file go to a cleartext HTTP/1 socket with `sendfile` instead (Linux), never through the
//! server's memory.
//!
//! Small files are kept in memory once served (Linux, local file systems; up to 256 KiB each, 16
//! MiB in all: [`memory_cache`](StaticFiles::memory_cache)). A request for one is checked with an
//! `O_PATH` lookup of the path (`RESOLVE_CACHED`, and `RESOLVE_BENEATH` unless links may lead out)
//! and an `fstat`, and the bytes are served only while that reports the file unchanged — same
//! device, inode, size, and modification and change times to the nanosecond — so an edited,
//! replaced or removed file is never served from memory. A file found unchanged is then watched
//! with inotify, with the folders on its path and the mount table, and the next requests cost one
//! `epoll_wait` instead of the check until a change is notified; the kernel queues the notification
//! before the changing call returns, so the rule stays the same (paths through symbolic links and
//! overlayfs are not watched, and keep the check). A file changed less than a second ago (three
//! seconds on file systems with whole-second times) is not kept, nor are files on NFS, SMB or FUSE,
//! whose attributes the kernel may answer from its own cache. Not seen: a process writing through a
//! shared `mmap` of the file (the kernel updates its times again only after writeback), and a
//! `write` that stalls for a second in the middle of its copy; both leave older bytes served until
//! the file changes again. `memory_cache(0)` turns this off.
//! [`memory_cache_valid`](StaticFiles::memory_cache_valid) (off by default) trades freshness for
//! speed as lighttpd does: a kept file found unchanged is then served for that long without the
//! lookup and the `fstat`, so a change is seen up to that long late.
//!
//! Directory listings use the same cache (Linux, local file systems): the sorted entries of a
//! directory are kept once it has been listed, and the next listings render them again without
//! reading and sorting the directory, as long as the `fstat` of the opened directory, made for
//! every listing, reports the same device, inode, size, and modification and change times
//! (creating, removing, renaming or exchanging a name in it sets them). The page is rendered
//! for every request, through the handler's `list_directory`. Listings with a symbolic link in
//! them are read every time (whether a link shows as a folder follows its target, which can
//! change without the directory changing), and so are directories changed less than a second
//! before the read (three seconds with whole-second times) and listings that would cost more
//! than [`memory_cache_max_file`](StaticFiles::memory_cache_max_file) (about 4,000 names by
//! default). `memory_cache_valid` does not apply to listings.
//!
//! # Example
//!
//! `python -m http.server 8000 --directory public`:
//!
//! ```no_run
//! use basehttp::static_files::StaticFiles;
//!
//! # async fn run() -> std::io::Result<()> {
//! basehttp::server::run(("0.0.0.0", 8000), StaticFiles::new("public")).await
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
//! // POST reaches `Upload`; GET and HEAD fall through to the files.
//! let app = Upload.into_layer().layer(files);
//! # let _ = app;
//! ```
//!
//! # Python's overridable methods
//!
//! Every response goes through an [`Exchange`](crate::handler::Exchange), so a handler layered
//! over the files overrides them as a Python subclass of `SimpleHTTPRequestHandler` does:
//! [`end_headers`](crate::handler::HttpRequestHandler::end_headers) (every file, listing,
//! redirect, `304` and error page), [`send_error`](crate::handler::HttpRequestHandler::send_error),
//! the `log_*` methods, [`translate_path`](crate::handler::HttpRequestHandler::translate_path)
//! (once per request), [`guess_type`](crate::handler::HttpRequestHandler::guess_type),
//! [`list_directory`](crate::handler::HttpRequestHandler::list_directory), and the class
//! attributes. Without a handler, the class attributes are builder methods
//! ([`server_version`](StaticFiles::server_version),
//! [`error_message_format`](StaticFiles::error_message_format), …) and the file methods take
//! closures ([`guess_type`](StaticFiles::guess_type), …). A single-page application's
//! `index.html` for unknown paths is [`fallback_file`](StaticFiles::fallback_file):
//!
//! ```
//! use basehttp::static_files::StaticFiles;
//!
//! let spa = StaticFiles::new("dist")
//!     .fallback_file("index.html")
//!     .error_message_format("<h1>%(code)d</h1><p>%(message)s</p>");
//! # let _ = spa;
//! ```
//!
//! The other order, files in front of an application (axum, a handler, anything): `GET` and
//! `HEAD` are files, everything else — and, if asked, paths with no file — goes below:
//!
//! ```
//! use basehttp::static_files::StaticFiles;
//! use axum::{Router, routing::post};
//! use tower::Layer;
//!
//! # async fn run() -> std::io::Result<()> {
//! let api: Router = Router::new().route("/api/items", post(|| async { "created" }));
//! let app = StaticFiles::new("public")
//!     .fall_through_on_not_found(true)
//!     .into_layer()
//!     .layer(api);
//! basehttp::server::run(("127.0.0.1", 8000), app).await
//! # }
//! ```

mod conditional;
mod file_body;
mod fs;
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod hot;
mod layer;
mod listing;
mod mime;
pub(crate) mod names;
pub(crate) mod resolve;
mod respond;
mod service;
mod shared_page;
mod table;
#[cfg(target_os = "linux")]
mod watch;

pub use self::layer::StaticFilesLayer;

/// [`StaticFiles::memory_cache`]'s default: 16 MiB of small, hot files kept in memory.
pub const DEFAULT_MEMORY_CACHE: usize = 16 * 1024 * 1024;
pub use self::listing::{DirectoryListing, ListingEntry, render_listing};
pub use self::mime::DEFAULT_EXTENSIONS_MAP;
pub use self::names::PathRules;
pub use self::resolve::{directory_redirect, translate_path};
// rustdoc keeps a `doc(alias)` of a re-exported item only when it sits on the `pub use`.
#[doc(alias = "SimpleHTTPRequestHandler")]
pub use self::service::StaticFiles;
pub use crate::handler::ResponseFuture;

pub(crate) use self::file_body::FileBody;
#[cfg(all(test, target_os = "linux"))]
pub(crate) use self::file_body::Segment;
#[cfg(upload)]
pub(crate) use self::listing::{ListingLink, attribute_escape};
pub(crate) use self::respond::send_listing;
pub(crate) use self::service::Config;

/// `SimpleHTTPRequestHandler.guess_type` with the default `extensions_map`.
pub(crate) fn default_guess_type(path: &std::path::Path) -> http::HeaderValue {
    static MAP: std::sync::OnceLock<table::Table<String, http::HeaderValue>> =
        std::sync::OnceLock::new();
    let map = MAP.get_or_init(|| {
        DEFAULT_EXTENSIONS_MAP
            .iter()
            .map(|(ext, mime)| ((*ext).to_owned(), http::HeaderValue::from_static(mime)))
            .collect()
    });
    mime::guess_type(&path.to_string_lossy(), map)
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
    let (explicit, star) = crate::util::accept_encoding_weights(accept);
    let mut ranked: Vec<(Encoding, f32, usize)> = [Encoding::Br, Encoding::Zstd, Encoding::Gzip]
        .into_iter()
        .enumerate()
        .filter(|(_, e)| enabled.contains(e))
        .filter_map(|(order, e)| {
            let q = explicit
                .iter()
                .find(|(t, _)| {
                    t.eq_ignore_ascii_case(e.token())
                        || (e == Encoding::Gzip && t.eq_ignore_ascii_case("x-gzip"))
                })
                .map(|(_, q)| *q)
                .or(star)?;
            (q > 0.0).then_some((e, q, order))
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    ranked.into_iter().map(|(e, _, _)| e).collect()
}
