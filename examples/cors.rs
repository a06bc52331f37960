//! Run with
//!
//! ```not_rust
//! cargo run --example cors -- 8000 /srv/www
//! curl -i localhost:8000/
//! curl -i localhost:8000/no-such-file
//! ```
//!
//! The most copied `http.server` snippet: a server for local development whose every answer
//! lets any page read it and is never cached — files, listings, redirects, `304`s, error pages.
//! Here over Python's `--cgi` handler, so scripts in `/cgi-bin` run too
//! ([`tests/python/cors.py`](../tests/python/cors.py) is the original, and the test suite
//! compares the two on the wire):
//!
//! ```python
//! class CORSRequestHandler(CGIHTTPRequestHandler):
//!     def end_headers(self):
//!         self.send_header("Access-Control-Allow-Origin", "*")
//!         self.send_header("Cache-Control", "no-store")
//!         super().end_headers()
//!
//! handler = functools.partial(CORSRequestHandler, directory=sys.argv[2])
//! HTTPServer(("", 8000), handler).serve_forever()
//! ```
//!
//! One method, as in Python: `end_headers` runs for every head the stack finishes, the file
//! server's and CGI's included. As in Python, a CGI script's own response is sent with
//! `flush_headers()` and does not get the headers (`Cgi::end_headers_for_scripts(true)` adds
//! them there too).

use std::path::PathBuf;

use basehttp::cgi::Cgi;
use basehttp::handler::HeaderError;
use basehttp::prelude::*;
use basehttp::server::{HttpServer, shutdown_signal};
use basehttp::static_files::StaticFiles;
use tower::Layer;

struct CorsRequestHandler;

impl HttpRequestHandler for CorsRequestHandler {
    fn end_headers(&self, ex: &mut Exchange) -> Result<(), HeaderError> {
        ex.send_header("Access-Control-Allow-Origin", "*");
        ex.send_header("Cache-Control", "no-store");
        ex.end_headers() // super().end_headers()
    }
}

fn main() -> std::io::Result<()> {
    // Before anything else: on systems where CGI scripts need a helper to run as `nobody`,
    // this is where the re-run program does so.
    basehttp::cgi::exec_helper();
    tokio::runtime::Runtime::new()?.block_on(serve())
}

async fn serve() -> std::io::Result<()> {
    let _log = basehttp::log::init();
    let mut args = std::env::args().skip(1);
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(8000);
    let directory = PathBuf::from(args.next().unwrap_or_else(|| ".".to_owned()));

    // class CORSRequestHandler(CGIHTTPRequestHandler): the handler over CGI over the files.
    let cgi = Cgi::new(&directory).into_layer();
    let app = CorsRequestHandler
        .into_layer()
        .layer(cgi.layer(StaticFiles::new(&directory)));

    let httpd = HttpServer::bind(("0.0.0.0", port), app).await?;
    println!("Serving on port {}", httpd.server_port());
    httpd.serve_until(shutdown_signal()).await
}
