//! Run with
//!
//! ```not_rust
//! cargo run --example routes -- 8000
//! curl -i localhost:8000/hello
//! ```
//!
//! Routing on `self.path`. Ports:
//!
//! ```python
//! class MyRequestHandler(BaseHTTPRequestHandler):
//!     def do_GET(self):
//!         if self.path == "/hello":
//!             self.send_response(200)
//!             self.send_header("Content-type", "text/html")
//!             self.end_headers()
//!             self.wfile.write(b"Hello!")
//!         elif self.path == "/goodbye":
//!             self.send_response(200)
//!             self.send_header("Content-type", "text/html")
//!             self.end_headers()
//!             self.wfile.write(b"Goodbye!")
//!         else:
//!             self.send_error(404, "Page not found")
//! ```

use basehttp::prelude::*;

struct MyRequestHandler;

impl HttpRequestHandler for MyRequestHandler {
    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        let text: &[u8] = match ex.path() {
            "/hello" => b"Hello!",
            "/goodbye" => b"Goodbye!",
            _ => {
                ex.send_error_with(404, "Page not found", None);
                return Ok(());
            }
        };
        ex.send_response(200);
        ex.send_header("Content-type", "text/html");
        ex.end_headers()?;
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
    // Python: http.server.test(HandlerClass=MyRequestHandler, port=port)
    basehttp::server::run(("0.0.0.0", port), MyRequestHandler.into_service()).await
}
