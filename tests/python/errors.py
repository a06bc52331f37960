from http.server import BaseHTTPRequestHandler


class MyRequestHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/fail":
            raise ValueError("something went wrong")
        self.send_response(200)
        self.send_header("Content-type", "text/plain")
        self.end_headers()
        self.wfile.write(b"All good")

    def handle(self):
        try:
            super().handle()
        except Exception as e:
            self.log_error("Exception occurred during processing of request: %s", e)
            self.send_error(500)
