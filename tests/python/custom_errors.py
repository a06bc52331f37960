"""The Python original of examples/custom_errors.rs: CGIHTTPRequestHandler with its own error
page. Usage (through run.py): run.py custom_errors PORT DIRECTORY."""
import functools
from http.server import CGIHTTPRequestHandler, HTTPServer


class Handler(CGIHTTPRequestHandler):
    error_message_format = """<!doctype html>
<title>%(code)d %(message)s</title>
<h1>%(code)d</h1>
<p>%(message)s: %(explain)s.</p>
<p><a href="/">Back to the start page</a></p>
"""
    error_content_type = "text/html; charset=utf-8"


def main(port, directory):
    handler = functools.partial(Handler, directory=directory)
    httpd = HTTPServer(("127.0.0.1", port), handler)
    print(f"Serving on port {httpd.server_port}", flush=True)
    httpd.serve_forever()
