//! Starting a script the way `posix_spawn` does, plus the one thing `posix_spawn` cannot do:
//! change user. The crate's `unsafe` process code lives here (elsewhere there is one system
//! call on Linux, `cachestat` in `src/sendfile.rs`, and two on Windows:
//! `GetFinalPathNameByHandleW` and `setsockopt`).
//!
//! `clone(CLONE_VM | CLONE_VFORK)` starts a child that shares the server's memory (nothing is
//! copied, whatever the server's size) while the calling thread waits; the child resets its
//! signal handlers, enters its own process group, its cgroup and its working directory, installs
//! its stdio, closes every other descriptor, drops to the script's user and group, and `execve`s the script, at which point it has its own memory
//! and the caller resumes. glibc's and musl's `posix_spawn` are built the same way.
//!
//! Compiled for 64-bit Linux targets with the generic signal ABI (x86-64, AArch64, RISC-V,
//! LoongArch), where ids are 32 bits wide in the system calls used and a kernel signal set is 8
//! bytes; used when the kernel has `waitid(P_PIDFD)` (Linux 5.4).
//!
//! What makes this sound:
//!
//! - everything the child needs (paths, `argv`, `envp`, descriptors) is prepared before the
//!   `clone`, so the child never allocates or takes a lock;
//! - the child calls only async-signal-safe wrappers of single system calls, and changes its
//!   credentials with raw `setgroups`/`setresgid`/`setresuid` system calls: glibc's wrappers
//!   would signal every thread of the memory they believe they belong to — the server's;
//! - every signal (also the C library's internal ones) is blocked around the `clone` with a raw
//!   `rt_sigprocmask`, and the child sets every handler back to the default with raw
//!   `rt_sigaction` before it unblocks them, so no handler of the server can run on the child's
//!   side (scripts start with default dispositions, `SIGPIPE` included);
//! - `CLONE_PIDFD` returns a descriptor for the child, so waiting and signalling never race
//!   with a reused process id;
//! - a failure before `execve` is reported through memory the two share, after which the
//!   child exits and is reaped here.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// The child's stack: its few wrappers of system calls need a fraction of this.
const STACK_SIZE: usize = 64 * 1024;

/// The kernel's signal set (`_NSIG / 8` bytes) on the targets this module is built for.
const KERNEL_SIGSET: libc::c_long = 8;

/// Whether this kernel can wait for a child through a pidfd (`waitid(P_PIDFD)`, Linux 5.4):
/// asked once, by waiting on a pidfd of this process itself (`ECHILD` when supported).
pub(crate) fn supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let Ok(own) = rustix::process::pidfd_open(
            rustix::process::getpid(),
            rustix::process::PidfdFlags::empty(),
        ) else {
            return false;
        };
        let waited = rustix::process::waitid(
            rustix::process::WaitId::PidFd(own.as_fd()),
            rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOHANG,
        );
        waited.err() == Some(rustix::io::Errno::CHILD)
    })
}

/// A started script.
#[derive(Debug)]
pub(crate) struct Started {
    /// Its process id (and process group id).
    pub(crate) pid: rustix::process::Pid,
    /// A descriptor that becomes readable when it exits, for `waitid(P_PIDFD)`.
    pub(crate) pidfd: OwnedFd,
}

impl Started {
    /// The process id and the pidfd registered with the runtime (which must have I/O enabled).
    /// On failure the script is killed and reaped.
    pub(crate) fn into_async(
        self,
    ) -> io::Result<(rustix::process::Pid, tokio::io::unix::AsyncFd<OwnedFd>)> {
        let Self { pid, pidfd } = self;
        // SAFETY: the `AsyncFd` owns the `OwnedFd`, which keeps the descriptor open, and refers
        // to the same description, until the `AsyncFd` is dropped.
        let registered = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE)
        };
        match registered {
            Ok(fd) => Ok((pid, fd)),
            Err(err) => {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                let (pidfd, cause) = err.into_parts();
                wait_blocking(&pidfd);
                Err(cause)
            }
        }
    }
}

/// What the child runs with, all of it built before the `clone`.
struct Child {
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    cwd: *const libc::c_char,
    /// The descriptors to become 0, 1 and 2; all are 3 or above.
    stdio: [RawFd; 3],
    /// The user and group to become, or `None` to stay the server's.
    ids: Option<(libc::uid_t, libc::gid_t)>,
    /// The `cgroup.procs` of the cgroup to move into, or -1.
    cgroup: RawFd,
    /// The `errno` of the step that failed, written by the child before it exits.
    error: AtomicI32,
}

/// Starts `program` with `argv` (`argv[0]` first) and exactly `env`, in `cwd`, in a new process
/// group, with `stdio` as its standard input, output and error, as `ids` (uid, gid; the
/// supplementary groups become just that gid) when given.
///
/// Fails with `Unsupported`-class errors (`ENOSYS`, `EINVAL`) on kernels without `CLONE_PIDFD`
/// (before Linux 5.2); the caller falls back to the standard library then.
pub(crate) fn spawn<'a>(
    program: &Path,
    argv: impl IntoIterator<Item = &'a OsStr>,
    env: impl IntoIterator<Item = (&'a OsStr, &'a OsStr)>,
    cwd: &Path,
    stdio: [BorrowedFd<'_>; 3],
    ids: Option<(u32, u32)>,
    cgroup: Option<BorrowedFd<'_>>,
) -> io::Result<Started> {
    if ids.is_some_and(|(uid, gid)| uid == u32::MAX || gid == u32::MAX) {
        // -1 means "unchanged" to setresuid: the script would keep the server's user.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "user or group id -1",
        ));
    }
    // The pidfd is registered with the runtime's reactor afterwards; without one that would
    // panic with the script running.
    tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
    let program = c_string(program.as_os_str().as_bytes())?;
    let cwd = c_string(cwd.as_os_str().as_bytes())?;
    let argv = argv
        .into_iter()
        .map(|arg| c_string(arg.as_bytes()))
        .collect::<io::Result<Vec<_>>>()?;
    let env = env
        .into_iter()
        .map(|(key, value)| {
            let mut pair = Vec::with_capacity(key.len() + value.len() + 1);
            pair.extend_from_slice(key.as_bytes());
            pair.push(b'=');
            pair.extend_from_slice(value.as_bytes());
            c_string(&pair)
        })
        .collect::<io::Result<Vec<_>>>()?;
    let argv_ptrs = null_terminated(&argv);
    let env_ptrs = null_terminated(&env);
    // The child's dup2(fd, 0..=2) must not overwrite a descriptor it has yet to install.
    let raised = stdio
        .iter()
        .map(|fd| {
            if fd.as_raw_fd() < 3 {
                rustix::io::fcntl_dupfd_cloexec(fd, 3).map(Some)
            } else {
                Ok(None)
            }
        })
        .collect::<rustix::io::Result<Vec<Option<OwnedFd>>>>()?;
    let fd_at = |i: usize| {
        raised[i]
            .as_ref()
            .map_or(stdio[i].as_raw_fd(), |fd| fd.as_fd().as_raw_fd())
    };

    let child = Child {
        program: program.as_ptr(),
        argv: argv_ptrs.as_ptr(),
        envp: env_ptrs.as_ptr(),
        cwd: cwd.as_ptr(),
        stdio: [fd_at(0), fd_at(1), fd_at(2)],
        ids,
        cgroup: cgroup.map_or(-1, |fd| fd.as_raw_fd()),
        error: AtomicI32::new(0),
    };
    // 16-byte aligned, as every ABI wants a stack.
    let mut stack = vec![0u128; STACK_SIZE / 16];
    let stack_top = stack.as_mut_ptr_range().end.cast::<libc::c_void>();
    let mut pidfd: libc::c_int = -1;

    let all: u64 = u64::MAX;
    let mut old_mask: u64 = 0;
    // SAFETY: a raw `rt_sigprocmask` (glibc's wrappers leave its internal signals unblocked)
    // with pointers to two local 8-byte sets.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            &raw const all,
            &raw mut old_mask,
            KERNEL_SIGSET,
        );
    }
    // SAFETY: `child_main` receives `&child`, which outlives the child's use of it: with
    // `CLONE_VFORK` this call returns only once the child has called `execve` (and no longer
    // shares this memory) or has exited. `stack_top` is the end of a live allocation of
    // `STACK_SIZE` bytes used by nothing else. `&mut pidfd` receives the `CLONE_PIDFD` descriptor.
    let pid = unsafe {
        libc::clone(
            child_main,
            stack_top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD,
            std::ptr::from_ref(&child).cast_mut().cast::<libc::c_void>(),
            std::ptr::from_mut(&mut pidfd),
        )
    };
    let clone_error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &raw const old_mask,
            std::ptr::null_mut::<u64>(),
            KERNEL_SIGSET,
        );
    }
    drop(stack);
    if pid < 0 {
        return Err(match clone_error.raw_os_error() {
            // No `CLONE_PIDFD` (Linux before 5.2), or no `clone` at all (a sandbox).
            Some(libc::EINVAL | libc::ENOSYS) => {
                io::Error::new(io::ErrorKind::Unsupported, clone_error)
            }
            _ => clone_error,
        });
    }
    // SAFETY: `clone` succeeded, so `pidfd` is a new descriptor that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let pid = rustix::process::Pid::from_raw(pid)
        .ok_or_else(|| io::Error::other("clone returned process id 0"))?;
    match child.error.load(Ordering::Acquire) {
        0 => Ok(Started { pid, pidfd }),
        error => {
            // It has exited: reap it.
            wait_blocking(&pidfd);
            Err(io::Error::from_raw_os_error(error))
        }
    }
}

/// The child's side, on its own stack, in the server's memory, until `execve`.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `&Child` that `spawn` passed, alive until this process has exec'd or
    // exited (the parent's thread is suspended until then).
    let child = unsafe { &*arg.cast_const().cast::<Child>() };
    // SAFETY: see `Child::exec`; the pointers in `child` are valid C strings and arrays.
    let error = unsafe { child.exec() };
    child.error.store(error.max(1), Ordering::Release);
    // SAFETY: ends this process without running anything of the server's (no atexit, no
    // destructors, no stdio flush).
    unsafe { libc::_exit(127) }
}

impl Child {
    /// Sets the process up and `execve`s; returns only on failure, with `errno`.
    ///
    /// # Safety
    ///
    /// Only in the child of `spawn`'s `clone`, with every signal blocked.
    unsafe fn exec(&self) -> libc::c_int {
        let errno = || {
            io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO)
        };
        // SAFETY: single system calls on valid arguments; none allocates or locks.
        unsafe {
            // No handler of the server may run here: every signal back to its default. An
            // all-zero kernel `sigaction` is `SIG_DFL`, no flags, an empty mask.
            let default = [0u64; 4];
            for signal in 1..=64 {
                if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                    libc::syscall(
                        libc::SYS_rt_sigaction,
                        signal,
                        &raw const default,
                        std::ptr::null_mut::<u64>(),
                        KERNEL_SIGSET,
                    );
                }
            }
            // Its own process group. (Not `setsid`: a new session is also a new scheduler
            // autogroup, which costs a fifth of the throughput; a script that moves itself to
            // another group is still signalled through its pidfd.)
            if libc::setpgid(0, 0) != 0 || libc::chdir(self.cwd) != 0 {
                return errno();
            }
            // Its own cgroup, which it cannot leave (`0` is the writer itself). Best effort:
            // without it, its process group still contains it.
            if self.cgroup >= 0 {
                libc::write(self.cgroup, b"0".as_ptr().cast(), 1);
            }
            for (target, fd) in (0..).zip(self.stdio) {
                if libc::dup2(fd, target) < 0 {
                    return errno();
                }
            }
            // Descriptors an embedding program opened without `O_CLOEXEC` stay with it
            // (Linux 5.9; on older kernels `execve` closes the close-on-exec ones only).
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            if let Some((uid, gid)) = self.ids {
                // Raw system calls: they change this process only.
                if libc::syscall(libc::SYS_setgroups, 1 as libc::c_long, &raw const gid) != 0
                    || libc::syscall(libc::SYS_setresgid, gid, gid, gid) != 0
                    || libc::syscall(libc::SYS_setresuid, uid, uid, uid) != 0
                {
                    return errno();
                }
            }
            let none: u64 = 0;
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                &raw const none,
                std::ptr::null_mut::<u64>(),
                KERNEL_SIGSET,
            );
            libc::execve(self.program, self.argv, self.envp);
        }
        errno()
    }
}

/// Reaps the child behind `pidfd`, waiting for it to exit.
pub(crate) fn wait_blocking(pidfd: &OwnedFd) {
    loop {
        let waited = rustix::process::waitid(
            rustix::process::WaitId::PidFd(pidfd.as_fd()),
            rustix::process::WaitIdOptions::EXITED,
        );
        if waited.err() != Some(rustix::io::Errno::INTR) {
            return;
        }
    }
}

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte"))
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| CStr::as_ptr(s))
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn run(program: &str, argv: &[&str], ids: Option<(u32, u32)>) -> (io::Result<i32>, String) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        let _entered = runtime.enter();
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let argv: Vec<&OsStr> = argv.iter().map(OsStr::new).collect();
        let started = spawn(
            Path::new(program),
            argv,
            [(OsStr::new("ONLY"), OsStr::new("this"))],
            Path::new("/"),
            [null.as_fd(), write.as_fd(), write.as_fd()],
            ids,
            None,
        );
        drop(write);
        let mut out = String::new();
        let status = started.map(|started| {
            std::fs::File::from(read).read_to_string(&mut out).unwrap();
            let status = rustix::process::waitid(
                rustix::process::WaitId::PidFd(started.pidfd.as_fd()),
                rustix::process::WaitIdOptions::EXITED,
            )
            .unwrap()
            .unwrap();
            status.exit_status().unwrap_or(-1)
        });
        (status, out)
    }

    #[test]
    fn runs_with_exactly_its_environment_group_and_directory() {
        let (status, out) = run(
            "/bin/sh",
            &[
                "sh",
                "-c",
                "echo \"$0 $ONLY $(pwd)\"; env | wc -l; cut -d' ' -f5 /proc/$$/stat; echo $$",
            ],
            None,
        );
        assert_eq!(status.unwrap(), 0);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "sh this /");
        // ONLY, plus PWD/SHLVL/_ that sh itself adds.
        assert!(lines[1].trim().parse::<u32>().unwrap() <= 4, "{out}");
        assert_eq!(lines[2], lines[3], "its own process group: {out}");
        assert!(supported(), "this kernel waits through pidfds");
    }

    #[test]
    fn failures_before_exec_are_reported() {
        let (status, _) = run("/nonexistent/program", &["x"], None);
        assert_eq!(status.unwrap_err().kind(), io::ErrorKind::NotFound);
        let (status, _) = run("/bin/sh", &["sh", "-c", "exit 7"], None);
        assert_eq!(status.unwrap(), 7);
        let (status, _) = run("/bin/sh", &["sh", "-c", "id"], Some((u32::MAX, 0)));
        assert_eq!(status.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn drops_to_the_given_user_when_root() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let (status, out) = run(
            "/bin/sh",
            &["sh", "-c", "id -u; id -g; id -G"],
            Some((65534, 65534)),
        );
        assert_eq!(status.unwrap(), 0);
        assert_eq!(out, "65534\n65534\n65534\n");
        // The server itself is untouched.
        assert!(rustix::process::geteuid().is_root());
        assert!(rustix::process::getegid().is_root());
    }
}
