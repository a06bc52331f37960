"""Python's SimpleHTTPRequestHandler, for the file-serving side-by-side tests.

Usage (through run.py): run.py files PORT DIRECTORY. Under CPython < 3.14 the 3.14 error
template is installed by run.py; only requests whose answer is the same in 3.11-3.14 are
compared against this server (see tests/integration/files_parity.rs).
"""
import functools
from http.server import HTTPServer, SimpleHTTPRequestHandler


def main(port, directory):
    handler = functools.partial(SimpleHTTPRequestHandler, directory=directory)
    httpd = HTTPServer(("127.0.0.1", port), handler)
    print(f"Serving on port {httpd.server_port}", flush=True)
    httpd.serve_forever()
