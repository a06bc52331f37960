//! `StaticFiles` on a real socket: golden bytes, traversal attempts, symlinks, special files,
//! ranges and validators, files changing under the server, aborted and concurrent downloads,
//! and the overridable pieces.

use std::time::Duration;

use basehttp::static_files::{StaticFiles, render_listing};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fixture::{BIG_LEN, Fixture, MTIME_HTTP, SECRET, write};
use crate::support::*;

const SERVER: &str = concat!("SimpleHTTP/0.6 basehttp/", env!("CARGO_PKG_VERSION"));

async fn fixture_server() -> (Fixture, TestServer) {
    let fixture = Fixture::new();
    let server = serve(StaticFiles::new(fixture.root())).await;
    (fixture, server)
}

/// One HTTP/1.0 request (the connection closes after it), parsed.
async fn get(server: &TestServer, target: &str, headers: &str) -> RawResponse {
    get_once(server.addr, target, headers).await
}

/// The response bytes with the `Date` value replaced by `<DATE>`.
fn mask_date(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let Some(start) = text.find("\r\nDate: ") else {
        return text;
    };
    let value = start + "\r\nDate: ".len();
    let end = value + text[value..].find("\r\n").unwrap_or(0);
    format!("{}<DATE>{}", &text[..value], &text[end..])
}

// ===== golden bytes =====

const ERROR_404: &str = "<!DOCTYPE HTML>
<html lang=\"en\">
    <head>
        <meta charset=\"utf-8\">
        <style type=\"text/css\">
            :root {
                color-scheme: light dark;
            }
        </style>
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: 404</p>
        <p>Message: File not found.</p>
        <p>Error code explanation: 404 - Nothing matches the given URI.</p>
    </body>
</html>
";

/// The root of the fixture as CPython 3.14 lists it (checked against the oracle by
/// `files_parity`).
const ROOT_LISTING: &str = "<!DOCTYPE HTML>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<style type=\"text/css\">
:root {
color-scheme: light dark;
}
</style>
<title>Directory listing for /</title>
</head>
<body>
<h1>Directory listing for /</h1>
<hr>
<ul>
<li><a href=\".hidden\">.hidden</a></li>
<li><a href=\"a%20b%26%3Cc%3E.txt\">a b&amp;&lt;c&gt;.txt</a></li>
<li><a href=\"big.bin\">big.bin</a></li>
<li><a href=\"caf%C3%A9.txt\">café.txt</a></li>
<li><a href=\"dirlnk/\">dirlnk@</a></li>
<li><a href=\"empty/\">empty/</a></li>
<li><a href=\"hello.txt\">hello.txt</a></li>
<li><a href=\"htm-dir/\">htm-dir/</a></li>
<li><a href=\"index-dir/\">index-dir/</a></li>
<li><a href=\"lnk\">lnk@</a></li>
<li><a href=\"lower.txt\">lower.txt</a></li>
<li><a href=\"out-dirlnk/\">out-dirlnk@</a></li>
<li><a href=\"out-lnk\">out-lnk@</a></li>
<li><a href=\"plus%2Bsemi%3Bcolon.txt\">plus+semi;colon.txt</a></li>
<li><a href=\"q%3F%23%25.txt\">q?#%.txt</a></li>
<li><a href=\"special/\">special/</a></li>
<li><a href=\"sub/\">sub/</a></li>
<li><a href=\"Sub%20Dir/\">Sub Dir/</a></li>
<li><a href=\"types/\">types/</a></li>
<li><a href=\"Upper.TXT\">Upper.TXT</a></li>
<li><a href=\"weird/\">weird/</a></li>
<li><a href=\"%E6%97%A5%E6%9C%AC%E8%AA%9E.txt\">日本語.txt</a></li>
</ul>
<hr>
</body>
</html>
";

#[tokio::test]
async fn listing_bytes_on_the_wire() {
    let (_fixture, server) = fixture_server().await;
    let bytes = raw(server.addr, b"GET /?q=%3Cb%3E HTTP/1.0\r\n\r\n").await;
    let expected = format!(
        "HTTP/1.0 200 OK\r\nServer: {SERVER}\r\nDate: <DATE>\r\n\
         Content-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\r\n{ROOT_LISTING}",
        ROOT_LISTING.len()
    );
    assert_eq!(mask_date(&bytes), expected);
}

#[tokio::test]
async fn not_found_bytes_on_the_wire() {
    let (_fixture, server) = fixture_server().await;
    let bytes = raw(server.addr, b"GET /missing HTTP/1.0\r\n\r\n").await;
    let expected = format!(
        "HTTP/1.0 404 File not found\r\nServer: {SERVER}\r\nDate: <DATE>\r\n\
         Connection: close\r\nContent-Type: text/html;charset=utf-8\r\n\
         Content-Length: {}\r\n\r\n{ERROR_404}",
        ERROR_404.len()
    );
    assert_eq!(mask_date(&bytes), expected);
}

#[tokio::test]
async fn redirect_and_file_bytes_on_the_wire() {
    let (_fixture, server) = fixture_server().await;
    let bytes = raw(server.addr, b"GET //sub?x=1 HTTP/1.0\r\n\r\n").await;
    assert_eq!(
        mask_date(&bytes),
        format!(
            "HTTP/1.0 301 Moved Permanently\r\nServer: {SERVER}\r\nDate: <DATE>\r\n\
             Location: /sub/?x=1\r\nContent-Length: 0\r\n\r\n"
        )
    );
    let bytes = raw(server.addr, b"GET /hello.txt HTTP/1.0\r\n\r\n").await;
    let etag = format!("\"{:x}-6\"", 1_700_000_000u128 * 1_000_000_000);
    assert_eq!(
        mask_date(&bytes),
        format!(
            "HTTP/1.0 200 OK\r\nServer: {SERVER}\r\nDate: <DATE>\r\n\
             Content-Type: text/plain\r\nContent-Length: 6\r\n\
             Last-Modified: {MTIME_HTTP}\r\nEtag: {etag}\r\nAccept-Ranges: bytes\r\n\r\nhello\n"
        )
    );
}

#[tokio::test]
async fn log_lines_are_pythons() {
    let lines = captured_log();
    let (_fixture, server) = fixture_server().await;
    let _ = raw(server.addr, b"GET /hello.txt?log-test HTTP/1.0\r\n\r\n").await;
    let _ = raw(server.addr, b"GET /log-test\xc2\x85 HTTP/1.0\r\n\r\n").await;
    let _ = raw(
        server.addr,
        b"POST /log-test HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    let lines: Vec<String> = normalize_log(&lines.lock().unwrap().join("\n"));
    let position = |line: &str| {
        lines
            .iter()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("{line:?} not in {lines:#?}"))
    };
    position("127.0.0.1 - - [DATE] \"GET /hello.txt?log-test HTTP/1.0\" 200 -");
    // Python decodes the request line as ISO-8859-1 and escapes control characters (gh-100001).
    let logged = position("127.0.0.1 - - [DATE] \"GET /log-test\u{c2}\\x85 HTTP/1.0\" 404 -");
    assert_eq!(
        lines[logged - 1],
        "127.0.0.1 - - [DATE] code 404, message File not found"
    );
    let logged = position("127.0.0.1 - - [DATE] \"POST /log-test HTTP/1.0\" 501 -");
    assert_eq!(
        lines[logged - 1],
        "127.0.0.1 - - [DATE] code 501, message Unsupported method ('POST')"
    );
}

// ===== names =====

#[tokio::test]
async fn awkward_names_are_listed_and_reachable() {
    let (_fixture, server) = fixture_server().await;
    let listing = get(&server, "/", "").await;
    let page = String::from_utf8(listing.body).unwrap();
    // Every href in the listing leads to the entry.
    for href in page
        .split("<a href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
    {
        let target = format!("/{href}");
        let res = get(&server, &target, "").await;
        let expected = match href {
            // Outside the root: refused by default.
            "out-lnk" | "out-dirlnk/" => 404,
            _ => 200,
        };
        assert_eq!(res.status(), expected, "{target}");
    }
}

#[tokio::test]
async fn names_that_are_not_utf8_are_listed_and_linked() {
    let (_fixture, server) = fixture_server().await;
    let page = get(&server, "/weird/", "").await.body;
    let page = String::from_utf8(page).expect("the listing is valid UTF-8");
    assert!(
        page.contains("<li><a href=\"%FFname.txt\">\u{fffd}name.txt</a></li>"),
        "{page}"
    );
    // Our link, and Python's surrogate-escaped link, both reach the file.
    for target in ["/weird/%FFname.txt", "/weird/%ED%B3%BFname.txt"] {
        let res = get(&server, target, "").await;
        assert_eq!(res.status(), 200, "{target}");
        assert_eq!(res.body, b"not utf-8\n");
    }
}

// ===== traversal =====

const ESCAPES: &[&str] = &[
    "/../outside/secret.txt",
    "/../../../../../../../../etc/passwd",
    "/..%2foutside%2fsecret.txt",
    "/..%2Foutside%2Fsecret.txt",
    "/%2e%2e/outside/secret.txt",
    "/%2E%2E/outside/secret.txt",
    "/%2e%2e%2foutside%2fsecret.txt",
    "/.%2e/outside/secret.txt",
    "/%2e./outside/secret.txt",
    "/sub/../../outside/secret.txt",
    "/sub/%2e%2e/%2e%2e/outside/secret.txt",
    "/..%5coutside%5csecret.txt",
    "/..\\outside\\secret.txt",
    "/%5c..%5coutside%5csecret.txt",
    "/%c0%ae%c0%ae/outside/secret.txt",
    "/%c0%ae%c0%ae%c0%afoutside%c0%afsecret.txt",
    "/%e0%80%ae%e0%80%ae/outside/secret.txt",
    "/%252e%252e/outside/secret.txt",
    "/..%00/outside/secret.txt",
    "/secret.txt%00.html",
    "/%00../outside/secret.txt",
    "//..//..//outside//secret.txt",
    "///../outside/secret.txt",
    "/./.././outside/secret.txt",
    "/..;/outside/secret.txt",
    "/out-lnk",
    "/out-lnk/",
    "/out-dirlnk/secret.txt",
    "/out-dirlnk/",
    "/dirlnk/../../outside/secret.txt",
    "/lnk/../../outside/secret.txt",
    "http://evil.example/../outside/secret.txt",
    "/%ff%fe/../../outside/secret.txt",
    "/....//outside/secret.txt",
    "/..%252f..%252foutside/secret.txt",
    "/%u002e%u002e/outside/secret.txt",
];

#[tokio::test]
async fn no_target_escapes_the_root() {
    let fixture = Fixture::new();
    // Also with symlinks followed: `..` must still never climb out.
    let strict = serve(StaticFiles::new(fixture.root())).await;
    let lenient = serve(StaticFiles::new(fixture.root()).follow_symlinks(true)).await;
    for target in ESCAPES {
        for method in ["GET", "HEAD"] {
            let request = format!("{method} {target} HTTP/1.0\r\n\r\n");
            let bytes = raw(strict.addr, request.as_bytes()).await;
            assert!(find(&bytes, SECRET).is_none(), "{request:?} escaped");
            let status = parse_all(&bytes).first().map_or(400, RawResponse::status);
            assert!(
                matches!(status, 200 | 301 | 400 | 404),
                "{request:?}: {status}"
            );
            if !target.starts_with("/out") {
                let bytes = raw(lenient.addr, request.as_bytes()).await;
                assert!(
                    find(&bytes, SECRET).is_none(),
                    "{request:?} escaped (follow)"
                );
            }
        }
    }
    // Still serving.
    assert_eq!(get(&strict, "/hello.txt", "").await.body, b"hello\n");
}

#[tokio::test]
async fn symlinks_leaving_the_root_are_refused_unless_followed() {
    let fixture = Fixture::new();
    let strict = serve(StaticFiles::new(fixture.root())).await;
    for target in ["/out-lnk", "/out-dirlnk/secret.txt", "/out-dirlnk/"] {
        let res = get(&strict, target, "").await;
        assert_eq!(res.status(), 404, "{target}");
        assert_eq!(res.status_line, "HTTP/1.0 404 File not found");
    }
    // Links that stay inside work as in Python.
    assert_eq!(get(&strict, "/lnk", "").await.body, b"hello\n");
    assert_eq!(get(&strict, "/dirlnk/inner.txt", "").await.body, b"inner\n");
    assert_eq!(get(&strict, "/dirlnk", "").await.status(), 301);

    let python_like = serve(StaticFiles::new(fixture.root()).follow_symlinks(true)).await;
    assert_eq!(get(&python_like, "/out-lnk", "").await.body, SECRET);
    assert_eq!(
        get(&python_like, "/out-dirlnk/secret.txt", "").await.body,
        SECRET
    );
    let listing = get(&python_like, "/out-dirlnk/", "").await;
    assert!(find(&listing.body, b"secret.txt").is_some());
}

#[tokio::test]
async fn a_link_swapped_to_point_outside_is_refused_at_open() {
    let fixture = Fixture::new();
    let server = serve(StaticFiles::new(fixture.root())).await;
    let link = fixture.root().join("swap");
    std::os::unix::fs::symlink("hello.txt", &link).unwrap();
    assert_eq!(get(&server, "/swap", "").await.body, b"hello\n");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("../outside/secret.txt", &link).unwrap();
    assert_eq!(get(&server, "/swap", "").await.status(), 404);
}

// ===== special files =====

#[tokio::test]
async fn fifos_and_sockets_are_forbidden_without_blocking() {
    let (_fixture, server) = fixture_server().await;
    // A socket cannot be opened at all: 404, as in Python.
    for (target, status) in [("/special/fifo", 403), ("/special/sock", 404)] {
        for method in ["GET", "HEAD"] {
            let request = format!("{method} {target} HTTP/1.0\r\n\r\n");
            // `raw` fails the test if no answer comes within its deadline.
            let res = parse_all(&raw(server.addr, request.as_bytes()).await).remove(0);
            assert_eq!(res.status(), status, "{request:?}");
        }
    }
    // A FIFO named like an index page is not one.
    let fixture = Fixture::new();
    std::fs::create_dir(fixture.root().join("fifo-index")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(fixture.root().join("fifo-index/index.html"))
        .status()
        .unwrap();
    assert!(status.success());
    let server = serve(StaticFiles::new(fixture.root())).await;
    let res = get(&server, "/fifo-index/", "").await;
    assert_eq!(res.status(), 200);
    assert!(find(&res.body, b"Directory listing for /fifo-index/").is_some());
}

#[tokio::test]
async fn devices_are_forbidden_even_through_followed_links() {
    // Python would stream /dev/zero forever.
    let fixture = Fixture::new();
    std::os::unix::fs::symlink("/dev/zero", fixture.root().join("zero")).unwrap();
    let server = serve(StaticFiles::new(fixture.root()).follow_symlinks(true)).await;
    let res = get(&server, "/zero", "").await;
    assert_eq!(res.status(), 403);
    let strict = serve(StaticFiles::new(fixture.root())).await;
    assert_eq!(get(&strict, "/zero", "").await.status(), 404);
}

#[tokio::test]
async fn an_unreadable_directory_is_pythons_404() {
    use std::os::unix::fs::PermissionsExt;
    let fixture = Fixture::new();
    let locked = fixture.root().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o311)).unwrap();
    if std::fs::read_dir(&locked).is_ok() {
        eprintln!("running with permission to read anything (root): skipped");
        return;
    }
    let server = serve(StaticFiles::new(fixture.root())).await;
    let res = get(&server, "/locked/", "").await;
    assert_eq!(
        res.status_line,
        "HTTP/1.0 404 No permission to list directory"
    );
    // Without the slash it is still a directory: Python's redirect.
    assert_eq!(get(&server, "/locked", "").await.status(), 301);
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
}

// ===== ranges and validators =====

fn etag_of(res: &RawResponse) -> String {
    res.header("etag").expect("an ETag").to_owned()
}

#[tokio::test]
async fn single_ranges() {
    let (_fixture, server) = fixture_server().await;
    let big = Fixture::big();
    let len = BIG_LEN;
    let cases: &[(&str, usize, usize)] = &[
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, len - 1),
        ("bytes=-500", len - 500, len - 1),
        ("bytes=10-10", 10, 10),
        ("bytes=1000-99999999", 1000, len - 1),
        ("bytes=-99999999", 0, len - 1),
        ("bytes=0-9,5-20", 0, 20),
        ("bytes=0-9,10-19", 0, 19),
    ];
    for (range, first, last) in cases {
        let res = get(&server, "/big.bin", &format!("Range: {range}\r\n")).await;
        assert_eq!(res.status(), 206, "{range}");
        assert_eq!(
            res.header("content-range"),
            Some(format!("bytes {first}-{last}/{len}").as_str()),
            "{range}"
        );
        assert_eq!(
            res.header("content-length"),
            Some((last - first + 1).to_string().as_str())
        );
        assert_eq!(res.body, big[*first..=*last], "{range}");
    }
}

#[tokio::test]
async fn multiple_ranges_are_multipart() {
    let (_fixture, server) = fixture_server().await;
    let big = Fixture::big();
    let res = get(&server, "/big.bin", "Range: bytes=0-4, 100-109, -3\r\n").await;
    assert_eq!(res.status(), 206);
    let content_type = res.header("content-type").unwrap().to_owned();
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .expect("multipart");
    assert_eq!(
        res.header("content-length"),
        Some(res.body.len().to_string().as_str())
    );
    let body = res.body;
    let mut parts = Vec::new();
    let delimiter = format!("--{boundary}");
    let text: Vec<u8> = body;
    let mut rest = &text[..];
    while let Some(start) = find(rest, delimiter.as_bytes()) {
        rest = &rest[start + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let head_end = find(rest, b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let range = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Range: bytes "))
            .unwrap()
            .to_owned();
        let (span, _) = range.split_once('/').unwrap();
        let (a, b) = span.split_once('-').unwrap();
        let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
        let data = &rest[head_end + 4..head_end + 4 + (b - a + 1)];
        assert_eq!(data, &big[a..=b]);
        assert!(head.contains("Content-Type: application/octet-stream"));
        parts.push((a, b));
    }
    assert_eq!(parts, [(0, 4), (100, 109), (BIG_LEN - 3, BIG_LEN - 1)]);
}

#[tokio::test]
async fn unsatisfiable_and_abusive_ranges() {
    let (fixture, server) = fixture_server().await;
    for range in ["bytes=99999999-", "bytes=5-1", "bytes=abc", "bytes=-0"] {
        let res = get(&server, "/big.bin", &format!("Range: {range}\r\n")).await;
        assert_eq!(res.status(), 416, "{range}");
        assert_eq!(
            res.header("content-range"),
            Some(format!("bytes */{BIG_LEN}").as_str())
        );
        assert_eq!(res.header("connection"), Some("close"));
    }
    // Too many distinct ranges: the whole file (as nginx does), never a huge multipart body.
    let many: Vec<String> = (0..100)
        .map(|i| format!("{}-{}", i * 10, i * 10 + 1))
        .collect();
    let res = get(
        &server,
        "/big.bin",
        &format!("Range: bytes={}\r\n", many.join(",")),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.body.len(), BIG_LEN);
    // Overlapping ranges are merged into one.
    let overlapping: Vec<String> = (0..200).map(|i| format!("{i}-{}", i + 50)).collect();
    let res = get(
        &server,
        "/big.bin",
        &format!("Range: bytes={}\r\n", overlapping.join(",")),
    )
    .await;
    assert_eq!(res.status(), 206);
    assert_eq!(
        res.header("content-range"),
        Some(format!("bytes 0-249/{BIG_LEN}").as_str())
    );
    // The limit is configurable.
    let strict = serve(StaticFiles::new(fixture.root()).max_ranges(2)).await;
    let res = get(&strict, "/big.bin", "Range: bytes=0-1,10-11\r\n").await;
    assert_eq!(res.status(), 206);
    let res = get(&strict, "/big.bin", "Range: bytes=0-1,10-11,20-21\r\n").await;
    assert_eq!(res.status(), 200);
    // An unknown unit is ignored.
    let res = get(&server, "/hello.txt", "Range: lines=1-2\r\n").await;
    assert_eq!(res.status(), 200);
    // HEAD ignores Range.
    let bytes = raw(
        server.addr,
        b"HEAD /big.bin HTTP/1.0\r\nRange: bytes=0-1\r\n\r\n",
    )
    .await;
    assert_eq!(parse_all(&bytes)[0].status(), 200);
}

#[tokio::test]
async fn if_range() {
    let (_fixture, server) = fixture_server().await;
    let etag = etag_of(&get(&server, "/hello.txt", "").await);
    let partial = |res: &RawResponse| (res.status(), res.body.clone());
    let res = get(
        &server,
        "/hello.txt",
        &format!("Range: bytes=0-1\r\nIf-Range: {etag}\r\n"),
    )
    .await;
    assert_eq!(partial(&res), (206, b"he".to_vec()));
    let res = get(
        &server,
        "/hello.txt",
        "Range: bytes=0-1\r\nIf-Range: \"other\"\r\n",
    )
    .await;
    assert_eq!(partial(&res), (200, b"hello\n".to_vec()));
    let res = get(
        &server,
        "/hello.txt",
        &format!("Range: bytes=0-1\r\nIf-Range: {MTIME_HTTP}\r\n"),
    )
    .await;
    assert_eq!(partial(&res), (206, b"he".to_vec()));
    let res = get(
        &server,
        "/hello.txt",
        "Range: bytes=0-1\r\nIf-Range: Mon, 13 Nov 2023 22:13:20 GMT\r\n",
    )
    .await;
    assert_eq!(partial(&res), (200, b"hello\n".to_vec()));
    let res = get(
        &server,
        "/hello.txt",
        &format!("Range: bytes=0-1\r\nIf-Range: W/{etag}\r\n"),
    )
    .await;
    assert_eq!(res.status(), 200, "a weak validator never matches If-Range");
}

#[tokio::test]
async fn etags_and_preconditions() {
    let (_fixture, server) = fixture_server().await;
    let first = get(&server, "/hello.txt", "").await;
    let etag = etag_of(&first);
    assert_eq!(
        etag,
        format!("\"{:x}-6\"", 1_700_000_000u128 * 1_000_000_000)
    );

    let cases: Vec<(String, u16)> = vec![
        (format!("If-None-Match: {etag}"), 304),
        (format!("If-None-Match: \"a\", {etag}"), 304),
        (format!("If-None-Match: W/{etag}"), 304),
        ("If-None-Match: *".to_owned(), 304),
        ("If-None-Match: \"other\"".to_owned(), 200),
        // If-None-Match wins over a matching If-Modified-Since (RFC 9110, and Python).
        (
            format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {MTIME_HTTP}"),
            200,
        ),
        (format!("If-Match: {etag}"), 200),
        ("If-Match: *".to_owned(), 200),
        ("If-Match: \"other\"".to_owned(), 412),
        (format!("If-Match: W/{etag}"), 412),
        (
            "If-Unmodified-Since: Mon, 13 Nov 2023 00:00:00 GMT".to_owned(),
            412,
        ),
        (
            "If-Unmodified-Since: Wed, 15 Nov 2023 00:00:00 GMT".to_owned(),
            200,
        ),
        // If-Match is evaluated first.
        (
            format!("If-Match: {etag}\r\nIf-Unmodified-Since: Mon, 13 Nov 2023 00:00:00 GMT"),
            200,
        ),
        (format!("If-Modified-Since: {MTIME_HTTP}"), 304),
    ];
    for (headers, status) in cases {
        let res = get(&server, "/hello.txt", &format!("{headers}\r\n")).await;
        assert_eq!(res.status(), status, "{headers}");
        match status {
            304 => {
                assert_eq!(res.header("etag"), Some(etag.as_str()), "{headers}");
                assert!(res.body.is_empty());
            }
            412 => assert_eq!(res.status_line, "HTTP/1.0 412 Precondition Failed"),
            _ => assert_eq!(res.body, b"hello\n"),
        }
    }
    // Listings never answer 304 (Python), whatever the validators.
    let res = get(
        &server,
        "/",
        "If-None-Match: *\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n",
    )
    .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_changed_file_gets_a_new_etag() {
    let fixture = Fixture::new();
    let server = serve(StaticFiles::new(fixture.root())).await;
    let before = etag_of(&get(&server, "/hello.txt", "").await);
    std::fs::write(fixture.root().join("hello.txt"), b"HELLO\n").unwrap();
    let res = get(
        &server,
        "/hello.txt",
        &format!("If-None-Match: {before}\r\n"),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.body, b"HELLO\n");
    assert_ne!(etag_of(&res), before);
}

// ===== precompressed siblings =====

#[tokio::test]
async fn precompressed_siblings() {
    let fixture = Fixture::new();
    let root = fixture.root();
    write(&root.join("types/style.css.gz"), b"GZIP BYTES");
    write(&root.join("types/style.css.br"), b"BROTLI BYTES");
    // Off by default: the sibling is just another file.
    let plain = serve(StaticFiles::new(&root)).await;
    let res = get(&plain, "/types/style.css", "Accept-Encoding: gzip, br\r\n").await;
    assert_eq!(res.body, b"style.css");
    assert_eq!(res.header("vary"), None);
    assert_eq!(res.header("content-encoding"), None);

    let server = serve(
        StaticFiles::new(&root)
            .precompressed_gzip()
            .precompressed_br(),
    )
    .await;
    let cases: &[(&str, &[u8], Option<&str>)] = &[
        ("Accept-Encoding: gzip, br\r\n", b"BROTLI BYTES", Some("br")),
        (
            "Accept-Encoding: gzip;q=1, br;q=0.5\r\n",
            b"GZIP BYTES",
            Some("gzip"),
        ),
        ("Accept-Encoding: gzip\r\n", b"GZIP BYTES", Some("gzip")),
        ("Accept-Encoding: br;q=0, gzip;q=0\r\n", b"style.css", None),
        ("Accept-Encoding: identity\r\n", b"style.css", None),
        ("Accept-Encoding: *\r\n", b"BROTLI BYTES", Some("br")),
        ("", b"style.css", None),
    ];
    for (headers, body, encoding) in cases {
        let res = get(&server, "/types/style.css", headers).await;
        assert_eq!(res.status(), 200, "{headers}");
        assert_eq!(res.body, *body, "{headers}");
        assert_eq!(res.header("content-encoding"), *encoding, "{headers}");
        assert_eq!(res.header("content-type"), Some("text/css"), "{headers}");
        assert_eq!(res.header("vary"), Some("Accept-Encoding"), "{headers}");
    }
    // Only a sibling that exists is used.
    let res = get(&server, "/hello.txt", "Accept-Encoding: gzip\r\n").await;
    assert_eq!(res.body, b"hello\n");
    assert_eq!(res.header("content-encoding"), None);
}

// ===== files changing, aborted and concurrent downloads =====

/// Files kept in memory (the default `memory_cache`) are served only while the file is
/// exactly as it was read: every kind of change is seen by the very next request.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn files_kept_in_memory_are_never_served_stale() {
    let fixture = Fixture::new();
    let root = fixture.root();
    let outside = tempfile_outside(&root);
    const NAMES: [&str; 5] = [
        "edited.txt",
        "renamed.txt",
        "removed.txt",
        "touched.txt",
        "sub/moved.txt",
    ];
    std::fs::create_dir_all(root.join("sub")).unwrap();
    for name in NAMES {
        write(&root.join(name), b"original content\n");
    }
    // Only files whose change time is a second old are kept: let these settle once.
    std::thread::sleep(Duration::from_millis(1100));
    let server = serve(StaticFiles::new(&root)).await;
    for name in NAMES {
        for _ in 0..2 {
            let res = get(&server, &format!("/{name}"), "").await;
            assert_eq!(res.body, b"original content\n", "{name}");
        }
    }
    let cached = get(&server, "/edited.txt", "").await;
    let etag = cached.header("etag").unwrap().to_owned();
    let res = get(
        &server,
        "/edited.txt",
        &format!("If-None-Match: {etag}\r\n"),
    )
    .await;
    assert_eq!(res.status(), 304);
    let res = get(&server, "/edited.txt", "Range: bytes=0-7\r\n").await;
    assert_eq!((res.status(), &res.body[..]), (206, &b"original"[..]));
    let head = raw(server.addr, b"HEAD /edited.txt HTTP/1.0\r\n\r\n").await;
    assert!(head.ends_with(b"\r\n\r\n"), "HEAD has no body");

    // Written in place, same length: new bytes on the very next request.
    std::fs::OpenOptions::new()
        .write(true)
        .open(root.join("edited.txt"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"ORIGINAL"))
        .unwrap();
    let res = get(&server, "/edited.txt", "").await;
    assert_eq!(res.body, b"ORIGINAL content\n");
    assert_ne!(res.header("etag"), None);

    // Replaced by a rename.
    write(&root.join("new.tmp"), b"replacement text\n");
    std::fs::rename(root.join("new.tmp"), root.join("renamed.txt")).unwrap();
    assert_eq!(
        get(&server, "/renamed.txt", "").await.body,
        b"replacement text\n"
    );

    // Removed.
    std::fs::remove_file(root.join("removed.txt")).unwrap();
    assert_eq!(get(&server, "/removed.txt", "").await.status(), 404);

    // Its folder moved outside and linked back (the file itself unchanged): the link policy
    // still holds.
    std::fs::rename(root.join("sub"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("sub")).unwrap();
    assert_eq!(get(&server, "/sub/moved.txt", "").await.status(), 404);

    // Only its times changed (`touch`): the validators follow.
    let before = get(&server, "/touched.txt", "").await;
    let file = std::fs::File::options()
        .write(true)
        .open(root.join("touched.txt"))
        .unwrap();
    file.set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(86_400))
        .unwrap();
    let after = get(&server, "/touched.txt", "").await;
    assert_eq!(
        after.header("last-modified"),
        Some("Fri, 02 Jan 1970 00:00:00 GMT")
    );
    assert_ne!(before.header("etag"), after.header("etag"));
    std::fs::remove_dir_all(&outside).ok();
}

/// Directory listings kept in memory (the default `memory_cache`) are as fresh as listings read
/// every time: a name added, removed or renamed in a directory whose listing was kept shows in
/// the very next listing.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn listings_kept_in_memory_are_never_served_stale() {
    let fixture = Fixture::new();
    let root = fixture.root();
    for dir in ["added", "removed", "renamed"] {
        std::fs::create_dir_all(root.join(dir).join("sub")).unwrap();
        write(&root.join(dir).join("a.txt"), b"a");
    }
    // Only directories whose change time is a second old are kept: let them settle once.
    std::thread::sleep(Duration::from_millis(1100));
    let server = serve(StaticFiles::new(&root)).await;
    let names = |page: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(page)
            .lines()
            .filter_map(|line| line.strip_prefix("<li><a href=\""))
            .filter_map(|line| line.split('"').next().map(str::to_owned))
            .collect()
    };
    // Each listing is read, then kept; the second comes from memory, the same page.
    for dir in ["added", "removed", "renamed"] {
        let first = get(&server, &format!("/{dir}/"), "").await;
        assert_eq!(first.status(), 200);
        assert_eq!(names(&first.body), ["a.txt", "sub/"]);
        assert_eq!(get(&server, &format!("/{dir}/"), "").await.body, first.body);
    }

    write(&root.join("added/b.txt"), b"b");
    let added = get(&server, "/added/", "").await;
    assert_eq!(names(&added.body), ["a.txt", "b.txt", "sub/"]);
    std::fs::remove_file(root.join("removed/a.txt")).unwrap();
    let removed = get(&server, "/removed/", "").await;
    assert_eq!(names(&removed.body), ["sub/"]);
    std::fs::rename(root.join("renamed/sub"), root.join("renamed/moved")).unwrap();
    let renamed = get(&server, "/renamed/", "").await;
    assert_eq!(names(&renamed.body), ["a.txt", "moved/"]);
    // The same directory by another spelling of its path: its own title, the same entries.
    let other = get(&server, "/%72enamed/?x=1", "").await;
    let title = "<title>Directory listing for /renamed/</title>";
    assert!(String::from_utf8_lossy(&other.body).contains(title));
    assert_eq!(names(&other.body), ["a.txt", "moved/"]);
}

/// With a validity window (`memory_cache_valid`), a kept file is served from memory without
/// looking at the disk: a change is seen late, as documented. Ranges still come from the file.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn within_the_validity_window_kept_files_are_not_looked_at() {
    let fixture = Fixture::new();
    let root = fixture.root();
    write(&root.join("kept.txt"), b"original content\n");
    // Only files whose change time is a second old are kept: let it settle once.
    std::thread::sleep(Duration::from_millis(1100));
    let window = StaticFiles::new(&root).memory_cache_valid(Duration::from_secs(3600));
    let server = serve(window).await;
    let checking = serve(StaticFiles::new(&root)).await;
    // The first request opens the folder (on the blocking pool), the second keeps the file.
    for server in [&server, &checking, &server, &checking] {
        assert_eq!(
            get(server, "/kept.txt", "").await.body,
            b"original content\n"
        );
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(root.join("kept.txt"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"ORIGINAL"))
        .unwrap();
    assert_eq!(
        get(&server, "/kept.txt", "").await.body,
        b"original content\n"
    );
    assert_eq!(
        get(&checking, "/kept.txt", "").await.body,
        b"ORIGINAL content\n"
    );
    std::fs::remove_file(root.join("kept.txt")).unwrap();
    let res = get(&server, "/kept.txt", "").await;
    assert_eq!(
        (res.status(), &res.body[..]),
        (200, &b"original content\n"[..])
    );
    assert_eq!(
        get(&server, "/kept.txt", "Range: bytes=0-3\r\n")
            .await
            .status(),
        404
    );
    assert_eq!(get(&checking, "/kept.txt", "").await.status(), 404);
}

/// A path outside `root`, for a folder moved out of it.
#[cfg(target_os = "linux")]
fn tempfile_outside(root: &std::path::Path) -> std::path::PathBuf {
    root.parent()
        .unwrap()
        .join(format!("basehttp-outside-{}", std::process::id()))
}

#[tokio::test]
async fn a_file_truncated_while_it_is_sent_ends_the_response_short() {
    let fixture = Fixture::new();
    let path = fixture.root().join("shrinking.bin");
    let full = vec![b'x'; 8 * 1024 * 1024];
    std::fs::write(&path, &full).unwrap();
    let server = serve(StaticFiles::new(fixture.root())).await;
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"GET /shrinking.bin HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let mut first = vec![0; 64 * 1024];
    tokio::time::timeout(WAIT, stream.read_exact(&mut first))
        .await
        .unwrap()
        .unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1024 * 1024)
        .unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut rest))
        .await
        .expect("the response must end, not hang")
        .ok();
    first.extend_from_slice(&rest);
    let head_end = find(&first, b"\r\n\r\n").unwrap() + 4;
    let body = &first[head_end..];
    assert!(
        body.len() < full.len(),
        "the body must end short, not be padded"
    );
    assert!(
        body.iter().all(|&b| b == b'x'),
        "no bytes that were not in the file"
    );
}

#[tokio::test]
async fn a_file_deleted_while_it_is_sent_is_sent_whole() {
    // The open file stays readable after unlink: the client gets what it started downloading.
    let fixture = Fixture::new();
    let server = serve(StaticFiles::new(fixture.root())).await;
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"GET /big.bin HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let mut first = vec![0; 1024];
    stream.read_exact(&mut first).await.unwrap();
    std::fs::remove_file(fixture.root().join("big.bin")).unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    first.extend_from_slice(&rest);
    let head_end = find(&first, b"\r\n\r\n").unwrap() + 4;
    assert_eq!(first[head_end..], Fixture::big()[..]);
    assert_eq!(get(&server, "/big.bin", "").await.status(), 404);
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

#[tokio::test]
async fn aborted_downloads_release_their_files() {
    let fixture = Fixture::new();
    let server = serve(StaticFiles::new(fixture.root())).await;
    // Warm up: the root directory is opened once and kept.
    let _ = get(&server, "/hello.txt", "").await;
    let before = open_fds();
    for _ in 0..8 {
        let mut stream = connect(server.addr).await;
        stream
            .write_all(b"GET /big.bin HTTP/1.0\r\n\r\n")
            .await
            .unwrap();
        let mut some = vec![0; 4096];
        stream.read_exact(&mut some).await.unwrap();
        drop(stream);
    }
    let deadline = std::time::Instant::now() + WAIT;
    while open_fds() > before {
        assert!(
            std::time::Instant::now() < deadline,
            "{} descriptors still open after the clients left ({before} before)",
            open_fds()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_download_does_not_hold_up_others_of_the_same_file() {
    let (_fixture, server) = fixture_server().await;
    // This client asks for the big file and never reads: its socket buffers fill up.
    let mut stalled = connect(server.addr).await;
    stalled
        .write_all(b"GET /big.bin HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let big = Fixture::big();
    let downloads = (0..8).map(|_| {
        let addr = server.addr;
        tokio::spawn(async move { raw(addr, b"GET /big.bin HTTP/1.0\r\n\r\n").await })
    });
    for download in downloads {
        let bytes = download.await.unwrap();
        let response = parse_all(&bytes).remove(0);
        assert_eq!(response.body.len(), big.len());
        assert!(response.body == big);
    }
    drop(stalled);
}

// ===== keep-alive =====

#[tokio::test]
async fn http11_keeps_the_connection_until_an_error() {
    let fixture = Fixture::new();
    let server =
        serve(StaticFiles::new(fixture.root()).protocol_version(http::Version::HTTP_11)).await;
    let bytes = raw_keep_open(
        server.addr,
        b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n\
          HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /sub HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /missing HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    // HEAD's response has a Content-Length but no body: split by hand.
    let text = String::from_utf8_lossy(&bytes);
    let statuses: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &text[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "200", "301", "404"], "{text}");
    assert!(text.ends_with(ERROR_404), "the 404 closed the connection");
}

// ===== overridable pieces =====

#[tokio::test]
async fn python_hooks_can_be_replaced() {
    let fixture = Fixture::new();
    let files = StaticFiles::new(fixture.root())
        .index_pages(["other.txt"])
        .translate_path(|target| {
            let path = target.split(['?', '#']).next().unwrap_or_default();
            (!path
                .split('/')
                .any(|part| part.starts_with('.') && part.len() > 1))
            .then(|| target.to_owned())
        })
        .guess_type(|path| {
            (path.extension().and_then(|e| e.to_str()) == Some("txt"))
                .then(|| "text/x-custom; charset=utf-8".to_owned())
        })
        .list_directory(|listing| render_listing(listing).replace("<hr>", "<hr class=\"x\">"))
        .extensions_map([(".bin", "application/x-big")])
        .server_version("Files/1.0")
        .sys_version("Rust")
        .extra_headers([(
            http::HeaderName::from_static("x-extra"),
            http::HeaderValue::from_static("yes"),
        )]);
    let server = serve(files).await;
    let res = get(&server, "/.hidden", "").await;
    assert_eq!(res.status(), 404);
    let res = get(&server, "/hello.txt", "").await;
    assert_eq!(
        res.header("content-type"),
        Some("text/x-custom; charset=utf-8")
    );
    assert_eq!(res.header("server"), Some("Files/1.0 Rust"));
    assert_eq!(res.header("x-extra"), Some("yes"));
    let res = get(&server, "/big.bin", "").await;
    assert_eq!(res.header("content-type"), Some("application/x-big"));
    let res = get(&server, "/index-dir/", "").await;
    assert_eq!(res.body, b"other\n", "index_pages");
    let res = get(&server, "/sub/", "").await;
    assert!(
        find(&res.body, b"<hr class=\"x\">").is_some(),
        "list_directory"
    );
    assert_eq!(res.header("x-extra"), Some("yes"));
    // Errors and redirects carry no extra headers (as in Python 3.15).
    assert_eq!(get(&server, "/nope", "").await.header("x-extra"), None);
}

#[tokio::test]
async fn head_is_get_without_the_body() {
    let (_fixture, server) = fixture_server().await;
    for target in ["/hello.txt", "/", "/sub", "/missing", "/big.bin"] {
        let get_bytes = raw(
            server.addr,
            format!("GET {target} HTTP/1.0\r\n\r\n").as_bytes(),
        )
        .await;
        let head_bytes = raw(
            server.addr,
            format!("HEAD {target} HTTP/1.0\r\n\r\n").as_bytes(),
        )
        .await;
        let get_head = &get_bytes[..find(&get_bytes, b"\r\n\r\n").unwrap() + 4];
        assert_eq!(mask_date(get_head), mask_date(&head_bytes), "{target}");
    }
}

/// `HttpServer::sendfile(true)`: files go out whole and in order on a kept-alive HTTP/1.1
/// connection (two downloads, a range, multipart ranges), over HTTP/2 on the same server (which
/// never sends files that way), and under a compression layer (which sees the file's bytes,
/// never placeholders).
#[tokio::test]
async fn files_sent_with_sendfile_arrive_whole() {
    use tower::Layer;
    let fixture = Fixture::new();
    let big = Fixture::big();
    // Only files whose change time is a second old are kept in memory: this one settles while
    // the rest runs.
    let medium: Vec<u8> = (0..100 * 1024u32).map(|i| (i % 253) as u8).collect();
    write(&fixture.root().join("medium.bin"), &medium);
    let settled = std::time::Instant::now() + Duration::from_millis(1100);
    let files = StaticFiles::new(fixture.root()).protocol_version(http::Version::HTTP_11);
    let server = serve_configured(files, |s| s.sendfile(true).http2(true)).await;
    let mut stream = connect(server.addr).await;
    stream
        .write_all(
            b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100-2500000\r\n\r\n\
              GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9,3000000-3000009\r\n\
              Connection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let all = tokio::time::timeout(WAIT, read_to_close(&mut stream))
        .await
        .unwrap();
    let responses = parse_all(&all);
    assert_eq!(responses.len(), 4);
    assert!(responses[0].body == big && responses[1].body == big);

    assert_eq!(responses[2].status(), 206);
    assert!(responses[2].body[..] == big[100..=2_500_000]);
    assert_eq!(responses[3].status(), 206);
    let multipart = &responses[3].body;
    assert!(find(multipart, &big[..10]).is_some());
    assert!(find(multipart, &big[3_000_000..3_000_010]).is_some());

    if installed("curl") {
        let out = tempfile::tempdir().unwrap();
        let path = out.path().join("big.bin");
        let url = format!("http://{}/big.bin", server.addr);
        let (code, _, err) = curl_output(&[
            "--http2-prior-knowledge",
            "-o",
            path.to_str().unwrap(),
            &url,
        ])
        .await;
        assert_eq!(code, Some(0), "{err}");
        assert!(std::fs::read(&path).unwrap() == big);

        // The 100 KiB file, settled: fetched over HTTP/2 (which keeps it in memory), then three
        // times over HTTP/1 on a connection that sends files with sendfile (which sends it from
        // the file, leaving the kept copy alone), then over HTTP/2 again: whole every time.
        tokio::time::sleep_until(settled.into()).await;
        let url = format!("http://{}/medium.bin", server.addr);
        let h2 = [
            "--http2-prior-knowledge",
            "-o",
            path.to_str().unwrap(),
            &url,
        ];
        let (code, _, err) = curl_output(&h2).await;
        assert_eq!(code, Some(0), "{err}");
        assert!(std::fs::read(&path).unwrap() == medium);
        let pipelined = tokio::time::timeout(
            WAIT,
            raw(
                server.addr,
                b"GET /medium.bin HTTP/1.1\r\nHost: x\r\n\r\n\
                  GET /medium.bin HTTP/1.1\r\nHost: x\r\n\r\n\
                  GET /medium.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ),
        )
        .await
        .unwrap();
        let responses = parse_all(&pipelined);
        assert_eq!(responses.len(), 3);
        assert!(responses.iter().all(|r| r.body == medium));
        let (code, _, err) = curl_output(&h2).await;
        assert_eq!(code, Some(0), "{err}");
        assert!(std::fs::read(&path).unwrap() == medium);
    } else {
        return;
    }

    let text = "sent through a compression layer\n".repeat(100_000);
    write(&fixture.root().join("notes.txt"), text.as_bytes());
    let compressed = serve_configured(
        basehttp::compression::CompressionLayer::new()
            .layer(StaticFiles::new(fixture.root()).memory_cache(0)),
        |s| s.sendfile(true),
    )
    .await;
    let (_, body, _) = curl_output(&[
        "--compressed",
        &format!("http://{}/notes.txt", compressed.addr),
    ])
    .await;
    assert!(body == text, "{} bytes", body.len());
}

/// With `sendfile`, a client that stops reading still hits the write timeout: its slot comes
/// back for the next client.
#[tokio::test]
async fn a_client_that_stops_reading_a_file_sent_with_sendfile_is_dropped() {
    let fixture = Fixture::new();
    let huge: Vec<u8> = (0..48u32 << 20).map(|i| (i % 251) as u8).collect();
    write(&fixture.root().join("huge.bin"), &huge);
    let server = serve_configured(StaticFiles::new(fixture.root()), |s| {
        s.sendfile(true)
            .write_timeout(Duration::from_millis(300))
            .max_connections(1)
    })
    .await;
    let mut stalled = connect(server.addr).await;
    stalled
        .write_all(b"GET /huge.bin HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    // Never read: the kernel's buffers fill, then the socket stops taking regions.
    let started = std::time::Instant::now();
    let next = tokio::time::timeout(WAIT, get_once(server.addr, "/hello.txt", ""))
        .await
        .expect("the stalled connection gave its slot back");
    assert_eq!(next.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(250));
    drop(stalled);
}
