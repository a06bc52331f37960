#!/usr/bin/env python3
"""load.py -- HTTP servers side by side under wrk or curl, in one interleaved run.

    benches/load.py [options] -s NAME=COMMAND [-s NAME=COMMAND ...]

Each COMMAND is a shell command line that serves HTTP on 127.0.0.1:{PORT}; these are
substituted before it starts:

    {PORT}     a free port                 {DIR}      the document root (--dir)
    {ROOT}     this repository             {RELEASE}  ROOT/target/release

The document root gets benches/fixtures.sh's files first (small.html, medium.bin, large.bin,
hello.txt, many/, cgi-bin/). Every server is started once (or once per round: --fresh), pinned
to one CPU (taskset), and answers each URL with 200 before anything is measured. Then each
(URL, mode) is warmed up and measured in ROUNDS rounds, the servers interleaved (A B C A B C
...), one client run of SECS seconds each with the client pinned to the other CPU:

    ka      wrk -c CONNS, connections kept alive
    close   wrk -c CONNS, `Connection: close` (a connection per request)
    curl    sequential downloads, one `curl -s -o /dev/null` process per download, started
            again until SECS seconds are used (at least one download): a single client that
            reads in large chunks, as someone downloading the 64 MiB file

For ka and close the table gives per server the median req/s, the spread, MiB/s, the median
p99 latency, the errors (socket errors and non-2xx/3xx answers), the peak RSS of the server's
process tree (sum of VmHWM at the end), the server's CPU use, the ratio of medians to the
baseline server (-b), and the median and range of the per-round ratios: each round's figure over
the baseline's in the same round, measured seconds apart, so that what drifts on the machine
between rounds (other load, the hypervisor) largely cancels. For curl the main figure and the ratio are MiB/s (bytes downloaded over
the run's wall time), then the spread, req/s (downloads/s), the errors (a curl failure or an
answer other than 200), the peak RSS and the CPU use. The CPU use (`server CPU %`) is the
median over the rounds of the CPU time (utime + stime from /proc/PID/stat, plus cutime +
cstime so that exited children such as CGI scripts count) of the server and all its
descendants during the run, over the run's wall time: 100 is one core busy for the whole run.
`CPU µs/req` (`CPU ms/download` for curl) is that CPU time per request, the median over the
rounds: where the client sets the pace (a connection per request, one curl at a time), what a
server costs shows there rather than in its rate. Where children that exited (CGI scripts) did
a tenth of that work or more, a line under the table gives each server's own CPU time per
request (per download), without them: what the server itself spends on a script.
Servers' output goes to log files in a temporary directory that is removed at the end. Ratios
are what to quote: absolute figures move with the machine.

Options:
    -s NAME=COMMAND  a server (repeat; at least one)
    -u URL           a path to request (repeat; default /small.html)
    -c N             wrk connections (default 32)
    -m MODES         a comma list of ka (keep-alive), close (a connection per request) and curl
                     (sequential curl downloads); e.g. ka,close (default ka)
    -r ROUNDS        rounds (default 3)
    -d SECS          seconds per measured run (default 4)
    -w SECS          warm-up seconds per server, URL and mode (default 1)
    -T SECS          wrk's per-request timeout, and curl's --max-time (default 5)
    -b NAME          the baseline of the ratio column (default: the first server)
    --dir DIR        the document root (default target/bench-root)
    --cpus S,C       the server's CPU and the client's (wrk's, curl's) CPU (default 1,0)
    --fresh          start every server again (on a new port, warmed up again) before each
                     of its rounds after the first, so that each round is a new process: a
                     process of the same build can run a few percent faster or slower than
                     the next for its whole life (where its memory lands), and the rounds then
                     sample that too; the peak RSS is then the highest of the processes'
    --json FILE      also write every result to FILE as JSON: per server, URL and mode the
                     list of per-round dicts, the median, min and max of the main figure
                     (req/s, or MiB/s for curl), the peak RSS, the median CPU %, the ratio
                     of medians and the per-round ratios' median, min and max

Safety: traffic goes to 127.0.0.1 only; every wrk run is bounded (SECS + timeout + 20 s),
every curl download by curl's --max-time (the -T timeout) and a process timeout 10 s later;
each server runs in its own session and only those process groups are signalled.

Example (the README's Performance section has the full set):

    apt-get install -y wrk nginx
    cargo build --release
    benches/load.py -u /small.html -b nginx \\
      -s 'basehttp={RELEASE}/basehttp {PORT} -b 127.0.0.1 -d {DIR} -p HTTP/1.1 -q' \\
      -s 'nginx={ROOT}/benches/servers/nginx.sh {PORT} {DIR}'
    benches/load.py -u /large.bin -m curl -d 6 -T 30 -b nginx --json large-curl.json \\
      -s 'basehttp={RELEASE}/basehttp {PORT} -b 127.0.0.1 -d {DIR} -p HTTP/1.1 -q' \\
      -s 'nginx={ROOT}/benches/servers/nginx.sh {PORT} {DIR}'
"""

import argparse
import contextlib
import http.client
import json
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

from benchproc import free_port, pinned

MODES = ("ka", "close", "curl")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def parse_args(argv):
    parser = argparse.ArgumentParser(
        usage=__doc__.split("\n\n")[1].strip(),
        description="HTTP servers side by side under wrk or curl (see the module docstring).",
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
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args(argv)
    args.urls = args.urls or ["/small.html"]
    args.modes = args.modes.split(",")
    if any(mode not in MODES for mode in args.modes) or len(set(args.modes)) != len(args.modes):
        parser.error("-m takes a comma list of ka, close and curl, each once")
    parse_servers(parser, args)
    return args


def parse_servers(parser, args):
    """Checks and splits what the shared options hold: -s NAME=COMMAND into args.servers as
    (name, command) pairs with distinct names, -b (when the parser has it; default: the first
    server) into args.baseline, and --cpus S,C into args.server_cpu and args.client_cpu."""
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
    if hasattr(args, "baseline"):
        args.baseline = args.baseline or names[0]
        if args.baseline not in names:
            parser.error(f"-b {args.baseline}: no such server")
    args.server_cpu, _, args.client_cpu = args.cpus.partition(",")


@contextlib.contextmanager
def started_servers(args, urls, prefix):
    """args.servers started (fixtures.sh filling args.dir first), each answering every URL of
    `urls` with 200, and the command line and the servers' commands printed; stopped, and their
    temporary directory removed, on the way out."""
    args.dir = os.path.abspath(args.dir)
    subprocess.run(
        [os.path.join(ROOT, "benches", "fixtures.sh"), args.dir],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    workdir = tempfile.mkdtemp(prefix=prefix)
    servers = []
    try:
        for name, command in args.servers:
            servers.append(Server(name, command, args, workdir))
        for server in servers:
            server.wait_ready(urls)
        print("# " + " ".join(sys.argv))
        for server in servers:
            print(f"# {server.name}: {server.command}")
        yield servers
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


class Server:
    def __init__(self, name, command, args, workdir):
        self.name = name
        self.template = command
        self.server_cpu = args.server_cpu
        self.dir = args.dir
        self.workdir = workdir
        # The highest peak RSS of the processes stopped by restart().
        self.stopped_peak_kib = 0
        self.starts = 0
        self.start()

    def start(self):
        """Starts the server on a free port (a new one each time)."""
        self.port = free_port()
        self.command = (
            self.template.replace("{PORT}", str(self.port))
            .replace("{DIR}", self.dir)
            .replace("{ROOT}", ROOT)
            .replace("{RELEASE}", os.path.join(TARGET, "release"))
        )
        self.starts += 1
        suffix = "" if self.starts == 1 else f".{self.starts}"
        self.log_path = os.path.join(self.workdir, f"{self.name}{suffix}.log")
        env = dict(os.environ, TMPDIR=self.workdir)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                pinned(self.server_cpu, ["sh", "-c", "exec " + self.command]),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
            )

    def restart(self, urls):
        """Stops the server and starts a new process of it, answering `urls` (--fresh)."""
        self.stopped_peak_kib = max(self.stopped_peak_kib, self.peak_rss_kib())
        self.stop()
        self.start()
        self.wait_ready(urls)

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

    def tree(self):
        """The server and its descendants, now: {pid: /proc/pid/stat's fields after comm}."""
        stats, children = {}, {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as stat:
                        fields = stat.read().rsplit(")", 1)[1].split()
                    ppid = int(fields[1])
                except (OSError, IndexError, ValueError):
                    continue
                stats[int(entry)] = fields
                children.setdefault(ppid, []).append(int(entry))
        tree, todo = {}, [self.proc.pid]
        while todo:
            pid = todo.pop()
            todo.extend(children.get(pid, []))
            if pid in stats:
                tree[pid] = stats[pid]
        return tree

    def peak_rss_kib(self):
        """The sum of VmHWM over the server and its descendants, now, or the highest such sum
        of the processes restart() stopped, if higher."""
        total = 0
        for pid in self.tree():
            try:
                with open(f"/proc/{pid}/status") as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return max(total, self.stopped_peak_kib)

    def cpu_sample(self):
        """The CPU time of the server and its descendants so far (utime + stime of each, and
        cutime + cstime for the children that have exited and been waited for: CGI scripts),
        and each process's own CPU time so far (utime + stime, in ticks) by pid, for
        own_cpu_seconds()."""
        ticks, own = 0, {}
        for pid, fields in self.tree().items():
            # fields[0] is the state (stat's field 3): utime..cstime are stat's fields 14-17.
            own[pid] = sum(int(n) for n in fields[11:13])
            ticks += sum(int(n) for n in fields[11:15])
        return ticks / CLOCK_TICKS, own

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


def own_cpu_seconds(before, after):
    """The CPU time the server's own processes spent between two cpu_sample()s: those alive at
    both (the server, its workers), not the children that came and went (CGI scripts), whose
    time is in cutime + cstime once they exit and partly in the samples while they run."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys()) / CLOCK_TICKS


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
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


CURL_FORMAT = "%{size_download} %{http_code}\\n"


def curl_argv(args, url, port):
    argv = ["curl", "-s", "-o", "/dev/null", "--max-time", str(args.timeout), "-w", CURL_FORMAT]
    return pinned(args.client_cpu, argv + [f"http://127.0.0.1:{port}{url}"])


def run_curl(args, url, port, secs):
    """Sequential curl downloads of URL until SECS seconds are used (at least one): MiB/s and
    req/s over the wall time, and the failed downloads (curl's error or a status but 200)."""
    argv = curl_argv(args, url, port)
    downloads = size = errors = 0
    start = time.monotonic()
    while True:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=args.timeout + 10)
            got, _, status = done.stdout.strip().partition(" ")
            size += int(float(got or 0))
            ok = done.returncode == 0 and status == "200"
        except (subprocess.TimeoutExpired, ValueError):
            ok = False
        downloads += 1
        errors += not ok
        elapsed = time.monotonic() - start
        if elapsed >= secs:
            break
    return {
        "rps": downloads / elapsed,
        "mbs": size / 2**20 / elapsed,
        "errors": errors,
        "downloads": downloads,
        "bytes": size,
    }


def run_client(args, url, mode, port, secs):
    if mode == "curl":
        return run_curl(args, url, port, secs)
    return run_wrk(args, url, mode, port, secs)


def measure(args, server, url, mode):
    """One measured run, with the server's CPU use over its wall time."""
    cpu0, own0 = server.cpu_sample()
    start = time.monotonic()
    result = run_client(args, url, mode, server.port, args.secs)
    wall = time.monotonic() - start
    cpu, own = server.cpu_sample()
    cpu, own = max(cpu - cpu0, 0.0), max(own_cpu_seconds(own0, own), 0.0)
    if result:
        result.update(cpu=100 * cpu / wall, cpu_secs=cpu, own_cpu_secs=own, wall_secs=wall)
    return result


def figure(mode):
    """The main figure of MODE's table and of its ratio: req/s, or MiB/s for curl."""
    return "mbs" if mode == "curl" else "rps"


def steal_and_total():
    with open("/proc/stat") as stat:
        fields = [int(n) for n in stat.readline().split()[1:]]
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


def summary(args, servers, results, rss):
    """Per (server, URL, mode): the rounds, the median, min and max of the main figure, the
    peak RSS and the median CPU %, the ratio of medians to the baseline, and the median, min and
    max of the per-round ratios (each round against the baseline's same round)."""
    out = {}
    for url in args.urls:
        for mode in args.modes:
            key = figure(mode)
            base = [r[key] for r in results[(args.baseline, url, mode)]]
            base_median = statistics.median(base) if base else 0
            base_by_round = {r["round"]: r[key] for r in results[(args.baseline, url, mode)]}
            for server in servers:
                runs = results[(server.name, url, mode)]
                values = [r[key] for r in runs]
                median = statistics.median(values) if runs else None
                paired = [
                    r[key] / base_by_round[r["round"]]
                    for r in runs
                    if base_by_round.get(r["round"])
                ]
                out[(server.name, url, mode)] = {
                    "server": server.name,
                    "url": url,
                    "mode": mode,
                    "figure": "MiB/s" if key == "mbs" else "req/s",
                    "runs": runs,
                    "median": median,
                    "min": min(values) if runs else None,
                    "max": max(values) if runs else None,
                    "ratio": median / base_median if runs and base_median else None,
                    "paired_ratio": statistics.median(paired) if paired else None,
                    "paired_min": min(paired) if paired else None,
                    "paired_max": max(paired) if paired else None,
                    "rss_mib": rss[server.name] / 1024,
                    "cpu": statistics.median(r["cpu"] for r in runs) if runs else None,
                    # CPU time per request (per download for curl), in µs: what a server costs
                    # where the client, not the server, sets the pace.
                    "cpu_per": statistics.median(r["cpu"] * 1e4 / r["rps"] for r in runs)
                    if runs and all(r["rps"] > 0 for r in runs)
                    else None,
                    # The same without the children that exited (CGI scripts): the server's
                    # own work per request.
                    "own_cpu_per": statistics.median(
                        r["own_cpu_secs"] * 1e6 / (r["rps"] * r["wall_secs"]) for r in runs
                    )
                    if runs and all(r["rps"] > 0 for r in runs)
                    else None,
                }
    return out


def table(args, servers, summaries):
    lines = []
    for url in args.urls:
        for mode in args.modes:
            if mode == "curl":
                lines += [
                    "",
                    f"`GET {url}`, sequential curl (one process per download), "
                    f"{args.rounds} × {args.secs} s",
                    "",
                    f"| server | MiB/s | min–max | req/s | errors | peak RSS MiB | server CPU % "
                    f"| CPU ms/download | MiB/s vs {args.baseline} | per round (min–max) |",
                    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
                ]
            else:
                lines += [
                    "",
                    f"`GET {url}`, wrk -c{args.conns}, {'keep-alive' if mode == 'ka' else 'Connection: close'}, "
                    f"{args.rounds} × {args.secs} s",
                    "",
                    f"| server | req/s | min–max | MiB/s | p99 ms | errors | peak RSS MiB | server CPU % "
                    f"| CPU µs/req | vs {args.baseline} | per round (min–max) |",
                    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
                ]
            for server in servers:
                row = summaries[(server.name, url, mode)]
                runs = row["runs"]
                if not runs:
                    lines.append(f"| {server.name} | failed |" + " |" * (8 if mode == "curl" else 9))
                    continue
                ratio = f"{row['ratio']:.2f}×" if row["ratio"] is not None else "-"
                errors = sum(r["errors"] for r in runs)
                paired = "-"
                if row["paired_ratio"] is not None:
                    paired = (
                        f"{row['paired_ratio']:.2f}× "
                        f"({row['paired_min']:.2f}–{row['paired_max']:.2f})"
                    )
                per = "-"
                if row["cpu_per"] is not None:
                    per = f"{row['cpu_per'] / 1000:,.1f}" if mode == "curl" else f"{row['cpu_per']:,.1f}"
                tail = (
                    f"| {errors} | {row['rss_mib']:.1f} | {row['cpu']:.0f} | {per} | {ratio} "
                    f"| {paired} |"
                )
                if mode == "curl":
                    lines.append(
                        f"| {server.name} | {row['median']:,.1f} | {row['min']:,.1f}–{row['max']:,.1f} "
                        f"| {statistics.median(r['rps'] for r in runs):,.1f} {tail}"
                    )
                else:
                    lines.append(
                        f"| {server.name} | {row['median']:,.0f} | {row['min']:,.0f}–{row['max']:,.0f} "
                        f"| {statistics.median(r['mbs'] for r in runs):,.1f} "
                        f"| {statistics.median(r['p99'] for r in runs):.2f} {tail}"
                    )
            lines += own_cpu_line(servers, [summaries[(s.name, url, mode)] for s in servers], mode)
    return "\n".join(lines)


def own_cpu_line(servers, rows, mode):
    """Below a table whose servers' children did much of the work (CGI scripts that exited):
    each server's own CPU time per request (per download), without them."""
    shown = [
        (server, row)
        for server, row in zip(servers, rows)
        if row["runs"] and row["cpu_per"] and row["own_cpu_per"] is not None
    ]
    if not any(row["own_cpu_per"] < 0.9 * row["cpu_per"] for _, row in shown):
        return []
    unit, scale = ("ms a download", 1000) if mode == "curl" else ("µs a request", 1)
    figures = ", ".join(f"{server.name} {row['own_cpu_per'] / scale:,.1f}" for server, row in shown)
    return ["", f"The servers' own CPU time (exited children such as CGI scripts left out), {unit}: {figures}"]


def write_json(path, args, servers, summaries, steal):
    data = {
        "argv": sys.argv,
        "rounds": args.rounds,
        "secs": args.secs,
        "conns": args.conns,
        "baseline": args.baseline,
        "servers": {server.name: server.command for server in servers},
        "steal_percent": steal,
        "results": list(summaries.values()),
    }
    with open(path, "w") as out:
        json.dump(data, out, indent=1)
        out.write("\n")


def main(argv):
    args = parse_args(argv)
    if set(args.modes) & {"ka", "close"} and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if "curl" in args.modes and not shutil.which("curl"):
        raise SystemExit("curl is not installed (apt-get install curl)")
    with started_servers(args, args.urls, "basehttp-load.") as servers:
        wrk_modes = [mode for mode in args.modes if mode != "curl"]
        if wrk_modes:
            print(f"# wrk: {' '.join(wrk_argv(args, '{URL}', wrk_modes[0], '{PORT}', args.secs))}")
        if "curl" in args.modes:
            print(f"# curl: {' '.join(curl_argv(args, '{URL}', '{PORT}'))}")
        results = {(s.name, u, m): [] for s in servers for u in args.urls for m in args.modes}
        steal0, total0 = steal_and_total()
        for url in args.urls:
            for mode in args.modes:
                for server in servers:
                    run_client(args, url, mode, server.port, args.warm)
                for round_ in range(1, args.rounds + 1):
                    for server in servers:
                        if args.fresh and round_ > 1:
                            before = server.proc.pid
                            server.restart(args.urls)
                            print(
                                f"  {server.name}: a new process for round {round_} "
                                f"(pid {server.proc.pid}, port {server.port}; was pid {before})",
                                file=sys.stderr,
                            )
                            run_client(args, url, mode, server.port, args.warm)
                        result = measure(args, server, url, mode)
                        if result:
                            result["round"] = round_
                            results[(server.name, url, mode)].append(result)
                        shown = "failed"
                        if result and mode == "curl":
                            shown = f"{result['mbs']:,.1f} MiB/s, {result['errors']} errors"
                        elif result:
                            shown = f"{result['rps']:,.0f} req/s"
                        shown += f", server CPU {result['cpu']:.0f} %" if result else ""
                        print(f"  {url} {mode} round {round_} {server.name}: {shown}", file=sys.stderr)
        steal1, total1 = steal_and_total()
        rss = {server.name: server.peak_rss_kib() for server in servers}
        summaries = summary(args, servers, results, rss)
        print(table(args, servers, summaries))
        steal = 100 * (steal1 - steal0) / max(total1 - total0, 1)
        print(f"\nCPU time stolen by the hypervisor during the runs: {steal:.0f} %")
        if args.json_path:
            write_json(args.json_path, args, servers, summaries, steal)


if __name__ == "__main__":
    main(sys.argv[1:])
