//! `oneshot` tests of the handler semantics: everything a response shows without a socket.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, Version};
use http_body_util::BodyExt;
use hyper::ext::ReasonPhrase;
use tower::{Layer, ServiceExt, service_fn};

use crate::Body;
use crate::prelude::*;
use crate::server::ConnectionInfo;

fn request(method: &str, uri: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap()
}

/// `req` as basehttp's own server hands it over (a connection it can close without a header).
fn on_basehttp_server(mut req: Request<Body>) -> Request<Body> {
    req.extensions_mut().insert(ConnectionInfo::for_server(
        "127.0.0.1:50000".parse().unwrap(),
        "127.0.0.1:8000".parse().unwrap(),
        "127.0.0.1".into(),
        std::sync::Arc::default(),
        None,
    ));
    req
}

async fn call<H: HttpRequestHandler>(handler: H, req: Request<Body>) -> Response<Body> {
    handler.into_service().oneshot(req).await.unwrap()
}

async fn body_bytes(res: Response<Body>) -> Result<Bytes, crate::handler::BoxError> {
    Ok(res.into_body().collect().await?.to_bytes())
}

fn reason(res: &Response<Body>) -> Option<&str> {
    res.extensions()
        .get::<ReasonPhrase>()
        .and_then(|r| std::str::from_utf8(r.as_bytes()).ok())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

struct Hello;

impl HttpRequestHandler for Hello {
    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        ex.send_response(200);
        ex.send_header("Content-type", "text/html");
        ex.end_headers()?;
        ex.wfile().write_all(b"Hello, world!").await?;
        Ok(())
    }
}

#[tokio::test]
async fn get_is_answered_with_server_and_date_first() {
    let res = call(Hello, on_basehttp_server(request("GET", "/"))).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.version(),
        Version::HTTP_10,
        "protocol_version defaults to HTTP/1.0 on basehttp's server"
    );
    let names: Vec<&str> = res.headers().keys().map(|k| k.as_str()).collect();
    // The server closes the connection itself: no header is added.
    assert_eq!(names, ["server", "date", "content-type"]);

    // Under another server (axum, hyper), an unset protocol_version follows the host's
    // HTTP/1.1: the connection stays open, like the routes beside the handler.
    let res = call(Hello, request("GET", "/")).await;
    assert_eq!(res.version(), Version::HTTP_11);
    let names: Vec<&str> = res.headers().keys().map(|k| k.as_str()).collect();
    assert_eq!(names, ["server", "date", "content-type"]);
    assert_eq!(
        header(res.headers(), "server"),
        Some(format!("BaseHTTP/0.6 {}", crate::handler::SYS_VERSION).as_str())
    );
    assert!(reason(&res).is_none(), "200 OK needs no custom phrase");
    assert_eq!(body_bytes(res).await.unwrap(), "Hello, world!");
}

#[tokio::test]
async fn unimplemented_methods_get_pythons_501_page() {
    for method in ["POST", "HEAD", "SPAM", "get", "PROPFIND"] {
        let res = call(Hello, request(method, "/")).await;
        assert_eq!(res.status(), 501, "{method}");
        let expected = format!("Unsupported method ('{method}')");
        assert_eq!(reason(&res), Some(expected.as_str()));
        assert_eq!(header(res.headers(), "connection"), Some("close"));
        assert_eq!(
            header(res.headers(), "content-type"),
            Some("text/html;charset=utf-8")
        );
        let length: usize = header(res.headers(), "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap();
        let body = body_bytes(res).await.unwrap();
        if method == "HEAD" {
            assert!(body.is_empty(), "HEAD gets the headers only");
            assert_eq!(length, 482);
        } else {
            assert_eq!(body.len(), length);
            let text = std::str::from_utf8(&body).unwrap();
            assert!(text.contains(&format!("<p>Message: Unsupported method ('{method}').</p>")));
        }
    }
}

/// A handler that does whatever the path says, to exercise the Exchange verbs.
struct Verbs;

impl HttpRequestHandler for Verbs {
    fn protocol_version(&self) -> Version {
        Version::HTTP_11
    }

    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        let path = ex.path().to_owned();
        match path.as_str() {
            "/custom-reason" => {
                ex.send_response_with(200, "Script output follows");
                ex.end_headers()?;
            }
            "/999" => {
                ex.send_response(999);
                ex.end_headers()?;
            }
            "/error-999" => ex.send_error(999),
            "/explain" => ex.send_error_with(
                999,
                "Short <Message>",
                Some("This is a long \n explanation"),
            ),
            "/latin1" => {
                let incoming = ex
                    .headers()
                    .get("X-Special-Incoming")
                    .map(|v| {
                        v.as_bytes()
                            .iter()
                            .map(|&b| char::from(b))
                            .collect::<String>()
                    })
                    .unwrap_or_default();
                ex.send_response(200);
                ex.send_header("X-Special", "Dängerous Mind");
                ex.send_header("Connection", "close");
                ex.end_headers()?;
                ex.wfile().write_all(incoming.as_bytes()).await?;
            }
            "/injection" => {
                ex.send_response(200);
                ex.send_header("X-Evil", "a\r\nSet-Cookie: x=1");
                ex.end_headers()?;
            }
            "/not-latin1" => {
                ex.send_response(200);
                ex.send_header("X-Euro", "€");
                ex.end_headers()?;
            }
            "/no-response" => {}
            "/only-send-response" => ex.send_response(204),
            "/write-before-headers" => {
                ex.wfile().write_all(b"x").await?;
            }
            "/fail" => return Err("kaput".into()),
            "/panic" => panic!("boom"),
            "/fail-after-headers" => {
                ex.send_response(200);
                ex.end_headers()?;
                ex.wfile().write_all(b"partial").await?;
                return Err("kaput late".into());
            }
            "/keep-alive" => {
                ex.send_response(204);
                ex.send_header("Connection", "keep-alive");
                ex.end_headers()?;
            }
            "/close" => {
                ex.send_response(200);
                ex.send_header("Connection", "close");
                ex.end_headers()?;
            }
            "/query?x=1&y=2" => {
                ex.send_response(200);
                ex.end_headers()?;
                let info = ex_path_info(ex);
                ex.wfile().write_all(info.as_bytes()).await?;
            }
            other => {
                let code = other.trim_start_matches('/').parse().unwrap_or(500);
                ex.send_error(code);
            }
        }
        Ok(())
    }

    async fn do_head(&self, ex: &mut Exchange) -> HandlerResult {
        let code = ex.path().trim_start_matches('/').parse().unwrap_or(500);
        ex.send_error(code);
        Ok(())
    }

    async fn do_extension(&self, ex: &mut Exchange) -> HandlerResult {
        ex.send_response(200);
        ex.end_headers()?;
        let command = ex.command().to_owned();
        ex.wfile().write_all(command.as_bytes()).await?;
        Ok(())
    }
}

fn ex_path_info(ex: &Exchange) -> String {
    format!("{} {} {}", ex.command(), ex.path(), ex.request_version())
}

async fn verbs(uri: &str) -> Response<Body> {
    call(Verbs, request("GET", uri)).await
}

#[tokio::test]
async fn custom_reason_phrases_reach_the_response() {
    let res = verbs("/custom-reason").await;
    assert_eq!(res.status(), 200);
    assert_eq!(reason(&res), Some("Script output follows"));

    // send_response(999): Python's status line is `HTTP/1.1 999 ` (empty phrase).
    let res = verbs("/999").await;
    assert_eq!(res.status().as_u16(), 999);
    assert_eq!(reason(&res), Some(""));
}

#[tokio::test]
async fn send_error_for_unknown_codes_and_with_explain() {
    let res = verbs("/error-999").await;
    assert_eq!(res.status().as_u16(), 999);
    assert_eq!(reason(&res), Some("???"));
    let body = body_bytes(res).await.unwrap();
    assert_eq!(body.len(), 423, "CPython 3.14's length for send_error(999)");

    let res = verbs("/explain").await;
    assert_eq!(
        reason(&res),
        Some("Short <Message>"),
        "the phrase is not escaped"
    );
    let body = String::from_utf8(body_bytes(res).await.unwrap().to_vec()).unwrap();
    assert!(body.contains("<p>Message: Short &lt;Message&gt;.</p>"));
    assert!(body.contains("999 - This is a long \n explanation."));
}

#[tokio::test]
async fn send_error_without_body_for_1xx_204_205_304_and_head() {
    for code in [204u16, 304, 205] {
        let res = verbs(&format!("/{code}")).await;
        assert_eq!(res.status().as_u16(), code);
        assert!(res.headers().get("content-length").is_none());
        assert!(res.headers().get("content-type").is_none());
        assert!(body_bytes(res).await.unwrap().is_empty());
    }
    for code in [200u16, 204, 304, 205] {
        let res = call(Verbs, request("HEAD", &format!("/{code}"))).await;
        assert_eq!(res.status().as_u16(), code);
        let has_length = res.headers().get("content-length").is_some();
        assert_eq!(has_length, code == 200, "{code}");
        assert!(body_bytes(res).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn error_content_length_matches_the_body() {
    let res = verbs("/404").await;
    assert_eq!(reason(&res), None, "404 Not Found is hyper's phrase too");
    let length = header(res.headers(), "content-length").unwrap().to_owned();
    let body = body_bytes(res).await.unwrap();
    assert_eq!(length, body.len().to_string());
    assert_eq!(body.len(), 455);
}

#[tokio::test]
async fn python_phrases_differ_from_hyper_where_python_says_so() {
    // Python 3.13+: 413 Content Too Large (hyper: Payload Too Large); 418 I'm a Teapot.
    let res = verbs("/413").await;
    assert_eq!(reason(&res), Some("Content Too Large"));
    let res = verbs("/418").await;
    assert_eq!(reason(&res), Some("I'm a Teapot"));
}

#[tokio::test]
async fn latin1_headers_both_ways() {
    let mut req = request("GET", "/latin1");
    req.headers_mut().insert(
        "X-Special-Incoming",
        http::HeaderValue::from_bytes("Ärger mit Unicode".as_bytes()).unwrap(),
    );
    let res = call(Verbs, req).await;
    assert_eq!(res.headers()["x-special"].as_bytes(), b"D\xe4ngerous Mind");
    assert!(!body_bytes(res).await.unwrap().is_empty());
}

#[tokio::test]
async fn header_injection_becomes_a_500_not_a_header() {
    let res = verbs("/injection").await;
    assert_eq!(res.status(), 500);
    assert!(res.headers().get("set-cookie").is_none());
    assert!(res.headers().get("x-evil").is_none());

    let res = verbs("/not-latin1").await;
    assert_eq!(res.status(), 500);
}

#[tokio::test]
async fn a_handler_that_sends_nothing_gets_a_500() {
    let res = verbs("/no-response").await;
    assert_eq!(res.status(), 500);
    let body = String::from_utf8(body_bytes(res).await.unwrap().to_vec()).unwrap();
    assert!(body.contains("Internal Server Error"));
}

#[tokio::test]
async fn send_response_without_end_headers_is_sent() {
    let res = verbs("/only-send-response").await;
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn writing_before_the_status_line_is_an_error_page() {
    let res = verbs("/write-before-headers").await;
    assert_eq!(res.status(), 500);
}

#[tokio::test]
async fn errors_and_panics_before_headers_become_500_pages() {
    for path in ["/fail", "/panic"] {
        let res = verbs(path).await;
        assert_eq!(res.status(), 500, "{path}");
        assert_eq!(header(res.headers(), "connection"), Some("close"));
        let body = String::from_utf8(body_bytes(res).await.unwrap().to_vec()).unwrap();
        assert!(body.contains("<p>Error code: 500</p>"));
    }
}

#[tokio::test]
async fn errors_after_headers_abort_the_body() {
    let res = verbs("/fail-after-headers").await;
    assert_eq!(res.status(), 200);
    let mut body = res.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "partial");
    let next = body.frame().await.unwrap();
    assert!(
        next.is_err(),
        "the body must end in an error, not look complete"
    );
}

#[tokio::test]
async fn extension_methods_reach_do_extension_case_sensitively() {
    for method in ["SPAM", "get", "PROPFIND"] {
        let res = call(Verbs, request(method, "/")).await;
        assert_eq!(res.status(), 200);
        assert_eq!(body_bytes(res).await.unwrap(), method);
    }
}

#[tokio::test]
async fn request_attributes_are_pythons() {
    let res = verbs("/query?x=1&y=2").await;
    assert_eq!(
        body_bytes(res).await.unwrap(),
        "GET /query?x=1&y=2 HTTP/1.1"
    );
}

#[tokio::test]
async fn leading_slashes_collapse_before_the_handler_sees_them() {
    struct Echo;
    impl HttpRequestHandler for Echo {
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            let text = format!("{}|{}|{}", ex.path(), ex.uri(), ex.requestline());
            ex.send_response(200);
            ex.end_headers()?;
            ex.wfile().write_all(text.as_bytes()).await?;
            Ok(())
        }
    }
    let res = call(Echo, request("GET", "//evil.com/..%2f..%2fx?q=//y")).await;
    let body = body_bytes(res).await.unwrap();
    assert_eq!(
        body,
        "/evil.com/..%2f..%2fx?q=//y|/evil.com/..%2f..%2fx?q=//y|GET //evil.com/..%2f..%2fx?q=//y HTTP/1.1"
    );
}

#[tokio::test]
async fn connection_semantics_without_basehttps_server() {
    // A handler that closes (Python's close_connection): elsewhere it must be said.
    struct Closing;
    impl HttpRequestHandler for Closing {
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            ex.set_close_connection(true);
            ex.send_response(204);
            ex.end_headers()?;
            Ok(())
        }
    }
    let res = call(Closing, request("GET", "/")).await;
    assert_eq!(header(res.headers(), "connection"), Some("close"));

    // HTTP/1.1 handler keeps HTTP/1.1 connections open: no header.
    let res = verbs("/custom-reason").await;
    assert_eq!(res.version(), Version::HTTP_11);
    assert!(res.headers().get("connection").is_none());

    // HTTP/1.1 handler + HTTP/1.0 request with keep-alive: Python keeps it open, so the
    // response must carry `Connection: keep-alive` for hyper and the client.
    let mut req = request("GET", "/custom-reason");
    *req.version_mut() = Version::HTTP_10;
    req.headers_mut()
        .insert("connection", http::HeaderValue::from_static("Keep-Alive"));
    let res = call(Verbs, req).await;
    assert_eq!(header(res.headers(), "connection"), Some("keep-alive"));

    // send_header("Connection", "close") closes; "keep-alive" keeps.
    let res = verbs("/close").await;
    assert_eq!(header(res.headers(), "connection"), Some("close"));
    let res = verbs("/keep-alive").await;
    assert_eq!(header(res.headers(), "connection"), Some("keep-alive"));

    // HTTP/2 has no Connection header at all.
    let mut req = request("GET", "/close");
    *req.version_mut() = Version::HTTP_2;
    let res = call(Verbs, req).await;
    assert!(res.headers().get("connection").is_none());
}

#[tokio::test]
async fn connection_info_reaches_the_handler() {
    struct Who;
    impl HttpRequestHandler for Who {
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            let text = format!(
                "{:?} {} {} {}",
                ex.client_address(),
                ex.address_string(),
                ex.server_name(),
                ex.server_port()
            );
            ex.send_response(200);
            ex.end_headers()?;
            ex.wfile().write_all(text.as_bytes()).await?;
            Ok(())
        }
    }
    let mut req = request("GET", "/");
    req.extensions_mut().insert(ConnectionInfo::new(
        "10.0.0.1:4000".parse().unwrap(),
        "10.0.0.2:8080".parse().unwrap(),
    ));
    let res = call(Who, req).await;
    assert_eq!(
        body_bytes(res).await.unwrap(),
        "Some(10.0.0.1:4000) 10.0.0.1 10.0.0.2 8080"
    );

    // Mounted elsewhere without ConnectionInfo: the Host header speaks.
    let mut req = request("GET", "/");
    req.headers_mut()
        .insert("host", http::HeaderValue::from_static("example.com:8443"));
    let res = call(Who, req).await;
    assert_eq!(body_bytes(res).await.unwrap(), "None - example.com 8443");
}

/// A handler that serves `/api` and hands everything else down.
struct Api;

impl HttpRequestHandler for Api {
    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        if ex.path() == "/api" {
            ex.send_response(200);
            ex.end_headers()?;
            ex.wfile().write_all(b"api").await?;
            return Ok(());
        }
        if ex.path() == "/rewrite" {
            ex.set_path("/rewritten?x=1");
            ex.headers_mut()
                .insert("x-rewritten", http::HeaderValue::from_static("yes"));
        }
        ex.fall_through()
    }

    async fn do_post(&self, ex: &mut Exchange) -> HandlerResult {
        // Read half the body, then hand the request down with the rest.
        let mut first = [0u8; 3];
        ex.rfile().read_exact(&mut first).await?;
        ex.fall_through()
    }
}

/// The inner service: echoes what it received.
async fn inner(req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let text = format!(
        "inner {} {} {:?} {}",
        parts.method,
        parts.uri,
        parts.headers.get("x-rewritten"),
        String::from_utf8_lossy(&body)
    );
    Ok(Response::new(Body::from(text)))
}

#[tokio::test]
async fn layer_answers_its_paths_and_falls_through_for_the_rest() {
    let svc = Api.into_layer().layer(service_fn(inner));

    let res = svc.clone().oneshot(request("GET", "/api")).await.unwrap();
    assert_eq!(body_bytes(res).await.unwrap(), "api");

    let res = svc.clone().oneshot(request("GET", "/other")).await.unwrap();
    assert_eq!(body_bytes(res).await.unwrap(), "inner GET /other None ");

    // Python's `self.path = …; super().do_GET()`.
    let res = svc
        .clone()
        .oneshot(request("GET", "/rewrite"))
        .await
        .unwrap();
    assert_eq!(
        body_bytes(res).await.unwrap(),
        "inner GET /rewritten?x=1 Some(\"yes\") "
    );

    // Methods the handler does not implement go down untouched.
    let res = svc.clone().oneshot(request("DELETE", "/x")).await.unwrap();
    assert_eq!(body_bytes(res).await.unwrap(), "inner DELETE /x None ");

    // The unread part of the body goes down too.
    let req = Request::post("/upload")
        .body(Body::from("abcdefgh"))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(
        body_bytes(res).await.unwrap(),
        "inner POST /upload None defgh"
    );
}

#[tokio::test]
async fn inner_errors_become_500_pages() {
    let failing = service_fn(|_req: Request<Body>| async {
        Err::<Response<Body>, std::io::Error>(std::io::Error::other("disk on fire"))
    });
    let svc = Api.into_layer().layer(failing);
    let res = svc.oneshot(request("GET", "/x")).await.unwrap();
    assert_eq!(res.status(), 500);
}

#[tokio::test]
async fn expect_100_continue_can_be_refused() {
    struct Picky;
    impl HttpRequestHandler for Picky {
        fn protocol_version(&self) -> Version {
            Version::HTTP_11
        }
        async fn handle_expect_100(&self, ex: &mut Exchange) -> bool {
            ex.send_error(417);
            false
        }
        async fn do_post(&self, _ex: &mut Exchange) -> HandlerResult {
            panic!("do_POST must not run when handle_expect_100 refuses");
        }
    }
    let req = Request::post("/")
        .header("expect", "100-continue")
        .body(Body::from("data"))
        .unwrap();
    let res = call(Picky, req).await;
    assert_eq!(res.status(), 417);
    assert_eq!(reason(&res), None);
    assert_eq!(
        res.headers().get_all("connection").iter().count(),
        1,
        "exactly one Connection: close"
    );

    // Python only asks when both sides speak HTTP/1.1: an HTTP/1.0 handler never refuses.
    struct Picky10;
    impl HttpRequestHandler for Picky10 {
        async fn handle_expect_100(&self, _ex: &mut Exchange) -> bool {
            panic!("not called for an HTTP/1.0 handler");
        }
        async fn do_post(&self, ex: &mut Exchange) -> HandlerResult {
            ex.send_response(200);
            ex.end_headers()?;
            Ok(())
        }
    }
    let req = Request::post("/")
        .header("expect", "100-continue")
        .body(Body::from("data"))
        .unwrap();
    assert_eq!(call(Picky10, on_basehttp_server(req)).await.status(), 200);
}

#[tokio::test]
async fn streaming_head_is_returned_before_the_handler_finishes() {
    struct Slow;
    impl HttpRequestHandler for Slow {
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            ex.send_response(200);
            ex.end_headers()?;
            ex.wfile().write_all(b"first").await?;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
    }
    let res = tokio::time::timeout(Duration::from_secs(5), call(Slow, request("GET", "/")))
        .await
        .expect("the head must not wait for the handler to return");
    assert!(res.headers().get("content-length").is_none());
    let mut body = res.into_body();
    let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("written data must not wait for the handler to return");
    assert_eq!(first.unwrap().unwrap().into_data().unwrap(), "first");
}

#[tokio::test]
async fn large_writes_are_chunked_at_the_high_water_mark() {
    struct Big;
    impl HttpRequestHandler for Big {
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            ex.send_response(200);
            ex.end_headers()?;
            let block = vec![7u8; 1 << 20];
            for _ in 0..8 {
                ex.wfile().write_all(&block).await?;
            }
            Ok(())
        }
    }
    let res = call(Big, request("GET", "/")).await;
    let mut body = res.into_body();
    let mut total = 0;
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        assert!(
            data.len() <= crate::body::pipe::HIGH_WATER,
            "{}",
            data.len()
        );
        total += data.len();
    }
    assert_eq!(total, 8 << 20);
}

/// Every log line emitted in this test binary, from a process-wide subscriber (scoped
/// subscribers race with other tests over `tracing`'s callsite cache).
fn captured_lines() -> &'static std::sync::Mutex<Vec<String>> {
    use std::sync::{Mutex, OnceLock};
    use tracing::field::{Field, Visit};

    static LINES: OnceLock<&'static Mutex<Vec<String>>> = OnceLock::new();
    struct Capture(&'static Mutex<Vec<String>>);
    struct Message(String);
    impl Visit for Message {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }
    impl tracing::Subscriber for Capture {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let mut message = Message(String::new());
            event.record(&mut message);
            if let Ok(mut lines) = self.0.lock() {
                lines.push(message.0);
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }
    LINES.get_or_init(|| {
        let lines: &'static Mutex<Vec<String>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        let _ = tracing::subscriber::set_global_default(Capture(lines));
        lines
    })
}

#[tokio::test]
async fn log_lines_are_pythons() {
    let lines = captured_lines();
    // UTF-8 in the target is logged as Python decodes it (ISO-8859-1), control bytes escaped.
    let mut req = request("GET", "/x");
    *req.uri_mut() = http::Uri::from_maybe_shared(Bytes::from("/€%1b")).unwrap();
    req.extensions_mut().insert(ConnectionInfo::new(
        "10.9.8.7:5000".parse().unwrap(),
        "127.0.0.1:8000".parse().unwrap(),
    ));
    let res = Verbs.into_service().oneshot(req).await.unwrap();
    assert_eq!(res.status(), 500);
    let mine: Vec<String> = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("10.9.8.7 "))
        .map(|l| normalize_date(l))
        .collect();
    assert_eq!(
        mine,
        [
            "10.9.8.7 - - [DATE] code 500, message Internal Server Error",
            "10.9.8.7 - - [DATE] \"GET /â\\x82¬%1b HTTP/1.1\" 500 -",
        ]
    );
}

/// Replaces the `[21/Nov/2026 19:49:25]` part of a log line with `[DATE]`, checking its shape.
fn normalize_date(line: &str) -> String {
    let (Some(open), Some(close)) = (line.find('['), line.find(']')) else {
        return line.to_owned();
    };
    let date = &line.as_bytes()[open + 1..close];
    let shaped = date.len() == 20
        && date[2] == b'/'
        && date[6] == b'/'
        && date[11] == b' '
        && date[14] == b':'
        && date[17] == b':';
    assert!(shaped, "not Python's log date: {line}");
    format!("{}[DATE]{}", &line[..open], &line[close + 1..])
}

#[test]
fn exchange_and_service_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Exchange>();
    send_sync::<crate::handler::HandlerService<Hello>>();
    // `HandlerService::new` needs no type annotations.
    let svc = crate::handler::HandlerService::new(Hello);
    let _ = svc;
}

#[tokio::test]
async fn invalid_content_length_is_refused() {
    struct BadLength;
    impl HttpRequestHandler for BadLength {
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            let path = ex.path().to_owned();
            if path == "/before-the-status-line" {
                // Buffered before send_response, and still compared with after it.
                ex.send_header("Content-Length", 5);
            }
            ex.send_response(200);
            match path.as_str() {
                "/twice" => {
                    ex.send_header("Content-Length", 5);
                    ex.send_header("Content-Length", 6);
                }
                "/before-the-status-line" => ex.send_header("Content-Length", 6),
                _ => ex.send_header("Content-Length", "5x"),
            }
            ex.end_headers()?;
            Ok(())
        }
    }
    for path in ["/bad", "/twice", "/before-the-status-line"] {
        let res = call(BadLength, request("GET", path)).await;
        assert_eq!(res.status(), 500, "{path}");
    }
}

#[tokio::test]
async fn late_headers_are_ignored_not_fatal() {
    struct Late;
    impl HttpRequestHandler for Late {
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            ex.send_response(200);
            ex.end_headers()?;
            ex.send_header("X-Late", "1");
            ex.send_response(404);
            ex.wfile().write_all(b"still fine").await?;
            Ok(())
        }
    }
    let res = call(Late, request("GET", "/")).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("x-late").is_none());
    assert_eq!(body_bytes(res).await.unwrap(), "still fine");
}

#[tokio::test]
async fn foreign_inner_responses_get_the_handlers_connection_rules() {
    // An HTTP/1.0 handler over a foreign service: Python's super() would answer in HTTP/1.0 and
    // close; the inner response gets the same.
    struct PassAll10;
    impl HttpRequestHandler for PassAll10 {}
    let svc = PassAll10.into_layer().layer(service_fn(inner));
    let res = svc
        .oneshot(on_basehttp_server(request("GET", "/x")))
        .await
        .unwrap();
    assert_eq!(res.version(), Version::HTTP_10);
    // Not under an HTTP/1.0 protocol_version elsewhere: the host's HTTP/1.1 rules.
    struct PassAll11;
    impl HttpRequestHandler for PassAll11 {
        fn protocol_version(&self) -> Version {
            Version::HTTP_11
        }
    }
    let mut req = request("GET", "/x");
    req.headers_mut()
        .insert("connection", http::HeaderValue::from_static("close"));
    let svc = PassAll11.into_layer().layer(service_fn(inner));
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.version(), Version::HTTP_11);
    assert_eq!(header(res.headers(), "connection"), Some("close"));

    // A basehttp handler below answers with its own rules, untouched.
    let svc = PassAll10.into_layer().layer(Verbs.into_service());
    let res = svc.oneshot(request("GET", "/custom-reason")).await.unwrap();
    assert_eq!(res.version(), Version::HTTP_11);
    assert!(res.headers().get("connection").is_none());
}

/// The helpers every port writes by hand: `urlsplit`, `parse_qs`, `self.headers[…]`,
/// `int(self.headers['Content-Length'])`, and reading a body with a limit.
#[tokio::test]
async fn request_helpers_read_like_python() {
    struct Inspect;
    impl HttpRequestHandler for Inspect {
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            let text = format!(
                "{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
                ex.path_without_query(),
                ex.query(),
                ex.query_pairs(),
                ex.query_value("q"),
                ex.query_value("missing"),
                ex.header("x-name").as_deref(),
                ex.content_length(),
            );
            ex.send_response(200);
            ex.end_headers()?;
            ex.wfile().write_all(text.as_bytes()).await?;
            Ok(())
        }

        async fn do_post(&self, ex: &mut Exchange) -> HandlerResult {
            let Some(body) = ex.read_body(8).await? else {
                return Ok(());
            };
            ex.send_response(200);
            ex.end_headers()?;
            ex.wfile().write_all(&body).await?;
            Ok(())
        }
    }

    let mut req = request("GET", "/s%20p?q=a+b&q=2&blank=&x=%C3%A9");
    req.headers_mut()
        .insert("x-name", http::HeaderValue::from_bytes(b"caf\xe9").unwrap());
    let res = call(Inspect, req).await;
    assert_eq!(
        body_bytes(res).await.unwrap(),
        r#"/s%20p|Some("q=a+b&q=2&blank=&x=%C3%A9")|[("q", "a b"), ("q", "2"), ("x", "é")]|Some("a b")|None|Some("café")|None"#
    );

    let post = |body: &'static str, headers: &[(&'static str, &'static str)]| {
        let mut req = Request::post("/up");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.body(Body::from(body)).unwrap()
    };
    // Declared and within the limit.
    let res = call(Inspect, post("12345678", &[("content-length", "8")])).await;
    assert_eq!(res.status(), 200);
    assert_eq!(body_bytes(res).await.unwrap(), "12345678");
    // Repeated equal values, which hyper accepts, count once.
    let res = call(Inspect, post("12345678", &[("content-length", "8, 8")])).await;
    assert_eq!(res.status(), 200);
    // Declared over the limit: 413 before reading.
    let res = call(Inspect, post("123456789", &[("content-length", "9")])).await;
    assert_eq!(res.status(), 413);
    assert_eq!(header(res.headers(), "connection"), Some("close"));
    // Chunked: read, and refused once past the limit.
    let res = call(Inspect, post("1234", &[("transfer-encoding", "chunked")])).await;
    assert_eq!(body_bytes(res).await.unwrap(), "1234");
    let res = call(
        Inspect,
        post("123456789", &[("transfer-encoding", "chunked")]),
    )
    .await;
    assert_eq!(res.status(), 413);
    // Neither: 411, as Python upload handlers answer.
    let res = call(Inspect, post("", &[])).await;
    assert_eq!(res.status(), 411);
    let page = String::from_utf8(body_bytes(res).await.unwrap().to_vec()).unwrap();
    assert!(page.contains("<p>Error code: 411</p>"), "{page}");
}

/// `ShuttingDown` resolves on the server's drain signal, stays resolved when polled again, and
/// never resolves off basehttp's server.
#[tokio::test]
async fn shutting_down_resolves_once_and_stays_resolved() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    use crate::connection::Signal;
    use crate::handler::ShuttingDown;

    let (tx, rx) = tokio::sync::watch::channel(Signal::Run);
    let mut shutting_down = std::pin::pin!(ShuttingDown::new(Some(&rx)));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(shutting_down.as_mut().poll(&mut cx).is_pending());
    tx.send_replace(Signal::Drain);
    (&mut shutting_down).await;
    assert_eq!(shutting_down.as_mut().poll(&mut cx), Poll::Ready(()));

    let mut never = std::pin::pin!(ShuttingDown::new(None));
    assert!(never.as_mut().poll(&mut cx).is_pending());
}
