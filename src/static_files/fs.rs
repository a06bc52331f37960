//! Python's `send_head` as one blocking step: everything that touches the file system for a
//! request happens in a single trip to the blocking pool, and comes back as a [`Plan`].

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::HeaderMap;

use super::conditional::{self, ByteRange, Precondition, RangePlan, Validators};
use super::file_body::{FileBody, Segment};
use super::listing::{DirectoryListing, ListingEntry};
use super::resolve;
use super::{Config, Encoding};

/// Files up to this size are read in the same blocking trip that opens them.
const SMALL_FILE: u64 = 64 * 1024;

/// What to answer, decided off the async runtime.
pub(crate) enum Plan {
    /// `301` to this `Location`.
    Redirect(String),
    /// `404 File not found`.
    NotFound,
    /// `404 No permission to list directory`.
    ListingDenied,
    /// `403`: a FIFO, device or socket, never opened for reading.
    Forbidden,
    /// `200` with a rendered listing.
    Listing(Bytes),
    /// `304`.
    NotModified { etag: String, vary: bool },
    /// `412`.
    PreconditionFailed,
    /// `416` for a file of this size.
    RangeNotSatisfiable { size: u64 },
    /// `200` or `206` with a file.
    File(FileResponse),
}

pub(crate) struct FileResponse {
    pub(crate) content_type: http::HeaderValue,
    pub(crate) validators: Validators,
    pub(crate) size: u64,
    /// `Some` for `206`: the ranges sent.
    pub(crate) ranges: Option<Vec<ByteRange>>,
    /// For several ranges: the multipart boundary.
    pub(crate) boundary: Option<String>,
    pub(crate) content_length: u64,
    pub(crate) encoding: Option<Encoding>,
    pub(crate) vary: bool,
    pub(crate) body: FileContent,
}

pub(crate) enum FileContent {
    /// Nothing to send (HEAD).
    None,
    /// Read already (a small file).
    Bytes(Bytes),
    /// Streamed.
    Stream(FileBody),
}

/// The request facts the planner needs.
#[derive(Clone, Copy)]
pub(crate) struct Request<'a> {
    /// Python's `self.path`: what is translated.
    pub(crate) target: &'a str,
    /// The same target as the client sees it (with the prefix a router stripped): what
    /// redirects and listing titles show.
    pub(crate) external: &'a str,
    pub(crate) head: bool,
    pub(crate) headers: &'a HeaderMap,
}

/// The same, owned, to travel to the blocking pool.
pub(crate) struct OwnedRequest {
    pub(crate) target: String,
    pub(crate) external: Option<String>,
    pub(crate) head: bool,
    pub(crate) headers: HeaderMap,
}

impl OwnedRequest {
    pub(crate) fn view(&self) -> Request<'_> {
        Request {
            target: &self.target,
            external: self.external.as_deref().unwrap_or(&self.target),
            head: self.head,
            headers: &self.headers,
        }
    }
}

/// The served directory, opened once (lazily, on the blocking pool) and kept.
#[derive(Debug)]
pub(crate) struct Root {
    path: PathBuf,
    opened: Mutex<Option<Arc<OpenRoot>>>,
}

#[derive(Debug)]
pub(crate) struct OpenRoot {
    pub(crate) dir: File,
    /// The directory's canonical path, for the symlink containment check.
    pub(crate) canonical: PathBuf,
}

impl Root {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            opened: Mutex::new(None),
        }
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The root if it is already open (never opens it: callable on the async runtime).
    fn cached(&self) -> Option<Arc<OpenRoot>> {
        self.opened
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn open(&self) -> io::Result<Arc<OpenRoot>> {
        let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(root) = &*opened {
            return Ok(root.clone());
        }
        let dir = File::open(&self.path)?;
        if !dir.metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        let canonical = std::fs::canonicalize(&self.path)?;
        let root = Arc::new(OpenRoot { dir, canonical });
        *opened = Some(root.clone());
        Ok(root)
    }
}

/// Decides the response for `request`: Python's `send_head`, plus validators, ranges and
/// precompressed variants.
pub(crate) fn plan(config: &Config, request: Request<'_>) -> Plan {
    let rewritten;
    let target = match &config.translate {
        Some(rewrite) => match rewrite(request.target) {
            Some(target) => {
                rewritten = target;
                rewritten.as_str()
            }
            None => return Plan::NotFound,
        },
        None => request.target,
    };
    let translated = resolve::translate(target);
    let Ok(root) = config.root.open() else {
        return Plan::NotFound;
    };
    let relative = translated.relative();
    let opened = match open(&root, relative, config.follow_symlinks) {
        Ok(opened) => opened,
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
            // Python can tell an unreadable directory from a missing file (`isdir` only needs
            // search permission): so can we.
            return if is_dir_at(&root, relative, config.follow_symlinks) {
                match resolve::directory_redirect(request.external) {
                    Some(location) => Plan::Redirect(location),
                    None => Plan::ListingDenied,
                }
            } else {
                Plan::NotFound
            };
        }
        Err(_) => return Plan::NotFound,
    };
    let Ok(meta) = opened.metadata() else {
        return Plan::NotFound;
    };
    if meta.is_dir() {
        if let Some(location) = resolve::directory_redirect(request.external) {
            return Plan::Redirect(location);
        }
        for index in &config.index_pages {
            let mut path = relative.to_vec();
            path.push(b'/');
            path.extend_from_slice(index.as_bytes());
            if let Ok(file) = open(&root, &path, config.follow_symlinks) {
                if let Ok(index_meta) = file.metadata() {
                    if index_meta.is_file() {
                        return plan_file(config, request, &root, &path, file, &index_meta);
                    }
                }
            }
        }
        return list(config, request.external, &opened);
    }
    if !meta.is_file() {
        return Plan::Forbidden;
    }
    if translated.trailing_slash {
        // Issue17324: `file/` is not found.
        return Plan::NotFound;
    }
    plan_file(config, request, &root, relative, opened, &meta)
}

fn plan_file(
    config: &Config,
    request: Request<'_>,
    root: &OpenRoot,
    relative: &[u8],
    file: File,
    meta: &std::fs::Metadata,
) -> Plan {
    let (file, meta, encoding) = match precompressed(config, request, root, relative) {
        Some((file, meta, encoding)) => (file, meta, Some(encoding)),
        None => (file, meta.clone(), None),
    };
    let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
    decide_file(
        config,
        request,
        relative,
        file,
        meta.len(),
        mtime,
        encoding,
        read_exact_at,
    )
    .unwrap_or(Plan::NotFound)
}

/// The common tail of both paths: content type, validators, ranges, and the body — read with
/// `read_small` when it is small (`None` from it: give up and let the caller fall back).
#[allow(clippy::too_many_arguments)]
fn decide_file(
    config: &Config,
    request: Request<'_>,
    relative: &[u8],
    file: File,
    size: u64,
    mtime: std::time::SystemTime,
    encoding: Option<Encoding>,
    read_small: impl FnOnce(&File, u64, u64) -> io::Result<Bytes>,
) -> Option<Plan> {
    let name = String::from_utf8_lossy(relative);
    let guessed = config
        .guess_type
        .as_ref()
        .and_then(|guess| guess(std::path::Path::new(resolve::os_str(relative))))
        .and_then(|mime| http::HeaderValue::from_str(&mime).ok());
    let content_type =
        guessed.unwrap_or_else(|| super::mime::guess_type(&name, &config.extensions_map));
    let vary = !config.precompressed.is_empty();
    let validators = Validators::new(mtime, size);
    match conditional::evaluate(request.headers, &validators, config.etags) {
        Precondition::Proceed => {}
        Precondition::NotModified => {
            return Some(Plan::NotModified {
                etag: validators.etag,
                vary,
            });
        }
        Precondition::Failed => return Some(Plan::PreconditionFailed),
    }
    let ranges = if request.head || !config.ranges {
        RangePlan::Full
    } else {
        conditional::range_plan(request.headers, &validators, size, config.max_ranges)
    };
    let (ranges, segments, boundary, content_length) = match ranges {
        RangePlan::NotSatisfiable => return Some(Plan::RangeNotSatisfiable { size }),
        RangePlan::Full => (
            None,
            vec![Segment::File {
                start: 0,
                len: size,
            }],
            None,
            size,
        ),
        RangePlan::Partial(ranges) if ranges.len() == 1 => {
            let range = ranges[0];
            let segments = vec![Segment::File {
                start: range.start,
                len: range.len(),
            }];
            (Some(ranges), segments, None, range.len())
        }
        RangePlan::Partial(ranges) => {
            let boundary = boundary(&validators);
            let (segments, length) = multipart(
                &ranges,
                &boundary,
                content_type.to_str().unwrap_or("application/octet-stream"),
                size,
            );
            (Some(ranges), segments, Some(boundary), length)
        }
    };
    let body = if request.head {
        FileContent::None
    } else if let [Segment::File { start, len }] = segments.as_slice() {
        if *len <= SMALL_FILE {
            FileContent::Bytes(read_small(&file, *start, *len).ok()?)
        } else {
            FileContent::Stream(FileBody::new(file, segments))
        }
    } else {
        FileContent::Stream(FileBody::new(file, segments))
    };
    Some(Plan::File(FileResponse {
        content_type,
        validators,
        size,
        ranges,
        boundary,
        content_length,
        encoding,
        vary,
        body,
    }))
}

/// The same decision as [`plan`] for a file whose lookup and data are already in the kernel's
/// caches, made without any call that can wait for a disk: `openat2(RESOLVE_CACHED)` fails
/// instead of reading directories, `fstat` on an open file never waits, and
/// `preadv2(RWF_NOWAIT)` fails instead of reading the disk. Anything else — a miss, a
/// directory, a listing, precompressed variants — returns `None` for the blocking path.
///
/// Safe to call on the async runtime: this is what lets a hot small file skip the blocking
/// pool.
#[cfg(target_os = "linux")]
pub(crate) fn plan_cached(config: &Config, request: Request<'_>) -> Option<Plan> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    if !config.precompressed.is_empty() || !super::mime::is_loaded() {
        return None;
    }
    let rewritten;
    let target = match &config.translate {
        Some(rewrite) => {
            rewritten = rewrite(request.target)?;
            rewritten.as_str()
        }
        None => request.target,
    };
    let translated = resolve::translate(target);
    if translated.trailing_slash || translated.is_root() {
        return None;
    }
    let root = config.root.cached()?;
    let relative = translated.relative();
    let mut resolve = ResolveFlags::CACHED;
    if !config.follow_symlinks {
        resolve |= ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    }
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd = rustix::fs::openat2(
        &root.dir,
        resolve::os_str(relative),
        flags,
        Mode::empty(),
        resolve,
    )
    .ok()?;
    let stat = rustix::fs::fstat(&fd).ok()?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return None;
    }
    let size = u64::try_from(stat.st_size).ok()?;
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::new(
            u64::try_from(stat.st_mtime).ok()?,
            u32::try_from(stat.st_mtime_nsec).ok()?,
        );
    decide_file(
        config,
        request,
        relative,
        File::from(fd),
        size,
        mtime,
        None,
        read_cached,
    )
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn plan_cached(_config: &Config, _request: Request<'_>) -> Option<Plan> {
    None
}

/// Reads `len` bytes at `start` only if they are all in the page cache (`RWF_NOWAIT`).
#[cfg(target_os = "linux")]
fn read_cached(file: &File, start: u64, len: u64) -> io::Result<Bytes> {
    let len = usize::try_from(len).map_err(io::Error::other)?;
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        let offset = start + filled as u64;
        let n = super::file_body::pread_nowait(file, offset, &mut buf[filled..])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file changed"));
        }
        filled += n;
    }
    Ok(Bytes::from(buf))
}

fn read_exact_at(mut file: &File, start: u64, len: u64) -> io::Result<Bytes> {
    use std::io::{Seek, SeekFrom};
    if start > 0 {
        file.seek(SeekFrom::Start(start))?;
    }
    let capacity = usize::try_from(len).map_err(io::Error::other)?;
    let mut buf = Vec::with_capacity(capacity);
    file.take(len).read_to_end(&mut buf)?;
    if buf.len() as u64 != len {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file changed"));
    }
    Ok(Bytes::from(buf))
}

/// A boundary that cannot occur by chance in the parts' headers.
fn boundary(validators: &Validators) -> String {
    let digest: u64 = validators.etag.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("basehttp-{digest:016x}")
}

/// The segments of a `multipart/byteranges` body and its exact length.
fn multipart(
    ranges: &[ByteRange],
    boundary: &str,
    content_type: &str,
    size: u64,
) -> (Vec<Segment>, u64) {
    let mut segments = Vec::with_capacity(ranges.len() * 2 + 1);
    let mut length = 0u64;
    for (i, range) in ranges.iter().enumerate() {
        let head = format!(
            "{}--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {}-{}/{size}\r\n\r\n",
            if i == 0 { "" } else { "\r\n" },
            range.start,
            range.end
        );
        length += head.len() as u64 + range.len();
        segments.push(Segment::Bytes(Bytes::from(head)));
        segments.push(Segment::File {
            start: range.start,
            len: range.len(),
        });
    }
    let tail = format!("\r\n--{boundary}--\r\n");
    length += tail.len() as u64;
    segments.push(Segment::Bytes(Bytes::from(tail)));
    (segments, length)
}

/// The best precompressed sibling (`name.br`, `name.zst`, `name.gz`) the client accepts.
fn precompressed(
    config: &Config,
    request: Request<'_>,
    root: &OpenRoot,
    relative: &[u8],
) -> Option<(File, std::fs::Metadata, Encoding)> {
    if config.precompressed.is_empty() {
        return None;
    }
    let accept = request
        .headers
        .get_all(http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    for encoding in super::accepted_encodings(&accept, &config.precompressed) {
        let mut path = relative.to_vec();
        path.extend_from_slice(encoding.extension().as_bytes());
        if let Ok(file) = open(root, &path, config.follow_symlinks) {
            if let Ok(meta) = file.metadata() {
                if meta.is_file() {
                    return Some((file, meta, encoding));
                }
            }
        }
    }
    None
}

fn list(config: &Config, target: &str, dir: &File) -> Plan {
    let entries = match read_entries(dir) {
        Ok(entries) => entries,
        Err(_) => return Plan::ListingDenied,
    };
    let listing = DirectoryListing::new(resolve::display_path(target), entries);
    let page = match &config.list_directory {
        Some(render) => render(&listing),
        None => super::listing::render_listing(&listing),
    };
    Plan::Listing(Bytes::from(page))
}

// ===== opening beneath the root =====

/// Opens `relative` (no `..`, no leading `/`) below the root, read-only and non-blocking (a FIFO
/// must never block the thread), refusing what resolves outside the root unless
/// `follow_symlinks`.
#[cfg(unix)]
pub(crate) fn open(root: &OpenRoot, relative: &[u8], follow_symlinks: bool) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let relative = resolve::os_str(relative);
    if follow_symlinks {
        // Python's behaviour: symlinks are followed wherever they lead.
        return Ok(File::from(rustix::fs::openat(
            &root.dir,
            relative,
            flags,
            Mode::empty(),
        )?));
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::ResolveFlags;
        match rustix::fs::openat2(
            &root.dir,
            relative,
            flags,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        ) {
            Ok(fd) => return Ok(File::from(fd)),
            // EXDEV: an absolute symlink, or one leading out: decided below by where the opened
            // file really is. ENOSYS: a kernel before 5.6.
            Err(err) if err == rustix::io::Errno::XDEV || err == rustix::io::Errno::NOSYS => {}
            Err(err) => return Err(err.into()),
        }
    }
    let file = File::from(rustix::fs::openat(
        &root.dir,
        relative,
        flags,
        Mode::empty(),
    )?);
    if is_beneath(root, &file, relative)? {
        Ok(file)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            "outside the served directory",
        ))
    }
}

#[cfg(not(unix))]
pub(crate) fn open(root: &OpenRoot, relative: &[u8], follow_symlinks: bool) -> io::Result<File> {
    let path = root.canonical.join(resolve::os_str(relative));
    let file = File::open(&path)?;
    if follow_symlinks || std::fs::canonicalize(&path)?.starts_with(&root.canonical) {
        Ok(file)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            "outside the served directory",
        ))
    }
}

/// Whether an opened file lies below the root: its real path, from `/proc/self/fd` when there
/// is one (race-free: it is the file actually opened), else from the path.
#[cfg(unix)]
fn is_beneath(root: &OpenRoot, file: &File, relative: &std::ffi::OsStr) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let real = match std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
        Ok(real) => real,
        Err(_) => std::fs::canonicalize(root.canonical.join(relative))?,
    };
    Ok(real.starts_with(&root.canonical))
}

#[cfg(unix)]
pub(crate) fn is_dir_at(root: &OpenRoot, relative: &[u8], follow_symlinks: bool) -> bool {
    use rustix::fs::AtFlags;
    let Ok(stat) = rustix::fs::statat(&root.dir, resolve::os_str(relative), AtFlags::empty())
    else {
        return false;
    };
    let is_dir =
        rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Directory;
    // Without following symlinks out, only claim a directory that is really below the root.
    is_dir
        && (follow_symlinks
            || std::fs::canonicalize(root.canonical.join(resolve::os_str(relative)))
                .is_ok_and(|real| real.starts_with(&root.canonical)))
}

#[cfg(not(unix))]
pub(crate) fn is_dir_at(root: &OpenRoot, relative: &[u8], _follow_symlinks: bool) -> bool {
    root.canonical.join(resolve::os_str(relative)).is_dir()
}

/// The entries of an opened directory, as Python lists them (`.` and `..` excluded; directory
/// status follows symlinks).
#[cfg(unix)]
fn read_entries(dir: &File) -> io::Result<Vec<ListingEntry>> {
    use rustix::fs::{AtFlags, Dir, FileType};
    use std::os::unix::ffi::OsStringExt;
    let mut entries = Vec::new();
    for entry in Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let (is_dir, is_symlink) = match entry.file_type() {
            FileType::Directory => (true, false),
            FileType::Symlink => (stat_is_dir(dir, name, AtFlags::empty()), true),
            FileType::Unknown => {
                let is_link = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink);
                (stat_is_dir(dir, name, AtFlags::empty()), is_link)
            }
            _ => (false, false),
        };
        entries.push(ListingEntry::new(
            OsString::from_vec(name.to_vec()),
            is_dir,
            is_symlink,
        ));
    }
    Ok(entries)
}

#[cfg(unix)]
fn stat_is_dir(dir: &File, name: &[u8], flags: rustix::fs::AtFlags) -> bool {
    rustix::fs::statat(dir, resolve::os_str(name), flags).is_ok_and(|s| {
        rustix::fs::FileType::from_raw_mode(s.st_mode) == rustix::fs::FileType::Directory
    })
}

#[cfg(not(unix))]
fn read_entries(dir: &File) -> io::Result<Vec<ListingEntry>> {
    let _ = dir;
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "listings need Unix",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_that_cannot_be_read_is_listing_denied() {
        // What `read_entries` sees when a directory refuses to be read (root reads anything, so
        // the wire test skips itself there): a descriptor that is not a directory.
        let config = crate::static_files::StaticFiles::new(".");
        let file = File::open("Cargo.toml").unwrap();
        assert!(matches!(
            list(config.config(), "/locked/", &file),
            Plan::ListingDenied
        ));
    }
}
