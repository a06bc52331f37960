//! Run with
//!
//! ```not_rust
//! cargo run --release --example bench_hello -- 8000 handler
//! cargo run --release --example bench_hello -- 8000 files /srv/www
//! ```
//!
//! The server of the handler-overhead benchmark (see the README's Performance section): the
//! bare-hyper anchor's `200 Hello, world!` (`text/html`, `Content-Length: 13`, keep-alive),
//! served on basehttp's [`HttpServer`] in one of six ways:
//!
//! - `handler`: an [`HttpRequestHandler`] with `protocol_version = "HTTP/1.1"`, logging off;
//! - `logged`: the same handler with Python's log line for every request on stderr;
//! - `hyper`: a bare `service_fn` returning the response directly, no handler layer;
//! - `hyper-python`: a bare `service_fn` returning the response with the head `handler` sends
//!   (`Server` and `Date` first, then `Content-Type` and `Content-Length`), byte for byte: what
//!   any handler sending Python's head costs on [`HttpServer`] with no handler layer at all;
//! - `files DIR`: the handler over [`StaticFiles`] serving DIR (HTTP/1.1): `/hello` is answered,
//!   every other path falls through to the files, like a `SimpleHTTPRequestHandler` subclass
//!   whose `do_GET` handles one path and calls `super().do_GET()` for the rest;
//! - `static-files DIR`: [`StaticFiles`] alone, the same configuration: what `files` costs on top.
//!
//! ```python
//! class Hello(BaseHTTPRequestHandler):
//!     protocol_version = "HTTP/1.1"
//!     def do_GET(self):
//!         body = b"Hello, world!"
//!         self.send_response(200)
//!         self.send_header("Content-Type", "text/html")
//!         self.send_header("Content-Length", str(len(body)))
//!         self.end_headers()
//!         self.wfile.write(body)
//! ```

use std::convert::Infallible;

use basehttp::prelude::*;
use basehttp::server::{HttpServer, shutdown_signal};
use basehttp::static_files::StaticFiles;
use http::Version;
use tower::Layer;

#[path = "bench_common/python_head.rs"]
mod python_head;

struct Hello {
    log: bool,
    /// Answer `/hello` only, falling through to the services below for the rest.
    fall_through: bool,
}

impl HttpRequestHandler for Hello {
    fn protocol_version(&self) -> Version {
        Version::HTTP_11
    }

    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        if self.fall_through && ex.path() != "/hello" {
            return ex.fall_through();
        }
        let body = b"Hello, world!";
        ex.send_response(200);
        ex.send_header("Content-Type", "text/html");
        ex.send_header("Content-Length", body.len());
        ex.end_headers()?;
        ex.wfile().write_all(body).await?;
        Ok(())
    }

    fn log_message(&self, ex: &Exchange, message: std::fmt::Arguments<'_>) {
        if self.log {
            ex.log_line(message);
        }
    }
}

async fn bare(
    _req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<Body>, Infallible> {
    let mut res = http::Response::new(Body::from("Hello, world!"));
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html"),
    );
    Ok(res)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let _log = basehttp::log::init();
    let mut args = std::env::args().skip(1);
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(8000);
    let mode = args.next().unwrap_or_else(|| "handler".to_owned());
    // A third argument `lower` writes header names lower-case (hyper's default).
    let third = args.next();
    let title_case = third.as_deref() != Some("lower");
    let addr = ("127.0.0.1", port);
    // `files` and `static-files` take the directory as the third argument.
    let files =
        || StaticFiles::new(third.as_deref().unwrap_or(".")).protocol_version(Version::HTTP_11);
    match mode.as_str() {
        "handler" | "logged" => {
            let handler = Hello {
                log: mode == "logged",
                fall_through: false,
            };
            let httpd = HttpServer::bind(addr, handler.into_service())
                .await?
                .title_case_headers(title_case);
            println!("Serving on port {}", httpd.server_port());
            httpd.serve_until(shutdown_signal()).await
        }
        "hyper" => {
            let httpd = HttpServer::bind(addr, tower::service_fn(bare))
                .await?
                .title_case_headers(title_case);
            println!("Serving on port {}", httpd.server_port());
            httpd.serve_until(shutdown_signal()).await
        }
        "hyper-python" => {
            let httpd = HttpServer::bind(addr, tower::service_fn(python_head::hello_python))
                .await?
                .title_case_headers(title_case);
            println!("Serving on port {}", httpd.server_port());
            httpd.serve_until(shutdown_signal()).await
        }
        "files" => {
            let handler = Hello {
                log: false,
                fall_through: true,
            };
            let httpd = HttpServer::bind(addr, handler.into_layer().layer(files())).await?;
            println!("Serving on port {}", httpd.server_port());
            httpd.serve_until(shutdown_signal()).await
        }
        "static-files" => {
            let httpd = HttpServer::bind(addr, files()).await?;
            println!("Serving on port {}", httpd.server_port());
            httpd.serve_until(shutdown_signal()).await
        }
        other => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "unknown mode {other:?}: use handler, logged, hyper, hyper-python, files or static-files"
            ),
        )),
    }
}
