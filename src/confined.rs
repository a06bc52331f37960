//! Confined file access: the served directory opened once, and files opened beneath it so that
//! no request — and, unless asked, no symbolic link — reaches outside it. Used by file serving
//! and by CGI (which finds its scripts the same way).
//!
//! Every open is read-only, non-blocking (a FIFO must never block a thread), close-on-exec and
//! never acquires a controlling terminal; on Linux 5.6+ it is `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS)`, elsewhere an `openat` whose result is checked by where the opened
//! file really is.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The served directory, opened once (lazily, on the blocking pool) and kept.
#[derive(Debug)]
pub(crate) struct Root {
    path: PathBuf,
    opened: OnceLock<Arc<OpenRoot>>,
}

#[derive(Debug)]
pub(crate) struct OpenRoot {
    /// Files are opened relative to it (`openat`); on Windows, where files are opened by path,
    /// it only proves the directory was there.
    #[cfg_attr(windows, allow(dead_code))]
    pub(crate) dir: File,
    /// The directory's canonical path, for the symlink containment check.
    pub(crate) canonical: PathBuf,
}

impl Root {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            opened: OnceLock::new(),
        }
    }

    /// The directory as configured.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The root if it is already open (never opens it, never waits: callable on the async
    /// runtime).
    pub(crate) fn cached(&self) -> Option<Arc<OpenRoot>> {
        self.opened.get().cloned()
    }

    /// Opens the root (blocking calls, the first time; two first requests may both open it,
    /// and one of the results is kept).
    pub(crate) fn open(&self) -> io::Result<Arc<OpenRoot>> {
        if let Some(root) = self.opened.get() {
            return Ok(root.clone());
        }
        let dir = open_path(&self.path)?;
        if !dir.metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        // The root's real path comes from the same call as the real paths of the files
        // checked against it (so that the two agree on case, normalisation and firmlinks).
        let canonical = match real_path(&dir) {
            Ok(real) if real.is_absolute() => real,
            _ => std::fs::canonicalize(&self.path)?,
        };
        let _ = self.opened.set(Arc::new(OpenRoot { dir, canonical }));
        self.opened
            .get()
            .cloned()
            .ok_or_else(|| io::Error::other("the served directory could not be kept"))
    }

    /// The part of `path` below this directory, as bytes joined with `/` (empty for the
    /// directory itself), and whether `path` ends with a slash: how a `translate_path` result
    /// is opened. `None` when `path` does not lie below the directory — as configured, or as
    /// its canonical path once the directory has been opened — or climbs with `..`.
    pub(crate) fn relative(&self, path: &Path) -> Option<(Vec<u8>, bool)> {
        let path = path.as_os_str().as_encoded_bytes();
        let windows = cfg!(windows);
        match relative_below(path, self.path.as_os_str().as_encoded_bytes(), windows) {
            Some(relative) => Some(relative),
            None => {
                let opened = self.cached()?;
                relative_below(
                    path,
                    opened.canonical.as_os_str().as_encoded_bytes(),
                    windows,
                )
            }
        }
    }
}

/// The part of `path` below `prefix`, components joined with `/`, and whether `path` ends with
/// a separator; `None` when `path` is not below `prefix` or climbs with `..`. With `windows`,
/// `\` separates too.
fn relative_below(path: &[u8], prefix: &[u8], windows: bool) -> Option<(Vec<u8>, bool)> {
    let separator = |b: &u8| *b == b'/' || (windows && *b == b'\\');
    let rest = if windows {
        // `C:\\srv` and the canonical `\\?\C:\\srv` are one folder; so are `c:` and `C:`.
        below_windows(path, prefix, separator)?
    } else {
        below(path, prefix, separator)?
    };
    let mut relative = Vec::with_capacity(rest.len());
    for name in rest.split(separator) {
        match name {
            b"" | b"." => {}
            b".." => return None,
            name => {
                if !relative.is_empty() {
                    relative.push(b'/');
                }
                relative.extend_from_slice(name);
            }
        }
    }
    Some((relative, path.last().is_some_and(separator)))
}

/// What follows `prefix` in `path`, when `path` is `prefix` or lies below it (component-wise:
/// `/srv/www` is not below `/srv/w`). Compared as bytes, without building components.
fn below<'a>(path: &'a [u8], prefix: &[u8], separator: impl Fn(&u8) -> bool) -> Option<&'a [u8]> {
    if prefix.len() == 1 && prefix.first().is_some_and(&separator) {
        // The file-system root: every absolute path lies below it.
        return path.strip_prefix(prefix);
    }
    let prefix = match prefix.split_last() {
        Some((last, rest)) if separator(last) => rest,
        _ => prefix,
    };
    let rest = path.strip_prefix(prefix)?;
    match rest.first() {
        None => Some(rest),
        Some(b) if separator(b) => Some(rest),
        _ => None,
    }
}

/// [`below`] for Windows paths: the verbatim prefix (`\\?\`, `\\?\UNC\`) dropped from both, and
/// ASCII case ignored, as Windows compares names.
fn below_windows<'a>(
    path: &'a [u8],
    prefix: &[u8],
    separator: impl Fn(&u8) -> bool + Copy,
) -> Option<&'a [u8]> {
    fn plain(path: &[u8]) -> (&[u8], bool) {
        if let Some(rest) = path.strip_prefix(br"\\?\UNC\") {
            return (rest, true);
        }
        if let Some(rest) = path.strip_prefix(br"\\?\") {
            return (rest, false);
        }
        match path.strip_prefix(br"\\") {
            Some(rest) => (rest, true),
            None => (path, false),
        }
    }
    let (path, path_unc) = plain(path);
    let (prefix, prefix_unc) = plain(prefix);
    if path_unc != prefix_unc {
        return None;
    }
    let prefix = match prefix.split_last() {
        Some((last, rest)) if separator(last) => rest,
        _ => prefix,
    };
    let head = path.get(..prefix.len())?;
    let same = head
        .iter()
        .zip(prefix)
        .all(|(a, b)| a.eq_ignore_ascii_case(b) || (separator(a) && separator(b)));
    if !same {
        return None;
    }
    let rest = &path[prefix.len()..];
    match rest.first() {
        None => Some(rest),
        Some(b) if separator(b) => Some(rest),
        _ => None,
    }
}

/// Opens `relative` (no `..`, no leading `/`; `.` for the root itself) below the root,
/// refusing what resolves outside the root unless `follow_symlinks`.
///
/// Linux 5.6+ resolves with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`, so nothing
/// outside is even opened; elsewhere (and for links the kernel refuses to judge) the file is
/// opened and kept only if its real path — read from the opened file itself: `/proc/self/fd`
/// on Linux, `F_GETPATH` on macOS, `GetFinalPathNameByHandleW` on Windows — lies below the
/// root's.
#[cfg(unix)]
pub(crate) fn open(root: &OpenRoot, relative: &[u8], follow_symlinks: bool) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    if follow_symlinks {
        // Python's behaviour: symlinks are followed wherever they lead.
        return Ok(File::from(rustix::fs::openat(
            &root.dir,
            os_str(relative),
            flags,
            Mode::empty(),
        )?));
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::ResolveFlags;
        match rustix::fs::openat2(
            &root.dir,
            os_str(relative),
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
    open_then_check(root, relative, real_path)
}

/// The portable confinement: `openat`, then the opened file's real path (from `real_path`)
/// must lie below the root's canonical path.
#[cfg(unix)]
fn open_then_check(
    root: &OpenRoot,
    relative: &[u8],
    real_path: impl Fn(&File) -> io::Result<PathBuf>,
) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let file = File::from(rustix::fs::openat(
        &root.dir,
        os_str(relative),
        flags,
        Mode::empty(),
    )?);
    let real = match real_path(&file) {
        Ok(real) => real,
        Err(_) => std::fs::canonicalize(root.canonical.join(os_str(relative)))?,
    };
    if !is_beneath(&real, &root.canonical) {
        // The folder may have been renamed, or its cached name changed, since it was opened:
        // its real path now, read the same way.
        if let Ok(now) = real_path(&root.dir) {
            return kept_if_beneath(file, &real, &now);
        }
    }
    kept_if_beneath(file, &real, &root.canonical)
}

#[cfg(windows)]
pub(crate) fn open(root: &OpenRoot, relative: &[u8], follow_symlinks: bool) -> io::Result<File> {
    let file = open_path(&native_path(&root.canonical, relative)?)?;
    if follow_symlinks {
        return Ok(file);
    }
    let real = real_path(&file)?;
    kept_if_beneath(file, &real, &root.canonical)
}

#[cfg(not(any(unix, windows)))]
fn real_path(_file: &File) -> io::Result<PathBuf> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(not(any(unix, windows)))]
pub(crate) fn open(root: &OpenRoot, relative: &[u8], follow_symlinks: bool) -> io::Result<File> {
    let path = native_path(&root.canonical, relative)?;
    let file = open_path(&path)?;
    if follow_symlinks {
        return Ok(file);
    }
    let real = std::fs::canonicalize(&path)?;
    kept_if_beneath(file, &real, &root.canonical)
}

/// `file`, if `real` (its real path) lies below `root` (the root's canonical path); else
/// `NotFound`, as for a file that is not there.
fn kept_if_beneath(file: File, real: &Path, root: &Path) -> io::Result<File> {
    if is_beneath(real, root) {
        Ok(file)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            "outside the served directory",
        ))
    }
}

/// The confinement decision, on real (canonical) paths: component-wise, so `/srv/wwwx` is not
/// below `/srv/www`. Case and Unicode normalisation are compared as the file system reports
/// them: both paths come from the same kind of call (`realpath`, `F_GETPATH`,
/// `GetFinalPathNameByHandleW` report names as stored).
fn is_beneath(real: &Path, root: &Path) -> bool {
    real.starts_with(root)
}

/// The real path of an opened file, from the file itself: race-free, it is the file actually
/// opened (Linux: `/proc/self/fd`).
#[cfg(all(unix, not(target_vendor = "apple")))]
fn real_path(file: &File) -> io::Result<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// macOS: `fcntl(F_GETPATH)`.
#[cfg(target_vendor = "apple")]
fn real_path(file: &File) -> io::Result<PathBuf> {
    let path = rustix::fs::getpath(file)?;
    Ok(PathBuf::from(os_str(path.as_bytes())))
}

/// Windows: `GetFinalPathNameByHandleW`, in the `\\?\C:\…` form `std::fs::canonicalize` gives
/// the root.
#[cfg(windows)]
#[allow(unsafe_code)]
fn real_path(file: &File) -> io::Result<PathBuf> {
    use std::os::windows::ffi::OsStringExt;
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Storage::FileSystem::{
        FILE_NAME_NORMALIZED, GetFinalPathNameByHandleW, VOLUME_NAME_DOS,
    };
    let mut buffer = vec![0u16; 512];
    loop {
        let capacity = u32::try_from(buffer.len()).unwrap_or(u32::MAX);
        // SAFETY: the handle is borrowed from `file`, open for the whole call, and `buffer`
        // has room for `capacity` UTF-16 units.
        let written = unsafe {
            GetFinalPathNameByHandleW(
                file.as_raw_handle(),
                buffer.as_mut_ptr(),
                capacity,
                FILE_NAME_NORMALIZED | VOLUME_NAME_DOS,
            )
        };
        let written = usize::try_from(written).unwrap_or(usize::MAX);
        if written == 0 {
            return Err(io::Error::last_os_error());
        }
        if written < buffer.len() {
            buffer.truncate(written);
            return Ok(PathBuf::from(std::ffi::OsString::from_wide(&buffer)));
        }
        // Too small: `written` is the size needed, terminating NUL included.
        buffer.resize(written, 0);
    }
}

/// Opens a file or a directory by path, read-only (on Windows a directory needs
/// `FILE_FLAG_BACKUP_SEMANTICS`).
fn open_path(path: &Path) -> io::Result<File> {
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(windows_sys::Win32::Storage::FileSystem::FILE_FLAG_BACKUP_SEMANTICS)
            .open(path)
    }
    #[cfg(not(windows))]
    {
        File::open(path)
    }
}

/// `relative` (components joined with `/`) below `root`, component by component: a `\\?\`
/// path (what `canonicalize` gives on Windows) takes no `/`. Each component must be one plain
/// name to the platform (on Windows not `C:`, not `a\\b`, not `..`, and no `:`, which would
/// name an alternate data stream), whatever the name rules let through, so no component can
/// replace or climb out of `root` or reach a file by another name. (So on Windows a
/// `translate_path` override that leads outside the folder is `404` even with
/// `follow_symlinks`.) Below a `\\?\` root Windows parses no names, so a device name or a
/// trailing dot names a file literally.
#[cfg(not(unix))]
pub(crate) fn native_path(root: &Path, relative: &[u8]) -> io::Result<PathBuf> {
    use std::path::Component;
    let mut path = root.to_path_buf();
    for name in relative.split(|&b| b == b'/') {
        if name.is_empty() || name == b"." {
            continue;
        }
        // No `:` on Windows (a stream), and UTF-8 only: a name that is not would become
        // U+FFFD and reach a file of that name.
        let plain = std::str::from_utf8(name).is_ok() && !(cfg!(windows) && name.contains(&b':'));
        let name = os_str(name);
        let mut parts = Path::new(name).components();
        match (parts.next(), parts.next()) {
            (Some(Component::Normal(part)), None) if plain && part == name => path.push(part),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "not a plain name below the served directory",
                ));
            }
        }
    }
    Ok(path)
}

/// Python's `os.path.isdir` on a path below the root (following symlinks; without
/// `follow_symlinks`, only a directory that really lies below the root counts).
#[cfg(unix)]
pub(crate) fn is_dir_at(root: &OpenRoot, relative: &[u8], follow_symlinks: bool) -> bool {
    use rustix::fs::AtFlags;
    let Ok(stat) = rustix::fs::statat(&root.dir, os_str(relative), AtFlags::empty()) else {
        return false;
    };
    let is_dir =
        rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Directory;
    is_dir
        && (follow_symlinks
            || std::fs::canonicalize(root.canonical.join(os_str(relative))).is_ok_and(|real| {
                // `realpath`, compared with the folder's path read both ways.
                is_beneath(&real, &root.canonical)
                    || std::fs::canonicalize(&root.canonical)
                        .is_ok_and(|folder| is_beneath(&real, &folder))
            }))
}

#[cfg(not(unix))]
pub(crate) fn is_dir_at(root: &OpenRoot, relative: &[u8], follow_symlinks: bool) -> bool {
    let Ok(path) = native_path(&root.canonical, relative) else {
        return false;
    };
    path.is_dir()
        && (follow_symlinks
            || std::fs::canonicalize(&path).is_ok_and(|real| is_beneath(&real, &root.canonical)))
}

/// Python's `os.access(path, os.X_OK)` on a path below the root.
#[cfg(cgi)]
pub(crate) fn is_executable_at(root: &OpenRoot, relative: &[u8]) -> bool {
    rustix::fs::accessat(
        &root.dir,
        os_str(relative),
        rustix::fs::Access::EXEC_OK,
        rustix::fs::AtFlags::empty(),
    )
    .is_ok()
}

/// What an opened file is, for the special-file checks: only regular files are read, and
/// FIFOs, devices and sockets — opened without blocking — are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Directory,
    Regular,
    /// A FIFO, a device, a socket: never read.
    Special,
}

impl Kind {
    pub(crate) fn of(meta: &std::fs::Metadata) -> Self {
        if meta.is_dir() {
            Self::Directory
        } else if meta.is_file() {
            Self::Regular
        } else {
            Self::Special
        }
    }
}

/// Bytes as an `OsStr` (on Unix, any bytes; elsewhere UTF-8 or U+FFFD).
#[cfg(unix)]
pub(crate) fn os_str(bytes: &[u8]) -> &OsStr {
    std::os::unix::ffi::OsStrExt::from_bytes(bytes)
}

#[cfg(not(unix))]
pub(crate) fn os_str(bytes: &[u8]) -> &OsStr {
    std::str::from_utf8(bytes).unwrap_or("\u{fffd}").as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_stay_below_the_root() {
        let root = Root::new(PathBuf::from("/srv/www"));
        assert_eq!(
            root.relative(Path::new("/srv/www/a/b")),
            Some((b"a/b".to_vec(), false))
        );
        assert_eq!(
            root.relative(Path::new("/srv/www/a/./b/")),
            Some((b"a/b".to_vec(), true))
        );
        assert_eq!(
            root.relative(Path::new("/srv/www")),
            Some((Vec::new(), false))
        );
        assert_eq!(root.relative(Path::new("/srv/www/../etc/passwd")), None);
        assert_eq!(root.relative(Path::new("/srv/wwwx/a")), None);
        assert_eq!(root.relative(Path::new("/etc/passwd")), None);
        assert_eq!(root.relative(Path::new("")), None);
        assert_eq!(
            root.relative(Path::new("/srv/www//a/../b")),
            None,
            "a path that climbs is refused, even when it would land inside"
        );
        let relative_root = Root::new(PathBuf::from("public/"));
        assert_eq!(
            relative_root.relative(Path::new("public/a.txt")),
            Some((b"a.txt".to_vec(), false))
        );
        assert_eq!(relative_root.relative(Path::new("publicity/a.txt")), None);
        // Windows paths: `\\` separates as well as `/`.
        assert_eq!(
            relative_below(br"C:\srv\www\a\b.txt", br"C:\srv\www", true),
            Some((b"a/b.txt".to_vec(), false))
        );
        assert_eq!(
            relative_below(br"C:\srv\www\a/b\", br"C:\srv\www\", true),
            Some((b"a/b".to_vec(), true))
        );
        assert_eq!(
            relative_below(br"C:\srv\www\..\x", br"C:\srv\www", true),
            None
        );
        assert_eq!(relative_below(br"C:\srv\wwwx", br"C:\srv\www", true), None);
        // The canonical form of the folder, and another case, are the same folder.
        assert_eq!(
            relative_below(br"c:\Srv\WWW\a.txt", br"\\?\C:\srv\www", true),
            Some((b"a.txt".to_vec(), false))
        );
        assert_eq!(
            relative_below(br"\\host\share\a.txt", br"\\?\UNC\host\share", true),
            Some((b"a.txt".to_vec(), false))
        );
        assert_eq!(
            relative_below(br"\\host\share\a.txt", br"\\?\C:\host\share", true),
            None
        );
        assert_eq!(
            relative_below(br"/srv/www/a\..\b", b"/srv/www", false),
            Some((br"a\..\b".to_vec(), false)),
            "on Unix a backslash is part of the name"
        );
        let fs_root = Root::new(PathBuf::from("/"));
        assert_eq!(
            fs_root.relative(Path::new("/etc/x")),
            Some((b"etc/x".to_vec(), false))
        );
        assert_eq!(fs_root.relative(Path::new("/")), Some((Vec::new(), true)));
        assert_eq!(fs_root.relative(Path::new("etc/x")), None);
    }

    /// The check macOS and other systems without `openat2` rely on (`openat`, then the opened
    /// file's real path), run here with Linux's source of real paths and with none.
    #[cfg(unix)]
    #[test]
    fn opened_files_outside_the_root_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "secret").unwrap();
        let served = tempfile::tempdir().unwrap();
        let dir = served.path();
        std::fs::write(dir.join("file"), "file").unwrap();
        std::fs::create_dir(dir.join("sub")).unwrap();
        std::os::unix::fs::symlink("../file", dir.join("sub/up")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.join("out")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.join("outdir")).unwrap();
        let root = Root::new(dir.to_path_buf());
        let opened = root.open().unwrap();
        let unknown = |_: &File| Err(io::Error::other("no real path"));
        for relative in [&b"file"[..], b"sub/up", b"."] {
            assert!(open_then_check(&opened, relative, real_path).is_ok());
            assert!(open_then_check(&opened, relative, unknown).is_ok());
        }
        for relative in [&b"out"[..], b"outdir/secret", b"outdir"] {
            let refused = open_then_check(&opened, relative, real_path).unwrap_err();
            assert_eq!(refused.kind(), io::ErrorKind::NotFound);
            assert!(open_then_check(&opened, relative, unknown).is_err());
            assert!(open(&opened, relative, false).is_err());
            assert!(open(&opened, relative, true).is_ok(), "Python's behaviour");
        }
        assert!(is_beneath(
            Path::new("/private/var/www/a"),
            Path::new("/private/var/www")
        ));
        assert!(!is_beneath(
            Path::new("/private/var/wwwx"),
            Path::new("/private/var/www")
        ));
        assert!(!is_beneath(
            Path::new("/private/var"),
            Path::new("/private/var/www")
        ));
    }
}
