#!/usr/bin/env python3
"""upload.py -- basehttp --upload and --compress side by side with uploadserver and nginx.

    benches/upload.py [--size SIZE] [--rss-size SIZE] [--rounds N] [--secs N] [--clients N]

Measures, in one run, every server on 127.0.0.1 only:

 1. Upload throughput (MiB/s, the median of ROUNDS interleaved rounds A B C D A B C D ...) of
    one file of --size random bytes (default 1G) with curl, for
      basehttp --upload     `curl -T FILE http://H/NAME`                 (PUT, answered 201)
      basehttp --upload     `curl -F files=@FILE http://H/upload`        (multipart, 204)
      uploadserver          `curl -F files=@FILE http://H/upload`        (multipart, 204;
                            Python's `uploadserver` package, which has no PUT of its own)
      nginx (dav module)    `curl -T FILE http://H/NAME`                 (PUT, dav_methods PUT)
    Every uploaded file's size is checked, and its sha256 in the first round, then it is
    deleted. The server's CPU time (user + system, its process tree) per GiB is reported too.
    curl runs with `-H 'Expect:'` so that no server waits for curl's 1 s 100-continue timeout
    (uploadserver speaks HTTP/1.0 and never sends 100 Continue).
 2. The peak RSS (sum of VmHWM over the process tree; VmRSS is also polled every 50 ms) of a
    freshly started server of each kind while it receives one upload of --rss-size random
    bytes (default 2G), same four requests as above. The peak of the servers of measurement 1
    (after their --size uploads) is shown too, so growth with the upload size is visible.
 3. basehttp --compress against basehttp without it: CLIENTS threads (http.client, keep-alive,
    `Accept-Encoding: gzip`) fetch a 1,000-entry and a 20,000-entry directory listing again
    and again for SECS seconds, once reading each answer at once ("fast") and once reading it
    4 KiB every 5 ms with a 16 KiB receive buffer ("slow"). A fresh server for each row;
    reported: requests/s, MiB/s on the wire, the share of answers with Content-Encoding: gzip
    (each thread's first answer is also decoded and its entries counted), errors, server CPU
    per request and the peak RSS.

Every table has a ratio column: basehttp divided by the row's server for the same request
(measurements 1 and 2), --compress divided by plain (measurement 3). When the machine has
two CPUs or more and taskset is installed, servers run on CPU 0 and this script with its
curl clients on CPU 1 (--cpus). The random files, document roots, nginx prefix and logs
live in a temporary directory that is removed at the end.

Needs: Python 3.11 (stdlib only), curl, nginx with the dav module, taskset (util-linux),
the release binary (target/release/basehttp, or $BASEHTTP / --bin), and the `uploadserver`
package: if `import uploadserver` fails, it is installed with `python3 -m venv` + pip into
${XDG_CACHE_HOME:-~/.cache}/basehttp-bench/uploadserver-venv (--venv; needs python3-venv).

    apt-get install -y curl nginx python3-venv util-linux
    cargo build --release -p basehttp-cli        # or pass --build
    benches/upload.py                            # defaults: ~5 min, ~5 GiB of free disk
    benches/upload.py --size 256M --rss-size 1G --secs 5     # a quicker run

Options:
    --size SIZE       the file of measurement 1 (K, M, G suffixes are powers of 1024; 1G)
    --rss-size SIZE   the file of measurement 2 (2G)
    --rounds N        rounds of measurement 1 (3)
    --secs N          seconds per row of measurement 3 (10)
    --clients N       client threads of measurement 3 (32)
    --max-time N      curl's --max-time per upload, seconds (300)
    --cpus S,C        the servers' CPU and the clients' CPU (0,1)
    --bin PATH        the basehttp binary (default $BASEHTTP or target/release/basehttp)
    --build           run `cargo build --release -p basehttp-cli` first
    --venv DIR        where to create the uploadserver venv when it is not importable
    --skip NAMES      comma-separated: uploadserver, nginx, compress

Safety: traffic goes to 127.0.0.1 only; every curl is bounded by --max-time, every client
thread by --secs and a request cap; each server runs in its own session and only its process
group is signalled.
"""

import argparse
import gzip
import hashlib
import http.client
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchproc import stop_group, free_port, pinned, stat_fields, proc_tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
MIB = 1 << 20
GIB = 1 << 30
now = time.monotonic


def parse_size(text):
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text, re.I)
    if not match:
        raise argparse.ArgumentTypeError(f"invalid size: {text!r}")
    scale = 1024 ** "BKMGT".index((match.group(2) or "b").upper())
    size = int(float(match.group(1)) * scale)
    if size <= 0:
        raise argparse.ArgumentTypeError(f"invalid size: {text!r}")
    return size


def parse_args(argv):
    parser = argparse.ArgumentParser(
        usage=__doc__.split("\n\n")[1].strip(),
        description="basehttp uploads and compressed listings against peers (see the module docstring).",
    )
    parser.add_argument("--size", type=parse_size, default=GIB)
    parser.add_argument("--rss-size", type=parse_size, default=2 * GIB)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--secs", type=float, default=10)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--max-time", type=int, default=300)
    parser.add_argument("--cpus", default="0,1")
    parser.add_argument("--bin", default=os.environ.get("BASEHTTP", os.path.join(TARGET, "release", "basehttp")))
    parser.add_argument("--build", action="store_true")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    parser.add_argument("--venv", default=os.path.join(cache, "basehttp-bench", "uploadserver-venv"))
    parser.add_argument("--skip", default="")
    args = parser.parse_args(argv)
    args.server_cpu, _, args.client_cpu = args.cpus.partition(",")
    args.skip = {name for name in args.skip.split(",") if name}
    if args.skip - {"uploadserver", "nginx", "compress"}:
        parser.error(f"--skip takes uploadserver, nginx, compress, not {','.join(args.skip)}")
    if args.rounds < 1 or args.clients < 1 or args.secs <= 0:
        parser.error("--rounds, --clients and --secs must be positive")
    return args


# ---------------------------------------------------------------- servers and /proc


def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Server:
    def __init__(self, name, argv, workdir, cpu, port):
        self.name, self.port, self.argv = name, port, argv
        self.log_path = os.path.join(workdir, f"{name}.{port}.log")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                pinned(cpu, argv), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=dict(os.environ, TMPDIR=workdir), start_new_session=True,
            )

    def wait_ready(self, seconds=15):
        deadline = now() + seconds
        while now() < deadline and self.proc.poll() is None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/")
                conn.getresponse().read()
                conn.close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} is not answering: {' '.join(self.argv)}\n{self.log_tail()}")

    def log_tail(self, size=2048):
        with open(self.log_path, "rb") as log:
            log.seek(max(os.path.getsize(self.log_path) - size, 0))
            return log.read().decode(errors="replace")

    def pids(self):
        return proc_tree(self.proc.pid) if self.proc.poll() is None else []

    def rss_kib(self):
        return sum(status_kib(pid, "VmRSS") for pid in self.pids())

    def hwm_kib(self):
        """The sum of VmHWM (peak RSS) over the server's process tree, now."""
        return sum(status_kib(pid, "VmHWM") for pid in self.pids())

    def cpu_secs(self):
        ticks = 0
        for pid in self.pids():
            fields = stat_fields(pid)
            if len(fields) > 13:
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self):
        stop_group(self.proc)


class RssPoller(threading.Thread):
    """Polls the server tree's VmRSS every 50 ms until stop(); .peak is the largest sum."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.peak, self.halt = server, 0, threading.Event()

    def run(self):
        for _ in range(10_000_000):
            self.peak = max(self.peak, self.server.rss_kib())
            if self.halt.wait(0.05):
                return

    def stop(self):
        self.halt.set()
        self.join(5)
        return self.peak


# ---------------------------------------------------------------- the servers of this bench


class Kinds:
    """Builds the argv of each kind of server, given a document root and a port."""

    def __init__(self, args, workdir):
        self.args, self.workdir = args, workdir
        self.uploadserver_python = None
        self.nginx = None

    def basehttp(self, docroot, port, *extra):
        return [self.args.bin, "-q", "-b", "127.0.0.1", "-p", "HTTP/1.1", "-d", docroot, str(port), *extra]

    def uploadserver(self, docroot, port):
        return [self.uploadserver_python, "-m", "uploadserver", "-b", "127.0.0.1", "-d", docroot, str(port)]

    def nginx_argv(self, docroot, port):
        prefix = tempfile.mkdtemp(prefix="nginx.", dir=self.workdir)
        user = "user root;" if os.getuid() == 0 else ""
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as out:
            out.write(f"""worker_processes 1;
{user}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_max_body_size 0;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {docroot};
        location / {{
            dav_methods PUT;
            dav_access user:rw group:r all:r;
        }}
    }}
}}
""")
        return [self.nginx, "-p", prefix + "/", "-e", f"{prefix}/error.log", "-c", conf, "-g", "daemon off;"]


def find_uploadserver(args):
    """A python that can `import uploadserver`, installing it into a venv if need be; or None."""
    probe = [sys.executable, "-c", "import uploadserver"]
    if subprocess.run(probe, capture_output=True).returncode == 0:
        return sys.executable
    python = os.path.join(args.venv, "bin", "python")
    if subprocess.run([python, "-c", "import uploadserver"], capture_output=True).returncode == 0:
        return python
    print(f"installing uploadserver into {args.venv}", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", args.venv], check=True, timeout=300)
        subprocess.run([python, "-m", "pip", "install", "-q", "uploadserver"], check=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as err:
        print(f"uploadserver unavailable ({err}); its rows are skipped", file=sys.stderr)
        return None
    return python


def find_nginx():
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not nginx:
        print("nginx not found; its rows are skipped", file=sys.stderr)
        return None
    info = subprocess.run([nginx, "-V"], capture_output=True, text=True).stderr
    if "http_dav_module" not in info:
        print("nginx lacks the dav module; its rows are skipped", file=sys.stderr)
        return None
    return nginx


def check_binary(args):
    if args.build:
        subprocess.run(["cargo", "build", "--release", "-p", "basehttp-cli"], cwd=ROOT, check=True)
    if not os.access(args.bin, os.X_OK):
        raise SystemExit(f"{args.bin} is missing: cargo build --release -p basehttp-cli (or --build)")
    helptext = subprocess.run([args.bin, "--help"], capture_output=True, text=True).stdout
    for flag in ("--upload", "--compress"):
        if flag not in helptext:
            raise SystemExit(f"{args.bin} has no {flag}: rebuild it (cargo build --release -p basehttp-cli)")


def versions(args, kinds):
    out = []
    for argv in ([args.bin, "--version"], [kinds.nginx or "nginx", "-v"], ["curl", "--version"]):
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            line = (res.stdout or res.stderr).splitlines()[0].strip()
            out.append(" ".join(line.split()[:3]) if argv[0] == "curl" else line)
        except (OSError, IndexError, subprocess.SubprocessError):
            pass
    if kinds.uploadserver_python:
        res = subprocess.run(
            [kinds.uploadserver_python, "-c", "import importlib.metadata as m; print(m.version('uploadserver'))"],
            capture_output=True, text=True,
        )
        out.append(f"uploadserver {res.stdout.strip()} on Python {python_version(kinds.uploadserver_python)}")
    return out


def python_version(python):
    res = subprocess.run([python, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True)
    return res.stdout.strip()


def machine_info():
    model = ""
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as info:
            mem = int(info.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return f"nproc {os.cpu_count()}, kernel {platform.release()}, {model}, {mem} MiB RAM"


def steal_and_total():
    with open("/proc/stat") as stat:
        fields = [int(n) for n in stat.readline().split()[1:]]
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


# ---------------------------------------------------------------- files


def make_random_file(path, size):
    """SIZE bytes of os.urandom at PATH (written, not sparse); returns its sha256 hex digest."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        while left > 0:
            chunk = os.urandom(min(left, 4 * MIB))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        while chunk := src.read(4 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def make_listing(path, entries):
    os.makedirs(path)
    for i in range(entries):
        with open(os.path.join(path, f"entry-{i:05d}-lorem-ipsum-dolor.txt"), "wb"):
            pass


# ---------------------------------------------------------------- uploads


REQUESTS = {  # name -> (kind, method)
    "basehttp PUT": ("basehttp", "PUT"),
    "basehttp multipart": ("basehttp", "multipart"),
    "uploadserver multipart": ("uploadserver", "multipart"),
    "nginx PUT": ("nginx", "PUT"),
}


def curl_argv(args, method, src, name, port):
    argv = ["curl", "-sS", "-o", "/dev/null", "-H", "Expect:", "--max-time", str(args.max_time)]
    argv += ["-w", "%{http_code} %{time_total} %{size_upload}"]
    if method == "PUT":
        return argv + ["-T", src, f"http://127.0.0.1:{port}/{name}"]
    return argv + ["-F", f"files=@{src};filename={name}", f"http://127.0.0.1:{port}/upload"]


def upload(args, server, method, src, src_size, src_sha, docroot, name, check_sha):
    """One upload with curl; a dict with mibs, cpu, status, ok and a note."""
    os.sync()
    cpu0 = server.cpu_secs()
    try:
        res = subprocess.run(
            curl_argv(args, method, src, name, server.port),
            capture_output=True, text=True, timeout=args.max_time + 30,
        )
        out = res.stdout.split()
    except subprocess.TimeoutExpired:
        res, out = None, []
    cpu = server.cpu_secs() - cpu0
    dest = os.path.join(docroot, name)
    got = os.path.getsize(dest) if os.path.exists(dest) else -1
    result = {"mibs": None, "cpu": cpu, "ok": False, "sha": None, "note": ""}
    if len(out) != 3:
        result["note"] = f"curl failed: {res.stderr.strip() if res else 'timeout'}"
    else:
        status, secs = int(out[0]), float(out[1])
        result["status"] = status
        if not 200 <= status < 300:
            result["note"] = f"HTTP {status}"
        elif got != src_size:
            result["note"] = f"size {got} != {src_size}"
        else:
            result["ok"] = True
            result["mibs"] = src_size / MIB / secs
            if check_sha:
                result["sha"] = sha256_file(dest) == src_sha
                result["ok"] = result["sha"]
                if not result["sha"]:
                    result["note"] = "sha256 differs"
    for entry in os.listdir(docroot):  # the upload, and anything left behind (temp files)
        path = os.path.join(docroot, entry)
        if os.path.isfile(path):
            os.unlink(path)
    return result


def start(kinds, kind, docroot, workdir, args, extra=()):
    port = free_port()
    if kind == "basehttp":
        argv = kinds.basehttp(docroot, port, "--upload", *extra)
    elif kind == "uploadserver":
        argv = kinds.uploadserver(docroot, port)
    else:
        argv = kinds.nginx_argv(docroot, port)
    server = Server(kind, argv, workdir, args.server_cpu, port)
    server.wait_ready()
    return server


def measure_throughput(args, kinds, names, workdir, src, src_sha):
    servers, docroots = {}, {}
    try:
        for kind in dict.fromkeys(REQUESTS[name][0] for name in names):
            docroots[kind] = os.path.join(workdir, f"root-{kind}")
            os.makedirs(docroots[kind])
            servers[kind] = start(kinds, kind, docroots[kind], workdir, args)
        results = {name: [] for name in names}
        for round_ in range(1, args.rounds + 1):
            for name in names:
                kind, method = REQUESTS[name]
                res = upload(
                    args, servers[kind], method, src, args.size, src_sha, docroots[kind],
                    f"up-{round_}-{method}.bin", check_sha=round_ == 1,
                )
                results[name].append(res)
                shown = f"{res['mibs']:,.0f} MiB/s" if res["mibs"] else res["note"]
                print(f"  throughput round {round_} {name}: {shown}", file=sys.stderr)
        hwm = {kind: server.hwm_kib() for kind, server in servers.items()}
        commands = {kind: shlex.join(server.argv) for kind, server in servers.items()}
        return results, hwm, commands
    finally:
        for server in servers.values():
            server.stop()


def measure_rss(args, kinds, names, workdir, src, src_sha):
    rows = {}
    for name in names:
        kind, method = REQUESTS[name]
        docroot = tempfile.mkdtemp(prefix=f"rss-{kind}.", dir=workdir)
        server = start(kinds, kind, docroot, workdir, args)
        try:
            idle = server.rss_kib()
            poller = RssPoller(server)
            poller.start()
            res = upload(args, server, method, src, args.rss_size, src_sha, docroot, "big.bin", check_sha=False)
            res["polled"] = poller.stop()
            res["hwm"] = server.hwm_kib()
            res["idle"] = idle
            res["threads"] = sum(len(os.listdir(f"/proc/{pid}/task")) for pid in server.pids())
            rows[name] = res
            print(f"  rss {name}: peak {res['hwm'] / 1024:,.1f} MiB {res['note']}", file=sys.stderr)
        finally:
            server.stop()
            shutil.rmtree(docroot, ignore_errors=True)
    return rows


# ---------------------------------------------------------------- listings


class Conn(http.client.HTTPConnection):
    """An HTTPConnection with an optional small receive buffer (set before connect)."""

    def __init__(self, port, rcvbuf=None):
        super().__init__("127.0.0.1", port, timeout=10)
        self.rcvbuf = rcvbuf

    def connect(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        sock.settimeout(self.timeout)
        try:
            sock.connect((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock


def listing_client(port, path, entries, slow, deadline, stats):
    """Fetches PATH until DEADLINE; adds counts to STATS (a dict of this thread's own)."""
    conn = Conn(port, 16384 if slow else None)
    first = True
    for _ in range(1_000_000):
        if now() >= deadline:
            break
        try:
            conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
            resp = conn.getresponse()
            encoding = resp.getheader("Content-Encoding", "")
            chunks, size, cut = [], 0, False
            while True:
                chunk = resp.read(4096) if slow else resp.read()
                if not chunk:
                    break
                size += len(chunk)
                if first:
                    chunks.append(chunk)
                if not slow:
                    break
                if now() >= deadline + 2:
                    cut = True
                    break
                time.sleep(0.005)
            stats["bytes"] += size
            if cut:
                break
            if resp.status != 200:
                stats["errors"] += 1
            stats["requests"] += 1
            stats["gzip"] += encoding == "gzip"
            if first:
                first = False
                body = b"".join(chunks)
                if encoding == "gzip":
                    body = gzip.decompress(body)
                stats["entries_ok"] &= body.count(b"entry-") >= 2 * entries
            if resp.will_close:
                conn.close()
        except (OSError, http.client.HTTPException, EOFError, gzip.BadGzipFile) as err:
            stats["errors"] += 1
            stats["last_error"] = repr(err)
            conn.close()
            time.sleep(0.01)
    conn.close()


def measure_listings(args, kinds, workdir):
    root = os.path.join(workdir, "listings")
    sizes = (1000, 20000)
    for entries in sizes:
        make_listing(os.path.join(root, f"l{entries}"), entries)
    rows, commands = [], {}
    for entries in sizes:
        for slow in (False, True):
            for compress in (False, True):
                port = free_port()
                argv = kinds.basehttp(root, port, *(["--compress"] if compress else []))
                name = "basehttp --compress" if compress else "basehttp"
                commands[name] = shlex.join(argv)
                server = Server(name, argv, workdir, args.server_cpu, port)
                try:
                    server.wait_ready()
                    threads, stats = [], []
                    cpu0 = server.cpu_secs()
                    started = now()
                    deadline = started + args.secs
                    for _ in range(args.clients):
                        stat = {"requests": 0, "bytes": 0, "errors": 0, "gzip": 0, "entries_ok": True}
                        stats.append(stat)
                        thread = threading.Thread(
                            target=listing_client,
                            args=(port, f"/l{entries}/", entries, slow, deadline, stat),
                            daemon=True,
                        )
                        thread.start()
                        threads.append(thread)
                    for thread in threads:
                        thread.join(max(deadline + 30 - now(), 0.1))
                    elapsed = now() - started
                    cpu = server.cpu_secs() - cpu0
                    total = {key: sum(s[key] for s in stats) for key in ("requests", "bytes", "errors", "gzip")}
                    errors = [s["last_error"] for s in stats if "last_error" in s]
                    row = {
                        "entries": entries, "slow": slow, "name": name, "compress": compress,
                        "rps": total["requests"] / elapsed, "mibs": total["bytes"] / MIB / elapsed,
                        "requests": total["requests"], "gzip": total["gzip"], "errors": total["errors"],
                        "entries_ok": all(s["entries_ok"] for s in stats),
                        "cpu_ms": 1000 * cpu / max(total["requests"], 1),
                        "hwm": server.hwm_kib(), "alive": sum(t.is_alive() for t in threads),
                        "last_error": errors[0] if errors else "",
                    }
                    rows.append(row)
                    print(
                        f"  listing {entries} {'slow' if slow else 'fast'} {name}: {row['rps']:,.0f} req/s, "
                        f"peak {row['hwm'] / 1024:,.1f} MiB, errors {row['errors']} {row['last_error']}",
                        file=sys.stderr,
                    )
                finally:
                    server.stop()
    return rows, commands


# ---------------------------------------------------------------- tables


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "-"


def table_throughput(args, names, results):
    lines = [
        "",
        f"Upload throughput, one file of {args.size / MIB:,.0f} MiB, median of {args.rounds} interleaved rounds",
        "",
        "| server | request | MiB/s | min–max | server CPU s/GiB | verified | basehttp ÷ this |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    medians = {}
    for name in names:
        speeds = [r["mibs"] for r in results[name] if r["mibs"]]
        medians[name] = statistics.median(speeds) if speeds else None
    for name in names:
        kind, method = REQUESTS[name]
        runs = results[name]
        speeds = [r["mibs"] for r in runs if r["mibs"]]
        ok = sum(r["ok"] for r in runs)
        shas = [r["sha"] for r in runs if r["sha"] is not None]
        verified = f"size {sum(r['mibs'] is not None for r in runs)}/{len(runs)}, sha256 {sum(shas)}/{len(shas)}"
        notes = "; ".join(sorted({r["note"] for r in runs if r["note"]}))
        if notes:
            verified += f" ({notes})"
        base = medians.get(f"basehttp {method}")
        cpu = statistics.median(r["cpu"] / (args.size / GIB) for r in runs)
        if not speeds:
            lines.append(f"| {kind} | {method} | failed | | {cpu:.2f} | {verified} | - |")
            continue
        lines.append(
            f"| {kind} | {method} | {medians[name]:,.0f} | {min(speeds):,.0f}–{max(speeds):,.0f} "
            f"| {cpu:.2f} | {verified} | {ratio(base, medians[name]) if ok else '-'} |"
        )
    return "\n".join(lines)


def table_rss(args, names, rows, hwm1):
    lines = [
        "",
        f"Peak RSS while receiving one upload of {args.rss_size / MIB:,.0f} MiB (a fresh server each)",
        "",
        f"| server | request | idle MiB | peak RSS MiB (VmHWM) | max polled VmRSS MiB | peak after {args.rounds}×{args.size / MIB:,.0f} MiB (measurement 1) | threads | MiB/s | verified | basehttp ÷ this (peak) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for name in names:
        kind, method = REQUESTS[name]
        r = rows[name]
        base = rows.get(f"basehttp {method}", {}).get("hwm")
        mibs = f"{r['mibs']:,.0f}" if r["mibs"] else "-"
        verified = "size ok" if r["ok"] else f"FAILED ({r['note']})"
        before = hwm1.get(kind)
        lines.append(
            f"| {kind} | {method} | {r['idle'] / 1024:,.1f} | {r['hwm'] / 1024:,.1f} | {r['polled'] / 1024:,.1f} "
            f"| {before / 1024:,.1f} | {r['threads']} | {mibs} | {verified} | {ratio(base, r['hwm'])} |"
            if before is not None else
            f"| {kind} | {method} | {r['idle'] / 1024:,.1f} | {r['hwm'] / 1024:,.1f} | {r['polled'] / 1024:,.1f} "
            f"| - | {r['threads']} | {mibs} | {verified} | {ratio(base, r['hwm'])} |"
        )
    lines.append("")
    lines.append(
        "(measurement 1's column is the VmHWM of the long-lived server after all its uploads of that "
        "size, both PUT and multipart for basehttp)"
    )
    return "\n".join(lines)


def table_listings(args, rows):
    lines = [
        "",
        f"Directory listings, {args.clients} keep-alive clients with Accept-Encoding: gzip, {args.secs:g} s per row, "
        "a fresh server each; fast = read each answer at once, slow = 4 KiB every 5 ms, SO_RCVBUF 16 KiB",
        "",
        "| entries | reading | server | req/s | MiB/s on the wire | gzip answers | entries ok | errors | server CPU ms/req | peak RSS MiB | --compress ÷ plain (req/s) | --compress ÷ plain (RSS) |",
        "|---:|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    plain = {(r["entries"], r["slow"]): r for r in rows if not r["compress"]}
    for r in rows:
        base = plain.get((r["entries"], r["slow"]))
        ratios = (
            f"{ratio(r['rps'], base['rps'])} | {ratio(r['hwm'], base['hwm'])}" if r["compress"] and base else "| "
        )
        errors = f"{r['errors']}" + (f" ({r['last_error'][:60]})" if r["errors"] else "")
        lines.append(
            f"| {r['entries']:,} | {'slow' if r['slow'] else 'fast'} | {r['name']} | {r['rps']:,.0f} | {r['mibs']:,.1f} "
            f"| {r['gzip']}/{r['requests']} | {'yes' if r['entries_ok'] else 'NO'} | {errors} | {r['cpu_ms']:.2f} "
            f"| {r['hwm'] / 1024:,.1f} | {ratios} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def main(argv):
    args = parse_args(argv)
    args.bin = os.path.abspath(args.bin)
    check_binary(args)
    if not shutil.which("curl"):
        raise SystemExit("curl is not installed (apt-get install curl)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if (os.cpu_count() or 1) > 1 and shutil.which("taskset"):
        os.sched_setaffinity(0, {int(args.client_cpu)})  # this script, its threads and its curls
    workdir = tempfile.mkdtemp(prefix="basehttp-upload-bench.")
    kinds = Kinds(args, workdir)
    started = now()
    try:
        if "uploadserver" not in args.skip:
            kinds.uploadserver_python = find_uploadserver(args)
        if "nginx" not in args.skip:
            kinds.nginx = find_nginx()
        names = [
            name for name, (kind, _) in REQUESTS.items()
            if kind == "basehttp"
            or (kind == "uploadserver" and kinds.uploadserver_python)
            or (kind == "nginx" and kinds.nginx)
        ]
        data = os.path.join(workdir, "data")
        os.makedirs(data)
        print(f"writing {args.size / MIB:,.0f} MiB and {args.rss_size / MIB:,.0f} MiB of random bytes", file=sys.stderr)
        src = os.path.join(data, "payload.bin")
        src_sha = make_random_file(src, args.size)
        if args.rss_size == args.size:
            big, big_sha = src, src_sha
        else:
            big = os.path.join(data, "big.bin")
            big_sha = make_random_file(big, args.rss_size)
        os.sync()

        steal0, total0 = steal_and_total()
        results, hwm1, commands = measure_throughput(args, kinds, names, workdir, src, src_sha)
        rss_rows = measure_rss(args, kinds, names, workdir, big, big_sha)
        listing_rows, listing_commands = ([], {}) if "compress" in args.skip else measure_listings(args, kinds, workdir)

        print("# " + " ".join([sys.argv[0]] + argv))
        print(f"# machine: {machine_info()}")
        pinning = (
            f"servers on CPU {args.server_cpu}, clients on CPU {args.client_cpu} (taskset)"
            if (os.cpu_count() or 1) > 1 and shutil.which("taskset") else "no CPU pinning"
        )
        print(f"# {pinning}; {'; '.join(versions(args, kinds))}")
        for kind, command in {**commands, **listing_commands}.items():
            print(f"# {kind}: {command.replace(workdir, '$TMP')}")
        for method in ("PUT", "multipart"):
            print("# curl: " + shlex.join(curl_argv(args, method, "FILE", "NAME", "PORT")).replace("127.0.0.1:PORT", "H"))
        print(table_throughput(args, names, results))
        print(table_rss(args, names, rss_rows, hwm1))
        if listing_rows:
            print(table_listings(args, listing_rows))
        steal1, total1 = steal_and_total()
        steal = 100 * (steal1 - steal0) / max(total1 - total0, 1)
        print(f"\nCPU time stolen by the hypervisor during the runs: {steal:.0f} %; total {now() - started:,.0f} s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
