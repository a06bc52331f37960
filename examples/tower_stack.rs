//! Run with
//!
//! ```not_rust
//! cargo run --example tower_stack -- 8000 /srv/www
//! curl --compressed -v localhost:8000/                 # gzip/br/zstd, as the client asks
//! curl -H 'Authorization: Bearer letmein' localhost:8000/private/
//! curl -d 'hello' localhost:8000/echo                  # at most 1 KiB of body
//! curl localhost:8000/slow                             # 408 after one second
//! ```
//!
//! The file server and a Python-style handler behind the tower-http middleware a production
//! app puts in front of them, outermost first:
//!
//! | layer | what it does here |
//! |---|---|
//! | `TraceLayer` | a `request` span per request (method, URI, version): basehttp's log lines, printed as JSON, carry it |
//! | `CorsLayer` | answers preflights and adds `Access-Control-Allow-Origin: *` |
//! | `SetResponseHeaderLayer` | `X-Content-Type-Options: nosniff` on every response |
//! | `CompressionLayer` | gzip, br or zstd as negotiated: files, listings and the streamed `/stream` |
//! | `TimeoutLayer` | `408` for a request that takes longer than a second (`/slow`) |
//! | `RequestBodyLimitLayer` | `413` for a body over 1 KiB (`/echo`) |
//! | `ValidateRequestHeaderLayer` | `/private/…` needs `Authorization: Bearer letmein` |
//!
//! Below them: a handler answering `/stream`, `/slow` and `POST /echo`, over the file server
//! for everything else (`super().do_GET()`).

use std::path::PathBuf;
use std::time::Duration;

use basehttp::prelude::*;
use basehttp::server::{HttpServer, shutdown_signal};
use basehttp::static_files::StaticFiles;
use http::{HeaderValue, Request, Response, StatusCode, header};
use tower::{Layer, ServiceBuilder};
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, TraceLayer};
use tower_http::validate_request::{ValidateRequest, ValidateRequestHeaderLayer};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

struct App;

impl HttpRequestHandler for App {
    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        match ex.path() {
            // A streamed response (no Content-Length), compressed on the fly by the layer.
            "/stream" => {
                ex.send_response(200);
                ex.send_header("Content-Type", "text/plain");
                ex.end_headers()?;
                for i in 0..1000 {
                    let line = format!("line {i}: the quick brown fox jumps over the lazy dog\n");
                    ex.wfile().write_all(line.as_bytes()).await?;
                }
                Ok(())
            }
            "/slow" => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                ex.send_response(200);
                ex.end_headers()?;
                Ok(())
            }
            _ => ex.fall_through(),
        }
    }

    async fn do_post(&self, ex: &mut Exchange) -> HandlerResult {
        if ex.path() != "/echo" {
            ex.send_error(404);
            return Ok(());
        }
        let mut body = Vec::new();
        ex.rfile().read_to_end(&mut body).await?;
        ex.send_response(200);
        ex.send_header("Content-Type", "text/plain");
        ex.send_header("Content-Length", body.len().to_string());
        ex.end_headers()?;
        ex.wfile().write_all(&body).await?;
        Ok(())
    }
}

/// `/private/…` needs the bearer token; everything else is public.
#[derive(Clone)]
struct PrivateFolder;

impl<B> ValidateRequest<B> for PrivateFolder {
    type ResponseBody = Body;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response<Body>> {
        let authorized = request.headers().get(header::AUTHORIZATION)
            == Some(&HeaderValue::from_static("Bearer letmein"));
        if !request.uri().path().starts_with("/private/") || authorized {
            return Ok(());
        }
        let mut response = Response::new(Body::from("Unauthorized\n"));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        Err(response)
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // basehttp's log lines as JSON, with tower-http's request span attached to each.
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(std::io::stderr)
        .with_filter(
            Targets::new()
                .with_target("basehttp::log", LevelFilter::INFO)
                .with_target("tower_http::trace", LevelFilter::INFO),
        );
    tracing_subscriber::registry().with(json).init();

    let mut args = std::env::args().skip(1);
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(8000);
    let directory = PathBuf::from(args.next().unwrap_or_else(|| ".".to_owned()));

    let app = App.into_layer().layer(StaticFiles::new(directory));
    let stack = ServiceBuilder::new()
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO)),
        )
        .layer(CorsLayer::permissive())
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(1),
        ))
        .layer(RequestBodyLimitLayer::new(1024))
        .layer(ValidateRequestHeaderLayer::custom(PrivateFolder))
        .service(app);

    let httpd = HttpServer::bind(("0.0.0.0", port), stack).await?;
    println!("Serving on port {}", httpd.server_port());
    httpd.serve_until(shutdown_signal()).await
}
