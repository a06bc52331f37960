//! Uploads into the served folder, with `uploadserver`'s contract: an upload page, multipart
//! `POST /upload` of several files at once, and `PUT /path` for one file.
//!
//! `python -m http.server` takes no uploads; the `uploadserver` package adds them, and its users'
//! scripts expect its contract, which [`Upload`] keeps:
//!
//! - `GET /upload`: a page with a form (field `files`, several files), linked from every
//!   listing;
//! - `POST /upload` (or `PUT /upload`) with `multipart/form-data`, one or more `files` parts:
//!   `204 Files accepted`; a name that exists gets a number (`a (1).txt`) and the reason
//!   becomes `Some filename(s) changed due to name conflict`, unless
//!   [`overwrite`](Upload::overwrite) replaces it; `400 Field "files" not found` and
//!   `400 No files selected` as `uploadserver` says them;
//! - `PUT /dir/name` with the file as the body (`curl -T`): `201 Created`, or `204` when it
//!   replaced a file ([`overwrite`](Upload::overwrite)); `409` when the name exists or its
//!   folder does not.
//!
//! What it does beyond `uploadserver`:
//!
//! - **constant memory**: parts stream to disk as they arrive (a 10 GiB upload never grows the
//!   server), the parser holds about one chunk, and a part's headers are limited
//!   ([`max_part_headers`](Upload::max_part_headers));
//! - **nothing half-written under its name**: a file is written beside its target — on Linux
//!   without any name (`O_TMPFILE`), elsewhere (or on file systems without it) under a hidden
//!   `.basehttp-upload-….part` name with a random part, which uploads may not use — and linked
//!   into place whole; a failed upload leaves nothing; two uploads of one name never mix (the
//!   file system picks the winner). Files are not `fsync`ed (as `uploadserver` and nginx's
//!   `dav`: a power cut may lose the latest uploads);
//! - **names are confined**: a part's `filename` keeps its last component only (`../../x`,
//!   `/etc/x` and `C:\x` are `x`); empty names, `.`/`..`, NUL and control characters, names
//!   over 255 bytes, Windows' device and stream names and (unless
//!   [`allow_hidden`](Upload::allow_hidden)) hidden names are refused; `PUT` paths are
//!   translated like the file server's and opened beneath the folder, symlinks leading out
//!   refused unless [`follow_symlinks`](Upload::follow_symlinks);
//! - **limits, refused before the body is read** where they do not depend on it: the
//!   authentication ([`basic_auth`](Upload::basic_auth)), the declared size
//!   ([`max_size`](Upload::max_size), `413`), the target (`409`) — also when the client waits
//!   for `100 Continue`, which it then never gets; a chunked body past the limit is cut off
//!   with `413`, a full disk answers `507 Insufficient Storage`; both remove the partial file;
//!   a body that stalls for [`timeout`](Upload::timeout) answers `408`; a multipart boundary
//!   over 70 characters (RFC 2046's limit) is refused with `400`.
//!
//! Uploads need a Unix system (`O_TMPFILE`, `openat`, `linkat`).
//!
//! # Example
//!
//! ```no_run
//! use basehttp::prelude::*;
//! use basehttp::server::{HttpServer, shutdown_signal};
//! use basehttp::static_files::StaticFiles;
//! use basehttp::upload::Upload;
//! use tower::Layer;
//!
//! # async fn run() -> std::io::Result<()> {
//! // uploadserver 8000 -d /srv/share
//! let files = StaticFiles::new("/srv/share");
//! let app = Upload::new("/srv/share").into_layer().layer(files);
//! HttpServer::bind(("0.0.0.0", 8000), app).await?.serve_until(shutdown_signal()).await
//! # }
//! ```
//!
//! Customised: a password for uploads only, replacing files, at most 1 GiB per request.
//!
//! ```
//! use basehttp::basic_auth::Credentials;
//! use basehttp::upload::Upload;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let upload = Upload::new("/srv/share")
//!     .basic_auth(Credentials::parse("team:upload-only")?)
//!     .overwrite(true)
//!     .max_size(1 << 30);
//! # let _ = upload;
//! # Ok(())
//! # }
//! ```
//!
//! # In an axum application
//!
//! ```
//! use basehttp::prelude::*;
//! use basehttp::static_files::StaticFiles;
//! use basehttp::upload::Upload;
//! use tower::Layer;
//!
//! let share = Upload::new("share").into_layer().layer(StaticFiles::new("share"));
//! let app: axum::Router = axum::Router::new()
//!     .route("/health", axum::routing::get(|| async { "ok" }))
//!     // `/upload`, `PUT /…` and the files themselves.
//!     .fallback_service(share);
//! ```

mod multipart;
mod name;
mod page;
mod store;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, header};
use tokio::io::AsyncWriteExt;

use self::multipart::{Chunks, Counts, HeadersTooLong};
use self::store::{Existing, Folder, Staged};
use crate::Body;
use crate::confined::Root;
use crate::handler::{Exchange, HandlerResult, HttpRequestHandler};
use crate::static_files::{DirectoryListing, PathRules};

/// The default of [`Upload::max_size`]: 32 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 32 << 30;

/// Uploads into a folder, as a handler over the file server; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct Upload {
    root: Arc<Root>,
    page_path: String,
    overwrite: bool,
    max_size: u64,
    max_files: usize,
    max_parts: usize,
    max_part_headers: u64,
    allow_hidden: bool,
    put: bool,
    follow_symlinks: bool,
    rules: PathRules,
    listing_link: bool,
    timeout: Option<std::time::Duration>,
    protocol: http::Version,
    #[cfg(feature = "basic_auth")]
    auth: Option<crate::basic_auth::BasicAuth>,
}

impl Upload {
    /// Uploads into `directory` (normally the folder the [`StaticFiles`] below serves).
    ///
    /// [`StaticFiles`]: crate::static_files::StaticFiles
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        Self {
            root: Arc::new(Root::new(directory.into())),
            page_path: "/upload".to_owned(),
            overwrite: false,
            max_size: DEFAULT_MAX_SIZE,
            max_files: 1000,
            max_parts: 1000,
            max_part_headers: 16 * 1024,
            allow_hidden: false,
            put: true,
            follow_symlinks: false,
            rules: PathRules::default(),
            listing_link: true,
            timeout: Some(crate::handler::DEFAULT_BODY_TIMEOUT),
            protocol: http::Version::HTTP_10,
            #[cfg(feature = "basic_auth")]
            auth: None,
        }
    }

    /// The path of the upload page and of multipart uploads. Defaults to `/upload`.
    pub fn page_path(mut self, path: impl Into<String>) -> Self {
        self.page_path = path.into();
        self
    }

    /// Whether an upload replaces a file of the same name (`uploadserver --allow-replace`).
    /// Defaults to `false`: multipart uploads get a numbered name, `PUT` answers `409`. A folder
    /// is never replaced.
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// The most bytes one request may carry: a larger declared `Content-Length` is refused with
    /// `413` before the body is read, and a chunked body is cut off there. Defaults to
    /// [`DEFAULT_MAX_SIZE`] (32 GiB).
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = bytes;
        self
    }

    /// The most files one multipart request may store (`413` past it; the ones before are
    /// kept). Defaults to 1,000.
    pub fn max_files(mut self, files: usize) -> Self {
        self.max_files = files;
        self
    }

    /// The most parts (files and other fields) one multipart request may have (`413` past it).
    /// Defaults to 1,000.
    pub fn max_parts(mut self, parts: usize) -> Self {
        self.max_parts = parts;
        self
    }

    /// The most bytes a part's headers may take (`400` past it). Defaults to 16 KiB.
    pub fn max_part_headers(mut self, bytes: u64) -> Self {
        self.max_part_headers = bytes;
        self
    }

    /// Whether names starting with `.` are accepted. Defaults to `false`.
    pub fn allow_hidden(mut self, allow: bool) -> Self {
        self.allow_hidden = allow;
        self
    }

    /// Whether `PUT /path` stores a file. Defaults to `true`.
    pub fn put(mut self, enable: bool) -> Self {
        self.put = enable;
        self
    }

    /// Whether `PUT` may store through symbolic links leading outside the folder. Defaults to
    /// `false`, as [`StaticFiles::follow_symlinks`](crate::static_files::StaticFiles).
    pub fn follow_symlinks(mut self, follow: bool) -> Self {
        self.follow_symlinks = follow;
        self
    }

    /// The file-name rules `PUT` paths are translated with. Defaults to the platform's, as
    /// [`StaticFiles::path_rules`](crate::static_files::StaticFiles::path_rules).
    pub fn path_rules(mut self, rules: PathRules) -> Self {
        self.rules = rules;
        self
    }

    /// Whether directory listings below link to the upload page. Defaults to `true`.
    pub fn link_from_listings(mut self, link: bool) -> Self {
        self.listing_link = link;
        self
    }

    /// Python's `protocol_version` for the answers of this layer and the services below it
    /// (keep-alive and `100 Continue` need HTTP/1.1). Defaults to HTTP/1.0, as Python's.
    pub fn protocol_version(mut self, version: http::Version) -> Self {
        self.protocol = version;
        self
    }

    /// How long a read of an upload's body waits for the client's next bytes before the upload
    /// is dropped with `408` (Python's `timeout`; `None`: forever). Defaults to 60 seconds.
    pub fn timeout(mut self, timeout: Option<std::time::Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Requires these credentials for the page and for uploads
    /// (`uploadserver --basic-auth-upload`); other requests are not asked. Defaults to none.
    #[cfg(feature = "basic_auth")]
    #[cfg_attr(docsrs, doc(cfg(feature = "basic_auth")))]
    pub fn basic_auth(mut self, credentials: crate::basic_auth::Credentials) -> Self {
        self.auth = Some(crate::basic_auth::BasicAuth::new(credentials).realm("upload"));
        self
    }

    fn is_page(&self, ex: &Exchange) -> bool {
        ex.path_without_query() == self.page_path
    }

    /// What a request is to this layer, checked as far as it can be without its body; `None`
    /// once a refusal has been sent.
    async fn plan(&self, ex: &mut Exchange) -> Option<Plan> {
        if let Some(Prepared(plan)) = ex.extensions_mut().remove::<Prepared>() {
            return Some(plan);
        }
        let method = ex.method().clone();
        let page = self.is_page(ex);
        let multipart = ex.header("content-type").is_some_and(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
        let plan = match method {
            Method::GET | Method::HEAD if page => Plan::Page,
            Method::POST if page => Plan::Multipart,
            Method::PUT if page && multipart => Plan::Multipart,
            Method::PUT if self.put && !page => Plan::Put,
            _ => return Some(Plan::Pass),
        };
        #[cfg(feature = "basic_auth")]
        if let Some(auth) = &self.auth {
            if !auth.is_authorized(ex) {
                auth.refuse(ex);
                return None;
            }
        }
        if matches!(plan, Plan::Page) {
            return Some(plan);
        }
        let framed = ex.content_length().is_some()
            || ex.version() >= http::Version::HTTP_2
            || ex.headers().contains_key(header::TRANSFER_ENCODING);
        if !framed {
            ex.send_error(411);
            return None;
        }
        if ex
            .content_length()
            .is_some_and(|length| length > self.max_size)
        {
            ex.send_error(413);
            return None;
        }
        match plan {
            Plan::Multipart => {
                let boundary = ex
                    .header("content-type")
                    .and_then(|t| multer::parse_boundary(t.as_ref()).ok());
                match boundary {
                    // RFC 2046: at most 70 characters (a longer one costs the parser its
                    // length in work per byte received).
                    Some(boundary) if boundary.len() > 70 => {
                        ex.send_error_with(400, "Multipart boundary too long", None);
                        None
                    }
                    Some(boundary) => Some(Plan::MultipartWith(boundary)),
                    None => {
                        ex.send_error_with(400, "Multipart boundary not found", None);
                        None
                    }
                }
            }
            Plan::Put => self.plan_put(ex).await,
            plan => Some(plan),
        }
    }

    /// Where a `PUT` goes: its folder opened beneath the root, its name checked.
    async fn plan_put(&self, ex: &mut Exchange) -> Option<Plan> {
        let refused = |ex: &mut Exchange, code: u16, message: &str| {
            ex.send_error_with(code, message, None);
            None
        };
        let Some(target) = crate::static_files::resolve::translate(ex.path(), self.rules) else {
            return refused(ex, 404, "File not found");
        };
        let relative = target.relative().to_vec();
        if target.trailing_slash || relative == b"." {
            return refused(ex, 405, "Cannot PUT a folder");
        }
        let (parent, name) = match relative.iter().rposition(|&b| b == b'/') {
            Some(at) => (relative[..at].to_vec(), &relative[at + 1..]),
            None => (b".".to_vec(), &relative[..]),
        };
        let Ok(name) = std::str::from_utf8(name) else {
            return refused(ex, 400, "File name is not UTF-8");
        };
        for component in parent.split(|&b| b == b'/').chain([name.as_bytes()]) {
            let component = String::from_utf8_lossy(component);
            if component == "." && parent == b"." {
                continue;
            }
            if let Err(refusal) = name::check(&component, self.allow_hidden, self.rules) {
                return refused(ex, 403, refusal.message());
            }
        }
        let name = name.to_owned();
        let root = self.root.clone();
        let follow = self.follow_symlinks;
        let name_for_check = name.clone();
        let opened = tokio::task::spawn_blocking(move || -> io::Result<_> {
            let folder = open_folder(&root, &parent, follow)?;
            let kind = folder.kind_of(&name_for_check)?;
            Ok((folder, kind))
        })
        .await;
        match opened {
            Ok(Ok((folder, kind))) => {
                if kind.is_some_and(|kind| kind.is_dir()) {
                    return refused(ex, 409, "A folder has that name");
                }
                if kind.is_some() && !self.overwrite {
                    return refused(ex, 409, "File exists");
                }
                Some(Plan::PutInto { folder, name })
            }
            Ok(Err(err))
                if matches!(
                    err.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                refused(ex, 409, "The folder does not exist")
            }
            Ok(Err(err)) if err.kind() == io::ErrorKind::PermissionDenied => {
                refused(ex, 403, "Permission denied")
            }
            Ok(Err(err)) => {
                ex.log_error(format_args!("upload: cannot open the folder: {err}"));
                refused(ex, 404, "File not found")
            }
            Err(_) => refused(ex, 500, "Internal Server Error"),
        }
    }

    /// Runs a request: the page, an upload, or the service below.
    async fn serve(&self, ex: &mut Exchange) -> HandlerResult {
        match self.plan(ex).await {
            None => Ok(()),
            Some(Plan::Pass) => ex.fall_through(),
            Some(Plan::Page) => {
                let page = page::upload_page(&self.page_path);
                ex.send_response(200);
                ex.send_header("Content-Type", "text/html; charset=utf-8");
                ex.send_header("Content-Length", page.len());
                ex.end_headers()?;
                if ex.method() != Method::HEAD {
                    ex.send_body(Body::from(page));
                }
                Ok(())
            }
            Some(Plan::MultipartWith(boundary)) => {
                self.receive_multipart(ex, boundary).await;
                Ok(())
            }
            Some(Plan::PutInto { folder, name }) => {
                self.receive_put(ex, folder, &name).await;
                Ok(())
            }
            Some(Plan::Multipart | Plan::Put) => ex.fall_through(),
        }
    }

    async fn receive_multipart(&self, ex: &mut Exchange, boundary: String) {
        let root = self.root.clone();
        let folder = match tokio::task::spawn_blocking(move || open_folder(&root, b".", true)).await
        {
            Ok(Ok(folder)) => folder,
            Ok(Err(err)) => {
                ex.log_error(format_args!("upload: cannot open the folder: {err}"));
                ex.send_error(500);
                return;
            }
            Err(_) => {
                ex.send_error(500);
                return;
            }
        };
        let counts = Arc::new(Counts::default());
        let constraints = multer::Constraints::new()
            .size_limit(multer::SizeLimit::new().whole_stream(self.max_size));
        let mut outcome = Outcome::default();
        {
            let chunks = Chunks::new(ex.rfile(), counts.clone(), self.max_part_headers);
            let mut parts = multer::Multipart::with_constraints(chunks, boundary, constraints);
            let mut count = 0;
            // The next number to try per name (many parts of one name cost one try each).
            let mut numbers = std::collections::HashMap::new();
            loop {
                let mut field = match parts.next_field().await {
                    Ok(Some(field)) => field,
                    Ok(None) => break,
                    Err(err) => {
                        outcome.failure = Some(multipart_failure(&err));
                        break;
                    }
                };
                counts.next_part();
                count += 1;
                if count > self.max_parts {
                    outcome.failure = Some((413, "Too many parts".to_owned()));
                    break;
                }
                let is_files = field.name() == Some("files");
                outcome.saw_files |= is_files;
                let raw = field.file_name().unwrap_or_default().to_owned();
                if !is_files || raw.is_empty() {
                    // Not a file (or no file chosen): read past it.
                    if let Err(err) = drain(&mut field, &counts).await {
                        outcome.failure = Some(multipart_failure(&err));
                        break;
                    }
                    continue;
                }
                let name = match name::client_file_name(&raw, self.allow_hidden, self.rules) {
                    Ok(name) => name.to_owned(),
                    Err(refusal) => {
                        outcome.failure = Some((400, refusal.message().to_owned()));
                        break;
                    }
                };
                if outcome.saved.len() >= self.max_files {
                    outcome.failure = Some((413, "Too many files".to_owned()));
                    break;
                }
                let staged = match stage(&folder).await {
                    Ok(staged) => staged,
                    Err(err) => {
                        outcome.failure = Some(write_failure(&err, &mut outcome.errors));
                        break;
                    }
                };
                let chunks = Source::Part(FieldChunks {
                    field: &mut field,
                    counts: &counts,
                });
                let from = numbers.get(&name).copied().unwrap_or(1);
                match write_and_place(staged, chunks, name.clone(), self.overwrite, Some(from))
                    .await
                {
                    Ok(placed) => {
                        outcome.renamed |= placed.renamed;
                        if placed.renamed {
                            numbers.insert(name, placed.next_number);
                        }
                        // Only what the log line shows is kept: the folders a client puts in
                        // front of its names do not add up over a thousand parts.
                        outcome.saved.push((log_cut(&raw).to_owned(), placed.name));
                    }
                    Err(Failed::Read(err)) => {
                        outcome.failure = Some(read_failure(&err));
                        break;
                    }
                    Err(Failed::Write(err)) => {
                        outcome.failure = Some(write_failure(&err, &mut outcome.errors));
                        break;
                    }
                    Err(Failed::Exists) => {
                        outcome.failure = Some((409, "File exists".to_owned()));
                        break;
                    }
                }
            }
        }
        self.log_saved(ex, &outcome.saved);
        for error in &outcome.errors {
            ex.log_error(format_args!("upload: {error}"));
        }
        if ex.rfile_timed_out() {
            ex.send_error(408);
            return;
        }
        if let Some((code, message)) = outcome.failure {
            ex.send_error_with(code, &message, None);
            return;
        }
        if outcome.saved.is_empty() {
            let message = if outcome.saw_files {
                "No files selected"
            } else {
                "Field \"files\" not found"
            };
            ex.send_error_with(400, message, None);
            return;
        }
        let message = if outcome.renamed {
            "Some filename(s) changed due to name conflict"
        } else {
            "Files accepted"
        };
        ex.send_response_with(204, message);
        let _ = ex.end_headers();
    }

    async fn receive_put(&self, ex: &mut Exchange, folder: Arc<Folder>, name: &str) {
        let staged = match stage(&folder).await {
            Ok(staged) => staged,
            Err(err) => {
                let mut errors = Vec::new();
                let (code, message) = write_failure(&err, &mut errors);
                for error in &errors {
                    ex.log_error(format_args!("upload: {error}"));
                }
                ex.send_error_with(code, &message, None);
                return;
            }
        };
        let body = Source::Body(BodyChunks {
            reader: ex.rfile(),
            left: self.max_size,
        });
        let result = write_and_place(staged, body, name.to_owned(), self.overwrite, None).await;
        match result {
            Ok(placed) => {
                self.log_saved(ex, &[(name.to_owned(), placed.name)]);
                if placed.replaced {
                    ex.send_response(204);
                } else {
                    ex.send_response(201);
                    ex.send_header("Content-Length", 0);
                }
                let _ = ex.end_headers();
            }
            Err(Failed::Exists) => ex.send_error_with(409, "File exists", None),
            Err(Failed::Read(err)) => {
                let (code, message) = read_failure(&err);
                ex.send_error_with(code, &message, None);
            }
            Err(Failed::Write(err)) => {
                let mut errors = Vec::new();
                let (code, message) = write_failure(&err, &mut errors);
                for error in &errors {
                    ex.log_error(format_args!("upload: {error}"));
                }
                ex.send_error_with(code, &message, None);
            }
        }
    }

    fn log_saved(&self, ex: &Exchange, saved: &[(String, String)]) {
        for (raw, stored) in saved {
            ex.log_message(format_args!(
                "[Uploaded] {} --> {}",
                crate::util::py_repr(log_cut(raw)),
                crate::util::py_repr(stored)
            ));
        }
    }
}

/// The client's name as sent (its folders included), cut to a log line's worth.
fn log_cut(raw: &str) -> &str {
    let mut end = raw.len().min(2 * name::MAX_NAME);
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    &raw[..end]
}

/// A plan made while answering `Expect: 100-continue`, for the `do_*` method.
#[derive(Clone)]
struct Prepared(Plan);

#[derive(Clone)]
enum Plan {
    Pass,
    Page,
    Multipart,
    MultipartWith(String),
    Put,
    PutInto { folder: Arc<Folder>, name: String },
}

#[derive(Default)]
struct Outcome {
    saved: Vec<(String, String)>,
    renamed: bool,
    saw_files: bool,
    failure: Option<(u16, String)>,
    errors: Vec<String>,
}

enum Failed {
    Read(io::Error),
    Write(io::Error),
    Exists,
}

/// Where one file's bytes come from.
enum Source<'f, 'r> {
    Part(FieldChunks<'f, 'r>),
    Body(BodyChunks<'f>),
}

impl Source<'_, '_> {
    async fn next(&mut self) -> io::Result<Option<Bytes>> {
        match self {
            Self::Part(part) => part.next().await,
            Self::Body(body) => body.next().await,
        }
    }
}

struct FieldChunks<'f, 'r> {
    field: &'f mut multer::Field<'r>,
    counts: &'f Counts,
}

impl FieldChunks<'_, '_> {
    async fn next(&mut self) -> io::Result<Option<Bytes>> {
        let chunk = self.field.chunk().await.map_err(into_io)?;
        if let Some(chunk) = &chunk {
            self.counts.data(chunk.len());
        }
        Ok(chunk)
    }
}

/// A `PUT` body, cut off past the size limit.
struct BodyChunks<'r> {
    reader: &'r mut crate::handler::BodyReader,
    left: u64,
}

#[derive(Debug)]
struct TooLarge;

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the body is larger than the limit")
    }
}

impl std::error::Error for TooLarge {}

impl BodyChunks<'_> {
    async fn next(&mut self) -> io::Result<Option<Bytes>> {
        let chunk = std::future::poll_fn(|cx| self.reader.poll_take_chunk(cx)).await?;
        if let Some(chunk) = &chunk {
            self.left = self
                .left
                .checked_sub(chunk.len() as u64)
                .ok_or_else(|| io::Error::new(io::ErrorKind::FileTooLarge, TooLarge))?;
        }
        Ok(chunk)
    }
}

async fn drain(field: &mut multer::Field<'_>, counts: &Counts) -> Result<(), multer::Error> {
    while let Some(chunk) = field.chunk().await? {
        counts.data(chunk.len());
    }
    Ok(())
}

fn into_io(err: multer::Error) -> io::Error {
    match err {
        multer::Error::StreamReadFailed(inner) => match inner.downcast::<io::Error>() {
            Ok(io) => *io,
            Err(other) => io::Error::other(other),
        },
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

async fn stage(folder: &Arc<Folder>) -> io::Result<Staged> {
    let folder = folder.clone();
    tokio::task::spawn_blocking(move || folder.stage())
        .await
        .map_err(io::Error::other)?
}

/// Where a stored file ended up.
struct Placed {
    name: String,
    /// A numbered name instead of the one asked for.
    renamed: bool,
    /// A file of that name was replaced.
    replaced: bool,
    /// The number to try first for the next file asking for the same name.
    next_number: u32,
}

/// Writes the file from `source`, then gives it `name` (or, with `renumber_from`, a numbered
/// name from that number on if `name` exists). The file is closed on the blocking pool
/// whatever happens (closing a large unlinked file frees its blocks there).
async fn write_and_place(
    staged: Staged,
    mut source: Source<'_, '_>,
    name: String,
    overwrite: bool,
    renumber_from: Option<u32>,
) -> Result<Placed, Failed> {
    let mut held = Held {
        staged: Some(staged),
        file: None,
    };
    let std_file = held
        .staged
        .as_mut()
        .and_then(|staged| staged.file.take())
        .ok_or_else(|| Failed::Write(io::Error::other("file closed")))?;
    let file = held.file.insert(tokio::fs::File::from_std(std_file));
    let written = async {
        loop {
            match source.next().await {
                Ok(Some(chunk)) => file.write_all(&chunk).await.map_err(Failed::Write)?,
                Ok(None) => break,
                Err(err) => return Err(Failed::Read(err)),
            }
        }
        file.flush().await.map_err(Failed::Write)
    }
    .await;
    let file = match held.file.take() {
        Some(file) => Some(file.into_std().await),
        None => None,
    };
    let mut staged = held.staged.take();
    tokio::task::spawn_blocking(move || {
        let Some(staged) = staged.as_mut() else {
            return Err(Failed::Write(io::Error::other("file closed")));
        };
        staged.file = file;
        written.and_then(|()| place(staged, &name, overwrite, renumber_from))
    })
    .await
    .map_err(|err| Failed::Write(io::Error::other(err)))?
}

/// What an upload holds while its body arrives. Dropped before it is whole (the client reset
/// its stream, the server is shutting down), it is closed and removed on the blocking pool:
/// closing a large unlinked file frees its blocks, which can take a while.
struct Held {
    staged: Option<Staged>,
    file: Option<tokio::fs::File>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let (staged, file) = (self.staged.take(), self.file.take());
        if staged.is_none() && file.is_none() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn_blocking(move || drop((file, staged)));
        }
    }
}

fn place(
    staged: &mut Staged,
    name: &str,
    overwrite: bool,
    renumber_from: Option<u32>,
) -> Result<Placed, Failed> {
    let first = if overwrite {
        Existing::Replace
    } else {
        Existing::Keep
    };
    match staged.persist(name, first) {
        Ok(replaced) => {
            return Ok(Placed {
                name: name.to_owned(),
                renamed: false,
                replaced,
                next_number: renumber_from.unwrap_or(1),
            });
        }
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::AlreadyExists | io::ErrorKind::IsADirectory
            ) => {}
        Err(err) => return Err(Failed::Write(err)),
    }
    let Some(from) = renumber_from else {
        return Err(Failed::Exists);
    };
    for n in from..from.saturating_add(10_000) {
        let numbered = name::numbered(name, n);
        match staged.persist(&numbered, Existing::Keep) {
            Ok(_) => {
                return Ok(Placed {
                    name: numbered,
                    renamed: true,
                    replaced: false,
                    next_number: n.saturating_add(1),
                });
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(Failed::Write(err)),
        }
    }
    Err(Failed::Exists)
}

/// Opens `relative` (a folder) beneath the root.
fn open_folder(root: &Root, relative: &[u8], follow_symlinks: bool) -> io::Result<Arc<Folder>> {
    let open = root.open()?;
    let dir = if relative == b"." {
        open.dir.try_clone()?
    } else {
        crate::confined::open(&open, relative, follow_symlinks)?
    };
    if !dir.metadata()?.is_dir() {
        return Err(io::Error::new(io::ErrorKind::NotADirectory, "not a folder"));
    }
    Ok(Arc::new(Folder { dir }))
}

/// The answer to a multipart body the parser gave up on.
fn multipart_failure(err: &multer::Error) -> (u16, String) {
    match err {
        multer::Error::StreamSizeExceeded { .. } => (413, "Request Entity Too Large".to_owned()),
        multer::Error::StreamReadFailed(inner) => match inner.downcast_ref::<io::Error>() {
            Some(io) => read_failure(io),
            None => (400, "Malformed multipart body".to_owned()),
        },
        _ => (400, "Malformed multipart body".to_owned()),
    }
}

/// The answer to a body that could not be read to its end.
fn read_failure(err: &io::Error) -> (u16, String) {
    if err.kind() == io::ErrorKind::TimedOut {
        return (408, "Request Timeout".to_owned());
    }
    match err.get_ref() {
        Some(inner) if inner.is::<HeadersTooLong>() => (400, "Part headers too long".to_owned()),
        Some(inner) if inner.is::<TooLarge>() => (413, "Request Entity Too Large".to_owned()),
        Some(inner) => match inner.downcast_ref::<multer::Error>() {
            Some(multer) => multipart_failure(multer),
            None => (400, "Incomplete body".to_owned()),
        },
        None => (400, "Incomplete body".to_owned()),
    }
}

/// The answer to a file that could not be written: `507` for a full disk (or quota), `500`
/// otherwise (logged).
fn write_failure(err: &io::Error, errors: &mut Vec<String>) -> (u16, String) {
    if store::is_storage_full(err) {
        (507, "Insufficient Storage".to_owned())
    } else {
        errors.push(format!("cannot write the file: {err}"));
        (500, "Internal Server Error".to_owned())
    }
}

impl HttpRequestHandler for Upload {
    fn protocol_version(&self) -> http::Version {
        self.protocol
    }

    fn timeout(&self) -> Option<std::time::Duration> {
        self.timeout
    }

    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        self.serve(ex).await
    }

    async fn do_head(&self, ex: &mut Exchange) -> HandlerResult {
        self.serve(ex).await
    }

    async fn do_post(&self, ex: &mut Exchange) -> HandlerResult {
        self.serve(ex).await
    }

    async fn do_put(&self, ex: &mut Exchange) -> HandlerResult {
        self.serve(ex).await
    }

    /// Checks everything that does not need the body — credentials, size, target — before
    /// the client is told to send it.
    async fn handle_expect_100(&self, ex: &mut Exchange) -> bool {
        match self.plan(ex).await {
            None => false,
            // Not an upload: the service below decides.
            Some(Plan::Pass) => true,
            Some(plan) => {
                ex.extensions_mut().insert(Prepared(plan));
                ex.send_response_only(100);
                ex.end_headers().is_ok()
            }
        }
    }

    /// Python's page (with the file server's headers), with a link to the upload page.
    fn list_directory(&self, ex: &mut Exchange, listing: &DirectoryListing) {
        if self.listing_link {
            ex.extensions_mut()
                .insert(crate::static_files::ListingLink::new(
                    &self.page_path,
                    "File Upload",
                ));
        }
        ex.list_directory(listing);
    }
}
