//! `StaticFiles` composed with handlers (both orders), axum routers (nested under a prefix, as a
//! fallback, in front of an API) and tower-http middleware.

use std::io::Read;

use basehttp::prelude::*;
use basehttp::server::HttpServer;
use basehttp::static_files::{StaticFiles, StaticFilesLayer};
use tower::{Layer, ServiceBuilder};

use crate::fixture::Fixture;
use crate::support::*;

async fn request(addr: std::net::SocketAddr, request: &str) -> RawResponse {
    let bytes = raw(addr, request.as_bytes()).await;
    let mut responses = parse_all(&bytes);
    assert_eq!(
        responses.len(),
        1,
        "{request:?}: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    responses.remove(0)
}

/// Python: `class Upload(SimpleHTTPRequestHandler): def do_POST(self): …`, plus a `do_GET`
/// that answers `/api/…` itself, maps `/old/…` to `/…`, and leaves the rest to the files.
struct Upload;

impl HttpRequestHandler for Upload {
    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        if ex.path().starts_with("/api/") {
            let body = format!("api {}", ex.path());
            ex.send_response(200);
            ex.send_header("Content-Length", body.len());
            ex.end_headers()?;
            ex.wfile().write_all(body.as_bytes()).await?;
            return Ok(());
        }
        if let Some(rest) = ex.path().strip_prefix("/old") {
            let new = rest.to_owned();
            ex.set_path(new);
        }
        ex.fall_through()
    }

    async fn do_head(&self, ex: &mut Exchange) -> HandlerResult {
        ex.fall_through()
    }

    async fn do_post(&self, ex: &mut Exchange) -> HandlerResult {
        let mut body = Vec::new();
        ex.rfile().read_to_end(&mut body).await?;
        ex.send_response_with(201, "Stored");
        ex.send_header("Content-Length", body.len());
        ex.end_headers()?;
        ex.wfile().write_all(&body).await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_handler_over_the_files() {
    let log = captured_log();
    let fixture = Fixture::new();
    let app = Upload.into_layer().layer(StaticFiles::new(fixture.root()));
    let server = serve(app).await;

    let res = request(server.addr, "GET /hello.txt?compose-1 HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"hello\n");
    assert_eq!(
        res.header("server"),
        Some(concat!(
            "SimpleHTTP/0.6 basehttp/",
            env!("CARGO_PKG_VERSION")
        ))
    );
    let res = request(server.addr, "HEAD /sub HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status(), 301);
    let res = request(server.addr, "GET /api/items HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"api /api/items");
    let res = request(server.addr, "GET /old/sub/inner.txt HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"inner\n", "set_path() before fall_through()");
    let res = request(
        server.addr,
        "POST /upload HTTP/1.0\r\nContent-Length: 4\r\n\r\ndata",
    )
    .await;
    assert_eq!(res.status_line, "HTTP/1.0 201 Stored");
    assert_eq!(res.body, b"data");
    // Neither implements PUT: Python's 501.
    let res = request(server.addr, "PUT /x HTTP/1.0\r\nContent-Length: 0\r\n\r\n").await;
    assert_eq!(res.status_line, "HTTP/1.0 501 Unsupported method ('PUT')");

    // One log line per request, from whoever answered.
    let lines = normalize_log(&log.lock().unwrap().join("\n"));
    let count = lines
        .iter()
        .filter(|l| l.contains("\"GET /hello.txt?compose-1 HTTP/1.0\" 200 -"))
        .count();
    assert_eq!(count, 1, "{lines:#?}");
}

#[tokio::test]
async fn files_over_a_handler() {
    let fixture = Fixture::new();
    let app = StaticFilesLayer::new(StaticFiles::new(fixture.root())).layer(Upload.into_service());
    let server = serve(app).await;
    let res = request(server.addr, "GET /hello.txt HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"hello\n");
    // GET is the files' even where the handler has a route; POST is the handler's.
    let res = request(server.addr, "GET /api/x HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status_line, "HTTP/1.0 404 File not found");
    let res = request(
        server.addr,
        "POST /upload HTTP/1.0\r\nContent-Length: 2\r\n\r\nok",
    )
    .await;
    assert_eq!(res.status_line, "HTTP/1.0 201 Stored");
    let res = request(server.addr, "DELETE /x HTTP/1.0\r\n\r\n").await;
    assert_eq!(
        res.status_line,
        "HTTP/1.0 501 Unsupported method ('DELETE')"
    );
}

#[tokio::test]
async fn files_in_front_of_an_axum_api() {
    let fixture = Fixture::new();
    let api: axum::Router = axum::Router::new()
        .route("/api/items", axum::routing::get(|| async { "items" }))
        .route("/api/items", axum::routing::post(|| async { "created" }));
    let app = StaticFiles::new(fixture.root())
        .fall_through_on_not_found(true)
        .into_layer()
        .layer(api.clone());
    let server = serve(app).await;
    let res = request(server.addr, "GET /hello.txt HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"hello\n");
    let res = request(server.addr, "GET /api/items HTTP/1.0\r\n\r\n").await;
    assert_eq!((res.status(), res.body.as_slice()), (200, &b"items"[..]));
    let res = request(server.addr, "POST /api/items HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"created");
    // The router's own 404, in Python's status-line version.
    let res = request(server.addr, "GET /nothing HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status_line, "HTTP/1.0 404 Not Found");

    // Without the switch, a missing file is Python's 404.
    let app = StaticFiles::new(fixture.root()).into_layer().layer(api);
    let server = serve(app).await;
    let res = request(server.addr, "GET /api/items HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status_line, "HTTP/1.0 404 File not found");
}

#[tokio::test]
async fn inside_an_axum_router() {
    let fixture = Fixture::new();
    let app: axum::Router = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .nest_service("/static", StaticFiles::new(fixture.root()))
        .fallback_service(StaticFiles::new(fixture.root().join("sub")));
    let server = serve(app).await;
    let res = request(server.addr, "GET /static/hello.txt HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"hello\n");
    let res = request(server.addr, "GET /static/sub/ HTTP/1.0\r\n\r\n").await;
    assert!(find(&res.body, b"inner.txt").is_some());
    let res = request(server.addr, "GET /inner.txt HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"inner\n", "fallback_service");
    let res = request(server.addr, "GET /health HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"ok");
}

/// Nested under a prefix, the directory redirect and the listing title name the external path
/// (axum keeps it in `OriginalUri`; needs the `axum` feature).
#[cfg(feature = "axum")]
#[tokio::test]
async fn nested_under_a_prefix_redirects_to_the_external_path() {
    let fixture = Fixture::new();
    let app: axum::Router =
        axum::Router::new().nest_service("/static", StaticFiles::new(fixture.root()));
    let server = serve(app).await;
    let res = request(server.addr, "GET /static/sub?x=1 HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status(), 301);
    assert_eq!(res.header("location"), Some("/static/sub/?x=1"));
    let res = request(server.addr, "GET /static/Sub%20Dir HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.header("location"), Some("/static/Sub%20Dir/"));
    let res = request(server.addr, "GET /static/sub/ HTTP/1.0\r\n\r\n").await;
    assert!(
        find(
            &res.body,
            b"<title>Directory listing for /static/sub/</title>"
        )
        .is_some()
    );
    // Two levels of nesting.
    let app: axum::Router = axum::Router::new().nest(
        "/a",
        axum::Router::new().nest_service("/b", StaticFiles::new(fixture.root())),
    );
    let server = serve(app).await;
    let res = request(server.addr, "GET /a/b/sub HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.header("location"), Some("/a/b/sub/"));
}

#[tokio::test]
async fn behind_tower_http_middleware() {
    use tower_http::compression::CompressionLayer;
    use tower_http::set_header::SetResponseHeaderLayer;
    let fixture = Fixture::new();
    let app = ServiceBuilder::new()
        .layer(CompressionLayer::new())
        .layer(SetResponseHeaderLayer::overriding(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-cache"),
        ))
        .service(StaticFiles::new(fixture.root()));
    let server = TestServer::start(HttpServer::bind(("127.0.0.1", 0), app).await.unwrap());
    let res = request(
        server.addr,
        "GET /sub/ HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n",
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("content-encoding"), Some("gzip"));
    assert_eq!(res.header("cache-control"), Some("no-cache"));
    let mut page = String::new();
    flate2::read::GzDecoder::new(res.body.as_slice())
        .read_to_string(&mut page)
        .unwrap();
    assert!(page.contains("<title>Directory listing for /sub/</title>"));
}
