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
        let dir = File::open(&self.path)?;
        if !dir.metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        let canonical = std::fs::canonicalize(&self.path)?;
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
        let rest = match below(path, self.path.as_os_str().as_encoded_bytes()) {
            Some(rest) => rest,
            None => {
                let opened = self.cached()?;
                below(path, opened.canonical.as_os_str().as_encoded_bytes())?
            }
        };
        let mut relative = Vec::with_capacity(rest.len());
        for name in rest.split(|&b| b == b'/') {
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
        Some((relative, path.ends_with(b"/")))
    }
}

/// What follows `prefix` in `path`, when `path` is `prefix` or lies below it (component-wise:
/// `/srv/www` is not below `/srv/w`). Compared as bytes, without building components.
fn below<'a>(path: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    if prefix == b"/" {
        // The file-system root: every absolute path lies below it.
        return path.strip_prefix(b"/");
    }
    let prefix = prefix.strip_suffix(b"/").unwrap_or(prefix);
    let rest = path.strip_prefix(prefix)?;
    match rest {
        [] | [b'/', ..] => Some(rest),
        _ => None,
    }
}

/// Opens `relative` (no `..`, no leading `/`; `.` for the root itself) below the root,
/// refusing what resolves outside the root unless `follow_symlinks`.
#[cfg(unix)]
pub(crate) fn open(root: &OpenRoot, relative: &[u8], follow_symlinks: bool) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let relative = os_str(relative);
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
    let path = root.canonical.join(os_str(relative));
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
fn is_beneath(root: &OpenRoot, file: &File, relative: &OsStr) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let real = match std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
        Ok(real) => real,
        Err(_) => std::fs::canonicalize(root.canonical.join(relative))?,
    };
    Ok(real.starts_with(&root.canonical))
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
            || std::fs::canonicalize(root.canonical.join(os_str(relative)))
                .is_ok_and(|real| real.starts_with(&root.canonical)))
}

#[cfg(not(unix))]
pub(crate) fn is_dir_at(root: &OpenRoot, relative: &[u8], _follow_symlinks: bool) -> bool {
    root.canonical.join(os_str(relative)).is_dir()
}

/// Python's `os.access(path, os.X_OK)` on a path below the root.
#[cfg(all(unix, feature = "cgi"))]
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
        let fs_root = Root::new(PathBuf::from("/"));
        assert_eq!(
            fs_root.relative(Path::new("/etc/x")),
            Some((b"etc/x".to_vec(), false))
        );
        assert_eq!(fs_root.relative(Path::new("/")), Some((Vec::new(), true)));
        assert_eq!(fs_root.relative(Path::new("etc/x")), None);
    }
}
