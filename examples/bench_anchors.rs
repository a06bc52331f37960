//! Run with
//!
//! ```not_rust
//! cargo run --release --example bench_anchors -- 8000 hello
//! cargo run --release --example bench_anchors -- 8000 hello-python
//! cargo run --release --example bench_anchors -- 8000 servedir /srv/www
//! cargo run --release --example bench_anchors -- 8000 memory-file /srv/www/small.html
//! ```
//!
//! The peers basehttp is measured against in the README's Performance section
//! (`benches/load.py`), written the way their own documentation shows, without basehttp:
//!
//! - `hello`: bare hyper, a `service_fn` answering every request with `200 Hello, world!`
//!   (`text/html`), on hyper-util's `auto` connection builder (HTTP/1.1 and HTTP/2 by prior
//!   knowledge) — the ceiling for `examples/bench_hello.rs`;
//! - `hello-python`: the same, answering with the head Python's handler sends and
//!   `bench_hello handler` sends (`Server` and `Date` first, then `Content-Type` and
//!   `Content-Length`, names in title case): byte for byte basehttp's response, so what
//!   separates the two is basehttp's machinery, not the bytes;
//! - `servedir DIR`: tower-http's `ServeDir` over DIR on the same accept loop — the ecosystem's
//!   static-file service, the peer of `basehttp --directory DIR`;
//! - `memory-file FILE`: FILE's bytes, read once at start, as the answer to every request, with
//!   the head `basehttp` sends for it (`Server`, `Date`, `Content-Type`, `Content-Length`,
//!   `Last-Modified`, `Etag`, `Accept-Ranges`, in title case): what hyper costs for the bytes
//!   of a file response when nothing is looked up or checked — the ceiling for `basehttp`'s
//!   files kept in memory.
//!
//! Every mode binds 127.0.0.1 and prints `Serving on port N` once listening.

use std::convert::Infallible;
use std::path::PathBuf;

use bytes::Bytes;
use std::time::UNIX_EPOCH;

use http::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_TYPE, DATE, ETAG, HeaderValue, LAST_MODIFIED, SERVER,
};
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::Service;
use tower_http::services::ServeDir;

#[path = "bench_common/python_head.rs"]
mod python_head;
use python_head::{date, hello_python};

async fn hello(_req: http::Request<Incoming>) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let mut res = http::Response::new(Full::new(Bytes::from_static(b"Hello, world!")));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    Ok(res)
}

/// A file's response, built once: its bytes and the head `basehttp` sends for it (`Date` aside).
#[derive(Clone)]
struct MemoryFile {
    body: Bytes,
    content_type: HeaderValue,
    last_modified: HeaderValue,
    etag: HeaderValue,
    length: HeaderValue,
}

impl MemoryFile {
    fn read(path: &std::path::Path) -> std::io::Result<Self> {
        let body = Bytes::from(std::fs::read(path)?);
        let modified = std::fs::metadata(path)?.modified()?;
        let since = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
        let invalid = |err| std::io::Error::new(std::io::ErrorKind::InvalidData, err);
        let content_type = match path.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html",
            Some("txt") => "text/plain",
            _ => "application/octet-stream",
        };
        Ok(Self {
            content_type: HeaderValue::from_static(content_type),
            last_modified: HeaderValue::from_str(&httpdate::fmt_http_date(modified))
                .map_err(invalid)?,
            // The same shape as basehttp's: modification time and size, in hex.
            etag: HeaderValue::from_str(&format!("\"{:x}-{:x}\"", since.as_nanos(), body.len()))
                .map_err(invalid)?,
            length: HeaderValue::from(body.len()),
            body,
        })
    }

    fn respond(&self) -> http::Response<Full<Bytes>> {
        let mut res = http::Response::new(Full::new(self.body.clone()));
        let headers = res.headers_mut();
        headers.insert(SERVER, HeaderValue::from_static(PYTHON_FILE_SERVER));
        headers.insert(DATE, date());
        headers.insert(CONTENT_TYPE, self.content_type.clone());
        headers.insert(CONTENT_LENGTH, self.length.clone());
        headers.insert(LAST_MODIFIED, self.last_modified.clone());
        headers.insert(ETAG, self.etag.clone());
        headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        res
    }
}

/// `SimpleHTTPRequestHandler`'s `Server` header, as `basehttp` sends it.
const PYTHON_FILE_SERVER: &str = concat!("SimpleHTTP/0.6 basehttp/", env!("CARGO_PKG_VERSION"));

/// One task per connection, each served by hyper-util's `auto` builder (header names in title
/// case if `title_case`).
async fn serve<S, B>(port: u16, service: S, title_case: bool) -> std::io::Result<()>
where
    S: Service<http::Request<Incoming>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("Serving on port {}", listener.local_addr()?.port());
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of descriptors, say: the next accept may succeed.
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            // Clients resetting mid-request are expected under load.
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().title_case_headers(title_case);
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(8000);
    let mode = args.next().unwrap_or_else(|| "hello".to_owned());
    let dir = PathBuf::from(args.next().unwrap_or_else(|| ".".to_owned()));
    match mode.as_str() {
        "hello" => serve(port, tower::service_fn(hello), false).await,
        "hello-python" => serve(port, tower::service_fn(hello_python), true).await,
        "servedir" => serve(port, ServeDir::new(dir), false).await,
        "memory-file" => {
            let file = MemoryFile::read(&dir)?;
            let service = tower::service_fn(move |_req: http::Request<Incoming>| {
                std::future::ready(Ok::<_, Infallible>(file.respond()))
            });
            serve(port, service, true).await
        }
        other => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("unknown mode {other:?}: use hello, hello-python, servedir or memory-file"),
        )),
    }
}
