#!/usr/bin/env python3
"""requests.py PORT PATH N [ka|close] -- sends N `GET PATH` requests to 127.0.0.1:PORT one after
the other, reading each response whole: all on one kept-alive connection (ka, the default) or
each on a connection of its own (close, `Connection: close`, read to the server's close). The
client of benches/callgrind.sh and benches/syscalls.sh; exits non-zero if the server closes a
kept-alive connection early."""
import socket
import sys


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
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, value = line.split(b":", 1)
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                sys.exit("the server closed the connection")
            rest += chunk
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
