#!/usr/bin/env python3
"""paced.py -- how long servers take to answer one request at a time, with a pause before each:
what one person clicking sees, where load.py measures servers kept busy.

    benches/paced.py [options] -s NAME=COMMAND [-s NAME=COMMAND ...]

The servers are started as load.py starts them (the same {PORT}, {DIR}, {ROOT} and {RELEASE}
substitutions, pinned to one CPU, the document root filled by benches/fixtures.sh) and each
answers every URL with 200 before anything is measured. Then, N times, every server in turn
gets one request on a new connection, PAUSE ms after the previous request (to any server)
ended: so the machine is idle between requests, as between one person's clicks (the line
above the table says how long that took). The time of a
request is from the connect to the last byte of the answer (Python's http.client, in this
process, pinned to the other CPU). Per server and URL the table gives the median, the 90th
percentile and the highest time, the failures (a connection error or a status other than 200),
and the ratio of the baseline's median to the server's (above 1: faster than the baseline).

Options:
    -s NAME=COMMAND  a server (repeat; at least one)
    -u URL           a path to request (repeat; default /cgi-bin/hello.sh)
    -n N             requests per server and URL (default 40)
    -p MS            the pause before each request, in milliseconds (default 100)
    -b NAME          the baseline of the ratio column (default: the first server)
    --dir DIR        the document root (default target/bench-root)
    --cpus S,C       the servers' CPU and this client's (default 1,0)

Safety: 127.0.0.1 only; every request has a 10 s timeout; each server runs in its own session
and only those process groups are signalled.

Example (the README's CGI section):

    apt-get install -y lighttpd
    cargo build --release
    benches/paced.py -b lighttpd \\
      -s 'basehttp={RELEASE}/basehttp {PORT} -b 127.0.0.1 -d {DIR} --cgi -q' \\
      -s 'lighttpd={ROOT}/benches/servers/lighttpd.sh {PORT} {DIR} cgi'
"""

import argparse
import http.client
import os
import statistics
import sys
import time

from load import TARGET, parse_servers, started_servers


def parse_args(argv):
    parser = argparse.ArgumentParser(
        usage=__doc__.split("\n\n")[1].strip(),
        description="Servers answering one request at a time (see the module docstring).",
    )
    parser.add_argument("-s", dest="servers", action="append", required=True)
    parser.add_argument("-u", dest="urls", action="append")
    parser.add_argument("-n", dest="count", type=int, default=40)
    parser.add_argument("-p", dest="pause", type=float, default=100.0)
    parser.add_argument("-b", dest="baseline")
    parser.add_argument("--dir", default=os.path.join(TARGET, "bench-root"))
    parser.add_argument("--cpus", default="1,0")
    args = parser.parse_args(argv)
    args.urls = args.urls or ["/cgi-bin/hello.sh"]
    if args.count < 1 or args.pause < 0:
        parser.error("-n must be at least 1 and -p not negative")
    parse_servers(parser, args)
    return args


def timed_get(port, url):
    """Seconds from the connect to the last byte of the answer to GET URL, or None on failure."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", url, headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        ok = response.status == 200
    except (OSError, http.client.HTTPException):
        ok = False
    finally:
        conn.close()
    return time.perf_counter() - start if ok else None


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(argv):
    args = parse_args(argv)
    if (os.cpu_count() or 1) > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(args.client_cpu)})
    with started_servers(args, args.urls, "basehttp-paced.") as servers:
        times = {(s.name, u): [] for s in servers for u in args.urls}
        failures = dict.fromkeys(times, 0)
        started = time.monotonic()
        for url in args.urls:
            for _ in range(args.count):
                for server in servers:
                    time.sleep(args.pause / 1000)
                    took = timed_get(server.port, url)
                    if took is None:
                        failures[(server.name, url)] += 1
                    else:
                        times[(server.name, url)].append(took)
        took = time.monotonic() - started
        print(
            f"\n{args.count} requests per server and URL, one at a time, {args.pause:g} ms apart "
            f"({took:.2f} s)"
        )
        print("\n| URL | server | median ms | p90 ms | max ms | failures | vs " + args.baseline + " |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for url in args.urls:
            base = times[(args.baseline, url)]
            base_median = statistics.median(base) if base else None
            for server in servers:
                got = times[(server.name, url)]
                if not got:
                    print(f"| {url} | {server.name} | | | | {failures[(server.name, url)]} | |")
                    continue
                median = statistics.median(got)
                ratio = f"{base_median / median:.2f}x" if base_median else ""
                print(
                    f"| {url} | {server.name} | {1e3 * median:.2f} | "
                    f"{1e3 * percentile(got, 0.9):.2f} | {1e3 * max(got):.2f} | "
                    f"{failures[(server.name, url)]} | {ratio} |"
                )


if __name__ == "__main__":
    main(sys.argv[1:])
