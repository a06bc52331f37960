//! Run with
//!
//! ```not_rust
//! cargo run --example post_echo -- 8000
//! curl -d 'name=value' localhost:8000/
//! ```
//!
//! Reads the request body and echoes it back. Ports:
//!
//! ```python
//! class MyRequestHandler(BaseHTTPRequestHandler):
//!     def do_POST(self):
//!         content_length = int(self.headers['Content-Length'])
//!         post_data = self.rfile.read(content_length)
//!         self.send_response(200)
//!         self.send_header("Content-type", "text/plain")
//!         self.end_headers()
//!         self.wfile.write(b"Received POST data: " + post_data)
//! ```
//!
//! Unlike the Python original, the body is read only as far as it actually goes and at most
//! [`MAX_BODY`] bytes are kept: a client announcing a huge `Content-Length` gets `413`, one
//! sending none gets `411`, instead of a crash or an unbounded allocation.

use basehttp::prelude::*;

/// The largest body this example echoes.
const MAX_BODY: u64 = 1024 * 1024;

struct MyRequestHandler;

impl HttpRequestHandler for MyRequestHandler {
    async fn do_post(&self, ex: &mut Exchange) -> HandlerResult {
        // content_length = int(self.headers['Content-Length'])
        // post_data = self.rfile.read(content_length)
        let Some(post_data) = ex.read_body(MAX_BODY).await? else {
            return Ok(()); // 411 without a length, 413 over MAX_BODY: already answered
        };
        ex.send_response(200);
        ex.send_header("Content-type", "text/plain");
        ex.end_headers()?;
        ex.wfile().write_all(b"Received POST data: ").await?;
        ex.wfile().write_all(&post_data).await?;
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
