"""The Python original of examples/files_subclass.rs: a SimpleHTTPRequestHandler subclass
overriding do_GET. Usage (through run.py): run.py files_subclass PORT DIRECTORY."""
import functools
import json
from http.server import HTTPServer, SimpleHTTPRequestHandler


class Handler(SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/api/status":
            body = json.dumps({"status": "ok"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            super().do_GET()


def main(port, directory):
    handler = functools.partial(Handler, directory=directory)
    httpd = HTTPServer(("127.0.0.1", port), handler)
    print(f"Serving on port {httpd.server_port}", flush=True)
    httpd.serve_forever()
