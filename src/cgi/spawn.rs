//! Starting a script the way `posix_spawn` does, plus the one thing `posix_spawn` cannot do:
//! change user. The crate's `unsafe` process code lives here (elsewhere there is one system
//! call on Linux, `cachestat` in `src/sendfile.rs`, and two on Windows:
//! `GetFinalPathNameByHandleW` and `setsockopt`).
//!
//! `clone(CLONE_VM | CLONE_VFORK)` starts a child that shares the server's memory (nothing is
//! copied, whatever the server's size) while the calling thread waits; the child resets its
//! signal handlers, enters its own process group, its cgroup and its working directory, installs
//! its stdio, closes every other descriptor, drops to the script's user and group, and `execve`s
//! the script, at which point it has its own memory and the caller resumes. glibc's and musl's
//! `posix_spawn` are built the same way.
//!
//! A script with a cgroup of its own is started *in* it where the kernel allows (`clone3` with
//! `CLONE_INTO_CGROUP`, Linux 5.7; on x86-64): a process that moves itself into a cgroup by
//! writing to `cgroup.procs` waits for the kernel to make every thread of the system see the
//! move (an RCU grace period, several milliseconds when the system is idle), and the calling
//! thread, a runtime worker, waits with it. `clone3` with a child stack needs the few lines of
//! assembly every C library's `clone` has: the child starts on the new stack and calls
//! `child_main` there. Where `clone3` is refused (a seccomp filter, an older kernel) or on the
//! other targets, the child writes itself into `cgroup.procs` as before.
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
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

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
    /// The `cgroup.procs` of the cgroup to move into, or -1 (none, or started in it already).
    cgroup: RawFd,
    /// The `errno` of the step that failed, written by the child before it exits.
    error: AtomicI32,
}

/// A script's own cgroup, for [`spawn`]: its directory, to start the script in it, and its
/// `cgroup.procs` open for writing, for the script to move itself in where that is refused.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cgroup<'a> {
    /// The cgroup's directory (`O_PATH` is enough).
    pub(crate) dir: BorrowedFd<'a>,
    /// Its `cgroup.procs`.
    pub(crate) procs: BorrowedFd<'a>,
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
    cgroup: Option<Cgroup<'_>>,
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

    let mut child = Child {
        program: program.as_ptr(),
        argv: argv_ptrs.as_ptr(),
        envp: env_ptrs.as_ptr(),
        cwd: cwd.as_ptr(),
        stdio: [fd_at(0), fd_at(1), fd_at(2)],
        ids,
        cgroup: -1,
        error: AtomicI32::new(0),
    };
    // 16-byte aligned, as every ABI wants a stack.
    let mut stack = vec![0u128; STACK_SIZE / 16];
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
    // In its cgroup from the start where the kernel allows; else it moves itself in.
    let mut in_cgroup = None;
    if let Some(cgroup) = cgroup {
        // SAFETY: as for `clone` below.
        match unsafe { clone_into_cgroup(&child, &mut stack, cgroup.dir, &mut pidfd) } {
            Ok(pid) => in_cgroup = Some(pid),
            Err(_) => child.cgroup = cgroup.procs.as_raw_fd(),
        }
    }
    let started = match in_cgroup {
        Some(pid) => Ok(pid),
        None => {
            // SAFETY: `child_main` receives `&child`, which outlives the child's use of it: with
            // `CLONE_VFORK` this call returns only once the child has called `execve` (and no
            // longer shares this memory) or has exited. The stack pointer is the end of a live
            // allocation of `STACK_SIZE` bytes used by nothing else. `&mut pidfd` receives the
            // `CLONE_PIDFD` descriptor.
            let pid = unsafe {
                libc::clone(
                    child_main,
                    stack.as_mut_ptr_range().end.cast::<libc::c_void>(),
                    libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD,
                    std::ptr::from_ref(&child).cast_mut().cast::<libc::c_void>(),
                    std::ptr::from_mut(&mut pidfd),
                )
            };
            if pid < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(pid)
            }
        }
    };
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
    let pid = started.map_err(|clone_error| match clone_error.raw_os_error() {
        // No `CLONE_PIDFD` (Linux before 5.2), or no `clone` at all (a sandbox).
        Some(libc::EINVAL | libc::ENOSYS) => {
            io::Error::new(io::ErrorKind::Unsupported, clone_error)
        }
        _ => clone_error,
    })?;
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

/// `CLONE_INTO_CGROUP` (Linux 5.7): `clone3`'s `cgroup` field names the child's cgroup.
#[cfg(target_arch = "x86_64")]
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Set once `clone3` with `CLONE_INTO_CGROUP` was refused as such (`ENOSYS`: a seccomp filter
/// or a kernel before 5.3; `E2BIG` or `EINVAL`: before 5.7): it is not tried again.
static NO_CLONE_INTO_CGROUP: AtomicBool = AtomicBool::new(false);

/// `struct clone_args` of `clone3`, as far as `cgroup` (the kernel's `CLONE_ARGS_SIZE_VER2`).
#[cfg(target_arch = "x86_64")]
#[repr(C)]
#[derive(Debug, Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Starts `child_main(child)` as `spawn`'s `clone` does, on `stack`, but in the cgroup `dir`
/// from the start (`clone3` with `CLONE_INTO_CGROUP`): the child's process id, or the `errno`
/// the kernel refused it with.
///
/// # Safety
///
/// As for `spawn`'s `clone`: every signal is blocked, and `child` and `stack` stay alive and
/// untouched until this returns (with `CLONE_VFORK` that is once the child has called `execve`
/// or exited).
#[cfg(target_arch = "x86_64")]
unsafe fn clone_into_cgroup(
    child: &Child,
    stack: &mut [u128],
    dir: BorrowedFd<'_>,
    pidfd: &mut libc::c_int,
) -> Result<libc::pid_t, libc::c_int> {
    if NO_CLONE_INTO_CGROUP.load(Ordering::Relaxed) {
        return Err(libc::ENOSYS);
    }
    let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD;
    let args = CloneArgs {
        flags: u64::from(flags.unsigned_abs()) | CLONE_INTO_CGROUP,
        pidfd: std::ptr::from_mut(pidfd).expose_provenance() as u64,
        exit_signal: libc::SIGCHLD.unsigned_abs().into(),
        stack: stack.as_mut_ptr().expose_provenance() as u64,
        stack_size: std::mem::size_of_val(stack) as u64,
        cgroup: dir.as_raw_fd().unsigned_abs().into(),
        ..CloneArgs::default()
    };
    let entry: extern "C" fn(*mut libc::c_void) -> libc::c_int = child_main;
    let ret: i64;
    // SAFETY: the system call reads `args` (alive here) and writes the pidfd through a pointer
    // to `pidfd`. The parent resumes after `syscall` with the child's id or `-errno` in `rax`,
    // and only `rcx` and `r11` clobbered. The child resumes there too, with 0 in `rax`, every
    // other register as the parent's and the stack pointer at the end of `stack` (16-byte
    // aligned, as the `call` wants): it calls `child_main(child)`, which ends the process with
    // `execve` or `_exit` and never returns (`ud2` would trap if it did). Nothing of this
    // function's frame is used on the child's side.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") &raw const args,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") std::ptr::from_ref(child),
            in("r13") entry,
            out("rcx") _,
            out("r11") _,
        );
    }
    if let Ok(pid) = libc::pid_t::try_from(ret)
        && pid >= 0
    {
        return Ok(pid);
    }
    let errno = libc::c_int::try_from(-ret).unwrap_or(libc::EINVAL);
    if matches!(errno, libc::ENOSYS | libc::E2BIG | libc::EINVAL) {
        NO_CLONE_INTO_CGROUP.store(true, Ordering::Relaxed);
    }
    Err(errno)
}

/// Tries [`clone_into_cgroup`] once with a child whose `execve` fails at once, and turns it off
/// when the child is killed before it runs: some kernels (6.18 among them) kill a process
/// started with `CLONE_INTO_CGROUP` when the cgroup's count of `cgroup.kill`s differs from that
/// of the cgroup of the process starting it, which happens when the server's own cgroup was
/// killed once before (a systemd unit restarted in the same cgroup). `cgroup` must be one
/// nothing has been killed in (see `ScriptCgroup::release`).
pub(crate) fn try_clone_into_cgroup(cgroup: Cgroup<'_>) {
    if NO_CLONE_INTO_CGROUP.load(Ordering::Relaxed) {
        return;
    }
    let Ok(null) = std::fs::File::open("/dev/null") else {
        return;
    };
    let null = null.as_fd();
    let started = spawn(
        Path::new("/"),
        [OsStr::new("basehttp-probe")],
        [],
        Path::new("/"),
        [null, null, null],
        None,
        Some(cgroup),
    );
    // `Err`: it ran (`execve` of a directory fails), or could not start at all.
    if let Ok(started) = started {
        wait_blocking(&started.pidfd);
        NO_CLONE_INTO_CGROUP.store(true, Ordering::Relaxed);
        tracing::debug!(target: crate::log::TARGET, "CGI: a script started in its cgroup is killed on this kernel: scripts move in themselves");
    }
}

/// `clone3` is called from assembly on x86-64 only: elsewhere the child moves itself into its
/// cgroup.
///
/// # Safety
///
/// None needed: it starts nothing.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn clone_into_cgroup(
    _child: &Child,
    _stack: &mut [u128],
    _dir: BorrowedFd<'_>,
    _pidfd: &mut libc::c_int,
) -> Result<libc::pid_t, libc::c_int> {
    Err(libc::ENOSYS)
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
        run_in(program, argv, ids, None)
    }

    fn run_in(
        program: &str,
        argv: &[&str],
        ids: Option<(u32, u32)>,
        cgroup: Option<Cgroup<'_>>,
    ) -> (io::Result<i32>, String) {
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
            cgroup,
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

    /// A cgroup of this test process's own, when its cgroup (v2) is writable; `None` on a
    /// laptop, a failure in CI.
    fn script_cgroup() -> Option<crate::cgi::cgroup::ScriptCgroup> {
        let cgroup = crate::cgi::cgroup::take();
        assert!(
            cgroup.is_some() || std::env::var_os("BASEHTTP_REQUIRE_TOOLS").is_none(),
            "a writable cgroup v2 is required (BASEHTTP_REQUIRE_TOOLS is set)"
        );
        cgroup
    }

    /// The script's cgroup as `/proc/self/cgroup` shows it (the v2 line's path).
    const SHOW_CGROUP: &str = "sed -n 's/^0:://p' /proc/self/cgroup";

    #[test]
    fn starts_in_its_cgroup_without_moving_itself() {
        let Some(cgroup) = script_cgroup() else {
            return;
        };
        let null = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap();
        // A child that wrote itself into `cgroup.procs` would write to /dev/null here.
        let fds = Cgroup {
            dir: cgroup.for_spawn().dir,
            procs: null.as_fd(),
        };
        let (status, out) = run_in("/bin/sh", &["sh", "-c", SHOW_CGROUP], None, Some(fds));
        assert_eq!(status.unwrap(), 0);
        assert!(
            out.trim_end().ends_with(&cgroup.name()),
            "{out:?} is not in {:?}",
            cgroup.name()
        );
        assert!(cgroup.is_empty());
        let _ = cgroup.recycle();
    }

    #[test]
    fn moves_itself_in_where_it_cannot_start_there() {
        let Some(cgroup) = script_cgroup() else {
            return;
        };
        // Not a cgroup: `clone3` refuses it (EBADF), and the child writes itself in.
        let not_a_cgroup = std::fs::File::open("/").unwrap();
        let fds = Cgroup {
            dir: not_a_cgroup.as_fd(),
            procs: cgroup.for_spawn().procs,
        };
        let (status, out) = run_in("/bin/sh", &["sh", "-c", SHOW_CGROUP], None, Some(fds));
        assert_eq!(status.unwrap(), 0);
        assert!(out.trim_end().ends_with(&cgroup.name()), "{out:?}");
        // Also when its `execve` fails, which it reports as without a cgroup.
        let (status, _) = run_in(
            "/nonexistent/program",
            &["x"],
            None,
            Some(cgroup.for_spawn()),
        );
        assert_eq!(status.unwrap_err().kind(), io::ErrorKind::NotFound);
        assert!(cgroup.is_empty());
        let _ = cgroup.recycle();
    }
}
