//! Test helpers: a basehttp server on 127.0.0.1:0, raw HTTP/1 over real sockets, child
//! processes that are always reaped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use basehttp::server::{HttpServer, ShutdownHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any single network wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A server running in the test's runtime.
pub struct TestServer {
    pub addr: SocketAddr,
    pub shutdown: ShutdownHandle,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    /// Starts `server` (already bound, usually to port 0).
    pub fn start<S, B>(server: HttpServer<S>) -> Self
    where
        S: tower::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<basehttp::handler::BoxError>,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<basehttp::handler::BoxError>,
    {
        let addr = server.server_address();
        let shutdown = server.shutdown_handle();
        let task = tokio::spawn(async move { server.serve_forever().await });
        Self {
            addr,
            shutdown,
            task,
        }
    }
}

/// Binds `service` to 127.0.0.1:0 with default limits and starts it.
pub async fn serve<S, B>(service: S) -> TestServer
where
    S: tower::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<basehttp::handler::BoxError>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<basehttp::handler::BoxError>,
{
    serve_configured(service, |server| server).await
}

/// Binds `service` to 127.0.0.1:0, lets `configure` set limits, and starts it.
pub async fn serve_configured<S, B>(
    service: S,
    configure: impl FnOnce(HttpServer<S>) -> HttpServer<S>,
) -> TestServer
where
    S: tower::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<basehttp::handler::BoxError>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<basehttp::handler::BoxError>,
{
    let server = HttpServer::bind(("127.0.0.1", 0), service).await.unwrap();
    TestServer::start(configure(server))
}

/// Sends `request` on a new connection, half-closes, and returns every byte until the server
/// closes (Python's probes do the same).
pub async fn raw(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = connect(addr).await;
    stream.write_all(request).await.unwrap();
    let _ = stream.shutdown().await;
    read_to_close(&mut stream).await
}

/// One HTTP/1.0 `GET` (the connection closes after it) with `headers` (each line ending in
/// CRLF), parsed; fails the test unless exactly one response comes back.
pub async fn get_once(addr: SocketAddr, target: &str, headers: &str) -> RawResponse {
    let request = format!("GET {target} HTTP/1.0\r\n{headers}\r\n");
    let bytes = raw(addr, request.as_bytes()).await;
    let mut responses = parse_all(&bytes);
    assert_eq!(
        responses.len(),
        1,
        "{target}: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    responses.remove(0)
}

/// Sends `request` without half-closing and returns every byte until the server closes.
/// Fails the test if the server keeps the connection open.
pub async fn raw_keep_open(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = connect(addr).await;
    stream.write_all(request).await.unwrap();
    read_to_close(&mut stream).await
}

pub async fn connect(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect failed")
}

pub async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut out))
        .await
        .expect("the server did not close the connection")
        .ok();
    out
}

/// One parsed HTTP/1 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    pub status_line: String,
    /// Header names lower-cased, values as sent, in order.
    pub headers: Vec<(String, String)>,
    /// The header names exactly as sent.
    pub raw_names: Vec<String>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn status(&self) -> u16 {
        self.status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header_count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| n == name).count()
    }
}

/// Reads one response from `stream`: the head, then a body framed by Content-Length, chunked
/// encoding, or the end of the connection. `head_only` for HEAD / 304 / 204.
pub async fn read_response(stream: &mut TcpStream, head_only: bool) -> Option<RawResponse> {
    tokio::time::timeout(WAIT, read_response_inner(stream, head_only))
        .await
        .expect("timed out reading a response")
}

async fn read_response_inner(stream: &mut TcpStream, head_only: bool) -> Option<RawResponse> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let (status_line, headers, raw_names) = parse_head(&head);
    let mut response = RawResponse {
        status_line,
        headers,
        raw_names,
        body: Vec::new(),
    };
    let status = response.status();
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return Some(response);
    }
    if let Some(len) = response.header("content-length") {
        let len: usize = len.parse().ok()?;
        let mut body = vec![0; len];
        stream.read_exact(&mut body).await.ok()?;
        response.body = body;
    } else if response
        .header("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
    {
        response.body = read_chunked(stream).await?;
    } else {
        stream.read_to_end(&mut response.body).await.ok()?;
    }
    Some(response)
}

async fn read_line(stream: &mut TcpStream) -> Option<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        line.push(byte[0]);
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).ok()
}

async fn read_chunked(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let size_line = read_line(stream).await?;
        let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            // Trailers, then the empty line.
            while !read_line(stream).await?.is_empty() {}
            return Some(body);
        }
        let mut chunk = vec![0; size + 2];
        stream.read_exact(&mut chunk).await.ok()?;
        chunk.truncate(size);
        body.extend_from_slice(&chunk);
    }
}

/// Splits a raw response head into status line and headers.
pub fn parse_head(head: &[u8]) -> (String, Vec<(String, String)>, Vec<String>) {
    let text: String = head.iter().map(|&b| char::from(b)).collect();
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    let mut raw_names = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        if let Some((name, value)) = line.split_once(':') {
            raw_names.push(name.to_owned());
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    (status_line, headers, raw_names)
}

/// Parses every response in `bytes` (for pipelined or close-delimited exchanges).
pub fn parse_all(mut bytes: &[u8]) -> Vec<RawResponse> {
    let mut out = Vec::new();
    while let Some(end) = find(bytes, b"\r\n\r\n") {
        let (status_line, headers, raw_names) = parse_head(&bytes[..end + 4]);
        bytes = &bytes[end + 4..];
        let mut response = RawResponse {
            status_line,
            headers,
            raw_names,
            body: Vec::new(),
        };
        if let Some(len) = response
            .header("content-length")
            .and_then(|l| l.parse().ok())
        {
            let len: usize = len;
            let len = len.min(bytes.len());
            response.body = bytes[..len].to_vec();
            bytes = &bytes[len..];
        } else if !bytes.starts_with(b"HTTP/") {
            response.body = bytes.to_vec();
            bytes = &[];
        }
        out.push(response);
    }
    out
}

/// The one response in `bytes` as (status line, headers, body), without the headers that differ
/// by design between two servers (`Date`, `Server`) and the `extra` ones (lower-case names).
pub fn normalize_one(bytes: &[u8], extra: &[&str]) -> (String, Vec<(String, String)>, Vec<u8>) {
    let mut responses = parse_all(bytes);
    assert_eq!(
        responses.len(),
        1,
        "expected one response: {:?}",
        String::from_utf8_lossy(bytes)
    );
    let res = responses.remove(0);
    let headers = res
        .headers
        .into_iter()
        .filter(|(name, _)| name != "date" && name != "server" && !extra.contains(&name.as_str()))
        .collect();
    (res.status_line, headers, res.body)
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A child process that is killed and reaped when dropped.
pub struct ChildGuard {
    pub child: Child,
    pub port: u16,
    /// Everything the child printed after its first line, when captured.
    pub stdout: Arc<Mutex<String>>,
    /// Everything the child printed on stderr, when captured.
    pub stderr: Arc<Mutex<String>>,
    /// Set once the child's captured stderr has reached its end.
    stderr_closed: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ChildGuard {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Sends SIGINT (Ctrl-C) to the child.
    pub fn interrupt(&self) {
        signal(self.child.id(), "INT");
    }

    /// Everything the child wrote on stderr, once it has closed it (after the child exited).
    pub fn stderr_to_end(&self) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        while !self
            .stderr_closed
            .load(std::sync::atomic::Ordering::Acquire)
        {
            assert!(std::time::Instant::now() < deadline, "stderr not closed");
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stderr.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Waits for the child to exit and returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = std::time::Instant::now() + WAIT;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("child did not exit");
    }
}

pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

/// Spawns `command` (stdout piped) and waits for its first line, which must end with the port
/// it listens on: `Serving on port N` or Python's `Serving HTTP on H port N (…) ...`.
pub fn spawn_server(command: Command) -> ChildGuard {
    spawn_server_with(command, false)
}

/// Like [`spawn_server`], keeping everything the child writes on stderr in `stderr`.
pub fn spawn_server_capturing(command: Command) -> ChildGuard {
    spawn_server_with(command, true)
}

fn spawn_server_with(mut command: Command, capture_stderr: bool) -> ChildGuard {
    // A developer's RUST_LOG must not change what the servers print; a test sets its own.
    // Nor a RUST_BACKTRACE: a panicking handler's backtrace is symbolized in the panic hook,
    // on the thread answering (0.7 s in a debug build on an idle machine, more than the tests'
    // patience while the suite compiles crates beside them).
    for variable in ["RUST_LOG", "RUST_BACKTRACE"] {
        if !command.get_envs().any(|(name, _)| name == variable) {
            command.env_remove(variable);
        }
    }
    command.stdout(Stdio::piped());
    if capture_stderr {
        command.stderr(Stdio::piped());
    } else if std::env::var_os("BASEHTTP_TEST_VERBOSE").is_none() {
        command.stderr(Stdio::null());
    }
    let mut child = command.spawn().expect("spawn server");
    let stdout = child.stdout.take().expect("stdout");
    let stdout_rest = Arc::new(Mutex::new(String::new()));
    let stderr_text = Arc::new(Mutex::new(String::new()));
    let stderr_closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(mut stderr) = child.stderr.take() {
        let sink = stderr_text.clone();
        let closed = stderr_closed.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut text) = sink.lock() {
                    text.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
            closed.store(true, std::sync::atomic::Ordering::Release);
        });
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let rest = stdout_rest.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining so the child never blocks on a full pipe.
        let mut more = String::new();
        while reader.read_line(&mut more).unwrap_or(0) > 0 {
            if let Ok(mut text) = rest.lock() {
                text.push_str(&more);
            }
            more.clear();
        }
    });
    let line = rx.recv_timeout(WAIT).unwrap_or_default();
    let port = port_from_banner(&line).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("server did not announce its port: {line:?}")
    });
    ChildGuard {
        child,
        port,
        stdout: stdout_rest,
        stderr: stderr_text,
        stderr_closed,
    }
}

/// Waits until `text` (a child's captured output) satisfies `done`, returning a copy.
pub fn wait_for_output(text: &Mutex<String>, done: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let current = text.lock().map(|t| t.clone()).unwrap_or_default();
        if done(&current) || std::time::Instant::now() > deadline {
            return current;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Replaces the `[21/Nov/2026 19:49:25]` of each Python log line with `[DATE]`, checking the
/// shape of the date.
pub fn normalize_log(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| line.contains(" - - ["))
        .map(|line| {
            let open = line.find('[').unwrap_or(0);
            let close = line.find(']').unwrap_or(0);
            let date = &line.as_bytes()[open + 1..close];
            assert!(
                date.len() == 20 && date[2] == b'/' && date[6] == b'/' && date[11] == b' ',
                "not Python's log date: {line}"
            );
            format!("{}[DATE]{}", &line[..open], &line[close + 1..])
        })
        .collect()
}

pub fn port_from_banner(line: &str) -> Option<u16> {
    let after = line.split(" port ").nth(1)?;
    after
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The directory of the compiled examples (`target/<profile>/examples`).
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    profile_dir.join("examples").join(name)
}

/// Runs example `name` on an ephemeral port.
pub fn spawn_example(name: &str) -> ChildGuard {
    let mut command = Command::new(example_path(name));
    command.arg("0");
    spawn_server(command)
}

/// Runs `tests/python/<module>.py` under `python3` on an ephemeral port, if Python is there.
pub fn spawn_python(module: &str) -> Option<ChildGuard> {
    spawn_python_with(module, &[])
}

/// Like [`spawn_python`], passing `args` to the module's `main` after the port.
pub fn spawn_python_with(module: &str, args: &[&std::ffi::OsStr]) -> Option<ChildGuard> {
    let python = python3()?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/run.py");
    let mut command = Command::new(python);
    command.arg(script).arg(module).arg("0").args(args);
    Some(spawn_server(command))
}

/// CPython 3.14's own `python -m http.server 0 --bind 127.0.0.1 ARGS…`, when its `http`
/// package and a Python 3.13+ are there (see [`cpython314`]). Never downloads anything.
pub fn spawn_oracle(args: &[&std::ffi::OsStr]) -> Option<ChildGuard> {
    let mut cli: Vec<&std::ffi::OsStr> = vec!["--bind".as_ref(), "127.0.0.1".as_ref()];
    cli.extend_from_slice(args);
    match spawn_python_twin("cli", &cli)? {
        (server, PythonFlavor::Cpython314) => Some(server),
        (_, PythonFlavor::Local) => None,
    }
}

/// Which `http.server` a Python original runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PythonFlavor {
    /// CPython 3.14's `http.server` (`tests/python/cpython314.sh`), on Python 3.13 or newer.
    Cpython314,
    /// The local `python3`'s, with 3.14's error template installed by `run.py`.
    Local,
}

/// CPython 3.14's `http` package (with 3.14's `mimetypes` and `argparse`) and an interpreter
/// to run it on: `BASEHTTP_CPYTHON314_LIB` or `target/cpython314` (put there by
/// `tests/python/cpython314.sh`), and the newest of `BASEHTTP_PYTHON313`, `python3.14`,
/// `python3.13`, a pyenv 3.13/3.14, or `python3` (3.11 or newer; `run.py` supplies what 3.14's
/// modules need from a newer interpreter). With `BASEHTTP_REQUIRE_CPYTHON314` set (CI), missing
/// either fails the test.
pub fn cpython314() -> Option<(PathBuf, PathBuf)> {
    let lib = match std::env::var_os("BASEHTTP_CPYTHON314_LIB") {
        Some(lib) => PathBuf::from(lib),
        None => {
            let exe = std::env::current_exe().expect("current exe");
            let target = exe
                .parent()
                .and_then(|deps| deps.parent())
                .and_then(|profile| profile.parent())
                .expect("target dir");
            target.join("cpython314")
        }
    };
    let runs = |python: &std::ffi::OsStr| {
        Command::new(python)
            .args(["-c", "import sys; assert sys.version_info >= (3, 11)"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut candidates: Vec<PathBuf> = std::env::var_os("BASEHTTP_PYTHON313")
        .map(PathBuf::from)
        .into_iter()
        .chain(["python3.14", "python3.13"].map(PathBuf::from))
        .collect();
    if let Some(home) = std::env::var_os("HOME") {
        let versions = PathBuf::from(home).join(".pyenv/versions");
        for entry in std::fs::read_dir(&versions).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            for minor in ["3.14", "3.13"] {
                if name.starts_with(minor) {
                    candidates.push(entry.path().join("bin").join(format!("python{minor}")));
                }
            }
        }
    }
    candidates.push(PathBuf::from("python3"));
    let interpreter = candidates.into_iter().find(|p| runs(p.as_os_str()));
    match (interpreter, lib.join("http/server.py").exists()) {
        (Some(interpreter), true) => Some((interpreter, lib)),
        _ => {
            assert!(
                std::env::var_os("BASEHTTP_REQUIRE_CPYTHON314").is_none(),
                "CPython 3.14's http.server is required (BASEHTTP_REQUIRE_CPYTHON314): run \
                 tests/python/cpython314.sh (it needs crates.io) and have python3 3.11+"
            );
            eprintln!("CPython 3.14's http.server not available: comparing with the local python3");
            None
        }
    }
}

/// Runs `tests/python/<module>.py` with `args` after the port on CPython 3.14's `http.server`
/// when it is available, else on the local `python3` (`None` without either).
pub fn spawn_python_twin(
    module: &str,
    args: &[&std::ffi::OsStr],
) -> Option<(ChildGuard, PythonFlavor)> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/run.py");
    let (python, flavor, lib) = match cpython314() {
        Some((interpreter, lib)) => (interpreter, PythonFlavor::Cpython314, Some(lib)),
        None => (PathBuf::from(python3()?), PythonFlavor::Local, None),
    };
    let mut command = Command::new(python);
    command.arg(script).arg(module).arg("0").args(args);
    if let Some(lib) = lib {
        command.env("BASEHTTP_CPYTHON_LIB", lib);
    }
    Some((spawn_server_capturing(command), flavor))
}

/// `python3`, if it runs.
pub fn python3() -> Option<&'static str> {
    let ok = Command::new("python3")
        .arg("-c")
        .arg("import http.server")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Some("python3")
    } else {
        require_tools("python3");
        eprintln!("python3 not available: skipping the side-by-side comparison");
        None
    }
}

/// Every `basehttp::log` line emitted in this test binary, captured by a global subscriber
/// installed on first use. Tests look for lines naming their own unique paths.
pub fn captured_log() -> &'static Mutex<Vec<String>> {
    static LINES: std::sync::OnceLock<&'static Mutex<Vec<String>>> = std::sync::OnceLock::new();
    LINES.get_or_init(|| {
        let lines: &'static Mutex<Vec<String>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        let _ = tracing::subscriber::set_global_default(LineCollector(lines));
        lines
    })
}

/// Collects the message of every `basehttp::log` event.
struct LineCollector(&'static Mutex<Vec<String>>);

impl tracing::Subscriber for LineCollector {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == basehttp::log::TARGET
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        if let Ok(mut lines) = self.0.lock() {
            lines.push(message.0);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Whether `tool --version` runs; says so on stderr when it does not (the test then skips).
/// The directory of the cgroup at `path` in the cgroup v2 hierarchy (`/proc/PID/cgroup`'s
/// `0::` line), if one is mounted (`findmnt`).
pub fn cgroup_dir(path: &str) -> Option<std::path::PathBuf> {
    let output = Command::new("findmnt")
        .args(["-n", "-t", "cgroup2", "-o", "TARGET"])
        .output()
        .ok()?;
    let mount = String::from_utf8(output.stdout).ok()?;
    let mount = mount.lines().next()?.trim();
    (!mount.is_empty())
        .then(|| std::path::Path::new(mount).join(path.trim().trim_start_matches('/')))
}

/// With `BASEHTTP_REQUIRE_TOOLS` set (CI), a missing tool fails the test instead.
pub fn installed(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        require_tools(tool);
        eprintln!("{tool} not installed: skipped");
    }
    found
}

/// Panics when `BASEHTTP_REQUIRE_TOOLS` is set: in CI a missing tool is a failure, not a skip.
pub fn require_tools(tool: &str) {
    assert!(
        std::env::var_os("BASEHTTP_REQUIRE_TOOLS").is_none(),
        "{tool} is required (BASEHTTP_REQUIRE_TOOLS is set)"
    );
}

/// Runs `curl -sS --max-time 10 ARGS…` off the runtime: (exit code, stdout, stderr).
pub async fn curl_output(args: &[&str]) -> (Option<i32>, String, String) {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .args(&args)
            .output()
            .expect("run curl")
    })
    .await
    .expect("curl task");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `curl -sS --max-time 10 -i ARGS…` (blocking, for tests off the runtime): its stdout,
/// the response heads included.
pub fn curl_i(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-i"])
        .args(args)
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `basehttp` binary (package `basehttp-cli` of this workspace), built once per test run
/// with the test's own profile so it is never stale, whichever cargo command started the tests.
pub fn basehttp() -> Command {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let binary = BINARY.get_or_init(|| {
        let exe = std::env::current_exe().expect("current exe");
        // target/<profile>/deps/integration-…
        let profile_dir = exe
            .parent()
            .and_then(std::path::Path::parent)
            .expect("profile dir");
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut build = Command::new(env!("CARGO"));
        build
            .args([
                "build",
                "--locked",
                "-p",
                "basehttp-cli",
                "--bin",
                "basehttp",
            ])
            .args(["--message-format", "json-render-diagnostics"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(Stdio::inherit());
        if release {
            build.arg("--release");
        }
        let output = build.output().expect("run cargo build");
        assert!(
            output.status.success(),
            "cargo build -p basehttp-cli failed"
        );
        // The artifact cargo reports, wherever the profile or a target triple put it.
        let key = "\"executable\":\"";
        let stdout = String::from_utf8_lossy(&output.stdout);
        let executable = stdout
            .lines()
            .filter(|line| line.contains("\"compiler-artifact\""))
            .find_map(|line| {
                let start = line.find(key)? + key.len();
                let end = start + line[start..].find('"')?;
                Some(PathBuf::from(&line[start..end]))
            });
        executable.unwrap_or_else(|| profile_dir.join("basehttp"))
    });
    Command::new(binary)
}
