"""The Python original of examples/spa.rs: a single-page application, where a path with
nothing behind it is index.html and WebAssembly is application/wasm. Usage (through run.py):
run.py spa PORT DIRECTORY."""
import functools
import os
from http.server import HTTPServer, SimpleHTTPRequestHandler


class SPARequestHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm"}

    def send_head(self):
        if not os.path.exists(self.translate_path(self.path)):
            self.path = "/index.html"
        return super().send_head()


def main(port, directory):
    handler = functools.partial(SPARequestHandler, directory=directory)
    httpd = HTTPServer(("127.0.0.1", port), handler)
    print(f"Serving on port {httpd.server_port}", flush=True)
    httpd.serve_forever()
