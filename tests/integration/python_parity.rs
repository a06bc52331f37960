//! Side by side: each tutorial handler under CPython (`tests/python/<name>.py`) and its Rust
//! port (`examples/<name>.rs`), the same raw request bytes to both.
//!
//! Compared: the status line, every header except `Date` and `Server` (names case-insensitively,
//! order kept), the body. Skipped when `python3` is not installed.

use crate::support::*;

/// Sends every request to both servers and asserts the answers match.
async fn compare(module: &str, requests: &[&[u8]]) {
    let Some(python) = spawn_python(module) else {
        return;
    };
    let rust = spawn_example(module);
    for request in requests {
        let expected = raw(python.addr(), request).await;
        let actual = raw(rust.addr(), request).await;
        let expected = normalize_one(&expected, &[]);
        let actual = normalize_one(&actual, &[]);
        assert_eq!(
            actual,
            expected,
            "{module}: {:?}",
            String::from_utf8_lossy(request)
        );
    }
}

#[tokio::test]
async fn hello() {
    compare(
        "hello",
        &[
            b"GET / HTTP/1.0\r\n\r\n",
            b"GET /anything?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
            b"HEAD / HTTP/1.0\r\n\r\n",
            b"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
            b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"SPAM / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"get / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET //evil.com/x HTTP/1.0\r\n\r\n",
        ],
    )
    .await;
}

#[tokio::test]
async fn post_echo() {
    compare(
        "post_echo",
        &[
            b"POST / HTTP/1.0\r\nContent-Length: 11\r\n\r\nhello=world",
            b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\n\r\na=b&c",
            b"POST / HTTP/1.0\r\nContent-Length: 4\r\n\r\n\x00\xff\r\n",
            b"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
            b"GET / HTTP/1.0\r\n\r\n",
        ],
    )
    .await;
}

#[tokio::test]
async fn methods() {
    compare(
        "methods",
        &[
            b"GET / HTTP/1.0\r\n\r\n",
            b"PUT /item HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            b"DELETE /item HTTP/1.1\r\nHost: x\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
            b"OPTIONS / HTTP/1.0\r\n\r\n",
            b"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
            b"PATCH / HTTP/1.0\r\n\r\n",
        ],
    )
    .await;
}

#[tokio::test]
async fn routes() {
    compare(
        "routes",
        &[
            b"GET /hello HTTP/1.0\r\n\r\n",
            b"GET /goodbye HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /other HTTP/1.0\r\n\r\n",
            b"GET /hello?x=1 HTTP/1.0\r\n\r\n",
            b"HEAD /other HTTP/1.0\r\n\r\n",
        ],
    )
    .await;
}

#[tokio::test]
async fn errors() {
    compare(
        "errors",
        &[
            b"GET / HTTP/1.0\r\n\r\n",
            b"GET /fail HTTP/1.0\r\n\r\n",
            b"GET /fail HTTP/1.1\r\nHost: x\r\n\r\n",
        ],
    )
    .await;
}

#[tokio::test]
async fn streaming() {
    compare(
        "streaming",
        &[
            b"GET /large?size=300000 HTTP/1.0\r\n\r\n",
            b"GET /large?size=0 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /events?count=3 HTTP/1.0\r\n\r\n",
            b"GET /nothing HTTP/1.0\r\n\r\n",
        ],
    )
    .await;
}

#[tokio::test]
async fn keep_running() {
    // Both serve one connection per `handle_request()` until /stop, then exit.
    let Some(mut python) = spawn_python("keep_running") else {
        return;
    };
    let mut rust = spawn_example("keep_running");
    for request in [
        &b"GET / HTTP/1.0\r\n\r\n"[..],
        b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /stop HTTP/1.0\r\n\r\n",
    ] {
        let expected = normalize_one(&raw(python.addr(), request).await, &[]);
        let actual = normalize_one(&raw(rust.addr(), request).await, &[]);
        assert_eq!(actual, expected);
    }
    assert_eq!(python.wait_exit(), Some(0));
    assert_eq!(
        rust.wait_exit(),
        Some(0),
        "keep_running() is false after /stop"
    );
}
