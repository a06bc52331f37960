//! Run with
//!
//! ```not_rust
//! cargo run --example axum_app -- 8000 /srv/www
//! curl localhost:8000/                  # axum's own route
//! curl localhost:8000/api/hello         # a Python-style handler, nested at /api
//! curl -i localhost:8000/static/sub     # the file server, nested at /static: 301 to /static/sub/
//! curl localhost:8000/cgi-bin/hello.sh  # CGI scripts under /srv/www/cgi-bin
//! ```
//!
//! basehttp's three services inside one axum `Router`, beside axum's own routes:
//!
//! - a `BaseHTTPRequestHandler`-style handler nested at `/api` (`nest_service`: the handler sees
//!   `/hello`, not `/api/hello`);
//! - the file server nested at `/static`: with the crate's `axum` feature (which this example
//!   needs) its redirects and listing title carry the external path, read from axum's
//!   `OriginalUri`;
//! - CGI at `/cgi-bin/{*script}` (`route_service`, which keeps the path: Python's
//!   `cgi_directories` match the full URL path, and `SCRIPT_NAME` is the external one).
//!
//! The router is served by basehttp's `HttpServer`, so every line logged is Python's, with the
//! client's address. Mounted in the router, the services speak HTTP/1.1 and keep connections
//! alive like axum's own routes.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::routing::get;
use basehttp::cgi::Cgi;
use basehttp::prelude::*;
use basehttp::server::{HttpServer, shutdown_signal};
use basehttp::static_files::StaticFiles;

/// `class Api(BaseHTTPRequestHandler)`, mounted at `/api`.
struct Api;

impl HttpRequestHandler for Api {
    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        if ex.path() != "/hello" {
            ex.send_error_with(404, "No such endpoint", None);
            return Ok(());
        }
        let body = b"Hello from a Python-style handler\n";
        ex.send_response(200);
        ex.send_header("Content-Type", "text/plain");
        ex.send_header("Content-Length", body.len().to_string());
        ex.end_headers()?;
        ex.wfile().write_all(body).await?;
        Ok(())
    }
}

fn app(directory: &Path) -> Router {
    Router::new()
        .route("/", get(|| async { "Hello from axum\n" }))
        .route("/health", get(|| async { "ok\n" }))
        .nest_service("/api", Api.into_service())
        .nest_service("/static", StaticFiles::new(directory))
        .route_service(
            "/cgi-bin/{*script}",
            Cgi::new(directory).cgi_directories(["/cgi-bin"]),
        )
}

fn main() -> std::io::Result<()> {
    // Where the crate re-runs this program to start a script as another user.
    basehttp::cgi::exec_helper();
    tokio::runtime::Runtime::new()?.block_on(async {
        let _log = basehttp::log::init();
        let mut args = std::env::args().skip(1);
        let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(8000);
        let directory = PathBuf::from(args.next().unwrap_or_else(|| ".".to_owned()));
        let httpd = HttpServer::bind(("0.0.0.0", port), app(&directory)).await?;
        println!("Serving on port {}", httpd.server_port());
        httpd.serve_until(shutdown_signal()).await
    })
}
