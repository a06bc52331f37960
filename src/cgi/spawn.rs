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
//! thread of the blocking pool, and the request, wait with it. `clone3` with a child stack
//! needs the few lines of assembly every C library's `clone` has: the child starts on the new
//! stack and calls `child_main` there. Where `clone3` is refused (a seccomp filter, an older
//! kernel), where the kernel kills the child before it runs (see `start_in_cgroup`), and on the
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
//!
//! Also here: the server's environment, read in place from the C library's `environ` for each
//! script's (as `getenv` reads it) instead of copied whole; `std::env::set_var`'s contract
//! forbids changing it while another thread reads it.

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
    /// [`NEVER_RAN`] until the child runs, then 0, or the `errno` of the step that failed,
    /// written by the child before it exits.
    error: AtomicI32,
}

/// [`Child::error`] before the child has run anything.
const NEVER_RAN: i32 = i32::MIN;

/// A script's own cgroup, for [`spawn`]: its directory, to start the script in it, and its
/// `cgroup.procs` open for writing, for the script to move itself in where that is refused.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cgroup<'a> {
    /// The cgroup's directory (`O_PATH` is enough).
    pub(crate) dir: BorrowedFd<'a>,
    /// Its `cgroup.procs`.
    pub(crate) procs: BorrowedFd<'a>,
    /// Set once starting a child in its cgroup failed in a way that will not change: it is not
    /// tried again.
    pub(crate) no_clone3: &'a AtomicBool,
}

impl<'a> Cgroup<'a> {
    /// The cgroup `dir` with its `procs`, where a lasting refusal of `clone3` is remembered for
    /// the whole process.
    pub(crate) fn new(dir: BorrowedFd<'a>, procs: BorrowedFd<'a>) -> Self {
        static NO_CLONE3: AtomicBool = AtomicBool::new(false);
        Self {
            dir,
            procs,
            no_clone3: &NO_CLONE3,
        }
    }
}

/// Starts `program` with `argv` (`argv[0]` first) and exactly `env`, in `cwd`, in a new process
/// group, with `stdio` as its standard input, output and error, as `ids` (uid, gid; the
/// supplementary groups become just that gid) when given.
///
/// Fails with `Unsupported`-class errors (`ENOSYS`, `EINVAL`) on kernels without `CLONE_PIDFD`
/// (before Linux 5.2); the caller falls back to the standard library then.
pub(crate) fn spawn<'a>(
    program: &Path,
    argv: impl IntoIterator<Item = &'a OsStr, IntoIter: Clone>,
    env: impl IntoIterator<Item = (&'a OsStr, &'a OsStr), IntoIter: Clone>,
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
    let argv = argv.into_iter();
    let mut argv_strings = Packed::with_capacity(argv.clone().map(|arg| arg.len() + 1));
    for arg in argv {
        argv_strings.push(&[arg.as_bytes()])?;
    }
    let env = env.into_iter();
    let mut env_strings =
        Packed::with_capacity(env.clone().map(|(key, value)| key.len() + value.len() + 2));
    for (key, value) in env {
        env_strings.push(&[key.as_bytes(), b"=", value.as_bytes()])?;
    }
    let argv_ptrs = argv_strings.pointers();
    let env_ptrs = env_strings.pointers();
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
        error: AtomicI32::new(NEVER_RAN),
    };
    let mut stack = Stack::take();
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
    let mut killed = None;
    if let Some(cgroup) = cgroup {
        in_cgroup = start_in_cgroup(&child, &mut stack.0, cgroup, &mut pidfd, &mut killed);
        if in_cgroup.is_none() {
            child.cgroup = cgroup.procs.as_raw_fd();
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
                    stack.0.as_mut_ptr_range().end.cast::<libc::c_void>(),
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
    stack.give_back();
    if let Some(killed) = killed {
        wait_blocking(&killed);
        tracing::debug!(target: crate::log::TARGET, "CGI: a script started in its cgroup was killed before it ran: scripts move in themselves from now on");
    }
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
        // Started, or killed before it ran (by someone else: it is reaped as any script).
        0 | NEVER_RAN => Ok(Started { pid, pidfd }),
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
    child.error.store(0, Ordering::Relaxed);
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

/// Starts the child in `cgroup` ([`clone_into_cgroup`]): its process id, or `None` when it is
/// to be started the other way, moving itself in. That is so when the kernel refuses
/// `clone3` (from then on always, when it refuses it as such: `ENOSYS` from a seccomp filter
/// or a kernel before 5.3, `E2BIG` or `EINVAL` before 5.7), and when the child was killed
/// before it ran: some kernels (6.18 among them) kill a process started with
/// `CLONE_INTO_CGROUP` in a cgroup whose count of `cgroup.kill`s differs from that of the
/// cgroup of the process starting it (the server's own cgroup was killed before, as when a
/// systemd unit restarts in the same cgroup, or something wrote `cgroup.kill` in the script's
/// cgroup); the killed child goes to `killed`, to be reaped once the signals are unblocked,
/// and the other way is used from then on.
fn start_in_cgroup(
    child: &Child,
    stack: &mut [u128],
    cgroup: Cgroup<'_>,
    pidfd: &mut libc::c_int,
    killed: &mut Option<OwnedFd>,
) -> Option<libc::pid_t> {
    if cgroup.no_clone3.load(Ordering::Relaxed) {
        return None;
    }
    // SAFETY: as for `spawn`'s `clone`: every signal is blocked, `child` and `stack` are alive
    // and nothing else uses them.
    let started = unsafe { clone_into_cgroup(child, stack, cgroup.dir, pidfd) };
    match started {
        Ok(pid) if child.error.load(Ordering::Acquire) != NEVER_RAN => Some(pid),
        Ok(_) => {
            // SAFETY: `clone3` succeeded, so `pidfd` is a new descriptor that nothing else owns.
            *killed = Some(unsafe { OwnedFd::from_raw_fd(*pidfd) });
            *pidfd = -1;
            cgroup.no_clone3.store(true, Ordering::Relaxed);
            None
        }
        Err(errno) => {
            if matches!(errno, libc::ENOSYS | libc::E2BIG | libc::EINVAL) {
                cgroup.no_clone3.store(true, Ordering::Relaxed);
            }
            None
        }
    }
}

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

#[cfg(target_arch = "x86_64")]
const _: () = assert!(std::mem::size_of::<CloneArgs>() == 88);

/// Starts `child_main(child)` as `spawn`'s `clone` does, on `stack`, but in the cgroup `dir`
/// from the start (`clone3` with `CLONE_INTO_CGROUP`): the child's process id, or the `errno`
/// the kernel refused it with. (Not `CLONE_CLEAR_SIGHAND`: it leaves ignored signals ignored,
/// and scripts start with every disposition at its default, `SIGPIPE` included.)
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
    // aligned, as the `call` wants): it marks the outermost frame (`rbp` 0, as C libraries do)
    // and calls `child_main(child)`, which ends the process with `execve` or `_exit` and never
    // returns (`ud2` would trap if it did). Nothing of this function's frame is used on the
    // child's side.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
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
    match libc::pid_t::try_from(ret) {
        Ok(pid) if pid >= 0 => Ok(pid),
        _ => Err(libc::c_int::try_from(-ret).unwrap_or(libc::EINVAL)),
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

/// Calls `f` with the server's environment read in place, from the C library's `environ`, where
/// `std::env::vars_os` would copy every variable of it for every script (two allocations each),
/// to let through a few. Entries are split as the standard library splits them (at the first
/// `=` after the first byte; an entry without one is skipped).
pub(crate) fn with_server_env<R>(f: impl for<'e> FnOnce(ServerEnv<'e>) -> R) -> R {
    unsafe extern "C" {
        // Mutable: `setenv` points it at a new array when the old one is full. Read by value
        // below (a copy of the pointer, no reference to the static).
        static mut environ: *const *const libc::c_char;
    }
    // SAFETY: reading the pointer the C library keeps, as `getenv` does. `std::env::set_var`
    // and `remove_var`, which change the array and its strings, require of their callers that
    // no other thread reads the environment meanwhile other than through `std::env` (which
    // takes a lock this read does not), and `f` runs on this thread before this function
    // returns; `ServerEnv` cannot outlive it.
    let next = unsafe { environ };
    f(ServerEnv {
        next,
        _environ: std::marker::PhantomData,
    })
}

/// The server's environment as [`with_server_env`] lends it: `(name, value)` pairs.
pub(crate) struct ServerEnv<'e> {
    /// The next entry of the null-terminated `environ` array, or null.
    next: *const *const libc::c_char,
    _environ: std::marker::PhantomData<&'e OsStr>,
}

impl<'e> Iterator for ServerEnv<'e> {
    type Item = (&'e OsStr, &'e OsStr);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.next.is_null() {
                return None;
            }
            // SAFETY: `next` points into the null-terminated array `environ` pointed to (see
            // `with_server_env`): at an entry, or at the null pointer that ends it.
            let entry = unsafe { *self.next };
            if entry.is_null() {
                return None;
            }
            // SAFETY: not past the terminating null pointer, just checked.
            self.next = unsafe { self.next.add(1) };
            // SAFETY: every entry is a NUL-terminated string that lives as long as the array.
            let entry = unsafe { CStr::from_ptr(entry) }.to_bytes();
            if let Some((name, value)) = split_entry(entry) {
                return Some((OsStr::from_bytes(name), OsStr::from_bytes(value)));
            }
        }
    }
}

/// An `environ` entry's name and value, split as the standard library splits them: at the
/// first `=` after the first byte (a name is never empty, but may start with `=`); `None`
/// without one.
fn split_entry(entry: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = entry.get(1..)?.iter().position(|&b| b == b'=')? + 1;
    Some((&entry[..at], &entry[at + 1..]))
}

/// NUL-terminated strings in one buffer (`argv`'s or `envp`'s), for the pointer array `execve`
/// takes: two allocations for a script's whole environment instead of one per variable.
struct Packed {
    bytes: Vec<u8>,
    starts: Vec<usize>,
}

impl Packed {
    /// Room for strings of the given sizes (terminating NUL included).
    fn with_capacity(sizes: impl Iterator<Item = usize>) -> Self {
        let (count, bytes) = sizes.fold((0, 0), |(count, bytes), size| (count + 1, bytes + size));
        Self {
            bytes: Vec::with_capacity(bytes),
            starts: Vec::with_capacity(count),
        }
    }

    /// Appends the concatenation of `parts` as one string.
    fn push(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        if parts.iter().any(|part| part.contains(&0)) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte"));
        }
        self.starts.push(self.bytes.len());
        for part in parts {
            self.bytes.extend_from_slice(part);
        }
        self.bytes.push(0);
        Ok(())
    }

    /// A pointer to each string, then a null pointer; valid while `self` is neither changed
    /// nor dropped.
    fn pointers(&self) -> Vec<*const libc::c_char> {
        self.starts
            .iter()
            .map(|&start| self.bytes[start..].as_ptr().cast())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    }
}

/// A child's stack, 16-byte aligned as every ABI wants, kept by each thread that starts
/// children for its next one: the child is done with it when `clone` returns (it has called
/// `execve` or exited), and allocating and zeroing 64 KiB for every script cost more than the
/// rest of the buffers together.
struct Stack(Box<[u128]>);

thread_local! {
    static STACKS: std::cell::Cell<Option<Box<[u128]>>> = const { std::cell::Cell::new(None) };
}

impl Stack {
    fn take() -> Self {
        let kept = STACKS.try_with(std::cell::Cell::take).ok().flatten();
        Self(kept.unwrap_or_else(|| vec![0u128; STACK_SIZE / 16].into_boxed_slice()))
    }

    fn give_back(self) {
        let _ = STACKS.try_with(|cell| cell.set(Some(self.0)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::io::Read;

    #[test]
    fn the_server_environment_is_what_std_reads() {
        let read_in_place: Vec<(OsString, OsString)> = with_server_env(|env| {
            env.map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect()
        });
        let copied: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        assert!(!copied.is_empty(), "a test runs with some environment");
        assert_eq!(read_in_place, copied);
    }

    #[test]
    fn entries_split_where_std_splits_them() {
        let split = |entry: &'static str| {
            split_entry(entry.as_bytes()).map(|(name, value)| {
                (
                    String::from_utf8_lossy(name).into_owned(),
                    String::from_utf8_lossy(value).into_owned(),
                )
            })
        };
        let pair = |name: &str, value: &str| Some((name.to_owned(), value.to_owned()));
        assert_eq!(split("PATH=/bin:/usr/bin"), pair("PATH", "/bin:/usr/bin"));
        assert_eq!(split("A=b=c"), pair("A", "b=c"));
        assert_eq!(split("EMPTY="), pair("EMPTY", ""));
        assert_eq!(split("=C:=C:\\dir"), pair("=C:", "C:\\dir"));
        assert_eq!(split("NO_EQUALS"), None);
        assert_eq!(split("="), None);
        assert_eq!(split(""), None);
    }

    #[test]
    fn packed_strings_are_nul_terminated_in_one_buffer() {
        let parts: [&[&[u8]]; 3] = [&[b"PATH", b"=", b"/bin"], &[b"EMPTY", b"=", b""], &[b""]];
        let mut packed = Packed::with_capacity(
            parts
                .iter()
                .map(|p| p.iter().map(|s| s.len()).sum::<usize>() + 1),
        );
        let capacity = packed.bytes.capacity();
        for p in parts {
            packed.push(p).unwrap();
        }
        assert_eq!(packed.bytes.capacity(), capacity, "sized once");
        let pointers = packed.pointers();
        assert_eq!(pointers.len(), 4);
        assert!(pointers[3].is_null());
        let strings: Vec<&[u8]> = pointers[..3]
            .iter()
            // SAFETY: each points to a NUL-terminated string in `packed`, alive here.
            .map(|&p| unsafe { CStr::from_ptr(p) }.to_bytes())
            .collect();
        assert_eq!(strings, [&b"PATH=/bin"[..], b"EMPTY=", b""]);
        let err = packed.push(&[b"A=", b"x\0y"]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_thread_keeps_its_stack_for_the_next_script() {
        // Where this thread's kept stack is, after a script.
        let kept_after_a_script = || {
            let (status, _) = run("/bin/true", &["true"], None);
            assert_eq!(status.unwrap(), 0);
            STACKS.with(|cell| {
                let stack = cell.take();
                let address = stack.as_ref().map(|s| s.as_ptr());
                cell.set(stack);
                address
            })
        };
        let kept = kept_after_a_script();
        assert!(kept.is_some(), "the stack was given back");
        assert_eq!(kept_after_a_script(), kept, "and used again");
    }

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

    /// Whether starting in a cgroup is still on after a test's spawns: off where the
    /// environment refuses `clone3` (a seccomp filter), which skips what depends on it on a
    /// laptop and fails in CI.
    #[cfg(target_arch = "x86_64")]
    fn clone3_works(no_clone3: &AtomicBool) -> bool {
        let works = !no_clone3.load(Ordering::Relaxed);
        assert!(
            works || std::env::var_os("BASEHTTP_REQUIRE_TOOLS").is_none(),
            "clone3 with CLONE_INTO_CGROUP was refused or turned off (required: \
             BASEHTTP_REQUIRE_TOOLS is set)"
        );
        works
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn starts_in_its_cgroup_without_moving_itself() {
        let Some(cgroup) = script_cgroup() else {
            return;
        };
        let null = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap();
        let no_clone3 = AtomicBool::new(false);
        // A child that wrote itself into `cgroup.procs` would write to /dev/null here.
        let fds = Cgroup {
            procs: null.as_fd(),
            no_clone3: &no_clone3,
            ..cgroup.for_spawn()
        };
        let (status, out) = run_in("/bin/sh", &["sh", "-c", SHOW_CGROUP], None, Some(fds));
        assert_eq!(status.unwrap(), 0);
        if clone3_works(&no_clone3) {
            assert!(
                out.trim_end().ends_with(&cgroup.name()),
                "{out:?} is not in {:?}",
                cgroup.name()
            );
        }
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
        let no_clone3 = AtomicBool::new(false);
        let fds = Cgroup {
            dir: not_a_cgroup.as_fd(),
            no_clone3: &no_clone3,
            ..cgroup.for_spawn()
        };
        let (status, out) = run_in("/bin/sh", &["sh", "-c", SHOW_CGROUP], None, Some(fds));
        assert_eq!(status.unwrap(), 0);
        assert!(out.trim_end().ends_with(&cgroup.name()), "{out:?}");
        // EBADF is this cgroup's refusal only: the path stays on (where `clone3` works at all).
        #[cfg(target_arch = "x86_64")]
        clone3_works(&no_clone3);
        // A failed `execve` is reported as without a cgroup, also for a child started in one.
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

    /// After a `cgroup.kill` in its cgroup, a script still starts there and runs: where the
    /// kernel kills what `CLONE_INTO_CGROUP` starts in such a cgroup (6.18 does), the child
    /// killed before it ran is reaped and the script moves itself in instead, from then on.
    #[test]
    fn runs_in_a_cgroup_something_was_killed_in() {
        let Some(cgroup) = script_cgroup() else {
            return;
        };
        cgroup.kill();
        let no_clone3 = AtomicBool::new(false);
        let fds = Cgroup {
            no_clone3: &no_clone3,
            ..cgroup.for_spawn()
        };
        for _ in 0..2 {
            let (status, out) = run_in("/bin/sh", &["sh", "-c", SHOW_CGROUP], None, Some(fds));
            assert_eq!(status.unwrap(), 0);
            assert!(out.trim_end().ends_with(&cgroup.name()), "{out:?}");
        }
        eprintln!(
            "clone3 into a killed cgroup {}",
            if no_clone3.load(Ordering::Relaxed) {
                "kills the child here: turned off"
            } else {
                "works here"
            }
        );
        cgroup.release();
    }
}
