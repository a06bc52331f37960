from http.server import BaseHTTPRequestHandler, HTTPServer

stop_requested = False


class MyRequestHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        global stop_requested
        if self.path == "/stop":
            stop_requested = True
        self.send_response(200)
        self.send_header("Content-type", "text/plain")
        self.end_headers()
        self.wfile.write(b"Stopping" if stop_requested else b"Still running")


def keep_running():
    return not stop_requested


def main(port):
    httpd = HTTPServer(("", port), MyRequestHandler)
    print(f"Serving on port {httpd.server_port}", flush=True)
    while keep_running():
        httpd.handle_request()
