//! Every example in `examples/`, run as a process and exercised over real sockets.

use std::process::Command;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::support::*;

fn spawn_example_capturing(name: &str) -> ChildGuard {
    let mut command = Command::new(example_path(name));
    command.arg("0");
    spawn_server_capturing(command)
}

#[tokio::test]
async fn hello_answers_and_logs_like_python() {
    let server = spawn_example_capturing("hello");
    let bytes = raw(server.addr(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let res = &parse_all(&bytes)[0];
    assert_eq!(res.status_line, "HTTP/1.0 200 OK");
    assert_eq!(res.header("content-type"), Some("text/html"));
    assert_eq!(res.body, b"Hello, world!");

    let bytes = raw(server.addr(), b"PUT /x\\y HTTP/1.0\r\n\r\n").await;
    assert_eq!(parse_all(&bytes)[0].status(), 501);

    let log = wait_for_output(&server.stderr, |t| t.lines().count() >= 3);
    assert_eq!(
        normalize_log(&log),
        [
            r#"127.0.0.1 - - [DATE] "GET / HTTP/1.1" 200 -"#,
            r"127.0.0.1 - - [DATE] code 501, message Unsupported method ('PUT')",
            r#"127.0.0.1 - - [DATE] "PUT /x\\y HTTP/1.0" 501 -"#,
        ]
    );
}

#[tokio::test]
async fn post_echo_reads_the_body_safely() {
    let server = spawn_example("post_echo");
    let body = vec![b'z'; 512 * 1024];
    let mut request =
        format!("POST / HTTP/1.0\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    request.extend_from_slice(&body);
    let res = &parse_all(&raw(server.addr(), &request).await)[0];
    assert_eq!(res.status(), 200);
    assert_eq!(res.body.len(), "Received POST data: ".len() + body.len());

    // Chunked upload (no Content-Length): read whole, within the limit.
    let res = &parse_all(
        &raw(
            server.addr(),
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        )
        .await,
    )[0];
    assert_eq!(res.status(), 200);
    assert_eq!(res.body, b"Received POST data: abc");

    // No length at all: 411 rather than Python's TypeError and a dead connection.
    let res = &parse_all(&raw(server.addr(), b"POST / HTTP/1.0\r\n\r\n").await)[0];
    assert_eq!(res.status(), 411);

    // A lying Content-Length: nothing is allocated for it, 413.
    let res = &parse_all(
        &raw(
            server.addr(),
            b"POST / HTTP/1.0\r\nContent-Length: 99999999999\r\n\r\nabc",
        )
        .await,
    )[0];
    assert_eq!(res.status(), 413);
}

#[tokio::test]
async fn methods_advertise_what_they_allow() {
    let server = spawn_example("methods");
    let res = &parse_all(&raw(server.addr(), b"OPTIONS / HTTP/1.0\r\n\r\n").await)[0];
    assert_eq!(res.header("allow"), Some("GET, POST, PUT, DELETE, OPTIONS"));
    assert_eq!(res.header("x-custom-header"), Some("Custom Value"));
    for (method, body) in [
        ("PUT", "PUT request received"),
        ("DELETE", "DELETE request received"),
    ] {
        let request = format!("{method} / HTTP/1.0\r\n\r\n");
        let res = &parse_all(&raw(server.addr(), request.as_bytes()).await)[0];
        assert_eq!(res.body, body.as_bytes());
    }
    let res = &parse_all(&raw(server.addr(), b"POST / HTTP/1.0\r\n\r\n").await)[0];
    assert_eq!(res.status_line, "HTTP/1.0 501 Unsupported method ('POST')");
}

#[tokio::test]
async fn routes_route() {
    let server = spawn_example("routes");
    for (path, status, body) in [("/hello", 200, "Hello!"), ("/goodbye", 200, "Goodbye!")] {
        let request = format!("GET {path} HTTP/1.0\r\n\r\n");
        let res = &parse_all(&raw(server.addr(), request.as_bytes()).await)[0];
        assert_eq!(
            (res.status(), res.body.as_slice()),
            (status, body.as_bytes())
        );
    }
    let res = &parse_all(&raw(server.addr(), b"GET /nope HTTP/1.0\r\n\r\n").await)[0];
    assert_eq!(res.status_line, "HTTP/1.0 404 Page not found");
    assert!(find(&res.body, b"<p>Message: Page not found.</p>").is_some());
}

#[tokio::test]
async fn errors_become_500_pages_and_the_server_goes_on() {
    let server = spawn_example_capturing("errors");
    for path in ["/fail", "/panic"] {
        let request = format!("GET {path} HTTP/1.0\r\n\r\n");
        let res = &parse_all(&raw(server.addr(), request.as_bytes()).await)[0];
        assert_eq!(
            res.status_line, "HTTP/1.0 500 Internal Server Error",
            "{path}"
        );
        assert!(find(&res.body, b"<p>Error code: 500</p>").is_some());
    }
    let res = &parse_all(&raw(server.addr(), b"GET / HTTP/1.0\r\n\r\n").await)[0];
    assert_eq!(res.body, b"All good");
    let log = wait_for_output(&server.stderr, |t| t.contains("\"GET / HTTP/1.0\" 200"));
    let lines = normalize_log(&log);
    assert!(lines.contains(
        &"127.0.0.1 - - [DATE] Exception occurred during processing of request: something went wrong"
            .to_owned()
    ));
    assert!(lines.contains(
        &"127.0.0.1 - - [DATE] Exception occurred during processing of request: handler panicked: something went very wrong"
            .to_owned()
    ));
}

#[tokio::test]
async fn streaming_sends_events_as_they_happen() {
    let server = spawn_example("streaming");
    let mut stream = connect(server.addr()).await;
    stream
        .write_all(b"GET /events?count=4 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut arrivals = Vec::new();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while arrivals.len() < 4 {
        let n = tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read(&mut stream, &mut buf))
            .await
            .expect("event")
            .unwrap();
        assert!(n > 0, "closed early");
        received.extend_from_slice(&buf[..n]);
        let events = received
            .windows(11)
            .filter(|w| w.starts_with(b"data: event"))
            .count();
        while arrivals.len() < events {
            arrivals.push(started.elapsed());
        }
    }
    // Events are 100 ms apart on the wire, not delivered together at the end.
    assert!(
        arrivals[3] - arrivals[0] >= Duration::from_millis(200),
        "{arrivals:?}"
    );
}

/// Ctrl-C while an event stream runs: the handler sees the shutdown (`Exchange::shutting_down`),
/// ends the stream with a last event, and the process exits at once instead of waiting out the
/// drain timeout.
#[tokio::test]
async fn streaming_ends_itself_when_the_server_shuts_down() {
    let mut command = std::process::Command::new(example_path("streaming"));
    command.arg("0");
    let mut server = spawn_server_capturing(command);
    let mut stream = connect(server.addr()).await;
    stream
        .write_all(b"GET /events?count=100000 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while find(&received, b"data: event 0").is_none() {
        let n = tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read(&mut stream, &mut buf))
            .await
            .expect("first event")
            .unwrap();
        assert!(n > 0, "closed early");
        received.extend_from_slice(&buf[..n]);
    }
    let interrupted = Instant::now();
    server.interrupt();
    let rest = tokio::time::timeout(WAIT, read_to_close(&mut stream))
        .await
        .expect("the stream ends");
    received.extend_from_slice(&rest);
    assert!(
        find(
            &received,
            b"event: shutdown\ndata: server shutting down\n\n"
        )
        .is_some(),
        "{}",
        String::from_utf8_lossy(&received)
    );
    // HTTP/1.0 (Python's default): the body is complete when the connection closes after it.
    assert!(received.starts_with(b"HTTP/1.0 200 OK\r\n"));
    assert!(received.ends_with(b"event: shutdown\ndata: server shutting down\n\n"));
    assert_eq!(server.wait_exit(), Some(0));
    assert!(
        interrupted.elapsed() < Duration::from_secs(5),
        "exited after {:?}, not at the drain timeout",
        interrupted.elapsed()
    );
}

/// Ctrl-C while a download is stuck on a client that does not read: the listener closes at
/// once, the server says how long it waits and that a second Ctrl-C exits now, which it does.
#[tokio::test]
async fn first_ctrl_c_stops_listening_and_says_how_long_it_waits() {
    let mut command = std::process::Command::new(example_path("streaming"));
    command.arg("0");
    let mut server = spawn_server_capturing(command);
    let mut stream = connect(server.addr()).await;
    stream
        .write_all(b"GET /large?size=1073741824 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Wait until the response has started, then stop reading.
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read(&mut stream, &mut buf))
        .await
        .expect("head")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.0 200"));

    server.interrupt();
    let stderr = wait_for_output(&server.stderr, |t| t.contains("Ctrl-C again"));
    assert!(
        stderr.contains(
            "Waiting up to 10 s for the requests of 1 connection to finish; press Ctrl-C again to exit now."
        ),
        "{stderr}"
    );
    // Only Linux can stop a socket from listening.
    if cfg!(target_os = "linux") {
        let refused = std::net::TcpStream::connect(server.addr());
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused),
            "new clients are refused while the server drains: {refused:?}"
        );
    }
    let second = Instant::now();
    server.interrupt();
    assert_eq!(server.wait_exit(), Some(0));
    assert!(
        second.elapsed() < Duration::from_secs(5),
        "{:?}",
        second.elapsed()
    );
    drop(stream);
}

#[tokio::test]
async fn streaming_a_large_response_takes_constant_memory() {
    let server = spawn_example("streaming");
    let size: u64 = 256 << 20;
    let request = format!("GET /large?size={size} HTTP/1.0\r\n\r\n");
    let mut stream = connect(server.addr()).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read(&mut stream, &mut buf))
            .await
            .expect("data")
            .unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    assert!(total > size, "head plus {size} bytes");
    let peak_kib = peak_rss_kib(server.child.id());
    if let Some(peak) = peak_kib {
        assert!(
            peak < 48 * 1024,
            "peak RSS {peak} KiB while streaming 256 MiB"
        );
    }
}

/// The peak resident set size of a process, from `/proc` (Linux only).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::test]
async fn upload_puts_files_under_the_served_directory_only() {
    let base = tempfile::tempdir().unwrap();
    let share = base.path().join("share");
    std::fs::create_dir(&share).unwrap();
    std::fs::create_dir(share.join("sub")).unwrap();
    let mut command = Command::new(example_path("upload"));
    command.arg("0").arg(&share);
    let server = spawn_server_capturing(command);

    let res = &parse_all(
        &raw(
            server.addr(),
            b"PUT /notes.txt HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello",
        )
        .await,
    )[0];
    assert_eq!(res.status_line, "HTTP/1.0 201 Created");
    assert_eq!(std::fs::read(share.join("notes.txt")).unwrap(), b"hello");
    // Served back by the files layer, listed, logged.
    let res = &parse_all(&raw(server.addr(), b"GET /notes.txt HTTP/1.0\r\n\r\n").await)[0];
    assert_eq!(res.body, b"hello");
    assert!(res.header("server").unwrap().starts_with("SimpleHTTP/0.6 "));
    let res = &parse_all(&raw(server.addr(), b"GET / HTTP/1.0\r\n\r\n").await)[0];
    assert!(find(&res.body, b"<a href=\"notes.txt\">notes.txt</a>").is_some());

    // `..` stays inside: the file lands in the share, never next to it.
    let res = &parse_all(
        &raw(
            server.addr(),
            b"PUT /../escape.txt HTTP/1.0\r\nContent-Length: 1\r\n\r\nx",
        )
        .await,
    )[0];
    assert_eq!(res.status(), 201);
    assert!(!base.path().join("escape.txt").exists());
    assert!(share.join("escape.txt").exists());
    // Directories and missing lengths are refused.
    let res = &parse_all(
        &raw(
            server.addr(),
            b"PUT /sub/ HTTP/1.0\r\nContent-Length: 1\r\n\r\nx",
        )
        .await,
    )[0];
    assert_eq!(res.status_line, "HTTP/1.0 405 Cannot PUT a directory");
    let res = &parse_all(
        &raw(
            server.addr(),
            b"PUT /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        )
        .await,
    )[0];
    assert_eq!(res.status(), 411);

    let log = wait_for_output(&server.stderr, |t| normalize_log(t).len() >= 8);
    let log = normalize_log(&log);
    assert_eq!(
        log[0],
        r#"127.0.0.1 - - [DATE] "PUT /notes.txt HTTP/1.0" 201 -"#
    );
    assert_eq!(
        log[1],
        r#"127.0.0.1 - - [DATE] "GET /notes.txt HTTP/1.0" 200 -"#
    );
}

#[tokio::test]
async fn cgi_runs_scripts_under_cgi_bin_only() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    for dir in ["cgi-bin", "htbin"] {
        std::fs::create_dir(root.path().join(dir)).unwrap();
        let script = root.path().join(dir).join("hello.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello %s from %s\\n' \"$QUERY_STRING\" \"$APP_ENV\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Scripts may run as `nobody`.
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut command = Command::new(example_path("cgi"));
    command.arg("0").arg(root.path());
    let server = spawn_server_capturing(command);

    let res = &parse_all(
        &raw(
            server.addr(),
            b"GET /cgi-bin/hello.sh?name=world HTTP/1.0\r\n\r\n",
        )
        .await,
    )[0];
    assert_eq!(res.status_line, "HTTP/1.0 200 Script output follows");
    assert_eq!(res.body, b"hello name=world from demo\n");
    // `/htbin` is not a CGI directory here: the script is a file.
    let res = &parse_all(&raw(server.addr(), b"GET /htbin/hello.sh HTTP/1.0\r\n\r\n").await)[0];
    assert_eq!(res.status(), 200);
    assert!(res.body.starts_with(b"#!/bin/sh"));
    let res = &parse_all(
        &raw(
            server.addr(),
            b"POST /htbin/hello.sh HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
        )
        .await,
    )[0];
    assert_eq!(res.status_line, "HTTP/1.0 501 Can only POST to CGI scripts");
    let log = wait_for_output(&server.stderr, |t| normalize_log(t).len() >= 3);
    assert_eq!(
        normalize_log(&log)[0],
        r#"127.0.0.1 - - [DATE] "GET /cgi-bin/hello.sh?name=world HTTP/1.0" 200 -"#
    );
}

/// The load benchmark's servers (`benches/performance.sh`) answer what it measures: every mode
/// of `bench_hello` and the bare-hyper anchors of `bench_anchors` give `200 Hello, world!` on a
/// kept-alive connection; `logged` logs Python's line for it. `bench_anchors hello-python` and
/// `bench_hello hyper-python` send the handler's head byte for byte (its `Date` aside).
#[tokio::test]
async fn bench_servers_answer_the_benchmark_request() {
    let two_requests = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n\
                         GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut heads = Vec::new();
    for (example, mode) in [
        ("bench_hello", "handler"),
        ("bench_hello", "logged"),
        ("bench_hello", "hyper"),
        ("bench_hello", "hyper-python"),
        ("bench_anchors", "hello"),
        ("bench_anchors", "hello-python"),
    ] {
        let mut command = Command::new(example_path(example));
        command.arg("0").arg(mode);
        let server = spawn_server_capturing(command);
        // Without half-closing: a bare hyper server drops a connection whose client has.
        let responses = parse_all(&raw_keep_open(server.addr(), two_requests).await);
        assert_eq!(responses.len(), 2, "{example} {mode}");
        for res in &responses {
            assert_eq!(res.status_line, "HTTP/1.1 200 OK", "{example} {mode}");
            assert_eq!(res.header("content-type"), Some("text/html"));
            assert_eq!(res.header("content-length"), Some("13"));
            assert_eq!(res.body, b"Hello, world!");
        }
        if mode == "logged" {
            let log = wait_for_output(&server.stderr, |t| t.lines().count() >= 2);
            assert_eq!(
                normalize_log(&log),
                [r#"127.0.0.1 - - [DATE] "GET /hello HTTP/1.1" 200 -"#; 2]
            );
        }
        if matches!(mode, "handler" | "hyper-python" | "hello-python") {
            let res = &responses[0];
            let date = res.header("date").expect("a Date header");
            assert!(httpdate::parse_http_date(date).is_ok(), "{mode}: {date}");
            let head: Vec<_> = res
                .raw_names
                .iter()
                .zip(&res.headers)
                .map(|(name, (lower, value))| {
                    let value = if lower == "date" { "DATE" } else { value };
                    format!("{name}: {value}")
                })
                .collect();
            heads.push((res.status_line.clone(), head));
        }
    }
    assert_eq!(heads.len(), 3);
    assert_eq!(heads[0], heads[1], "bench_hello handler, hyper-python");
    assert_eq!(
        heads[0], heads[2],
        "bench_hello handler, bench_anchors hello-python"
    );
    assert_eq!(
        heads[0].1,
        [
            concat!("Server: BaseHTTP/0.6 basehttp/", env!("CARGO_PKG_VERSION")),
            "Date: DATE",
            "Content-Type: text/html",
            "Content-Length: 13",
        ]
    );
}

/// The benchmark's file servers serve DIR's files, kept alive: `bench_anchors servedir` (the
/// tower-http peer), `bench_hello static-files` (`StaticFiles` alone) and `bench_hello files` (the
/// handler answering `/hello` and falling through to `StaticFiles` for the rest).
#[tokio::test]
async fn bench_file_servers_serve_the_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("small.html"), "<p>small</p>\n").expect("write");
    let get = |path: &str, close: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: {close}\r\n\r\n")
    };
    for (example, mode, hello_status) in [
        ("bench_anchors", "servedir", 404),
        ("bench_hello", "static-files", 404),
        ("bench_hello", "files", 200),
    ] {
        let mut command = Command::new(example_path(example));
        command.arg("0").arg(mode).arg(dir.path());
        let server = spawn_server(command);
        let requests = get("/small.html", "keep-alive") + &get("/hello", "close");
        let responses = parse_all(&raw_keep_open(server.addr(), requests.as_bytes()).await);
        let [file, hello] = &responses[..] else {
            panic!("{example} {mode}: {responses:?}");
        };
        assert_eq!(file.status_line, "HTTP/1.1 200 OK", "{example} {mode}");
        assert_eq!(file.header("content-type"), Some("text/html"));
        assert_eq!(file.body, b"<p>small</p>\n");
        assert_eq!(hello.status(), hello_status, "{example} {mode}");
        if hello_status == 200 {
            assert_eq!(hello.body, b"Hello, world!");
        }
        let missing = get("/missing", "close");
        let res = &parse_all(&raw_keep_open(server.addr(), missing.as_bytes()).await)[0];
        assert_eq!(res.status(), 404, "{example} {mode}");
    }
}

/// `bench_anchors memory-file FILE`, the ceiling the README puts beside the files `basehttp` keeps
/// in memory, answers with the response `StaticFiles` gives for FILE byte for byte (its `Date`
/// aside), so that the two are measured on the same bytes.
#[tokio::test]
async fn bench_memory_file_sends_what_static_files_sends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("small.html");
    std::fs::write(&file, "<p>small</p>\n".repeat(80)).expect("write");
    let request = b"GET /small.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut answers = Vec::new();
    for (example, mode, arg) in [
        ("bench_hello", "static-files", dir.path()),
        ("bench_anchors", "memory-file", file.as_path()),
    ] {
        let mut command = Command::new(example_path(example));
        command.arg("0").arg(mode).arg(arg);
        let server = spawn_server(command);
        let responses = parse_all(&raw_keep_open(server.addr(), request).await);
        let [res] = &responses[..] else {
            panic!("{example} {mode}: {responses:?}");
        };
        let date = res.header("date").expect("a Date header");
        assert!(httpdate::parse_http_date(date).is_ok(), "{mode}: {date}");
        let head: Vec<_> = res
            .raw_names
            .iter()
            .zip(&res.headers)
            .map(|(name, (lower, value))| {
                let value = if lower == "date" { "DATE" } else { value };
                format!("{name}: {value}")
            })
            .collect();
        answers.push((res.status_line.clone(), head, res.body.clone()));
    }
    assert_eq!(answers[0], answers[1], "static-files, then memory-file");
    let (status, head, body) = &answers[0];
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body.len(), 13 * 80);
    let names: Vec<_> = head.iter().filter_map(|h| h.split(':').next()).collect();
    assert_eq!(
        names,
        [
            "Server",
            "Date",
            "Content-Type",
            "Content-Length",
            "Last-Modified",
            "Etag",
            "Accept-Ranges",
            // Asked for by the request; hyper adds it to both.
            "Connection"
        ]
    );
}

/// `share`: uploads, a password, compression and CORS in an axum app.
#[cfg(all(feature = "upload", feature = "axum"))]
#[test]
fn share_uploads_behind_a_password_in_axum() {
    if !installed("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let notes = src.path().join("notes.txt");
    std::fs::write(&notes, "meeting notes\n".repeat(200)).unwrap();
    let mut command = Command::new(example_path("share"));
    command.arg("0").arg(dir.path());
    let server = spawn_server_capturing(command);
    let base = format!("http://127.0.0.1:{}", server.port);
    let curl = |args: &[&str]| curl_i(&[&["-H", "Expect:"], args].concat());
    // axum's route needs no password; the share does, and says so with Python's page.
    assert!(curl(&[&format!("{base}/health")]).starts_with("HTTP/1.1 200 OK"));
    let out = curl(&["-H", "Origin: http://app.test", &format!("{base}/")]);
    assert!(out.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{out}");
    assert!(out.contains("<p>Error code: 401</p>"), "{out}");
    assert!(
        out.to_ascii_lowercase()
            .contains("access-control-allow-origin: *"),
        "{out}"
    );
    // Upload, then read back compressed.
    let form = format!("files=@{}", notes.display());
    let out = curl(&["-u", "team:secret", "-F", &form, &format!("{base}/upload")]);
    assert!(out.starts_with("HTTP/1.1 204 Files accepted\r\n"), "{out}");
    let out = curl(&[
        "-u",
        "team:secret",
        "--compressed",
        &format!("{base}/notes.txt"),
    ]);
    assert!(
        out.to_ascii_lowercase().contains("content-encoding: "),
        "{out}"
    );
    assert!(out.ends_with(&"meeting notes\n".repeat(200)), "{out}");
    let out = curl(&["-u", "team:secret", &format!("{base}/")]);
    assert!(out.contains("<a href=\"/upload\">File Upload</a>"), "{out}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "meeting notes\n".repeat(200)
    );
    // One log line per request, the compressed one included.
    let log = wait_for_output(&server.stderr, |log| log.contains("\"GET / HTTP/1.1\" 200"));
    assert_eq!(
        log.matches("\"GET /notes.txt HTTP/1.1\" 200").count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches("\"POST /upload HTTP/1.1\" 204").count(),
        1,
        "{log}"
    );
}
