//! CGI with real scripts as real child processes: the environment side by side with Python's
//! `CGIHTTPRequestHandler`, bodies both ways, the RFC 3875 response forms, hostile scripts
//! (after each: no process left behind, the server still serving), and traversal attempts
//! against the script resolver.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use basehttp::cgi::Cgi;
use basehttp::static_files::StaticFiles;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::Layer;

use crate::support::*;

/// Printed by a script that must never run.
const OUTSIDE: &str = "EXECUTED-OUTSIDE-A-CGI-DIRECTORY";

/// A document root with scripts, readable by `nobody` (scripts run as `nobody` under root).
struct CgiFixture {
    dir: tempfile::TempDir,
}

impl CgiFixture {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("basehttp-cgi-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path().to_owned();
        let script = |path: &str, text: &str| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        script(
            "cgi-bin/env.sh",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n\
             printf 'ARGC=%s\\nARGV1=%s\\nUID=%s\\nPWD=%s\\n' \"$#\" \"$1\" \"$(id -u)\" \"$(pwd)\"\nenv\n",
        );
        script(
            "cgi-bin/hello.sh",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nHello World\\n'\n",
        );
        script(
            "cgi-bin/echo.sh",
            "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\nexec head -c \"$CONTENT_LENGTH\"\n",
        );
        script(
            "cgi-bin/child-dir/file3.sh",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s|%s\\n' \"$SCRIPT_NAME\" \"$PATH_INFO\"\n",
        );
        script(
            "sub/dir/cgi-bin/file5.sh",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nfile5\\n'\n",
        );
        script(
            "htbin/hello.sh",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhtbin\\n'\n",
        );
        script(
            "cgi-bin/status.sh",
            "#!/bin/sh\nprintf 'Status: 404 Not Here\\nContent-Type: text/plain\\nX-Test: 1\\nConnection: keep-alive\\n\\nmissing\\n'\n",
        );
        script(
            "cgi-bin/redirect.sh",
            "#!/bin/sh\nprintf 'Location: http://example.com/x\\n\\n'\n",
        );
        script(
            "cgi-bin/moved.sh",
            "#!/bin/sh\nprintf 'Status: 301 Moved\\nLocation: /elsewhere\\nContent-Type: text/plain\\n\\nsee /elsewhere\\n'\n",
        );
        script(
            "cgi-bin/local.sh",
            "#!/bin/sh\nprintf 'Location: /cgi-bin/env.sh?from=local\\n\\n'\n",
        );
        script(
            "cgi-bin/loop.sh",
            "#!/bin/sh\nprintf 'Location: /cgi-bin/loop.sh\\n\\n'\n",
        );
        script(
            "cgi-bin/nph-raw.sh",
            "#!/bin/sh\nprintf 'HTTP/1.1 299 Custom\\r\\nContent-Type: text/plain\\r\\nServer: nph\\r\\n\\r\\nraw body\\n'\n",
        );
        script("cgi-bin/bare.sh", "#!/bin/sh\necho 'no header at all'\n");
        script("cgi-bin/silent.sh", "#!/bin/sh\nexit 3\n");
        script(
            "cgi-bin/big-head.sh",
            "#!/bin/sh\ni=0\nwhile [ $i -lt 2000 ]; do printf 'X-Filler-%s: %s\\n' $i 0123456789012345678901234567890123456789; i=$((i+1)); done\nprintf '\\n'\n",
        );
        script(
            "cgi-bin/stdin.sh",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\ncat\necho eof\n",
        );
        script(
            "cgi-bin/stderr-flood.sh",
            "#!/bin/sh\necho $$ > \"$PIDS/stderr-flood\"\nprintf 'Content-Type: text/plain\\n\\nflooding\\n'\nexec cat /dev/zero >&2\n",
        );
        // 60 fields (3.5 KB): more than the first read of a head takes.
        script(
            "cgi-bin/long-head.sh",
            "#!/bin/sh\ni=0\nwhile [ $i -lt 60 ]; do printf 'X-Long-%s: %s\\r\\n' $i 0123456789012345678901234567890123456789; i=$((i+1)); done\nprintf 'Content-Type: text/plain\\r\\n\\r\\nafter the head\\n'\n",
        );
        script(
            "cgi-bin/stderr.sh",
            "#!/bin/sh\necho 'oops on stderr' >&2\nprintf 'Content-Type: text/plain\\n\\nok\\n'\nexit 2\n",
        );
        script(
            "cgi-bin/head.sh",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\necho body-that-HEAD-must-not-see\n",
        );
        // Hostile scripts; each writes the pids to watch next to itself.
        script(
            "cgi-bin/sleeper.sh",
            "#!/bin/sh\necho $$ > \"$PIDS/sleeper\"\nexec sleep 1000\n",
        );
        script(
            "cgi-bin/flood.sh",
            "#!/bin/sh\necho $$ > \"$PIDS/flood\"\nprintf 'Content-Type: application/octet-stream\\n\\n'\nexec cat /dev/zero\n",
        );
        script(
            "cgi-bin/noread.sh",
            "#!/bin/sh\necho $$ > \"$PIDS/noread\"\nprintf 'Content-Type: text/plain\\n\\nnot reading\\n'\n",
        );
        script(
            "cgi-bin/grandchild.sh",
            "#!/bin/sh\nsleep 1000 &\necho $! > \"$PIDS/grandchild\"\nprintf 'Content-Type: text/plain\\n\\nspawned\\n'\n",
        );
        script(
            "cgi-bin/detached.sh",
            "#!/bin/sh\nsleep 1000 >/dev/null 2>&1 &\necho $! > \"$PIDS/detached\"\nprintf 'Content-Type: text/plain\\n\\nspawned\\n'\n",
        );
        script(
            "cgi-bin/writes-first.sh",
            "#!/bin/sh\necho $$ > \"$PIDS/writes-first\"\nprintf 'Content-Type: application/octet-stream\\n\\n'\n\
             head -c 4000000 /dev/zero\nn=$(wc -c)\nprintf 'read %s' \"$n\"\n",
        );
        script(
            "cgi-bin/zeros.sh",
            "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\nexec head -c 64000000 /dev/zero\n",
        );
        script(
            "cgi-bin/stderr-loop.sh",
            "#!/bin/sh\necho $$ > \"$PIDS/stderr-loop\"\nprintf 'Content-Type: text/plain\\n\\nok\\n'\ni=0\nwhile [ $i -lt 20000 ]; do echo \"err line $i\" >&2; i=$((i+1)); done\n",
        );
        script(
            "cgi-bin/stall.sh",
            "#!/bin/sh\necho $$ > \"$PIDS/stall\"\nprintf 'Content-Type: text/plain\\n\\npartial'\nexec sleep 1000\n",
        );
        // CPython's own test scripts, in Python and Perl, where the interpreters exist.
        script(
            "cgi-bin/file2.py",
            "#!/usr/bin/python3\nimport os, sys, urllib.parse\n\
             n = int(os.environ.get('CONTENT_LENGTH') or 0)\n\
             form = urllib.parse.parse_qs(sys.stdin.read(n))\n\
             print('Content-type: text/html')\nprint()\n\
             print('%s, %s, %s' % (form['spam'][0], form['eggs'][0], form['bacon'][0]))\n",
        );
        script(
            "cgi-bin/hello.pl",
            "#!/usr/bin/perl\nprint \"Content-Type: text/plain\\n\\nperl $ENV{QUERY_STRING}\\n\";\n",
        );
        // Outside any CGI directory: served as a file, never run.
        script(
            "nocgi.sh",
            &format!("#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n{OUTSIDE}\\n'\n"),
        );
        script(
            "cgi-bin/../outside-bin/x.sh",
            &format!("#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n{OUTSIDE}\\n'\n"),
        );
        std::fs::write(root.join("cgi-bin/noexec.sh"), "#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(
            root.join("cgi-bin/noexec.sh"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        std::fs::write(root.join("index.txt"), "a file\n").unwrap();
        std::os::unix::fs::symlink("/bin/sh", root.join("cgi-bin/sh-link")).unwrap();
        std::os::unix::fs::symlink("hello.sh", root.join("cgi-bin/inside-link.sh")).unwrap();
        std::fs::create_dir(root.join("pids")).unwrap();
        // The temporary directory is private; scripts may run as `nobody`.
        for dir in [root.clone(), root.join("pids")] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        Self { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn pids(&self) -> PathBuf {
        self.root().join("pids")
    }

    /// Python's `--cgi` handler: scripts over the files.
    fn service(&self) -> basehttp::cgi::Cgi<StaticFiles> {
        self.configured(|cgi| cgi)
    }

    fn configured(&self, configure: impl FnOnce(Cgi) -> Cgi) -> basehttp::cgi::Cgi<StaticFiles> {
        let cgi = configure(
            Cgi::new(self.root())
                .cgi_directories(["/cgi-bin", "/htbin", "/sub/dir/cgi-bin"])
                .env("PIDS", self.pids()),
        );
        cgi.into_layer().layer(StaticFiles::new(self.root()))
    }

    /// Waits until the process whose pid the script `name` recorded is gone (a zombie of
    /// someone else's does not count), failing the test if it outlives the deadline.
    async fn assert_gone(&self, name: &str) {
        let path = self.pids().join(name);
        let deadline = Instant::now() + WAIT;
        let pid = loop {
            if let Some(pid) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok())
            {
                break pid;
            }
            assert!(Instant::now() < deadline, "{name} never recorded its pid");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // `pid (comm) S ppid …`
            let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
            let mut fields = after.split(' ');
            let state = fields.next().unwrap_or("");
            let ppid: u32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            let ours = ppid == std::process::id();
            if stat.is_empty() || (state == "Z" && !ours) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name} (pid {pid}) still there: {stat}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The body of a script's response as `KEY=value` lines.
fn env_of(body: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

async fn request(addr: std::net::SocketAddr, request: &[u8]) -> RawResponse {
    let bytes = raw(addr, request).await;
    let mut responses = parse_all(&bytes);
    assert_eq!(
        responses.len(),
        1,
        "{:?}: {:?}",
        String::from_utf8_lossy(request),
        String::from_utf8_lossy(&bytes)
    );
    responses.remove(0)
}

#[tokio::test]
async fn the_environment_matches_pythons() {
    let fixture = CgiFixture::new();
    let Some(python) = python3() else { return };
    let mut command = Command::new(python);
    command
        .args([
            "-m",
            "http.server",
            "--cgi",
            "0",
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(fixture.root());
    let python = spawn_server(command);
    let ours = serve(fixture.configured(|cgi| cgi.cgi_directories(["/cgi-bin", "/htbin"]))).await;

    let requests: &[&[u8]] = &[
        b"GET /cgi-bin/env.sh/extra/p%20q/path?hello+world%20x HTTP/1.0\r\n\
          Cookie: a=1\r\nX-Foo: bar\r\nAccept: text/html\r\nAccept: text/plain\r\n\
          Authorization: Basic dXNlcjpwYXNz\r\nUser-Agent: test/1.0\r\nReferer: http://r/\r\n\r\n",
        b"POST /cgi-bin/env.sh HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 7\r\n\r\na=1&b=2",
        b"GET /cgi-bin/env.sh?a=b?c=d HTTP/1.0\r\n\r\n",
        b"GET /cgi-bin/env.sh?k=aa%2F%2Fbb&//q//p//=//a//b// HTTP/1.0\r\n\r\n",
        b"GET /cgi-bin/env.sh HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
        b"GET /cgi-bin%2fenv.sh HTTP/1.0\r\n\r\n",
        b"GET /x/../cgi-bin/env.sh/ HTTP/1.0\r\n\r\n",
        b"GET /htbin/../cgi-bin/env.sh?word HTTP/1.0\r\nAuthorization: Bearer token\r\n\r\n",
    ];
    // What Python sets, compared value for value. (SERVER_SOFTWARE names the runtime,
    // SERVER_PORT differs, HTTP_COOKIE is joined with "; " by us: see the README.)
    let compared = [
        "GATEWAY_INTERFACE",
        "SERVER_NAME",
        "SERVER_PROTOCOL",
        "REQUEST_METHOD",
        "PATH_INFO",
        "PATH_TRANSLATED",
        "SCRIPT_NAME",
        "QUERY_STRING",
        "REMOTE_ADDR",
        "REMOTE_HOST",
        "AUTH_TYPE",
        "REMOTE_USER",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "HTTP_ACCEPT",
        "HTTP_USER_AGENT",
        "HTTP_REFERER",
        "ARGC",
        "ARGV1",
        "UID",
    ];
    for raw_request in requests {
        let theirs = request(python.addr(), raw_request).await;
        let ours_res = request(ours.addr, raw_request).await;
        assert_eq!(theirs.status_line, "HTTP/1.0 200 Script output follows");
        assert_eq!(ours_res.status_line, theirs.status_line);
        // Python writes its head without the blank line; the script's fields complete it.
        let their_env = env_of(&theirs.body);
        let our_env = env_of(&ours_res.body);
        for key in compared {
            assert_eq!(
                our_env.get(key),
                their_env.get(key),
                "{key} for {:?}",
                String::from_utf8_lossy(raw_request)
            );
        }
        assert_eq!(theirs.header("content-type"), Some("text/plain"));
        assert_eq!(ours_res.header("content-type"), Some("text/plain"));
        // Ours: the other headers too, the cookie joined per RFC 6265, never the credentials.
        if raw_request.starts_with(b"GET /cgi-bin/env.sh/extra") {
            assert_eq!(our_env.get("HTTP_X_FOO").map(String::as_str), Some("bar"));
            assert_eq!(our_env.get("HTTP_COOKIE").map(String::as_str), Some("a=1"));
            assert_eq!(our_env.get("HTTP_AUTHORIZATION"), None);
        }
        assert!(
            our_env
                .get("SERVER_SOFTWARE")
                .is_some_and(|s| s.starts_with("SimpleHTTP/0.6 basehttp/"))
        );
        assert_eq!(
            our_env.get("HOME"),
            None,
            "the server's environment stays out"
        );
    }

    // Python's refusals, same codes and messages.
    for (target, status_line) in [
        (
            "/cgi-bin/nothere.sh",
            "HTTP/1.0 404 No such CGI script ('/cgi-bin/nothere.sh')",
        ),
        (
            "/cgi-bin/",
            "HTTP/1.0 403 CGI script is not a plain file ('/cgi-bin/')",
        ),
        (
            "/cgi-bin/child-dir",
            "HTTP/1.0 403 CGI script is not a plain file ('/cgi-bin/child-dir')",
        ),
        (
            "///////////nocgi.sh/../cgi-bin/nothere.sh",
            "HTTP/1.0 404 No such CGI script ('/cgi-bin/nothere.sh')",
        ),
        ("/index.txt", "HTTP/1.0 200 OK"),
    ] {
        let raw_request = format!("GET {target} HTTP/1.0\r\n\r\n");
        let theirs = request(python.addr(), raw_request.as_bytes()).await;
        let ours_res = request(ours.addr, raw_request.as_bytes()).await;
        assert_eq!(theirs.status_line, status_line, "python: {target}");
        assert_eq!(ours_res.status_line, status_line, "ours: {target}");
    }
    let post = b"POST /index.txt HTTP/1.0\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(
        request(python.addr(), post).await.status_line,
        "HTTP/1.0 501 Can only POST to CGI scripts"
    );
    assert_eq!(
        request(ours.addr, post).await.status_line,
        "HTTP/1.0 501 Can only POST to CGI scripts"
    );
}

#[tokio::test]
async fn scripts_run_as_python_runs_them() {
    let fixture = CgiFixture::new();
    let server = serve(fixture.service()).await;
    let get = |target: &str| format!("GET {target} HTTP/1.0\r\n\r\n");

    let res = request(server.addr, get("/cgi-bin/hello.sh").as_bytes()).await;
    assert_eq!(res.status_line, "HTTP/1.0 200 Script output follows");
    assert_eq!(res.body, b"Hello World\n");
    // No leading slash (bpo-2254): hyper refuses the request line; never the script's source.
    let res = request(server.addr, get("cgi-bin/hello.sh").as_bytes()).await;
    assert_eq!(res.status(), 400);
    let res = request(server.addr, get("/htbin/hello.sh").as_bytes()).await;
    assert_eq!(res.body, b"htbin\n");
    let res = request(server.addr, get("/sub/dir/cgi-bin/file5.sh").as_bytes()).await;
    assert_eq!(res.body, b"file5\n");
    let res = request(
        server.addr,
        get("/cgi-bin/child-dir/file3.sh/a/b%20c").as_bytes(),
    )
    .await;
    assert_eq!(res.body, b"/cgi-bin/child-dir/file3.sh|/a/b c\n");
    let res = request(server.addr, get("/cgi-bin/inside-link.sh").as_bytes()).await;
    assert_eq!(res.body, b"Hello World\n", "a link inside the root works");
    let res = request(server.addr, get("/cgi-bin/noexec.sh").as_bytes()).await;
    assert_eq!(
        res.status_line,
        "HTTP/1.0 403 CGI script is not executable ('/cgi-bin/noexec.sh')"
    );
    let res = request(server.addr, get("/cgi-bin/sh-link").as_bytes()).await;
    assert_eq!(
        res.status(),
        404,
        "a link leading out of the root is not a script"
    );

    // argv: the query without `=`, `+` as spaces; never an option.
    for (query, argc, argv1) in [
        ("?hello+world", "1", "hello world"),
        ("", "1", ""),
        ("?a=1", "0", ""),
        ("?-s", "0", ""),
        ("?--logout", "0", ""),
    ] {
        let res = request(
            server.addr,
            get(&format!("/cgi-bin/env.sh{query}")).as_bytes(),
        )
        .await;
        let env = env_of(&res.body);
        assert_eq!(env.get("ARGC").map(String::as_str), Some(argc), "{query}");
        assert_eq!(env.get("ARGV1").map(String::as_str), Some(argv1), "{query}");
    }
    // The script starts in its own directory (RFC 3875 §7.2).
    let res = request(server.addr, get("/cgi-bin/env.sh").as_bytes()).await;
    let env = env_of(&res.body);
    let cwd = std::fs::canonicalize(fixture.root().join("cgi-bin")).unwrap();
    assert_eq!(env.get("PWD").map(PathBuf::from), Some(cwd));
    assert_eq!(env.get("HTTP_PROXY"), None);
}

#[tokio::test]
async fn python_and_perl_scripts() {
    let fixture = CgiFixture::new();
    let server = serve(fixture.service()).await;
    if Path::new("/usr/bin/python3").exists() {
        // CPython's test_post.
        let res = request(
            server.addr,
            b"POST /cgi-bin/file2.py HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 31\r\n\r\nspam=1&eggs=python&bacon=123456",
        )
        .await;
        assert_eq!(res.body, b"1, python, 123456\n");
    }
    if Path::new("/usr/bin/perl").exists() {
        let res = request(server.addr, b"GET /cgi-bin/hello.pl?x=1 HTTP/1.0\r\n\r\n").await;
        assert_eq!(res.body, b"perl x=1\n");
    }
}

/// The binary, as root, runs scripts as `nobody` through its helper (no fork of the server)
/// and applies `--cgi-timeout`.
#[tokio::test]
async fn the_binary_serves_cgi_like_python() {
    let fixture = CgiFixture::new();
    let mut command = basehttp();
    command
        .args([
            "0",
            "--bind",
            "127.0.0.1",
            "--cgi",
            "--cgi-timeout",
            "1",
            "--directory",
        ])
        .arg(fixture.root())
        .env("PIDS", fixture.pids())
        .env("SERVER_SECRET", "must not leak");
    let server = spawn_server_capturing(command);
    let res = request(server.addr(), b"GET /cgi-bin/env.sh?x HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status_line, "HTTP/1.0 200 Script output follows");
    let env = env_of(&res.body);
    let root = rustix::process::geteuid().is_root();
    let expected_uid = if root { "65534" } else { &*env["UID"] };
    assert_eq!(env.get("UID").map(String::as_str), Some(expected_uid));
    assert_eq!(env.get("ARGV1").map(String::as_str), Some("x"));
    assert_eq!(
        env.get("BASEHTTP_CGI_EXEC"),
        None,
        "the helper leaves no trace"
    );
    let res = request(server.addr(), b"GET /index.txt HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"a file\n");
    // A stalling script is cut off after a second and nothing of it stays behind (found by
    // working directory: scripts start in theirs).
    let bytes = raw(server.addr(), b"GET /cgi-bin/stall.sh HTTP/1.0\r\n\r\n").await;
    assert!(find(&bytes, b"partial").is_some());
    let cgi_bin = std::fs::canonicalize(fixture.root().join("cgi-bin")).unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let left: Vec<PathBuf> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path().join("cwd")).ok())
            .filter(|cwd| *cwd == cgi_bin)
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "processes left in {cgi_bin:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = wait_for_output(&server.stderr, |t| t.contains("stall.sh"));
    assert!(
        log.contains("\"GET /cgi-bin/env.sh?x HTTP/1.0\" 200 -"),
        "{log}"
    );
    assert_eq!(
        env.get("SERVER_SECRET"),
        None,
        "the server's environment stays out"
    );

    // --cgi-inherit-env: Python's environment handling.
    let mut command = basehttp();
    command
        .args([
            "0",
            "--bind",
            "127.0.0.1",
            "--cgi",
            "--cgi-inherit-env",
            "-d",
        ])
        .arg(fixture.root())
        .env("SERVER_SECRET", "inherited");
    let server = spawn_server_capturing(command);
    let res = request(server.addr(), b"GET /cgi-bin/env.sh HTTP/1.0\r\n\r\n").await;
    let env = env_of(&res.body);
    assert_eq!(
        env.get("SERVER_SECRET").map(String::as_str),
        Some("inherited")
    );
    assert_eq!(
        env.get("GATEWAY_INTERFACE").map(String::as_str),
        Some("CGI/1.1")
    );

    // A server started with next to no environment (read in place for every script): the
    // locale and time zone pass, PATH gets its default, nothing else of the server's appears.
    let mut command = basehttp();
    command
        .env_clear()
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .env("PIDS", fixture.pids())
        .args(["0", "--bind", "127.0.0.1", "--cgi", "-d"])
        .arg(fixture.root());
    let server = spawn_server_capturing(command);
    for _ in 0..2 {
        let res = request(server.addr(), b"GET /cgi-bin/env.sh HTTP/1.0\r\n\r\n").await;
        assert_eq!(res.status(), 200);
        let env = env_of(&res.body);
        assert_eq!(env.get("LC_ALL").map(String::as_str), Some("C"));
        assert_eq!(env.get("TZ").map(String::as_str), Some("UTC"));
        assert_eq!(
            env.get("PATH").map(String::as_str),
            Some("/usr/local/bin:/usr/bin:/bin")
        );
        assert_eq!(env.get("PIDS"), None, "not on the allow-list");
        assert_eq!(
            env.get("SERVER_SOFTWARE").map(String::as_str),
            Some(concat!(
                "SimpleHTTP/0.6 basehttp/",
                env!("CARGO_PKG_VERSION")
            ))
        );
    }
}

#[tokio::test]
async fn request_bodies_reach_the_script_exactly() {
    let fixture = CgiFixture::new();
    let server = serve(fixture.configured(|cgi| cgi.max_request_body(4 * 1024 * 1024))).await;
    // Binary and large.
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut req = format!(
        "POST /cgi-bin/echo.sh HTTP/1.0\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let res = request(server.addr, &req).await;
    assert_eq!(res.status(), 200);
    assert!(res.body == body, "the body came back changed");

    // Chunked: spooled, so CONTENT_LENGTH is exact.
    let req = b"POST /cgi-bin/env.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    let res = request(server.addr, req).await;
    assert_eq!(
        env_of(&res.body).get("CONTENT_LENGTH").map(String::as_str),
        Some("11")
    );
    let req = b"POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    assert_eq!(request(server.addr, req).await.body, b"hello world");

    // Too large, declared or streamed: 413, and no script runs.
    let req = b"POST /cgi-bin/echo.sh HTTP/1.0\r\nContent-Length: 99999999\r\n\r\n";
    assert_eq!(request(server.addr, req).await.status(), 413);
    let mut req = b"POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..5 {
        req.extend_from_slice(b"100000\r\n");
        req.extend_from_slice(&vec![b'x'; 0x100000]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(request(server.addr, &req).await.status(), 413);

    // No body, and an empty one: the script's stdin ends at once, for every script in turn.
    let res = request(
        server.addr,
        b"POST /cgi-bin/echo.sh HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!((res.status(), res.body.len()), (200, 0));
    for _ in 0..3 {
        let res = request(server.addr, b"GET /cgi-bin/stdin.sh HTTP/1.0\r\n\r\n").await;
        assert_eq!(res.body, b"eof\n", "stdin read to its end at once");
    }
    let res = request(
        server.addr,
        b"POST /cgi-bin/stdin.sh HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await;
    assert_eq!(res.body, b"helloeof\n");
    let res = request(server.addr, b"GET /cgi-bin/stdin.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"eof\n");
}

/// A script that floods its stderr does not hold the runtime: on a single-threaded one, as in
/// the crate's examples, its answer and other requests' still come, and the script is killed
/// once its stdout has been idle too long. The runtime runs on a thread of its own and the
/// client blocks here with timeouts, so that a runtime that stops running shows as a failure,
/// not as a test that never ends. (The stderr task also spends its budget on every read, so
/// that a pipe that never empties cannot keep it running; with one writer the reader empties
/// the pipe often enough that this test passes without that too.)
#[test]
fn a_script_flooding_its_stderr_does_not_hold_a_single_threaded_runtime() {
    use std::io::{Read, Write};
    let fixture = CgiFixture::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(serve(fixture.configured(|cgi| {
        cgi.idle_timeout(Duration::from_millis(500))
            .kill_grace(Duration::from_millis(200))
    })));
    let addr = server.addr;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let driver = std::thread::spawn(move || {
        runtime.block_on(async move {
            let _ = stopped.await;
            drop(server);
        });
    });
    let kill_flood = || {
        if let Some(pid) = std::fs::read_to_string(fixture.pids().join("stderr-flood"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            let _ = rustix::process::kill_process_group(
                rustix::process::Pid::from_raw(pid).unwrap(),
                rustix::process::Signal::KILL,
            );
        }
    };
    let read_until = |stream: &mut std::net::TcpStream, want: &[u8]| -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while find(&got, want).is_none() {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(err) => {
                    kill_flood();
                    panic!("no {want:?} in time ({err}): {got:?}");
                }
            }
        }
        got
    };
    let mut flood = std::net::TcpStream::connect(addr).unwrap();
    flood.set_read_timeout(Some(WAIT)).unwrap();
    flood
        .write_all(b"GET /cgi-bin/stderr-flood.sh HTTP/1.0\r\n\r\n")
        .unwrap();
    read_until(&mut flood, b"flooding\n");
    // While it floods: another request is answered.
    let mut other = std::net::TcpStream::connect(addr).unwrap();
    other.set_read_timeout(Some(WAIT)).unwrap();
    other
        .write_all(b"GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n")
        .unwrap();
    let answer = read_until(&mut other, b"Hello World\n");
    assert!(answer.starts_with(b"HTTP/1.0 200"), "{answer:?}");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(fixture.assert_gone("stderr-flood"));
    let _ = stop.send(());
    driver.join().unwrap();
}

#[tokio::test]
async fn response_forms_of_rfc_3875() {
    let fixture = CgiFixture::new();
    let server = serve(fixture.service()).await;
    let get = |target: &str| format!("GET {target} HTTP/1.0\r\n\r\n");

    let res = request(server.addr, get("/cgi-bin/status.sh").as_bytes()).await;
    assert_eq!(res.status_line, "HTTP/1.0 404 Not Here");
    assert_eq!(res.header("x-test"), Some("1"));
    assert_eq!(
        res.header("connection"),
        None,
        "hop-by-hop fields are the server's"
    );
    assert_eq!(res.body, b"missing\n");

    let res = request(server.addr, get("/cgi-bin/redirect.sh").as_bytes()).await;
    assert_eq!(res.status_line, "HTTP/1.0 302 Found");
    assert_eq!(res.header("location"), Some("http://example.com/x"));

    let res = request(server.addr, get("/cgi-bin/moved.sh").as_bytes()).await;
    assert_eq!(res.status_line, "HTTP/1.0 301 Moved");
    assert_eq!(res.header("location"), Some("/elsewhere"));
    assert_eq!(res.body, b"see /elsewhere\n");

    // A local redirect is served in place, as a GET.
    let res = request(
        server.addr,
        b"POST /cgi-bin/local.sh HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
    )
    .await;
    assert_eq!(res.status(), 200);
    let env = env_of(&res.body);
    assert_eq!(
        env.get("QUERY_STRING").map(String::as_str),
        Some("from=local")
    );
    assert_eq!(env.get("REQUEST_METHOD").map(String::as_str), Some("GET"));
    assert_eq!(env.get("CONTENT_LENGTH").map(String::as_str), Some(""));
    let res = request(server.addr, get("/cgi-bin/loop.sh").as_bytes()).await;
    assert_eq!(res.status(), 500, "a redirect loop ends");

    let res = request(server.addr, get("/cgi-bin/nph-raw.sh").as_bytes()).await;
    assert_eq!(res.status_line, "HTTP/1.0 299 Custom");
    assert_eq!(res.header("server"), Some("nph"));
    assert_eq!(res.body, b"raw body\n");

    let res = request(server.addr, get("/cgi-bin/long-head.sh").as_bytes()).await;
    assert_eq!(res.status(), 200);
    for i in 0..60 {
        assert_eq!(
            res.header(&format!("x-long-{i}")),
            Some("0123456789012345678901234567890123456789"),
            "field {i}"
        );
    }
    assert_eq!(res.body, b"after the head\n");

    for (script, status) in [("bare.sh", 502), ("silent.sh", 502), ("big-head.sh", 502)] {
        let res = request(server.addr, get(&format!("/cgi-bin/{script}")).as_bytes()).await;
        assert_eq!(res.status(), status, "{script}");
        assert_eq!(res.header("connection"), Some("close"));
    }

    // HEAD: the script runs, its body never reaches the client.
    let res = request(server.addr, b"HEAD /cgi-bin/head.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status(), 200);
    assert!(res.body.is_empty());

    // Under HTTP/1.1 the response is framed (Python's hangs) and the connection stays usable.
    let server11 =
        serve(fixture.configured(|cgi| cgi.protocol_version(http::Version::HTTP_11))).await;
    let mut stream = connect(server11.addr).await;
    for _ in 0..2 {
        stream
            .write_all(b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let res = read_response(&mut stream, false)
            .await
            .expect("a framed response");
        assert_eq!(res.body, b"Hello World\n");
    }
}

#[tokio::test]
async fn stderr_and_exit_codes_reach_the_log() {
    let log = captured_log();
    let fixture = CgiFixture::new();
    let server = serve(fixture.service()).await;
    let res = request(
        server.addr,
        b"GET /cgi-bin/stderr.sh?log-test-7 HTTP/1.0\r\n\r\n",
    )
    .await;
    assert_eq!(res.body, b"ok\n");
    let deadline = Instant::now() + WAIT;
    loop {
        let lines = normalize_log(&log.lock().unwrap().join("\n"));
        let stderr = lines
            .iter()
            .any(|l| l == "127.0.0.1 - - [DATE] oops on stderr");
        let exit = lines
            .iter()
            .any(|l| l == "127.0.0.1 - - [DATE] CGI script exit code 2");
        if stderr && exit {
            break;
        }
        assert!(Instant::now() < deadline, "{lines:#?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A client that pauses longer than the idle timeout is not the script's silence: the script
/// that never stopped writing is not killed when the client reads on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_not_held_against_the_script() {
    // The idle timeout is long enough that a loaded machine (CI runs the suite on two cores,
    // a browser among it) does not leave `head` unscheduled that long while the client reads;
    // it failed there once at 200 ms. Each pause is twice as long as the timeout.
    let idle = Duration::from_secs(1);
    let fixture = CgiFixture::new();
    let server = serve(fixture.configured(|cgi| cgi.idle_timeout(idle))).await;
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"GET /cgi-bin/zeros.sh HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    for _ in 0..3 {
        // Read some, then stop reading for longer than the idle timeout: the socket buffers
        // fill and the server waits for this client, with the script still writing.
        let mut some = vec![0; 1 << 20];
        stream.read_exact(&mut some).await.unwrap();
        received.extend_from_slice(&some);
        assert!(
            received.len() < 64_000_000,
            "the pauses come before the end"
        );
        tokio::time::sleep(idle * 2).await;
    }
    let _ = tokio::time::timeout(WAIT * 3, stream.read_to_end(&mut received))
        .await
        .expect("the rest of the body in time");
    let body = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |head| received.len() - head - 4);
    assert_eq!(body, 64_000_000, "the whole body, the script never stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_scripts_leave_nothing_behind() {
    let fixture = CgiFixture::new();
    let hostile = |header_timeout, idle_timeout| {
        fixture.configured(move |cgi| {
            cgi.header_timeout(header_timeout)
                .idle_timeout(idle_timeout)
                .kill_grace(Duration::from_millis(200))
        })
    };
    // Each short timeout only where it is the subject: the header timeout for the script that
    // never answers, the idle timeout for the one that stalls. Elsewhere the scripts get the
    // time a loaded machine (the suite compiles crates meanwhile) may take to schedule them.
    let short = Duration::from_millis(500);
    let impatient = serve(hostile(short, WAIT)).await;
    let stalls = serve(hostile(WAIT, short)).await;
    let server = serve(hostile(WAIT, WAIT)).await;

    // Never answers: 504 in time, and gone.
    let started = Instant::now();
    let res = request(impatient.addr, b"GET /cgi-bin/sleeper.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(5));
    fixture.assert_gone("sleeper").await;

    // Floods stdout: the client reads a little and leaves; the script is stopped.
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"GET /cgi-bin/flood.sh HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let mut some = Vec::with_capacity(256 * 1024);
    let _ = tokio::time::timeout(WAIT, (&mut stream).take(256 * 1024).read_to_end(&mut some))
        .await
        .expect("256 KiB of the flood in time");
    assert_eq!(
        some.len(),
        256 * 1024,
        "the flood ended early: {:?}",
        String::from_utf8_lossy(&some[..some.len().min(600)])
    );
    drop(stream);
    fixture.assert_gone("flood").await;

    // Never reads its input while a large body arrives: no deadlock.
    let body = vec![b'z'; 8 * 1024 * 1024];
    let mut req = format!(
        "POST /cgi-bin/noread.sh HTTP/1.0\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let (mut reader, mut writer) = connect(server.addr).await.into_split();
    let writing = tokio::spawn(async move {
        // The server may close before taking it all: that is the point.
        let _ = writer.write_all(&req).await;
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, reader.read_to_end(&mut answer))
        .await
        .expect("the answer must come while the body is still being sent");
    assert!(find(&answer, b"not reading").is_some());
    writing.abort();
    fixture.assert_gone("noread").await;

    // Writes megabytes before it reads a large body: both directions flow at once.
    let body = vec![b'y'; 3_000_000];
    let mut req = format!(
        "POST /cgi-bin/writes-first.sh HTTP/1.0\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let (mut reader, mut writer) = connect(server.addr).await.into_split();
    let writing = tokio::spawn(async move { writer.write_all(&req).await.map(|()| writer) });
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, reader.read_to_end(&mut answer))
        .await
        .expect("no deadlock")
        .unwrap();
    let res = parse_all(&answer).remove(0);
    assert_eq!(res.body.len(), 4_000_000 + "read 3000000".len());
    assert!(res.body.ends_with(b"read 3000000"));
    drop(writing.await);
    fixture.assert_gone("writes-first").await;

    // Leaves a grandchild holding its output, or a detached one: both are stopped.
    let res = request(server.addr, b"GET /cgi-bin/grandchild.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"spawned\n");
    fixture.assert_gone("grandchild").await;
    let res = request(server.addr, b"GET /cgi-bin/detached.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"spawned\n");
    fixture.assert_gone("detached").await;

    // Writes to stderr in a loop.
    let res = request(server.addr, b"GET /cgi-bin/stderr-loop.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"ok\n");
    fixture.assert_gone("stderr-loop").await;

    // Stalls after part of its body: the connection is cut, the script stopped.
    let bytes = raw(stalls.addr, b"GET /cgi-bin/stall.sh HTTP/1.0\r\n\r\n").await;
    assert!(find(&bytes, b"partial").is_some());
    fixture.assert_gone("stall").await;

    // Still serving.
    let res = request(server.addr, b"GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"Hello World\n");
}

#[tokio::test]
async fn the_concurrency_cap_answers_503() {
    let fixture = CgiFixture::new();
    let server = serve(fixture.configured(|cgi| {
        cgi.max_scripts(1)
            .queue_timeout(Duration::from_millis(200))
            .header_timeout(Duration::from_secs(3))
            .kill_grace(Duration::from_millis(100))
    }))
    .await;
    let addr = server.addr;
    let slow =
        tokio::spawn(async move { raw(addr, b"GET /cgi-bin/sleeper.sh HTTP/1.0\r\n\r\n").await });
    // Once the sleeper has started, the only slot is taken.
    let deadline = Instant::now() + WAIT;
    while !fixture.pids().join("sleeper").exists() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let res = request(server.addr, b"GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status(), 503);
    let slow = parse_all(&slow.await.unwrap()).remove(0);
    assert_eq!(slow.status(), 504);
    fixture.assert_gone("sleeper").await;
    let res = request(server.addr, b"GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status(), 200, "the slot is free again");
}

#[tokio::test]
async fn traversal_never_runs_or_discloses_a_script_outside() {
    let fixture = CgiFixture::new();
    let server = serve(fixture.service()).await;
    let source = std::fs::read(fixture.root().join("cgi-bin/hello.sh")).unwrap();
    for target in [
        "/cgi-bin/../nocgi.sh",
        "/cgi-bin/%2e%2e/nocgi.sh",
        "/cgi-bin/..%2fnocgi.sh",
        "/cgi-bin%2f..%2fnocgi.sh",
        "//cgi-bin/../nocgi.sh",
        "/cgi-bin/./../nocgi.sh",
        "/cgi-bin/..%5cnocgi.sh",
        "/cgi-bin/%2e%2e%2foutside-bin/x.sh",
        "/cgi-bin/..%3f/outside-bin/x.sh",
        "/cgi-bin/%2e%2e%3f",
        "/cgi-bin/child-dir/..%2f..%2fnocgi.sh",
        "/cgi-bin/%00",
        "/cgi-bin/hello.sh%00",
        "/cgi-bin/hello.sh%00.txt",
        "/cgi-bin/%c0%ae%c0%ae/nocgi.sh",
        "/cgi-bin/sh-link",
        "/cgi-bin/sh-link/x",
        "/outside-bin/x.sh",
        "/../cgi-bin/../nocgi.sh",
        "/cgi-bin/hello.sh%20",
        "/cgi-bin/hello.sh.",
        "/CGI-BIN/hello.sh",
        "/cgi-bin;/hello.sh",
        "/cgi-bin//hello.sh/../../nocgi.sh",
    ] {
        for method in ["GET", "POST"] {
            let req = format!("{method} {target} HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
            let bytes = raw(server.addr, req.as_bytes()).await;
            // Run, it prints the word after a real newline; its source has `\n` there.
            let executed = find(&bytes, format!("\n{OUTSIDE}").as_bytes()).is_some();
            assert!(
                !executed,
                "{req:?} ran a script outside the CGI directories"
            );
            assert!(
                find(&bytes, &source).is_none(),
                "{req:?} disclosed a script's source"
            );
        }
    }
    assert_eq!(
        request(server.addr, b"GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n")
            .await
            .body,
        b"Hello World\n"
    );
}
