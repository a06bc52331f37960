//! The three ways in: `examples/axum_app.rs` (an axum `Router`), `examples/hyper_server.rs`
//! (bare hyper + hyper-util), `examples/tower_stack.rs` (tower-http middleware), and the
//! `SimpleHTTPRequestHandler` subclass of `examples/files_subclass.rs` side by side with its
//! Python original. Each runs as its own process, reached by curl and raw sockets.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use tokio::io::AsyncWriteExt;

use crate::support::*;

/// A served tree: `sub/a.txt`, `sub/big.txt`, `private/s.txt`, an executable `cgi-bin/hello.sh`.
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    for sub in ["sub", "private", "cgi-bin"] {
        std::fs::create_dir(root.join(sub)).expect("mkdir");
    }
    std::fs::write(root.join("sub/a.txt"), "hi\n").expect("write");
    // Large enough to be worth compressing (tower-http skips bodies under 32 bytes).
    std::fs::write(root.join("sub/big.txt"), "compress me ".repeat(400)).expect("write");
    std::fs::write(root.join("private/s.txt"), "secret\n").expect("write");
    let script = root.join("cgi-bin/hello.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhello from cgi %s\\n' \"$SCRIPT_NAME\"\n",
    )
    .expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

fn example(name: &str, root: &Path) -> ChildGuard {
    let mut command = Command::new(example_path(name));
    command.arg("0").arg(root);
    spawn_server_capturing(command)
}

async fn get(addr: std::net::SocketAddr, target: &str) -> RawResponse {
    let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    parse_all(&raw(addr, request.as_bytes()).await).remove(0)
}

#[tokio::test]
async fn axum_router_mounts_handler_files_and_cgi() {
    let site = site();
    let server = example("axum_app", site.path());
    let addr = server.addr();

    // axum's own route.
    let res = get(addr, "/").await;
    assert_eq!(
        (res.status(), res.body.as_slice()),
        (200, &b"Hello from axum\n"[..])
    );
    // The handler nested at /api, with Python's reason phrases and error page; mounted in the
    // router it speaks the router's HTTP/1.1.
    let res = get(addr, "/api/hello").await;
    assert_eq!(res.status_line, "HTTP/1.1 200 OK");
    assert_eq!(res.body, b"Hello from a Python-style handler\n");
    let res = get(addr, "/api/nope").await;
    assert_eq!(res.status_line, "HTTP/1.1 404 No such endpoint");
    // Files nested at /static: the redirect and the listing name the external path.
    let res = get(addr, "/static/sub").await;
    assert_eq!(res.status(), 301);
    assert_eq!(res.header("location"), Some("/static/sub/"));
    let res = get(addr, "/static/sub/").await;
    assert!(
        find(
            &res.body,
            b"<title>Directory listing for /static/sub/</title>"
        )
        .is_some()
    );
    assert!(find(&res.body, b"<a href=\"a.txt\">a.txt</a>").is_some());
    assert_eq!(get(addr, "/static/sub/a.txt").await.body, b"hi\n");
    // CGI keeps the full path: SCRIPT_NAME is the external one.
    let res = get(addr, "/cgi-bin/hello.sh").await;
    assert_eq!(res.status_line, "HTTP/1.1 200 Script output follows");
    // The script gives no length: under HTTP/1.1 the output is chunked.
    assert_eq!(res.header("transfer-encoding"), Some("chunked"));
    assert!(
        find(
            &res.body,
            b"\r\nhello from cgi /cgi-bin/hello.sh\n\r\n0\r\n"
        )
        .is_some()
    );
    // Outside every mount: axum's 404.
    assert_eq!(get(addr, "/elsewhere").await.status(), 404);

    let log = wait_for_output(&server.stderr, |t| t.contains("/cgi-bin/hello.sh"));
    assert!(
        normalize_log(&log)
            .contains(&r#"127.0.0.1 - - [DATE] "GET /cgi-bin/hello.sh HTTP/1.1" 200 -"#.to_owned()),
        "{log}"
    );
}

/// Mounted in a router, basehttp's services keep the connection alive as axum's routes do:
/// one TCP connection carries a handler response, a listing, a file and a CGI response.
#[tokio::test]
async fn axum_router_keeps_one_connection_for_every_service() {
    let site = site();
    let server = example("axum_app", site.path());
    let mut stream = connect(server.addr()).await;
    let expected: [(&str, &[u8]); 5] = [
        ("/api/hello", b"Hello from a Python-style handler\n"),
        ("/static/sub/", b"<a href=\"a.txt\">a.txt</a>"),
        ("/static/sub/a.txt", b"hi\n"),
        ("/cgi-bin/hello.sh", b"hello from cgi /cgi-bin/hello.sh\n"),
        ("/", b"Hello from axum\n"),
    ];
    for (path, body) in expected {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let res = read_response(&mut stream, false)
            .await
            .unwrap_or_else(|| panic!("{path}: the connection was closed"));
        assert!(
            res.status_line.starts_with("HTTP/1.1 200 "),
            "{path}: {res:?}"
        );
        assert_eq!(res.header("connection"), None, "{path}");
        assert!(find(&res.body, body).is_some(), "{path}: {res:?}");
    }

    // curl, one invocation for the four: a single connection is opened.
    if installed("curl") {
        let base = format!("http://127.0.0.1:{}", server.port);
        let urls: Vec<String> = [
            "/api/hello",
            "/static/sub/",
            "/static/sub/a.txt",
            "/cgi-bin/hello.sh",
        ]
        .iter()
        .map(|p| format!("{base}{p}"))
        .collect();
        let mut args = vec!["-s", "-w", "%{http_version} %{num_connects}\\n"];
        for url in &urls {
            args.extend(["-o", "/dev/null", url.as_str()]);
        }
        let (code, out, err) = curl_output(&args).await;
        assert_eq!(code, Some(0), "{err}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines, ["1.1 1", "1.1 0", "1.1 0", "1.1 0"], "{out}");
    }
}

#[tokio::test]
async fn bare_hyper_serves_the_stack_over_http1_and_http2() {
    if !installed("curl") {
        return;
    }
    let site = site();
    let server = example("hyper_server", site.path());
    let base = format!("http://127.0.0.1:{}", server.port);
    for (flag, version) in [
        ("--http1.1", "HTTP/1.1"),
        ("--http2-prior-knowledge", "HTTP/2.0"),
    ] {
        let (code, out, err) = curl_output(&[flag, &format!("{base}/api/hello")]).await;
        assert_eq!(code, Some(0), "{err}");
        // The ConnectionInfo extension gives the handler the client's address.
        assert_eq!(out, format!("Hello, 127.0.0.1 over {version}\n"));
        let (_, out, _) = curl_output(&[flag, &format!("{base}/sub/a.txt")]).await;
        assert_eq!(out, "hi\n");
        let (_, out, _) = curl_output(&[flag, &format!("{base}/cgi-bin/hello.sh")]).await;
        assert_eq!(out, "hello from cgi /cgi-bin/hello.sh\n");
    }
    let log = wait_for_output(&server.stderr, |t| t.matches('\n').count() >= 6);
    assert!(
        normalize_log(&log)
            .contains(&r#"127.0.0.1 - - [DATE] "GET /sub/a.txt HTTP/2.0" 200 -"#.to_owned()),
        "{log}"
    );
}

/// One test per tower-http layer of `examples/tower_stack.rs`, each with our bodies.
#[tokio::test]
async fn tower_http_layers_work_with_our_bodies() {
    if !installed("curl") {
        return;
    }
    let site = site();
    let server = example("tower_stack", site.path());
    let base = format!("http://127.0.0.1:{}", server.port);
    let url = |path: &str| format!("{base}{path}");

    // CompressionLayer: each encoding as negotiated, on a listing, a file and a streamed
    // handler response; curl decodes it back to the original bytes.
    let plain_stream = curl_output(&[&url("/stream")]).await.1;
    assert_eq!(plain_stream.lines().count(), 1000);
    for encoding in ["gzip", "br", "zstd"] {
        for path in ["/", "/sub/big.txt", "/stream"] {
            let (code, headers, _) = curl_output(&[
                "-o",
                "/dev/null",
                "-D",
                "-",
                "-H",
                &format!("Accept-Encoding: {encoding}"),
                &url(path),
            ])
            .await;
            assert_eq!(code, Some(0));
            assert!(
                headers
                    .to_ascii_lowercase()
                    .contains(&format!("content-encoding: {encoding}")),
                "{encoding} {path}: {headers}"
            );
        }
        let decoded = curl_output(&[
            "--compressed",
            "-H",
            &format!("Accept-Encoding: {encoding}"),
            &url("/stream"),
        ])
        .await;
        assert_eq!(decoded.1, plain_stream, "{encoding}");
    }
    // No Accept-Encoding: identity.
    let res = get(server.addr(), "/sub/a.txt").await;
    assert_eq!(res.header("content-encoding"), None);
    assert_eq!(res.body, b"hi\n");

    // SetResponseHeaderLayer: on files, listings and Python's error pages alike.
    for path in ["/sub/a.txt", "/", "/missing"] {
        let res = get(server.addr(), path).await;
        assert_eq!(
            res.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
    }

    // CorsLayer: a preflight is answered, a simple request gets the header.
    let preflight = parse_all(
        &raw(
            server.addr(),
            b"OPTIONS /sub/a.txt HTTP/1.1\r\nHost: x\r\nOrigin: http://example.com\r\n\
              Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n",
        )
        .await,
    )
    .remove(0);
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    let res = get(server.addr(), "/sub/a.txt").await;
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));

    // ValidateRequestHeaderLayer: /private/ needs the token.
    let res = get(server.addr(), "/private/s.txt").await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.header("www-authenticate"), Some("Bearer"));
    let (_, out, _) = curl_output(&[
        "-H",
        "Authorization: Bearer letmein",
        &url("/private/s.txt"),
    ])
    .await;
    assert_eq!(out, "secret\n");

    // RequestBodyLimitLayer: 1 KiB.
    let big = "a".repeat(2000);
    let (_, code, _) = curl_output(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-d",
        &big,
        &url("/echo"),
    ])
    .await;
    assert_eq!(code, "413");
    let (_, out, _) = curl_output(&["-d", "hello", &url("/echo")]).await;
    assert_eq!(out, "hello");

    // TimeoutLayer: /slow is cut off after one second with 408, and the server goes on.
    let started = std::time::Instant::now();
    let res = get(server.addr(), "/slow").await;
    assert_eq!(res.status(), 408);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(get(server.addr(), "/sub/a.txt").await.status(), 200);

    // TraceLayer: each of our log lines carries tower-http's span, and they agree.
    let log = wait_for_output(&server.stderr, |t| t.contains("POST /echo"));
    let line = log
        .lines()
        .find(|l| l.contains(r#"\"POST /echo HTTP/1.1\" 200"#))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains(
            r#""span":{"method":"POST","uri":"/echo","version":"HTTP/1.1","name":"request"}"#
        ),
        "{line}"
    );
}

/// `class Handler(SimpleHTTPRequestHandler)` overriding `do_GET`, on CPython and as the
/// example: the same answers for the overridden path and for the files below it.
#[tokio::test]
async fn files_subclass_matches_python() {
    let site = site();
    let rust = example("files_subclass", site.path());
    let python = spawn_python_with("files_subclass", &[site.path().as_os_str()]);
    let mut servers = vec![("rust", rust.addr())];
    if let Some(python) = &python {
        servers.push(("python", python.addr()));
    }
    let mut answers = Vec::new();
    for (name, addr) in &servers {
        let mut seen = Vec::new();
        for target in ["/api/status", "/sub/a.txt", "/sub", "/missing"] {
            let request = format!("GET {target} HTTP/1.0\r\n\r\n");
            let res = parse_all(&raw(*addr, request.as_bytes()).await).remove(0);
            seen.push((
                target,
                res.status_line.clone(),
                res.header("content-type").map(str::to_owned),
                res.header("location").map(str::to_owned),
                res.body.clone(),
            ));
        }
        answers.push((*name, seen));
    }
    let rust_answers = &answers[0].1;
    assert_eq!(rust_answers[0].1, "HTTP/1.0 200 OK");
    assert_eq!(rust_answers[0].4, br#"{"status": "ok"}"#);
    assert_eq!(rust_answers[1].4, b"hi\n");
    assert_eq!(rust_answers[2].3.as_deref(), Some("/sub/"));
    if let Some((_, python_answers)) = answers.get(1) {
        assert_eq!(rust_answers, python_answers);
    }
}
