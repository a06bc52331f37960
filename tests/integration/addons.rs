//! Uploads, basic authentication, CORS and compression — what people install on top of
//! `python -m http.server` — over real sockets with curl, Python's `urllib` and raw bytes,
//! including the hostile inputs each has to survive.

use std::path::Path;
use std::time::{Duration, Instant};

use basehttp::basic_auth::{BasicAuth, Credentials};
use basehttp::compression::CompressionLayer;
use basehttp::prelude::*;
use basehttp::static_files::StaticFiles;
use basehttp::upload::Upload;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::Layer;

use crate::support::*;

fn uploads(dir: &Path) -> Upload {
    Upload::new(dir)
}

async fn serve_uploads(upload: Upload, dir: &Path) -> TestServer {
    serve(upload.into_layer().layer(StaticFiles::new(dir))).await
}

/// A multipart body with one part per `(field, filename, bytes)`.
fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, filename, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(name) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{field}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

/// Sends a multipart `POST /upload` on its own connection; the parsed response.
async fn post_multipart(addr: std::net::SocketAddr, body: &[u8]) -> RawResponse {
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    let bytes = raw(addr, &request).await;
    parse_all(&bytes).into_iter().next().expect("a response")
}

/// Every name in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn uploads_keep_uploadserver_contract_with_curl() {
    if !installed("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let a = pseudo_random(3 << 20, 1);
    let b = b"second file\n".to_vec();
    std::fs::write(src.path().join("a.bin"), &a).unwrap();
    std::fs::write(src.path().join("b.txt"), &b).unwrap();
    let server = serve_uploads(uploads(dir.path()), dir.path()).await;
    let base = format!("http://{}", server.addr);
    let a_arg = format!("files=@{}", src.path().join("a.bin").display());
    let b_arg = format!("files=@{}", src.path().join("b.txt").display());
    let url = format!("{base}/upload");

    // curl -F files=@a -F files=@b: 204 Files accepted, both whole.
    let (_, out, err) =
        curl_output(&["-i", "-H", "Expect:", "-F", &a_arg, "-F", &b_arg, &url]).await;
    assert!(
        out.starts_with("HTTP/1.0 204 Files accepted\r\n"),
        "{out}{err}"
    );
    assert_eq!(std::fs::read(dir.path().join("a.bin")).unwrap(), a);
    assert_eq!(std::fs::read(dir.path().join("b.txt")).unwrap(), b);

    // Again: numbered names, never overwritten.
    let (_, out, _) = curl_output(&["-i", "-H", "Expect:", "-F", &b_arg, &url]).await;
    assert!(
        out.starts_with("HTTP/1.0 204 Some filename(s) changed due to name conflict\r\n"),
        "{out}"
    );
    assert_eq!(std::fs::read(dir.path().join("b (1).txt")).unwrap(), b);

    // curl -T: PUT /sub/name, 201; again 409; the file never replaced.
    let put_url = format!("{base}/sub/put.bin");
    let a_path = src.path().join("a.bin").display().to_string();
    let (_, out, _) = curl_output(&["-i", "-H", "Expect:", "-T", &a_path, &put_url]).await;
    assert!(out.starts_with("HTTP/1.0 201 Created\r\n"), "{out}");
    assert_eq!(std::fs::read(dir.path().join("sub/put.bin")).unwrap(), a);
    let b_path = src.path().join("b.txt").display().to_string();
    let (_, out, _) = curl_output(&["-i", "-H", "Expect:", "-T", &b_path, &put_url]).await;
    assert!(out.starts_with("HTTP/1.0 409 File exists\r\n"), "{out}");
    assert_eq!(std::fs::read(dir.path().join("sub/put.bin")).unwrap(), a);
    // Into a folder that does not exist.
    let (_, out, _) = curl_output(&[
        "-i",
        "-H",
        "Expect:",
        "-T",
        &b_path,
        &format!("{base}/nope/x.txt"),
    ])
    .await;
    assert!(out.starts_with("HTTP/1.0 409 "), "{out}");

    // The page, and the listing's link to it.
    let (_, page, _) = curl_output(&[&url]).await;
    assert!(
        page.contains(r#"<form action="/upload" method="POST" enctype="multipart/form-data">"#)
    );
    assert!(page.contains(r#"<input name="files" type="file" multiple>"#));
    let (_, listing, _) = curl_output(&[&format!("{base}/")]).await;
    assert!(
        listing.contains("<a href=\"/upload\">File Upload</a>"),
        "{listing}"
    );

    // uploadserver's refusals.
    let response = post_multipart(server.addr, &multipart("XyZ", &[("other", None, b"x")])).await;
    assert_eq!(
        response.status_line,
        "HTTP/1.0 400 Field \"files\" not found"
    );
    let response =
        post_multipart(server.addr, &multipart("XyZ", &[("files", Some(""), b"")])).await;
    assert_eq!(response.status_line, "HTTP/1.0 400 No files selected");
    // Nothing half-written, nothing hidden left behind.
    assert_eq!(names(dir.path()), ["a.bin", "b (1).txt", "b.txt", "sub"]);
}

#[tokio::test]
async fn python_urllib_puts_and_reads_back() {
    let Some(python) = python3() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = serve_uploads(uploads(dir.path()), dir.path()).await;
    let script = format!(
        "import urllib.request\n\
         body = bytes(range(256)) * 4096\n\
         req = urllib.request.Request('http://{addr}/from-urllib.bin', data=body, method='PUT')\n\
         with urllib.request.urlopen(req) as r: print(r.status)\n\
         with urllib.request.urlopen('http://{addr}/from-urllib.bin') as r: print(r.read() == body)\n",
        addr = server.addr
    );
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args(["-c", &script])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout,
        "201\nTrue\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn hostile_file_names_stay_inside_the_folder() {
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("served");
    std::fs::create_dir(&dir).unwrap();
    let server = serve_uploads(uploads(&dir), &dir).await;
    for (filename, stored) in [
        ("../../escape.txt", Some("escape.txt")),
        ("/etc/passwd", Some("passwd")),
        (r"..\..\win.ini", Some("win.ini")),
        (r"C:\Windows\system.ini", Some("system.ini")),
        ("..", None),
        (".bashrc", None),
        ("CON", None),
        ("stream.txt:evil", None),
    ] {
        let body = multipart("XyZ", &[("files", Some(filename), b"payload")]);
        let response = post_multipart(server.addr, &body).await;
        match stored {
            Some(name) => {
                assert!(
                    response.status_line.contains(" 204 "),
                    "{filename}: {}",
                    response.status_line
                );
                assert_eq!(std::fs::read(dir.join(name)).unwrap(), b"payload");
            }
            None => assert!(
                response.status() == 400,
                "{filename}: {}",
                response.status_line
            ),
        }
    }
    // An overlong name, and a NUL.
    let long = "x".repeat(300);
    let response = post_multipart(
        server.addr,
        &multipart("XyZ", &[("files", Some(&long), b"x")]),
    )
    .await;
    assert_eq!(response.status_line, "HTTP/1.0 400 File name too long");
    let response = post_multipart(
        server.addr,
        &multipart("XyZ", &[("files", Some("a\0b"), b"x")]),
    )
    .await;
    assert!(response.status() == 400, "{}", response.status_line);
    // PUT paths: traversal is translated away, hidden names refused.
    let request = b"PUT /../../../up.txt HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi";
    let response = parse_all(&raw(server.addr, request).await).remove(0);
    assert!(
        response.status_line.contains(" 201 "),
        "{}",
        response.status_line
    );
    let request = b"PUT /.ssh%2fkeys HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi";
    let response = parse_all(&raw(server.addr, request).await).remove(0);
    assert!(
        response.status_line.contains(" 403 "),
        "{}",
        response.status_line
    );
    // Nothing reached the parent folder.
    assert_eq!(names(outer.path()), ["served"]);
    assert_eq!(
        names(&dir),
        ["escape.txt", "passwd", "system.ini", "up.txt", "win.ini"]
    );
}

#[tokio::test]
async fn bodies_that_never_end_well_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let upload = uploads(dir.path())
        .max_files(20)
        .max_size(1 << 20)
        .timeout(Some(Duration::from_millis(500)));
    let server = serve_uploads(upload, dir.path()).await;

    // 100,000 tiny parts: refused past the part limit, fast.
    let mut body = Vec::new();
    for i in 0..100_000 {
        body.extend_from_slice(
            format!("--XyZ\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nx\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(b"--XyZ--\r\n");
    let started = Instant::now();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
        body.len()
    );
    let mut stream = connect(server.addr).await;
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(&body).await;
    let bytes = read_to_close(&mut stream).await;
    let response = parse_all(&bytes).remove(0);
    assert_eq!(response.status_line, "HTTP/1.0 413 Too many parts");
    assert!(started.elapsed() < Duration::from_secs(5));

    // 30 files where 20 are allowed: 20 stored, then 413.
    let parts: Vec<(String, Vec<u8>)> = (0..30)
        .map(|i| (format!("f{i}.txt"), vec![b'x'; 10]))
        .collect();
    let parts: Vec<(&str, Option<&str>, &[u8])> = parts
        .iter()
        .map(|(n, b)| ("files", Some(n.as_str()), b.as_slice()))
        .collect();
    let response = post_multipart(server.addr, &multipart("XyZ", &parts)).await;
    assert_eq!(response.status_line, "HTTP/1.0 413 Too many files");
    assert_eq!(names(dir.path()).len(), 20);
    for name in names(dir.path()) {
        std::fs::remove_file(dir.path().join(name)).unwrap();
    }

    // A boundary never closed: 400, the unfinished file never appears.
    let mut body = multipart("XyZ", &[("files", Some("unfinished.bin"), &[7u8; 5000])]);
    body.truncate(body.len() - 12);
    let response = post_multipart(server.addr, &body).await;
    assert_eq!(
        response.status_line,
        "HTTP/1.0 400 Malformed multipart body"
    );

    // A part header of 1 MiB (the limit is 16 KiB): 400 without buffering it.
    let roomy = serve_uploads(uploads(dir.path()), dir.path()).await;
    let mut body =
        b"--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"h.txt\"\r\nX-Pad: "
            .to_vec();
    body.extend(std::iter::repeat_n(b'a', 1 << 20));
    body.extend_from_slice(b"\r\n\r\nx\r\n--XyZ--\r\n");
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = connect(roomy.addr).await;
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(&body).await;
    let response = parse_all(&read_to_close(&mut stream).await).remove(0);
    assert_eq!(response.status_line, "HTTP/1.0 400 Part headers too long");

    // Declared too large: 413 before a byte of the body is sent.
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"PUT /big.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n")
        .await
        .unwrap();
    let response = read_response(&mut stream, false).await.expect("a response");
    assert!(response.status() == 413, "{}", response.status_line);
    // Chunked, past the limit: 413, the partial file removed.
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"PUT /big.bin HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = [b'z'; 65536];
    let mut refused = None;
    for _ in 0..40 {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if stream.write_all(&frame).await.is_err() {
            break;
        }
    }
    if let Some(response) = read_response(&mut stream, false).await {
        refused = Some(response.status_line);
    }
    assert_eq!(
        refused.as_deref(),
        Some("HTTP/1.0 413 Request Entity Too Large")
    );
    // A slow but steady client (each piece within the 500 ms timeout) gets its file stored.
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"PUT /steady.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\n\r\n")
        .await
        .unwrap();
    for piece in [b"0123", b"4567", b"89ab", b"cdef", b"ghij"] {
        tokio::time::sleep(Duration::from_millis(250)).await;
        stream.write_all(piece).await.unwrap();
    }
    let response = read_response(&mut stream, false).await.expect("a response");
    assert_eq!(response.status_line, "HTTP/1.0 201 Created");
    assert_eq!(
        std::fs::read(dir.path().join("steady.txt")).unwrap(),
        b"0123456789abcdefghij"
    );
    std::fs::remove_file(dir.path().join("steady.txt")).unwrap();
    // A client that stalls mid-body: 408 once the timeout passes, nothing stored.
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"PUT /slow.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly a few")
        .await
        .unwrap();
    let started = Instant::now();
    let response = read_response(&mut stream, false).await.expect("a response");
    assert!(response.status() == 408, "{}", response.status_line);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[tokio::test]
async fn refusals_come_before_the_body_with_expect_100_continue() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("taken.txt"), "old").unwrap();
    let v11 = http::Version::HTTP_11;
    let upload = uploads(dir.path()).max_size(1000).protocol_version(v11);
    let auth = BasicAuth::new(Credentials::parse("user:pw").unwrap()).protocol_version(v11);
    let server = serve(
        auth.into_layer()
            .layer(upload.into_layer().layer(StaticFiles::new(dir.path()))),
    )
    .await;
    for (request, status) in [
        // No credentials.
        (
            "PUT /new.txt HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
            "401",
        ),
        // Too large.
        (
            "PUT /new.txt HTTP/1.1\r\nHost: t\r\nAuthorization: Basic dXNlcjpwdw==\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n",
            "413",
        ),
        // The name exists.
        (
            "PUT /taken.txt HTTP/1.1\r\nHost: t\r\nAuthorization: Basic dXNlcjpwdw==\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
            "409",
        ),
    ] {
        let mut stream = connect(server.addr).await;
        stream.write_all(request.as_bytes()).await.unwrap();
        let response = read_response(&mut stream, false).await.expect("a response");
        // The first (and final) response is the refusal: no `100 Continue` before it.
        assert!(
            response
                .status_line
                .starts_with(&format!("HTTP/1.1 {status} ")),
            "{}",
            response.status_line
        );
        if status == "401" {
            let challenge = response
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("www-authenticate"));
            assert_eq!(
                challenge.map(|(_, v)| v.as_str()),
                Some(r#"Basic realm="basehttp", charset="UTF-8""#)
            );
        }
    }
    // Accepted: 100 Continue, then 201.
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"PUT /new.txt HTTP/1.1\r\nHost: t\r\nAuthorization: Basic dXNlcjpwdw==\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 25];
    stream.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"0123456789").await.unwrap();
    let response = read_response(&mut stream, false).await.expect("a response");
    assert_eq!(response.status_line, "HTTP/1.1 201 Created");
    assert_eq!(
        std::fs::read(dir.path().join("new.txt")).unwrap(),
        b"0123456789"
    );
}

#[tokio::test]
async fn concurrent_uploads_of_one_name_never_mix() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_uploads(uploads(dir.path()), dir.path()).await;
    let bodies: Vec<Vec<u8>> = (0..8).map(|i| vec![b'a' + i; 256 * 1024]).collect();
    // PUT: one wins, the others get 409; the file is one body, whole.
    let tasks: Vec<_> = bodies
        .iter()
        .cloned()
        .map(|body| {
            let addr = server.addr;
            tokio::spawn(async move {
                let mut request = format!(
                    "PUT /same.bin HTTP/1.0\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                request.extend_from_slice(&body);
                parse_all(&raw(addr, &request).await).remove(0).status_line
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| s.contains(" 201 ")).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| s.contains(" 409 ")).count(),
        7,
        "{statuses:?}"
    );
    let stored = std::fs::read(dir.path().join("same.bin")).unwrap();
    assert!(bodies.contains(&stored));
    // Multipart: every upload stored whole, under a name of its own.
    let tasks: Vec<_> = bodies
        .iter()
        .cloned()
        .map(|body| {
            let addr = server.addr;
            tokio::spawn(async move {
                post_multipart(
                    addr,
                    &multipart("XyZ", &[("files", Some("multi.bin"), &body)]),
                )
                .await
                .status_line
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().contains(" 204 "));
    }
    let mut seen: Vec<Vec<u8>> = names(dir.path())
        .into_iter()
        .filter(|n| n.starts_with("multi"))
        .map(|n| std::fs::read(dir.path().join(n)).unwrap())
        .collect();
    seen.sort();
    let mut expected = bodies.clone();
    expected.sort();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn compressed_responses_keep_validators_and_ranges_right() {
    if !installed("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = "All work and no play makes Jack a dull boy.\n".repeat(2000);
    std::fs::write(dir.path().join("notes.txt"), &text).unwrap();
    std::fs::write(dir.path().join("pre.txt"), &text).unwrap();
    std::fs::write(dir.path().join("pre.txt.gz"), b"precompressed bytes").unwrap();
    for i in 0..200 {
        std::fs::write(dir.path().join(format!("entry-{i:03}.txt")), "x").unwrap();
    }
    let files = StaticFiles::new(dir.path()).precompressed_gzip();
    let server = serve(CompressionLayer::new().layer(files)).await;
    let base = format!("http://{}", server.addr);

    // curl --compressed: decoded to the same bytes.
    let (_, out, _) = curl_output(&["--compressed", &format!("{base}/notes.txt")]).await;
    assert_eq!(out, text);
    for encoding in ["gzip", "br", "zstd"] {
        let response = get_once(
            server.addr,
            "/notes.txt",
            &format!("Accept-Encoding: {encoding}\r\n"),
        )
        .await;
        assert_eq!(response.header("content-encoding"), Some(encoding));
        assert!(response.header("etag").unwrap().starts_with("W/\""));
        assert!(response.header("accept-ranges").is_none());
        assert!(response.body.len() < text.len() / 10);
    }
    let identity = get_once(server.addr, "/notes.txt", "").await;
    let strong = identity.header("etag").unwrap().to_owned();
    assert!(strong.starts_with('"'));
    // The weak tag still validates: 304.
    let again = get_once(
        server.addr,
        "/notes.txt",
        &format!("Accept-Encoding: gzip\r\nIf-None-Match: W/{strong}\r\n"),
    )
    .await;
    assert_eq!(again.status_line, "HTTP/1.0 304 Not Modified");
    // A range is never compressed.
    let range = get_once(
        server.addr,
        "/notes.txt",
        "Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n",
    )
    .await;
    assert_eq!(range.status_line, "HTTP/1.0 206 Partial Content");
    assert!(range.header("content-encoding").is_none());
    assert_eq!(range.body, b"All work a");
    // The precompressed sibling is preferred, untouched.
    let pre = get_once(server.addr, "/pre.txt", "Accept-Encoding: gzip\r\n").await;
    assert_eq!(pre.header("content-encoding"), Some("gzip"));
    assert_eq!(pre.body, b"precompressed bytes");
    // Listings too.
    let listing = get_once(server.addr, "/", "Accept-Encoding: gzip\r\n").await;
    assert_eq!(listing.header("content-encoding"), Some("gzip"));
    // Several ranges (no `Content-Range` header on the whole): not compressed either.
    let ranges = get_once(
        server.addr,
        "/notes.txt",
        "Accept-Encoding: gzip\r\nRange: bytes=0-3,10-13\r\n",
    )
    .await;
    assert_eq!(ranges.status(), 206);
    assert!(ranges.header("content-encoding").is_none());
    // A 304 for the compressed body keeps its weak tag and `Vary`.
    assert_eq!(again.header("etag"), Some(format!("W/{strong}").as_str()));
    assert!(
        again
            .header("vary")
            .is_some_and(|v| v.eq_ignore_ascii_case("accept-encoding")),
        "{:?}",
        again.headers
    );
    assert_eq!(again.header_count("vary"), 1, "{:?}", again.headers);
    // HEAD describes the identity body.
    let request = b"HEAD /notes.txt HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n";
    let head = parse_all(&raw(server.addr, request).await).remove(0);
    assert!(head.header("content-encoding").is_none());
    assert_eq!(
        head.header("content-length"),
        Some(text.len().to_string().as_str())
    );
    // Nothing acceptable, identity included: identity, not tower-http's 406.
    let refusing = get_once(
        server.addr,
        "/notes.txt",
        "Accept-Encoding: identity;q=0\r\n",
    )
    .await;
    assert_eq!(refusing.status(), 200);
    assert_eq!(refusing.body, text.as_bytes());
}

#[tokio::test]
async fn uploads_under_compression_answer_without_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let upload = uploads(dir.path())
        .into_layer()
        .layer(StaticFiles::new(dir.path()));
    let server = serve(CompressionLayer::new().layer(upload)).await;
    let body = multipart("XyZ", &[("files", Some("a.txt"), b"data")]);
    let head = format!(
        "POST /upload HTTP/1.0\r\nAccept-Encoding: gzip\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let bytes = raw(server.addr, &[head.as_bytes(), &body].concat()).await;
    let response = parse_all(&bytes).remove(0);
    assert_eq!(response.status_line, "HTTP/1.0 204 Files accepted");
    assert!(response.header("content-encoding").is_none());
    assert!(response.body.is_empty());
}

#[tokio::test]
async fn names_that_exist_get_numbers_that_fit() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_uploads(uploads(dir.path()), dir.path()).await;
    // A 255-byte name with a long "extension", twice; then one name in 30 parts.
    let long = format!("a.{}", "x".repeat(253));
    for _ in 0..2 {
        let response = post_multipart(
            server.addr,
            &multipart("XyZ", &[("files", Some(&long), b"x")]),
        )
        .await;
        assert_eq!(response.status(), 204, "{}", response.status_line);
    }
    let parts: Vec<(&str, Option<&str>, &[u8])> = (0..30)
        .map(|_| ("files", Some("same.txt"), b"y".as_slice()))
        .collect();
    let response = post_multipart(server.addr, &multipart("XyZ", &parts)).await;
    assert_eq!(
        response.status_line,
        "HTTP/1.0 204 Some filename(s) changed due to name conflict"
    );
    let stored = names(dir.path());
    assert_eq!(stored.len(), 32, "{stored:?}");
    assert!(stored.iter().all(|n| n.len() <= 255));
    assert!(stored.contains(&"same (29).txt".to_owned()), "{stored:?}");
    // The names of files being written, and boundaries past RFC 2046's 70 characters.
    let response = post_multipart(
        server.addr,
        &multipart(
            "XyZ",
            &[("files", Some(".basehttp-upload-1-2-3.part"), b"x")],
        ),
    )
    .await;
    assert_eq!(response.status(), 400);
    let boundary = "b".repeat(71);
    let body = multipart(&boundary, &[("files", Some("z.txt"), b"x")]);
    let request = [
        format!(
            "POST /upload HTTP/1.0\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
        &body,
    ]
    .concat();
    let response = parse_all(&raw(server.addr, &request).await).remove(0);
    assert_eq!(
        response.status_line,
        "HTTP/1.0 400 Multipart boundary too long"
    );
}

#[tokio::test]
async fn listings_keep_the_file_servers_headers_with_the_upload_link() {
    let dir = tempfile::tempdir().unwrap();
    let header = (
        http::HeaderName::from_static("content-security-policy"),
        http::HeaderValue::from_static("default-src 'self'"),
    );
    let files = StaticFiles::new(dir.path()).extra_headers(vec![header]);
    let server = serve(uploads(dir.path()).into_layer().layer(files)).await;
    let listing = get_once(server.addr, "/", "").await;
    assert_eq!(
        listing.header("content-security-policy"),
        Some("default-src 'self'")
    );
    let page = String::from_utf8_lossy(&listing.body);
    assert!(
        page.contains("<hr>\n<a href=\"/upload\">File Upload</a>\n<hr>\n<ul>"),
        "{page}"
    );
    assert_eq!(
        listing.header("content-length"),
        Some(listing.body.len().to_string().as_str())
    );
}

/// The command: `--basic-auth` in a loop of wrong passwords, `--cors` on errors, redirects
/// and preflights, a full disk.
#[test]
fn the_command_stacks_auth_cors_compression_and_uploads() {
    if !installed("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let mut command = basehttp();
    command
        .args([
            "-b",
            "127.0.0.1",
            "-p",
            "HTTP/1.1",
            "0",
            "--upload",
            "--compress",
        ])
        .args([
            "--basic-auth",
            "admin:hunter2",
            "--cors-origin",
            "http://ok.test",
        ])
        .arg("-d")
        .arg(dir.path());
    let server = spawn_server_capturing(command);
    let base = format!("http://127.0.0.1:{}", server.port);
    let curl = curl_i;
    // Wrong passwords in a loop: 401 each, two log lines each, never the password.
    for i in 0..50 {
        let out = curl(&["-u", &format!("admin:guess{i}"), &format!("{base}/")]);
        assert!(out.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{out}");
    }
    let out = curl(&["-u", "admin:hunter2", &format!("{base}/")]);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    // CORS on an allowed origin: on the 401, a redirect and a 404; preflights answered.
    let origin = ["-H", "Origin: http://ok.test"];
    for (target, status) in [("/", "401"), ("/sub", "401")] {
        let out = curl(&[origin[0], origin[1], &format!("{base}{target}")]);
        assert!(out.starts_with(&format!("HTTP/1.1 {status} ")), "{out}");
        assert!(
            out.to_ascii_lowercase()
                .contains("access-control-allow-origin: http://ok.test"),
            "{out}"
        );
    }
    let authed = ["-u", "admin:hunter2", origin[0], origin[1]];
    for (target, status) in [("/sub", "301"), ("/missing", "404")] {
        let out = curl(&[
            authed[0],
            authed[1],
            authed[2],
            authed[3],
            &format!("{base}{target}"),
        ]);
        assert!(out.starts_with(&format!("HTTP/1.1 {status} ")), "{out}");
        assert!(
            out.to_ascii_lowercase()
                .contains("access-control-allow-origin: http://ok.test"),
            "{out}"
        );
    }
    let preflight = |origin: &str| {
        curl(&[
            "-X",
            "OPTIONS",
            "-H",
            &format!("Origin: {origin}"),
            "-H",
            "Access-Control-Request-Method: PUT",
            &format!("{base}/upload"),
        ])
        .to_ascii_lowercase()
    };
    let allowed = preflight("http://ok.test");
    assert!(
        allowed.starts_with("http/1.1 200 ")
            && allowed.contains("access-control-allow-origin: http://ok.test"),
        "{allowed}"
    );
    // Any other OPTIONS is the stack's: the password first.
    let out = curl(&["-X", "OPTIONS", &format!("{base}/")]);
    assert!(out.starts_with("HTTP/1.1 401 "), "{out}");
    let out = curl(&["-X", "OPTIONS", "-u", "admin:hunter2", &format!("{base}/")]);
    assert!(out.starts_with("HTTP/1.1 501 "), "{out}");
    let refused = preflight("http://evil.test");
    assert!(
        !refused.contains("access-control-allow-origin"),
        "{refused}"
    );
    // Compressed, authenticated download of the listing.
    let out = curl(&["-u", "admin:hunter2", "--compressed", &format!("{base}/")]);
    assert!(
        out.to_ascii_lowercase().contains("content-encoding: "),
        "{out}"
    );
    // 53 refusals (50 guesses, 2 without a password, a plain OPTIONS): each one request line and Python's `code 401` line, no password.
    let log = wait_for_output(&server.stderr, |log| log.matches("\" 401 -").count() >= 53);
    assert_eq!(log.matches("\" 401 -").count(), 53, "{log}");
    assert_eq!(
        log.matches("code 401, message Unauthorized").count(),
        53,
        "{log}"
    );
    assert!(!log.contains("hunter2") && !log.contains("guess"), "{log}");
    // Through compression and CORS, still one line per request.
    let log = wait_for_output(&server.stderr, |log| {
        log.contains("\"GET /missing HTTP/1.1\" 404")
    });
    assert_eq!(
        log.matches("\"GET /missing HTTP/1.1\" 404").count(),
        1,
        "{log}"
    );
    let log = wait_for_output(&server.stderr, |log| {
        log.matches("\"GET / HTTP/1.1\" 200").count() >= 2
    });
    assert_eq!(log.matches("\"GET / HTTP/1.1\" 200").count(), 2, "{log}");
    assert_eq!(
        log.matches("\"OPTIONS /upload HTTP/1.1\" 200").count(),
        2,
        "{log}"
    );
}

/// A full disk (here the file size limit, `ulimit -f`) answers `507` and leaves no partial
/// file; the server goes on.
#[test]
fn a_full_disk_answers_507() {
    if !installed("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let big = src.path().join("big.bin");
    std::fs::write(&big, pseudo_random(4 << 20, 9)).unwrap();
    let binary = basehttp().get_program().to_owned();
    let mut command = std::process::Command::new("sh");
    command
        .args(["-c", "ulimit -f 1024; trap '' XFSZ; exec \"$0\" \"$@\""])
        .arg(binary)
        .args(["-b", "127.0.0.1", "0", "--upload", "-d"])
        .arg(dir.path());
    let server = spawn_server_capturing(command);
    let base = format!("http://127.0.0.1:{}", server.port);
    let run = curl_i;
    let big = big.display().to_string();
    let out = run(&["-H", "Expect:", "-T", &big, &format!("{base}/big.bin")]);
    assert!(
        out.starts_with("HTTP/1.0 507 Insufficient Storage\r\n"),
        "{out}"
    );
    let out = run(&[
        "-H",
        "Expect:",
        "-F",
        &format!("files=@{big}"),
        &format!("{base}/upload"),
    ]);
    assert!(
        out.starts_with("HTTP/1.0 507 Insufficient Storage\r\n"),
        "{out}"
    );
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    // Small files still fit.
    let small = src.path().join("small.txt");
    std::fs::write(&small, "fits").unwrap();
    let out = run(&[
        "-H",
        "Expect:",
        "-T",
        &small.display().to_string(),
        &format!("{base}/small.txt"),
    ]);
    assert!(out.starts_with("HTTP/1.0 201 Created\r\n"), "{out}");
}

/// While an upload is being written, nothing of it is in the folder: not under its name, not
/// under another (on Linux the file has no name until it is whole).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_file_being_written_is_nowhere_in_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_uploads(uploads(dir.path()), dir.path()).await;
    let body = pseudo_random(4 << 20, 3);
    let mut stream = connect(server.addr).await;
    let head = format!(
        "PUT /growing.bin HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..1 << 20]).await.unwrap();
    // Wait (bounded) until the server holds the file open: an unnamed file in this folder.
    let dir_path = std::fs::canonicalize(dir.path()).unwrap();
    let prefix = format!("{}/#", dir_path.display());
    let deadline = Instant::now() + WAIT;
    loop {
        let open = std::fs::read_dir("/proc/self/fd").unwrap().any(|fd| {
            std::fs::read_link(fd.unwrap().path())
                .is_ok_and(|target| target.to_string_lossy().starts_with(&prefix))
        });
        if open {
            break;
        }
        assert!(Instant::now() < deadline, "the upload never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    let listing = get_once(server.addr, "/growing.bin", "").await;
    assert_eq!(listing.status(), 404);
    stream.write_all(&body[1 << 20..]).await.unwrap();
    let response = read_response(&mut stream, false).await.expect("a response");
    assert_eq!(response.status_line, "HTTP/1.0 201 Created");
    assert_eq!(std::fs::read(dir.path().join("growing.bin")).unwrap(), body);
}
