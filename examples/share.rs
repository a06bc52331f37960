//! Run with
//!
//! ```not_rust
//! cargo run --example share -- 8000 /srv/share
//! curl -u team:secret -F files=@notes.txt localhost:8000/upload   # 204 Files accepted
//! curl -u team:secret -T photo.jpg localhost:8000/photo.jpg       # 201 Created
//! curl -u team:secret --compressed localhost:8000/                # the listing, gzip'd
//! curl localhost:8000/health                                      # axum's own route, no password
//! ```
//!
//! No Python counterpart in the standard library: what `uploadserver --basic-auth team:secret`
//! plus a CORS snippet and a compressing proxy give, as layers inside an axum application.
//! The shared folder is the router's fallback: the upload page at `/upload` (linked from the
//! listings), multipart `POST /upload`, `PUT /path`, the files and listings — behind one
//! password (`SHARE_CREDENTIALS`, default `team:secret`), compressed for clients that accept
//! it, and readable by pages from any origin. `401`s, `413`s and `409`s are Python's error
//! pages, and every request is logged as Python logs it.

use std::path::PathBuf;

use axum::Router;
use axum::routing::get;
use basehttp::basic_auth::{BasicAuth, Credentials};
use basehttp::compression::CompressionLayer;
use basehttp::prelude::*;
use basehttp::server::{HttpServer, shutdown_signal};
use basehttp::static_files::StaticFiles;
use basehttp::upload::Upload;
use tower::Layer;
use tower_http::cors::CorsLayer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _log = basehttp::log::init();
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().map_or(Ok(8000), |p| p.parse())?;
    let dir = PathBuf::from(args.next().unwrap_or_else(|| ".".to_owned()));
    let credentials = std::env::var("SHARE_CREDENTIALS").unwrap_or_else(|_| "team:secret".into());

    // Inside out: the files, uploads over them, compression, the password.
    let share = Upload::new(&dir)
        .max_size(4 << 30)
        .protocol_version(http::Version::HTTP_11)
        .into_layer()
        .layer(StaticFiles::new(&dir));
    let share = CompressionLayer::new().layer(share);
    let share = BasicAuth::new(Credentials::parse(&credentials)?)
        .protocol_version(http::Version::HTTP_11)
        .into_layer()
        .layer(share);

    let app = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .fallback_service(share)
        // Outermost, so that preflights (which carry no password) are answered and every
        // answer, a 401 too, can be read by the page that asked.
        .layer(CorsLayer::permissive());

    let httpd = HttpServer::bind(("0.0.0.0", port), app).await?;
    println!("Serving on port {}", httpd.server_port());
    httpd.serve_until(shutdown_signal()).await?;
    Ok(())
}
