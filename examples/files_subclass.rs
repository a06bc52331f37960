//! Run with
//!
//! ```not_rust
//! cargo run --example files_subclass -- 8000 /srv/www
//! curl localhost:8000/api/status
//! curl localhost:8000/
//! ```
//!
//! The usual `SimpleHTTPRequestHandler` subclass that overrides `do_GET`: one path answered by
//! code, every other one by the file server (`super().do_GET()`).
//!
//! ```python
//! class Handler(SimpleHTTPRequestHandler):
//!     def do_GET(self):
//!         if self.path == "/api/status":
//!             body = json.dumps({"status": "ok"}).encode()
//!             self.send_response(200)
//!             self.send_header("Content-Type", "application/json")
//!             self.send_header("Content-Length", str(len(body)))
//!             self.end_headers()
//!             self.wfile.write(body)
//!         else:
//!             super().do_GET()
//!
//! handler = functools.partial(Handler, directory=sys.argv[2])
//! HTTPServer(("", 8000), handler).serve_forever()
//! ```

use std::path::PathBuf;

use basehttp::prelude::*;
use basehttp::server::{HttpServer, shutdown_signal};
use basehttp::static_files::StaticFiles;
use tower::Layer;

struct Handler;

impl HttpRequestHandler for Handler {
    // A SimpleHTTPRequestHandler subclass speaks as the file server does.
    fn server_version(&self) -> &str {
        "SimpleHTTP/0.6"
    }

    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        if ex.path() == "/api/status" {
            let body = br#"{"status": "ok"}"#;
            ex.send_response(200);
            ex.send_header("Content-Type", "application/json");
            ex.send_header("Content-Length", body.len().to_string());
            ex.end_headers()?;
            ex.wfile().write_all(body).await?;
            Ok(())
        } else {
            // super().do_GET(): the request goes on to the file server below.
            ex.fall_through()
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let _log = basehttp::log::init();
    let mut args = std::env::args().skip(1);
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(8000);
    let directory = PathBuf::from(args.next().unwrap_or_else(|| ".".to_owned()));
    let app = Handler.into_layer().layer(StaticFiles::new(directory));
    let httpd = HttpServer::bind(("0.0.0.0", port), app).await?;
    println!("Serving on port {}", httpd.server_port());
    httpd.serve_until(shutdown_signal()).await
}
