//! Run with
//!
//! ```not_rust
//! cargo run --example custom_errors -- 8000 /srv/www
//! curl -i localhost:8000/no-such-page
//! curl -i localhost:8000/cgi-bin/no-such-script
//! ```
//!
//! Error pages in a site's own style, for every error of the stack: missing files, refused
//! methods, missing or broken CGI scripts. In Python, two class attributes
//! ([`tests/python/custom_errors.py`](../tests/python/custom_errors.py); the test suite
//! compares the two byte for byte):
//!
//! ```python
//! class Handler(CGIHTTPRequestHandler):
//!     error_message_format = """<!doctype html>
//! <title>%(code)d %(message)s</title>
//! <h1>%(code)d</h1>
//! <p>%(message)s: %(explain)s.</p>
//! <p><a href="/">Back to the start page</a></p>
//! """
//!     error_content_type = "text/html; charset=utf-8"
//!
//! handler = functools.partial(Handler, directory=sys.argv[2])
//! HTTPServer(("", 8000), handler).serve_forever()
//! ```

use std::path::PathBuf;

use basehttp::cgi::Cgi;
use basehttp::prelude::*;
use basehttp::server::{HttpServer, shutdown_signal};
use basehttp::static_files::StaticFiles;
use tower::Layer;

/// The page, in Python's `%`-placeholder syntax.
const ERROR_PAGE: &str = r#"<!doctype html>
<title>%(code)d %(message)s</title>
<h1>%(code)d</h1>
<p>%(message)s: %(explain)s.</p>
<p><a href="/">Back to the start page</a></p>
"#;

struct Handler;

impl HttpRequestHandler for Handler {
    fn error_message_format(&self) -> &str {
        ERROR_PAGE
    }

    fn error_content_type(&self) -> &str {
        "text/html; charset=utf-8"
    }
}

fn main() -> std::io::Result<()> {
    basehttp::cgi::exec_helper();
    tokio::runtime::Runtime::new()?.block_on(serve())
}

async fn serve() -> std::io::Result<()> {
    let _log = basehttp::log::init();
    let mut args = std::env::args().skip(1);
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(8000);
    let directory = PathBuf::from(args.next().unwrap_or_else(|| ".".to_owned()));

    // class Handler(CGIHTTPRequestHandler): the attributes reach the scripts' and the files'
    // error pages.
    let files = StaticFiles::new(&directory);
    let app = Handler
        .into_layer()
        .layer(Cgi::new(&directory).into_layer().layer(files));

    let httpd = HttpServer::bind(("0.0.0.0", port), app).await?;
    println!("Serving on port {}", httpd.server_port());
    httpd.serve_until(shutdown_signal()).await
}
