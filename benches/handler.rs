//! The cost of the handler layer, in process: one request through a `HandlerService` answering
//! `200 Hello, world!` the Python way (`send_response`, two `send_header`s, `end_headers`,
//! `wfile.write`), against a bare `service_fn` returning the same response, both driven with
//! `oneshot` and their bodies collected. No sockets: this isolates the layer's own work.
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

criterion_group!(benches, bench);
criterion_main!(benches);
