"""py_hello.py PORT [PROTOCOL]: examples/bench_hello.rs's handler in Python, for benches/load.py.

`BaseHTTPRequestHandler` on `ThreadingHTTPServer`, answering every GET with 200
"Hello, world!"; PROTOCOL is `HTTP/1.0` (the default, one request per connection) or
`HTTP/1.1` (keep-alive, like the Rust handler).
"""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"Hello, world!"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    Hello.protocol_version = sys.argv[2] if len(sys.argv) > 2 else "HTTP/1.0"
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Hello).serve_forever()
