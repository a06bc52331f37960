//! The cost of the handler layer, in process: one request through a `HandlerService` answering
//! `200 Hello, world!` the Python way (`send_response`, two `send_header`s, `end_headers`,
//! `wfile.write`), against a bare `service_fn` returning the same response, both driven with
//! `oneshot` and their bodies collected. No sockets: this isolates the layer's own work.
//!
//! The `files` group does the same for file serving: `GET` of a 1 KiB file through
//! `StaticFiles` against tower-http's `ServeDir`, in process.
//!
//! Run with `cargo bench --bench handler`. The loopback throughput comparison (which includes
//! hyper and the kernel) is in the README's Performance section.

#![allow(missing_docs)]

use std::convert::Infallible;

use basehttp::Body;
use basehttp::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, Version};
use http_body_util::BodyExt;
use tower::{ServiceExt, service_fn};

struct Hello;

impl HttpRequestHandler for Hello {
    fn protocol_version(&self) -> Version {
        Version::HTTP_11
    }

    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        let body = b"Hello, world!";
        ex.send_response(200);
        ex.send_header("Content-Type", "text/html");
        ex.send_header("Content-Length", body.len());
        ex.end_headers()?;
        ex.wfile().write_all(body).await?;
        Ok(())
    }

    fn log_message(&self, _ex: &Exchange, _message: std::fmt::Arguments<'_>) {}
}

async fn bare(_req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let mut res = Response::new(Body::from("Hello, world!"));
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html"),
    );
    Ok(res)
}

fn request() -> Request<Body> {
    let mut req = Request::new(Body::empty());
    *req.uri_mut() = http::Uri::from_static("/hello");
    req
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let handler = Hello.into_service();
    let bare = service_fn(bare);

    let mut group = c.benchmark_group("hello");
    group.bench_function("bare service_fn", |b| {
        b.to_async(&runtime).iter(|| async {
            let res = bare.oneshot(request()).await.unwrap_or_else(|e| match e {});
            res.into_body().collect().await.map(|c| c.to_bytes()).ok()
        });
    });
    group.bench_function("HttpRequestHandler", |b| {
        b.to_async(&runtime).iter(|| async {
            let res = handler
                .clone()
                .oneshot(request())
                .await
                .unwrap_or_else(|e| match e {});
            res.into_body().collect().await.map(|c| c.to_bytes()).ok()
        });
    });
    group.finish();
}

fn files(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("basehttp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    std::fs::write(dir.join("small.html"), vec![b'x'; 1024]).expect("bench file");
    let files = basehttp::static_files::StaticFiles::new(&dir);
    let serve_dir = tower_http::services::ServeDir::new(&dir);
    let get = || {
        let mut req = Request::new(Body::empty());
        *req.uri_mut() = http::Uri::from_static("/small.html");
        req
    };

    let mut group = c.benchmark_group("files");
    group.bench_function("StaticFiles", |b| {
        b.to_async(&runtime).iter(|| async {
            let res = files
                .clone()
                .oneshot(get())
                .await
                .unwrap_or_else(|e| match e {});
            res.into_body().collect().await.map(|c| c.to_bytes()).ok()
        });
    });
    group.bench_function("tower-http ServeDir", |b| {
        b.to_async(&runtime).iter(|| async {
            let res = serve_dir
                .clone()
                .oneshot(get())
                .await
                .unwrap_or_else(|e| match e {});
            res.into_body().collect().await.map(|c| c.to_bytes()).ok()
        });
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench, files);
criterion_main!(benches);
