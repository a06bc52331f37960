//! Running one script: the spawn (the `posix_spawn` path, never a fork of the server; `nobody`
//! through the helper), the supervisor that reaps it and kills its process group, stderr to the
//! log, and stdout as the response body.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::process::Command;
use tokio::sync::{OwnedSemaphorePermit, oneshot, watch};
use tokio::time::Sleep;

use crate::handler::BoxError;

/// The variable that turns a process started from [`helper_program`] into the helper.
pub(crate) const HELPER_VAR: &str = "BASEHTTP_CGI_EXEC";

/// The executable to re-run as the helper, once [`super::exec_helper`] has registered it.
static HELPER: OnceLock<PathBuf> = OnceLock::new();

/// Registers the running executable as the helper that drops privileges before `exec`.
pub(crate) fn register_helper() {
    if let Ok(exe) = std::env::current_exe() {
        let _ = HELPER.set(exe);
    }
}

fn helper_program() -> Option<&'static PathBuf> {
    HELPER.get()
}

/// The helper's work, in a process started with [`HELPER_VAR`] set to `uid:gid` and the
/// arguments `script argv0 args…`: drop to `uid:gid` (groups cleared), then `exec` the script.
/// Returns only on failure.
pub(crate) fn run_helper(ids: &OsStr) -> io::Error {
    use std::os::unix::process::CommandExt;
    let ids = ids.to_string_lossy();
    let Some((uid, gid)) = ids
        .split_once(':')
        .and_then(|(u, g)| Some((u.parse::<u32>().ok()?, g.parse::<u32>().ok()?)))
    else {
        return io::Error::new(io::ErrorKind::InvalidInput, "bad user and group");
    };
    let mut args = std::env::args_os().skip(1);
    let (Some(script), Some(argv0)) = (args.next(), args.next()) else {
        return io::Error::new(io::ErrorKind::InvalidInput, "no script to run");
    };
    let mut command = std::process::Command::new(&script);
    command.arg0(argv0).args(args).env_remove(HELPER_VAR);
    // Single-threaded at this point: the per-thread calls change the whole process.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::process::{Gid, Uid};
        let gid = Gid::from_raw(gid);
        let dropped = rustix::thread::set_thread_groups(&[gid])
            .and_then(|()| rustix::thread::set_thread_res_gid(gid, gid, gid))
            .and_then(|()| {
                let uid = Uid::from_raw(uid);
                rustix::thread::set_thread_res_uid(uid, uid, uid)
            });
        if let Err(err) = dropped {
            return err.into();
        }
    }
    // Elsewhere the standard library drops the supplementary groups (when root), then sets
    // the group and the user, in this process just before `exec`.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    command.uid(uid).gid(gid);
    command.exec()
}

/// The user scripts run as when the server is root and nothing else is configured: `nobody`,
/// from `/etc/passwd` (Python's `nobody_uid()`), else 65534.
pub(crate) fn nobody() -> (u32, u32) {
    static NOBODY: OnceLock<(u32, u32)> = OnceLock::new();
    *NOBODY.get_or_init(|| {
        std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|passwd| nobody_in(&passwd))
            .unwrap_or((65_534, 65_534))
    })
}

/// `nobody`'s user and group ids in a `passwd` file. macOS writes them as `-2`: the id is the
/// same 32 bits (4294967294).
fn nobody_in(passwd: &str) -> Option<(u32, u32)> {
    let id = |field: &str| -> Option<u32> {
        field.parse::<u32>().ok().or_else(|| {
            let signed = field.parse::<i32>().ok().filter(|id| *id != -1)?;
            Some(u32::from_ne_bytes(signed.to_ne_bytes()))
        })
    };
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != "nobody" {
            return None;
        }
        let _password = fields.next();
        Some((id(fields.next()?)?, id(fields.next()?)?))
    })
}

/// What the script reads on stdin.
pub(crate) enum Stdin {
    /// No request body.
    Null,
    /// The body, streamed by a pump task.
    Piped,
    /// The body, spooled to a file first (it arrived without a length).
    File(std::fs::File),
}

/// How to start one script.
pub(crate) struct Spawn {
    pub(crate) program: PathBuf,
    pub(crate) arg0: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: super::env::Environment,
    pub(crate) cwd: PathBuf,
    pub(crate) stdin: Stdin,
    /// Run as this `uid:gid` instead of the server's user.
    pub(crate) run_as: Option<(u32, u32)>,
}

/// The parent's end of the script's stdout or stderr.
pub(crate) type PipeReader = tokio::net::unix::pipe::Receiver;
/// The parent's end of the script's stdin.
pub(crate) type PipeWriter = tokio::net::unix::pipe::Sender;

/// A started script: the server's ends of its pipes, and the process to wait for.
#[derive(Debug)]
pub(crate) struct Script {
    pub(crate) stdin: Option<PipeWriter>,
    pub(crate) stdout: PipeReader,
    pub(crate) stderr: PipeReader,
    pub(crate) process: Process,
}

/// A script's process. Dropped before it has been waited for, its process group is killed
/// and the process reaped.
#[derive(Debug)]
pub(crate) enum Process {
    /// Started by [`super::spawn`]: waited for through its pidfd.
    #[cfg(clone_spawn)]
    PidFd(Reaper),
    /// Started by the standard library (other systems, kernels before 5.4), with its pid.
    Std(tokio::process::Child, Option<rustix::process::Pid>),
}

/// A child started with a pidfd, reaped exactly once.
#[cfg(clone_spawn)]
#[derive(Debug)]
pub(crate) struct Reaper {
    pid: rustix::process::Pid,
    /// `None` once reaped.
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
    /// The script's own cgroup, emptied once it has exited.
    cgroup: Option<super::cgroup::ScriptCgroup>,
}

#[cfg(clone_spawn)]
impl Reaper {
    async fn wait(&mut self) -> io::Result<i32> {
        use rustix::process::{WaitId, WaitIdOptions};
        let Some(pidfd) = self.fd.as_ref() else {
            return Err(io::Error::other("already reaped"));
        };
        let status = loop {
            let mut ready = pidfd.readable().await?;
            // Exited but not yet reaped: its group id cannot have been reused.
            kill_group(Some(self.pid), rustix::process::Signal::KILL);
            match rustix::process::waitid(
                WaitId::PidFd(std::os::fd::AsFd::as_fd(pidfd.get_ref())),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
            )? {
                Some(status) => break status,
                None => ready.clear_ready(),
            }
        };
        self.fd = None;
        if let Some(cgroup) = self.cgroup.take() {
            // Nothing left (the common case): straight back to the pool. Otherwise a write to
            // cgroupfs and an `rmdir` (only the `rmdir` when the pool is full): off the runtime.
            if !cgroup.is_empty() {
                drop(tokio::task::spawn_blocking(move || cgroup.release()));
            } else if let Err(full) = cgroup.recycle() {
                drop(tokio::task::spawn_blocking(move || full.remove()));
            }
        }
        Ok(status
            .exit_status()
            .or_else(|| status.terminating_signal().map(|s| -s))
            .unwrap_or(-1))
    }
}

#[cfg(clone_spawn)]
impl Drop for Reaper {
    fn drop(&mut self) {
        let Some(pidfd) = self.fd.take() else { return };
        // Only when the script is dropped before it was waited for: its supervisor dropped
        // (the runtime shutting down), a start failing half-way, or a response future dropped
        // between the start on the blocking pool and its first poll (then on a worker: rare,
        // and the wait short). `SIGKILL` cannot be caught: the wait lasts as long as the
        // kernel takes to tear the process down.
        kill_group(Some(self.pid), rustix::process::Signal::KILL);
        super::spawn::wait_blocking(pidfd.get_ref());
        if let Some(cgroup) = self.cgroup.take() {
            cgroup.abandon();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Not yet reaped (tokio's `id()` is `None` once it has been): the group id is still
        // this script's. `kill_on_drop` and the `Reaper` take care of the leader.
        #[allow(irrefutable_let_patterns, reason = "the only variant off Linux")]
        if let Self::Std(child, pid) = self {
            if child.id().is_some() {
                kill_group(*pid, rustix::process::Signal::KILL);
            }
        }
    }
}

impl Process {
    /// Signals the script's process group, and the script itself (through its pidfd, should it
    /// have moved to another group).
    fn signal(&self, signal: rustix::process::Signal) {
        kill_group(self.pid(), signal);
        #[cfg(clone_spawn)]
        if let Self::PidFd(Reaper { fd: Some(fd), .. }) = self {
            let _ = rustix::process::pidfd_send_signal(fd.get_ref(), signal);
        }
    }

    fn pid(&self) -> Option<rustix::process::Pid> {
        match self {
            #[cfg(clone_spawn)]
            Self::PidFd(reaper) => Some(reaper.pid),
            Self::Std(_, pid) => *pid,
        }
    }

    /// Waits for the script to exit, kills what is left of its process group, and reaps it;
    /// returns Python's `waitstatus_to_exitcode` (the exit code, or minus the signal).
    async fn wait(&mut self) -> io::Result<i32> {
        match self {
            #[cfg(clone_spawn)]
            Self::PidFd(reaper) => reaper.wait().await,
            Self::Std(child, pid) => {
                let status = child.wait().await;
                // Reaped already (the standard library has no way to wait without reaping): a
                // new group with this id within these microseconds is the accepted risk of
                // this fallback.
                kill_group(*pid, rustix::process::Signal::KILL);
                status.map(exit_code)
            }
        }
    }
}

/// Starts the script in its own process group, with nothing of the server's environment but
/// `env`, its stdout and stderr piped to the server. On Linux, [`super::spawn`] starts it
/// without copying the server's memory, also when it changes user. Elsewhere, dropping to
/// another user goes through the helper (a fresh `exec` of this executable) when one is
/// registered, and through the standard library's `fork` otherwise.
pub(crate) fn spawn(mut spec: Spawn) -> io::Result<Script> {
    use std::os::fd::{AsFd, OwnedFd};
    let pipe = cloexec_pipe;
    let (stdout, stdout_child) = pipe()?;
    let (stderr, stderr_child) = pipe()?;
    let (stdin_child, stdin): (Option<OwnedFd>, Option<OwnedFd>) =
        match std::mem::replace(&mut spec.stdin, Stdin::Null) {
            Stdin::Null => (None, None),
            Stdin::Piped => {
                let (read, write) = pipe()?;
                (Some(read), Some(write))
            }
            Stdin::File(file) => (Some(file.into()), None),
        };
    let stdio = [
        match &stdin_child {
            Some(fd) => fd.as_fd(),
            None => dev_null()?,
        },
        stdout_child.as_fd(),
        stderr_child.as_fd(),
    ];
    #[cfg(clone_spawn)]
    let process = {
        let argv =
            std::iter::once(spec.arg0.as_os_str()).chain(spec.args.iter().map(|a| a.as_os_str()));
        let env = spec.env.iter().map(|(k, v)| (k.as_ref(), v.as_os_str()));
        let cgroup = super::cgroup::take();
        let started = if super::spawn::supported() {
            super::spawn::spawn(
                &spec.program,
                argv,
                env,
                &spec.cwd,
                stdio,
                spec.run_as,
                cgroup.as_ref().map(super::cgroup::ScriptCgroup::for_spawn),
            )
        } else {
            Err(io::ErrorKind::Unsupported.into())
        };
        match started {
            Ok(started) => {
                let (pid, fd) = started.into_async()?;
                Process::PidFd(Reaper {
                    pid,
                    fd: Some(fd),
                    cgroup,
                })
            }
            Err(err) if err.kind() == io::ErrorKind::Unsupported => std_spawn(&spec, stdio)?,
            Err(err) => return Err(err),
        }
    };
    #[cfg(not(clone_spawn))]
    let process = std_spawn(&spec, stdio)?;
    drop((stdin_child, stdout_child, stderr_child));
    Ok(Script {
        stdin: stdin.map(PipeWriter::from_owned_fd).transpose()?,
        stdout: PipeReader::from_owned_fd(stdout)?,
        stderr: PipeReader::from_owned_fd(stderr)?,
        process,
    })
}

/// `/dev/null`, the standard input of every script without a request body: opened once and
/// kept (its reads end at once whoever else holds it), not opened and closed for each script.
fn dev_null() -> io::Result<std::os::fd::BorrowedFd<'static>> {
    use std::os::fd::{AsFd, OwnedFd};
    static DEV_NULL: std::sync::OnceLock<OwnedFd> = std::sync::OnceLock::new();
    if let Some(fd) = DEV_NULL.get() {
        return Ok(fd.as_fd());
    }
    let opened: OwnedFd = std::fs::File::open("/dev/null")?.into();
    Ok(DEV_NULL.get_or_init(|| opened).as_fd())
}

/// A pipe whose ends are closed on `exec` (set atomically where the system has `pipe2`).
fn cloexec_pipe() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    #[cfg(not(target_vendor = "apple"))]
    {
        Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
    }
    #[cfg(target_vendor = "apple")]
    {
        // macOS has no `pipe2`: a script spawned by another thread in between may inherit an
        // end, and then its output ends only when that script does, as with the standard
        // library's own pipes there.
        let (read, write) = rustix::pipe::pipe()?;
        rustix::io::fcntl_setfd(&read, rustix::io::FdFlags::CLOEXEC)?;
        rustix::io::fcntl_setfd(&write, rustix::io::FdFlags::CLOEXEC)?;
        Ok((read, write))
    }
}

/// The standard library's spawn (`posix_spawn`, or `fork` to change user without a helper).
fn std_spawn(spec: &Spawn, stdio: [std::os::fd::BorrowedFd<'_>; 3]) -> io::Result<Process> {
    let mut command = match (spec.run_as, helper_program()) {
        (Some((uid, gid)), Some(helper)) => {
            let mut command = Command::new(helper);
            command
                .arg0("basehttp-cgi")
                .arg(&spec.program)
                .arg(&spec.arg0)
                .args(&spec.args)
                .env_clear()
                .envs(&spec.env)
                .env(HELPER_VAR, format!("{uid}:{gid}"));
            command
        }
        (run_as, _) => {
            let mut command = Command::new(&spec.program);
            command
                .arg0(&spec.arg0)
                .args(&spec.args)
                .env_clear()
                .envs(&spec.env);
            if let Some((uid, gid)) = run_as {
                command.uid(uid).gid(gid);
            }
            command
        }
    };
    let [stdin, stdout, stderr] = stdio;
    command
        .current_dir(&spec.cwd)
        .process_group(0)
        .stdin(stdin.try_clone_to_owned()?)
        .stdout(stdout.try_clone_to_owned()?)
        .stderr(stderr.try_clone_to_owned()?)
        .kill_on_drop(true);
    let child = command.spawn()?;
    let pid = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(i32::try_from(id).ok()?));
    Ok(Process::Std(child, pid))
}

/// How a script's run ends, as far as the server is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// Its output was read to the end: it may finish in its own time (up to the grace period).
    Finished,
    /// The client left, a timeout struck, or the response was abandoned: stop it now.
    Abort,
}

/// Tells the supervisor how the run ended; dropping it unfinished aborts the script.
#[derive(Debug)]
pub(crate) struct Guard {
    end: Option<oneshot::Sender<End>>,
}

impl Guard {
    /// The output was read to its end.
    pub(crate) fn finish(mut self) {
        if let Some(end) = self.end.take() {
            let _ = end.send(End::Finished);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(end) = self.end.take() {
            let _ = end.send(End::Abort);
        }
    }
}

/// Watches one script until it is reaped: on [`End::Abort`] its process group gets `SIGTERM`,
/// then `SIGKILL` after `grace`; once it has exited, whatever is left of its group is killed, so
/// no grandchild outlives it. Logs a non-zero exit as Python does. `ended` is set when the
/// process is gone (the stdin pump stops then). The concurrency permit is released last.
pub(crate) fn supervise(
    mut process: Process,
    grace: Duration,
    log: impl Fn(std::fmt::Arguments<'_>) + Send + Sync + 'static,
    permit: Option<OwnedSemaphorePermit>,
) -> (Guard, watch::Receiver<bool>) {
    let (end_tx, mut end_rx) = oneshot::channel();
    let (ended_tx, ended_rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut end: Option<End> = None;
        let mut deadline: Option<tokio::time::Instant> = None;
        let mut signalled = 0u8;
        let status = loop {
            let sleep = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                status = process.wait() => break status,
                received = &mut end_rx, if end.is_none() => {
                    let received = received.unwrap_or(End::Abort);
                    end = Some(received);
                    if received == End::Abort {
                        process.signal(rustix::process::Signal::TERM);
                        signalled = 1;
                    }
                    deadline = Some(tokio::time::Instant::now() + grace);
                }
                () = sleep => {
                    if signalled == 0 {
                        process.signal(rustix::process::Signal::TERM);
                        signalled = 1;
                        deadline = Some(tokio::time::Instant::now() + grace);
                    } else {
                        process.signal(rustix::process::Signal::KILL);
                        signalled = 2;
                        deadline = None;
                    }
                }
            }
        };
        // `wait` has killed what was left of the group.
        let _ = ended_tx.send(true);
        match status {
            Ok(code) if code != 0 && signalled == 0 => {
                log(format_args!("CGI script exit code {code}"));
            }
            Ok(_) => {}
            Err(err) => log(format_args!("CGI script could not be waited for: {err}")),
        }
        drop(permit);
    });
    (Guard { end: Some(end_tx) }, ended_rx)
}

fn kill_group(pid: Option<rustix::process::Pid>, signal: rustix::process::Signal) {
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

/// Python's `os.waitstatus_to_exitcode`: the exit code, or minus the signal number.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| -s))
        .unwrap_or(-1)
}

/// Logs what the script writes on stderr, line by line, at most `limit` bytes in all (and
/// 4 KiB per line); the rest is read and dropped so the script never blocks on it.
pub(crate) fn log_stderr(
    stderr: PipeReader,
    limit: usize,
    log: impl Fn(std::fmt::Arguments<'_>) + Send + Sync + 'static,
) {
    const MAX_LINE: usize = 4096;
    tokio::spawn(async move {
        let mut line: Vec<u8> = Vec::new();
        let mut logged = 0usize;
        let emit = |line: &mut Vec<u8>, logged: &mut usize| {
            if *logged < limit {
                *logged += line.len() + 1;
                let text = String::from_utf8_lossy(line);
                log(format_args!("{}", text.trim_end_matches('\r')));
                if *logged >= limit {
                    log(format_args!(
                        "(further stderr output of the CGI script dropped)"
                    ));
                }
            }
            line.clear();
        };
        loop {
            if stderr.readable().await.is_err() {
                break;
            }
            // On the stack between two waits: most scripts write nothing here, and a buffer
            // kept for the task would be allocated for every script only to read the end.
            let mut buf = [0u8; 8192];
            let n = match stderr.try_read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(_) => break,
            };
            // `readable` and `try_read` spend none of the task's budget: a script that keeps
            // its stderr full would otherwise keep this task running, and on a single-threaded
            // runtime nothing else would run.
            tokio::task::consume_budget().await;
            for &b in &buf[..n] {
                if b == b'\n' {
                    emit(&mut line, &mut logged);
                } else if line.len() < MAX_LINE {
                    line.push(b);
                } else {
                    emit(&mut line, &mut logged);
                    line.push(b);
                }
            }
        }
        if !line.is_empty() {
            emit(&mut line, &mut logged);
        }
    });
}

/// Reads some of the script's output into the room `buf` has left, waiting until `deadline`
/// at most.
pub(crate) async fn read_some(
    stdout: &mut PipeReader,
    buf: &mut Vec<u8>,
    deadline: tokio::time::Instant,
) -> io::Result<usize> {
    match tokio::time::timeout_at(deadline, stdout.read_buf(buf)).await {
        Ok(read) => read,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
    }
}

/// The size of one read of the script's output.
const CHUNK: usize = 32 * 1024;

/// The script's output after its header block, streamed as the response body: no output for
/// `idle` ends it with an error (the connection is aborted, the script killed); dropping it
/// early (the client left) kills the script.
pub(crate) struct CgiBody {
    stdout: PipeReader,
    idle: Duration,
    sleep: Pin<Box<Sleep>>,
    guard: Option<Guard>,
}

impl CgiBody {
    pub(crate) fn new(stdout: PipeReader, idle: Duration, guard: Guard) -> Self {
        Self {
            stdout,
            idle,
            sleep: Box::pin(tokio::time::sleep(idle)),
            guard: Some(guard),
        }
    }
}

impl http_body::Body for CgiBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.guard.is_none() {
            return Poll::Ready(None);
        }
        // Read on the stack and copied out: a buffer kept in the body would be allocated
        // (and zeroed) for every script, most of which have said everything with their head.
        let mut storage = [std::mem::MaybeUninit::<u8>::uninit(); CHUNK];
        let mut read = ReadBuf::uninit(&mut storage);
        match Pin::new(&mut this.stdout).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    if let Some(guard) = this.guard.take() {
                        guard.finish();
                    }
                    return Poll::Ready(None);
                }
                let chunk = Bytes::copy_from_slice(read.filled());
                let idle = this.idle;
                this.sleep
                    .as_mut()
                    .reset(tokio::time::Instant::now() + idle);
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(Err(err)) => {
                this.guard = None;
                Poll::Ready(Some(Err(err.into())))
            }
            Poll::Pending => {
                ready!(this.sleep.as_mut().poll(cx));
                // Dropping the guard aborts the script.
                this.guard = None;
                Poll::Ready(Some(Err(format!(
                    "CGI script wrote nothing for {} s",
                    this.idle.as_secs()
                )
                .into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.guard.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl std::fmt::Debug for CgiBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CgiBody").finish_non_exhaustive()
    }
}

/// Reads a script's output to its end and drops it (a `HEAD` or a `304`), within the same
/// inactivity limit, then lets the supervisor finish.
pub(crate) fn drain(mut stdout: PipeReader, idle: Duration, guard: Guard) {
    tokio::spawn(async move {
        let mut buf = Vec::with_capacity(CHUNK);
        loop {
            let deadline = tokio::time::Instant::now() + idle;
            buf.clear();
            match read_some(&mut stdout, &mut buf, deadline).await {
                Ok(0) => return guard.finish(),
                Ok(_) => {}
                // Dropping the guard aborts the script.
                Err(_) => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::nobody_in;

    #[test]
    fn nobody_is_read_from_passwd_files_of_either_kind() {
        let linux =
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/:/usr/sbin/nologin\n";
        assert_eq!(nobody_in(linux), Some((65_534, 65_534)));
        let macos =
            "##\n# User Database\n##\nnobody:*:-2:-2:Unprivileged User:/var/empty:/usr/bin/false\n";
        assert_eq!(nobody_in(macos), Some((4_294_967_294, 4_294_967_294)));
        assert_eq!(
            nobody_in("nobody:*:-1:-1:x:/:/bin/false"),
            None,
            "-1 means unchanged"
        );
        assert_eq!(nobody_in("nobodyx:x:1:1::/:"), None);
    }
}
