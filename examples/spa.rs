//! Run with
//!
//! ```not_rust
//! cargo run --example spa -- 8000 dist
//! curl -i localhost:8000/settings/profile      # index.html
//! curl -I localhost:8000/app.wasm              # application/wasm
//! ```
//!
//! Serving a single-page application: a path with nothing behind it (`/settings/profile`, a
//! route of the page's own router) gets `index.html`, and WebAssembly is served as
//! `application/wasm` so browsers compile it while it streams. The Python original
//! ([`tests/python/spa.py`](../tests/python/spa.py); the test suite compares the two):
//!
//! ```python
//! class SPARequestHandler(SimpleHTTPRequestHandler):
//!     extensions_map = {**SimpleHTTPRequestHandler.extensions_map,
//!                       ".wasm": "application/wasm"}
//!
//!     def send_head(self):
//!         if not os.path.exists(self.translate_path(self.path)):
//!             self.path = "/index.html"
//!         return super().send_head()
//!
//! handler = functools.partial(SPARequestHandler, directory=sys.argv[2])
//! HTTPServer(("", 8000), handler).serve_forever()
//! ```

use std::path::PathBuf;

use basehttp::server::{HttpServer, shutdown_signal};
use basehttp::static_files::{DEFAULT_EXTENSIONS_MAP, StaticFiles};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let _log = basehttp::log::init();
    let mut args = std::env::args().skip(1);
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(8000);
    let directory = PathBuf::from(args.next().unwrap_or_else(|| ".".to_owned()));

    let app = StaticFiles::new(directory)
        // {**SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm"}
        .extensions_map(
            DEFAULT_EXTENSIONS_MAP
                .into_iter()
                .chain([(".wasm", "application/wasm")]),
        )
        // send_head(): a missing path is index.html
        .fallback_file("index.html");

    let httpd = HttpServer::bind(("0.0.0.0", port), app).await?;
    println!("Serving on port {}", httpd.server_port());
    httpd.serve_until(shutdown_signal()).await
}
