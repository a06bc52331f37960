#!/usr/bin/env python3
"""profile.py -- where each server's CPU time per request goes, side by side, sampled by perf.

    benches/profile.py [options] -s NAME=COMMAND [-s NAME=COMMAND ...]

Each server (COMMAND as for benches/load.py, with {PORT}, {DIR}, {ROOT} and {RELEASE}) is
started pinned to one CPU and loaded by wrk on the other, one after the other, while
`perf record -e cpu-clock` samples the server's processes (those running when it starts: CGI
scripts started later are not sampled). A sample's share of the server's
CPU time during the run (from /proc), divided by the requests wrk counted, gives nanoseconds
per request. The table lists, per server: the kernel, the C library, the vDSO and the server's
own binary by the crate its symbol names first (generic code counts where it was named: hyper's
connection code monomorphised for basehttp's service is `hyper`), then the symbols where the
servers differ most from the first one. Sampling puts a few percent of noise on every figure;
the totals are the CPU time per request that load.py's `CPU µs/req` column gives.

Options:
    -s NAME=COMMAND  a server (repeat; at least one; the first is the one the others are
                     compared with)
    -u URL           the path to request (default /small.html)
    -c N             wrk connections (default 32)
    -m MODE          ka (keep-alive) or close (a connection per request) (default ka)
    -d SECS          seconds per profiled run (default 5)
    -n N             symbols to list (default 30)
    --dir DIR        the document root (default target/bench-root)
    --cpus S,C       the server's CPU and wrk's (default 1,0)

Needs perf (apt-get install linux-perf, or the distribution's perf package) and wrk; runs as a
user allowed to profile other processes (root, or kernel.perf_event_paranoid <= 1). Traffic
goes to 127.0.0.1 only, every wrk and perf run is bounded in time.

Example (the README's "1 KiB: where the time goes"):

    benches/profile.py \\
      -s 'hyper-memory-file={RELEASE}/examples/bench_anchors {PORT} memory-file {DIR}/small.html' \\
      -s 'basehttp-q={RELEASE}/basehttp {PORT} -b 127.0.0.1 -d {DIR} -p HTTP/1.1 -q'
"""

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile

import load

SAMPLE_HZ = 4000


def parse_args(argv):
    parser = argparse.ArgumentParser(
        usage=__doc__.split("\n\n")[1].strip(),
        description="Per-request CPU time by symbol, side by side (see the module docstring).",
    )
    parser.add_argument("-s", dest="servers", action="append", required=True)
    parser.add_argument("-u", dest="url", default="/small.html")
    parser.add_argument("-c", dest="conns", type=int, default=32)
    parser.add_argument("-m", dest="mode", choices=("ka", "close"), default="ka")
    parser.add_argument("-d", dest="secs", type=int, default=5)
    parser.add_argument("-n", dest="top", type=int, default=30)
    parser.add_argument("--dir", default=os.path.join(load.TARGET, "bench-root"))
    parser.add_argument("--cpus", default="1,0")
    args = parser.parse_args(argv)
    load.parse_servers(parser, args)
    # What load.py's client functions read.
    args.timeout = 5
    return args


def group(dso, symbol):
    """The row a sample is added to: kernel, libc, vdso, or the crate the symbol names first."""
    if dso.startswith("[kernel"):
        return "kernel"
    if dso.startswith("libc") or dso.startswith("ld-linux"):
        return "libc"
    if dso == "[vdso]":
        return "vdso"
    name = re.sub(r"^(core::ptr::drop_in_place<|<)+", "", symbol)
    crate = re.split(r"::|<| |\[", name, maxsplit=1)[0]
    return crate if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", crate) else "other"


def samples(perf_data):
    """{(dso, symbol): share of the samples} from a perf.data file."""
    report = subprocess.run(
        ["perf", "report", "-i", perf_data, "--no-children", "--sort", "dso,sym", "--stdio"],
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    shares = {}
    for line in report.splitlines():
        match = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[.\]\s+(.*\S)", line)
        if match:
            key = (match.group(2), match.group(3))
            shares[key] = shares.get(key, 0.0) + float(match.group(1)) / 100
    return shares


def profile(args, server, workdir):
    """ns per request by (dso, symbol), and the CPU µs per request, for one server."""
    load.run_wrk(args, args.url, args.mode, server.port, 1)  # warm-up
    pids = ",".join(str(pid) for pid in server.tree())
    perf_data = os.path.join(workdir, f"{server.name}.perf.data")
    perf = subprocess.Popen(
        ["perf", "record", "-q", "-e", "cpu-clock", "-F", str(SAMPLE_HZ), "-p", pids, "-o", perf_data],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        result = load.measure(args, server, args.url, args.mode)
    finally:
        perf.send_signal(2)
        try:
            perf.wait(60)
        except subprocess.TimeoutExpired:
            perf.kill()
    if not result or result["rps"] <= 0:
        raise SystemExit(f"{server.name}: wrk failed")
    per_request_ns = result["cpu_secs"] * 1e9 / (result["rps"] * args.secs)
    # The app's own binary is named after the server: one label for all of them.
    binaries = {}
    for (dso, symbol), share in samples(perf_data).items():
        if not (dso.startswith("[") or dso.startswith("lib") or dso.startswith("ld-")):
            dso = "app"
        binaries[(dso, symbol)] = binaries.get((dso, symbol), 0.0) + share * per_request_ns
    return binaries, per_request_ns, result["rps"]


def main(argv):
    args = parse_args(argv)
    for tool in ("perf", "wrk"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed")
    args.dir = os.path.abspath(args.dir)
    subprocess.run(
        [os.path.join(load.ROOT, "benches", "fixtures.sh"), args.dir],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    workdir = tempfile.mkdtemp(prefix="basehttp-profile.")
    results = []
    try:
        for name, command in args.servers:
            server = load.Server(name, command, args, workdir)
            try:
                server.wait_ready([args.url])
                results.append((name, *profile(args, server, workdir)))
            finally:
                server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("# " + " ".join(sys.argv))
    names = [name for name, *_ in results]
    print(f"\n`GET {args.url}`, wrk -c{args.conns}, {args.mode}, {args.secs} s each; ns per request\n")
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    print("| req/s | " + " | ".join(f"{rps:,.0f}" for *_, rps in results) + " |")
    print("| CPU per request | " + " | ".join(f"{total:,.0f}" for _, _, total, _ in results) + " |")
    groups = [collections.Counter() for _ in results]
    for counter, (_, by_symbol, _, _) in zip(groups, results):
        for (dso, symbol), ns in by_symbol.items():
            counter[group(dso, symbol)] += ns
    rows = sorted(set().union(*groups), key=lambda g: -max(c[g] for c in groups))
    for row in rows:
        if max(c[row] for c in groups) >= 5:
            print(f"| {row} | " + " | ".join(f"{c[row]:,.0f}" for c in groups) + " |")
    if len(results) > 1:
        first = results[0][1]
        for name, by_symbol, _, _ in results[1:]:
            keys = set(first) | set(by_symbol)
            diffs = sorted(keys, key=lambda k: -(by_symbol.get(k, 0) - first.get(k, 0)))
            print(f"\nSymbols where {name} spends the most more than {names[0]} (ns per request):\n")
            for dso, symbol in diffs[: args.top]:
                diff = by_symbol.get((dso, symbol), 0) - first.get((dso, symbol), 0)
                print(f"  {diff:+6.0f}  {dso:9.9s} {symbol[:120]}")


if __name__ == "__main__":
    main(sys.argv[1:])
