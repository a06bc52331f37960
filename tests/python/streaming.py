import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

CHUNK = b"x" * 65536


class MyRequestHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/large":
            size = int(query.get("size", ["1048576"])[0])
            self.send_response(200)
            self.send_header("Content-type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            while size > 0:
                n = min(size, len(CHUNK))
                self.wfile.write(CHUNK[:n])
                size -= n
        elif url.path == "/events":
            count = int(query.get("count", ["5"])[0])
            self.send_response(200)
            self.send_header("Content-type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            for i in range(count):
                self.wfile.write(b"data: event %d\n\n" % i)
                self.wfile.flush()
                time.sleep(0.1)
        else:
            self.send_error(404)
