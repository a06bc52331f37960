//! Run with
//!
//! ```not_rust
//! cargo run --example hyper_server -- 8000 /srv/www
//! curl localhost:8000/api/hello
//! curl --http2-prior-knowledge localhost:8000/
//! curl localhost:8000/cgi-bin/hello.sh
//! ```
//!
//! basehttp's services on a bare hyper 1 + hyper-util server, without basehttp's
//! `HttpServer`: an accept loop, hyper-util's `auto` builder (HTTP/1.1 and HTTP/2 by prior
//! knowledge) and `TowerToHyperService`. The stack is a Python-style handler over CGI over the
//! file server, each passing on what it does not answer.
//!
//! basehttp's services find the client's address in a [`ConnectionInfo`] request extension,
//! inserted here per connection with tower-http's `AddExtensionLayer`; without it they log the
//! client as `-`.

use std::path::PathBuf;

use basehttp::cgi::Cgi;
use basehttp::prelude::*;
use basehttp::server::ConnectionInfo;
use basehttp::static_files::StaticFiles;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{Layer, ServiceBuilder};
use tower_http::add_extension::AddExtensionLayer;

/// Answers `/api/hello`; everything else falls through to the services below.
struct Api;

impl HttpRequestHandler for Api {
    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        if ex.path() != "/api/hello" {
            return ex.fall_through();
        }
        let body = format!(
            "Hello, {} over {}\n",
            ex.address_string(),
            ex.request_version()
        );
        ex.send_response(200);
        ex.send_header("Content-Type", "text/plain");
        ex.send_header("Content-Length", body.len().to_string());
        ex.end_headers()?;
        ex.wfile().write_all(body.as_bytes()).await?;
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    basehttp::cgi::exec_helper();
    tokio::runtime::Runtime::new()?.block_on(serve())
}

async fn serve() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let _log = basehttp::log::init();
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(8000);
    let directory = PathBuf::from(args.next().unwrap_or_else(|| ".".to_owned()));

    // Handler → CGI → files, built once and cloned per connection.
    let files = StaticFiles::new(&directory);
    let cgi = Cgi::new(&directory).into_layer().layer(files);
    let app = Api.into_layer().layer(cgi);

    let listener = TcpListener::bind(("0.0.0.0", port)).await?;
    let local = listener.local_addr()?;
    println!("Serving on port {}", local.port());
    loop {
        let (stream, remote) = listener.accept().await?;
        let service = ServiceBuilder::new()
            .layer(AddExtensionLayer::new(ConnectionInfo::new(remote, local)))
            .service(app.clone());
        tokio::spawn(async move {
            let served = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .await;
            if let Err(err) = served {
                eprintln!("connection from {remote}: {err}");
            }
        });
    }
}
