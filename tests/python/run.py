"""Serve one of the tutorial handlers in this directory on CPython, for side-by-side tests.

Usage: run.py MODULE PORT [ARGS...] (ARGS go to the module's main). Prints "Serving on port N"
once listening. With BASEHTTP_CPYTHON_LIB set to a directory holding CPython 3.14's `http`
package, `mimetypes` and `argparse` (tests/python/cpython314.sh puts them in
target/cpython314), that `http.server` is the one used, on any Python from 3.11. Under an older `http.server` the 3.14 error template is installed, so pages compare
byte for byte.
"""
import importlib
import os
import sys

if os.environ.get("BASEHTTP_CPYTHON_LIB"):
    sys.path.insert(0, os.environ["BASEHTTP_CPYTHON_LIB"])
    try:
        from _colorize import get_theme  # noqa: F401  (3.14's argparse needs it)
    except ImportError:
        # Before 3.14: a no-colour stand-in, so that 3.14's argparse runs.
        sys.modules.pop("_colorize", None)
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "compat"))
    import warnings

    # CGIHTTPRequestHandler is deprecated in 3.13 and 3.14; the warning is not the subject.
    warnings.simplefilter("ignore", DeprecationWarning)

from http.server import BaseHTTPRequestHandler, HTTPServer  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

ERROR_MESSAGE_314 = """\
<!DOCTYPE HTML>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <style type="text/css">
            :root {
                color-scheme: light dark;
            }
        </style>
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: %(code)d</p>
        <p>Message: %(message)s.</p>
        <p>Error code explanation: %(code)s - %(explain)s.</p>
    </body>
</html>
"""

if __name__ == "__main__":
    name, port, rest = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    if "color-scheme" not in BaseHTTPRequestHandler.error_message_format:
        BaseHTTPRequestHandler.error_message_format = ERROR_MESSAGE_314
    module = importlib.import_module(name)
    if hasattr(module, "main"):
        module.main(port, *rest)
    else:
        httpd = HTTPServer(("127.0.0.1", port), module.MyRequestHandler)
        print(f"Serving on port {httpd.server_port}", flush=True)
        httpd.serve_forever()
