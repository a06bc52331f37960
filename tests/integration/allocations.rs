//! Heap allocations a request costs, counted by this test binary's allocator on the thread
//! that serves it (`benches/allocs.sh` counts them in the real server, with root and perf; this
//! keeps the count from creeping back up in CI).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::time::Duration;

use basehttp::Body;
use basehttp::static_files::StaticFiles;
use http::{HeaderMap, Request, Response};
use tower::ServiceExt;

/// The system allocator, counting the allocations of a thread while it is asked to.
struct Counting;

thread_local! {
    /// `Some(n)`: counting, `n` so far.
    static COUNT: Cell<Option<u64>> = const { Cell::new(None) };
}

fn note() {
    // A `const` thread-local `Cell`: reading it allocates nothing. Gone at thread exit.
    let _ = COUNT.try_with(|count| {
        if let Some(n) = count.get() {
            count.set(Some(n + 1));
        }
    });
}

// The test binary's allocator: every call goes to `System` unchanged, after a count that
// touches no allocation.
#[allow(unsafe_code)]
// SAFETY: each method forwards its arguments to `System`, which upholds `GlobalAlloc`'s contract;
// `note` neither allocates nor unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller's `layout` is passed on as given.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: `ptr` was allocated by `System` (every allocation goes there) with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The allocations `f` makes on this thread.
fn counted<T>(f: impl FnOnce() -> T) -> (T, u64) {
    COUNT.with(|count| count.set(Some(0)));
    let value = f();
    let n = COUNT.with(|count| count.replace(None)).unwrap_or(0);
    (value, n)
}

/// A `GET path` as hyper hands one to a service on a kept-alive connection: its header map is
/// the previous response's, emptied, with room for a head (hyper parses each request into it).
fn request(path: &'static str) -> Request<Body> {
    let mut request = Request::new(Body::empty());
    *request.uri_mut() = http::Uri::from_static(path);
    *request.headers_mut() = HeaderMap::with_capacity(16);
    request
}

/// A request for a file kept in memory allocates one value (its `Content-Length`) in the file
/// service, where it made five: its name, its path, its in-place response and the length (twice)
/// each allocated.
#[cfg(target_os = "linux")]
#[test]
fn a_kept_file_costs_one_allocation_a_request() {
    const REQUESTS: u64 = 50;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("small.html"), vec![b'x'; 1024]).expect("file");
    // Only files whose change time is a second old are kept: let it settle once.
    std::thread::sleep(Duration::from_millis(1100));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let files = StaticFiles::new(dir.path());
    let get = |request: Request<Body>| -> Response<Body> {
        let files = files.clone();
        runtime
            .block_on(files.oneshot(request))
            .unwrap_or_else(|never: Infallible| match never {})
    };
    // The first request opens the folder, the second keeps the file, the third watches it.
    for _ in 0..5 {
        let response = get(request("/small.html"));
        assert_eq!(response.status(), 200);
    }
    let mut total = 0;
    for _ in 0..REQUESTS {
        let request = request("/small.html");
        let (response, n) = counted(|| get(request));
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-length"], "1024");
        total += n;
    }
    // One a request, and a few more if the clock's second turns meanwhile (the `Date` value is
    // made once a second).
    assert!(
        (REQUESTS..=REQUESTS + 3).contains(&total),
        "{total} allocations for {REQUESTS} requests"
    );
}
