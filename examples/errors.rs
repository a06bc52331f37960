//! Run with
//!
//! ```not_rust
//! cargo run --example errors -- 8000
//! curl -i localhost:8000/fail
//! ```
//!
//! A handler that fails. Ports:
//!
//! ```python
//! class MyRequestHandler(BaseHTTPRequestHandler):
//!     def do_GET(self):
//!         if self.path == "/fail":
//!             raise ValueError("something went wrong")
//!         self.send_response(200)
//!         self.send_header("Content-type", "text/plain")
//!         self.end_headers()
//!         self.wfile.write(b"All good")
//!
//!     def handle(self):
//!         try:
//!             super().handle()
//!         except Exception as e:
//!             self.log_error("Exception occurred during processing of request: %s", e)
//!             self.send_error(500)
//! ```
//!
//! No `handle()` override is needed: an error returned (or a panic) before the headers are sent
//! becomes Python's 500 page and a logged error, and the server keeps serving. `/panic` shows the
//! same for a panic.

use basehttp::prelude::*;

struct MyRequestHandler;

#[derive(Debug)]
struct SomethingWentWrong;

impl std::fmt::Display for SomethingWentWrong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("something went wrong")
    }
}

impl std::error::Error for SomethingWentWrong {}

impl HttpRequestHandler for MyRequestHandler {
    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        match ex.path() {
            "/fail" => return Err(SomethingWentWrong.into()),
            "/panic" => panic!("something went very wrong"),
            _ => {}
        }
        ex.send_response(200);
        ex.send_header("Content-type", "text/plain");
        ex.end_headers()?;
        ex.wfile().write_all(b"All good").await?;
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
