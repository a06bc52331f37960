//! Upload storage: a file is written unseen beside its target and appears under its name only
//! once whole. Blocking calls: run on tokio's blocking pool.
//!
//! On Linux the file is created with `O_TMPFILE` (it has no name while it is written, so a
//! listing never shows it and a crash leaves nothing behind) and linked into place with
//! `linkat`, which never replaces a name that exists. Elsewhere (and on file systems without
//! `O_TMPFILE`, or without `/proc`) it is a hidden `.basehttp-upload-….part` file in the same
//! folder, with a random part in its name, removed unless it is given its name. On file
//! systems without hard links (FAT, some network ones) that is `renameat2(RENAME_NOREPLACE)`
//! on Linux, else an empty placeholder created exclusively and then replaced.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

/// A folder files are stored in (opened beneath the served directory).
#[derive(Debug)]
pub(crate) struct Folder {
    pub(crate) dir: File,
}

/// A file being written, not yet visible under its name.
#[derive(Debug)]
pub(crate) struct Staged {
    folder: Arc<Folder>,
    pub(crate) file: Option<File>,
    /// The hidden name it has, when it has one (not `O_TMPFILE`).
    temp: Option<String>,
}

/// How [`Staged::persist`] treats a name that exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Replace a file of that name (never a folder).
    Replace,
    /// Fail with `AlreadyExists`.
    Keep,
}

/// How the hidden names of files being written start; uploads may not use it.
pub(crate) const TEMP_PREFIX: &str = ".basehttp-upload-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh hidden name: unique in this process, and not guessable by another client.
fn temp_name() -> String {
    use std::hash::BuildHasher;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = std::collections::hash_map::RandomState::new().hash_one(n);
    format!("{TEMP_PREFIX}{}-{n}-{random:016x}.part", std::process::id())
}

/// Whether `/proc/self/fd` can name an `O_TMPFILE` file for `linkat`.
#[cfg(target_os = "linux")]
fn proc_fd_usable() -> bool {
    static USABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *USABLE.get_or_init(|| std::path::Path::new("/proc/self/fd").is_dir())
}

impl Folder {
    /// Starts a file in this folder, mode `0666` less the umask (as Python's `open`).
    pub(crate) fn stage(self: &Arc<Self>) -> io::Result<Staged> {
        #[cfg(target_os = "linux")]
        match proc_fd_usable().then(|| {
            rustix::fs::openat(
                &self.dir,
                ".",
                OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o666),
            )
        }) {
            Some(Ok(fd)) => {
                return Ok(Staged {
                    folder: self.clone(),
                    file: Some(File::from(fd)),
                    temp: None,
                });
            }
            // No /proc, or a file system without O_TMPFILE: a hidden name instead.
            None | Some(Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL)) => {}
            Some(Err(err)) => return Err(err.into()),
        }
        loop {
            let name = temp_name();
            match rustix::fs::openat(
                &self.dir,
                name.as_str(),
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::from_raw_mode(0o666),
            ) {
                Ok(fd) => {
                    return Ok(Staged {
                        folder: self.clone(),
                        file: Some(File::from(fd)),
                        temp: Some(name),
                    });
                }
                Err(Errno::EXIST) => {}
                Err(err) => return Err(err.into()),
            }
        }
    }

    /// What is at `name` in this folder, without following a final symlink: `None` if nothing.
    pub(crate) fn kind_of(&self, name: &str) -> io::Result<Option<rustix::fs::FileType>> {
        match rustix::fs::statat(&self.dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(rustix::fs::FileType::from_raw_mode(stat.st_mode))),
            Err(Errno::NOENT) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }
}

impl Staged {
    /// Gives the file its name: atomically, so a reader sees either nothing (or the old file)
    /// or the whole new one. With [`Existing::Keep`] an existing name is an `AlreadyExists`
    /// error, decided by the file system (two uploads of one name: one wins, one fails), and
    /// the file can be given another name; with [`Existing::Replace`] a folder of that name is
    /// an `IsADirectory` error. `Ok(true)` when a file was replaced.
    pub(crate) fn persist(&mut self, name: &str, existing: Existing) -> io::Result<bool> {
        let dir = &self.folder.dir;
        let replaced = match (self.temp.clone(), existing) {
            (None, Existing::Keep) => {
                let file = self
                    .file
                    .as_ref()
                    .ok_or_else(|| io::Error::other("file closed"))?;
                link_anonymous(file, dir, name)?;
                false
            }
            (None, Existing::Replace) => {
                let file = self
                    .file
                    .as_ref()
                    .ok_or_else(|| io::Error::other("file closed"))?;
                // Named first (hidden), then renamed over the old file.
                loop {
                    let temp = temp_name();
                    match link_anonymous(file, dir, &temp) {
                        Ok(()) => {
                            self.temp = Some(temp);
                            break;
                        }
                        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(err) => return Err(err),
                    }
                }
                self.rename_over(name)?
            }
            (Some(temp), Existing::Keep) => {
                place_new(dir, &temp, name)?;
                false
            }
            (Some(_), Existing::Replace) => self.rename_over(name)?,
        };
        self.temp = None;
        self.file = None;
        Ok(replaced)
    }

    /// Renames the hidden file over `name`; whether a file was there.
    fn rename_over(&self, name: &str) -> io::Result<bool> {
        let dir = &self.folder.dir;
        let temp = self.temp.as_deref().unwrap_or_default();
        let existed = match self.folder.kind_of(name)? {
            Some(kind) if kind.is_dir() => {
                return Err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    "a folder has that name",
                ));
            }
            other => other.is_some(),
        };
        rustix::fs::renameat(dir, temp, dir, name)?;
        Ok(existed)
    }
}

/// Gives the hidden file `temp` the name `name`, never replacing one: a hard link (then the
/// hidden name removed); without hard links, a rename that refuses to replace; without that, an
/// empty placeholder created exclusively, then replaced.
fn place_new(dir: &File, temp: &str, name: &str) -> io::Result<()> {
    match rustix::fs::linkat(dir, temp, dir, name, AtFlags::empty()) {
        Ok(()) => {
            let _ = rustix::fs::unlinkat(dir, temp, AtFlags::empty());
            return Ok(());
        }
        Err(Errno::PERM | Errno::OPNOTSUPP | Errno::NOSYS | Errno::MLINK) => {}
        Err(err) => return Err(err.into()),
    }
    #[cfg(target_os = "linux")]
    match rustix::fs::renameat_with(dir, temp, dir, name, rustix::fs::RenameFlags::NOREPLACE) {
        Ok(()) => return Ok(()),
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {}
        Err(err) => return Err(err.into()),
    }
    let placeholder = rustix::fs::openat(
        dir,
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::from_raw_mode(0o600),
    )?;
    drop(placeholder);
    rustix::fs::renameat(dir, temp, dir, name).inspect_err(|_| {
        let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
    })?;
    Ok(())
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = rustix::fs::unlinkat(&self.folder.dir, temp.as_str(), AtFlags::empty());
        }
    }
}

/// Links an `O_TMPFILE` file to `name` (`linkat` through `/proc/self/fd`, which needs no
/// privilege, unlike `AT_EMPTY_PATH`).
fn link_anonymous(file: &File, dir: &File, name: &str) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    rustix::fs::linkat(
        rustix::fs::CWD,
        OsStr::new(&proc_path),
        dir,
        name,
        AtFlags::SYMLINK_FOLLOW,
    )?;
    Ok(())
}

/// Whether an error means the disk (or the user's quota, or the file size limit) is full:
/// `507 Insufficient Storage`.
pub(crate) fn is_storage_full(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error().map(Errno::from_raw_os_error),
        Some(Errno::NOSPC | Errno::DQUOT | Errno::FBIG)
    )
}
