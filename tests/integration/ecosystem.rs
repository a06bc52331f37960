//! Handlers inside axum, on a bare hyper connection, and behind real tower-http middleware.

use std::convert::Infallible;
use std::time::Duration;

use basehttp::Body;
use basehttp::prelude::*;
use basehttp::server::HttpServer;
use http::{Request, Response, StatusCode, Version};
use http_body_util::BodyExt;

use tower::{Layer, ServiceBuilder, ServiceExt as _};

use crate::support::*;

/// Answers with what it saw, streaming in three writes.
struct Echo {
    protocol: Version,
}

impl HttpRequestHandler for Echo {
    fn protocol_version(&self) -> Version {
        self.protocol
    }

    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        if ex.path().ends_with("/pass") {
            return ex.fall_through();
        }
        let text = format!("{} {} {}", ex.command(), ex.path(), ex.address_string());
        ex.send_response(200);
        ex.send_header("Content-Type", "text/plain");
        ex.end_headers()?;
        for part in [text.as_str(), " | ", &"x".repeat(2000)] {
            ex.wfile().write_all(part.as_bytes()).await?;
            ex.wfile().flush().await?;
        }
        Ok(())
    }

    async fn do_post(&self, ex: &mut Exchange) -> HandlerResult {
        let mut body = Vec::new();
        ex.rfile().read_to_end(&mut body).await?;
        ex.send_response(200);
        ex.send_header("Content-Length", body.len());
        ex.end_headers()?;
        ex.wfile().write_all(&body).await?;
        Ok(())
    }
}

fn echo() -> Echo {
    Echo {
        protocol: Version::HTTP_11,
    }
}

async fn text(res: Response<axum::body::Body>) -> String {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn mounts_in_an_axum_router() {
    let app = axum::Router::new()
        .route("/axum", axum::routing::get(|| async { "axum's own route" }))
        .route_service("/api", echo().into_service())
        .nest_service("/nested", echo().into_service())
        .fallback_service(
            Echo {
                protocol: Version::HTTP_10,
            }
            .into_service(),
        );

    // In-process first (the router is a tower service).
    let res = app
        .clone()
        .oneshot(
            Request::get("/api")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        text(res).await.starts_with("GET /api - | "),
        "no ConnectionInfo under axum"
    );
    let res = app
        .clone()
        .oneshot(
            Request::get("/nested/deep/x?q=1")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(
        text(res).await.starts_with("GET /deep/x?q=1 "),
        "nest_service strips the prefix"
    );
    let res = app
        .clone()
        .oneshot(
            Request::get("/axum")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(text(res).await, "axum's own route");

    // Then over a real socket with axum::serve.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut stream = connect(addr).await;
    for path in ["/api", "/nested/x"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let res = read_response(&mut stream, false).await.unwrap();
        assert_eq!(res.status_line, "HTTP/1.1 200 OK");
        assert!(res.body.ends_with(&[b'x'; 2000]));
    }
    // A handler with Python's default protocol_version (HTTP/1.0) follows the host under
    // axum: HTTP/1.1, and the connection stays open for axum's own route after it.
    stream
        .write_all(b"GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let res = read_response(&mut stream, false).await.unwrap();
    assert_eq!(res.status_line, "HTTP/1.1 200 OK");
    assert_eq!(res.header("connection"), None);
    stream
        .write_all(b"GET /axum HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let res = read_response(&mut stream, false).await.unwrap();
    assert_eq!(res.body, b"axum's own route");

    // POST through axum's body type.
    let bytes = raw(
        addr,
        b"POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert_eq!(parse_all(&bytes)[0].body, b"hello");
}

#[tokio::test]
async fn runs_on_a_bare_hyper_connection() {
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = TowerToHyperService::new(echo().into_service());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let mut stream = connect(addr).await;
    stream
        .write_all(b"GET /bare HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let res = read_response(&mut stream, false).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.body.starts_with(b"GET /bare - | "));
}

#[tokio::test]
async fn works_behind_tower_http_middleware() {
    use tower_http::compression::CompressionLayer;
    use tower_http::limit::RequestBodyLimitLayer;
    use tower_http::set_header::SetResponseHeaderLayer;
    use tower_http::timeout::TimeoutLayer;
    use tower_http::trace::TraceLayer;

    let stack = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(5),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            http::header::HeaderName::from_static("x-frame-options"),
            http::HeaderValue::from_static("DENY"),
        ))
        .layer(RequestBodyLimitLayer::new(16))
        .layer(CompressionLayer::new())
        .service(echo().into_service());
    let server = HttpServer::bind(("127.0.0.1", 0), stack).await.unwrap();
    let server = TestServer::start(server);

    // Compression of a streamed handler response.
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"GET /streamed HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
        .await
        .unwrap();
    let res = read_response(&mut stream, false).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("content-encoding"), Some("gzip"));
    assert_eq!(res.header("x-frame-options"), Some("DENY"));
    assert!(
        res.body.len() < 500,
        "2 KB of x compresses: {}",
        res.body.len()
    );
    let mut decoded = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&res.body[..]),
        &mut decoded,
    )
    .unwrap();
    assert!(
        decoded.starts_with("GET /streamed 127.0.0.1 | "),
        "{decoded:.40}"
    );

    // The body limit answers 413 before the handler reads anything.
    let bytes = raw(
        server.addr,
        b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(parse_all(&bytes)[0].status(), 413);

    // Within the limit the handler reads the body through rfile.
    let bytes = raw(
        server.addr,
        b"POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert_eq!(parse_all(&bytes)[0].body, b"hello");
}

#[tokio::test]
async fn a_handler_layered_over_tower_http_serve_dir() {
    // The handler answers its paths and falls through to a foreign inner service for the rest.
    let dir = std::env::temp_dir().join(format!("basehttp-servedir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("file.txt"), "from ServeDir").unwrap();
    let files = tower_http::services::ServeDir::new(&dir);
    let app = echo().into_layer().layer(files);
    let server = TestServer::start(HttpServer::bind(("127.0.0.1", 0), app).await.unwrap());

    let bytes = raw(server.addr, b"GET /file.txt/pass HTTP/1.0\r\n\r\n").await;
    assert_eq!(parse_all(&bytes)[0].status(), 404, "ServeDir answered");
    let bytes = raw(server.addr, b"GET /mine HTTP/1.0\r\n\r\n").await;
    assert!(
        parse_all(&bytes)[0]
            .body
            .starts_with(b"GET /mine 127.0.0.1")
    );

    struct PassAll;
    impl HttpRequestHandler for PassAll {}
    let files = tower_http::services::ServeDir::new(&dir);
    let app = PassAll.into_layer().layer(files);
    let server = TestServer::start(HttpServer::bind(("127.0.0.1", 0), app).await.unwrap());
    let bytes = raw(server.addr, b"GET /file.txt HTTP/1.0\r\n\r\n").await;
    assert_eq!(parse_all(&bytes)[0].body, b"from ServeDir");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_axum_handler_below_a_python_style_handler() {
    let inner = axum::Router::new().route("/inner", axum::routing::get(|| async { "axum below" }));
    let app = echo().into_layer().layer(inner);
    let req = Request::get("/inner/pass").body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), 404, "axum's router saw /inner/pass");
    let res: Result<Response<Body>, Infallible> = app
        .oneshot(Request::get("/x").body(Body::empty()).unwrap())
        .await;
    assert_eq!(res.unwrap().status(), 200);
}

/// `Write` into a buffer shared with the test.
#[derive(Clone, Default)]
struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("buffer")).into_owned()
    }
}

/// `basehttp::log::layer` puts Python's lines into a subscriber of the application's own, next
/// to tower-http's `TraceLayer` events printed by another layer of the same subscriber.
#[tokio::test]
async fn python_lines_and_trace_layer_events_share_one_subscriber() {
    use tower_http::trace::TraceLayer;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;

    let (python, trace) = (SharedBuf::default(), SharedBuf::default());
    let (python_writer, trace_writer) = (python.clone(), trace.clone());
    let subscriber = tracing_subscriber::registry()
        .with(basehttp::log::layer(move || python_writer.clone()))
        .with(
            tracing_subscriber::fmt::layer()
                .without_time()
                .with_writer(move || trace_writer.clone())
                .with_filter(Targets::new().with_target("tower_http", tracing::Level::DEBUG)),
        );
    // This test's runtime runs every task on this thread: the scoped subscriber sees them all.
    let _scope = tracing::subscriber::set_default(subscriber);

    let stack = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http())
        .service(echo().into_service());
    let server = TestServer::start(HttpServer::bind(("127.0.0.1", 0), stack).await.unwrap());
    let bytes = raw(
        server.addr,
        b"GET /traced-path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(parse_all(&bytes)[0].status(), 200);

    // Python's line, bare, and only Python's lines in that layer.
    let python = python.text();
    let lines: Vec<&str> = python.lines().collect();
    assert_eq!(lines.len(), 1, "{python}");
    assert!(
        normalize_log(&python)
            .contains(&r#"127.0.0.1 - - [DATE] "GET /traced-path HTTP/1.1" 200 -"#.to_owned()),
        "{python}"
    );
    // tower-http's events in the other layer, and none of basehttp's lines there.
    let trace = trace.text();
    assert!(trace.contains("tower_http::trace"), "{trace}");
    assert!(trace.contains("started processing request"), "{trace}");
    assert!(trace.contains("finished processing request"), "{trace}");
    assert!(!trace.contains("traced-path\" 200"), "{trace}");
}

/// Holds `/hold` until released; answers anything else at once.
struct Gate {
    started: tokio::sync::mpsc::UnboundedSender<()>,
    release: std::sync::Arc<tokio::sync::Semaphore>,
}

impl HttpRequestHandler for Gate {
    fn protocol_version(&self) -> Version {
        Version::HTTP_11
    }

    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        if ex.path() == "/hold" {
            let _ = self.started.send(());
            let _permit = self.release.acquire().await?;
        }
        let body = ex.path().to_owned();
        ex.send_response(200);
        ex.send_header("Content-Length", body.len());
        ex.end_headers()?;
        ex.wfile().write_all(body.as_bytes()).await?;
        Ok(())
    }
}

/// Tells when the service below is not ready.
#[derive(Clone)]
struct NoticeBusy<S> {
    inner: S,
    busy: tokio::sync::mpsc::UnboundedSender<()>,
}

impl<S: tower::Service<R>, R> tower::Service<R> for NoticeBusy<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        let ready = self.inner.poll_ready(cx);
        if ready.is_pending() {
            let _ = self.busy.send(());
        }
        ready
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.inner.call(request)
    }
}

/// A service that is not always ready (tower's `ConcurrencyLimit` at one request): a request
/// that finds it busy waits for the one in flight and is answered when it ends, with no request
/// lost or stuck, and both connections go on serving afterwards.
#[tokio::test]
async fn a_service_that_is_not_ready_serves_every_request_in_turn() {
    use tower::limit::ConcurrencyLimitLayer;

    let (started, mut started_rx) = tokio::sync::mpsc::unbounded_channel();
    let release = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let gate = Gate {
        started,
        release: release.clone(),
    };
    let (busy, mut busy_rx) = tokio::sync::mpsc::unbounded_channel();
    let stack = NoticeBusy {
        inner: ServiceBuilder::new()
            .layer(ConcurrencyLimitLayer::new(1))
            .service(gate.into_service()),
        busy,
    };
    let server = serve(stack).await;

    let mut first = connect(server.addr).await;
    send_get(&mut first, "/hold").await;
    tokio::time::timeout(Duration::from_secs(10), started_rx.recv())
        .await
        .expect("the held request did not start within 10 s");

    // The limit is taken: this request waits for it.
    let mut second = connect(server.addr).await;
    send_get(&mut second, "/waited").await;
    tokio::time::timeout(Duration::from_secs(10), busy_rx.recv())
        .await
        .expect("the limit never reported busy within 10 s");
    release.add_permits(1);
    expect_answer(&mut first, "/hold").await;
    expect_answer(&mut second, "/waited").await;

    // Both connections go on, each request in turn.
    send_get(&mut second, "/again").await;
    expect_answer(&mut second, "/again").await;
    send_get(&mut first, "/after").await;
    expect_answer(&mut first, "/after").await;
    send_get(&mut second, "/last").await;
    expect_answer(&mut second, "/last").await;
}

async fn send_get(stream: &mut tokio::net::TcpStream, path: &str) {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
}

/// Reads the next response on `stream` (`read_response` gives up after its timeout) and checks
/// that it answers `path`: `Gate` echoes the path.
async fn expect_answer(stream: &mut tokio::net::TcpStream, path: &str) {
    let res = read_response(stream, false)
        .await
        .unwrap_or_else(|| panic!("{path}: the connection closed"));
    assert_eq!(
        (res.status(), &res.body[..]),
        (200, path.as_bytes()),
        "{path}"
    );
}
