#!/usr/bin/env bash
# syscalls-under-load.sh URL NAME=COMMAND [NAME=COMMAND ...] -- the system calls, context
# switches and CPU time a request costs each server while `wrk -t1 -c32` keeps it saturated
# (benches/syscalls.sh counts them one request at a time instead, with strace). Each server is
# pinned to CPU 1 and wrk to CPU 0 (where there are two), warmed for a second, then counted by
# `perf stat` during 3 s of keep-alive load; one server after the other, 127.0.0.1 only.
#
#   apt-get install -y wrk linux-perf python3   # perf needs root (or perf_event_paranoid <= 1)
#   benches/syscalls-under-load.sh /hello \
#       'handler={RELEASE}/examples/bench_hello {PORT} handler' \
#       'hyper-python={RELEASE}/examples/bench_hello {PORT} hyper-python'
#
# COMMAND takes {PORT}, {DIR} (benches/fixtures.sh's document root) and {RELEASE}
# (target/release, not built here: build what the commands name first).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
[ $# -ge 2 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
for tool in wrk perf python3; do
    command -v "$tool" >/dev/null || { echo "$tool is missing" >&2; exit 2; }
done
URL=$1
shift
DIR=$(benches/fixtures.sh)
CPU_SERVER=0 CPU_CLIENT=0
[ "$(nproc)" -ge 2 ] && CPU_SERVER=1
# shellcheck source=benches/start-server.sh
. benches/start-server.sh
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

printf '%-24s %10s %12s %12s %12s\n' server requests 'syscalls/req' 'switches/req' 'CPU µs/req'
for server in "$@"; do
    name=${server%%=*} command=${server#*=}
    start_server "$name" "${command//\{RELEASE\}/$ROOT/target/release}"
    target="http://127.0.0.1:$SERVER_PORT$URL"
    taskset -c "$CPU_CLIENT" timeout 20 wrk -t1 -c32 -d1 "$target" >/dev/null
    perf stat -e raw_syscalls:sys_enter,context-switches,task-clock -x, -o "$OUT/stat" \
        -p "$SERVER_PID" -- sleep 3 &
    stat_pid=$!
    taskset -c "$CPU_CLIENT" timeout 20 wrk -t1 -c32 -d3 "$target" >"$OUT/wrk"
    wait "$stat_pid"
    kill -INT "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    # wrk counts the requests of its 3 s; perf counted the server's 3 s beside them.
    python3 - "$name" "$OUT/wrk" "$OUT/stat" <<'PY'
import sys

name, wrk, stat = sys.argv[1:]
requests = next(int(line.split()[0]) for line in open(wrk) if "requests in" in line)
counts = {}
for line in open(stat):
    fields = line.strip().split(",")
    if len(fields) > 2 and not line.startswith("#"):
        try:
            counts[fields[2]] = float(fields[0])
        except ValueError:
            pass
syscalls = counts.get("raw_syscalls:sys_enter", float("nan")) / requests
switches = counts.get("context-switches", float("nan")) / requests
cpu_us = counts.get("task-clock", float("nan")) * 1000 / requests  # task-clock is in ms
print(f"{name:<24} {requests:>10,} {syscalls:>12.2f} {switches:>12.3f} {cpu_us:>12.2f}")
PY
done
