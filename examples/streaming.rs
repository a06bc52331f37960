//! Run with
//!
//! ```not_rust
//! cargo run --release --example streaming -- 8000
//! curl -o /dev/null localhost:8000/large?size=1073741824   # 1 GiB in constant memory
//! curl -N localhost:8000/events?count=5                     # one event every 100 ms
//! ```
//!
//! Responses written piece by piece: a large download and a slow event stream. Ports:
//!
//! ```python
//! CHUNK = b"x" * 65536
//!
//! class MyRequestHandler(BaseHTTPRequestHandler):
//!     def do_GET(self):
//!         url = urlsplit(self.path)
//!         query = parse_qs(url.query)
//!         if url.path == "/large":
//!             size = int(query.get("size", ["1048576"])[0])
//!             self.send_response(200)
//!             self.send_header("Content-type", "application/octet-stream")
//!             self.send_header("Content-Length", str(size))
//!             self.end_headers()
//!             while size > 0:
//!                 n = min(size, len(CHUNK))
//!                 self.wfile.write(CHUNK[:n])
//!                 size -= n
//!         elif url.path == "/events":
//!             count = int(query.get("count", ["5"])[0])
//!             self.send_response(200)
//!             self.send_header("Content-type", "text/event-stream")
//!             self.send_header("Cache-Control", "no-cache")
//!             self.end_headers()
//!             for i in range(count):
//!                 self.wfile.write(b"data: event %d\n\n" % i)
//!                 self.wfile.flush()
//!                 time.sleep(0.1)
//!         else:
//!             self.send_error(404)
//! ```
//!
//! The headers reach the client at `end_headers()`; each write waits while the client is more
//! than 64 KiB behind, so the process stays small however much is sent, and a client that goes
//! away stops the handler.

use std::time::Duration;

use basehttp::prelude::*;

static CHUNK: [u8; 65536] = [b'x'; 65536];

struct MyRequestHandler;

impl HttpRequestHandler for MyRequestHandler {
    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        // url = urlsplit(self.path); query = parse_qs(url.query)
        let path = ex.path_without_query().to_owned();
        match path.as_str() {
            "/large" => {
                let mut size: u64 = ex
                    .query_value("size")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1_048_576);
                ex.send_response(200);
                ex.send_header("Content-type", "application/octet-stream");
                ex.send_header("Content-Length", size);
                ex.end_headers()?;
                while size > 0 {
                    let n = size.min(CHUNK.len() as u64) as usize;
                    ex.wfile().write_all(&CHUNK[..n]).await?;
                    size -= n as u64;
                }
            }
            "/events" => {
                let count: u32 = ex
                    .query_value("count")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(5);
                ex.send_response(200);
                ex.send_header("Content-type", "text/event-stream");
                ex.send_header("Cache-Control", "no-cache");
                ex.end_headers()?;
                // Resolves when the server starts shutting down (Ctrl-C): the stream then ends
                // itself with a last event instead of being cut off.
                let mut shutdown = ex.shutting_down();
                for i in 0..count {
                    ex.wfile()
                        .write_all(format!("data: event {i}\n\n").as_bytes())
                        .await?;
                    ex.wfile().flush().await?;
                    tokio::select! {
                        () = &mut shutdown => {
                            ex.wfile().write_all(b"event: shutdown\ndata: server shutting down\n\n").await?;
                            break;
                        }
                        () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            }
            _ => ex.send_error(404),
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let _log = basehttp::log::init();
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8000);
    // Python: http.server.test(HandlerClass=MyRequestHandler, port=port)
    basehttp::server::run(("0.0.0.0", port), MyRequestHandler.into_service()).await
}
