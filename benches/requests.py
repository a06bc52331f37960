#!/usr/bin/env python3
"""requests.py PORT PATH N [ka|close] -- sends N `GET PATH` requests to 127.0.0.1:PORT one after
the other, reading each response whole: all on one kept-alive connection (ka, the default) or
each on a connection of its own (close, `Connection: close`, read to the server's close); bodies
framed by Content-Length or chunked (a CGI script's output). The client of benches/callgrind.sh,
benches/syscalls.sh and benches/allocs.sh; exits non-zero if the server closes a kept-alive
connection early."""
import socket
import sys


def recv(s):
    chunk = s.recv(65536)
    if not chunk:
        sys.exit("the server closed the connection")
    return chunk


def read_chunked(s, buf):
    """Reads a chunked body that starts at buf (trailers included); returns what follows it."""
    while True:
        while b"\r\n" not in buf:
            buf += recv(s)
        size_line, buf = buf.split(b"\r\n", 1)
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            # Trailer fields, if any, then the empty line.
            while not (buf.startswith(b"\r\n") or b"\r\n\r\n" in buf):
                buf += recv(s)
            if buf.startswith(b"\r\n"):
                return buf[2:]
            return buf.split(b"\r\n\r\n", 1)[1]
        while len(buf) < size + 2:
            buf += recv(s)
        buf = buf[size + 2 :]


def main():
    port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    close = (sys.argv[4] if len(sys.argv) > 4 else "ka") == "close"
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\n" + ("Connection: close\r\n" if close else "")
    request = (request + "\r\n").encode()
    s, buf = None, b""
    for _ in range(n):
        if s is None:
            s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request)
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                sys.exit("the server closed the connection")
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        length, chunked = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, value = line.split(b":", 1)
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"transfer-encoding":
                chunked = value.strip().lower() == b"chunked"
        if chunked:
            buf = read_chunked(s, rest)
        else:
            while len(rest) < length:
                rest += recv(s)
            buf = rest[length:]
        if close:
            while s.recv(65536):
                pass
            s.close()
            s, buf = None, b""
    if s is not None:
        s.close()


if __name__ == "__main__":
    main()
