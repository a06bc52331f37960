//! HTTPS and HTTP/2 with real clients: `curl --cacert`, `curl --http2`,
//! `curl --http2-prior-knowledge`, Python's `http.client` over `ssl`, and raw sockets for the
//! handshake and preface limits.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use basehttp::prelude::*;
use basehttp::server::{HttpServer, tls};

use crate::support::*;

fn tls_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// curl's (exit code, stdout).
async fn curl(args: Vec<String>) -> (Option<i32>, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, _) = curl_output(&args).await;
    (code, out)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// `python -m http.server --tls-cert … --tls-key … --tls-password-file …`, as CPython's
/// `test_https_client`; HTTP/2 negotiated by ALPN with `-p HTTP/1.1`.
#[tokio::test]
async fn https_from_the_cli_with_curl_http2_and_http11() {
    if !installed("curl") {
        return;
    }
    let fixture = crate::fixture::Fixture::new();
    let mut command = basehttp();
    command
        .args(["0", "-b", "127.0.0.1", "-p", "HTTP/1.1", "--tls-cert"])
        .arg(tls_file("cert.pem"))
        .arg("--tls-key")
        .arg(tls_file("key-encrypted.pem"))
        .arg("--tls-password-file")
        .arg(tls_file("password.txt"))
        .arg("-d")
        .arg(fixture.root());
    let mut server = spawn_server_capturing(command);
    let port = server.port;
    let ca = tls_file("ca.pem").display().to_string();
    let url = format!("https://localhost:{port}/hello.txt");

    let (code, out) = curl(args(&[
        "--http2",
        "--cacert",
        &ca,
        "-w",
        "\n%{http_version}",
        &url,
    ]))
    .await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "hello\n\n2");

    let (code, out) = curl(args(&[
        "--http1.1",
        "--cacert",
        &ca,
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code}",
        &format!("https://127.0.0.1:{port}/"),
    ]))
    .await;
    assert_eq!((code, out.as_str()), (Some(0), "1.1 200"));

    // Without the CA the certificate is refused: this really is TLS.
    let (code, _) = curl(args(&[&url])).await;
    assert_eq!(code, Some(60), "curl: SSL certificate problem");

    let log = wait_for_output(&server.stderr, |t| t.matches("\" 200 ").count() >= 2);
    let lines = normalize_log(&log);
    assert!(
        lines.contains(&"127.0.0.1 - - [DATE] \"GET /hello.txt HTTP/2.0\" 200 -".to_owned()),
        "{log}"
    );
    assert!(
        lines.contains(&"127.0.0.1 - - [DATE] \"GET / HTTP/1.1\" 200 -".to_owned()),
        "{log}"
    );
    server.interrupt();
    assert_eq!(server.wait_exit(), Some(0));
}

#[test]
fn https_banner_is_pythons() {
    let mut command = basehttp();
    command
        .args(["0", "-b", "127.0.0.1", "--tls-cert"])
        .arg(tls_file("combined.pem"));
    command.stdout(std::process::Stdio::piped());
    let mut child = command.spawn().expect("spawn");
    let mut banner = String::new();
    let stdout = child.stdout.take().expect("stdout");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut banner).expect("banner");
    let _ = child.kill();
    let _ = child.wait();
    let port = port_from_banner(&banner).expect("port");
    // The key is read from the certificate file when --tls-key is not given, as in Python.
    assert_eq!(
        banner,
        format!("Serving HTTPS on 127.0.0.1 port {port} (https://127.0.0.1:{port}/) ...\n")
    );
}

/// Python's `http.client.HTTPSConnection` with a verifying context, and HTTP/1.0 semantics
/// (the default `-p`): one request per connection, no HTTP/2 offered.
#[tokio::test]
async fn python_https_client_and_http10_over_tls() {
    let Some(python) = python3() else { return };
    let fixture = crate::fixture::Fixture::new();
    let mut command = basehttp();
    command
        .args(["0", "-b", "127.0.0.1", "--tls-cert"])
        .arg(tls_file("cert.pem"))
        .arg("--tls-key")
        .arg(tls_file("key.pem"))
        .arg("-d")
        .arg(fixture.root());
    let server = spawn_server(command);
    let script = format!(
        r#"
import http.client, ssl
ctx = ssl.create_default_context(cafile={ca:?})
ctx.set_alpn_protocols(["h2", "http/1.1"])
c = http.client.HTTPSConnection("localhost", {port}, context=ctx)
c.connect()
alpn = c.sock.selected_alpn_protocol()
c.request("GET", "/hello.txt")
r = c.getresponse()
print(r.status, r.version, r.getheader("Connection"), alpn, r.read().decode().strip())
"#,
        ca = tls_file("ca.pem").display().to_string(),
        port = server.port,
    );
    let output =
        tokio::task::spawn_blocking(move || Command::new(python).arg("-c").arg(script).output())
            .await
            .expect("task")
            .expect("python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "200 10 None http/1.1 hello\n"
    );
}

/// Cleartext HTTP/2 by prior knowledge from `-p HTTP/1.1` on; the default HTTP/1.0 server
/// keeps Python's behaviour.
#[tokio::test]
async fn prior_knowledge_http2_only_from_http11() {
    if !installed("curl") {
        return;
    }
    let fixture = crate::fixture::Fixture::new();
    for (protocol, expect) in [("HTTP/1.1", Some("2 200")), ("HTTP/1.0", None)] {
        let mut command = basehttp();
        command
            .args(["0", "-b", "127.0.0.1", "-q", "-p", protocol, "-d"])
            .arg(fixture.root());
        let server = spawn_server(command);
        let url = format!("http://127.0.0.1:{}/hello.txt", server.port);
        let (code, out) = curl(args(&[
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
            &url,
        ]))
        .await;
        match expect {
            Some(expected) => assert_eq!((code, out.as_str()), (Some(0), expected)),
            // hyper answers the preface on an HTTP/1-only server with 400.
            None => assert_ne!(code, Some(0), "{protocol}: {out}"),
        }
        // HTTP/1 clients are served either way.
        let (code, out) = curl(args(&["-o", "/dev/null", "-w", "%{http_code}", &url])).await;
        assert_eq!((code, out.as_str()), (Some(0), "200"), "{protocol}");
    }
}

/// `--log-format json`: one JSON object per line, the Python line as its message, the
/// request's span attached.
#[tokio::test]
async fn json_log_lines_carry_the_python_line_and_the_span() {
    let mut command = basehttp();
    command.args(["0", "-b", "127.0.0.1", "--log-format", "json"]);
    let server = spawn_server_capturing(command);
    let bytes = raw(server.addr(), b"GET /nothing-here HTTP/1.0\r\n\r\n").await;
    assert_eq!(parse_all(&bytes)[0].status(), 404);
    let log = wait_for_output(&server.stderr, |t| t.matches('\n').count() >= 2);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    for line in &lines {
        assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
        assert!(line.contains(r#""target":"basehttp::log""#), "{line}");
        assert!(
            line.contains(r#""span":{"client":"127.0.0.1","method":"GET","target":"/nothing-here","version":"HTTP/1.0","name":"request"}"#),
            "{line}"
        );
    }
    assert!(
        lines[0].contains(r#"code 404, message File not found"#),
        "{log}"
    );
    assert!(
        lines[1].contains(r#"\"GET /nothing-here HTTP/1.0\" 404 -"#),
        "{log}"
    );
    if let Some(python) = python3() {
        // Every line is valid JSON whose message is the Python line.
        let check = "import json,sys\nfor l in sys.stdin: print(json.loads(l)['fields']['message'].split('] ',1)[1])";
        let mut child = Command::new(python)
            .args(["-c", check])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python");
        use std::io::Write as _;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(log.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("python");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "code 404, message File not found\n\"GET /nothing-here HTTP/1.0\" 404 -\n"
        );
    }
}

#[test]
fn tls_usage_errors_exit_2() {
    for (flags, message) in [
        (
            vec!["--tls-key", "k.pem"],
            "--tls-key requires --tls-cert to be set",
        ),
        (
            vec!["--tls-password-file", "p"],
            "--tls-password-file requires --tls-cert to be set",
        ),
        (
            vec!["--tls-cert", "/nonexistent.pem"],
            "/nonexistent.pem: No such file or directory",
        ),
    ] {
        let output = basehttp().arg("0").args(&flags).output().expect("run");
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{flags:?}: {stderr}");
    }
    // An encrypted key without its password, and with a wrong one.
    for password in [None, Some("wrong")] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut command = basehttp();
        command
            .arg("0")
            .arg("--tls-cert")
            .arg(tls_file("cert.pem"))
            .arg("--tls-key")
            .arg(tls_file("key-encrypted.pem"));
        if let Some(password) = password {
            let file = dir.path().join("pw");
            std::fs::write(&file, password).expect("write");
            command.arg("--tls-password-file").arg(file);
        }
        let output = command.output().expect("run");
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        let expected = match password {
            None => "the private key is encrypted: give its password",
            Some(_) => "cannot decrypt the private key: wrong password?",
        };
        assert!(stderr.contains(expected), "{stderr}");
    }
}

fn tls_config() -> rustls::ServerConfig {
    tls::load_cert_chain(
        tls_file("cert.pem"),
        Some(&tls_file("key-encrypted.pem")),
        Some("somepass"),
    )
    .expect("test certificate")
}

/// A client that connects and never completes the TLS handshake, or sends half an HTTP/2
/// preface, is disconnected after the header-read timeout and holds nothing.
#[tokio::test]
async fn stalled_handshakes_and_prefaces_are_cut_off() {
    for tls in [true, false] {
        let httpd = HttpServer::bind(("127.0.0.1", 0), DefaultHandler.into_service())
            .await
            .expect("bind")
            .http2(true)
            .header_read_timeout(Duration::from_millis(300))
            .keep_alive_timeout(Duration::from_millis(300));
        let httpd = if tls { httpd.tls(tls_config()) } else { httpd };
        let server = TestServer::start(httpd);
        for opening in [&b""[..], b"PRI * HTTP/2.0\r\n", b"\x16\x03\x01"] {
            let mut stream = connect(server.addr).await;
            tokio::io::AsyncWriteExt::write_all(&mut stream, opening)
                .await
                .expect("write");
            let mut buf = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf));
            let closed = read.await.expect("closed by the server in time");
            // Closed (maybe with a TLS alert, or reset with the unread preface), never left
            // hanging.
            let reset = closed
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset);
            assert!(closed.is_ok() || reset, "tls={tls} {opening:?}: {closed:?}");
        }
    }
}

/// The library path: `HttpServer::http2(true).tls(…)` with a handler, reached by hyper's own
/// HTTP/2 client over rustls: the handler sees the client's address on every stream.
#[tokio::test]
async fn library_https_http2_handler_sees_the_connection() {
    struct WhoAmI;
    impl HttpRequestHandler for WhoAmI {
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            let body = format!("{} {}", ex.address_string(), ex.request_version());
            ex.send_response(200);
            ex.send_header("Content-Length", body.len().to_string());
            ex.end_headers()?;
            ex.wfile().write_all(body.as_bytes()).await?;
            Ok(())
        }
    }
    if !installed("curl") {
        return;
    }
    let httpd = HttpServer::bind(("127.0.0.1", 0), WhoAmI.into_service())
        .await
        .expect("bind")
        .http2(true)
        .tls(tls_config());
    assert!(httpd.is_tls());
    let server = TestServer::start(httpd);
    let ca = tls_file("ca.pem").display().to_string();
    let url = format!("https://localhost:{}/", server.addr.port());
    // Two requests on one connection, multiplexed.
    let (code, out) = curl(args(&[
        "--http2",
        "--cacert",
        &ca,
        "--parallel",
        &url,
        &url,
    ]))
    .await;
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "127.0.0.1 HTTP/2.0127.0.0.1 HTTP/2.0")
    );
}

/// A cleartext client whose HTTP/2 preface arrives in two pieces is still recognised: the
/// server answers with its own SETTINGS frame, not an HTTP/1 error. With HTTP/2 off the same
/// bytes get no HTTP/2 frame.
#[tokio::test]
async fn a_preface_in_pieces_is_recognised() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    for http2 in [true, false] {
        let httpd = HttpServer::bind(("127.0.0.1", 0), DefaultHandler.into_service())
            .await
            .expect("bind")
            .http2(http2);
        let server = TestServer::start(httpd);
        let mut stream = connect(server.addr).await;
        stream
            .write_all(b"PRI * HTTP/2.0\r\n")
            .await
            .expect("write");
        stream.flush().await.expect("flush");
        // Give the first piece its own segment, so the server sees a partial preface.
        tokio::task::yield_now().await;
        let _ = stream.write_all(b"\r\nSM\r\n\r\n").await;
        // An empty SETTINGS frame: length 0, type 4, flags 0, stream 0.
        let _ = stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await;
        let mut head = [0u8; 9];
        let read = tokio::time::timeout(WAIT, stream.read_exact(&mut head)).await;
        let settings = matches!(read, Ok(Ok(_))) && head[3] == 4 && head[5..9] == [0, 0, 0, 0];
        assert_eq!(settings, http2, "http2={http2}: {head:?}");
    }
}

/// A server that also speaks HTTP/2 reads a connection's first bytes to tell the protocols
/// apart, then hands them to HTTP/1 again: pipelined requests sent in one write, a request head
/// larger than that first read (4 KiB), and a method that starts like the preface (`PRI`) get
/// the same answers, in the same order, as with HTTP/2 off.
#[tokio::test]
async fn http1_after_the_preface_check_sees_every_byte() {
    let pad = "a".repeat(6000);
    let pipelined = format!(
        "GET /one HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /two HTTP/1.1\r\nHost: x\r\nX-Pad: {pad}\r\n\r\n\
         GET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let like_the_preface = b"PRIX / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    /// Answers a `GET` with its path and keeps the connection open.
    struct Echo;
    impl HttpRequestHandler for Echo {
        fn protocol_version(&self) -> http::Version {
            http::Version::HTTP_11
        }
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            let path = ex.path().to_owned();
            ex.send_response(200);
            ex.send_header("Content-Length", path.len().to_string());
            ex.end_headers()?;
            ex.wfile().write_all(path.as_bytes()).await?;
            Ok(())
        }
    }
    let mut answers = Vec::new();
    for http2 in [true, false] {
        let httpd = HttpServer::bind(("127.0.0.1", 0), Echo.into_service())
            .await
            .expect("bind")
            .http2(http2);
        let server = TestServer::start(httpd);
        let mut seen = Vec::new();
        for request in [pipelined.as_bytes(), like_the_preface] {
            for res in parse_all(&raw_keep_open(server.addr, request).await) {
                seen.push((
                    res.status_line,
                    String::from_utf8_lossy(&res.body).into_owned(),
                ));
            }
        }
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1]);
    let seen: Vec<_> = answers[0]
        .iter()
        .map(|(status, body)| (status.as_str(), body.lines().next().unwrap_or("")))
        .collect();
    assert_eq!(
        seen,
        [
            ("HTTP/1.1 200 OK", "/one"),
            ("HTTP/1.1 200 OK", "/two"),
            ("HTTP/1.1 200 OK", "/three"),
            (
                "HTTP/1.1 501 Unsupported method ('PRIX')",
                "<!DOCTYPE HTML>"
            ),
        ]
    );
}
