//! Run with
//!
//! ```not_rust
//! cargo run --example cgi -- 8000 /srv/www
//! curl 'localhost:8000/cgi-bin/hello.sh?name=world'
//! ```
//!
//! The usual "CGI server" recipe: scripts under `/cgi-bin`, files everywhere else.
//!
//! ```python
//! from http.server import HTTPServer, CGIHTTPRequestHandler
//!
//! class Handler(CGIHTTPRequestHandler):
//!     cgi_directories = ["/cgi-bin"]
//!
//! handler = functools.partial(Handler, directory=sys.argv[2])
//! HTTPServer(("", 8000), handler).serve_forever()
//! ```
//!
//! Beyond the Python original: a script gets 10 seconds to start answering (then `504`) and
//! may stay silent for at most 10 seconds after that, at most 16 run at once, and each one
//! finds `APP_ENV=demo` in its environment.

use std::path::PathBuf;
use std::time::Duration;

use basehttp::cgi::Cgi;
use basehttp::server::{HttpServer, shutdown_signal};
use basehttp::static_files::StaticFiles;
use tower::Layer;

fn main() -> std::io::Result<()> {
    // Before anything else: when this program is re-run as the helper that starts scripts as
    // another user (on systems where the crate needs one), this is where it does so.
    basehttp::cgi::exec_helper();
    tokio::runtime::Runtime::new()?.block_on(serve())
}

async fn serve() -> std::io::Result<()> {
    let _log = basehttp::log::init();
    let mut args = std::env::args().skip(1);
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(8000);
    let directory = PathBuf::from(args.next().unwrap_or_else(|| ".".to_owned()));

    let cgi = Cgi::new(&directory)
        .cgi_directories(["/cgi-bin"])
        .header_timeout(Duration::from_secs(10))
        .idle_timeout(Duration::from_secs(10))
        .max_scripts(16)
        .env("APP_ENV", "demo");
    let app = cgi.into_layer().layer(StaticFiles::new(&directory));

    let httpd = HttpServer::bind(("0.0.0.0", port), app).await?;
    println!("Serving on port {}", httpd.server_port());
    httpd.serve_until(shutdown_signal()).await
}
