#!/usr/bin/env bash
# allocs.sh [PATH] -- the heap allocations a server's own threads make per request: calls of the
# C library's malloc, calloc and realloc, counted with uprobes (`perf probe`) while one client
# sends N requests one after the other on one kept-alive connection (default 500). The server's
# children (CGI scripts) are left out: only calls in the server's own process count. Server
# pinned to CPU 0, the client to CPU 1 (where there are two), 127.0.0.1 only. Needs root (the
# probes) and perf; deterministic where throughput is noisy.
#
#   apt-get install -y linux-perf python3 lighttpd
#   benches/allocs.sh                                    # GET /small.html: basehttp, lighttpd
#   BEFORE=/path/to/an/older/basehttp benches/allocs.sh /cgi-bin/hello.sh   # and that binary
#   LOGGED=1 benches/allocs.sh                           # basehttp logging every request
#   HELLO=1 benches/allocs.sh      # GET /hello: the hello handler (examples/bench_hello.rs),
#                                  # HttpServer + a bare service_fn, bare hyper (bench_anchors)
#   HELLO=1 BEFORE_HELLO=/path/to/an/older/bench_hello benches/allocs.sh   # and that binary
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
command -v perf >/dev/null || { echo "perf is missing (apt-get install linux-perf)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "allocs.sh needs root (uprobes)" >&2; exit 2; }
DIR=$(benches/fixtures.sh)
URL=${1:-/small.html} N=${N:-500}
cargo build --release --quiet -p basehttp-cli
[ -z "${HELLO:-}" ] || cargo build --release --quiet --example bench_hello --example bench_anchors
CPU_SERVER=0 CPU_CLIENT=0
[ "$(nproc)" -ge 2 ] && CPU_CLIENT=1
# shellcheck source=benches/start-server.sh
. benches/start-server.sh
FLAGS="-b 127.0.0.1 -d {DIR} -p HTTP/1.1"
# LOGGED=1: basehttp logs every request, as the command does by default (else `-q`).
[ -n "${LOGGED:-}" ] || FLAGS="$FLAGS -q"
case "$URL" in /cgi-bin/*) FLAGS="$FLAGS --cgi" ;; esac

# The probes, on the C library the servers link (added once, removed at the end).
LIBC=$(ldd target/release/basehttp | awk '$1 ~ /^libc\.so/ { print $3 }')
[ -n "$LIBC" ] || { echo "no libc found for target/release/basehttp" >&2; exit 2; }
EVENTS=()
for fn in malloc calloc realloc; do
    perf probe -q -d "probe_libc:$fn" 2>/dev/null || true
    perf probe -q -x "$LIBC" "$fn" >/dev/null
    EVENTS+=(-e "probe_libc:$fn")
done
trap 'for fn in malloc calloc realloc; do perf probe -q -d "probe_libc:$fn" 2>/dev/null || true; done' EXIT

# NAME COMMAND ({PORT} and {DIR} in COMMAND are filled in): allocations per request.
measure() {
    local name=$1 command=$2 port out pid
    start_server "$name" "$command"
    pid=$SERVER_PID port=$SERVER_PORT
    out=$(mktemp)
    # Warm up: caches filled, worker and blocking threads started.
    taskset -c "$CPU_CLIENT" python3 benches/requests.py "$port" "$URL" 50 ka
    # Attached with the probes off (-D -1), then switched on through perf's control FIFO: the
    # counted requests start once perf acknowledges.
    mkfifo "$out.ctl" "$out.ack"
    perf record -q "${EVENTS[@]}" -p "$pid" -o "$out" -D -1 \
        --control "fifo:$out.ctl,$out.ack" 2>"$out.log" &
    local recorder=$!
    # Opened read-write, so that neither open waits for perf (a FIFO open for one side only
    # blocks until the other side opens): a perf that fails is seen by the timed read below.
    exec 8<>"$out.ctl" 9<>"$out.ack"
    echo enable >&8
    local ack=""
    read -r -t 10 ack <&9 || true
    [ "$ack" = ack ] || { echo "perf record did not start: $(cat "$out.log")" >&2; exit 1; }
    taskset -c "$CPU_CLIENT" python3 benches/requests.py "$port" "$URL" "$N" ka
    exec 8>&- 9<&-
    kill -INT "$recorder"
    wait "$recorder" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    perf script -i "$out" -F pid,event 2>/dev/null | awk -v pid="$pid" -v n="$N" -v name="$name" '
        $1 == pid { count[$2]++; total++ }
        END {
            printf "%-20s %7.2f per request (", name, total / n
            printf "malloc %.2f, calloc %.2f, realloc %.2f)\n", count["probe_libc:malloc:"] / n,
                count["probe_libc:calloc:"] / n, count["probe_libc:realloc:"] / n
        }'
    rm -f "$out" "$out.log" "$out.ctl" "$out.ack"
}

if [ -n "${HELLO:-}" ]; then
    URL=/hello
    R=target/release/examples
    echo "GET $URL, $N requests on one connection, allocations by the server's own threads"
    measure handler "$R/bench_hello {PORT} handler"
    [ -z "${BEFORE_HELLO:-}" ] || measure handler-before "$BEFORE_HELLO {PORT} handler"
    measure httpserver-hyper "$R/bench_hello {PORT} hyper"
    measure hyper "$R/bench_anchors {PORT} hello"
    exit 0
fi
echo "GET $URL, $N requests on one connection, allocations by the server's own threads"
measure basehttp "target/release/basehttp {PORT} $FLAGS"
[ -z "${BEFORE:-}" ] || measure basehttp-before "$BEFORE {PORT} $FLAGS"
if command -v lighttpd >/dev/null; then
    measure lighttpd "benches/servers/lighttpd.sh {PORT} {DIR}"
fi
