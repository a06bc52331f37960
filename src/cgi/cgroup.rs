//! Containment of everything a script starts: each script runs in a cgroup (v2) of its own,
//! below the server's own cgroup, and whatever is left in it when the script exits is killed
//! through `cgroup.kill` (Linux 5.14). A process cannot leave its cgroup without privileges,
//! so a daemon that escaped the script's process group with `setsid` goes too.
//!
//! Used where the host allows it: the server's cgroup must be writable (the server runs as
//! root, or its cgroup was delegated to it, as systemd does with `Delegate=yes`). Elsewhere the
//! script's process group is all that is killed, as before. Nothing outside the server's own
//! cgroup is touched, so an embedding application keeps its own processes and cgroups as they
//! are; it gains a directory `basehttp-cgi-PID` in its cgroup once it runs scripts, which stays
//! after it exits until a server next runs scripts in the same cgroup (and removes the
//! directories of servers no longer running).
//!
//! A script starts in its cgroup where the kernel allows (`CLONE_INTO_CGROUP`, see
//! `spawn.rs`), else it moves itself in through `cgroup.procs`.
//!
//! The cgroups are reused from one script to the next: creating and removing one costs about
//! a tenth of a script's start. A script that left nothing behind (`populated 0` in
//! `cgroup.events`, read without cgroupfs's lock) gives its cgroup back at once; one that did
//! goes through `cgroup.kill`, which takes that lock, on the blocking pool, and its cgroup is
//! removed once empty rather than reused (a kernel may kill whatever `CLONE_INTO_CGROUP`
//! starts in a cgroup with a kill behind it).

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::{Mode, OFlags};

/// The most idle cgroups kept for reuse; more are removed.
const POOL: usize = 64;

/// How long [`ScriptCgroup::release`] waits for the processes it killed to be gone.
const KILL_WAIT: Duration = Duration::from_secs(1);

/// The directory holding this server's script cgroups, and the idle ones.
#[derive(Debug)]
struct Cgroups {
    base: PathBuf,
    next: AtomicU64,
    idle: Mutex<Vec<ScriptCgroup>>,
}

/// One script's cgroup: the script starts in it (`CLONE_INTO_CGROUP` with `dir_fd`), or moves
/// itself in through `procs` before it `exec`s.
#[derive(Debug)]
pub(crate) struct ScriptCgroup {
    dir: PathBuf,
    /// The directory, opened `O_PATH`.
    dir_fd: OwnedFd,
    procs: File,
    /// `cgroup.events`, whose `populated` line says whether any process is left.
    events: File,
    /// `cgroup.kill`.
    kill: File,
}

/// This server's cgroups, when the host lets it create them; looked for once.
fn cgroups() -> Option<&'static Cgroups> {
    static CGROUPS: OnceLock<Option<Cgroups>> = OnceLock::new();
    CGROUPS
        .get_or_init(|| {
            let own = own_cgroup()?;
            remove_stale(&own);
            let base = own.join(format!("basehttp-cgi-{}", std::process::id()));
            match std::fs::create_dir(&base) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => {
                    tracing::debug!(target: crate::log::TARGET, "CGI: no cgroup for scripts ({err}): only their process groups are killed");
                    return None;
                }
            }
            // `cgroup.kill` arrived in Linux 5.14.
            if !base.join("cgroup.kill").exists() {
                let _ = std::fs::remove_dir(&base);
                return None;
            }
            Some(Cgroups {
                base,
                next: AtomicU64::new(0),
                idle: Mutex::new(Vec::new()),
            })
        })
        .as_ref()
}

/// The directory of this process's cgroup in the cgroup v2 hierarchy.
fn own_cgroup() -> Option<PathBuf> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = membership
        .lines()
        .find_map(|line| line.strip_prefix("0::"))?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mountinfo.lines().find_map(cgroup2_mount)?;
    Some(Path::new(&mount).join(path.trim_start_matches('/')))
}

/// The mount point on a line of `/proc/self/mountinfo`, when it mounts the cgroup v2
/// hierarchy (`ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS... - cgroup2 SOURCE ...`).
fn cgroup2_mount(line: &str) -> Option<String> {
    let (fields, after) = line.split_once(" - ")?;
    if after.split(' ').next()? != "cgroup2" {
        return None;
    }
    let mount = fields.split(' ').nth(4)?;
    // Spaces and a few others are octal-escaped.
    Some(mount.replace("\\040", " "))
}

/// Removes what servers that were killed left behind in `own`: their process is gone.
fn remove_stale(own: &Path) {
    let Ok(entries) = std::fs::read_dir(own) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("basehttp-cgi-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if let Ok(children) = std::fs::read_dir(entry.path()) {
            for child in children.flatten() {
                if child.path().is_dir() {
                    kill(&child.path());
                    let _ = std::fs::remove_dir(child.path());
                }
            }
        }
        let _ = std::fs::remove_dir(entry.path());
    }
}

/// Kills every process in the cgroup at `dir`.
fn kill(dir: &Path) {
    let _ = std::fs::write(dir.join("cgroup.kill"), b"1");
}

/// A cgroup for the next script, when the host allows them.
pub(crate) fn take() -> Option<ScriptCgroup> {
    let cgroups = cgroups()?;
    if let Some(idle) = cgroups
        .idle
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop()
    {
        return Some(idle);
    }
    let n = cgroups.next.fetch_add(1, Ordering::Relaxed);
    let dir = cgroups.base.join(n.to_string());
    let created = std::fs::create_dir(&dir).and_then(|()| {
        let write = |name| std::fs::OpenOptions::new().write(true).open(dir.join(name));
        Ok(ScriptCgroup {
            dir_fd: rustix::fs::open(
                &dir,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?,
            procs: write("cgroup.procs")?,
            events: File::open(dir.join("cgroup.events"))?,
            kill: write("cgroup.kill")?,
            dir: dir.clone(),
        })
    });
    match created {
        Ok(cgroup) => Some(cgroup),
        Err(err) => {
            tracing::debug!(target: crate::log::TARGET, "CGI: cannot create a cgroup ({err})");
            let _ = std::fs::remove_dir(&dir);
            None
        }
    }
}

impl ScriptCgroup {
    /// The cgroup as [`spawn`](super::spawn::spawn) starts a script in it.
    pub(crate) fn for_spawn(&self) -> super::spawn::Cgroup<'_> {
        super::spawn::Cgroup::new(self.dir_fd.as_fd(), self.procs.as_fd())
    }

    /// The cgroup's path below its parent's parent (`basehttp-cgi-PID/N`).
    #[cfg(test)]
    pub(crate) fn name(&self) -> String {
        let mut parts = self.dir.iter().rev().take(2).collect::<Vec<_>>();
        parts.reverse();
        parts
            .iter()
            .map(|p| p.to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Whether no process is left in the cgroup, from `cgroup.events` (a read that does not
    /// wait for cgroupfs's lock: safe on the runtime). `false` when it cannot tell.
    pub(crate) fn is_empty(&self) -> bool {
        self.populated() == Some(false)
    }

    /// Whether any process is in the cgroup, from `cgroup.events`; `None` when it cannot tell.
    fn populated(&self) -> Option<bool> {
        let mut events = [0u8; 128];
        let n = rustix::io::pread(&self.events, &mut events, 0).ok()?;
        populated(&events[..n])
    }

    /// Gives an empty cgroup back for the next script; `Err` with it when the pool is full
    /// (it is then to be removed: see [`remove`](Self::remove)).
    pub(crate) fn recycle(self) -> Result<(), Self> {
        let Some(cgroups) = cgroups() else {
            return Ok(());
        };
        let mut idle = cgroups.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < POOL {
            idle.push(self);
            Ok(())
        } else {
            Err(self)
        }
    }

    /// Kills whatever is still in the cgroup (all of it: the script has exited), waits for it
    /// to be gone ([`KILL_WAIT`] at most) and removes the cgroup. A cgroup something was killed
    /// in is not used again: on some kernels (6.18 among them) every process later started in
    /// it with `CLONE_INTO_CGROUP` is killed as it starts. Writes to cgroupfs, which waits for
    /// its lock, and waits: not on the runtime.
    pub(crate) fn release(self) {
        self.kill();
        let deadline = Instant::now() + KILL_WAIT;
        // `populated` reads `cgroup.events`, and a change after that read wakes the `poll`.
        while self.populated() == Some(true) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(left) = Timespec::try_from(left) else {
                break;
            };
            if left == Timespec::default() {
                break;
            }
            let mut events = [PollFd::new(&self.events, PollFlags::PRI)];
            match rustix::event::poll(&mut events, Some(&left)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(_) => break,
            }
        }
        self.remove();
    }

    /// Kills whatever is still in the cgroup, without waiting for it to be gone, and tries to
    /// remove the cgroup; an empty one goes back to the pool. For a script dropped before it
    /// was waited for (see `Reaper`'s `Drop`). The kill only sends signals, so the removal
    /// usually finds the cgroup still populated: the directory then stays, never reused, for
    /// this process's life, and a later server's start removes it.
    pub(crate) fn abandon(self) {
        if self.is_empty() {
            if let Err(full) = self.recycle() {
                full.remove();
            }
            return;
        }
        self.kill();
        self.remove();
    }

    /// Kills every process in the cgroup (`cgroup.kill`).
    pub(crate) fn kill(&self) {
        if let Err(err) = (&self.kill).write_all(b"1") {
            tracing::warn!(target: crate::log::TARGET, "CGI: cannot kill what a script left behind ({err})");
        }
    }

    /// Removes the (empty) cgroup's directory, or logs why not. An `rmdir` in cgroupfs, which
    /// waits for its lock: not on the runtime.
    pub(crate) fn remove(&self) {
        if let Err(err) = std::fs::remove_dir(&self.dir) {
            // Removed with the server's others at its next start.
            tracing::debug!(target: crate::log::TARGET, "CGI: cannot remove a script's cgroup ({err})");
        }
    }
}

/// The `populated` line of a `cgroup.events` file: whether any process is in the cgroup or its
/// descendants.
fn populated(events: &[u8]) -> Option<bool> {
    events
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"populated "))
        .and_then(|value| match value {
            b"0" => Some(false),
            b"1" => Some(true),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_populated_line() {
        assert_eq!(populated(b"populated 0\nfrozen 0\n"), Some(false));
        assert_eq!(populated(b"populated 1\nfrozen 0\n"), Some(true));
        assert_eq!(populated(b"frozen 0\npopulated 1\n"), Some(true));
        assert_eq!(populated(b"populated 2\n"), None);
        assert_eq!(populated(b"populated 0x\n"), None);
        assert_eq!(populated(b""), None);
        assert_eq!(populated(b"populated"), None);
    }

    #[test]
    fn finds_the_cgroup2_mount() {
        let line = "35 24 0:30 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate";
        assert_eq!(
            cgroup2_mount(line).as_deref(),
            Some("/sys/fs/cgroup/unified")
        );
        let v1 = "36 24 0:31 / /sys/fs/cgroup/memory rw shared:11 - cgroup cgroup rw,memory";
        assert_eq!(cgroup2_mount(v1), None);
        let spaced = "1 2 0:3 / /mnt/cg\\040two rw - cgroup2 none rw";
        assert_eq!(cgroup2_mount(spaced).as_deref(), Some("/mnt/cg two"));
        assert_eq!(cgroup2_mount("garbage"), None);
    }
}
