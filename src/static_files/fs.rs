//! Python's `send_head` as one blocking step: everything that touches the file system for a
//! request happens in a single trip to the blocking pool, and comes back as a [`Plan`].

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};

use super::conditional::{self, ByteRange, Precondition, RangePlan, Validators};
use super::file_body::{FileBody, Segment};
use super::listing::{DirectoryListing, ListingEntry};
use super::resolve::{self, Translated};
use super::{Config, Encoding};
#[cfg(unix)]
use crate::confined::os_str;
use crate::confined::{self, Kind, OpenRoot};

/// Files up to this size are read in the same blocking trip that opens them.
const SMALL_FILE: u64 = 64 * 1024;

/// What to answer, decided off the async runtime (`'a`: the request's translated path, which a
/// file's name borrows).
pub(crate) enum Plan<'a> {
    /// `301` to this `Location`.
    Redirect(String),
    /// `404 File not found`.
    NotFound,
    /// `404 No permission to list directory`.
    ListingDenied,
    /// `403`: a FIFO, device or socket, never opened for reading.
    Forbidden,
    /// `200` with the listing of a directory (rendered by `list_directory`), and its turn
    /// among the listings built at once.
    Listing(DirectoryListing, ListingTurn),
    /// `304`.
    NotModified { etag: HeaderValue, vary: bool },
    /// `412`.
    PreconditionFailed,
    /// `416` for a file of this size.
    RangeNotSatisfiable { size: u64 },
    /// `200` or `206` with a file.
    File(FileResponse<'a>),
}

pub(crate) struct FileResponse<'a> {
    /// The file's path below the root (for an encoded variant, the plain file's): what its
    /// type is guessed from. Borrowed from the translated path, unless it is an index page's.
    pub(crate) name: Cow<'a, [u8]>,
    pub(crate) validators: Validators,
    pub(crate) size: u64,
    /// `Some` for `206`: the ranges sent.
    pub(crate) ranges: Option<Vec<ByteRange>>,
    pub(crate) encoding: Option<Encoding>,
    pub(crate) vary: bool,
    pub(crate) body: FileContent,
}

pub(crate) enum FileContent {
    /// Nothing to send (HEAD): the length is the file's.
    None,
    /// Read already (a small file or range).
    Bytes(Bytes),
    /// One range (or the whole file), streamed.
    Stream(FileBody),
    /// Several ranges: a `multipart/byteranges` body, built once the type is known.
    Multipart(File),
}

/// The request facts the planner needs.
#[derive(Clone, Copy)]
pub(crate) struct Request<'a> {
    /// The target as the client sees it (with the prefix a router stripped): what redirects
    /// and listing titles show.
    pub(crate) external: &'a str,
    pub(crate) head: bool,
    pub(crate) headers: &'a HeaderMap,
}

/// Decides the response for `request`, whose path `translate_path` turned into `translated`
/// (`None`: nothing to serve): Python's `send_head`, plus validators, ranges, precompressed
/// variants and the fallback file.
pub(crate) fn plan<'a>(
    config: &'a Config,
    translated: Option<&'a Translated>,
    request: Request<'_>,
) -> Plan<'a> {
    let Some(translated) = translated else {
        // Refused (a policy, a path outside the directory): not a path with nothing behind it.
        return Plan::NotFound;
    };
    let planned = plan_path(config, translated, request);
    match (&planned, &config.fallback) {
        (Plan::NotFound, Some(fallback)) => match plan_path(config, fallback, request) {
            // A fallback that is missing, or a directory, changes nothing.
            plan @ (Plan::File(_) | Plan::NotModified { .. } | Plan::PreconditionFailed) => plan,
            plan @ Plan::RangeNotSatisfiable { .. } => plan,
            _ => planned,
        },
        _ => planned,
    }
}

fn plan_path<'a>(config: &Config, translated: &'a Translated, request: Request<'_>) -> Plan<'a> {
    let Ok(root) = config.root.open() else {
        return Plan::NotFound;
    };
    let relative = translated.relative();
    let opened = match confined::open(&root, relative, config.follow_symlinks) {
        Ok(opened) => opened,
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
            // Python can tell an unreadable directory from a missing file (`isdir` only needs
            // search permission): so can we.
            return if confined::is_dir_at(&root, relative, config.follow_symlinks) {
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
    match Kind::of(&meta) {
        Kind::Directory => {}
        Kind::Special => return Plan::Forbidden,
        Kind::Regular if translated.trailing_slash => {
            // Issue17324: `file/` is not found.
            return Plan::NotFound;
        }
        Kind::Regular => {
            let name = Cow::Borrowed(relative);
            return plan_file(config, request, &root, name, opened, &meta);
        }
    }
    if let Some(location) = resolve::directory_redirect(request.external) {
        return Plan::Redirect(location);
    }
    for index in &config.index_pages {
        let mut path = relative.to_vec();
        path.push(b'/');
        path.extend_from_slice(index.as_bytes());
        if let Ok(file) = confined::open(&root, &path, config.follow_symlinks) {
            if let Ok(index_meta) = file.metadata() {
                if index_meta.is_file() {
                    let name = Cow::Owned(path);
                    return plan_file(config, request, &root, name, file, &index_meta);
                }
            }
        }
    }
    list(config, request.external, &opened, &meta, &root, relative)
}

fn plan_file<'a>(
    config: &Config,
    request: Request<'_>,
    root: &OpenRoot,
    relative: Cow<'a, [u8]>,
    file: File,
    meta: &std::fs::Metadata,
) -> Plan<'a> {
    let (file, meta, encoding) = match precompressed(config, request, root, &relative) {
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

/// The common tail of both paths: validators, ranges, and the body — read with `read_small`
/// when it is small (`None` from it: give up and let the caller fall back).
#[allow(clippy::too_many_arguments)]
fn decide_file<'a>(
    config: &Config,
    request: Request<'_>,
    relative: Cow<'a, [u8]>,
    file: File,
    size: u64,
    mtime: std::time::SystemTime,
    encoding: Option<Encoding>,
    read_small: impl FnOnce(&File, u64, u64) -> io::Result<Bytes>,
) -> Option<Plan<'a>> {
    let vary = !config.precompressed.is_empty();
    let validators = Validators::new(mtime, size);
    if let Some(plan) = preconditions(config, request, &validators, vary) {
        return Some(plan);
    }
    let ranges = if request.head || !config.ranges {
        RangePlan::Full
    } else {
        conditional::range_plan(request.headers, &validators, size, config.max_ranges)
    };
    let (ranges, start, len) = match ranges {
        RangePlan::NotSatisfiable => return Some(Plan::RangeNotSatisfiable { size }),
        RangePlan::Full => (None, 0, size),
        RangePlan::Partial(ranges) if ranges.len() == 1 => {
            let range = ranges[0];
            (Some(ranges), range.start, range.len())
        }
        RangePlan::Partial(ranges) => {
            return Some(Plan::File(FileResponse {
                name: relative,
                validators,
                size,
                ranges: Some(ranges),
                encoding,
                vary,
                body: FileContent::Multipart(file),
            }));
        }
    };
    let body = if request.head {
        FileContent::None
    } else if len <= SMALL_FILE {
        FileContent::Bytes(read_small(&file, start, len).ok()?)
    } else {
        FileContent::Stream(FileBody::new(file, vec![Segment::File { start, len }]))
    };
    Some(Plan::File(FileResponse {
        name: relative,
        validators,
        size,
        ranges,
        encoding,
        vary,
        body,
    }))
}

/// `If-Match`, `If-None-Match`, `If-Modified-Since` and `If-Unmodified-Since`: the `304` or
/// `412` to answer, or `None` to go on.
fn preconditions(
    config: &Config,
    request: Request<'_>,
    validators: &Validators,
    vary: bool,
) -> Option<Plan<'static>> {
    match conditional::evaluate(request.headers, validators, config.etags) {
        Precondition::Proceed => None,
        Precondition::NotModified => Some(Plan::NotModified {
            etag: validators.etag.clone(),
            vary,
        }),
        Precondition::Failed => Some(Plan::PreconditionFailed),
    }
}

/// The answer for the whole file `identity`, whose bytes are `bytes` (kept in memory):
/// `decide_file` for a request without a `Range` (and nothing precompressed).
#[cfg(target_os = "linux")]
fn decide_kept<'a>(
    config: &Config,
    request: Request<'_>,
    relative: &'a [u8],
    identity: &super::hot::Identity,
    bytes: Bytes,
    validators: Validators,
) -> Plan<'a> {
    if let Some(plan) = preconditions(config, request, &validators, false) {
        return plan;
    }
    Plan::File(FileResponse {
        name: Cow::Borrowed(relative),
        validators,
        size: identity.size,
        ranges: None,
        encoding: None,
        vary: false,
        body: if request.head {
            FileContent::None
        } else {
            FileContent::Bytes(bytes)
        },
    })
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
pub(crate) fn plan_cached<'a>(
    config: &Config,
    translated: &'a Translated,
    request: Request<'_>,
) -> Option<Plan<'a>> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    if !config.precompressed.is_empty() || !super::mime::is_loaded() {
        return None;
    }
    if translated.trailing_slash || translated.is_root() {
        return None;
    }
    let root = config.root.cached()?;
    let relative = translated.relative();
    let hot = &config.hot_files;
    // Ranges are cut from the file (and rare): only whole files come from memory.
    let kept =
        hot.enabled() && !(config.ranges && request.headers.contains_key(http::header::RANGE));
    // On a connection that sends files with `sendfile`, a file that would be streamed goes from
    // the page cache to the socket without a copy: cheaper than copying it from memory.
    let max_kept = if sends_files() { SMALL_FILE } else { u64::MAX };
    if kept {
        let current = || super::hot::identity_at(&root.dir, relative, config.follow_symlinks);
        if let Some((identity, bytes, validators)) =
            hot.get(relative, max_kept, Some(&root.dir), current)
        {
            return Some(decide_kept(
                config, request, relative, &identity, bytes, validators,
            ));
        }
    }
    let mut resolve = ResolveFlags::CACHED;
    if !config.follow_symlinks {
        resolve |= ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    }
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd =
        rustix::fs::openat2(&root.dir, os_str(relative), flags, Mode::empty(), resolve).ok()?;
    let stat = rustix::fs::fstat(&fd).ok()?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return None;
    }
    if kept && !request.head {
        let identity =
            super::hot::identity_of(&stat).filter(|id| hot.admits(id) && id.size <= max_kept);
        if let Some(identity) = identity.filter(|_| super::hot::local(&fd)) {
            // Read whole while it is in the page cache, kept if it did not change meanwhile,
            // and served from memory from now on (while the file stays as it is).
            let file = File::from(fd);
            let Ok(bytes) = read_cached(&file, 0, identity.size) else {
                return None;
            };
            let after = rustix::fs::fstat(&file).ok();
            if after.as_ref().and_then(super::hot::identity_of) == Some(identity) {
                hot.insert(relative, identity, bytes.clone());
            }
            let validators = Validators::new(identity.modified(), identity.size);
            return Some(decide_kept(
                config, request, relative, &identity, bytes, validators,
            ));
        }
    }
    let size = u64::try_from(stat.st_size).ok()?;
    // The nanoseconds are a `u32` on 32-bit targets, an `i64` on 64-bit ones.
    #[allow(clippy::useless_conversion)]
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::new(
            u64::try_from(stat.st_mtime).ok()?,
            u32::try_from(stat.st_mtime_nsec).ok()?,
        );
    decide_file(
        config,
        request,
        Cow::Borrowed(relative),
        File::from(fd),
        size,
        mtime,
        None,
        read_cached,
    )
}

/// Whether this request's connection sends unwrapped file bodies with `sendfile`.
#[cfg(target_os = "linux")]
fn sends_files() -> bool {
    #[cfg(sendfile)]
    return crate::connection::ConnectionInfo::current_sends_files();
    #[cfg(not(sendfile))]
    return false;
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn plan_cached<'a>(
    _config: &Config,
    _translated: &'a Translated,
    _request: Request<'_>,
) -> Option<Plan<'a>> {
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
pub(crate) fn boundary(validators: &Validators) -> String {
    let digest: u64 = validators
        .etag
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        });
    format!("basehttp-{digest:016x}")
}

/// The segments of a `multipart/byteranges` body and its exact length.
pub(crate) fn multipart(
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
        if let Ok(file) = confined::open(root, &path, config.follow_symlinks) {
            if let Ok(meta) = file.metadata() {
                if meta.is_file() {
                    return Some((file, meta, encoding));
                }
            }
        }
    }
    None
}

/// Python's `list_directory` for the opened directory `dir` (`meta` is its `stat`), which
/// `relative` names below `root`. Its entries come from the memory cache while the directory
/// is unchanged (`HotFiles::listing`), so a large directory is not read and sorted again for
/// each request; otherwise they are read, and kept for the next request where they can be.
fn list(
    config: &Config,
    target: &str,
    dir: &File,
    meta: &std::fs::Metadata,
    root: &OpenRoot,
    relative: &[u8],
) -> Plan<'static> {
    let turn = ListingTurn::wait();
    let path = resolve::display_path(target);
    let identity = kept_listing_identity(config, dir, meta);
    if let Some(identity) = identity {
        if let Some(entries) = config.hot_files.listing(relative, identity) {
            return Plan::Listing(DirectoryListing::sorted(path, entries), turn);
        }
    }
    // The directory's age is judged at the start of the read: a change made during the read
    // in the same tick of the file system's clock would not show in its times.
    let read_at = std::time::SystemTime::now();
    match read_entries(dir, root, relative) {
        Ok(entries) => {
            let listing = DirectoryListing::new(path, entries);
            if let Some(identity) = identity {
                let hot = &config.hot_files;
                hot.keep_listing(relative, identity, read_at, &listing.entries);
            }
            Plan::Listing(listing, turn)
        }
        Err(_) => Plan::ListingDenied,
    }
}

/// The identity a listing of `dir` is kept under (its `stat`, `meta`, made before its entries
/// are read), where listings can be kept: a memory cache, and a local file system.
#[cfg(target_os = "linux")]
fn kept_listing_identity(
    config: &Config,
    dir: &File,
    meta: &std::fs::Metadata,
) -> Option<super::hot::Identity> {
    if !config.hot_files.enabled() || !super::hot::local(dir) {
        return None;
    }
    super::hot::identity_of_metadata(meta)
}

#[cfg(not(target_os = "linux"))]
fn kept_listing_identity(
    _config: &Config,
    _dir: &File,
    _meta: &std::fs::Metadata,
) -> Option<super::hot::Identity> {
    None
}

/// A turn to build a listing: its entries and its page are held in memory at once, so a
/// directory of 50,000 names costs a few megabytes while it is listed. At most twice as many
/// listings as there are CPUs are built at once (they are CPU-bound anyway); the rest wait, on
/// the blocking pool, and get their turns in the order they asked. The page, once rendered, is
/// shared between responses (see `shared_page`).
pub(crate) struct ListingTurn(&'static Turns);

impl ListingTurn {
    /// Waits for a turn (on the blocking pool).
    fn wait() -> Self {
        static TURNS: std::sync::OnceLock<Turns> = std::sync::OnceLock::new();
        let turns = TURNS.get_or_init(|| {
            Turns::new(std::thread::available_parallelism().map_or(2, |n| n.get() * 2))
        });
        turns.take();
        Self(turns)
    }
}

impl Drop for ListingTurn {
    fn drop(&mut self) {
        self.0.give_back();
    }
}

/// At most `most` turns held at once, handed out first come, first served: a turn given back
/// goes to the longest waiter, never to a newcomer. (With one condition variable, a thread
/// arriving as a turn was freed could take it before the woken waiter did, again and again:
/// under 32 clients listing a directory on one core, the 99th percentile latency was 3.5 to 4
/// times the mean, against under 2 times with the turns in order; `benches/load.py -u /many/`.)
struct Turns {
    most: usize,
    state: std::sync::Mutex<TurnState>,
}

struct TurnState {
    /// Turns held, those handed to a waiter included.
    taken: usize,
    /// The waiters, longest first; each is handed its turn through its channel.
    waiting: std::collections::VecDeque<std::sync::mpsc::SyncSender<()>>,
}

impl Turns {
    fn new(most: usize) -> Self {
        Self {
            most: most.max(1),
            state: std::sync::Mutex::new(TurnState {
                taken: 0,
                waiting: std::collections::VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TurnState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a turn, waiting behind those who asked first.
    fn take(&self) {
        let handed = {
            let mut state = self.lock();
            if state.taken < self.most && state.waiting.is_empty() {
                state.taken += 1;
                return;
            }
            let (hand, handed) = std::sync::mpsc::sync_channel(1);
            state.waiting.push_back(hand);
            handed
        };
        // Handed over as it is given back (`taken` already counts it). `give_back` drops a
        // waiter's sender only after sending, so this cannot fail.
        let _ = handed.recv();
    }

    /// Gives a turn back: to the longest waiter, or to no one.
    fn give_back(&self) {
        let mut state = self.lock();
        while let Some(hand) = state.waiting.pop_front() {
            if hand.send(()).is_ok() {
                return;
            }
        }
        state.taken = state.taken.saturating_sub(1);
    }

    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }
}

/// The entries of an opened directory, as Python lists them (`.` and `..` excluded; directory
/// status follows symlinks).
#[cfg(unix)]
fn read_entries(dir: &File, _root: &OpenRoot, _relative: &[u8]) -> io::Result<Vec<ListingEntry>> {
    use rustix::fs::{AtFlags, Dir, FileType};
    use std::ffi::OsString;
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
    rustix::fs::statat(dir, os_str(name), flags).is_ok_and(|s| {
        rustix::fs::FileType::from_raw_mode(s.st_mode) == rustix::fs::FileType::Directory
    })
}

/// Elsewhere, by path (the directory was opened, and confined, just before).
#[cfg(not(unix))]
fn read_entries(_dir: &File, root: &OpenRoot, relative: &[u8]) -> io::Result<Vec<ListingEntry>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(confined::native_path(&root.canonical, relative)?)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let is_symlink = kind.is_symlink();
        let is_dir = if is_symlink {
            entry.path().is_dir()
        } else {
            kind.is_dir()
        };
        entries.push(ListingEntry::new(entry.file_name(), is_dir, is_symlink));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits (at most 10 s) until `turns` has `n` waiters queued.
    fn until_waiting(turns: &Turns, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while turns.waiting() != n {
            assert!(
                std::time::Instant::now() < deadline,
                "{} waiting, not {n}",
                turns.waiting()
            );
            std::thread::yield_now();
        }
    }

    #[test]
    fn listing_turns_are_bounded() {
        let turns = Turns::new(2);
        turns.take();
        turns.take();
        std::thread::scope(|scope| {
            let third = scope.spawn(|| {
                turns.take();
                turns.give_back();
            });
            until_waiting(&turns, 1);
            assert!(!third.is_finished());
            turns.give_back();
            third.join().unwrap();
        });
        turns.give_back();
        assert_eq!(turns.lock().taken, 0);
    }

    /// A turn given back goes to the longest waiter, even when the thread giving it back asks
    /// again at once (a condition variable lets that thread take it first).
    #[test]
    fn listing_turns_go_first_come_first_served() {
        let turns = Turns::new(1);
        let order = std::sync::Mutex::new(Vec::new());
        turns.take();
        std::thread::scope(|scope| {
            for (name, queued) in [("a", 1), ("b", 2)] {
                let (turns, order) = (&turns, &order);
                scope.spawn(move || {
                    turns.take();
                    order.lock().unwrap().push(name);
                    turns.give_back();
                });
                until_waiting(turns, queued);
            }
            turns.give_back();
            turns.take();
            order.lock().unwrap().push("again");
            turns.give_back();
        });
        assert_eq!(*order.lock().unwrap(), ["a", "b", "again"]);
        assert_eq!(turns.lock().taken, 0);
    }

    /// What `plan_cached` answers for `GET /name`: the body's bytes, or `None` (the blocking
    /// path) or a non-file plan (`Some(None)`).
    #[cfg(target_os = "linux")]
    fn planned_bytes(config: &Config, name: &str) -> Option<Option<Bytes>> {
        let headers = HeaderMap::new();
        let request = Request {
            external: name,
            head: false,
            headers: &headers,
        };
        let translated = Translated::new(name.trim_start_matches('/').as_bytes().to_vec(), false);
        match plan_cached(config, &translated, request)? {
            Plan::File(FileResponse {
                body: FileContent::Bytes(bytes),
                ..
            }) => Some(Some(bytes)),
            _ => Some(None),
        }
    }

    /// A configuration serving `root` that keeps every file at once (no minimum age), or
    /// `None` (the test skips) where nothing can be kept: not on a local file system.
    #[cfg(target_os = "linux")]
    fn kept_config(root: &std::path::Path) -> Option<Config> {
        let mut config = super::super::StaticFiles::new(root).config().clone();
        config.hot_files = std::sync::Arc::new(
            super::super::hot::HotFiles::new(1 << 20, 1 << 20)
                .with_min_age(std::time::Duration::ZERO),
        );
        config.root.open().unwrap();
        let _ = super::super::mime::guess_type("/x.html", &super::super::table::Table::default());
        if !super::super::hot::local(&File::open(root).unwrap()) {
            // `.ci/run` runs on a machine whose temp dir is local.
            assert!(
                std::env::var_os("BASEHTTP_REQUIRE_TOOLS").is_none(),
                "{} is not on a local file system",
                root.display()
            );
            eprintln!("skipped: {} is not on a local file system", root.display());
            return None;
        }
        Some(config)
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn kept_files_come_from_memory_while_unchanged() {
        let base = std::env::temp_dir().join(format!("basehttp-hot-{}", std::process::id()));
        let (root, outside) = (base.join("root"), base.join("outside"));
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("a.txt"), b"first").unwrap();
        std::fs::write(root.join("sub/f.txt"), b"inside").unwrap();
        let Some(config) = kept_config(&root) else {
            return;
        };

        let first = planned_bytes(&config, "/a.txt").flatten().unwrap();
        let again = planned_bytes(&config, "/a.txt").flatten().unwrap();
        assert_eq!(&again[..], b"first");
        assert_eq!(
            first.as_ptr(),
            again.as_ptr(),
            "the second answer comes from memory"
        );

        // Changed (another inode, same size): read again.
        std::fs::write(root.join("new"), b"other").unwrap();
        std::fs::rename(root.join("new"), root.join("a.txt")).unwrap();
        let changed = planned_bytes(&config, "/a.txt").flatten().unwrap();
        assert_eq!(&changed[..], b"other");

        // A folder moved out and linked back: the link policy holds for kept files too.
        assert_eq!(
            planned_bytes(&config, "/sub/f.txt").flatten().as_deref(),
            Some(&b"inside"[..])
        );
        std::fs::rename(root.join("sub"), outside.join("sub")).unwrap();
        std::os::unix::fs::symlink(outside.join("sub"), root.join("sub")).unwrap();
        assert_eq!(planned_bytes(&config, "/sub/f.txt"), None);
        std::fs::remove_dir_all(&base).ok();
    }

    /// The listing `GET path/` plans for the directory `relative`: its entries as (name, is a
    /// folder, is a link), and the shared slice they came in.
    #[cfg(target_os = "linux")]
    fn planned_listing(
        config: &Config,
        path: &str,
        relative: &str,
    ) -> (Vec<(String, bool, bool)>, std::sync::Arc<[ListingEntry]>) {
        let headers = HeaderMap::new();
        let request = Request {
            external: path,
            head: false,
            headers: &headers,
        };
        let translated = Translated::new(relative.as_bytes().to_vec(), true);
        let Plan::Listing(listing, _turn) = plan(config, Some(&translated), request) else {
            panic!("{path}: not a listing");
        };
        let names = listing
            .entries
            .iter()
            .map(|e| {
                let name = String::from_utf8_lossy(e.name_bytes()).into_owned();
                (name, e.is_dir, e.is_symlink)
            })
            .collect();
        (names, listing.entries)
    }

    /// Returns once a change made now gets a later time stamp than `dir`'s, as a one-second-old
    /// directory always does (the file system's clock ticks coarsely): found by changing
    /// `clock`, a file elsewhere, and reading its change time.
    #[cfg(target_os = "linux")]
    fn after_a_tick(clock: &std::path::Path, dir: &std::path::Path) {
        use std::os::unix::fs::MetadataExt;
        let changed = |path: &std::path::Path| {
            let meta = std::fs::metadata(path).unwrap();
            (meta.ctime(), meta.ctime_nsec())
        };
        let then = changed(dir);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            std::fs::write(clock, b"tick").unwrap();
            if changed(clock) > then {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "no tick in 5 s");
            std::thread::yield_now();
        }
    }

    /// A directory's entries are read once and then come from memory while it is unchanged;
    /// a name added, removed or replaced is seen by the very next listing. A listing with a
    /// symbolic link is read every time: its target can change from folder to file without
    /// the directory changing.
    #[cfg(target_os = "linux")]
    #[test]
    fn kept_listings_come_from_memory_while_the_directory_is_unchanged() {
        let base = tempfile::tempdir().unwrap();
        let (root, clock) = (base.path().join("root"), base.path().join("clock"));
        let dir = root.join("d");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a.txt"), b"a").unwrap();
        std::fs::create_dir_all(root.join("links")).unwrap();
        std::fs::create_dir_all(root.join("target")).unwrap();
        std::os::unix::fs::symlink("../target", root.join("links/l")).unwrap();
        let Some(config) = kept_config(&root) else {
            return;
        };
        let entry = |name: &str, is_dir| (name.to_owned(), is_dir, false);

        let (names, first) = planned_listing(&config, "/d/", "d");
        assert_eq!(names, [entry("a.txt", false), entry("sub", true)]);
        let (_, again) = planned_listing(&config, "/d/?again", "d");
        assert!(std::sync::Arc::ptr_eq(&first, &again), "from memory");

        // Each change made once the clock has moved past the directory's last one, then listed.
        let changed = |what: &str, change: &dyn Fn(), want: &[(String, bool, bool)]| {
            after_a_tick(&clock, &dir);
            change();
            let (names, kept) = planned_listing(&config, "/d/", "d");
            assert_eq!(names, want, "{what}");
            kept
        };
        let add = || std::fs::write(dir.join("b.txt"), b"b").unwrap();
        let want = [
            entry("a.txt", false),
            entry("b.txt", false),
            entry("sub", true),
        ];
        changed("a name added", &add, &want);
        let remove = || std::fs::remove_file(dir.join("a.txt")).unwrap();
        changed(
            "removed",
            &remove,
            &[entry("b.txt", false), entry("sub", true)],
        );
        let replace = || {
            std::fs::remove_dir(dir.join("sub")).unwrap();
            std::fs::write(dir.join("sub"), b"now a file").unwrap();
        };
        let want = [entry("b.txt", false), entry("sub", false)];
        let kept = changed("folder replaced by a file", &replace, &want);
        let (_, again) = planned_listing(&config, "/d/", "d");
        assert!(std::sync::Arc::ptr_eq(&kept, &again), "kept again");

        // A file and a folder swapped under their names (`RENAME_EXCHANGE`): the same names,
        // the same size, only the types change; the directory's times say so.
        let create = || std::fs::create_dir(dir.join("folder")).unwrap();
        let want = [
            entry("b.txt", false),
            entry("folder", true),
            entry("sub", false),
        ];
        let kept = changed("a folder created", &create, &want);
        let (_, again) = planned_listing(&config, "/d/", "d");
        assert!(std::sync::Arc::ptr_eq(&kept, &again), "kept again");
        let exchange = || {
            let opened = File::open(&dir).unwrap();
            let flags = rustix::fs::RenameFlags::EXCHANGE;
            rustix::fs::renameat_with(&opened, "folder", &opened, "sub", flags).unwrap();
        };
        let want = [
            entry("b.txt", false),
            entry("folder", false),
            entry("sub", true),
        ];
        changed("exchanged", &exchange, &want);

        // Another directory under the same path (another inode): its own entries at once.
        std::fs::rename(&dir, root.join("d.old")).unwrap();
        std::fs::create_dir_all(dir.join("b.txt")).unwrap();
        let (names, _) = planned_listing(&config, "/d/", "d");
        assert_eq!(names, [entry("b.txt", true)], "another directory");

        let (names, first) = planned_listing(&config, "/links/", "links");
        assert_eq!(names, [("l".to_owned(), true, true)]);
        std::fs::remove_dir(root.join("target")).unwrap();
        std::fs::write(root.join("target"), b"now a file").unwrap();
        let (names, again) = planned_listing(&config, "/links/", "links");
        assert_eq!(names, [("l".to_owned(), false, true)], "follows the link");
        assert!(!std::sync::Arc::ptr_eq(&first, &again));
    }

    /// On a connection that sends files with `sendfile`, a file over 64 KiB is streamed from
    /// the file (and so goes out with `sendfile`), not copied from memory; smaller files, and
    /// the same file on other connections, are still kept.
    #[cfg(sendfile)]
    #[test]
    fn files_that_sendfile_sends_are_not_served_from_memory() {
        use crate::connection::{ConnectionInfo, Control};
        let base = std::env::temp_dir().join(format!("basehttp-hot-sf-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(base.join("small.txt"), vec![b's'; 1024]).unwrap();
        std::fs::write(base.join("medium.bin"), vec![b'm'; 100 * 1024]).unwrap();
        let Some(config) = kept_config(&base) else {
            return;
        };
        /// Whether `GET /name` is answered from memory (`Some(ptr)`) or streamed (`None`).
        fn body(config: &Config, name: &str) -> Option<*const u8> {
            let headers = HeaderMap::new();
            let request = Request {
                external: name,
                head: false,
                headers: &headers,
            };
            let relative = name.trim_start_matches('/').as_bytes().to_vec();
            match plan_cached(config, &Translated::new(relative, false), request) {
                Some(Plan::File(FileResponse {
                    body: FileContent::Bytes(bytes),
                    ..
                })) => Some(bytes.as_ptr()),
                Some(Plan::File(FileResponse {
                    body: FileContent::Stream(_),
                    ..
                })) => None,
                _ => panic!("{name}: not a file plan"),
            }
        }
        let control = std::sync::Arc::new(Control::default());
        control.enable_sendfile();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
        let info = ConnectionInfo::for_server(addr, addr, "127.0.0.1".into(), control, None);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let on_sendfile = |config: &Config, name: &'static str| {
            runtime.block_on(info.clone().scope(async { body(config, name) }))
        };

        // Elsewhere the medium file is kept, and served from memory.
        let kept = body(&config, "/medium.bin").expect("kept");
        assert_eq!(body(&config, "/medium.bin"), Some(kept));
        // On a connection that sends files, it is streamed, the kept copy left alone.
        assert_eq!(on_sendfile(&config, "/medium.bin"), None);
        assert_eq!(on_sendfile(&config, "/medium.bin"), None);
        assert_eq!(body(&config, "/medium.bin"), Some(kept));
        // The small file is kept on both.
        let small = on_sendfile(&config, "/small.txt").expect("small");
        assert_eq!(on_sendfile(&config, "/small.txt"), Some(small));
        assert_eq!(body(&config, "/small.txt"), Some(small));
        std::fs::remove_dir_all(&base).ok();
    }

    #[test]
    fn a_directory_that_cannot_be_read_is_listing_denied() {
        // What `read_entries` sees when a directory refuses to be read (root reads anything, so
        // the wire test skips itself there): a descriptor that is not a directory.
        let file = File::open("Cargo.toml").unwrap();
        let meta = file.metadata().unwrap();
        let config = super::super::StaticFiles::new(".").config().clone();
        let root = crate::confined::Root::new(".".into());
        let root = root.open().unwrap();
        assert!(matches!(
            list(&config, "/locked/", &file, &meta, &root, b"Cargo.toml"),
            Plan::ListingDenied
        ));
    }
}
