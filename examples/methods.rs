//! Run with
//!
//! ```not_rust
//! cargo run --example methods -- 8000
//! curl -i -X OPTIONS localhost:8000/
//! ```
//!
//! One `do_*` method per HTTP method, custom headers. Ports:
//!
//! ```python
//! class MyRequestHandler(BaseHTTPRequestHandler):
//!     def do_GET(self):
//!         self.send_response(200)
//!         self.send_header("Content-type", "text/plain")
//!         self.send_header("X-Custom-Header", "Custom Value")
//!         self.end_headers()
//!         self.wfile.write(b"GET request received")
//!
//!     def do_PUT(self):
//!         self.send_response(200)
//!         self.send_header("Content-type", "text/plain")
//!         self.end_headers()
//!         self.wfile.write(b"PUT request received")
//!
//!     def do_DELETE(self):
//!         self.send_response(200)
//!         self.send_header("Content-type", "text/plain")
//!         self.end_headers()
//!         self.wfile.write(b"DELETE request received")
//!
//!     def do_OPTIONS(self):
//!         self.send_response(200)
//!         self.send_header("Allow", "GET, POST, PUT, DELETE, OPTIONS")
//!         self.send_header("X-Custom-Header", "Custom Value")
//!         self.end_headers()
//! ```
//!
//! `POST` is not implemented, so it gets Python's `501 Unsupported method ('POST')`.

use basehttp::prelude::*;

struct MyRequestHandler;

impl MyRequestHandler {
    async fn reply(ex: &mut Exchange, text: &[u8]) -> HandlerResult {
        ex.send_response(200);
        ex.send_header("Content-type", "text/plain");
        ex.end_headers()?;
        ex.wfile().write_all(text).await?;
        Ok(())
    }
}

impl HttpRequestHandler for MyRequestHandler {
    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        ex.send_response(200);
        ex.send_header("Content-type", "text/plain");
        ex.send_header("X-Custom-Header", "Custom Value");
        ex.end_headers()?;
        ex.wfile().write_all(b"GET request received").await?;
        Ok(())
    }

    async fn do_put(&self, ex: &mut Exchange) -> HandlerResult {
        Self::reply(ex, b"PUT request received").await
    }

    async fn do_delete(&self, ex: &mut Exchange) -> HandlerResult {
        Self::reply(ex, b"DELETE request received").await
    }

    async fn do_options(&self, ex: &mut Exchange) -> HandlerResult {
        ex.send_response(200);
        ex.send_header("Allow", "GET, POST, PUT, DELETE, OPTIONS");
        ex.send_header("X-Custom-Header", "Custom Value");
        ex.end_headers()?;
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
    // Python: http.server.test(HandlerClass=MyRequestHandler, port=port)
    basehttp::server::run(("0.0.0.0", port), MyRequestHandler.into_service()).await
}
