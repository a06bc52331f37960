//! Run with
//!
//! ```not_rust
//! cargo run --example upload -- 8000 /tmp/share
//! curl -T notes.txt localhost:8000/notes.txt
//! curl localhost:8000/
//! ```
//!
//! The usual "SimpleHTTPRequestHandler with uploads" recipe: the files layer serves `GET` and
//! `HEAD` (listings, redirects, 404s, Python's log lines), and a handler on top adds `do_PUT`.
//!
//! ```python
//! class UploadHandler(SimpleHTTPRequestHandler):
//!     def do_PUT(self):
//!         path = self.translate_path(self.path)
//!         if path.endswith("/"):
//!             self.send_error(405, "Cannot PUT a directory")
//!             return
//!         length = int(self.headers["Content-Length"])
//!         with open(path, "wb") as f:
//!             f.write(self.rfile.read(length))
//!         self.send_response(201, "Created")
//!         self.send_header("Content-Length", "0")
//!         self.end_headers()
//!
//! handler = functools.partial(UploadHandler, directory=sys.argv[2])
//! HTTPServer(("", 8000), handler).serve_forever()
//! ```

use std::path::PathBuf;

use basehttp::prelude::*;
use basehttp::server::{HttpServer, shutdown_signal};
use basehttp::static_files::{StaticFiles, translate_path};
use tower::Layer;

/// The largest upload accepted.
const MAX_UPLOAD: u64 = 100 * 1024 * 1024;

struct UploadHandler {
    directory: PathBuf,
}

impl HttpRequestHandler for UploadHandler {
    // Like Python's SimpleHTTPRequestHandler subclass, it speaks as the file server does.
    fn server_version(&self) -> &str {
        "SimpleHTTP/0.6"
    }

    async fn do_put(&self, ex: &mut Exchange) -> HandlerResult {
        // The same confinement as GET: `..` never leaves the directory.
        let path = translate_path(&self.directory, ex.path());
        if ex
            .path()
            .split('?')
            .next()
            .unwrap_or_default()
            .ends_with('/')
        {
            ex.send_error_with(405, "Cannot PUT a directory", None);
            return Ok(());
        }
        // length = int(self.headers["Content-Length"]), with 411 and 413 instead of an exception
        let Some(length) = ex.content_length() else {
            ex.send_error(411);
            return Ok(());
        };
        if length > MAX_UPLOAD {
            ex.send_error(413);
            return Ok(());
        }
        // Streamed to disk: constant memory whatever the size.
        let mut file = match tokio::fs::File::create(&path).await {
            Ok(file) => file,
            Err(err) => {
                ex.send_error_with(403, &format!("Cannot write: {err}"), None);
                return Ok(());
            }
        };
        tokio::io::copy(&mut ex.rfile().take(length), &mut file).await?;
        file.sync_all().await?;
        ex.send_response_with(201, "Created");
        ex.send_header("Content-Length", "0");
        ex.end_headers()?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let _log = basehttp::log::init();
    let mut args = std::env::args().skip(1);
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(8000);
    let directory = PathBuf::from(args.next().unwrap_or_else(|| ".".to_owned()));
    let files = StaticFiles::new(&directory);
    let app = UploadHandler { directory }.into_layer().layer(files);
    let httpd = HttpServer::bind(("0.0.0.0", port), app).await?;
    println!("Serving on port {}", httpd.server_port());
    httpd.serve_until(shutdown_signal()).await
}
