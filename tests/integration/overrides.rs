//! Python's overridable methods reaching every response of a stack: the `cors`, `spa` and
//! `custom_errors` examples run as processes beside their Python originals
//! (`tests/python/{cors,spa,custom_errors}.py`, on CPython 3.14's `http.server` when it is
//! available), the same request bytes sent to both.
//!
//! Compared: the status line, the header *set* (names case-insensitively, values exactly) and,
//! where the pages are the same in every Python, the body. Masked: `Date` and `Server`, and the
//! headers basehttp adds to files on purpose (`ETag`, `Accept-Ranges`: the README's
//! compatibility notes; `etags(false)`/`ranges(false)` remove them), which are asserted to be
//! there. Under a Python older than 3.14 a listing's page (and length) differ: masked then.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use crate::support::*;

/// `Tue, 14 Nov 2023 22:13:20 GMT`, the mtime of every fixture file.
const MTIME: u64 = 1_700_000_000;
const MTIME_HTTP: &str = "Tue, 14 Nov 2023 22:13:20 GMT";

/// Headers basehttp adds to files on purpose.
const ADDED: [&str; 2] = ["etag", "accept-ranges"];

/// A served tree with files, a directory, CGI scripts (readable and runnable by `nobody`:
/// both servers run scripts as `nobody` under root) and a single-page application.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("basehttp-overrides-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path();
        let file = |path: &str, contents: &[u8], mode: u32| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, contents).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(MTIME);
            std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(mtime))
                .expect("mtime");
        };
        file("hello.txt", b"hello, world\n", 0o644);
        file("sub/inner.txt", b"inner\n", 0o644);
        file(
            "cgi-bin/hello.sh",
            b"#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\nX-Script: yes\\r\\n\\r\\nHello from CGI\\n'\n",
            0o755,
        );
        file("cgi-bin/noexec.sh", b"#!/bin/sh\necho never\n", 0o644);
        file(
            "app/index.html",
            b"<!doctype html><title>app</title><script src=/app/assets/app.js></script>\n",
            0o644,
        );
        file("app/app.wasm", b"\0asm\x01\0\0\0", 0o644);
        file("app/assets/app.js", b"console.log('app');\n", 0o644);
        for dir in ["", "sub", "cgi-bin", "app", "app/assets"] {
            std::fs::set_permissions(root.join(dir), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        Self { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }
}

/// Runs example `name` on an ephemeral port serving `root`, capturing its log.
fn spawn_example_serving(name: &str, root: &Path) -> ChildGuard {
    let mut command = Command::new(example_path(name));
    command.arg("0").arg(root);
    spawn_server_capturing(command)
}

/// One response, as compared: status line, header set, body (`None`: not compared).
type Compared = (String, BTreeSet<(String, String)>, Option<Vec<u8>>);

/// Sends `request` to both servers and returns what is compared of each answer, after
/// checking that basehttp's additions are exactly `ADDED` (when `added`).
async fn side_by_side(
    ours: &ChildGuard,
    python: &ChildGuard,
    request: &str,
    mask: &[&str],
    compare_body: bool,
) -> (Compared, Compared, RawResponse) {
    let theirs = parse_one(&raw(python.addr(), request.as_bytes()).await, request);
    let mine = parse_one(&raw(ours.addr(), request.as_bytes()).await, request);
    let shape = |res: &RawResponse, masked: &[&str]| -> Compared {
        let headers = res
            .headers
            .iter()
            .filter(|(name, _)| {
                name != "date" && name != "server" && !masked.contains(&name.as_str())
            })
            .cloned()
            .collect();
        let body = compare_body.then(|| res.body.clone());
        (res.status_line.clone(), headers, body)
    };
    let mut ours_masked: Vec<&str> = mask.to_vec();
    ours_masked.extend(ADDED);
    (shape(&mine, &ours_masked), shape(&theirs, mask), mine)
}

/// What is compared of a response: a listing's page (and length) changed in 3.14, so against an
/// older Python they are masked. The mask, and whether bodies are compared.
fn compared(listing: bool, flavor: PythonFlavor) -> (&'static [&'static str], bool) {
    if listing && flavor == PythonFlavor::Local {
        (&["content-length"], false)
    } else {
        (&[], true)
    }
}

fn parse_one(bytes: &[u8], request: &str) -> RawResponse {
    let mut responses = parse_all(bytes);
    assert_eq!(
        responses.len(),
        1,
        "{request:?}: {:?}",
        String::from_utf8_lossy(bytes)
    );
    responses.remove(0)
}

/// The two servers' log lines, dates replaced, once each has written at least `lines`.
fn logs(ours: &ChildGuard, python: &ChildGuard, lines: usize) -> (Vec<String>, Vec<String>) {
    let count = |t: &str| normalize_log(t).len() >= lines;
    let mine = normalize_log(&wait_for_output(&ours.stderr, count));
    let theirs = normalize_log(&wait_for_output(&python.stderr, count));
    (mine, theirs)
}

#[tokio::test]
async fn cors_answers_like_its_python_original() {
    let site = Site::new();
    let Some((python, flavor)) = spawn_python_twin("cors", &[site.root().as_os_str()]) else {
        return;
    };
    let ours = spawn_example_serving("cors", site.root());
    let ims = format!("GET /hello.txt HTTP/1.0\r\nIf-Modified-Since: {MTIME_HTTP}\r\n\r\n");
    // (request, what it is, whether the handler's end_headers runs for it in Python)
    let requests: &[(&str, &str, bool)] = &[
        ("GET /hello.txt HTTP/1.0\r\n\r\n", "file 200", true),
        ("HEAD /hello.txt HTTP/1.0\r\n\r\n", "file HEAD", true),
        ("GET / HTTP/1.0\r\n\r\n", "listing 200", true),
        ("GET /sub/ HTTP/1.0\r\n\r\n", "listing 200", true),
        ("GET /sub HTTP/1.0\r\n\r\n", "directory 301", true),
        (&ims, "If-Modified-Since 304", true),
        ("GET /missing.txt HTTP/1.0\r\n\r\n", "missing 404", true),
        (
            "POST /hello.txt HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
            "POST to a file 501",
            true,
        ),
        (
            "DELETE /hello.txt HTTP/1.0\r\n\r\n",
            "unsupported method 501",
            true,
        ),
        (
            "GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n",
            "CGI script 200",
            false,
        ),
        (
            "GET /cgi-bin/missing.sh HTTP/1.0\r\n\r\n",
            "missing CGI script 404",
            true,
        ),
        (
            "GET /cgi-bin/noexec.sh HTTP/1.0\r\n\r\n",
            "CGI script 403",
            true,
        ),
    ];
    let mut lines = 0;
    for (request, what, hooked) in requests {
        let (mask, stable_page) = compared(what.starts_with("listing"), flavor);
        let (mine, theirs, raw) = side_by_side(&ours, &python, request, mask, stable_page).await;
        assert_eq!(mine, theirs, "{what}: {request:?}");
        // One log line per request, and one more (`code N, message …`) per error.
        lines += if raw.status() >= 400 { 2 } else { 1 };
        let cors = raw.header("access-control-allow-origin") == Some("*")
            && raw.header("cache-control") == Some("no-store");
        assert_eq!(cors, *hooked, "{what}: the handler's end_headers ran");
        if what.starts_with("file") {
            assert!(raw.header("etag").is_some() && raw.header("accept-ranges").is_some());
        }
    }
    let (mine, theirs) = logs(&ours, &python, lines);
    assert_eq!(mine.len(), lines, "{mine:#?}");
    assert_eq!(mine, theirs, "the log lines");

    // Beyond Python: a range request, and its refusal, through the same end_headers.
    let bytes = raw(
        ours.addr(),
        b"GET /hello.txt HTTP/1.0\r\nRange: bytes=0-4\r\n\r\n",
    )
    .await;
    let res = parse_one(&bytes, "range");
    assert_eq!(res.status_line, "HTTP/1.0 206 Partial Content");
    assert_eq!(res.body, b"hello");
    assert_eq!(res.header("content-range"), Some("bytes 0-4/13"));
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let bytes = raw(
        ours.addr(),
        b"GET /hello.txt HTTP/1.0\r\nRange: bytes=99-\r\n\r\n",
    )
    .await;
    let res = parse_one(&bytes, "range");
    assert_eq!(res.status(), 416);
    assert_eq!(res.header("content-range"), Some("bytes */13"));
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn spa_answers_like_its_python_original() {
    let site = Site::new();
    let app = site.root().join("app");
    let Some((python, flavor)) = spawn_python_twin("spa", &[app.as_os_str()]) else {
        return;
    };
    let ours = spawn_example_serving("spa", &app);
    let ims = format!("GET /settings/profile HTTP/1.0\r\nIf-Modified-Since: {MTIME_HTTP}\r\n\r\n");
    let requests: &[(&str, &str)] = &[
        ("GET / HTTP/1.0\r\n\r\n", "index.html"),
        ("GET /index.html HTTP/1.0\r\n\r\n", "index.html"),
        (
            "GET /settings/profile HTTP/1.0\r\n\r\n",
            "a route: index.html",
        ),
        (
            "GET /settings/profile/?tab=2 HTTP/1.0\r\n\r\n",
            "a route: index.html",
        ),
        ("HEAD /no/such/page HTTP/1.0\r\n\r\n", "a route: index.html"),
        (&ims, "a route, not modified"),
        ("GET /app.wasm HTTP/1.0\r\n\r\n", "application/wasm"),
        ("GET /assets/app.js HTTP/1.0\r\n\r\n", "a script"),
        ("GET /assets HTTP/1.0\r\n\r\n", "directory 301"),
        ("GET /assets/ HTTP/1.0\r\n\r\n", "listing"),
        (
            "POST /settings HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
            "501",
        ),
    ];
    for (request, what) in requests {
        let (mask, stable_page) = compared(*what == "listing", flavor);
        let (mine, theirs, raw) = side_by_side(&ours, &python, request, mask, stable_page).await;
        assert_eq!(mine, theirs, "{what}: {request:?}");
        if what.starts_with("a route") && !what.contains("not modified") {
            assert_eq!(raw.header("content-type"), Some("text/html"), "{request:?}");
        }
        if *what == "application/wasm" {
            assert_eq!(raw.header("content-type"), Some("application/wasm"));
        }
    }
    let lines = requests.len() + 1; // and `code 501, message …`
    let (mine, theirs) = logs(&ours, &python, lines);
    assert_eq!(mine.len(), lines, "{mine:#?}");
    assert_eq!(mine, theirs, "the log lines");
}

#[tokio::test]
async fn custom_errors_answer_like_their_python_original() {
    let site = Site::new();
    let Some((python, _flavor)) = spawn_python_twin("custom_errors", &[site.root().as_os_str()])
    else {
        return;
    };
    let ours = spawn_example_serving("custom_errors", site.root());
    let requests = [
        "GET /missing.txt HTTP/1.0\r\n\r\n",
        "HEAD /missing.txt HTTP/1.0\r\n\r\n",
        "GET /a%3Cb%3E.txt HTTP/1.0\r\n\r\n",
        "POST /hello.txt HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
        "DELETE /hello.txt HTTP/1.0\r\n\r\n",
        "GET /cgi-bin/missing.sh HTTP/1.0\r\n\r\n",
        "GET /cgi-bin/noexec.sh HTTP/1.0\r\n\r\n",
        "GET /cgi-bin/ HTTP/1.0\r\n\r\n",
        "GET /hello.txt HTTP/1.0\r\n\r\n",
    ];
    for request in requests {
        let (mine, theirs, raw) = side_by_side(&ours, &python, request, &[], true).await;
        assert_eq!(mine, theirs, "{request:?}");
        if raw.status() >= 400 && !request.starts_with("HEAD") {
            assert!(
                raw.body.starts_with(b"<!doctype html>\n<title>"),
                "the custom page: {request:?}"
            );
            assert_eq!(raw.header("content-type"), Some("text/html; charset=utf-8"));
        }
    }
}

/// The examples' Python originals are the ones in `tests/python` (a guard against the docs and
/// the originals drifting apart).
#[test]
fn the_examples_quote_their_originals() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (example, original, line) in [
        (
            "cors",
            "cors",
            r#"self.send_header("Access-Control-Allow-Origin", "*")"#,
        ),
        ("spa", "spa", r#"self.path = "/index.html""#),
        (
            "custom_errors",
            "custom_errors",
            "<p>%(message)s: %(explain)s.</p>",
        ),
    ] {
        let rust =
            std::fs::read_to_string(root.join(format!("examples/{example}.rs"))).expect("example");
        let python = std::fs::read_to_string(root.join(format!("tests/python/{original}.py")))
            .expect("original");
        assert!(rust.contains(line) && python.contains(line), "{example}");
    }
}
