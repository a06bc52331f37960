//! Raw HTTP/1 bytes against a real basehttp server: status lines, persistence, framing,
//! streaming, 100-continue, failures, shutdown.

use std::sync::Arc;
use std::time::Duration;

use basehttp::prelude::*;
use basehttp::server::HttpServer;
use http::Version;
use tokio::sync::Notify;

use crate::support::*;

/// A handler whose behaviour is chosen by the path.
struct Probe {
    protocol: Version,
    /// Released by the test to let `/wait` finish.
    gate: Arc<Notify>,
}

impl Probe {
    fn new(protocol: Version) -> Self {
        Self {
            protocol,
            gate: Arc::new(Notify::new()),
        }
    }
}

impl HttpRequestHandler for Probe {
    fn protocol_version(&self) -> Version {
        self.protocol
    }

    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        let path = ex.path().to_owned();
        match path.as_str() {
            "/" | "/hello" => {
                ex.send_response(200);
                ex.send_header("Content-Type", "text/plain");
                ex.send_header("Content-Length", 5);
                ex.end_headers()?;
                ex.wfile().write_all(b"hello").await?;
            }
            "/unframed" => {
                ex.send_response(200);
                ex.end_headers()?;
                ex.wfile().write_all(b"no length").await?;
            }
            "/wait" => {
                ex.send_response(200);
                ex.end_headers()?;
                ex.wfile().write_all(b"before").await?;
                self.gate.notified().await;
                ex.wfile().write_all(b"after").await?;
            }
            "/fail-late" => {
                ex.send_response(200);
                ex.send_header("Content-Length", 100);
                ex.end_headers()?;
                ex.wfile().write_all(b"partial").await?;
                ex.wfile().flush().await?;
                return Err("failed after the headers".into());
            }
            "/fail-late-chunked" => {
                ex.send_response(200);
                ex.end_headers()?;
                ex.wfile().write_all(b"partial").await?;
                ex.wfile().flush().await?;
                return Err("failed after the headers".into());
            }
            "/panic" => panic!("handler panic"),
            "/keep-alive" => {
                ex.send_response(204);
                ex.send_header("Connection", "keep-alive");
                ex.end_headers()?;
            }
            "/close" => {
                ex.send_response(200);
                ex.send_header("Connection", "close");
                ex.send_header("Content-Length", 0);
                ex.end_headers()?;
            }
            "/slow" => {
                tokio::time::sleep(Duration::from_millis(300)).await;
                ex.send_response(200);
                ex.send_header("Content-Length", 4);
                ex.end_headers()?;
                ex.wfile().write_all(b"slow").await?;
            }
            "/path" => {
                let text = ex.path().to_owned();
                ex.send_response(200);
                ex.send_header("Content-Length", text.len());
                ex.end_headers()?;
                ex.wfile().write_all(text.as_bytes()).await?;
            }
            other => {
                if other.starts_with("/echo-path") {
                    let text = ex.path().to_owned();
                    ex.send_response(200);
                    ex.send_header("Content-Length", text.len());
                    ex.end_headers()?;
                    ex.wfile().write_all(text.as_bytes()).await?;
                } else {
                    ex.send_error(404);
                }
            }
        }
        Ok(())
    }

    async fn do_post(&self, ex: &mut Exchange) -> HandlerResult {
        let mut body = Vec::new();
        ex.rfile().take(1 << 20).read_to_end(&mut body).await?;
        ex.send_response(200);
        ex.send_header("Content-Length", body.len());
        ex.end_headers()?;
        ex.wfile().write_all(&body).await?;
        Ok(())
    }
}

async fn probe(protocol: Version) -> TestServer {
    serve(Probe::new(protocol).into_service()).await
}

#[tokio::test]
async fn default_status_line_is_http10_and_the_connection_closes_silently() {
    // No idle timeout: the close must come from the HTTP/1.0 rule, at once.
    let server = serve_configured(Probe::new(Version::HTTP_10).into_service(), |s| {
        s.keep_alive_timeout(None)
    })
    .await;
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let res = read_response(&mut stream, false).await.unwrap();
    assert_eq!(res.status_line, "HTTP/1.0 200 OK");
    assert_eq!(
        res.header("connection"),
        None,
        "Python sends no Connection header"
    );
    assert_eq!(
        res.header_count("date"),
        1,
        "one Date, not hyper's second one"
    );
    assert_eq!(res.raw_names[..2], ["Server", "Date"]);
    assert_eq!(res.body, b"hello");
    // ... and then closes, as Python does after every HTTP/1.0 response.
    closes_within(&mut stream, Duration::from_secs(2)).await;
}

/// Asserts the server closes `stream` (without sending more) within `limit`.
async fn closes_within(stream: &mut tokio::net::TcpStream, limit: Duration) {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        limit,
        tokio::io::AsyncReadExt::read_to_end(stream, &mut rest),
    )
    .await;
    assert!(
        read.is_ok(),
        "the connection was not closed within {limit:?}"
    );
    assert!(rest.is_empty(), "unexpected bytes: {rest:?}");
}

#[tokio::test]
async fn pipelined_requests_to_an_http10_handler_are_answered_then_closed() {
    // Documented deviation: Python answers the first and drops the rest; hyper has already
    // read the pipelined ones when the first response ends, so each is answered in order
    // before the connection closes.
    let server = probe(Version::HTTP_10).await;
    let bytes = raw_keep_open(
        server.addr,
        b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /path HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    let responses = parse_all(&bytes);
    assert!(
        !responses.is_empty() && responses.len() <= 2,
        "{responses:?}"
    );
    assert_eq!(responses[0].body, b"hello");
    if let Some(second) = responses.get(1) {
        assert_eq!(second.body, b"/path");
    }
}

#[tokio::test]
async fn http11_handlers_keep_connections_like_python() {
    let server = probe(Version::HTTP_11).await;

    // HTTP/1.1, no Connection header: kept open for the next request.
    let mut stream = connect(server.addr).await;
    for _ in 0..3 {
        stream
            .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let res = read_response(&mut stream, false).await.unwrap();
        assert_eq!(res.status_line, "HTTP/1.1 200 OK");
        assert_eq!(res.body, b"hello");
    }

    // HTTP/1.0 + Connection: keep-alive is honoured (Python's table, §1.5).
    let mut stream = connect(server.addr).await;
    for _ in 0..2 {
        stream
            .write_all(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .await
            .unwrap();
        let res = read_response(&mut stream, false).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.header("connection"), Some("keep-alive"));
    }

    // HTTP/1.0 without the header: closed.
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"GET /hello HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_response(&mut stream, false).await.unwrap().body,
        b"hello"
    );
    closes_within(&mut stream, Duration::from_secs(2)).await;

    // Connection: close from the client: closed.
    let bytes = raw_keep_open(
        server.addr,
        b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert_eq!(parse_all(&bytes).len(), 1);

    // Every send_error closes, with Connection: close.
    let bytes = raw_keep_open(
        server.addr,
        b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    let responses = parse_all(&bytes);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(responses[0].header("connection"), Some("close"));

    // send_header("Connection", "close") closes too.
    let bytes = raw_keep_open(
        server.addr,
        b"GET /close HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert_eq!(parse_all(&bytes).len(), 1);
}

#[tokio::test]
async fn connection_keep_alive_from_an_http10_handler_keeps_it_open() {
    // CPython's test_return_header_keep_alive: the handler says keep-alive, a second request
    // on the same connection works, even with protocol_version HTTP/1.0.
    let server = probe(Version::HTTP_10).await;
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"GET /keep-alive HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let res = read_response(&mut stream, false).await.unwrap();
    assert_eq!(res.status_line, "HTTP/1.0 204 No Content");
    assert_eq!(res.header("connection"), Some("keep-alive"));
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let res = read_response(&mut stream, false).await.unwrap();
    assert_eq!(res.body, b"hello");
}

#[tokio::test]
async fn bodies_without_length_are_close_delimited_or_chunked() {
    let server = probe(Version::HTTP_10).await;
    let bytes = raw(server.addr, b"GET /unframed HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{text}");
    assert!(!text.to_ascii_lowercase().contains("transfer-encoding"));
    assert!(!text.to_ascii_lowercase().contains("content-length"));
    assert!(text.ends_with("\r\n\r\nno length"), "{text}");

    let server = probe(Version::HTTP_11).await;
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"GET /unframed HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let res = read_response(&mut stream, false).await.unwrap();
    assert_eq!(res.header("transfer-encoding"), Some("chunked"));
    assert_eq!(res.body, b"no length");
    // ... and the connection is still usable.
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_response(&mut stream, false).await.unwrap().body,
        b"hello"
    );
}

#[tokio::test]
async fn the_head_goes_out_before_the_handler_returns() {
    let handler = Probe::new(Version::HTTP_11);
    let gate = handler.gate.clone();
    let server = serve(handler.into_service()).await;
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();

    // Head and the first chunk arrive while the handler is still blocked on the gate.
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    while find(&received, b"before").is_none() {
        let n = tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read(&mut stream, &mut buf))
            .await
            .expect("head and first chunk must arrive before the handler returns")
            .unwrap();
        assert!(n > 0);
        received.extend_from_slice(&buf[..n]);
    }
    assert!(received.starts_with(b"HTTP/1.1 200 OK\r\n"));
    gate.notify_one();
    let rest = read_until(&mut stream, b"0\r\n\r\n").await;
    assert!(find(&rest, b"after").is_some());
}

async fn read_until(stream: &mut tokio::net::TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while find(&received, needle).is_none() {
        let n = tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read(stream, &mut buf))
            .await
            .expect("timed out")
            .unwrap();
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
    }
    received
}

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let server = probe(Version::HTTP_11).await;
    let mut stream = connect(server.addr).await;
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    // The client waits: nothing more is sent until 100 Continue arrives.
    let interim = read_until(&mut stream, b"\r\n\r\n").await;
    assert_eq!(interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"ping").await.unwrap();
    let res = read_response(&mut stream, false).await.unwrap();
    assert_eq!(res.status_line, "HTTP/1.1 200 OK");
    assert_eq!(res.body, b"ping");
}

#[tokio::test]
async fn a_refused_expectation_never_sends_100() {
    struct Refuse;
    impl HttpRequestHandler for Refuse {
        fn protocol_version(&self) -> Version {
            Version::HTTP_11
        }
        async fn handle_expect_100(&self, ex: &mut Exchange) -> bool {
            ex.send_error(417);
            false
        }
    }
    let server = serve(Refuse.into_service()).await;
    let bytes = raw_keep_open(
        server.addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n",
    )
    .await;
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.starts_with("HTTP/1.1 417 Expectation Failed\r\n"),
        "{text}"
    );
    assert!(!text.contains("100 Continue"));
    assert_eq!(parse_all(&bytes)[0].header_count("connection"), 1);
}

#[tokio::test]
async fn double_slash_targets_are_collapsed() {
    let server = probe(Version::HTTP_10).await;
    let bytes = raw(server.addr, b"GET ////echo-path//x?y=//z HTTP/1.0\r\n\r\n").await;
    assert_eq!(parse_all(&bytes)[0].body, b"/echo-path//x?y=//z");
}

#[tokio::test]
async fn failure_after_headers_aborts_the_connection_and_the_server_goes_on() {
    let server = probe(Version::HTTP_11).await;

    let bytes = raw(server.addr, b"GET /fail-late HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let res = &parse_all(&bytes)[0];
    assert_eq!(res.header("content-length"), Some("100"));
    assert_eq!(
        res.body, b"partial",
        "short body, then the connection is closed"
    );

    let bytes = raw(
        server.addr,
        b"GET /fail-late-chunked HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(find(&bytes, b"partial").is_some());
    assert!(
        !bytes.ends_with(b"0\r\n\r\n"),
        "no final chunk: the client sees an error"
    );

    let bytes = raw(server.addr, b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(bytes.starts_with(b"HTTP/1.1 500 Internal Server Error\r\n"));

    let bytes = raw(
        server.addr,
        b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(parse_all(&bytes)[0].body, b"hello");
}

#[tokio::test]
async fn malformed_requests_get_4xx_and_never_kill_the_server() {
    let server = probe(Version::HTTP_11).await;
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
        "X: y\r\n".repeat(101)
    );
    let huge_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "a".repeat(200_000)
    );
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        (
            "garbage",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec(),
            &[400, 0],
        ),
        ("http/0.9", b"GET /\r\n\r\n".to_vec(), &[400, 0]),
        (
            "bad version",
            b"GET / HTTP/9.9\r\n\r\n".to_vec(),
            &[400, 505, 0],
        ),
        (
            "spaces in target",
            b"GET /a b HTTP/1.1\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "control char in target",
            b"GET /\x1b[2J HTTP/1.1\r\n\r\n".to_vec(),
            &[400],
        ),
        ("uri too long", long_target.into_bytes(), &[414, 431]),
        ("101 headers", many_headers.into_bytes(), &[431]),
        ("huge header", huge_header.into_bytes(), &[431]),
        (
            "bad content-length",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1Z\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "conflicting content-length",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 0\r\n\r\nX"
                .to_vec(),
            &[400],
        ),
        (
            "unknown transfer-encoding",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(),
            &[400, 501],
        ),
        (
            "space before colon",
            b"GET / HTTP/1.1\r\nHost: x\r\nHost : x\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "obs-fold",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n".to_vec(),
            &[400],
        ),
    ];
    for (name, request, allowed) in cases {
        let bytes = raw(server.addr, &request).await;
        let status = parse_all(&bytes).first().map_or(0, RawResponse::status);
        assert!(
            allowed.contains(&status),
            "{name}: got {status}: {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        );
    }
    let bytes = raw(
        server.addr,
        b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        parse_all(&bytes)[0].body,
        b"hello",
        "the server still serves"
    );
}

#[tokio::test]
async fn smuggling_shapes_are_not_read_as_two_requests() {
    let server = probe(Version::HTTP_11).await;
    // TE + CL: processed as chunked and the connection closed (RFC 9112 §6.1).
    let request = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\
        5\r\nhello\r\n0\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    let bytes = raw_keep_open(server.addr, request).await;
    let responses = parse_all(&bytes);
    assert_eq!(responses.len(), 1, "{:?}", String::from_utf8_lossy(&bytes));
    assert_eq!(responses[0].body, b"hello");

    // An unread body is never parsed as the next request (Python would: gh-150499).
    struct Ignore;
    impl HttpRequestHandler for Ignore {
        fn protocol_version(&self) -> Version {
            Version::HTTP_11
        }
        async fn do_post(&self, ex: &mut Exchange) -> HandlerResult {
            ex.send_response(200);
            ex.send_header("Content-Length", 2);
            ex.end_headers()?;
            ex.wfile().write_all(b"ok").await?;
            Ok(())
        }
    }
    let server = serve(Ignore.into_service()).await;
    let bytes = raw(
        server.addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 27\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
    )
    .await;
    let responses = parse_all(&bytes);
    assert!(responses.iter().all(|r| r.status() == 200), "{responses:?}");
    assert!(responses.len() <= 2);
}

#[tokio::test]
async fn slow_clients_time_out_and_do_not_starve_others() {
    let server = serve_configured(Probe::new(Version::HTTP_11).into_service(), |s| {
        s.header_read_timeout(Duration::from_millis(300))
    })
    .await;

    // A client that sends half a head and stalls.
    let mut slow = connect(server.addr).await;
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();

    // Others are served meanwhile.
    let bytes = raw(
        server.addr,
        b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(parse_all(&bytes)[0].body, b"hello");

    // The stalled one is disconnected by the header timeout (a 408 may come first).
    let started = std::time::Instant::now();
    let bytes = read_to_close(&mut slow).await;
    assert!(
        bytes.is_empty() || bytes.starts_with(b"HTTP/1.1 408"),
        "{bytes:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let server = serve_configured(Probe::new(Version::HTTP_11).into_service(), |s| {
        s.keep_alive_timeout(Duration::from_millis(200))
    })
    .await;
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_response(&mut stream, false).await.unwrap().body,
        b"hello"
    );
    let started = std::time::Instant::now();
    let rest = read_to_close(&mut stream).await;
    assert!(rest.is_empty());
    let idle = started.elapsed();
    assert!(
        idle >= Duration::from_millis(150),
        "closed too early: {idle:?}"
    );
    assert!(idle < Duration::from_secs(5), "closed too late: {idle:?}");
}

#[tokio::test]
async fn max_connections_queues_the_rest() {
    let handler = Probe::new(Version::HTTP_11);
    let gate = handler.gate.clone();
    let server = serve_configured(handler.into_service(), |s| s.max_connections(1)).await;

    let mut first = connect(server.addr).await;
    first
        .write_all(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut first, b"before").await;

    // The second connection is accepted by the kernel but not served while the first holds
    // the only slot.
    let mut second = connect(server.addr).await;
    second
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let early = tokio::time::timeout(
        Duration::from_millis(300),
        tokio::io::AsyncReadExt::read(&mut second, &mut buf),
    )
    .await;
    assert!(early.is_err(), "the second connection must wait for a slot");

    gate.notify_one();
    read_until(&mut first, b"0\r\n\r\n").await;
    drop(first);
    let bytes = read_to_close(&mut second).await;
    assert_eq!(parse_all(&bytes)[0].body, b"hello");
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_refuses_new_ones() {
    let handler = Probe::new(Version::HTTP_11);
    let gate = handler.gate.clone();
    let server = serve(handler.into_service()).await;
    let mut in_flight = connect(server.addr).await;
    in_flight
        .write_all(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // The handler is running once its first bytes arrive.
    read_until(&mut in_flight, b"before").await;
    let done = server.shutdown.shutdown();
    gate.notify_one();
    let rest = read_until(&mut in_flight, b"0\r\n\r\n").await;
    assert!(
        find(&rest, b"after").is_some(),
        "the in-flight response completed"
    );
    tokio::time::timeout(WAIT, done)
        .await
        .expect("shutdown completes");
    tokio::time::timeout(WAIT, server.task)
        .await
        .expect("serve_forever returns")
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn shutdown_cuts_off_what_outlives_the_shutdown_timeout() {
    let server = serve_configured(Probe::new(Version::HTTP_11).into_service(), |s| {
        s.shutdown_timeout(Duration::from_millis(200))
    })
    .await;
    let mut stuck = connect(server.addr).await;
    stuck
        .write_all(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut stuck, b"before").await;
    let started = std::time::Instant::now();
    tokio::time::timeout(WAIT, server.shutdown.shutdown())
        .await
        .expect("shutdown completes despite a handler that never ends");
    assert!(started.elapsed() < Duration::from_secs(5));
    let rest = read_to_close(&mut stuck).await;
    assert!(find(&rest, b"after").is_none());
}

#[tokio::test]
async fn handle_request_serves_one_connection_and_returns() {
    let server = HttpServer::bind(
        ("127.0.0.1", 0),
        Probe::new(Version::HTTP_10).into_service(),
    )
    .await
    .unwrap();
    let addr = server.server_address();
    let client = tokio::spawn(async move { raw(addr, b"GET /hello HTTP/1.0\r\n\r\n").await });
    tokio::time::timeout(WAIT, server.handle_request())
        .await
        .expect("handle_request returns after one connection")
        .unwrap();
    let bytes = client.await.unwrap();
    assert_eq!(parse_all(&bytes)[0].body, b"hello");
}

#[tokio::test]
async fn dual_stack_wildcard_accepts_ipv4() {
    let Ok(server) = HttpServer::bind(("::", 0), Probe::new(Version::HTTP_10).into_service()).await
    else {
        eprintln!("no IPv6 on this machine: skipped");
        return;
    };
    let port = server.server_port();
    let server = TestServer::start(server);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let bytes = raw(addr, b"GET /hello HTTP/1.0\r\n\r\n").await;
    assert_eq!(parse_all(&bytes)[0].body, b"hello");
    drop(server);
}

#[tokio::test]
async fn a_trickling_head_is_cut_at_the_header_timeout() {
    // Bytes keep arriving, but the head never completes: activity does not extend the
    // header-read timeout (slowloris).
    let server = serve_configured(Probe::new(Version::HTTP_11).into_service(), |s| {
        s.header_read_timeout(Duration::from_millis(400))
            .keep_alive_timeout(Duration::from_millis(200))
    })
    .await;
    let mut slow = connect(server.addr).await;
    let started = std::time::Instant::now();
    let mut closed = false;
    for byte in
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter()
    {
        if slow.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    if !closed {
        assert!(read_to_close(&mut slow).await.is_empty());
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(2),
        "slowloris kept the connection {elapsed:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(350),
        "cut before the timeout: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_fresh_silent_connection_is_closed_by_the_idle_timeout() {
    let server = serve_configured(Probe::new(Version::HTTP_11).into_service(), |s| {
        s.keep_alive_timeout(Duration::from_millis(200))
    })
    .await;
    let mut silent = connect(server.addr).await;
    let started = std::time::Instant::now();
    assert!(read_to_close(&mut silent).await.is_empty());
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn shutdown_from_another_thread() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime
        .block_on(HttpServer::bind(
            ("127.0.0.1", 0),
            Probe::new(Version::HTTP_10).into_service(),
        ))
        .unwrap();
    let handle = server.shutdown_handle();
    let addr = server.server_address();
    let serving = runtime.spawn(async move { server.serve_forever().await });
    // Python: threading.Thread(target=httpd.shutdown).start()
    let stopper = std::thread::spawn(move || {
        while std::net::TcpStream::connect(addr).is_err() {
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(handle.shutdown());
    });
    stopper.join().unwrap();
    let result = runtime.block_on(async { tokio::time::timeout(WAIT, serving).await });
    assert!(
        matches!(result, Ok(Ok(Ok(())))),
        "serve_forever returned: {result:?}"
    );
}

#[tokio::test]
async fn set_close_connection_closes_without_a_header() {
    struct Closer;
    impl HttpRequestHandler for Closer {
        fn protocol_version(&self) -> Version {
            Version::HTTP_11
        }
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            ex.set_close_connection(true);
            ex.send_response(200);
            ex.send_header("Content-Length", 2);
            ex.end_headers()?;
            ex.wfile().write_all(b"ok").await?;
            Ok(())
        }
    }
    let server = serve_configured(Closer.into_service(), |s| s.keep_alive_timeout(None)).await;
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let res = read_response(&mut stream, false).await.unwrap();
    assert_eq!(res.body, b"ok");
    assert_eq!(res.header("connection"), None);
    closes_within(&mut stream, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn the_handler_runs_to_its_end_after_its_last_byte() {
    // hyper drops the body once Content-Length is reached; Python would still run the rest of
    // do_GET.
    struct After {
        done: Arc<Notify>,
    }
    impl HttpRequestHandler for After {
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            ex.send_response(200);
            ex.send_header("Content-Length", 5);
            ex.end_headers()?;
            ex.wfile().write_all(b"hello").await?;
            ex.wfile().flush().await?;
            tokio::task::yield_now().await;
            self.done.notify_one();
            Ok(())
        }
    }
    let done = Arc::new(Notify::new());
    let server = serve(After { done: done.clone() }.into_service()).await;
    let bytes = raw(server.addr, b"GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(parse_all(&bytes)[0].body, b"hello");
    tokio::time::timeout(WAIT, done.notified())
        .await
        .expect("the code after the last write ran");
}

#[tokio::test]
async fn a_slow_reader_is_not_cut_by_the_idle_timeout() {
    struct Big;
    impl HttpRequestHandler for Big {
        fn protocol_version(&self) -> Version {
            Version::HTTP_11
        }
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            let block = vec![b'z'; 1 << 20];
            ex.send_response(200);
            ex.send_header("Content-Length", 8 << 20);
            ex.end_headers()?;
            for _ in 0..8 {
                ex.wfile().write_all(&block).await?;
            }
            Ok(())
        }
    }
    let server = serve_configured(Big.into_service(), |s| {
        s.keep_alive_timeout(Duration::from_millis(100))
    })
    .await;
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut total = 0usize;
    let mut buf = vec![0u8; 256 * 1024];
    let started = std::time::Instant::now();
    while total < 8 << 20 {
        // Read slowly: the whole download takes well over the idle timeout.
        tokio::time::sleep(Duration::from_millis(40)).await;
        let n = tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read(&mut stream, &mut buf))
            .await
            .expect("read")
            .unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    assert!(started.elapsed() > Duration::from_millis(300));
    assert!(total > 8 << 20, "the response was cut after {total} bytes");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    struct Endless;
    impl HttpRequestHandler for Endless {
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            let block = vec![b'z'; 1 << 20];
            ex.send_response(200);
            ex.end_headers()?;
            loop {
                ex.wfile().write_all(&block).await?;
            }
        }
    }
    let server = serve_configured(Endless.into_service(), |s| {
        s.write_timeout(Duration::from_millis(300))
            .max_connections(1)
    })
    .await;
    let mut stalled = connect(server.addr).await;
    stalled.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    // Never read. The only connection slot must come back: a second client is served.
    let bytes = tokio::time::timeout(
        WAIT,
        raw(server.addr, b"GET / HTTP/1.0\r\nRange: bytes=0-0\r\n\r\n"),
    );
    let started = std::time::Instant::now();
    // The second client's request is queued until the first is dropped; it then streams
    // forever too, so only its first bytes matter.
    let mut second = connect(server.addr).await;
    second.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut head = [0u8; 12];
    tokio::time::timeout(
        WAIT,
        tokio::io::AsyncReadExt::read_exact(&mut second, &mut head),
    )
    .await
    .expect("the stalled connection gave its slot back")
    .unwrap();
    assert_eq!(&head, b"HTTP/1.0 200");
    assert!(started.elapsed() >= Duration::from_millis(250));
    drop(bytes);
}

#[tokio::test]
async fn an_http10_handler_still_gets_100_continue_from_hyper() {
    // Documented deviation: with protocol_version HTTP/1.0 Python never sends 100 Continue;
    // hyper sends it when the handler reads the body.
    let server = probe(Version::HTTP_10).await;
    let mut stream = connect(server.addr).await;
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let interim = read_until(&mut stream, b"\r\n\r\n").await;
    assert_eq!(interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"hi").await.unwrap();
    let res = read_response(&mut stream, false).await.unwrap();
    assert_eq!(res.status_line, "HTTP/1.0 200 OK");
    assert_eq!(res.body, b"hi");
}

#[tokio::test]
async fn huge_timeouts_do_not_overflow() {
    let server = serve_configured(Probe::new(Version::HTTP_10).into_service(), |s| {
        s.header_read_timeout(Duration::MAX)
            .keep_alive_timeout(Duration::MAX)
            .write_timeout(Duration::MAX)
            .max_connections(usize::MAX)
    })
    .await;
    let bytes = raw(server.addr, b"GET /hello HTTP/1.0\r\n\r\n").await;
    assert_eq!(parse_all(&bytes)[0].body, b"hello");
}

/// A client that goes away in the middle of a response is logged as such (Python prints a
/// `BrokenPipeError` traceback there), not as a bare "connection error".
#[tokio::test]
async fn a_client_leaving_mid_response_is_logged_in_words() {
    struct Large;
    impl HttpRequestHandler for Large {
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            ex.send_response(200);
            ex.send_header("Content-Length", 64usize << 20);
            ex.end_headers()?;
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..1024 {
                ex.wfile().write_all(&chunk).await?;
            }
            Ok(())
        }
    }
    let log = captured_log();
    let server = serve(Large.into_service()).await;
    // From an address of its own (all of 127/8 is loopback on Linux), so that this test's line
    // is told apart from other tests' in the shared log.
    let client = tokio::net::TcpSocket::new_v4().unwrap();
    client.bind("127.0.0.77:0".parse().unwrap()).unwrap();
    let mut stream = client.connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /client-leaves HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 4096];
    let n = tokio::io::AsyncReadExt::read(&mut stream, &mut first)
        .await
        .unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.0 200 OK"));
    // Leave with a reset, as a browser tab closed mid-download does.
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);

    let address = "127.0.0.77 - - [";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let line = loop {
        let found = log.lock().unwrap().iter().find_map(|l| {
            (l.starts_with(address) && l.contains("client closed the connection"))
                .then(|| l.clone())
        });
        if let Some(line) = found {
            break line;
        }
        assert!(std::time::Instant::now() < deadline, "no client-left line");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The words come first; hyper's own error follows in parentheses.
    assert!(
        line.contains("] client closed the connection before the response was complete ("),
        "{line}"
    );
}

/// A shutdown closes the listening socket (new clients are refused at once), and a later
/// `serve_forever` listens again on the same address, as Python's does.
#[tokio::test]
async fn serve_forever_listens_again_after_a_shutdown() {
    let server = Arc::new(
        HttpServer::bind(("127.0.0.1", 0), DefaultHandler.into_service())
            .await
            .unwrap(),
    );
    let addr = server.server_address();
    let request = b"GET / HTTP/1.0\r\n\r\n";
    for round in 0..2 {
        let handle = server.shutdown_handle();
        let serve = server.serve_forever();
        tokio::pin!(serve);
        tokio::select! {
            biased;
            result = &mut serve => panic!("serve_forever returned early: {result:?}"),
            bytes = raw(addr, request) => {
                assert_eq!(parse_all(&bytes)[0].status(), 501, "round {round}");
            }
        }
        tokio::join!(handle.shutdown(), async {
            serve.await.unwrap();
        });
        // Only Linux can stop a socket from listening.
        if cfg!(target_os = "linux") {
            let refused = tokio::net::TcpStream::connect(addr).await;
            assert!(
                refused.is_err(),
                "round {round}: connected while not serving"
            );
        }
    }
}

/// The state a handler's `wfile` shares with its response body is reused from one request to
/// the next (kept per thread): each response still carries exactly its own handler's head and
/// bytes, for requests that follow one another on a connection and for requests whose handlers
/// are still writing at the same time on several connections.
#[tokio::test]
async fn each_response_carries_only_what_its_own_handler_wrote() {
    struct Echo;
    impl HttpRequestHandler for Echo {
        fn protocol_version(&self) -> Version {
            Version::HTTP_11
        }
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            let name = ex.path().trim_start_matches('/').to_owned();
            match name.as_str() {
                // A head that end_headers never sent: the response is made after the return.
                "unfinished" => {
                    ex.send_response(200);
                    ex.send_header("X-Left", "1");
                    ex.send_header("Content-Length", 0);
                    return Ok(());
                }
                "missing" => {
                    ex.send_error(404);
                    return Ok(());
                }
                _ => {}
            }
            // Two writes with a wait between: the response goes out while the handler runs.
            let (first, second) = (format!("{name}:"), format!("{name}."));
            ex.send_response(200);
            ex.send_header("X-Name", &name);
            ex.send_header("Content-Length", first.len() + second.len());
            ex.end_headers()?;
            ex.wfile().write_all(first.as_bytes()).await?;
            tokio::task::yield_now().await;
            ex.wfile().write_all(second.as_bytes()).await?;
            Ok(())
        }
    }
    let server = serve(Echo.into_service()).await;

    let mut stream = connect(server.addr).await;
    for name in ["a", "unfinished", "b", "unfinished", "c", "missing"] {
        let request = format!("GET /{name} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let res = read_response(&mut stream, false).await.unwrap();
        match name {
            "unfinished" => {
                assert_eq!(res.status(), 200);
                assert_eq!(res.header("x-left"), Some("1"));
                assert_eq!(res.header("x-name"), None);
                assert!(res.body.is_empty());
            }
            "missing" => {
                assert_eq!(res.status(), 404);
                assert_eq!(res.header("x-left"), None);
            }
            _ => {
                assert_eq!(res.status(), 200);
                assert_eq!(res.header("x-name"), Some(name));
                assert_eq!(res.header("x-left"), None);
                assert_eq!(res.body, format!("{name}:{name}.").as_bytes());
            }
        }
    }

    let clients: Vec<_> = (0..16)
        .map(|i| {
            let addr = server.addr;
            tokio::spawn(async move {
                let name = format!("c{i}");
                let mut stream = connect(addr).await;
                for _ in 0..4 {
                    let request = format!("GET /{name} HTTP/1.1\r\nHost: x\r\n\r\n");
                    stream.write_all(request.as_bytes()).await.unwrap();
                    let res = read_response(&mut stream, false).await.unwrap();
                    assert_eq!(res.header("x-name"), Some(name.as_str()));
                    assert_eq!(res.body, format!("{name}:{name}.").as_bytes());
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
}

/// `send_header` sends a value exactly as written, also where it sends a common value
/// (`text/html`, `close`, `0`, ...) from a static table instead of copying it: a spelling that
/// differs from a common value by case, a space or a parameter goes out as written, on every
/// request of a connection.
#[tokio::test]
async fn header_values_go_out_exactly_as_written() {
    struct Values;
    impl HttpRequestHandler for Values {
        fn protocol_version(&self) -> Version {
            Version::HTTP_11
        }
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            ex.send_response(200);
            ex.send_header("Content-type", "text/html");
            ex.send_header("X-Case", "Text/HTML");
            ex.send_header("X-Space", "text/html; charset=UTF-8");
            ex.send_header("X-Json", "application/json");
            ex.send_header("X-Near", "application/jsonx");
            ex.send_header("Cache-Control", "no-cache");
            ex.send_header("X-Zero", 0);
            ex.send_header("Content-Length", 0);
            ex.end_headers()?;
            Ok(())
        }
    }
    let server = serve(Values.into_service()).await;
    let bytes = raw(
        server.addr,
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let text = String::from_utf8_lossy(&bytes);
    let heads: Vec<&str> = text.split("HTTP/1.1 200 OK\r\n").skip(1).collect();
    assert_eq!(heads.len(), 2, "two responses: {text:?}");
    for head in heads {
        for line in [
            "\r\nContent-Type: text/html\r\n",
            "\r\nX-Case: Text/HTML\r\n",
            "\r\nX-Space: text/html; charset=UTF-8\r\n",
            "\r\nX-Json: application/json\r\n",
            "\r\nX-Near: application/jsonx\r\n",
            "\r\nCache-Control: no-cache\r\n",
            "\r\nX-Zero: 0\r\n",
            "\r\nContent-Length: 0\r\n",
        ] {
            assert!(
                format!("\r\n{head}").contains(line),
                "{line:?} missing from {head:?}"
            );
        }
    }
}
