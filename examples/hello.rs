//! Run with
//!
//! ```not_rust
//! cargo run --example hello -- 8000
//! curl -i localhost:8000/
//! ```
//!
//! The port of the tutorial's first handler:
//!
//! ```python
//! class MyRequestHandler(BaseHTTPRequestHandler):
//!     def do_GET(self):
//!         self.send_response(200)
//!         self.send_header("Content-type", "text/html")
//!         self.end_headers()
//!         self.wfile.write(b"Hello, world!")
//!
//! httpd = HTTPServer(("", 8000), MyRequestHandler)
//! httpd.serve_forever()
//! ```

use basehttp::prelude::*;
use basehttp::server::{HttpServer, shutdown_signal};

struct MyRequestHandler;

impl HttpRequestHandler for MyRequestHandler {
    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        ex.send_response(200);
        ex.send_header("Content-type", "text/html");
        ex.end_headers()?;
        ex.wfile().write_all(b"Hello, world!").await?;
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
    // httpd = HTTPServer(("", 8000), MyRequestHandler); httpd.serve_forever()
    let httpd = HttpServer::bind(("0.0.0.0", port), MyRequestHandler.into_service()).await?;
    println!("Serving on port {}", httpd.server_port());
    httpd.serve_until(shutdown_signal()).await
}
