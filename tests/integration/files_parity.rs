//! File serving side by side with CPython: the same raw request bytes to basehttp's
//! `StaticFiles` and to Python's `SimpleHTTPRequestHandler`, over the same fixture tree.
//!
//! Two references:
//! - the local `python3` (3.11 here) with 3.14's error template installed, for every request
//!   whose answer did not change between 3.11 and 3.14 (files, redirects, 404s, 501s,
//!   `If-Modified-Since`, traversal attempts);
//! - CPython 3.14's own `http.server` (the shared oracle) when it is installed, for those plus
//!   the 3.14-only behaviour (listings with the `color-scheme` block and query-less titles,
//!   trailing `%2f`).
//!
//! Masked before comparing: `Date`, `Server`, and the headers basehttp adds on purpose (`ETag`,
//! `Accept-Ranges`; see the README's compatibility notes) — which `etags(false)` and
//! `ranges(false)` remove: that configuration is compared with nothing else masked. Header
//! names compare case-insensitively (hyper writes Title-Case).

use std::ffi::OsStr;

use basehttp::static_files::StaticFiles;

use crate::fixture::Fixture;
use crate::support::*;

/// Requests whose answers are the same from Python 3.11 to 3.14.
const STABLE: &[&str] = &[
    "GET /hello.txt HTTP/1.0\r\n\r\n",
    "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /hello.txt?x=1 HTTP/1.0\r\n\r\n",
    "GET /hello.txt/ HTTP/1.0\r\n\r\n",
    "GET /sub HTTP/1.0\r\n\r\n",
    "GET /sub?a=b HTTP/1.0\r\n\r\n",
    "GET //sub HTTP/1.0\r\n\r\n",
    "GET ///sub?q HTTP/1.0\r\n\r\n",
    "GET /Sub%20Dir HTTP/1.0\r\n\r\n",
    "GET /index-dir/ HTTP/1.0\r\n\r\n",
    "GET /index-dir HTTP/1.0\r\n\r\n",
    "GET /htm-dir/ HTTP/1.0\r\n\r\n",
    "GET /a%20b%26%3Cc%3E.txt HTTP/1.0\r\n\r\n",
    "GET /q%3F%23%25.txt HTTP/1.0\r\n\r\n",
    "GET /plus+semi%3Bcolon.txt HTTP/1.0\r\n\r\n",
    "GET /plus+semi;colon.txt HTTP/1.0\r\n\r\n",
    "GET /caf%C3%A9.txt HTTP/1.0\r\n\r\n",
    "GET /%E6%97%A5%E6%9C%AC%E8%AA%9E.txt HTTP/1.0\r\n\r\n",
    "GET /.hidden HTTP/1.0\r\n\r\n",
    "GET /lnk HTTP/1.0\r\n\r\n",
    "GET /dirlnk HTTP/1.0\r\n\r\n",
    "GET /dirlnk/inner.txt HTTP/1.0\r\n\r\n",
    "GET /Sub%20Dir/file.txt HTTP/1.0\r\n\r\n",
    "HEAD /hello.txt HTTP/1.0\r\n\r\n",
    "HEAD /types/page.html HTTP/1.0\r\n\r\n",
    "HEAD /types/style.css HTTP/1.0\r\n\r\n",
    "HEAD /types/data.json HTTP/1.0\r\n\r\n",
    "HEAD /types/pic.png HTTP/1.0\r\n\r\n",
    "HEAD /types/a.tar.gz HTTP/1.0\r\n\r\n",
    "HEAD /types/x.Z HTTP/1.0\r\n\r\n",
    "HEAD /types/x.bz2 HTTP/1.0\r\n\r\n",
    "HEAD /types/x.xz HTTP/1.0\r\n\r\n",
    "HEAD /types/noext HTTP/1.0\r\n\r\n",
    "HEAD /Upper.TXT HTTP/1.0\r\n\r\n",
    "GET /nope HTTP/1.0\r\n\r\n",
    "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
    "HEAD /nope HTTP/1.0\r\n\r\n",
    "HEAD /sub HTTP/1.0\r\n\r\n",
    "POST /hello.txt HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
    "PUT /x HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
    "DELETE /x HTTP/1.0\r\n\r\n",
    "OPTIONS * HTTP/1.0\r\n\r\n",
    "SPAM / HTTP/1.0\r\n\r\n",
    "GET /hello.txt HTTP/1.0\r\nIf-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n",
    "GET /hello.txt HTTP/1.0\r\nIf-Modified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n\r\n",
    "GET /hello.txt HTTP/1.0\r\nIf-Modified-Since: Wed, 15 Nov 2023 00:00:00 GMT\r\n\r\n",
    "GET /hello.txt HTTP/1.0\r\nIf-Modified-Since: Tue, 14 Nov 2023 22:13:20 +0100\r\n\r\n",
    "GET /hello.txt HTTP/1.0\r\nIf-Modified-Since: Tue, 14 Nov 2023 22:13:20\r\n\r\n",
    "GET /hello.txt HTTP/1.0\r\nIf-Modified-Since: Tue, 14 Nov 2023 23:13:20 +0100\r\n\r\n",
    "GET /hello.txt HTTP/1.0\r\nIf-Modified-Since: garbage\r\n\r\n",
    "GET /hello.txt HTTP/1.0\r\nIf-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\nIf-None-Match: \"x\"\r\n\r\n",
    "GET /../outside/secret.txt HTTP/1.0\r\n\r\n",
    "GET /%2e%2e/outside/secret.txt HTTP/1.0\r\n\r\n",
    "GET /..%2foutside%2fsecret.txt HTTP/1.0\r\n\r\n",
    "GET /sub/../../outside/secret.txt HTTP/1.0\r\n\r\n",
    "GET /..%5coutside%5csecret.txt HTTP/1.0\r\n\r\n",
    "GET /%c0%ae%c0%ae/outside/secret.txt HTTP/1.0\r\n\r\n",
    "GET http://example.com/hello.txt HTTP/1.0\r\n\r\n",
    "GET /./hello.txt HTTP/1.0\r\n\r\n",
    "GET /sub/./../hello.txt HTTP/1.0\r\n\r\n",
    "GET /sub/.. HTTP/1.0\r\n\r\n",
    "GET /sub/. HTTP/1.0\r\n\r\n",
];

/// Requests where basehttp's validators and ranges answer differently on purpose: compared in
/// Python's configuration only.
const VALIDATORS: &[&str] = &[
    "GET /hello.txt HTTP/1.0\r\nRange: bytes=0-1\r\n\r\n",
    "GET /hello.txt HTTP/1.0\r\nIf-None-Match: *\r\n\r\n",
    "GET /hello.txt HTTP/1.0\r\nIf-Match: \"nope\"\r\n\r\n",
    "GET /hello.txt HTTP/1.0\r\nIf-Unmodified-Since: Mon, 13 Nov 2023 00:00:00 GMT\r\n\r\n",
    "GET /big.bin HTTP/1.0\r\nRange: bytes=0-1,5-9\r\nIf-Range: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n",
    "GET /hello.txt HTTP/1.0\r\nRange: bytes=99-\r\n\r\n",
];

/// Requests answered as in 3.14 (and not as in 3.11): listings, trailing `%2f`, titles without
/// the query.
const SINCE_314: &[&str] = &[
    "GET / HTTP/1.0\r\n\r\n",
    "GET /?x=%3Cb%3E HTTP/1.0\r\n\r\n",
    "HEAD / HTTP/1.0\r\n\r\n",
    "GET /sub/ HTTP/1.0\r\n\r\n",
    "GET /sub%2f HTTP/1.0\r\n\r\n",
    "GET /sub%2F?x=1 HTTP/1.0\r\n\r\n",
    "GET /hello.txt%2f HTTP/1.0\r\n\r\n",
    "GET /Sub%20Dir/ HTTP/1.0\r\n\r\n",
    "GET /empty/ HTTP/1.0\r\n\r\n",
    "GET /dirlnk/ HTTP/1.0\r\n\r\n",
    "GET /types/ HTTP/1.0\r\n\r\n",
    "GET /special/ HTTP/1.0\r\n\r\n",
    "GET / HTTP/1.0\r\nIf-Modified-Since: Wed, 15 Nov 2030 00:00:00 GMT\r\n\r\n",
    "GET /sub/?a=%3Cscript%3E#frag HTTP/1.0\r\n\r\n",
];

/// Compares basehttp's defaults (masking the validators it adds) and, with `etags(false)` and
/// `ranges(false)`, Python's exact headers.
async fn compare(python: &ChildGuard, requests: &[&str], root: &std::path::Path) {
    let ours = serve(StaticFiles::new(root)).await;
    let python_like = serve(StaticFiles::new(root).etags(false).ranges(false)).await;
    for request in VALIDATORS {
        let expected = raw(python.addr(), request.as_bytes()).await;
        let actual = raw(python_like.addr, request.as_bytes()).await;
        assert_eq!(
            normalize_one(&actual, &[]),
            normalize_one(&expected, &[]),
            "{request:?}"
        );
    }
    for request in requests {
        let expected = raw(python.addr(), request.as_bytes()).await;
        let actual = raw(ours.addr, request.as_bytes()).await;
        let added = ["etag", "accept-ranges"];
        assert_eq!(
            normalize_one(&actual, &added),
            normalize_one(&expected, &added),
            "{request:?}"
        );
        let actual = raw(python_like.addr, request.as_bytes()).await;
        assert_eq!(
            normalize_one(&actual, &[]),
            normalize_one(&expected, &[]),
            "{request:?}"
        );
    }
}

#[tokio::test]
async fn answers_like_the_local_python() {
    let fixture = Fixture::new();
    let root = fixture.root();
    let Some(python) = spawn_python_with("files", &[root.as_os_str()]) else {
        return;
    };
    compare(&python, STABLE, &root).await;
}

#[tokio::test]
async fn answers_like_cpython_3_14() {
    let fixture = Fixture::new();
    let root = fixture.root();
    let Some(python) = spawn_oracle(&[OsStr::new("--directory"), root.as_os_str()]) else {
        return;
    };
    compare(&python, STABLE, &root).await;
    compare(&python, SINCE_314, &root).await;
}
