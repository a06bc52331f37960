//! The cost of the handler layer, in process: one request through a `HandlerService` answering
//! `200 Hello, world!` the Python way (`send_response`, two `send_header`s, `end_headers`,
//! `wfile.write`), against a bare `service_fn` returning the same response, both driven with
//! `oneshot` and their bodies collected. No sockets: this isolates the layer's own work. The
//! handler is measured a second time writing Python's log line for each request (formatted as
//! the binary formats it, written to nowhere).
//!
//! The `files` group does the same for file serving: `GET` of a 1 KiB and a 100 KiB file
//! through `StaticFiles` (with its memory cache, the default; with the cache trusted for a
//! second, `memory_cache_valid`; and without the cache) against tower-http's `ServeDir`, in
//! process; of a 1,000-entry listing, with its entries kept in memory (the default) and read
//! every time (`memory_cache(0)`, Python's way); and of an 8 MiB file, streamed from the page
//! cache (without a socket its reads stay at 64 KiB: they grow only while a client keeps up).
//! Both copies of every byte dominate that one; `StaticFiles` reads cached data on the task
//! that collects the body, `ServeDir` on the blocking pool, beside it, which shortens its wall
//! time on a machine with a core to spare.
//!
//! The `cgi` group starts `hello.sh` through `Cgi` with the process small, then again with
//! 512 MiB of touched memory: the spawn does not copy the server, so the two cost the same. A
//! standard-library `fork` (what `Command::uid` does) of the same process is measured beside
//! them for contrast.
//!
//! The `atomics` group prices what `benches/locked.py` counts and callgrind cannot weigh: an
//! atomic `fetch_add`, an `Arc` clone and drop, and an uncontended mutex lock and unlock, against
//! the load and store that replaces a `fetch_add` when a counter has one writer; and a short
//! `Bytes` made and freed for each use against one kept and shared (a reference count up and
//! down): what keeping a per-response value instead of allocating it would trade.
//!
//! The `writes` group prices what the server's socket wrapper saves by gathering a small
//! response (a 250-byte head and a 1 KiB body, then the largest it gathers: 4 KiB in all) into
//! one buffer: a `writev` of the two slices against a copy into one buffer and a plain `write`,
//! on a loopback TCP connection whose other end a thread keeps reading.
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
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// `log`: whether Python's log line is written for each request (`log_message` as Python's).
struct Hello {
    log: bool,
}

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

    fn log_message(&self, ex: &Exchange, message: std::fmt::Arguments<'_>) {
        if self.log {
            ex.log_line(message);
        }
    }
}

async fn bare(_req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let mut res = Response::new(Body::from("Hello, world!"));
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html"),
    );
    Ok(res)
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let handler = Hello { log: false }.into_service();
    let logged = Hello { log: true }.into_service();
    let bare = service_fn(bare);
    // Python's lines, formatted as the binary formats them and written nowhere (the binary
    // hands them to a background thread that writes them to stderr).
    let _log = tracing_subscriber::registry()
        .with(basehttp::log::layer(std::io::sink))
        .set_default();

    let mut group = c.benchmark_group("hello");
    get(&mut group, &runtime, "bare service_fn", &bare, "/hello");
    get(
        &mut group,
        &runtime,
        "HttpRequestHandler",
        &handler,
        "/hello",
    );
    get(
        &mut group,
        &runtime,
        "HttpRequestHandler, Python's log line",
        &logged,
        "/hello",
    );
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
    std::fs::write(dir.join("medium.bin"), vec![b'y'; 100 * 1024]).expect("bench file");
    // Past the memory cache: streamed from the file, in reads from the page cache.
    std::fs::write(dir.join("large.bin"), vec![b'z'; 8 << 20]).expect("bench file");
    // A directory of 1,000 names, listed.
    std::fs::create_dir_all(dir.join("many")).expect("bench dir");
    for i in 0..1000 {
        let name = dir.join(format!("many/file-{i:04}.txt"));
        std::fs::write(name, format!("file {i}\n")).expect("bench file");
    }
    // Files (and listings) are kept in memory once they have not changed for a second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let files = basehttp::static_files::StaticFiles::new(&dir);
    let trusted = basehttp::static_files::StaticFiles::new(&dir)
        .memory_cache_valid(std::time::Duration::from_secs(1));
    let uncached = basehttp::static_files::StaticFiles::new(&dir).memory_cache(0);
    let serve_dir = tower_http::services::ServeDir::new(&dir);
    let mut group = c.benchmark_group("files");
    for path in ["/small.html", "/medium.bin"] {
        get(
            &mut group,
            &runtime,
            &format!("StaticFiles {path}"),
            &files,
            path,
        );
        get(
            &mut group,
            &runtime,
            &format!("StaticFiles memory_cache_valid(1 s) {path}"),
            &trusted,
            path,
        );
        get(
            &mut group,
            &runtime,
            &format!("StaticFiles memory_cache(0) {path}"),
            &uncached,
            path,
        );
        get(
            &mut group,
            &runtime,
            &format!("tower-http ServeDir {path}"),
            &serve_dir,
            path,
        );
    }
    group.sample_size(30);
    get(&mut group, &runtime, "StaticFiles /many/", &files, "/many/");
    get(
        &mut group,
        &runtime,
        "StaticFiles memory_cache(0) /many/",
        &uncached,
        "/many/",
    );
    get(
        &mut group,
        &runtime,
        "StaticFiles /large.bin",
        &files,
        "/large.bin",
    );
    get(
        &mut group,
        &runtime,
        "tower-http ServeDir /large.bin",
        &serve_dir,
        "/large.bin",
    );
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `GET path` through a clone of `service`, as tower's callers do, its body collected, as the
/// benchmark `name`.
fn get<S, B>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    service: &S,
    path: &'static str,
) where
    S: tower::Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone,
    B: http_body::Body,
{
    group.bench_function(name, |b| {
        b.to_async(runtime).iter(|| async {
            let mut req = Request::new(Body::empty());
            *req.uri_mut() = http::Uri::from_static(path);
            let res = service
                .clone()
                .oneshot(req)
                .await
                .unwrap_or_else(|e| match e {});
            res.into_body().collect().await.map(|c| c.to_bytes()).ok()
        });
    });
}

fn cgi(c: &mut Criterion) {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("basehttp-bench-cgi-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("cgi-bin")).expect("bench dir");
    let script = dir.join("cgi-bin/hello.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nHello\\n'\n",
    )
    .expect("script");
    for (path, mode) in [
        (&dir, 0o755),
        (&dir.join("cgi-bin"), 0o755),
        (&script, 0o755),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("mode");
    }
    let cgi = basehttp::cgi::Cgi::new(&dir);
    let get = || {
        let mut req = Request::new(Body::empty());
        *req.uri_mut() = http::Uri::from_static("/cgi-bin/hello.sh");
        req
    };
    let run = |name: &str, group: &mut criterion::BenchmarkGroup<'_, _>| {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                let res = cgi
                    .clone()
                    .oneshot(get())
                    .await
                    .unwrap_or_else(|e| match e {});
                assert_eq!(res.status(), 200);
                res.into_body().collect().await.map(|c| c.to_bytes()).ok()
            });
        });
    };
    let fork = |name: &str, group: &mut criterion::BenchmarkGroup<'_, _>| {
        let uid = rustix::process::geteuid().as_raw();
        group.bench_function(name, |b| {
            b.iter(|| {
                // Setting a user makes the standard library fork instead of posix_spawn.
                std::process::Command::new(&script)
                    .uid(uid)
                    .output()
                    .expect("fork")
            });
        });
    };

    let mut group = c.benchmark_group("cgi");
    group.sample_size(30);
    run("Cgi hello.sh", &mut group);
    fork("std fork+exec hello.sh", &mut group);
    let ballast = std::hint::black_box(vec![1u8; 512 << 20]);
    run("Cgi hello.sh, 512 MiB resident", &mut group);
    fork("std fork+exec hello.sh, 512 MiB resident", &mut group);
    group.finish();
    drop(ballast);
    let _ = std::fs::remove_dir_all(&dir);
}

fn atomics(c: &mut Criterion) {
    use std::hint::black_box;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    let mut group = c.benchmark_group("atomics");
    let counter = AtomicU64::new(0);
    group.bench_function("fetch_add", |b| {
        b.iter(|| black_box(&counter).fetch_add(1, Ordering::Relaxed))
    });
    group.bench_function("load + store", |b| {
        b.iter(|| {
            let counter = black_box(&counter);
            counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        })
    });
    let shared = Arc::new(0u64);
    group.bench_function("Arc clone + drop", |b| {
        b.iter(|| drop(black_box(Arc::clone(black_box(&shared)))))
    });
    let lock = Mutex::new(0u64);
    group.bench_function("Mutex lock + unlock", |b| {
        b.iter(|| {
            if let Ok(mut value) = black_box(&lock).lock() {
                *value += 1;
            }
        })
    });
    // A short value made for each response, or one kept and shared: an allocation and a free
    // from the allocator's per-thread cache against a reference count up and down.
    group.bench_function("Bytes::copy_from_slice(13 bytes) + drop", |b| {
        b.iter(|| {
            drop(black_box(bytes::Bytes::copy_from_slice(black_box(
                b"Hello, world!",
            ))))
        })
    });
    let made = bytes::Bytes::copy_from_slice(b"Hello, world!");
    // The first clone makes both shared: every later one counts.
    let shared = made.clone();
    group.bench_function("shared Bytes clone + drop", |b| {
        b.iter(|| drop(black_box(black_box(&shared).clone())))
    });
    drop(made);
    group.finish();
}

fn writes(c: &mut Criterion) {
    use std::io::{IoSlice, Read, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut writer =
        std::net::TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
    writer.set_nodelay(true).expect("nodelay");
    let (mut reader, _) = listener.accept().expect("accept");
    let drain = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
    });
    let head = [b'h'; 250];
    let mut group = c.benchmark_group("writes");
    // A 1 KiB body, and the largest the server gathers (4 KiB with the head).
    for body_len in [1024, 4096 - head.len()] {
        let body = vec![b'b'; body_len];
        group.bench_function(format!("writev, head + {body_len}-byte body"), |b| {
            b.iter(|| {
                let mut bufs = [IoSlice::new(&head), IoSlice::new(&body)];
                let mut bufs = &mut bufs[..];
                while !bufs.is_empty() {
                    let n = writer.write_vectored(bufs).expect("writev");
                    IoSlice::advance_slices(&mut bufs, n);
                }
            })
        });
        // Copied into a buffer that is not zeroed first, as the server's is not.
        let mut gathered = Vec::with_capacity(4096);
        group.bench_function(
            format!("gathered write, head + {body_len}-byte body"),
            |b| {
                b.iter(|| {
                    gathered.clear();
                    gathered.extend_from_slice(&head);
                    gathered.extend_from_slice(&body);
                    writer.write_all(&gathered).expect("write");
                })
            },
        );
    }
    group.finish();
    drop(writer);
    drain.join().expect("the reader");
}

criterion_group!(benches, bench, files, cgi, atomics, writes);
criterion_main!(benches);
