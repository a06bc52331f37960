"""The Python original of examples/cors.rs: CGIHTTPRequestHandler with end_headers overridden
to allow any origin and forbid caching. Usage (through run.py): run.py cors PORT DIRECTORY."""
import functools
from http.server import CGIHTTPRequestHandler, HTTPServer


class CORSRequestHandler(CGIHTTPRequestHandler):
    def end_headers(self):
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


def main(port, directory):
    handler = functools.partial(CORSRequestHandler, directory=directory)
    httpd = HTTPServer(("127.0.0.1", port), handler)
    print(f"Serving on port {httpd.server_port}", flush=True)
    httpd.serve_forever()
