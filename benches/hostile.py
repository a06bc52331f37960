#!/usr/bin/env python3
"""hostile.py -- HTTP servers side by side under hostile load, one attack at a time.

    benches/hostile.py [-s NAME=COMMAND ...] [-a ATTACK[,ATTACK]] [--secs N] [--json FILE] [--nginx-h2]

Each COMMAND is a shell command line serving HTTP on 127.0.0.1:{PORT} with the document root
{DIR}; {ROOT} is this repository. The default servers are

    basehttp={ROOT}/target/release/basehttp -b 127.0.0.1 -d {DIR} -p HTTP/1.1 --cgi -q {PORT}
    nginx=sh {ROOT}/benches/servers/nginx.sh {PORT} {DIR}

Every server is started afresh (in a session of its own) for every attack and stopped after it.
An attack that needs CGI or h2c (HTTP/2 by prior knowledge) is "n/a" for a server that does not
run /cgi-bin/hello.sh or answer an h2c preface. During an attack a probe opens a connection
every 100 ms for `GET /small.html` (HTTP/1.1, Connection: close, 2 s timeout; /cgi-bin/hello.sh
during cgi-chunked-trickle) and the server's process tree is sampled every 200 ms: VmRSS and
open descriptors (/proc/PID/fd), each summed over the process and its descendants (nginx keeps
its connections in its worker). When the attack's time is up its sockets are closed, the server
gets 2 s, and RSS and descriptors are read again ("after"; the descriptors go in the notes).

Attacks (-a, comma-separated; default all, in this order):

    h2-zero-window       8 h2c connections with SETTINGS_INITIAL_WINDOW_SIZE=0, each with up to
                         128 streams of GET /big.bin; PINGs answered, never a WINDOW_UPDATE
    cgi-chunked-trickle  64 chunked POSTs to /cgi-bin/hello.sh, a 1-byte chunk every 2 s
    upload-unread        5 curl uploads of 8 MiB to /cgi-bin/big.sh (3 MB answer, stdin unread)
    slowloris-reconnect  600 unfinished heads, a byte every 5 s, reopened when the server closes
    slow-readers         500 keep-alive GET /big.bin that never read (SO_RCVBUF 4096)
    listing-non-readers  200 GET /many/ (50,000 files) that never read (SO_RCVBUF 4096)
    shutdown             5 unread downloads, then SIGINT: is a new connect refused within
                         200 ms, how long until the server exits (CGI servers only: basehttp)
    cgi-setsid           a CGI script leaving a `setsid` daemon: alive 1 s after the answer,
                         alive after the server exits?
    framing              Transfer-Encoding lists, Host twice or missing, a chunk size with a
                         space, a Connection-nominated header: the status of each

Options:
    -s NAME=COMMAND  a server (repeat; default basehttp and nginx as above)
    -a ATTACKS       the attacks to run (default all)
    --secs N         how long an attack lasts (default 20; shutdown waits up to max(N, 15))
    --json FILE      also write the rows as JSON
    --nginx-h2       h2-zero-window against the server named nginx too, with a config of this
                     script's own (`listen ... http2`, h2c only; the probe then speaks h2)

The document root (small.html, big.bin of 8 MiB, many/ only for listing-non-readers, cgi-bin/)
and the servers' logs live in a temporary directory that is removed at the end.

Safety: traffic goes to 127.0.0.1 only. Every loop is bounded in count and in time (an attack by
--secs, a request by 2 s, curl by --max-time). Each server runs in its own session and only its
process group is signalled; CGI processes the sampler saw under a server that outlive it are
killed by pid (checked against their start time), and so is the cgi-setsid daemon (checked to
be `sleep 300`).

Example:

    apt-get install -y nginx curl && cargo build --release
    benches/hostile.py -a framing,slow-readers --secs 10
"""

import argparse
import errno
import json
import os
import random
import resource
import selectors
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import types

from benchproc import stop_group, free_port, stat_fields, proc_tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SERVERS = [
    ("basehttp", "{ROOT}/target/release/basehttp -b 127.0.0.1 -d {DIR} -p HTTP/1.1 --cgi -q {PORT}"),
    ("nginx", "sh {ROOT}/benches/servers/nginx.sh {PORT} {DIR}"),
]
now = time.monotonic


# ---------------------------------------------------------------- servers, /proc, sampler, probe


class Server:
    def __init__(self, name, command, docroot, workdir, port=None):
        self.name, self.port, self.seen = name, port or free_port(), {}  # seen: pid -> start time
        for key, value in (("{PORT}", str(self.port)), ("{DIR}", docroot), ("{ROOT}", ROOT)):
            command = command.replace(key, value)
        self.command = command
        self.log_path = os.path.join(workdir, f"{name}.log")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["sh", "-c", "exec " + self.command], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=dict(os.environ, TMPDIR=workdir), start_new_session=True,
            )

    def wait_ready(self, seconds=15):
        deadline = now() + seconds
        while now() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        with open(self.log_path, "rb") as log:
            tail = log.read()[-1024:].decode(errors="replace")
        raise RuntimeError(f"{self.name} is not listening: {self.command}\n{tail}")

    def usage(self):
        """(RSS KiB, open descriptors) summed over the process tree, now."""
        rss = fds = 0
        for pid in proc_tree(self.proc.pid) if self.proc.poll() is None else []:
            if pid != self.proc.pid and pid not in self.seen:
                self.seen[pid] = stat_fields(pid)[19:20]
            try:
                with open(f"/proc/{pid}/status") as status:
                    rss += sum(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
                fds += len(os.listdir(f"/proc/{pid}/fd"))
            except OSError:
                pass
        return rss, fds

    def stop_group(self):
        stop_group(self.proc)

    def stop(self):
        self.stop_group()
        for pid, started in self.seen.items():  # CGI scripts run in process groups of their own
            if started and stat_fields(pid)[19:20] == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


class Every(threading.Thread):
    """Calls STEP every PERIOD seconds (late steps are not made up) until stop()."""

    def __init__(self, period, step):
        super().__init__(daemon=True)
        self.period, self.step, self.halt = period, step, threading.Event()

    def run(self):
        next_at = now()
        for _ in range(10000000):
            if self.halt.is_set():
                return
            self.step()
            next_at = max(next_at + self.period, now())
            self.halt.wait(next_at - now())

    def stop(self):
        self.halt.set()
        if self.is_alive():
            self.join()


class Sampler(Every):
    def __init__(self, server):
        super().__init__(0.2, self.sample)
        self.server, self.peak_rss, self.peak_fds = server, 0, 0

    def sample(self):
        rss, fds = self.server.usage()
        self.peak_rss, self.peak_fds = max(self.peak_rss, rss), max(self.peak_fds, fds)


class Probe(Every):
    def __init__(self, port, path, h2=False):
        super().__init__(0.1, self.once)
        self.port, self.path, self.h2, self.ok, self.total, self.worst = port, path, h2, 0, 0, 0.0

    def once(self):
        t0 = now()
        if self.h2:
            ok = h2_get(self.port, self.path)
        else:
            request = f"GET {self.path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            status, body = exchange(self.port, request.encode(), to_eof=True)
            ok = status == 200 and len(body) > 0
        self.total, self.ok = self.total + 1, self.ok + ok
        self.worst = max(self.worst, (now() - t0) * 1000)


# ---------------------------------------------------------------- HTTP/1


def status_of(data):
    parts = data.split(None, 2)
    return int(parts[1]) if data.startswith(b"HTTP/") and len(parts) > 1 and parts[1].isdigit() else None


def complete(data):
    """Whether DATA holds a whole response (by Content-Length or the last chunk)."""
    end = data.find(b"\r\n\r\n")
    for line in data[:end].lower().split(b"\r\n")[1:] if end >= 0 else []:
        name, _, value = line.partition(b":")
        if name.strip() == b"content-length":
            return value.strip().isdigit() and len(data) >= end + 4 + int(value.strip())
        if name.strip() == b"transfer-encoding" and b"chunked" in value:
            return data.endswith(b"0\r\n\r\n")
    return end >= 0 and status_of(data) in (204, 304)


def exchange(port, raw, timeout=2.0, to_eof=False):
    """Sends RAW on a new connection: (the status, or closed/reset/timeout/error N; the body)."""
    deadline, data = now() + timeout, b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(raw)
            while to_eof or not complete(data):
                if now() >= deadline:
                    return status_of(data) or "timeout", b""
                sock.settimeout(deadline - now())
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as err:
        reasons = {socket.timeout: "timeout", ConnectionResetError: "reset"}
        return status_of(data) or reasons.get(type(err), f"error {err.errno}"), b""
    head, _, body = data.partition(b"\r\n\r\n")
    return status_of(data) or "closed", dechunk(body) if b"chunked" in head.lower() else body


def dechunk(body):
    out = b""
    for _ in range(100000):
        size, _, rest = body.partition(b"\r\n")
        try:
            size = int(size.split(b";")[0], 16)
        except ValueError:
            size = 0
        if not size:
            return out
        out, body = out + rest[:size], rest[size + 2 :]
    return out


class Pool:
    """COUNT non-blocking connections that send HEAD once connected, then trickle(n) every EVERY
    seconds; with REOPEN, one the server closes is opened again at once."""

    def __init__(self, port, count, head, every=0, trickle=None, reopen=False, rcvbuf=0, read=True):
        self.port, self.count, self.head, self.every, self.trickle = port, count, head, every, trickle
        self.reopen, self.rcvbuf, self.read = reopen, rcvbuf, read
        self.sel, self.conns, self.statuses = selectors.DefaultSelector(), {}, {}
        self.opened = self.connect_errors = self.server_closed = self.bytes_read = 0

    def open(self):
        sock = socket.socket()
        if self.rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        sock.setblocking(False)
        if sock.connect_ex(("127.0.0.1", self.port)) not in (0, errno.EINPROGRESS):
            self.connect_errors += 1
            return sock.close()
        self.conns[sock] = {"connected": False, "sent": 0, "next": None, "status": None}
        self.sel.register(sock, selectors.EVENT_WRITE)

    def drop(self, sock, by_server):
        self.server_closed += by_server
        if sock in self.conns and (self.read or not self.conns[sock]["connected"]):
            self.sel.unregister(sock)
        self.conns.pop(sock, None)
        sock.close()

    def ready(self, sock, conn):
        if not conn["connected"]:
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self.connect_errors += 1
                return self.drop(sock, False)
            conn["connected"], conn["next"] = True, now() + random.uniform(0, self.every)
            self.opened += 1
            self.sel.modify(sock, selectors.EVENT_READ) if self.read else self.sel.unregister(sock)
            try:
                sock.send(self.head)
            except OSError:
                self.drop(sock, True)
            return
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            return self.drop(sock, True)
        if conn["status"] is None and status_of(data):
            conn["status"] = status_of(data)
            self.statuses[conn["status"]] = self.statuses.get(conn["status"], 0) + 1
        self.bytes_read += len(data)

    def run(self, deadline):
        for _ in range(self.count):
            self.open()
        for _ in range(10000000):
            if now() >= deadline:
                break
            for key, _ in self.sel.select(min(0.05, max(deadline - now(), 0))):
                if key.fileobj in self.conns:
                    self.ready(key.fileobj, self.conns[key.fileobj])
            for sock, conn in list(self.conns.items()):
                if self.every and conn["connected"] and conn["next"] <= now():
                    try:
                        sock.send(self.trickle(conn["sent"]))
                        conn["sent"] += 1
                    except BlockingIOError:
                        pass
                    except OSError:
                        self.drop(sock, True)
                        continue
                    conn["next"] += self.every
            while self.reopen and len(self.conns) < self.count:
                errors = self.connect_errors
                self.open()
                if self.connect_errors > errors:
                    break  # tried again on the next turn, every 50 ms at most

    def close(self):
        for sock in list(self.conns):
            self.drop(sock, False)
        self.sel.close()


def pool_attack(ctx, **kwargs):
    pool = Pool(ctx.server.port, **kwargs)
    try:
        pool.run(ctx.deadline)
        answers = ", ".join(f"{k}x{v}" for k, v in sorted(pool.statuses.items()))
        return (
            f"{pool.opened} connected, {pool.server_closed} closed by server, "
            f"{len(pool.conns)} open at the end"
            + (f", {pool.connect_errors} connect errors" if pool.connect_errors else "")
            + (f", answers {answers}" if answers else "")
            + (f", read {pool.bytes_read / 2**20:.1f} MiB" if pool.bytes_read else "")
        )
    finally:
        pool.close()


# ---------------------------------------------------------------- HTTP/2 by hand (RFC 9113, RFC 7541)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0, 1, 3, 4, 6, 7
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


def frame(kind, flags, stream, payload=b""):
    return len(payload).to_bytes(3, "big") + struct.pack(">BBI", kind, flags, stream) + payload


def frames(buf):
    """The whole frames (kind, flags, stream, payload) at the front of BUF, and the rest."""
    out = []
    while len(buf) >= 9 and len(buf) >= 9 + (length := int.from_bytes(buf[:3], "big")):
        kind, flags, stream = struct.unpack(">BBI", buf[3:9])
        out.append((kind, flags, stream & 0x7FFFFFFF, buf[9 : 9 + length]))
        buf = buf[9 + length :]
    return out, buf


def hpack_int(n):
    """An HPACK integer with a 7-bit prefix, H (Huffman) = 0 (RFC 7541 5.1)."""
    out = [min(n, 127)]
    n -= 127
    while n >= 0:
        out.append(n % 128 + (128 if n >= 128 else 0))
        n = n // 128 if n >= 128 else -1
    return bytes(out)


def request_block(port, path):
    """A GET's header block: literals without indexing, new names, no Huffman (RFC 7541 6.2.2)."""
    fields = {":method": "GET", ":scheme": "http", ":path": path, ":authority": f"127.0.0.1:{port}"}
    literal = lambda text: hpack_int(len(text)) + text.encode()
    return b"".join(b"\x00" + literal(name) + literal(value) for name, value in fields.items())


def h2_connect(port, window=65535, timeout=2.0):
    """An h2c connection past the SETTINGS exchange: (socket, the server's max streams, buffer)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    settings = struct.pack(">HIHI", 0x2, 0, 0x4, window)  # ENABLE_PUSH 0, INITIAL_WINDOW_SIZE
    sock.sendall(PREFACE + frame(SETTINGS, 0, 0, settings))
    buf, deadline = b"", now() + timeout
    while now() < deadline and (chunk := sock.recv(65536)):
        got, buf = frames(buf + chunk)
        for kind, flags, _, payload in got:
            if kind == SETTINGS and not flags & ACK:
                params = dict(struct.iter_unpack(">HI", payload[: len(payload) // 6 * 6]))
                sock.sendall(frame(SETTINGS, ACK, 0))
                return sock, params.get(0x3, 2**31 - 1), buf
    sock.close()
    raise OSError("no HTTP/2 SETTINGS from the server")


def h2_get(port, path, timeout=2.0):
    """Whether GET PATH over h2c ends in a 200 (the indexed `:status 200`, 0x88) with its body."""
    deadline, status = now() + timeout, None
    try:
        sock, _, buf = h2_connect(port, timeout=timeout)
        with sock:
            sock.sendall(frame(HEADERS, END_STREAM | END_HEADERS, 1, request_block(port, path)))
            while now() < deadline:
                got, buf = frames(buf)
                for kind, flags, stream, payload in got:
                    if stream == 1 and kind == HEADERS and status is None:
                        status = payload[:1] == b"\x88"
                    if kind in (RST_STREAM, GOAWAY):
                        return False
                    if stream == 1 and kind in (DATA, HEADERS) and flags & END_STREAM:
                        return bool(status)
                sock.settimeout(max(deadline - now(), 0.001))
                if not (chunk := sock.recv(65536)):
                    return False
                buf += chunk
    except OSError:
        pass
    return False


def attack_h2_zero_window(ctx):
    port, bufs, sel = ctx.server.port, {}, selectors.DefaultSelector()
    n = dict.fromkeys(["failed", "streams", "HEADERS", "DATA bytes", "RST_STREAM", "GOAWAY"], 0)
    n["closed by server"] = 0
    try:
        for _ in range(8):
            try:
                sock, max_streams, buf = h2_connect(port, window=0)
            except OSError:
                n["failed"] += 1
                continue
            sel.register(sock, selectors.EVENT_READ)
            bufs[sock], streams = buf, min(128, max_streams)
            block = request_block(port, "/big.bin")
            sock.sendall(b"".join(frame(HEADERS, END_STREAM | END_HEADERS, 2 * i + 1, block)
                                  for i in range(streams)))
            sock.setblocking(False)
            n["streams"] += streams
        for _ in range(10000000):
            if now() >= ctx.deadline or not sel.get_map():
                break
            for key, _ in sel.select(min(0.1, max(ctx.deadline - now(), 0))):
                sock = key.fileobj
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    n["closed by server"] += 1
                    sel.unregister(sock)
                    continue
                got, bufs[sock] = frames(bufs[sock] + chunk)
                for kind, flags, _, payload in got:
                    n["DATA bytes"] += len(payload) if kind == DATA else 0
                    for name, k in (("HEADERS", HEADERS), ("RST_STREAM", RST_STREAM)):
                        n[name] += kind == k
                    n["GOAWAY"] += kind == GOAWAY
                    try:  # a live client, only a stingy one: SETTINGS acknowledged, PINGs answered
                        if kind in (SETTINGS, PING) and not flags & ACK:
                            sock.send(frame(kind, ACK, 0, payload if kind == PING else b""))
                    except OSError:
                        pass
    finally:
        sel.close()
        for sock in bufs:
            sock.close()
    return ", ".join(f"{v} {k}" for k, v in n.items() if v or k != "failed")


# ---------------------------------------------------------------- the other attacks


def attack_upload_unread(ctx):
    per_try, full, outcomes = max(ctx.secs / 5, 3), 0, []
    for _ in range(5):
        argv = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                "--max-time", str(per_try), "--data-binary", "@" + os.path.join(ctx.docroot, "big.bin"),
                f"http://127.0.0.1:{ctx.server.port}/cgi-bin/big.sh"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=per_try + 5)
        except subprocess.TimeoutExpired:
            outcomes.append("curl killed")
            continue
        code, _, size = done.stdout.partition(" ")
        full += done.returncode == 0 and size.isdigit() and int(size) >= 3000000
        outcomes.append(f"{code} {size} B" + (f" curl rc {done.returncode}" if done.returncode else ""))
    return f"full 3 MB body {full}/5 ({'; '.join(outcomes)})"


def attack_shutdown(ctx):
    server, socks = ctx.server, []
    try:
        for _ in range(5):
            socks.append(sock := socket.socket())
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(2)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)
        ctx.probe.stop()
        t0, refused = now(), None
        os.kill(server.proc.pid, signal.SIGINT)
        for _ in range(100):  # a connect that still succeeds is closed and tried again
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=0.2).close()
            except ConnectionRefusedError:
                refused = now() - t0
                break
            except OSError:
                pass
            if now() - t0 > 0.2:
                break
            time.sleep(0.01)
        try:
            server.proc.wait(max(ctx.secs, 15))
            exited = f"exited after {now() - t0:.1f} s"
        except subprocess.TimeoutExpired:
            exited = f"STILL RUNNING after {max(ctx.secs, 15)} s"
        if refused is None:
            return f"new connect NOT refused within 200 ms; {exited}"
        return f"new connect refused after {refused * 1000:.0f} ms; {exited}"
    finally:
        for sock in socks:
            sock.close()


def daemon_alive(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            is_ours = cmdline.read().split(b"\0")[:2] == [b"sleep", b"300"]
    except OSError:
        return False
    return is_ours and stat_fields(pid)[:1] != ["Z"]


def reap_daemon(docroot):
    """Kills the cgi-setsid daemon if it is still there (checked to be `sleep 300`)."""
    try:
        with open(os.path.join(docroot, "daemon.pid")) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return
    if pid > 1 and daemon_alive(pid):
        os.kill(pid, signal.SIGKILL)


def attack_cgi_setsid(ctx):
    pidfile = os.path.join(ctx.docroot, "daemon.pid")
    open(pidfile, "w").close()  # emptied, keeps mode 666: the script may run as nobody
    request = b"GET /cgi-bin/daemon.sh HTTP/1.1\r\nHost: x\r\n\r\n"
    status, _ = exchange(ctx.server.port, request, timeout=10)
    for _ in range(20):
        with open(pidfile) as f:
            pid = f.read().strip()
        if pid.isdigit():
            break
        time.sleep(0.1)
    else:
        return f"answer {status}; no daemon.pid written"
    time.sleep(1)
    after_answer = daemon_alive(int(pid))
    ctx.probe.stop()
    ctx.server.stop_group()  # not stop(): that also kills the descendants the sampler saw
    after_exit = daemon_alive(int(pid))
    reap_daemon(ctx.docroot)
    alive = {True: "ALIVE", False: "gone"}
    return (f"answer {status}; daemon 1 s after the answer: {alive[after_answer]}, "
            f"after server exit: {alive[after_exit]}")


def attack_framing(ctx):
    cgi = capable(ctx.server, "cgi")  # else the same requests to a static file
    post, env = ("/cgi-bin/hello.sh", "/cgi-bin/env.sh") if cgi else ("/small.html", "/small.html")
    body = "5\r\nhello\r\n0\r\n\r\n"
    chunked = f"POST {post} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
    cases = [
        ("TE identity,chunked", f"{chunked}identity, chunked\r\n\r\n{body}"),
        ("TE chunked x2", f"{chunked}chunked\r\nTransfer-Encoding: chunked\r\n\r\n{body}"),
        ("Host x2", "GET /small.html HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        ("no Host", "GET /small.html HTTP/1.1\r\n\r\n"),
        ("chunk size '5 '", f"{chunked}chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n"),
    ]
    notes = [f"{name} {exchange(ctx.server.port, raw.encode())[0]}" for name, raw in cases]
    raw = f"GET {env} HTTP/1.1\r\nHost: x\r\nConnection: X-Secret\r\nX-Secret: 1\r\n\r\n"
    status, answer = exchange(ctx.server.port, raw.encode())
    leak = "HTTP_X_SECRET PASSED" if b"HTTP_X_SECRET" in answer else "X-Secret dropped"
    leak = leak if cgi else "static"
    return "; ".join(notes + [f"Connection: X-Secret {status} ({leak})"])


def pool(**kwargs):
    return lambda ctx: pool_attack(ctx, **kwargs)


SLOW_HEADER = b"X-Slow: a\r\n"
# name: (function, what the server must support, the probe's path)
ATTACKS = {
    "h2-zero-window": (attack_h2_zero_window, "h2", "/small.html"),
    "cgi-chunked-trickle": (
        pool(count=64, every=2.0, trickle=lambda i: b"1\r\na\r\n",  # a 1-byte chunk
             head=b"POST /cgi-bin/hello.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
        "cgi", "/cgi-bin/hello.sh"),
    "upload-unread": (attack_upload_unread, "cgi", "/small.html"),
    "slowloris-reconnect": (
        pool(count=600, head=b"GET / HTTP/1.1\r\nHost: x\r\n", every=5.0, reopen=True,
             trickle=lambda i: SLOW_HEADER[i % len(SLOW_HEADER) :][:1]),  # never the empty line
        "", "/small.html"),
    "slow-readers": (
        pool(count=500, head=b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n", rcvbuf=4096, read=False),
        "", "/small.html"),
    "listing-non-readers": (
        pool(count=200, head=b"GET /many/ HTTP/1.1\r\nHost: x\r\n\r\n", rcvbuf=4096, read=False),
        "", "/small.html"),
    "shutdown": (attack_shutdown, "cgi", "/small.html"),  # basehttp's own: told apart by its CGI
    "cgi-setsid": (attack_cgi_setsid, "cgi", "/small.html"),
    "framing": (attack_framing, "", "/small.html"),
}


def capable(server, need):
    if need == "cgi":
        status, body = exchange(server.port, b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: x\r\n\r\n")
        return status == 200 and body.strip() == b"hello"  # run, not served as a file
    try:
        h2_connect(server.port)[0].close()
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- document root, runs, table


def make_docroot(path, listing):
    head, tail = b"<!DOCTYPE html>\n<html><body><p>", b"</p></body></html>\n"
    with open(os.path.join(path, "small.html"), "wb") as f:
        f.write(head + b"a" * (1024 - len(head) - len(tail)) + tail)
    with open(os.path.join(path, "big.bin"), "wb") as f:
        f.write(os.urandom(8 << 20))
    if listing:
        os.makedirs(os.path.join(path, "many"))
        for i in range(1, 50001):
            open(os.path.join(path, "many", f"file-{i:05d}.txt"), "w").close()
    pidfile = shlex.quote(os.path.join(path, "daemon.pid"))
    scripts = {
        "hello.sh": r"printf 'Content-Type: text/plain\r\n\r\nhello\n'",
        "big.sh": r"printf 'Content-Type: application/octet-stream\r\n\r\n'; head -c 3000000 /dev/zero",
        "env.sh": "printf 'Content-Type: text/plain\\r\\n\\r\\n'\nenv",
        "daemon.sh": f"setsid sh -c 'echo $$ >{pidfile}; exec sleep 300' </dev/null >/dev/null 2>&1 &\n"
                     f"for i in 1 2 3 4 5 6 7 8 9 10; do [ -s {pidfile} ] || sleep 0.2; done\n"
                     r"printf 'Content-Type: text/plain\r\n\r\nstarted\n'",
    }
    os.makedirs(os.path.join(path, "cgi-bin"))
    for name, text in scripts.items():
        with open(os.path.join(path, "cgi-bin", name), "w") as f:
            f.write(f"#!/bin/sh\n{text}\n")
        os.chmod(f.name, 0o755)
    open(os.path.join(path, "daemon.pid"), "w").close()
    os.chmod(os.path.join(path, "daemon.pid"), 0o666)


def nginx_h2_command(docroot, workdir):
    """nginx serving h2c by prior knowledge, from a config of this script's own: (command, port)."""
    port, run = free_port(), tempfile.mkdtemp(prefix="nginx-h2.", dir=workdir)
    temps = "".join(f"{k}_temp_path {run}/{k}; " for k in ("client_body", "proxy", "fastcgi", "uwsgi"))
    with open(os.path.join(run, "nginx.conf"), "w") as conf:
        conf.write(f"daemon off; worker_processes 1; {'user root;' if os.getuid() == 0 else ''}\n"
                   f"pid {run}/nginx.pid; error_log {run}/error.log warn;\n"
                   "events { worker_connections 4096; }\n"
                   f"http {{ include /etc/nginx/mime.types; access_log off; sendfile on;\n"
                   f"  {temps}scgi_temp_path {run}/scgi;\n"
                   f"  server {{ listen 127.0.0.1:{port} http2; root {docroot}; autoindex on; }} }}\n")
    return f"nginx -p {run}/ -e {run}/error.log -c {run}/nginx.conf", port


def run_one(attack, name, command, args, docroot, workdir):
    function, need, probe_path = ATTACKS[attack]
    row = dict(attack=attack, server=name, probe_ok=None, worst_ms=None, peak_rss_mb=None, peak_fds=None,
               rss_after_mb=None, fds_after=None, notes="")
    port = h2_only = None
    if attack == "h2-zero-window" and args.nginx_h2 and name == "nginx":
        (command, port), h2_only = nginx_h2_command(docroot, workdir), True
    server = Server(name, command, docroot, workdir, port)
    try:
        server.wait_ready()
        if need and not capable(server, need):
            row.update(probe_ok="n/a", notes="n/a: " + {"cgi": "no CGI", "h2": "no h2c"}[need])
            return row
        sampler, probe = Sampler(server), Probe(server.port, probe_path, h2=h2_only)
        sampler.start()
        probe.start()
        try:
            ctx = types.SimpleNamespace(server=server, probe=probe, docroot=docroot, secs=args.secs)
            ctx.deadline = now() + args.secs
            row["notes"] = function(ctx)
        finally:
            probe.stop()
            if server.proc.poll() is None:
                time.sleep(2)
            sampler.stop()
        if server.proc.poll() is None:
            rss, row["fds_after"] = server.usage()
            row["rss_after_mb"] = round(rss / 1024, 1)
            row["notes"] += f"; fds after {row['fds_after']}"
        elif attack not in ("shutdown", "cgi-setsid"):
            row["notes"] += f"; SERVER EXITED ({server.proc.returncode})"
        row.update(probe_ok=round(100 * probe.ok / probe.total) if probe.total else None,
                   worst_ms=round(probe.worst), peak_rss_mb=round(sampler.peak_rss / 1024, 1),
                   peak_fds=sampler.peak_fds)
        row["notes"] += " (probe: h2)" if h2_only else ""
    except (RuntimeError, OSError) as err:
        row["notes"] = f"failed: {err}".replace("\n", " ")[:300]
    finally:
        server.stop()
        reap_daemon(docroot)
    return row


def table(rows):
    lines = [
        "| attack | server | probe ok % | worst ms | peak RSS MB | peak fds | RSS after MB | notes |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        cells = [r["attack"], r["server"], r["probe_ok"], r["worst_ms"], r["peak_rss_mb"], r["peak_fds"],
                 r["rss_after_mb"], r["notes"].replace("|", "/")]
        lines.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        usage=__doc__.split("\n\n")[1].strip(),
        description="HTTP servers under hostile load (see the module docstring).",
    )
    parser.add_argument("-s", dest="servers", action="append")
    parser.add_argument("-a", dest="attacks", default=",".join(ATTACKS))
    parser.add_argument("--secs", type=float, default=20)
    parser.add_argument("--json")
    parser.add_argument("--nginx-h2", action="store_true")
    args = parser.parse_args(argv)
    args.attacks, args.servers = args.attacks.split(","), [s.partition("=") for s in args.servers or
                                                           [f"{n}={c}" for n, c in DEFAULT_SERVERS]]
    if not all(name and sep and command for name, sep, command in args.servers):
        parser.error("-s takes NAME=COMMAND")
    if len({name for name, _, _ in args.servers}) != len(args.servers):
        parser.error("server names must differ")
    if not set(args.attacks) <= set(ATTACKS):
        parser.error(f"the attacks are {', '.join(ATTACKS)}")
    if not 1 <= args.secs <= 3600:
        parser.error("--secs takes 1 to 3600")
    return args


def main(argv):
    args = parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
    workdir = tempfile.mkdtemp(prefix="basehttp-hostile.")
    docroot = os.path.join(workdir, "root")
    os.mkdir(docroot)
    for path in (workdir, docroot):
        os.chmod(path, 0o755)  # CGI scripts run as nobody when the server is root
    rows = []
    try:
        make_docroot(docroot, "listing-non-readers" in args.attacks)
        print("# " + " ".join(map(shlex.quote, sys.argv)), flush=True)
        for name, _, command in args.servers:
            print(f"# {name}: {command}", flush=True)
        for attack in args.attacks:
            for name, _, command in args.servers:
                print(f"  {attack} {name} ...", file=sys.stderr, flush=True)
                rows.append(run_one(attack, name, command, args, docroot, workdir))
                print(f"    {rows[-1]['notes']}", file=sys.stderr, flush=True)
    finally:
        reap_daemon(docroot)
        shutil.rmtree(workdir, ignore_errors=True)
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
