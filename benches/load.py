#!/usr/bin/env python3
"""load.py -- HTTP servers side by side under wrk, in one interleaved run.

    benches/load.py [options] -s NAME=COMMAND [-s NAME=COMMAND ...]

Each COMMAND is a shell command line that serves HTTP on 127.0.0.1:{PORT}; these are
substituted before it starts:

    {PORT}     a free port                 {DIR}      the document root (--dir)
    {ROOT}     this repository             {RELEASE}  ROOT/target/release

The document root gets benches/fixtures.sh's files first (small.html, medium.bin, large.bin,
hello.txt, many/, cgi-bin/). Every server is started once, pinned to one CPU (taskset), and
answers each URL with 200 before anything is measured. Then each (URL, mode) is warmed up and
measured in ROUNDS rounds, the servers interleaved (A B C A B C ...), one wrk run of SECS
seconds each with wrk pinned to the other CPU. The table gives per server the median req/s,
the spread, MB/s, the median p99 latency, the errors (socket errors and non-2xx/3xx answers),
the peak RSS of the server's process tree (sum of VmHWM at the end) and the ratio of medians
to the baseline server (-b). Servers' output goes to log files in a temporary directory that
is removed at the end. Ratios are what to quote: absolute figures move with the machine.

Options:
    -s NAME=COMMAND  a server (repeat; at least one)
    -u URL           a path to request (repeat; default /small.html)
    -c N             wrk connections (default 32)
    -m MODES         ka (keep-alive), close (a connection per request), or ka,close (default ka)
    -r ROUNDS        rounds (default 3)
    -d SECS          seconds per measured run (default 4)
    -w SECS          warm-up seconds per server, URL and mode (default 1)
    -T SECS          wrk's per-request timeout (default 5)
    -b NAME          the baseline of the ratio column (default: the first server)
    --dir DIR        the document root (default target/bench-root)
    --cpus S,C       the server's CPU and wrk's CPU (default 1,0)

Safety: traffic goes to 127.0.0.1 only; every wrk run is bounded (SECS + timeout + 20 s);
each server runs in its own session and only those process groups are signalled.

Example (the README's Performance section has the full set):

    apt-get install -y wrk nginx
    cargo build --release
    benches/load.py -u /small.html -b nginx \\
      -s 'basehttp={RELEASE}/basehttp {PORT} -b 127.0.0.1 -d {DIR} -p HTTP/1.1 -q' \\
      -s 'nginx={ROOT}/benches/servers/nginx.sh {PORT} {DIR}'
"""

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def parse_args(argv):
    parser = argparse.ArgumentParser(
        usage=__doc__.split("\n\n")[1].strip(),
        description="HTTP servers side by side under wrk (see the module docstring).",
    )
    parser.add_argument("-s", dest="servers", action="append", required=True)
    parser.add_argument("-u", dest="urls", action="append")
    parser.add_argument("-c", dest="conns", type=int, default=32)
    parser.add_argument("-m", dest="modes", default="ka")
    parser.add_argument("-r", dest="rounds", type=int, default=3)
    parser.add_argument("-d", dest="secs", type=int, default=4)
    parser.add_argument("-w", dest="warm", type=int, default=1)
    parser.add_argument("-T", dest="timeout", type=int, default=5)
    parser.add_argument("-b", dest="baseline")
    parser.add_argument("--dir", default=os.path.join(TARGET, "bench-root"))
    parser.add_argument("--cpus", default="1,0")
    args = parser.parse_args(argv)
    args.urls = args.urls or ["/small.html"]
    args.modes = args.modes.split(",")
    if any(mode not in ("ka", "close") for mode in args.modes):
        parser.error("-m takes ka, close or ka,close")
    servers = []
    for spec in args.servers:
        name, sep, command = spec.partition("=")
        if not sep or not name or not command:
            parser.error(f"-s takes NAME=COMMAND, not {spec!r}")
        servers.append((name, command))
    args.servers = servers
    names = [name for name, _ in servers]
    if len(set(names)) != len(names):
        parser.error("server names must differ")
    args.baseline = args.baseline or names[0]
    if args.baseline not in names:
        parser.error(f"-b {args.baseline}: no such server")
    args.server_cpu, _, args.client_cpu = args.cpus.partition(",")
    return args


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pinned(cpu, argv):
    """ARGV on CPU when the machine has more than one and taskset is there."""
    if (os.cpu_count() or 1) > 1 and shutil.which("taskset"):
        return ["taskset", "-c", cpu] + argv
    return argv


class Server:
    def __init__(self, name, command, args, workdir):
        self.name = name
        self.port = free_port()
        self.command = (
            command.replace("{PORT}", str(self.port))
            .replace("{DIR}", args.dir)
            .replace("{ROOT}", ROOT)
            .replace("{RELEASE}", os.path.join(TARGET, "release"))
        )
        self.log_path = os.path.join(workdir, f"{name}.log")
        env = dict(os.environ, TMPDIR=workdir)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                pinned(args.server_cpu, ["sh", "-c", "exec " + self.command]),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
            )

    def wait_ready(self, urls, seconds=15):
        deadline = time.monotonic() + seconds
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited:\n{self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{self.name} is not listening after {seconds} s:\n{self.log_tail()}")
                time.sleep(0.05)
        for url in urls:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                conn.request("GET", url)
                status = conn.getresponse().status
            finally:
                conn.close()
            if status != 200:
                raise SystemExit(f"{self.name} answers {url} with {status}, not 200")

    def log_tail(self, size=2048):
        with open(self.log_path, "rb") as log:
            log.seek(max(os.path.getsize(self.log_path) - size, 0))
            return log.read().decode(errors="replace")

    def peak_rss_kib(self):
        """The sum of VmHWM over the server and its descendants, now."""
        children = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as stat:
                        ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry))
        total, todo = 0, [self.proc.pid]
        while todo:
            pid = todo.pop()
            todo.extend(children.get(pid, []))
            try:
                with open(f"/proc/{pid}/status") as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total

    def stop(self):
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                pass


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
SIZES = {"B": 1 / 2**20, "KB": 1 / 2**10, "MB": 1.0, "GB": 2**10}


def parse_wrk(out):
    """req/s, MiB/s, p99 in ms and the error count from wrk --latency's output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not rps:
        return None
    mbs = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(\w+)", out, re.M)
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(rps.group(1)),
        "mbs": float(mbs.group(1)) * SIZES.get(mbs.group(2), 0) if mbs else 0.0,
        "p99": float(p99.group(1)) * UNITS.get(p99.group(2), 0) if p99 else 0.0,
        "errors": errors + (int(non2xx.group(1)) if non2xx else 0),
    }


def wrk_argv(args, url, mode, port, secs):
    argv = ["wrk", "-t1", f"-c{args.conns}", f"-d{secs}s", f"--timeout={args.timeout}s"]
    argv += ["--latency"] + (["-H", "Connection: close"] if mode == "close" else [])
    return pinned(args.client_cpu, argv + [f"http://127.0.0.1:{port}{url}"])


def run_wrk(args, url, mode, port, secs):
    argv = wrk_argv(args, url, mode, port, secs)
    try:
        out = subprocess.run(
            argv, capture_output=True, text=True, timeout=secs + args.timeout + 20
        ).stdout
    except subprocess.TimeoutExpired:
        return None
    return parse_wrk(out)


def steal_and_total():
    with open("/proc/stat") as stat:
        fields = [int(n) for n in stat.readline().split()[1:]]
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


def table(args, servers, results, rss):
    lines = []
    for url in args.urls:
        for mode in args.modes:
            base = results[(args.baseline, url, mode)]
            base_median = statistics.median(r["rps"] for r in base) if base else 0
            lines += [
                "",
                f"`GET {url}`, wrk -c{args.conns}, {'keep-alive' if mode == 'ka' else 'Connection: close'}, "
                f"{args.rounds} × {args.secs} s",
                "",
                f"| server | req/s | min–max | MiB/s | p99 ms | errors | peak RSS MiB | vs {args.baseline} |",
                "|---|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for server in servers:
                runs = results[(server.name, url, mode)]
                if not runs:
                    lines.append(f"| {server.name} | failed | | | | | | |")
                    continue
                rps = [r["rps"] for r in runs]
                median = statistics.median(rps)
                ratio = f"{median / base_median:.2f}×" if base_median else "-"
                lines.append(
                    f"| {server.name} | {median:,.0f} | {min(rps):,.0f}–{max(rps):,.0f} "
                    f"| {statistics.median(r['mbs'] for r in runs):,.1f} "
                    f"| {statistics.median(r['p99'] for r in runs):.2f} "
                    f"| {sum(r['errors'] for r in runs)} | {rss[server.name] / 1024:.1f} | {ratio} |"
                )
    return "\n".join(lines)


def main(argv):
    args = parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    args.dir = os.path.abspath(args.dir)
    subprocess.run(
        [os.path.join(ROOT, "benches", "fixtures.sh"), args.dir],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    workdir = tempfile.mkdtemp(prefix="basehttp-load.")
    servers = []
    try:
        for name, command in args.servers:
            servers.append(Server(name, command, args, workdir))
        for server in servers:
            server.wait_ready(args.urls)
        print("# " + " ".join(sys.argv))
        for server in servers:
            print(f"# {server.name}: {server.command}")
        print(f"# wrk: {' '.join(wrk_argv(args, '{URL}', args.modes[0], '{PORT}', args.secs))}")
        results = {(s.name, u, m): [] for s in servers for u in args.urls for m in args.modes}
        steal0, total0 = steal_and_total()
        for url in args.urls:
            for mode in args.modes:
                for server in servers:
                    run_wrk(args, url, mode, server.port, args.warm)
                for round_ in range(1, args.rounds + 1):
                    for server in servers:
                        result = run_wrk(args, url, mode, server.port, args.secs)
                        if result:
                            results[(server.name, url, mode)].append(result)
                        shown = f"{result['rps']:,.0f} req/s" if result else "failed"
                        print(f"  {url} {mode} round {round_} {server.name}: {shown}", file=sys.stderr)
        steal1, total1 = steal_and_total()
        rss = {server.name: server.peak_rss_kib() for server in servers}
        print(table(args, servers, results, rss))
        steal = 100 * (steal1 - steal0) / max(total1 - total0, 1)
        print(f"\nCPU time stolen by the hypervisor during the runs: {steal:.0f} %")
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
