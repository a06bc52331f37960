//! Run with
//!
//! ```not_rust
//! cargo run --example keep_running -- 8000
//! curl localhost:8000/   # Still running
//! curl localhost:8000/stop   # Stopping, and the program exits
//! ```
//!
//! Serving one connection at a time with `handle_request()` until a condition holds. Ports:
//!
//! ```python
//! stop_requested = False
//!
//! class MyRequestHandler(BaseHTTPRequestHandler):
//!     def do_GET(self):
//!         global stop_requested
//!         if self.path == "/stop":
//!             stop_requested = True
//!         self.send_response(200)
//!         self.send_header("Content-type", "text/plain")
//!         self.end_headers()
//!         self.wfile.write(b"Stopping" if stop_requested else b"Still running")
//!
//! def keep_running():
//!     return not stop_requested
//!
//! httpd = HTTPServer(("", 8000), MyRequestHandler)
//! while keep_running():
//!     httpd.handle_request()
//! ```
//!
//! The handler's shared state lives in the handler value (`&self`), Python's class attributes
//! and globals; the loop keeps an `Arc` to the same flag.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use basehttp::prelude::*;
use basehttp::server::HttpServer;

struct MyRequestHandler {
    stop_requested: Arc<AtomicBool>,
}

impl HttpRequestHandler for MyRequestHandler {
    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        if ex.path() == "/stop" {
            self.stop_requested.store(true, Ordering::SeqCst);
        }
        ex.send_response(200);
        ex.send_header("Content-type", "text/plain");
        ex.end_headers()?;
        let text: &[u8] = if self.stop_requested.load(Ordering::SeqCst) {
            b"Stopping"
        } else {
            b"Still running"
        };
        ex.wfile().write_all(text).await?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let _log = basehttp::log::init();
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8000);
    let stop_requested = Arc::new(AtomicBool::new(false));
    let handler = MyRequestHandler {
        stop_requested: stop_requested.clone(),
    };
    let keep_running = || !stop_requested.load(Ordering::SeqCst);

    let httpd = HttpServer::bind(("0.0.0.0", port), handler.into_service()).await?;
    println!("Serving on port {}", httpd.server_port());
    while keep_running() {
        httpd.handle_request().await?;
    }
    Ok(())
}
